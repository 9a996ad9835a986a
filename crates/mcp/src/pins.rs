//! Pinned tool definitions, kept durably in a small JSON file in the data
//! directory (the store has no place for them; the file is owned by this
//! crate). Written whole to a temporary file, synced, then renamed: a
//! crash leaves the old or the new file, never half of one.

use crate::error::McpError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    pub hash: String,
    pub pinned_at: String,
    /// The admin who pinned it, or `first-use`.
    pub by: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    version: u32,
    tools: BTreeMap<String, Pin>,
}

#[derive(Debug)]
pub struct Pins {
    path: PathBuf,
    map: RwLock<Arc<BTreeMap<String, Pin>>>,
    write: tokio::sync::Mutex<()>,
}

/// The key of a tool: its upstream and its upstream name (upstream names
/// cannot contain `/`).
pub fn key(upstream: &str, tool: &str) -> String {
    format!("{upstream}/{tool}")
}

impl Pins {
    /// Reads the file; a missing file is an empty set, a broken one an error
    /// (pins are a security control: never silently start over).
    pub fn open(path: &Path) -> Result<Pins, McpError> {
        let tools = match std::fs::read(path) {
            Ok(b) => {
                let f: File = serde_json::from_slice(&b).map_err(|e| {
                    McpError::Pins(format!("`{}` is not a valid pin file: {e}", path.display()))
                })?;
                f.tools
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                return Err(McpError::Pins(format!(
                    "cannot read `{}`: {e}",
                    path.display()
                )));
            }
        };
        Ok(Pins {
            path: path.to_owned(),
            map: RwLock::new(Arc::new(tools)),
            write: tokio::sync::Mutex::new(()),
        })
    }

    pub fn get(&self, key: &str) -> Option<Pin> {
        self.snapshot().get(key).cloned()
    }

    fn snapshot(&self) -> Arc<BTreeMap<String, Pin>> {
        match self.map.read() {
            Ok(m) => Arc::clone(&m),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Records `hash` for `key` durably, then makes it visible.
    pub async fn set(&self, key: &str, hash: &str, by: &str) -> Result<Pin, McpError> {
        let _g = self.write.lock().await;
        let mut next = (*self.snapshot()).clone();
        let pin = Pin {
            hash: hash.to_owned(),
            pinned_at: countersign_core::Timestamp::now().rfc3339(),
            by: by.to_owned(),
        };
        next.insert(key.to_owned(), pin.clone());
        let file = File {
            version: 1,
            tools: next.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| McpError::Pins(e.to_string()))?;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_atomic(&path, &bytes))
            .await
            .map_err(|e| McpError::Pins(e.to_string()))??;
        match self.map.write() {
            Ok(mut m) => *m = Arc::new(next),
            Err(p) => *p.into_inner() = Arc::new(next),
        }
        Ok(pin)
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), McpError> {
    use std::io::Write as _;
    let err = |e: std::io::Error| McpError::Pins(format!("cannot write `{}`: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn pins_survive_a_reopen_and_broken_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pins.json");
        let p = Pins::open(&path).unwrap();
        assert!(p.get("a/b").is_none());
        p.set("a/b", "h1", "ada").await.unwrap();
        let again = Pins::open(&path).unwrap();
        assert_eq!(again.get("a/b").unwrap().hash, "h1");
        std::fs::write(&path, b"{not json").unwrap();
        assert!(Pins::open(&path).is_err());
    }
}
