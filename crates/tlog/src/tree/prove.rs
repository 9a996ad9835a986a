//! Building inclusion and consistency proofs (RFC 9162 §2.1.3.1, §2.1.4.1).
//!
//! Both walk the RFC's recursion top-down, iteratively, and reverse at the
//! end because proofs list hashes leaf-side first. At most one element per
//! proof covers an incomplete subtree (the right edge of the tree); it is
//! folded from complete nodes by [`range_hash`], so a proof costs O(log n)
//! reads.

use super::{HashReader, range_hash, split_point};
use crate::error::{Result, TlogError};
use crate::hash::Hash;

/// Audit path for leaf `index` in the tree of the first `size` leaves
/// (RFC 9162 `PATH(m, D[n])`), leaf side first.
pub fn inclusion_proof<R: HashReader + ?Sized>(
    reader: &R,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>> {
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let mid = lo + split_point(hi - lo);
        if index < mid {
            proof.push(range_hash(reader, mid, hi)?);
            hi = mid;
        } else {
            proof.push(range_hash(reader, lo, mid)?);
            lo = mid;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// Consistency proof between the trees of the first `old_size` and
/// `new_size` leaves (RFC 9162 `PROOF(m, D[n])`).
///
/// Empty when `old_size` is 0 or equal to `new_size`: those pairs are
/// consistent by definition.
pub fn consistency_proof<R: HashReader + ?Sized>(
    reader: &R,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>> {
    if old_size > new_size {
        return Err(TlogError::SizeOrder { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    let mut proof = Vec::new();
    let (mut lo, mut hi) = (0u64, new_size);
    // RFC's `b`: true while the old tree is the left edge of [lo, hi), whose
    // root the verifier already knows and so need not be sent.
    let mut old_root_known = true;
    while old_size != hi {
        let mid = lo + split_point(hi - lo);
        if old_size <= mid {
            proof.push(range_hash(reader, mid, hi)?);
            hi = mid;
        } else {
            proof.push(range_hash(reader, lo, mid)?);
            lo = mid;
            old_root_known = false;
        }
    }
    if !old_root_known {
        proof.push(range_hash(reader, lo, hi)?);
    }
    proof.reverse();
    Ok(proof)
}
