//! An in-memory tree that keeps every complete-subtree node.
//!
//! Good for tests, for verifying a whole log offline, and for callers small
//! enough not to need a store.

use super::{Frontier, HashReader};
use crate::error::{Result, TlogError};
use crate::hash::{Hash, leaf_hash};

/// All complete-subtree hashes of a tree, `levels[level][index]`.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
    frontier: Frontier,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf given its leaf hash; returns its index.
    pub fn push(&mut self, leaf: Hash) -> Result<u64> {
        let index = self.frontier.size();
        for (level, _index, hash) in self.frontier.append(leaf)? {
            let level = usize::from(level);
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            if let Some(row) = self.levels.get_mut(level) {
                row.push(hash);
            }
        }
        Ok(index)
    }

    /// Appends a raw entry (hashing it with [`leaf_hash`]); returns its index.
    pub fn push_entry(&mut self, entry: &[u8]) -> Result<u64> {
        self.push(leaf_hash(entry))
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// RFC 9162 root of the whole tree.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The frontier of the whole tree.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }
}

impl HashReader for MemoryTree {
    fn node(&self, level: u8, index: u64) -> Result<Hash> {
        let found = usize::try_from(index).ok().and_then(|i| {
            self.levels
                .get(usize::from(level))
                .and_then(|row| row.get(i))
        });
        found
            .copied()
            .ok_or(TlogError::NodeNotFound { level, index })
    }
}
