//! Checks the O(log n) algorithms against the RFC 9162 definitions written
//! out naively (recursion over the full leaf list), and bounds their reads.

use std::cell::Cell;

use super::*;
use crate::hash::leaf_hash;

/// RFC 9162 §2.1.1 MTH, literally.
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// RFC 9162 §2.1.3.1 PATH(m, D[n]), literally.
fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split_point(n as u64) as usize;
    if m < k {
        let mut p = path(m, &leaves[..k]);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = path(m - k, &leaves[k..]);
        p.push(mth(&leaves[..k]));
        p
    }
}

/// RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b), literally.
fn subproof(m: usize, leaves: &[Hash], b: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if b { Vec::new() } else { vec![mth(leaves)] };
    }
    let k = split_point(n as u64) as usize;
    if m <= k {
        let mut p = subproof(m, &leaves[..k], b);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = subproof(m - k, &leaves[k..], false);
        p.push(mth(&leaves[..k]));
        p
    }
}

fn sample(n: u64) -> (MemoryTree, Vec<Hash>) {
    let mut tree = MemoryTree::new();
    let mut leaves = Vec::new();
    for i in 0..n {
        let leaf = leaf_hash(&i.to_le_bytes());
        tree.push(leaf).unwrap();
        leaves.push(leaf);
    }
    (tree, leaves)
}

#[test]
fn matches_the_rfc_definitions_for_every_small_tree() {
    let (tree, leaves) = sample(70);
    for n in 0..=70usize {
        let prefix = &leaves[..n];
        assert_eq!(root_at(&tree, n as u64).unwrap(), mth(prefix), "root {n}");
        for m in 0..n {
            assert_eq!(
                inclusion_proof(&tree, m as u64, n as u64).unwrap(),
                path(m, prefix),
                "path {m} {n}"
            );
        }
        for m in 1..n {
            assert_eq!(
                consistency_proof(&tree, m as u64, n as u64).unwrap(),
                subproof(m, prefix, true),
                "proof {m} {n}"
            );
        }
    }
}

/// A reader that counts what it is asked for.
struct Counting<'a> {
    inner: &'a MemoryTree,
    reads: Cell<usize>,
}

impl HashReader for Counting<'_> {
    fn node(&self, level: u8, index: u64) -> Result<Hash> {
        self.reads.set(self.reads.get() + 1);
        self.inner.node(level, index)
    }
}

/// Guards the O(log n) promise: a proof never reads more than about two
/// nodes per tree level.
#[test]
fn reads_are_logarithmic() {
    let (tree, _) = sample(3000);
    let r = Counting {
        inner: &tree,
        reads: Cell::new(0),
    };
    for n in [1u64, 2, 3, 255, 256, 257, 1000, 2047, 2999, 3000] {
        let bound = 2 * (64 - n.leading_zeros() as usize) + 2;
        r.reads.set(0);
        root_at(&r, n).unwrap();
        assert!(r.reads.get() <= bound);
        for m in [0, n / 3, n / 2, n - 1] {
            r.reads.set(0);
            inclusion_proof(&r, m, n).unwrap();
            assert!(
                r.reads.get() <= bound,
                "inclusion {m} {n}: {}",
                r.reads.get()
            );
            if m > 0 {
                r.reads.set(0);
                consistency_proof(&r, m, n).unwrap();
                assert!(
                    r.reads.get() <= bound,
                    "consistency {m} {n}: {}",
                    r.reads.get()
                );
            }
        }
    }
}

#[test]
fn split_point_is_the_largest_power_of_two_below() {
    for (n, k) in [
        (2, 1),
        (3, 2),
        (4, 2),
        (5, 4),
        (8, 4),
        (9, 8),
        (u64::MAX, 1 << 63),
    ] {
        assert_eq!(split_point(n), k, "{n}");
    }
}

#[test]
fn frontier_rejects_wrong_hash_counts() {
    assert!(Frontier::from_hashes(0, vec![]).is_ok());
    assert!(matches!(
        Frontier::from_hashes(3, vec![[0; 32]]),
        Err(TlogError::FrontierSize {
            size: 3,
            expected: 2,
            actual: 1
        })
    ));
}

#[test]
fn a_full_tree_refuses_to_grow() {
    let mut f = Frontier::from_hashes(u64::MAX, vec![[0; 32]; 64]).unwrap();
    assert_eq!(f.append([1; 32]), Err(TlogError::TreeFull));
    assert_eq!(f.size(), u64::MAX);
}
