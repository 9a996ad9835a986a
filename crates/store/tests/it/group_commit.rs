//! Group commit's fast path applies a batch without savepoints; a failing
//! write makes the writer redo the batch with one savepoint per write. This
//! guards that a failure still sinks only its own write: its neighbours in
//! the same batch are committed with contiguous sequence numbers, the
//! failed write leaves nothing behind, and the log verifies.

use crate::common::{ORIGIN, decision_event, signer};
use countersign_core::store::{Store as _, StoreError};
use countersign_core::{Mutation, Principal, PrincipalKind, Timestamp, Write};
use countersign_store::SqliteStore;
use countersign_store::verify::{VerifyOptions, verify_log};
use std::sync::Arc;

fn principal(name: &str) -> Principal {
    Principal {
        name: name.into(),
        kind: PrincipalKind::User,
        groups: vec![],
        owner: None,
        email: None,
        disabled: false,
        created_at: Timestamp::now(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_sinks_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("countersign.db");
    let store = Arc::new(SqliteStore::open(&db).unwrap());
    store
        .commit(Write::new(
            Mutation::CreatePrincipal(principal("taken")),
            decision_event(0),
        ))
        .await
        .unwrap();

    // Many concurrent writes so that they share batches; every fifth one
    // creates a principal that already exists.
    let mut tasks = Vec::new();
    for i in 1..=400u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let m = if i % 5 == 0 {
                principal("taken")
            } else {
                principal(&format!("p{i}"))
            };
            (
                i,
                store
                    .commit(Write::new(Mutation::CreatePrincipal(m), decision_event(i)))
                    .await,
            )
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        let (i, r) = t.await.unwrap();
        if i % 5 == 0 {
            assert!(
                matches!(r, Err(StoreError::AlreadyExists(_))),
                "write {i}: {r:?}"
            );
        } else {
            seqs.extend(r.unwrap());
        }
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=320).collect::<Vec<u64>>());
    assert_eq!(store.audit_size().await.unwrap(), 321);
    assert_eq!(store.principals().await.unwrap().len(), 321);
    store.checkpoint(signer(), ORIGIN).await.unwrap();
    store.close().await;
    let report = verify_log(
        &db,
        &VerifyOptions {
            verifiers: vec![signer().verifier()],
            origin: Some(ORIGIN.into()),
            since: None,
        },
    )
    .unwrap();
    assert_eq!(report.size, 321);
}
