//! Full `audit verify` throughput against the raw SHA-256 throughput of
//! this CPU, measured in the same run.
//!
//! `cargo bench -p countersign-store --bench audit_verify [-- ENTRIES]`
//! (default 1,000,000 entries; the log is built once and cached in
//! `$COUNTERSIGN_BENCH_DIR`, default `/tmp/countersign-bench`).

#![expect(
    clippy::expect_used,
    reason = "a bench that cannot run should stop loudly"
)]

mod support;

use countersign_store::verify::{VerifyOptions, verify_log};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// Raw SHA-256 over a large buffer, one core: bytes per second.
fn sha256_throughput() -> f64 {
    let buf = vec![0x5au8; 64 << 20];
    let mut best = 0f64;
    for _ in 0..5 {
        let t = Instant::now();
        let d = Sha256::digest(&buf);
        std::hint::black_box(d);
        best = best.max(buf.len() as f64 / t.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    let n: u64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let signer = support::common::signer();
    let path = support::full_log(n, 100_000, &signer);
    let opts = VerifyOptions {
        verifiers: vec![signer.verifier()],
        origin: Some(support::common::ORIGIN.into()),
        since: None,
    };
    let sha = sha256_throughput();
    // Warm the page cache once, then take the best of three runs.
    let _ = verify_log(&path, &opts);
    let mut best = Duration::MAX;
    let mut report = None;
    for _ in 0..3 {
        let t = Instant::now();
        let r = verify_log(&path, &opts).expect("the bench log verifies");
        best = best.min(t.elapsed());
        report = Some(r);
    }
    let Some(r) = report else { return };
    let secs = best.as_secs_f64();
    let mbps = r.entry_bytes as f64 / secs / 1e6;
    println!("entries           {}", r.size);
    println!(
        "entry bytes       {} (avg {} B)",
        r.entry_bytes,
        r.entry_bytes / r.size.max(1)
    );
    println!("nodes compared    {}", r.nodes);
    println!("checkpoints       {}", r.checkpoints);
    println!("verify time       {:.3} s (best of 3)", secs);
    println!(
        "verify throughput {:.0} entries/s, {:.1} MB/s of entries",
        r.size as f64 / secs,
        mbps
    );
    println!(
        "raw SHA-256       {:.1} MB/s (one core, 64 MiB buffer)",
        sha / 1e6
    );
    println!("ratio             {:.2}", mbps * 1e6 / sha);
}
