//! The frontier (a.k.a. compact range) of a growing tree.
//!
//! An appender only needs the roots of the maximal complete subtrees of the
//! current tree — one per set bit of the size, at most 64 hashes — to compute
//! the new root and every new complete-subtree node after an append, without
//! reading anything back from the store.

use super::{HashReader, floor_log2};
use crate::error::{Result, TlogError};
use crate::hash::{Hash, empty_root, node_hash};

/// Roots of the maximal complete subtrees of a tree, largest (leftmost) first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a frontier from a size and its subtree roots, largest first,
    /// e.g. as persisted from [`Frontier::hashes`].
    pub fn from_hashes(size: u64, hashes: Vec<Hash>) -> Result<Self> {
        let expected = size.count_ones() as usize;
        if hashes.len() != expected {
            return Err(TlogError::FrontierSize {
                size,
                expected,
                actual: hashes.len(),
            });
        }
        Ok(Self { size, hashes })
    }

    /// Rebuilds the frontier of the first `size` leaves from stored nodes
    /// (one read per set bit of `size`), e.g. when a log restarts.
    pub fn load<R: HashReader + ?Sized>(reader: &R, size: u64) -> Result<Self> {
        let mut hashes = Vec::with_capacity(size.count_ones() as usize);
        let mut pos = 0u64;
        while pos < size {
            let level = floor_log2(size - pos);
            hashes.push(reader.node(level, pos >> level)?);
            pos += 1u64 << level;
        }
        Ok(Self { size, hashes })
    }

    /// Appends one leaf hash and returns every complete-subtree node this
    /// creates, as `(level, index, hash)`: the leaf itself at level 0, then
    /// each level that the append completed. Persisting these is all a store
    /// needs to serve [`HashReader`].
    pub fn append(&mut self, leaf: Hash) -> Result<Vec<(u8, u64, Hash)>> {
        let index = self.size;
        let new_size = index.checked_add(1).ok_or(TlogError::TreeFull)?;
        let mut created = Vec::with_capacity(1 + index.trailing_ones() as usize);
        created.push((0, index, leaf));
        let mut acc = leaf;
        let mut level = 0u8;
        // Each trailing one bit of the old size is a complete subtree of that
        // height immediately to our left, waiting for a right sibling.
        while (index >> level) & 1 == 1 {
            let Some(left) = self.hashes.pop() else {
                // Impossible while the invariant `hashes.len() ==
                // size.count_ones()` holds, which every constructor checks.
                return Err(TlogError::FrontierSize {
                    size: self.size,
                    expected: self.size.count_ones() as usize,
                    actual: self.hashes.len(),
                });
            };
            acc = node_hash(&left, &acc);
            level += 1;
            created.push((level, index >> level, acc));
        }
        self.hashes.push(acc);
        self.size = new_size;
        Ok(created)
    }

    /// RFC 9162 tree hash of the current tree (`SHA-256("")` when empty).
    pub fn root(&self) -> Hash {
        let mut iter = self.hashes.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }

    /// Number of leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree roots, largest (leftmost) first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }
}
