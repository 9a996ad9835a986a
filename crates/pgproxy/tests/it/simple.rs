//! psql through the proxy: the simple query protocol, allow and deny,
//! multi-statement queries, transactions, errors relayed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use crate::common::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_reads_and_writes_in_dev_and_is_audited() {
    let env = Env::start().await;
    let (ok, out, err) = env
        .psql(
            "alice",
            "shop_dev",
            "SELECT name FROM customers ORDER BY id",
        )
        .await;
    assert!(ok, "{err}");
    assert_eq!(out, "Ada\nGrace\n");
    let (ok, out, err) = env
        .psql(
            "alice",
            "shop_dev",
            "INSERT INTO orders (customer_id, total) VALUES (2, 1.00); SELECT count(*) FROM orders",
        )
        .await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "INSERT 0 1\n4");
    let decisions = env.audit("decision").await;
    let last = decisions.last().unwrap();
    assert_eq!(last["action"], "sql.write");
    assert_eq!(last["verdict"], "allow");
    assert_eq!(last["principal"]["name"], "alice");
    // The statement text stays in the store; the entry carries its hash.
    let payload = env
        .store
        .audit_payload(last["payload_hash"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let payload: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert!(
        payload["sql"]["statement"]
            .as_str()
            .unwrap()
            .starts_with("INSERT INTO orders"),
        "{payload}"
    );
    assert_eq!(payload["sql"]["tables"][0], "public.orders");
    assert!(
        payload["sql"]["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "multi_statement")
    );
    // The outcome follows, with rows from CommandComplete.
    let mut outcome = None;
    for _ in 0..100 {
        outcome = env
            .audit("decision.outcome")
            .await
            .into_iter()
            .find(|e| e["decision_id"] == last["decision_id"]);
        if outcome.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let outcome = outcome.expect("no outcome reported");
    assert_eq!(outcome["outcome"]["status"], "executed", "{outcome}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_write_fails_with_42501_and_the_policy_and_is_not_run() {
    let env = Env::start().await;
    let (ok, _, err) = env
        .psql("vic", "shop_dev", "DELETE FROM orders WHERE id = 1")
        .await;
    assert!(!ok);
    assert!(err.contains("42501"), "{err}");
    assert!(err.contains("sql.write"), "{err}");
    assert!(err.contains("denied"), "{err}");
    let n: i64 = env
        .direct()
        .await
        .query_one("SELECT count(*) FROM orders WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "the denied DELETE must not have run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_errors_are_relayed_faithfully() {
    let env = Env::start().await;
    let (ok, _, err) = env
        .psql("alice", "shop_dev", "SELECT * FROM no_such_table")
        .await;
    assert!(!ok);
    assert!(err.contains("42P01"), "{err}");
    assert!(err.contains("no_such_table"), "{err}");
    let (ok, _, err) = env.psql("alice", "shop_dev", "SELEC 1").await;
    assert!(!ok);
    assert!(err.contains("42601"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_on_both_sides_and_no_cleartext_without_it() {
    let env = Env::start().await;
    // Client TLS (sslmode=require) and upstream TLS (tls = "require").
    let (ok, out, err) = env
        .psql(
            "alice",
            "shop_tls",
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        )
        .await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "t", "the upstream connection must be encrypted");
    // Without TLS, a token is never accepted in cleartext: only SCRAM is
    // offered, and without a prior TLS login it fails with a hint.
    let out = tokio::process::Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={} dbname=shop_dev user=vic sslmode=disable",
            env.addr.port()
        ))
        .args(["-X", "-c", "SELECT 1"])
        .env("PGPASSWORD", env.token("vic"))
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sslmode=require"), "{err}");
}
