//! Checking proofs (RFC 9162 §2.1.3.2, §2.1.4.2).
//!
//! These follow the RFC's bit-walking algorithms literally: `fn` tracks the
//! node's position and `sn` the last position at each level, so the path's
//! shape is derived from the sizes alone and a proof of the wrong length or
//! order cannot verify.

use crate::error::{Result, TlogError};
use crate::hash::{Hash, empty_root, node_hash};

/// Checks that `leaf_hash` is leaf `index` of the tree of `size` leaves
/// whose root is `root`.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<()> {
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if sn == 0 {
            return Err(TlogError::InclusionProofInvalid);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            // Right edge: skip the levels where this node has no sibling.
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn == 0 && r == *root {
        Ok(())
    } else {
        Err(TlogError::InclusionProofInvalid)
    }
}

/// Checks that the tree of `new_size` leaves with root `new_root` extends
/// the tree of `old_size` leaves with root `old_root`.
///
/// Equal sizes need equal roots and an empty proof; an old size of 0 needs
/// the empty-tree root and an empty proof.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<()> {
    if old_size > new_size {
        return Err(TlogError::SizeOrder { old_size, new_size });
    }
    if old_size == new_size {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else {
            Err(TlogError::ConsistencyProofInvalid)
        };
    }
    if old_size == 0 {
        return if proof.is_empty() && *old_root == empty_root() {
            Ok(())
        } else {
            Err(TlogError::ConsistencyProofInvalid)
        };
    }
    let Some((first, rest)) = proof.split_first() else {
        return Err(TlogError::ConsistencyProofInvalid);
    };
    // When the old tree is a complete subtree its root is the proof's
    // implicit first element.
    let (start, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        (first, rest)
    };
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*start, *start);
    for c in rest {
        if sn == 0 {
            return Err(TlogError::ConsistencyProofInvalid);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn == 0 && fr == *old_root && sr == *new_root {
        Ok(())
    } else {
        Err(TlogError::ConsistencyProofInvalid)
    }
}
