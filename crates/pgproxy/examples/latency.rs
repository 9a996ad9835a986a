//! Where a statement's time goes: classification and one governor decision
//! (Cedar + durable audit append), measured alone.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "example")]

use countersign_core::governor::{DecisionInput, GovernorConfig, NewPrincipal};
use countersign_core::policy::PolicySet;
use countersign_core::{Governor, PrincipalKind, ResourceRef};
use countersign_pgproxy::classify::{FunctionCatalog, ParseOptions, classify, facts};
use std::sync::Arc;
use std::time::Instant;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sql = "UPDATE pgbench_accounts SET abalance = abalance + -4034 WHERE aid = 781226;";
    let n = 5000;
    let t = Instant::now();
    for _ in 0..n {
        facts(sql, ParseOptions::default()).unwrap();
    }
    println!(
        "facts:    {:>8.1} us",
        t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    );
    let t = Instant::now();
    for _ in 0..n {
        pg_query::parse(sql, 0).unwrap();
    }
    println!(
        "parse:    {:>8.1} us",
        t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    );
    let t = Instant::now();
    for _ in 0..n {
        pg_query::normalize(sql).unwrap();
    }
    println!(
        "normalize:{:>8.1} us",
        t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    );
    let t = Instant::now();
    for _ in 0..n {
        pg_query::fingerprint(sql, 0, 0).unwrap();
    }
    println!(
        "fingerprint:{:>6.1} us",
        t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    );
    let cat = FunctionCatalog::default();
    let c = classify(sql, ParseOptions::default(), &cat).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(countersign_store::SqliteStore::open(&dir.path().join("x.db")).unwrap());
    let gov = Governor::open(
        store,
        PolicySet::starter().unwrap(),
        GovernorConfig::default(),
    )
    .await
    .unwrap();
    let p = gov
        .add_principal(
            None,
            NewPrincipal {
                name: "b".into(),
                kind: PrincipalKind::User,
                groups: vec!["engineer".into()],
                owner: None,
                email: None,
            },
            None,
        )
        .await
        .unwrap();
    let n = 500;
    let t = Instant::now();
    for i in 0..n {
        let mut ctx = serde_json::Map::new();
        ctx.insert(
            "sql".into(),
            serde_json::json!({"statement": format!("{sql} -- {i}"), "tables": c.tables, "flags": c.flags}),
        );
        gov.decide(
            &p,
            DecisionInput {
                action: "sql.write".into(),
                resource: ResourceRef {
                    kind: "Table".into(),
                    id: "public.pgbench_accounts".into(),
                },
                environment: "dev".into(),
                context: ctx,
                reason: None,
                approval_id: None,
            },
            None,
        )
        .await
        .unwrap();
    }
    println!(
        "decide:   {:>8.1} us (one at a time)",
        t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    );

    // Sixteen sessions deciding at once, as 16 pgbench clients would.
    let gov = Arc::new(gov);
    let p = Arc::new(p);
    let per = 300;
    let t = Instant::now();
    let tasks: Vec<_> = (0..16)
        .map(|k| {
            let (gov, p, tables) = (Arc::clone(&gov), Arc::clone(&p), c.tables.clone());
            tokio::spawn(async move {
                for i in 0..per {
                    let mut ctx = serde_json::Map::new();
                    ctx.insert(
                        "sql".into(),
                        serde_json::json!({"statement": format!("{sql} -- {k} {i}"), "tables": tables}),
                    );
                    let input = DecisionInput {
                        action: "sql.read".into(),
                        resource: ResourceRef {
                            kind: "Table".into(),
                            id: "public.pgbench_accounts".into(),
                        },
                        environment: "dev".into(),
                        context: ctx,
                        reason: None,
                        approval_id: None,
                    };
                    gov.decide(&p, input, None).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let total = 16.0 * f64::from(per);
    println!(
        "decide x16: {:>6.0} decisions/s",
        total / t.elapsed().as_secs_f64()
    );
}
