//! RFC 9162 Merkle tree math over an abstract store of complete subtrees.
//!
//! A log only ever needs the hashes of *complete* subtrees (those covering
//! `2^level` leaves starting at a multiple of `2^level`): they never change
//! once written, so a store can persist them append-only. Every other hash —
//! the root of a tree whose size is not a power of two, or a proof element on
//! the right edge — is folded here from the few complete subtrees it is made
//! of. That keeps each root, proof or verification at O(log n) reads.

mod frontier;
mod memory;
mod prove;
mod verify;

pub use frontier::Frontier;
pub use memory::MemoryTree;
pub use prove::{consistency_proof, inclusion_proof};
pub use verify::{verify_consistency, verify_inclusion};

use crate::error::{Result, TlogError};
use crate::hash::{Hash, empty_root, node_hash};

/// Source of complete-subtree hashes, implemented by whatever stores the log.
pub trait HashReader {
    /// Hash of the complete subtree of height `level` whose leftmost leaf is
    /// `index << level`; level 0 is the leaf hashes themselves.
    ///
    /// Only complete subtrees are ever requested. Return
    /// [`TlogError::NodeNotFound`] when the node is not stored.
    fn node(&self, level: u8, index: u64) -> Result<Hash>;
}

impl<R: HashReader + ?Sized> HashReader for &R {
    fn node(&self, level: u8, index: u64) -> Result<Hash> {
        (**self).node(level, index)
    }
}

/// Tree hash (RFC 9162 MTH) of the first `size` leaves.
///
/// Reads one node per set bit of `size`.
pub fn root_at<R: HashReader + ?Sized>(reader: &R, size: u64) -> Result<Hash> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(reader, 0, size)
}

/// MTH of leaves `lo..hi`, for a range that arises in the RFC 9162
/// recursion: `lo` is a multiple of the smallest power of two `>= hi - lo`.
///
/// Such a range splits into complete subtrees of strictly decreasing size,
/// left to right (the binary digits of `hi - lo`); the RFC's recursion joins
/// them right to left.
pub(crate) fn range_hash<R: HashReader + ?Sized>(reader: &R, lo: u64, hi: u64) -> Result<Hash> {
    let mut parts = Vec::with_capacity(64);
    let mut pos = lo;
    while pos < hi {
        let level = floor_log2(hi - pos);
        if pos & ((1u64 << level) - 1) != 0 {
            // Unreachable for ranges built by this module; refuse rather
            // than ask the reader for a node that is not a complete subtree.
            return Err(TlogError::NodeNotFound {
                level,
                index: pos >> level,
            });
        }
        parts.push(reader.node(level, pos >> level)?);
        pos += 1u64 << level;
    }
    let mut iter = parts.into_iter().rev();
    let Some(mut acc) = iter.next() else {
        return Ok(empty_root());
    };
    for left in iter {
        acc = node_hash(&left, &acc);
    }
    Ok(acc)
}

/// `floor(log2(n))` for `n > 0`, as a tree level.
pub(crate) fn floor_log2(n: u64) -> u8 {
    // At most 63, so the narrowing is lossless.
    (63 - n.leading_zeros().min(63)) as u8
}

/// The largest power of two strictly below `n`, for `n >= 2` (RFC 9162's `k`).
pub(crate) fn split_point(n: u64) -> u64 {
    1u64 << floor_log2(n - 1)
}

#[cfg(test)]
mod tests;
