//! Bench support: building large logs quickly, straight into SQLite, in the
//! exact layout the store writes (same canonical entries, leaf and node
//! hashes, checkpoints), so that benches do not wait for millions of
//! durable commits.
#![allow(dead_code, reason = "each bench uses a different subset")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "bench support")]

#[path = "../../tests/it/common/mod.rs"]
pub mod common;

use countersign_store::SqliteStore;
use countersign_tlog::{Checkpoint, Frontier, Hash, Signer, canonicalize, leaf_hash};
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where built logs are cached between runs (they take a while to build).
pub fn cache_dir() -> PathBuf {
    let d = std::env::var_os("COUNTERSIGN_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("countersign-bench"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Creates the schema through the store itself, then opens a fast,
/// non-durable connection for bulk loading.
fn bulk_conn(path: &Path) -> Connection {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = SqliteStore::open(path).unwrap();
        s.close().await;
    });
    let c = Connection::open(path).unwrap();
    c.execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;")
        .unwrap();
    c
}

fn done(c: &Connection) -> bool {
    c.query_row(
        "SELECT count(*) FROM meta WHERE key = 'bench_complete'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
    .unwrap_or(false)
}

fn mark_done(c: &Connection) {
    c.execute(
        "INSERT INTO meta (key, value) VALUES ('bench_complete', '1')",
        [],
    )
    .unwrap();
}

/// Writes the nodes `f.append(leaf)` creates.
fn push(f: &mut Frontier, leaf: Hash, ins: &mut rusqlite::Statement<'_>) {
    for (level, idx, hash) in f.append(leaf).unwrap() {
        ins.execute(params![level, idx as i64, &hash[..]]).unwrap();
    }
}

fn sign(c: &Connection, f: &Frontier, signer: &Signer) {
    let note = Checkpoint {
        origin: common::ORIGIN.into(),
        size: f.size(),
        root: f.root(),
        extensions: vec![],
    }
    .sign(signer)
    .unwrap();
    c.execute(
        "INSERT INTO audit_checkpoints (size, created_at, note) VALUES (?1, 0, ?2)",
        params![f.size() as i64, note],
    )
    .unwrap();
}

/// A log of `n` realistic decision entries (and their payloads), with a
/// checkpoint every `every` entries and at the end. Cached by `n`.
pub fn full_log(n: u64, every: u64, signer: &Signer) -> PathBuf {
    let path = cache_dir().join(format!("entries-{n}.db"));
    if path.exists() && done(&Connection::open(&path).unwrap()) {
        return path;
    }
    let _ = std::fs::remove_file(&path);
    let t = Instant::now();
    let c = bulk_conn(&path);
    c.execute_batch("BEGIN").unwrap();
    {
        let mut ins_e = c
            .prepare(
                "INSERT INTO audit_entries (seq, time, type, principal, action, environment, verdict, entry)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .unwrap();
        let mut ins_n = c
            .prepare("INSERT INTO audit_nodes (level, idx, hash) VALUES (?1, ?2, ?3)")
            .unwrap();
        let mut ins_p = c
            .prepare("INSERT OR IGNORE INTO audit_payloads (hash, body) VALUES (?1, ?2)")
            .unwrap();
        let mut f = Frontier::new();
        for seq in 0..n {
            let ev = common::decision_event(seq);
            let entry = canonicalize(&ev.to_entry_value(seq)).unwrap();
            ins_e
                .execute(params![
                    seq as i64,
                    ev.time.millis(),
                    ev.kind.as_str(),
                    ev.principal.as_ref().map(|p| p.name.as_str()),
                    ev.action,
                    ev.environment,
                    ev.verdict,
                    entry
                ])
                .unwrap();
            if let (Some(h), Some(b)) = (&ev.payload_hash, &ev.payload) {
                ins_p.execute(params![h, b]).unwrap();
            }
            push(&mut f, leaf_hash(&entry), &mut ins_n);
            if (seq + 1).is_multiple_of(every) || seq + 1 == n {
                sign(&c, &f, signer);
            }
        }
    }
    mark_done(&c);
    c.execute_batch("COMMIT").unwrap();
    drop(c);
    eprintln!("built {n}-entry log in {:.1?}", t.elapsed());
    path
}

/// Only the tree (`audit_nodes`) of `n` synthetic leaves, as the store
/// would hold it for `n` entries; for proof benches. Cached by `n`.
pub fn nodes_only(n: u64, signer: &Signer) -> PathBuf {
    let path = cache_dir().join(format!("nodes-{n}.db"));
    if path.exists() && done(&Connection::open(&path).unwrap()) {
        return path;
    }
    let _ = std::fs::remove_file(&path);
    let t = Instant::now();
    let c = bulk_conn(&path);
    c.execute_batch("BEGIN").unwrap();
    {
        let mut ins = c
            .prepare("INSERT INTO audit_nodes (level, idx, hash) VALUES (?1, ?2, ?3)")
            .unwrap();
        let mut f = Frontier::new();
        for i in 0..n {
            push(&mut f, leaf_hash(&i.to_be_bytes()), &mut ins);
        }
        sign(&c, &f, signer);
    }
    mark_done(&c);
    c.execute_batch("COMMIT").unwrap();
    drop(c);
    eprintln!("built {n}-leaf tree in {:.1?}", t.elapsed());
    path
}
