//! Cross-checks against independent implementations: Cloudflare's
//! `tlog_tiles` and `signed_note` crates, Rust ports of Go's
//! `golang.org/x/mod/sumdb` code. They build their own hash storage (Go's
//! stored-hash layout), so agreement here is agreement between two codebases,
//! not one reading its own output back.

#![expect(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns; a failed unwrap is a failed test"
)]

use countersign_tlog::{
    Checkpoint, MemoryTree, Signer, Verifier, consistency_proof, entries_path, inclusion_proof,
    leaf_hash, open_note, parse_tile_path, root_at, sign_note, tile_hashes, tile_path,
    verify_consistency, verify_inclusion,
};
use signed_note::{Note, StandardSigner, StandardVerifier, VerifierList};
use tlog_tiles as go;

/// SplitMix64: a seeded, dependency-free source of test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Go-layout hash storage, filled only by `tlog_tiles::stored_hashes`.
#[derive(Default)]
struct GoStore(Vec<go::Hash>);

impl go::HashReader for GoStore {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<go::Hash>, go::Error> {
        indexes
            .iter()
            .map(|&i| {
                self.0
                    .get(i as usize)
                    .copied()
                    .ok_or(go::Error::IndexesNotInTree)
            })
            .collect()
    }
}

/// Serves tiles built by *our* `tile_hashes`, so `tlog_tiles`'s
/// `TileHashReader` authenticates them against the tree root.
struct OurTiles<'a>(&'a MemoryTree);

impl go::TileReader for OurTiles<'_> {
    fn height(&self) -> u8 {
        8
    }

    fn read_tiles(&self, tiles: &[go::Tile]) -> Result<Vec<Vec<u8>>, go::Error> {
        tiles
            .iter()
            .map(|t| {
                let hashes = tile_hashes(self.0, t.level(), t.level_index(), t.width() as u16)
                    .map_err(|_| go::Error::InvalidTile)?;
                Ok(hashes.concat())
            })
            .collect()
    }

    fn save_tiles(&self, _tiles: &[go::Tile], _data: &[Vec<u8>]) {}
}

/// Builds the same random log both ways.
fn build(n: u64, rng: &mut Rng) -> (MemoryTree, GoStore) {
    let mut ours = MemoryTree::new();
    let mut theirs = GoStore::default();
    for i in 0..n {
        let len = rng.below(40) as usize;
        let entry: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        assert_eq!(ours.push_entry(&entry).unwrap(), i);
        let new = go::stored_hashes(i, &entry, &theirs).unwrap();
        theirs.0.extend(new);
    }
    (ours, theirs)
}

#[test]
fn roots_match_tlog_tiles() {
    let mut rng = Rng(1);
    let (ours, theirs) = build(700, &mut rng);
    for size in 0..=700 {
        assert_eq!(
            root_at(&ours, size).unwrap(),
            go::tree_hash(size, &theirs).unwrap().0,
            "size {size}"
        );
    }
}

#[test]
fn inclusion_proofs_match_tlog_tiles() {
    let mut rng = Rng(2);
    let (ours, theirs) = build(300, &mut rng);
    for size in 1..=300u64 {
        let root = root_at(&ours, size).unwrap();
        let indexes: Vec<u64> = if size <= 64 {
            (0..size).collect()
        } else {
            (0..12)
                .map(|_| rng.below(size))
                .chain([0, size - 1])
                .collect()
        };
        for index in indexes {
            let proof = inclusion_proof(&ours, index, size).unwrap();
            let go_proof: Vec<[u8; 32]> = go::prove_record(size, index, &theirs)
                .unwrap()
                .into_iter()
                .map(|h| h.0)
                .collect();
            assert_eq!(proof, go_proof, "leaf {index} size {size}");
            let leaf = go::Hash(leaf_hash_of(&ours, index));
            let wrapped: Vec<go::Hash> = proof.iter().map(|h| go::Hash(*h)).collect();
            go::check_record(&wrapped, size, go::Hash(root), index, leaf).unwrap();
            verify_inclusion(&leaf.0, index, size, &proof, &root).unwrap();
        }
    }
}

