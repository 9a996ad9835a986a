//! Inclusion proofs at 10 million entries: generation from the stored tree
//! and verification, with criterion.
//!
//! `cargo bench -p countersign-store --bench audit_proofs [-- FILTER]`
//! (`COUNTERSIGN_BENCH_PROOF_SIZE` overrides the 10,000,000 leaves; the
//! tree is built once, straight into SQLite, and cached in
//! `$COUNTERSIGN_BENCH_DIR`, default `/tmp/countersign-bench`).
//!
//! Variants of generation:
//! - `sqlite`: O(log n) point lookups in `audit_nodes`, exactly what the
//!   store's `NodeReader` does (same SQL, cached statement), on the calling
//!   thread;
//! - `with_nodes`: the store's public API as the server calls it (the same
//!   reads, plus the hop to the blocking pool);
//! - `cached_upper_mmap/K`: levels `>= K` held in memory (kept current by
//!   the writer, which already has every new node), levels below read from
//!   SQLite point lookups (with `mmap_size` set);
//! - `cached_upper_block_mmap/K`: the same cache, and levels below `K` from
//!   one range read of the `2^K`-leaf block around the leaf;
//! - `all_in_memory`: every hash in memory (tlog's `MemoryTree`): the bound
//!   an mmap'd append-only hash file would approach.

#![expect(
    clippy::unwrap_used,
    reason = "a bench that cannot run should stop loudly"
)]

mod support;

use countersign_store::SqliteStore;
use countersign_tlog::{
    Checkpoint, Hash, HashReader, TlogError, inclusion_proof, leaf_hash, root_at, verify_inclusion,
};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::hint::black_box;
use std::path::Path;

/// The store's `NodeReader`, verbatim.
struct Sqlite<'a>(&'a Connection);

impl HashReader for Sqlite<'_> {
    fn node(&self, level: u8, index: u64) -> Result<Hash, TlogError> {
        let missing = TlogError::NodeNotFound { level, index };
        let idx = i64::try_from(index).map_err(|_| missing.clone())?;
        let blob: Option<Vec<u8>> = self
            .0
            .prepare_cached("SELECT hash FROM audit_nodes WHERE level = ?1 AND idx = ?2")
            .and_then(|mut st| st.query_row(params![level, idx], |r| r.get(0)).optional())
            .map_err(|_| missing.clone())?;
        blob.and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .ok_or(missing)
    }
}

/// Levels `>= from` in memory, the rest from SQLite.
struct CachedUpper<'a> {
    from: u8,
    levels: Vec<Vec<Hash>>,
    below: Sqlite<'a>,
}

impl<'a> CachedUpper<'a> {
    fn load(c: &'a Connection, from: u8) -> Self {
        let mut levels: Vec<Vec<Hash>> = Vec::new();
        let mut st = c
            .prepare("SELECT level, hash FROM audit_nodes WHERE level >= ?1 ORDER BY level, idx")
            .unwrap();
        let mut rows = st.query([from]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            let level: u8 = r.get(0).unwrap();
            let h: Vec<u8> = r.get(1).unwrap();
            let i = usize::from(level - from);
            if levels.len() <= i {
                levels.resize(i + 1, Vec::new());
            }
            levels[i].push(h.try_into().unwrap());
        }
        CachedUpper {
            from,
            levels,
            below: Sqlite(c),
        }
    }

    fn bytes(&self) -> usize {
        self.levels.iter().map(|l| l.len() * 32).sum()
    }
}

impl HashReader for CachedUpper<'_> {
    fn node(&self, level: u8, index: u64) -> Result<Hash, TlogError> {
        if level < self.from {
            return self.below.node(level, index);
        }
        self.levels
            .get(usize::from(level - self.from))
            .and_then(|l| l.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(TlogError::NodeNotFound { level, index })
    }
}

/// The proposed reader: levels `>= k` from memory; below that, the one
/// aligned block of `2^k` leaf hashes around the requested node is read
/// with a single range query and its subtrees hashed on the spot. A proof
/// needs siblings from exactly one such block, so it costs one SQLite
/// seek however large the tree.
struct CachedUpperBlock<'a> {
    upper: CachedUpper<'a>,
    block: std::cell::RefCell<Option<(u64, Vec<Vec<Hash>>)>>,
}

impl<'a> CachedUpperBlock<'a> {
    fn load(c: &'a Connection, k: u8) -> Self {
        CachedUpperBlock {
            upper: CachedUpper::load(c, k),
            block: std::cell::RefCell::new(None),
        }
    }

    /// All complete subtrees of leaf block `b` (`2^k` leaves), by level.
    fn read_block(&self, b: u64) -> Result<Vec<Vec<Hash>>, TlogError> {
        let k = self.upper.from;
        let lo = (b << k) as i64;
        let hi = lo + (1i64 << k);
        let mut st = self
            .upper
            .below
            .0
            .prepare_cached(
                "SELECT hash FROM audit_nodes WHERE level = 0 AND idx >= ?1 AND idx < ?2 ORDER BY idx",
            )
            .map_err(|_| TlogError::NodeNotFound { level: 0, index: b << k })?;
        let mut leaves: Vec<Hash> = Vec::with_capacity(1 << k);
        let mut rows = st
            .query(params![lo, hi])
            .map_err(|_| TlogError::NodeNotFound {
                level: 0,
                index: b << k,
            })?;
        while let Ok(Some(r)) = rows.next() {
            if let Ok(rusqlite::types::ValueRef::Blob(h)) = r.get_ref(0) {
                leaves.push(<[u8; 32]>::try_from(h).unwrap_or([0; 32]));
            }
        }
        let mut levels = vec![leaves];
        for _ in 1..k {
            let prev = levels.last().unwrap();
            let next: Vec<Hash> = prev
                .chunks_exact(2)
                .map(|p| countersign_tlog::node_hash(&p[0], &p[1]))
                .collect();
            levels.push(next);
        }
        Ok(levels)
    }
}

