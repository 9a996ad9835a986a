//! Whether `countersign serve` may create a data directory it did not find.
//! The quick start relies on it (`serve` alone creates ./countersign-data),
//! but a directory named with --data-dir or COUNTERSIGN_DATA_DIR must exist:
//! otherwise a typo (`--data-dir /var/lib/countersgn`) silently starts a new,
//! empty instance with a new administrator, and the real one looks wiped.

use crate::cli::ServeArgs;
use anyhow::{Result, bail};
use std::path::Path;

/// Ok(true): initialize `data_dir` (it has no config yet). Refuses an
/// explicitly named directory unless `--init` was given, and a directory
/// that holds other files (it is not ours to fill).
pub fn may_initialize(args: &ServeArgs, data_dir: &Path) -> Result<bool> {
    let shown = data_dir.display();
    let has_files = std::fs::read_dir(data_dir).is_ok_and(|mut d| d.next().is_some());
    if has_files {
        bail!(
            "`{shown}` is not a Countersign data directory (it has files but no countersign.toml); \
             give the right --data-dir, or create a new instance in an empty directory with `countersign init DIR`"
        );
    }
    if args.data_dir.is_some() && !args.init {
        bail!(
            "no Countersign data directory at `{shown}` (is the path mistyped?). \
             To create a new instance there: `countersign init {shown}`, or `countersign serve --data-dir {shown} --init`"
        );
    }
    Ok(true)
}