#[test]
fn consistency_proofs_match_tlog_tiles() {
    let mut rng = Rng(3);
    let (ours, theirs) = build(300, &mut rng);
    for new in 1..=300u64 {
        let new_root = root_at(&ours, new).unwrap();
        let olds: Vec<u64> = if new <= 64 {
            (1..=new).collect()
        } else {
            (0..12)
                .map(|_| 1 + rng.below(new))
                .chain([1, new])
                .collect()
        };
        for old in olds {
            let old_root = root_at(&ours, old).unwrap();
            let proof = consistency_proof(&ours, old, new).unwrap();
            let go_proof: Vec<[u8; 32]> = go::prove_tree(new, old, &theirs)
                .unwrap()
                .into_iter()
                .map(|h| h.0)
                .collect();
            assert_eq!(proof, go_proof, "{old} -> {new}");
            let wrapped: Vec<go::Hash> = proof.iter().map(|h| go::Hash(*h)).collect();
            go::check_tree(&wrapped, new, go::Hash(new_root), old, go::Hash(old_root)).unwrap();
            verify_consistency(old, new, &old_root, &new_root, &proof).unwrap();
        }
    }
}

fn leaf_hash_of(tree: &MemoryTree, index: u64) -> [u8; 32] {
    use countersign_tlog::HashReader;
    tree.node(0, index).unwrap()
}

#[test]
fn tiles_match_and_authenticate_with_tlog_tiles() {
    let mut rng = Rng(4);
    // Enough leaves for a full level-1 tile plus a partial one.
    let (ours, theirs) = build(256 * 256 + 777, &mut rng);
    let size = ours.size();
    let root = ours.root();
    // Every tile of this tree, full and partial, at both levels.
    for tile in go::Tile::new_tiles(8, 0, size) {
        let ours_data = tile_hashes(&ours, tile.level(), tile.level_index(), tile.width() as u16)
            .unwrap()
            .concat();
        assert_eq!(
            ours_data,
            tile.read_data(&theirs).unwrap(),
            "{}",
            tile.path()
        );
    }
    // tlog_tiles' TileHashReader checks every tile we serve against the
    // root before using it.
    let tiles = OurTiles(&ours);
    let reader = go::TileHashReader::new(size, go::Hash(root), &tiles);
    assert_eq!(go::tree_hash(size, &reader).unwrap().0, root);
    for _ in 0..50 {
        let index = rng.below(size);
        let from_tiles = go::prove_record(size, index, &reader).unwrap();
        let want = inclusion_proof(&ours, index, size).unwrap();
        let got: Vec<[u8; 32]> = from_tiles.into_iter().map(|h| h.0).collect();
        assert_eq!(got, want);
    }
}

#[test]
fn tile_paths_match_tlog_tiles() {
    let mut rng = Rng(5);
    let mut indexes = vec![0, 1, 999, 1000, 1001, 1_234_067, u64::MAX / 256, u64::MAX];
    indexes.extend((0..200).map(|_| rng.next() >> rng.below(64)));
    for index in indexes {
        for width in [None, Some(1u16), Some(17), Some(255)] {
            let go_width = width.map_or(256, u32::from);
            for level in [0u8, 1, 2, 7] {
                let theirs = go::Tile::new(8, level, index, go_width, false).path();
                // Go's sumdb layout names the height; C2SP drops it.
                let want = theirs.replacen("tile/8/", "tile/", 1);
                let ours = tile_path(level, index, width).unwrap();
                assert_eq!(ours, want);
                assert_eq!(parse_tile_path(&ours).unwrap().to_path().unwrap(), ours);
                assert!(go::Tile::from_path(&theirs).is_ok());
            }
            let theirs = go::Tile::new(8, 0, index, go_width, true).path();
            let want = theirs.replacen("tile/8/data/", "tile/entries/", 1);
            assert_eq!(entries_path(index, width).unwrap(), want);
        }
    }
}

