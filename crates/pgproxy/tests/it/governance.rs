//! Governance through the wire: approvals held and released, masking in
//! text and binary, bad credentials audited, the database password never
//! shown, side-effecting statements classified.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use crate::common::{DB_PASSWORD, Env, Options};
use countersign_core::Store;
use std::time::Duration;
use tokio_postgres::error::SqlState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prod_write_is_held_until_a_reviewer_approves_then_runs_once() {
    let env = Env::start().await;
    let c = env.client("bot", "shop_prod").await;
    let sql = "UPDATE orders SET total = 99 WHERE id = 1";
    let held = tokio::spawn(async move {
        let r = c.execute(sql, &[]).await;
        (c, r)
    });
    let approval = env.pending_approval("bot").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !held.is_finished(),
        "the statement must wait for the approval"
    );
    env.vote("rita", &approval).await;
    let (c, r) = tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .expect("not released")
        .unwrap();
    assert_eq!(r.unwrap(), 1);
    let total: String = env
        .direct()
        .await
        .query_one("SELECT total::text FROM orders WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(total, "99");
    // Single use: the same statement again needs a new approval.
    let again = tokio::spawn(async move { c.execute(sql, &[]).await });
    let second = env.pending_approval("bot").await;
    assert_ne!(second, approval);
    again.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_that_times_out_names_the_approval_and_a_retry_runs_once_approved() {
    let env = Env::start_with(Options {
        approval_wait_secs: 1,
    })
    .await;
    let (ok, _, err) = env
        .psql("bot", "shop_prod", "DELETE FROM orders WHERE id = 3")
        .await;
    assert!(!ok);
    assert!(err.contains("57014"), "{err}");
    let approval = env.pending_approval("bot").await;
    assert!(err.contains(&approval), "{err}");
    assert!(err.contains("countersign approvals approve"), "{err}");
    env.vote("rita", &approval).await;
    let (ok, out, err) = env
        .psql("bot", "shop_prod", "DELETE FROM orders WHERE id = 3")
        .await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "DELETE 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_see_customer_emails_masked_in_text_and_binary() {
    let env = Env::start().await;
    // Text format (simple protocol).
    let (ok, out, err) = env
        .psql(
            "bot",
            "shop_dev",
            "SELECT id, name, email, phone FROM customers ORDER BY id",
        )
        .await;
    assert!(ok, "{err}");
    assert_eq!(out, "1|Ada|****|****\n2|Grace|****|****\n");
    // Computed columns that may carry the data are masked too.
    let (ok, out, _) = env
        .psql(
            "bot",
            "shop_dev",
            "SELECT upper(email), count(*) OVER () FROM customers ORDER BY id",
        )
        .await;
    assert!(ok);
    // (Conservative: the window count is masked too, since the statement
    // mentions a masked column and the count has no table of origin.)
    assert_eq!(out, "****|\n****|\n");
    // Binary format (extended protocol; tokio-postgres asks for binary).
    let c = env.client("bot", "shop_dev").await;
    let rows = c
        .query(
            "SELECT c.id, c.email, o.id FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.id = $1 ORDER BY o.id",
            &[&1i32],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r.get::<_, i32>(0), 1);
        assert_eq!(r.get::<_, &str>(1), "****");
    }
    // Columns of other tables are untouched.
    assert_eq!(rows[0].get::<_, i32>(2), 1);
    assert_eq!(rows[1].get::<_, i32>(2), 3);
    // People see the data.
    let (ok, out, _) = env
        .psql(
            "alice",
            "shop_dev",
            "SELECT email FROM customers WHERE id = 1",
        )
        .await;
    assert!(ok);
    assert_eq!(out, "ada@example.com\n");
    // COPY output cannot be masked: agents may not export the table.
    let (ok, _, err) = env
        .psql("bot", "shop_dev", "COPY customers TO STDOUT")
        .await;
    assert!(!ok);
    assert!(err.contains("42501"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_are_refused_and_audited() {
    let env = Env::start().await;
    let port = env.addr.port();
    for (user, password) in [
        (
            "alice",
            "cs_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        ),
        ("alice", "not-a-token".to_owned()),
        // A valid token presented under another principal's name.
        ("rita", env.token("alice").to_owned()),
    ] {
        let out = tokio::process::Command::new("psql")
            .arg(format!(
                "host=127.0.0.1 port={port} dbname=shop_dev user={user} sslmode=require"
            ))
            .args(["-X", "-c", "SELECT 1"])
            .env("PGPASSWORD", &password)
            .output()
            .await
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("password authentication failed"), "{err}");
    }
    // Without TLS and without a prior TLS login, SCRAM fails the same way.
    let err = tokio_postgres::connect(
        &env.conninfo("vic", "shop_dev", "disable"),
        tokio_postgres::NoTls,
    )
    .await
    .err()
    .unwrap();
    assert_eq!(err.code(), Some(&SqlState::INVALID_PASSWORD), "{err}");
    let failures = env.audit("auth.failed").await;
    assert_eq!(failures.len(), 4, "{failures:?}");
    assert!(
        failures
            .iter()
            .all(|f| f["detail"]["channel"] == "postgres")
    );
    // The token secret is never in the audit log.
    let secret = env.token("alice").rsplit('_').next().unwrap().to_owned();
    assert!(!failures.iter().any(|f| f.to_string().contains(&secret)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_password_never_reaches_the_client() {
    let env = Env::start().await;
    let (ok, out, err) = env
        .psql_args(
            "alice",
            "shop_dev",
            &[
                "-c",
                "SHOW ALL",
                "-c",
                "SELECT current_user, current_setting('application_name')",
            ],
        )
        .await;
    assert!(ok, "{err}");
    assert!(!out.contains(DB_PASSWORD) && !err.contains(DB_PASSWORD));
    let (_, out, err) = env.psql("alice", "shop_dev", "SELECT * FROM pg_nope").await;
    assert!(!out.contains(DB_PASSWORD) && !err.contains(DB_PASSWORD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn side_effects_hidden_in_reads_are_governed_as_writes() {
    let env = Env::start().await;
    // vic may read but not write: every one of these must be refused.
    for sql in [
        "SELECT purge_orders()",
        "WITH d AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM d",
        "SELECT nextval('orders_id_seq')",
        "SELECT 1; DELETE FROM orders",
        "PREPARE p AS DELETE FROM orders; EXECUTE p",
        "SELECT pg_terminate_backend(pg_backend_pid())",
        "SET ROLE postgres",
    ] {
        let (ok, _, err) = env.psql("vic", "shop_dev", sql).await;
        assert!(!ok, "{sql} ran");
        assert!(err.contains("42501"), "{sql}: {err}");
    }
    let n: i64 = env
        .direct()
        .await
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3);
    // standard_conforming_strings off: the proxy lexes as the server does.
    let (ok, _, err) = env
        .psql_args(
            "vic",
            "shop_dev",
            &[
                "-c",
                "SET standard_conforming_strings = off",
                "-c",
                "SELECT 'x\\'';DELETE FROM orders;--'",
            ],
        )
        .await;
    assert!(!ok);
    assert!(err.contains("42501"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statement_names_cannot_be_swapped_under_the_proxy() {
    let env = Env::start().await;
    let c = env.client("vic", "shop_dev").await;
    // A named statement that fails upstream (unknown table) must not make
    // the proxy believe the name holds a harmless read.
    c.batch_execute("PREPARE p AS SELECT * FROM no_such_table")
        .await
        .unwrap_err();
    let err = c.batch_execute("EXECUTE p").await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_request_ends_a_hold_and_the_approval_stays_pending() {
    let env = Env::start().await;
    let c = env.client("bot", "shop_prod").await;
    let token = c.cancel_token();
    let held = tokio::spawn(async move { c.execute("DELETE FROM orders WHERE id = 2", &[]).await });
    let approval = env.pending_approval("bot").await;
    token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let err = tokio::time::timeout(Duration::from_secs(5), held)
        .await
        .expect("the hold did not end")
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::QUERY_CANCELED), "{err}");
    let a = env.store.approval(&approval).await.unwrap().unwrap();
    assert_eq!(a.state, countersign_core::ApprovalState::Pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_fetched_in_pieces_runs_under_one_decision_and_stays_masked() {
    let env = Env::start().await;
    let mut c = env.client("bot", "shop_dev").await;
    let before = env.audit("decision").await.len();
    let tx = c.transaction().await.unwrap();
    let stmt = tx
        .prepare("SELECT id, email FROM customers ORDER BY id")
        .await
        .unwrap();
    let portal = tx.bind(&stmt, &[]).await.unwrap();
    let first = tx.query_portal(&portal, 1).await.unwrap();
    let second = tx.query_portal(&portal, 1).await.unwrap();
    let rest = tx.query_portal(&portal, 10).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(second.len(), 1);
    assert!(rest.is_empty());
    assert_eq!(first[0].get::<_, &str>(1), "****");
    assert_eq!(second[0].get::<_, i32>(0), 2);
    assert_eq!(second[0].get::<_, &str>(1), "****");
    let decisions = env.audit("decision").await;
    let reads: Vec<_> = decisions[before..]
        .iter()
        .filter(|d| d["action"] == "sql.read" && d["resource"]["id"] == "public.customers")
        .collect();
    assert_eq!(reads.len(), 1, "{reads:?}");
}

/// `durability = "relaxed_reads"` changes when a read proceeds, not what
/// is decided or recorded: reads are allowed and audited, a prod write is
/// still held for approval, and an unknown mode is a configuration error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relaxed_reads_are_still_decided_and_audited() {
    let env = Env::start().await;
    let (ok, out, err) = env
        .psql_args(
            "alice",
            "shop_fast",
            &[
                "-c",
                "SELECT count(*) FROM customers",
                "-c",
                "SELECT 41 + 1",
            ],
        )
        .await;
    assert!(ok, "{err}");
    assert!(out.contains("42"), "{out}");
    let all = env.audit("decision").await;
    let reads: Vec<_> = all
        .iter()
        .filter(|e| e["action"] == "sql.read" && e["environment"] == "prod")
        .collect();
    assert_eq!(reads.len(), 2, "{all:?}");
    assert!(reads.iter().all(|e| e["verdict"] == "allow"), "{reads:?}");

    // A write through the same target is held exactly as on shop_prod.
    let c = env.client("bot", "shop_fast").await;
    let held = tokio::spawn(async move {
        c.execute("UPDATE orders SET total = 7 WHERE id = 1", &[])
            .await
    });
    let approval = env.pending_approval("bot").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!held.is_finished(), "the write must wait for the approval");
    env.vote("rita", &approval).await;
    let r = tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .expect("not released")
        .unwrap();
    assert_eq!(r.unwrap(), 1);

    let bad: countersign_pgproxy::TargetSection = toml::from_str(
        r#"host = "127.0.0.1"
           environment = "dev"
           user = "postgres"
           durability = "sometimes""#,
    )
    .unwrap();
    let mut targets = std::collections::BTreeMap::new();
    targets.insert("x".to_owned(), bad);
    let err = countersign_pgproxy::ProxySection {
        listen: "127.0.0.1:0".into(),
        tls_cert: None,
        tls_key: None,
        approval_wait_secs: None,
        max_message_bytes: None,
        targets,
    }
    .validate(std::path::Path::new("/"))
    .unwrap_err();
    assert!(err.to_string().contains("durability `sometimes`"), "{err}");
}
