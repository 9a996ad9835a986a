//! Durable appends per second with group commit, and the time from
//! `commit` to durable acknowledgment, for several numbers of concurrent
//! appenders; plus a raw `fdatasync` on the same disk for comparison.
//!
//! `cargo bench -p countersign-store --bench audit_append [-- WRITERS SECS]`
//! e.g. `-- 1,64,512 5` (the defaults). The database lives in
//! `$COUNTERSIGN_BENCH_DIR` (default `/tmp/countersign-bench`): put it on
//! the disk you want to measure.

#![expect(
    clippy::unwrap_used,
    reason = "a bench that cannot run should stop loudly"
)]

mod support;

use countersign_core::Write;
use countersign_core::store::Store as _;
use countersign_store::SqliteStore;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)])
}

/// Raw `fdatasync` after a 4 KiB write, as SQLite's WAL commit does.
fn fdatasync_latency() -> (f64, f64) {
    let path = support::cache_dir().join("fdatasync.bin");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = [0x5au8; 4096];
    let mut lat = Vec::new();
    for _ in 0..1000 {
        let t = Instant::now();
        f.write_all(&block).unwrap();
        f.sync_data().unwrap();
        lat.push(t.elapsed().as_micros() as u32);
    }
    let _ = std::fs::remove_file(&path);
    lat.sort_unstable();
    (percentile(&lat, 0.5), percentile(&lat, 0.99))
}

struct Run {
    appends: u64,
    secs: f64,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
}

async fn run(writers: usize, secs: u64) -> Run {
    let path = support::cache_dir().join(format!("append-{writers}.db"));
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    // Warm-up: let the WAL and page cache settle.
    for i in 0..200 {
        store
            .commit(Write::event(support::common::decision_event(i)))
            .await
            .unwrap();
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (store, stop) = (store.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(1 << 16);
            let mut i = (w as u64 + 1) << 32;
            while !stop.load(Ordering::Relaxed) {
                let ev = support::common::decision_event(i);
                i += 1;
                let t = Instant::now();
                store.commit(Write::event(ev)).await.unwrap();
                lat.push(t.elapsed().as_micros() as u32);
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    store.close().await;
    lat.sort_unstable();
    Run {
        appends: lat.len() as u64,
        secs: elapsed,
        p50_us: percentile(&lat, 0.5),
        p99_us: percentile(&lat, 0.99),
        max_us: lat.last().copied().map_or(0.0, f64::from),
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let writers: Vec<usize> = args
        .first()
        .map(|w| w.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 64, 512]);
    let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let entry =
        countersign_tlog::canonicalize(&support::common::decision_event(1).to_entry_value(1))
            .unwrap()
            .len();
    let (f50, f99) = fdatasync_latency();
    println!("event: decision, {entry} bytes of canonical JSON (+ a payload row)");
    println!("raw fdatasync (4 KiB write + fdatasync): p50 {f50:.0} µs, p99 {f99:.0} µs");
    println!(
        "{:>8} {:>12} {:>10} {:>10} {:>10}",
        "writers", "appends/s", "p50 ms", "p99 ms", "max ms"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for w in writers {
        let r = rt.block_on(run(w, secs));
        println!(
            "{:>8} {:>12.0} {:>10.2} {:>10.2} {:>10.2}",
            w,
            r.appends as f64 / r.secs,
            r.p50_us / 1000.0,
            r.p99_us / 1000.0,
            r.max_us / 1000.0
        );
    }
}