#[test]
fn our_keys_parse_in_signed_note_and_agree_on_key_ids() {
    for name in ["a", "countersign.example/log", "PeterNeumann", "ünïcödé"] {
        let signer = Signer::generate(name).unwrap();
        let their_signer = StandardSigner::new(&signer.to_private_key()).unwrap();
        let their_verifier = StandardVerifier::new(&signer.verifier().to_key()).unwrap();
        use signed_note::{Signer as _, Verifier as _};
        assert_eq!(their_signer.key_id(), signer.key_id());
        assert_eq!(their_verifier.key_id(), signer.key_id());
        assert_eq!(their_verifier.name(), name);
    }
}

#[test]
fn signatures_are_identical_and_verify_both_ways() {
    let mut rng = Rng(6);
    for round in 0..20 {
        let signer = Signer::new(&format!("log{round}.example"), rng_seed(&mut rng)).unwrap();
        let their_signer = StandardSigner::new(&signer.to_private_key()).unwrap();
        let their_verifier = StandardVerifier::new(&signer.verifier().to_key()).unwrap();
        let text = format!("origin{round}\n{}\nsome text\n", rng.next());

        let ours = sign_note(&text, &signer).unwrap();
        let mut note = Note::new(text.as_bytes(), &[]).unwrap();
        note.add_sigs(&[&their_signer]).unwrap();
        let theirs = note.to_bytes();
        assert_eq!(ours.as_bytes(), theirs.as_slice());

        // Ours opened by them.
        let parsed = Note::from_bytes(ours.as_bytes()).unwrap();
        let (verified, _) = parsed
            .verify(&VerifierList::new(vec![Box::new(their_verifier)]))
            .unwrap();
        assert_eq!(verified.len(), 1);
        // Theirs opened by us.
        let (got, names) = open_note(&theirs, &[signer.verifier()]).unwrap();
        assert_eq!(got, text);
        assert_eq!(names, [signer.name()]);
    }
}

fn rng_seed(rng: &mut Rng) -> [u8; 32] {
    let mut seed = [0u8; 32];
    for chunk in seed.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next().to_le_bytes());
    }
    seed
}

#[test]
fn checkpoints_match_tlog_tiles() {
    let mut rng = Rng(7);
    let signer = Signer::new("example.com/log", rng_seed(&mut rng)).unwrap();
    let their_verifier = StandardVerifier::new(&signer.verifier().to_key()).unwrap();
    let verifiers = VerifierList::new(vec![Box::new(their_verifier)]);
    for round in 0..50u64 {
        let extensions: Vec<String> = (0..round % 3).map(|i| format!("ext {i}")).collect();
        let cp = Checkpoint {
            origin: format!("example.com/log{round}"),
            size: rng.next() >> rng.below(64),
            root: leaf_hash(&round.to_be_bytes()),
            extensions: extensions.clone(),
        };
        let ext = extensions
            .iter()
            .map(|e| format!("{e}\n"))
            .collect::<String>();
        let theirs = go::Checkpoint::new(&cp.origin, cp.size, go::Hash(cp.root), &ext).unwrap();
        assert_eq!(cp.to_note_text().as_bytes(), theirs.to_bytes().as_slice());
        assert_eq!(
            Checkpoint::parse(std::str::from_utf8(&theirs.to_bytes()).unwrap()).unwrap(),
            cp
        );
        let back = go::Checkpoint::from_bytes(cp.to_note_text().as_bytes()).unwrap();
        assert_eq!(back, theirs);

        // A checkpoint we sign opens with signed_note and parses with tlog_tiles.
        let signed = cp.sign(&signer).unwrap();
        let note = Note::from_bytes(signed.as_bytes()).unwrap();
        note.verify(&verifiers).unwrap();
        assert_eq!(go::Checkpoint::from_bytes(note.text()).unwrap(), theirs);
        assert_eq!(
            Checkpoint::open(signed.as_bytes(), &[signer.verifier()]).unwrap(),
            cp
        );
    }
}

#[test]
fn foreign_verifier_keys_parse() {
    // Keys printed by Go's note package (note_test.go) parse in both.
    for key in [
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop",
    ] {
        use signed_note::Verifier as _;
        let ours = Verifier::from_key(key).unwrap();
        let theirs = StandardVerifier::new(key).unwrap();
        assert_eq!(ours.key_id(), theirs.key_id());
        assert_eq!(ours.to_key(), key);
    }
}
