//! Known-answer tests from the Certificate Transparency reference tree
//! (the 8-leaf tree of google/certificate-transparency's merkle_tree_test
//! and transparency-dev/merkle's testonly/constants.go and
//! proof/verify_test.go). Guards exact RFC 9162 compatibility: any drift in
//! hashing, proof order or proof shape fails here first.

#![expect(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns; a failed unwrap is a failed test"
)]

use countersign_tlog::{
    Frontier, Hash, HashReader, MemoryTree, TlogError, consistency_proof, empty_root,
    inclusion_proof, leaf_hash, root_at, verify_consistency, verify_inclusion,
};

const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Roots for tree sizes 1..=8.
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// Every complete-subtree node of the 8-leaf tree, `[level][index]`.
const NODES: [&[&str]; 4] = [
    &[
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    &[
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    &[
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

/// Inclusion proofs: (leaf index, tree size, proof).
const INCLUSION: [(u64, u64, &[&str]); 5] = [
    (0, 1, &[]),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// Consistency proofs: (old size, new size, proof).
const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn h(s: &str) -> Hash {
    hex::decode(s).unwrap().try_into().unwrap()
}

fn hashes(list: &[&str]) -> Vec<Hash> {
    list.iter().map(|s| h(s)).collect()
}

fn tree() -> MemoryTree {
    let mut t = MemoryTree::new();
    for leaf in LEAVES {
        t.push_entry(&hex::decode(leaf).unwrap()).unwrap();
    }
    t
}

fn root(size: u64) -> Hash {
    h(ROOTS[size as usize - 1])
}

#[test]
fn roots_match_for_every_size() {
    let t = tree();
    assert_eq!(root_at(&t, 0).unwrap(), empty_root());
    for size in 1..=8 {
        assert_eq!(root_at(&t, size).unwrap(), root(size), "size {size}");
    }
    assert_eq!(t.root(), root(8));
}

#[test]
fn every_complete_node_matches() {
    let t = tree();
    for (level, row) in NODES.iter().enumerate() {
        for (index, node) in row.iter().enumerate() {
            assert_eq!(
                t.node(level as u8, index as u64).unwrap(),
                h(node),
                "level {level} index {index}"
            );
        }
    }
    assert!(matches!(
        t.node(3, 1),
        Err(TlogError::NodeNotFound { level: 3, index: 1 })
    ));
}

#[test]
fn frontier_roots_and_compact_ranges_match() {
    // CompactTrees() in transparency-dev/merkle: the frontier after each size.
    let expected: [&[(usize, usize)]; 8] = [
        &[(0, 0)],
        &[(1, 0)],
        &[(1, 0), (0, 2)],
        &[(2, 0)],
        &[(2, 0), (0, 4)],
        &[(2, 0), (1, 2)],
        &[(2, 0), (1, 2), (0, 6)],
        &[(3, 0)],
    ];
    let mut f = Frontier::new();
    assert_eq!(f.root(), empty_root());
    for (i, leaf) in LEAVES.iter().enumerate() {
        f.append(leaf_hash(&hex::decode(leaf).unwrap())).unwrap();
        let want: Vec<Hash> = expected[i]
            .iter()
            .map(|&(level, index)| h(NODES[level][index]))
            .collect();
        assert_eq!(f.hashes(), want.as_slice(), "size {}", i + 1);
        assert_eq!(f.root(), root(i as u64 + 1));
    }
}

#[test]
fn frontier_append_reports_every_new_node() {
    let mut f = Frontier::new();
    let mut seen = Vec::new();
    for leaf in LEAVES {
        seen.extend(f.append(leaf_hash(&hex::decode(leaf).unwrap())).unwrap());
    }
    let mut want = Vec::new();
    for (level, row) in NODES.iter().enumerate() {
        for (index, node) in row.iter().enumerate() {
            want.push((level as u8, index as u64, h(node)));
        }
    }
    seen.sort();
    want.sort();
    assert_eq!(seen, want);
}

#[test]
fn inclusion_proofs_match_and_verify() {
    let t = tree();
    for (index, size, proof) in INCLUSION {
        let want = hashes(proof);
        assert_eq!(
            inclusion_proof(&t, index, size).unwrap(),
            want,
            "leaf {index} size {size}"
        );
        let leaf = t.node(0, index).unwrap();
        verify_inclusion(&leaf, index, size, &want, &root(size)).unwrap();
    }
}

#[test]
fn consistency_proofs_match_and_verify() {
    let t = tree();
    for (old, new, proof) in CONSISTENCY {
        let want = hashes(proof);
        assert_eq!(
            consistency_proof(&t, old, new).unwrap(),
            want,
            "{old} -> {new}"
        );
        verify_consistency(old, new, &root(old), &root(new), &want).unwrap();
    }
}

/// The corruptions transparency-dev/merkle's verify_test.go tries on each
/// known-good inclusion proof must all be refused.
#[test]
fn corrupted_inclusion_proofs_fail() {
    let t = tree();
    let some_hash = h("abacaba000000000000000000000000000000000000000000060061e00123456");
    for (index, size, proof) in INCLUSION {
        let proof = hashes(proof);
        let leaf = t.node(0, index).unwrap();
        let r = root(size);
        let fails = |leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash| {
            verify_inclusion(leaf, index, size, proof, root).is_err()
        };
        if index > 0 {
            assert!(fails(&leaf, index - 1, size, &proof, &r));
        }
        assert!(fails(&leaf, index + 1, size, &proof, &r));
        assert!(fails(&leaf, index ^ 2, size, &proof, &r));
        assert!(fails(&leaf, index, size * 2, &proof, &r));
        assert!(fails(&leaf, index, size / 2, &proof, &r));
        assert!(fails(&leaf_hash(b"WrongLeaf"), index, size, &proof, &r));
        assert!(fails(&leaf, index, size, &proof, &empty_root()));
        assert!(fails(&leaf, index, size, &proof, &some_hash));
        for extra in [r, [0u8; 32]] {
            let mut longer = proof.clone();
            longer.push(extra);
            assert!(fails(&leaf, index, size, &longer, &r));
            let mut longer = vec![extra];
            longer.extend(&proof);
            assert!(fails(&leaf, index, size, &longer, &r));
        }
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i][0] ^= 8;
            assert!(fails(&leaf, index, size, &bad, &r));
        }
        if !proof.is_empty() {
            assert!(fails(&leaf, index, size, &proof[..proof.len() - 1], &r));
        }
        if proof.len() > 1 {
            let mut bad = vec![proof[0], some_hash];
            bad.extend(&proof[1..]);
            assert!(fails(&leaf, index, size, &bad, &r));
        }
    }
}

/// Same for consistency proofs.
#[test]
fn corrupted_consistency_proofs_fail() {
    for (old, new, proof) in CONSISTENCY {
        let proof = hashes(proof);
        if proof.is_empty() {
            continue;
        }
        let (r1, r2) = (root(old), root(new));
        let fails = |old: u64, new: u64, r1: &Hash, r2: &Hash, proof: &[Hash]| {
            verify_consistency(old, new, r1, r2, proof).is_err()
        };
        assert!(fails(old - 1, new, &r1, &r2, &proof));
        assert!(fails(old + 1, new, &r1, &r2, &proof));
        assert!(fails(old ^ 2, new, &r1, &r2, &proof));
        assert!(fails(old, new * 2, &r1, &r2, &proof));
        assert!(fails(old, new / 2, &r1, &r2, &proof));
        assert!(fails(old, new, &leaf_hash(b"WrongRoot"), &r2, &proof));
        assert!(fails(old, new, &r1, &leaf_hash(b"WrongRoot"), &proof));
        assert!(fails(old, new, &r2, &r1, &proof));
        assert!(fails(old, new, &r1, &r2, &[]));
        for extra in [[0u8; 32], r1, r2, proof[0]] {
            let mut longer = proof.clone();
            longer.push(extra);
            assert!(fails(old, new, &r1, &r2, &longer));
            let mut longer = vec![extra];
            longer.extend(&proof);
            assert!(fails(old, new, &r1, &r2, &longer));
        }
        assert!(fails(old, new, &r1, &r2, &proof[..proof.len() - 1]));
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i][0] ^= 16;
            assert!(fails(old, new, &r1, &r2, &bad));
        }
    }
}

/// Edge cases of verify_consistency from verify_test.go's TestVerifyConsistency.
#[test]
fn consistency_edge_cases() {
    let (a, b) = (leaf_hash(b"don't care 1"), leaf_hash(b"don't care 2"));
    let e = empty_root();
    // Equal sizes need equal roots and no proof.
    assert!(verify_consistency(0, 0, &a, &b, &[]).is_err());
    assert!(verify_consistency(1, 1, &a, &b, &[]).is_err());
    verify_consistency(1, 1, &b, &b, &[]).unwrap();
    verify_consistency(0, 0, &e, &e, &[]).unwrap();
    assert!(verify_consistency(1, 1, &e, &e, &[e]).is_err());
    // Growing from empty needs no proof, but the old root must be empty.
    verify_consistency(0, 1, &e, &b, &[]).unwrap();
    assert!(verify_consistency(0, 1, &e, &e, &[e]).is_err());
    assert!(verify_consistency(0, 1, &a, &b, &[]).is_err());
    // Time travel.
    assert!(matches!(
        verify_consistency(1, 0, &a, &b, &[]),
        Err(TlogError::SizeOrder { .. })
    ));
    assert!(verify_consistency(2, 1, &a, &b, &[]).is_err());
    // Growth needs a proof.
    assert!(verify_consistency(1, 2, &a, &b, &[]).is_err());
}

#[test]
fn inclusion_edge_cases() {
    let some = leaf_hash(b"data");
    // A one-leaf tree: the root is the leaf hash and the proof is empty.
    verify_inclusion(&some, 0, 1, &[], &some).unwrap();
    assert!(verify_inclusion(&some, 0, 1, &[], &empty_root()).is_err());
    for (index, size) in [(0, 0), (1, 0), (2, 1)] {
        assert!(matches!(
            verify_inclusion(&some, index, size, &[], &empty_root()),
            Err(TlogError::IndexOutOfRange { .. })
        ));
    }
    let t = tree();
    assert!(inclusion_proof(&t, 8, 8).is_err());
    assert!(consistency_proof(&t, 5, 4).is_err());
    assert!(consistency_proof(&t, 0, 8).unwrap().is_empty());
    // A tree cannot be proved beyond what the reader holds.
    assert!(matches!(
        root_at(&t, 9),
        Err(TlogError::NodeNotFound { .. })
    ));
}
