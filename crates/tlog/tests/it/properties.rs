//! Property tests: proofs verify for every tree shape up to 2048 leaves and
//! stop verifying when anything they commit to is changed.
//!
//! What a proof alone cannot catch is deliberately not asserted: a root does
//! not commit to its size, so *some* other sizes can accept the same proof
//! (e.g. leaf 0 has the same audit path in trees of 5 and 8 leaves). Only
//! the signed checkpoint binds size and root; the size changes tested here
//! are the ones that change the tree's shape (×2, ÷2, ±1 for the old size),
//! as in transparency-dev/merkle's verifier tests.

#![expect(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns; a failed unwrap is a failed test"
)]

use std::sync::OnceLock;

use countersign_tlog::{
    Checkpoint, Frontier, Hash, HashReader, MemoryTree, consistency_proof, inclusion_proof,
    parse_tile_path, root_at, tile_path, verify_consistency, verify_inclusion,
};
use proptest::prelude::*;

const MAX: u64 = 2048;

fn tree() -> &'static MemoryTree {
    static TREE: OnceLock<MemoryTree> = OnceLock::new();
    TREE.get_or_init(|| {
        let mut t = MemoryTree::new();
        for i in 0..MAX {
            t.push_entry(format!("entry {i}").as_bytes()).unwrap();
        }
        t
    })
}

/// Flips one bit chosen by `pick` in one of the hashes.
fn flip(hashes: &mut [Hash], pick: usize) {
    let n = hashes.len() * 32 * 8;
    let bit = pick % n;
    hashes[bit / 256][(bit / 8) % 32] ^= 1 << (bit % 8);
}

/// `(index, size)` with `index < size <= MAX`; mapped rather than
/// flat-mapped so shrinking keeps the pair valid.
fn inclusion_case() -> impl Strategy<Value = (u64, u64)> {
    (1..=MAX, any::<u64>()).prop_map(|(size, seed)| (seed % size, size))
}

/// `(old, new)` with `1 <= old <= new <= MAX`.
fn consistency_case() -> impl Strategy<Value = (u64, u64)> {
    (1..=MAX, any::<u64>()).prop_map(|(new, seed)| (1 + seed % new, new))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn inclusion_proofs_verify_and_detect_tampering(
        (index, size) in inclusion_case(),
        pick in any::<usize>(),
        other in any::<u64>(),
    ) {
        let t = tree();
        let root = root_at(t, size).unwrap();
        let leaf = t.node(0, index).unwrap();
        let proof = inclusion_proof(t, index, size).unwrap();
        prop_assert!(proof.len() <= 64 - size.leading_zeros() as usize);
        verify_inclusion(&leaf, index, size, &proof, &root).unwrap();

        // Any single bit of leaf, root or proof.
        let mut all = vec![leaf, root];
        all.extend(&proof);
        flip(&mut all, pick);
        prop_assert!(verify_inclusion(&all[0], index, size, &all[2..], &all[1]).is_err());

        // Any other index in the same tree.
        let other_index = other % size;
        if other_index != index {
            prop_assert!(verify_inclusion(&leaf, other_index, size, &proof, &root).is_err());
        }
        // Shape-changing sizes.
        prop_assert!(verify_inclusion(&leaf, index, size * 2, &proof, &root).is_err());
        prop_assert!(verify_inclusion(&leaf, index, size / 2, &proof, &root).is_err());
        // Extra or missing elements.
        let mut longer = proof.clone();
        longer.push(root);
        prop_assert!(verify_inclusion(&leaf, index, size, &longer, &root).is_err());
        if !proof.is_empty() {
            let shorter = &proof[..proof.len() - 1];
            prop_assert!(verify_inclusion(&leaf, index, size, shorter, &root).is_err());
        }
    }

    #[test]
    fn consistency_proofs_verify_and_detect_tampering(
        (old, new) in consistency_case(),
        pick in any::<usize>(),
    ) {
        let t = tree();
        let old_root = root_at(t, old).unwrap();
        let new_root = root_at(t, new).unwrap();
        let proof = consistency_proof(t, old, new).unwrap();
        verify_consistency(old, new, &old_root, &new_root, &proof).unwrap();

        let mut all = vec![old_root, new_root];
        all.extend(&proof);
        flip(&mut all, pick);
        prop_assert!(verify_consistency(old, new, &all[0], &all[1], &all[2..]).is_err());

        if old < new {
            for (o, n) in [(old - 1, new), (old + 1, new), (old ^ 2, new), (old, new * 2), (old, new / 2)] {
                prop_assert!(
                    verify_consistency(o, n, &old_root, &new_root, &proof).is_err(),
                    "{} -> {} accepted as {} -> {}", old, new, o, n
                );
            }
            prop_assert!(verify_consistency(old, new, &old_root, &new_root, &proof[1..]).is_err());
            let mut longer = proof.clone();
            longer.push(new_root);
            prop_assert!(verify_consistency(old, new, &old_root, &new_root, &longer).is_err());
            prop_assert!(verify_consistency(old, new, &new_root, &old_root, &proof).is_err());
        }
    }

    #[test]
    fn frontier_reload_matches_appending(size in 0..=MAX) {
        let t = tree();
        let loaded = Frontier::load(t, size).unwrap();
        prop_assert_eq!(loaded.root(), root_at(t, size).unwrap());
        let rebuilt = Frontier::from_hashes(size, loaded.hashes().to_vec()).unwrap();
        prop_assert_eq!(&rebuilt, &loaded);
        prop_assert!(Frontier::from_hashes(size, vec![[0; 32]; size.count_ones() as usize + 1]).is_err());
        // Appending the rest of the tree onto a reloaded frontier reproduces
        // the stored nodes.
        let mut f = loaded;
        for i in size..(size + 40).min(MAX) {
            for (level, index, hash) in f.append(t.node(0, i).unwrap()).unwrap() {
                prop_assert_eq!(t.node(level, index).unwrap(), hash);
            }
            prop_assert_eq!(f.root(), root_at(t, i + 1).unwrap());
        }
    }

    #[test]
    fn tile_paths_round_trip(
        level in 0u8..=63,
        index in any::<u64>(),
        width in prop::option::of(1u16..=255),
    ) {
        let path = tile_path(level, index, width).unwrap();
        let parsed = parse_tile_path(&path).unwrap();
        prop_assert_eq!(parsed.index, index);
        prop_assert_eq!(parsed.partial_width, width);
        prop_assert_eq!(parsed.to_path().unwrap(), path);
    }

    #[test]
    fn tile_path_parser_never_panics(path in "tile/[0-9a-z./]{0,40}") {
        if let Ok(parsed) = parse_tile_path(&path) {
            prop_assert_eq!(parsed.to_path().unwrap(), path);
        }
    }

    #[test]
    fn checkpoints_round_trip(
        origin in "[^\n]{1,40}",
        size in any::<u64>(),
        root in any::<[u8; 32]>(),
        extensions in prop::collection::vec("[^\n]{1,20}", 0..3),
    ) {
        let cp = Checkpoint { origin, size, root, extensions };
        prop_assert_eq!(Checkpoint::parse(&cp.to_note_text()).unwrap(), cp);
    }
}
