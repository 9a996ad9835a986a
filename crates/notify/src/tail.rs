//! Tails the audit log from the outbox's durable cursor and turns each
//! relevant event into outbox rows, one per destination. The cursor moves
//! in the same transaction as the rows are written, so after a restart
//! tailing resumes exactly where it stopped: nothing lost, nothing twice.

use crate::Shared;
use crate::notice::{self, Notice, RouteFacts, now_ms};
use crate::outbox::NewRow;
use countersign_core::AuditEvent;
use countersign_core::approval::{Approval, check_voter};
use countersign_store::AuditFilter;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Entries read per round.
const BATCH: usize = 500;
/// How often the log is polled when nothing woke us. New approvals and
/// every change to one wake the tail at once (the governor broadcasts
/// them); this bounds the latency of the rest (denial notices).
const POLL: Duration = Duration::from_millis(50);

/// How often sent rows past their retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut updates = shared.governor.subscribe();
    let mut last_prune: Option<tokio::time::Instant> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            last_prune = Some(tokio::time::Instant::now());
            let keep = i64::try_from(shared.cfg.keep_sent.as_millis()).unwrap_or(i64::MAX);
            match shared
                .outbox
                .prune_sent(now_ms().saturating_sub(keep))
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "old sent notifications pruned"),
                Err(e) => tracing::error!(error = %e, "cannot prune the outbox"),
            }
        }
        match round(&shared).await {
            Ok(true) => continue, // more may be waiting
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "notifier cannot read the audit log; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = updates.recv() => {}
            r = stop.changed() => if r.is_err() { return },
        }
    }
}

/// One round; true when a full batch was read.
async fn round(shared: &Arc<Shared>) -> Result<bool, String> {
    let cursor = shared.outbox.cursor().await.map_err(|e| e.to_string())?;
    let entries = shared
        .store
        .audit_entries(AuditFilter {
            start: cursor,
            limit: BATCH,
            ..AuditFilter::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let Some(last) = entries.last().map(|e| e.seq) else {
        return Ok(false);
    };
    let mut rows = Vec::new();
    for e in &entries {
        let ev: AuditEvent = match serde_json::from_slice(&e.entry) {
            Ok(ev) => ev,
            Err(err) => {
                // Not ours to judge (verification does); skip, but say so.
                tracing::error!(seq = e.seq, error = %err, "audit entry does not decode; not notified");
                continue;
            }
        };
        for (dest, n) in notices(shared, e.seq, &ev).await? {
            rows.push(NewRow {
                dest,
                subject: n.subject.clone(),
                event: n.event.clone(),
                seq: n.seq,
                body: serde_json::to_string(&n).map_err(|e| e.to_string())?,
            });
        }
    }
    let dests: BTreeSet<String> = rows.iter().map(|r| r.dest.clone()).collect();
    shared
        .outbox
        .enqueue(rows, last + 1, now_ms())
        .await
        .map_err(|e| e.to_string())?;
    for d in dests {
        shared.wake(&d);
    }
    Ok(entries.len() == BATCH)
}

async fn notices(
    shared: &Shared,
    seq: u64,
    ev: &AuditEvent,
) -> Result<Vec<(String, Notice)>, String> {
    let Some(kind) = notice::notice_kind(ev) else {
        return Ok(Vec::new());
    };
    let (n, facts, approvers) = if kind == "decision.denied" {
        match notice::denial_notice(seq, ev) {
            Some((n, f)) => (n, f, Vec::new()),
            None => return Ok(Vec::new()),
        }
    } else {
        let Some(id) = &ev.approval_id else {
            return Ok(Vec::new());
        };
        let a = shared
            .governor
            .store()
            .approval(id)
            .await
            .map_err(|e| e.to_string())?;
        let Some(a) = a else {
            tracing::error!(approval = %id, "audited approval not in store; not notified");
            return Ok(Vec::new());
        };
        // A pending decision on an approval that already exists (the agent
        // asked again) is not a new request.
        if kind == "approval.requested"
            && ev.kind == countersign_core::EventKind::Decision
            && ev.decision_id.as_deref() != Some(a.decision_id.as_str())
        {
            return Ok(Vec::new());
        }
        let n = notice::approval_notice(kind, seq, ev, &a, &shared.cfg.public_url);
        let f = notice::route_facts(&a);
        let approvers = approvers(shared, &a);
        (n, f, approvers)
    };
    Ok(route(shared, &n, &facts, &approvers)
        .into_iter()
        .map(|d| (d, n.clone()))
        .collect())
}

fn route(
    shared: &Shared,
    n: &Notice,
    facts: &RouteFacts,
    approvers: &[String],
) -> BTreeSet<String> {
    crate::route::destinations(&shared.cfg, &n.event, facts, approvers)
}

/// Enabled people in the approval's groups (direct-message candidates).
fn approvers(shared: &Shared, a: &Approval) -> Vec<String> {
    if a.requirement.groups.is_empty() {
        return Vec::new();
    }
    shared
        .governor
        .snapshot()
        .principals
        .values()
        .filter(|p| check_voter(a, p).is_ok())
        .map(|p| p.name.clone())
        .collect()
}