impl HashReader for CachedUpperBlock<'_> {
    fn node(&self, level: u8, index: u64) -> Result<Hash, TlogError> {
        let k = self.upper.from;
        if level >= k {
            return self.upper.node(level, index);
        }
        let b = (index << level) >> k;
        let mut cache = self.block.borrow_mut();
        if cache.as_ref().is_none_or(|(cb, _)| *cb != b) {
            *cache = Some((b, self.read_block(b)?));
        }
        let (_, levels) = cache.as_ref().unwrap();
        let within = index - ((b << k) >> level);
        levels
            .get(usize::from(level))
            .and_then(|l| l.get(within as usize))
            .copied()
            .ok_or(TlogError::NodeNotFound { level, index })
    }
}

/// SplitMix64 for proof indexes.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

fn open(path: &Path, mmap: bool) -> Connection {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    if mmap {
        c.pragma_update(None, "mmap_size", 1i64 << 34).unwrap();
    }
    c
}

fn proofs(c: &mut Criterion) {
    let n: u64 = std::env::var("COUNTERSIGN_BENCH_PROOF_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let signer = support::common::signer();
    let path = support::nodes_only(n, &signer);
    let conn = open(&path, false);
    let mapped = open(&path, true);
    let note: String = conn
        .query_row(
            "SELECT note FROM audit_checkpoints ORDER BY size DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let cp = Checkpoint::open(note.as_bytes(), &[signer.verifier()]).unwrap();
    assert_eq!(cp.size, n);
    assert_eq!(root_at(&Sqlite(&conn), n).unwrap(), cp.root);

    let mut g = c.benchmark_group(format!("inclusion_proof_{n}"));
    let mut rng = Rng(1);
    let reader = Sqlite(&conn);
    g.bench_function("generate/sqlite", |b| {
        b.iter(|| black_box(inclusion_proof(&reader, rng.below(n), n).unwrap()))
    });
    let reader_mmap = Sqlite(&mapped);
    g.bench_function("generate/sqlite_mmap", |b| {
        b.iter(|| black_box(inclusion_proof(&reader_mmap, rng.below(n), n).unwrap()))
    });
    for from in [4u8, 8] {
        let cached = CachedUpper::load(&mapped, from);
        eprintln!(
            "cached_upper_{from}: {} KiB in memory",
            cached.bytes() / 1024
        );
        g.bench_with_input(
            BenchmarkId::new("generate/cached_upper_mmap", from),
            &cached,
            |b, cached| b.iter(|| black_box(inclusion_proof(cached, rng.below(n), n).unwrap())),
        );
    }
    for k in [3u8, 4, 5, 6] {
        let cached = CachedUpperBlock::load(&mapped, k);
        eprintln!(
            "cached_upper_block_{k}: {} KiB in memory",
            cached.upper.bytes() / 1024
        );
        // Same proofs as the plain reader.
        for i in [0, 1, n / 3, n - 1] {
            assert_eq!(
                inclusion_proof(&cached, i, n).unwrap(),
                inclusion_proof(&reader, i, n).unwrap()
            );
        }
        g.bench_with_input(
            BenchmarkId::new("generate/cached_upper_block_mmap", k),
            &cached,
            |b, cached| b.iter(|| black_box(inclusion_proof(cached, rng.below(n), n).unwrap())),
        );
    }
    // Lower bound: every hash in memory (as an mmap'd, append-only hash
    // file in the page cache would give), here tlog's `MemoryTree`.
    let mut memory = countersign_tlog::MemoryTree::new();
    for i in 0..n {
        memory.push(leaf_hash(&i.to_be_bytes())).unwrap();
    }
    assert_eq!(memory.root(), cp.root);
    g.bench_function("generate/all_in_memory", |b| {
        b.iter(|| black_box(inclusion_proof(&memory, rng.below(n), n).unwrap()))
    });
    drop(memory);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store = SqliteStore::open(&path).unwrap();
    g.bench_function("generate/with_nodes", |b| {
        b.iter(|| {
            let i = rng.below(n);
            rt.block_on(store.with_nodes(move |r| inclusion_proof(r, i, n)))
                .unwrap()
                .unwrap()
        })
    });
    rt.block_on(store.close());

    // Verification: leaf hash from the stored leaf, proof, root.
    let cases: Vec<(u64, Hash, Vec<Hash>)> = (0..1024)
        .map(|_| {
            let i = rng.below(n);
            let leaf = leaf_hash(&i.to_be_bytes());
            (i, leaf, inclusion_proof(&reader, i, n).unwrap())
        })
        .collect();
    let mut k = 0;
    g.bench_function("verify", |b| {
        b.iter(|| {
            let (i, leaf, proof) = &cases[k % cases.len()];
            k += 1;
            verify_inclusion(leaf, *i, n, proof, &cp.root).unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, proofs);
criterion_main!(benches);
