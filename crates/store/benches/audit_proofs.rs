//! Inclusion proofs at 10 million entries: generation from the stored tree
//! and verification, with criterion.
//!
//! `cargo bench -p countersign-store --bench audit_proofs [-- FILTER]`
//! (`COUNTERSIGN_BENCH_PROOF_SIZE` overrides the 10,000,000 leaves; the
//! tree is built once, straight into SQLite, and cached in
//! `$COUNTERSIGN_BENCH_DIR`, default `/tmp/countersign-bench`).
//!
//! Variants of generation:
//! - `sqlite`: O(log n) point lookups in `audit_nodes`, one statement per
//!   node (what the store did before its node cache), on the calling thread;
//! - `store_reader`: the store's `CachedReader` on the calling thread:
//!   levels >= 4 from memory, the lower nodes fetched in one statement;
//! - `with_nodes`: the store's public API as the server calls it (the same
//!   reader, plus the hop to the blocking pool);
//! - `all_in_memory`: every hash in memory (tlog's `MemoryTree`): a bound.

#![expect(
    clippy::unwrap_used,
    reason = "a bench that cannot run should stop loudly"
)]

mod support;

use countersign_store::SqliteStore;
use countersign_store::node_cache::{CachedReader, NodeCache};
use countersign_tlog::{
    Checkpoint, Hash, HashReader, TlogError, inclusion_proof, leaf_hash, root_at, verify_inclusion,
};
use criterion::{Criterion, criterion_group, criterion_main};
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

fn open(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

fn proofs(c: &mut Criterion) {
    let n: u64 = std::env::var("COUNTERSIGN_BENCH_PROOF_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let signer = support::common::signer();
    let path = support::nodes_only(n, &signer);
    let conn = open(&path);
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
    let cache = NodeCache::default();
    let gen_one = |i: u64| move |r: &dyn HashReader| inclusion_proof(r, i, n);
    for i in [0, 1, n / 3, n - 1] {
        let f = gen_one(i);
        let r = CachedReader::prepare(&conn, &cache, &f);
        assert_eq!(f(&r).unwrap(), inclusion_proof(&reader, i, n).unwrap());
    }
    eprintln!(
        "store_reader: {} KiB of upper levels in memory",
        cache.bytes() / 1024
    );
    for (name, batch_from) in [
        ("store_reader_batched", 1),
        ("store_reader_points", usize::MAX),
    ] {
        g.bench_function(format!("generate/{name}"), |b| {
            b.iter(|| {
                let f = gen_one(rng.below(n));
                let r = CachedReader::prepare_batching_from(&conn, &cache, &f, batch_from);
                black_box(f(&r).unwrap())
            })
        });
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
