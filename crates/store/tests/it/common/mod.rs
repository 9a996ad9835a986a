//! Shared by the store's tests, examples and benches: a realistic audit
//! event, and building a real log through `SqliteStore`.
#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test support")]

use countersign_core::store::Store as _;
use countersign_core::{AuditEvent, EventKind, PrincipalKind, PrincipalRef, ResourceRef, Write};
use countersign_store::SqliteStore;
use countersign_tlog::Signer;
use std::path::Path;
use std::sync::Arc;

pub const ORIGIN: &str = "countersign.test/audit";

/// A decision event as the governor writes it (about 600 bytes of
/// canonical JSON, with a payload kept beside the log).
pub fn decision_event(i: u64) -> AuditEvent {
    let mut ev =
        AuditEvent::new(EventKind::Decision).with_request_id(Some(&format!("req_{i:020}")));
    ev.principal = Some(PrincipalRef {
        kind: PrincipalKind::Agent,
        name: format!("report-agent-{}", i % 50),
    });
    ev.owner = Some("alice@example.com".into());
    ev.action = Some("db.query".into());
    ev.resource = Some(ResourceRef {
        kind: "Database".into(),
        id: "orders".into(),
    });
    ev.environment = Some(["dev", "staging", "prod"][(i % 3) as usize].into());
    ev.verdict = Some(if i.is_multiple_of(7) { "deny" } else { "allow" }.into());
    ev.policies = vec!["agents-read-only".into(), "prod-needs-approval".into()];
    ev.policy_hash = Some("9f2c".repeat(16));
    ev.decision_id = Some(format!("dec_{i:020}"));
    ev.request_hash = Some(format!("{:064x}", u128::from(i) * 0x9e37_79b9_7f4a_7c15));
    ev.reason = Some("nightly revenue report".into());
    ev.with_payload(format!("SELECT id, total FROM orders WHERE day = {}", i % 365).into_bytes())
}

pub fn signer() -> Arc<Signer> {
    Arc::new(Signer::new(ORIGIN, [7u8; 32]).unwrap())
}

/// Appends `n` events one write at a time, signing a checkpoint after
/// every `every` entries (and at the end).
pub async fn append(store: &SqliteStore, from: u64, n: u64, every: u64, signer: &Arc<Signer>) {
    for i in from..from + n {
        store.commit(Write::event(decision_event(i))).await.unwrap();
        if (i + 1).is_multiple_of(every) {
            store.checkpoint(signer.clone(), ORIGIN).await.unwrap();
        }
    }
    store.checkpoint(signer.clone(), ORIGIN).await.unwrap();
}

/// A fresh database at `path` with `n` entries, checkpoints every `every`.
pub async fn build_log(path: &Path, n: u64, every: u64, signer: &Arc<Signer>) {
    let store = SqliteStore::open(path).unwrap();
    append(&store, 0, n, every, signer).await;
    store.close().await;
}
