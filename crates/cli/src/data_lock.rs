//! One process at a time owns a data directory: an exclusive advisory lock
//! (`flock(LOCK_EX | LOCK_NB)`) on `countersign.lock` in it,
//! held for as long as the returned guard lives. The kernel drops it when
//! the process dies, so a crash leaves no stale lock behind.

use anyhow::{Context as _, Result, bail};
use rustix::fs::{FlockOperation, flock};
use std::fs::{File, OpenOptions};
use std::path::Path;

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "countersign.lock";

/// Holds the lock until dropped.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Takes the data directory's lock, or says who holds it.
pub fn acquire(data_dir: &Path) -> Result<DataDirLock> {
    let path = data_dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open lock file `{}`", path.display()))?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(DataDirLock { _file: file }),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => bail!(
            "`{}` is in use by another countersign process (a running server holds `{LOCK_FILE}`): stop it first",
            data_dir.display()
        ),
        Err(e) => Err(std::io::Error::from(e))
            .with_context(|| format!("cannot lock `{}`", path.display())),
    }
}
