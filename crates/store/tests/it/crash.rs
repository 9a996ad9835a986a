//! Durability under SIGKILL: a child process appends under load and prints
//! each sequence number as soon as `commit` acknowledged it; the parent
//! kills it at random points, then checks that every acknowledged entry is
//! there and that the whole log verifies. Repeated on the same database, so
//! each restart also recovers from the previous crash.
//!
//! The child is this test binary itself, re-run with `COUNTERSIGN_CRASH_DB`
//! set so that only `crash_child` does anything.

use crate::common::{ORIGIN, decision_event, signer};
use countersign_core::Write;
use countersign_core::store::Store as _;
use countersign_store::SqliteStore;
use countersign_store::verify::{VerifyOptions, verify_log};
use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "COUNTERSIGN_CRASH_DB";
const KILLS: usize = 24;
const APPENDERS: u64 = 64;

/// The child: appends with many concurrent callers until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child() {
    let Some(db) = std::env::var_os(CHILD_ENV) else {
        return; // a no-op in a normal test run
    };
    let store = Arc::new(SqliteStore::open(std::path::Path::new(&db)).unwrap());
    let signer = signer();
    {
        let (store, signer) = (store.clone(), signer.clone());
        tokio::spawn(async move {
            loop {
                let _ = store.checkpoint(signer.clone(), ORIGIN).await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
    }
    let mut tasks = Vec::new();
    for a in 0..APPENDERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let seqs = store
                    .commit(Write::event(decision_event(a * 1_000_000 + i)))
                    .await
                    .unwrap();
                let mut out = std::io::stdout().lock();
                for s in seqs {
                    writeln!(out, "ack {s}").unwrap();
                }
                out.flush().unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// xorshift64*: random kill points without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_appends_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("countersign.db");
    let opts = VerifyOptions {
        verifiers: vec![signer().verifier()],
        origin: Some(ORIGIN.into()),
        since: None,
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    let mut rng = Rng(seed);
    let mut acked_total = BTreeSet::new();
    let started = Instant::now();
    for round in 0..KILLS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "crash::crash_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Read acknowledgments as they come; the pipe ends when the child dies.
        let (first_tx, first_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut acked = Vec::new();
            let mut first = Some(first_tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(n) = line
                    .strip_prefix("ack ")
                    .and_then(|n| n.parse::<u64>().ok())
                {
                    acked.push(n);
                    if let Some(tx) = first.take() {
                        let _ = tx.send(());
                    }
                }
            }
            acked
        });
        // Kill at a random point once appends are flowing.
        first_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the child acknowledges appends");
        std::thread::sleep(Duration::from_millis(5 + rng.below(60)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acked = reader.join().unwrap();
        assert!(!acked.is_empty());

        // Reopen (recovers the writer's state) and check.
        let store = SqliteStore::open(&db).unwrap();
        let size = store.audit_size().await.unwrap();
        store.close().await;
        drop(store);
        let max = *acked.iter().max().unwrap();
        assert!(
            max < size,
            "round {round}: seq {max} was acknowledged but the log has {size} entries"
        );
        let (db2, o) = (db.clone(), opts.clone());
        let report = tokio::task::spawn_blocking(move || verify_log(&db2, &o))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("round {round}: log does not verify: {e}"));
        assert_eq!(report.size, size);
        // Contiguity is part of verification: every seq below `size`,
        // hence every acknowledged one, is present.
        acked_total.extend(acked);
    }
    assert!(
        acked_total.len() > KILLS * 10,
        "too little load: {}",
        acked_total.len()
    );
    eprintln!(
        "{KILLS} kills, {} acknowledged appends, {:.1?}",
        acked_total.len(),
        started.elapsed()
    );
}
