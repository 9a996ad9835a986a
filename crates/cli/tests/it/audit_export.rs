//! `countersign audit export --format jsonl` and `audit tail [-f]` against
//! a served instance: export lines are exactly the stored entries (the
//! bytes whose leaf hashes are in the tree), across pages and with the
//! API's filters; tail shows the newest entries and follows new ones.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failed step should fail the test loudly"
)]

use crate::common::{BIN, Server};
use countersign_core::Timestamp;
use rusqlite::{Connection, OpenFlags};
use serde_json::json;
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

const ENVS: [&str; 3] = ["dev", "staging", "prod"];
const ACTIONS: [&str; 2] = ["sql.read", "sql.write"];

async fn populate(s: &Server, alice: &str, n: usize) {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let api = if i % 3 == 0 {
            s.client(alice)
        } else {
            s.admin()
        };
        set.spawn(async move {
            api.decide(
                ACTIONS[i % 2],
                "Table",
                &format!("t{i}"),
                ENVS[i % 3],
                json!({}),
            )
            .await
        });
        if set.len() >= 8 {
            set.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
}

/// Stored entries matching `where_` (SQL over the indexed columns).
fn stored(s: &Server, where_: &str) -> Vec<String> {
    let c = Connection::open_with_flags(
        s.data_dir().join("countersign.db"),
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    c.prepare(&format!(
        "SELECT entry FROM audit_entries WHERE {where_} ORDER BY seq"
    ))
    .unwrap()
    .query_map([], |r| r.get::<_, Vec<u8>>(0))
    .unwrap()
    .map(|e| String::from_utf8(e.unwrap()).unwrap())
    .collect()
}

fn export(s: &Server, args: &[&str]) -> Vec<String> {
    let mut all = vec!["audit", "export", "--format", "jsonl"];
    all.extend_from_slice(args);
    let o = s.cli(&s.admin_token, &all);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_lines_are_the_stored_entries_with_filters() {
    let s = Server::start();
    let alice = s.principal("alice", "user", &["engineer"], None).await;
    // More than one page (the API returns at most 1000 per request).
    populate(&s, &alice, 1030).await;

    let all = export(&s, &[]);
    let want = stored(&s, "1");
    assert!(want.len() > 1030);
    assert_eq!(all.len(), want.len());
    assert!(all == want, "export lines differ from the stored entries");

    assert_eq!(
        export(&s, &["--principal", "alice"]),
        stored(&s, "principal = 'alice'")
    );
    assert_eq!(
        export(&s, &["--env", "prod", "--action", "sql.write"]),
        stored(&s, "environment = 'prod' AND action = 'sql.write'")
    );
    let deny = export(&s, &["--verdict", "deny"]);
    assert_eq!(deny, stored(&s, "verdict = 'deny'"));

    // A time window, in RFC 3339 as the API takes it.
    let c = Connection::open_with_flags(
        s.data_dir().join("countersign.db"),
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let (lo, hi): (i64, i64) = c
        .query_row(
            "SELECT (SELECT time FROM audit_entries WHERE seq = 200),
                    (SELECT time FROM audit_entries WHERE seq = 700)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let since = Timestamp(lo).rfc3339();
    let until = Timestamp(hi).rfc3339();
    assert_eq!(
        export(&s, &["--since", &since, "--until", &until]),
        stored(&s, &format!("time >= {lo} AND time < {hi}"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_shows_the_newest_and_follows() {
    let s = Server::start();
    let alice = s.principal("alice", "user", &["engineer"], None).await;
    populate(&s, &alice, 30).await;
    let size = stored(&s, "1").len();

    let o = s.cli(&s.admin_token, &["audit", "tail", "-n", "5"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    let seqs: Vec<usize> = out
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs, ((size - 5)..size).collect::<Vec<_>>(), "{out}");
    assert!(
        out.contains("sql.read") || out.contains("sql.write"),
        "{out}"
    );

    // --json prints the entries themselves.
    let o = s.cli(&s.admin_token, &["audit", "tail", "-n", "3", "--json"]);
    let lines: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let want = stored(&s, "1");
    assert_eq!(lines, want[want.len() - 3..]);

    // -f: the next decision shows up.
    let mut child = Command::new(BIN)
        .args(["audit", "tail", "-n", "1", "-f"])
        .env("COUNTERSIGN_SERVER", &s.url)
        .env("COUNTERSIGN_TOKEN", &s.admin_token)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap();
    assert!(
        first.trim_start().starts_with(&(size - 1).to_string()),
        "{first}"
    );
    let d = s
        .admin()
        .decide("sql.read", "Table", "followed", "dev", json!({}))
        .await;
    let seq = d["audit_seq"].as_u64().unwrap();
    let next = rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(next.trim_start().starts_with(&seq.to_string()), "{next}");
    assert!(next.contains("followed"), "{next}");
}
