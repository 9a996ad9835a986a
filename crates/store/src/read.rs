//! A small pool of read-only connections. WAL lets them read while the
//! writer writes; each read runs on the blocking thread pool.

use crate::rows::open_read;
use countersign_core::store::StoreError;
use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::Mutex;

/// Idle connections kept; more are opened under load and dropped after.
const KEEP: usize = 8;

#[derive(Debug)]
pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub fn new(path: PathBuf) -> Self {
        Readers {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    pub fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = match self.idle.lock() {
            Ok(mut idle) => idle.pop(),
            Err(_) => None,
        };
        let conn = match conn {
            Some(c) => c,
            None => open_read(&self.path)?,
        };
        let out = f(&conn);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < KEEP
        {
            idle.push(conn);
        }
        out
    }
}
