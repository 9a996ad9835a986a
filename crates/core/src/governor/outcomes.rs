//! Outcome reports from the fronts, batched. Each report is a durable store
//! write; sent one by one, each would take a commit of its own and queue
//! behind the next decision. Reports wait here briefly and are then sent
//! together, so the store's group commit writes them in one transaction. A
//! report is only ever *late*, by at most [`LINGER`]; the action it
//! describes has completed either way.

use super::Governor;
use crate::principal::Principal;
use crate::verdict::Outcome;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a report may wait for others.
pub const LINGER: Duration = Duration::from_millis(20);
const BATCH: usize = 512;

/// What happened after one allow.
#[derive(Debug)]
pub struct OutcomeReport {
    pub principal: Arc<Principal>,
    pub decision_id: String,
    /// The request id of the front's request, for the audit entry.
    pub request_id: Option<String>,
    pub outcome: Outcome,
}

/// The sending side, shared by a front's sessions or requests.
#[derive(Debug, Clone)]
pub struct OutcomeReporter {
    tx: mpsc::UnboundedSender<OutcomeReport>,
    front: &'static str,
}

impl OutcomeReporter {
    /// Starts the batching task (needs a Tokio runtime). `front` names the
    /// front in log lines (`postgres`, `mcp`, `http gateway`).
    pub fn start(governor: Arc<Governor>, front: &'static str) -> OutcomeReporter {
        let (tx, rx) = mpsc::unbounded_channel();
        let weak = Arc::downgrade(&governor);
        tokio::spawn(run(weak, Some(governor), rx, front));
        OutcomeReporter { tx, front }
    }

    /// The governor's own reporter ([`Governor::outcomes`]): its task holds
    /// the governor weakly, and ends when the governor (which holds the
    /// sender) is dropped.
    fn start_owned(governor: &Arc<Governor>) -> OutcomeReporter {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(Arc::downgrade(governor), None, rx, "driver"));
        OutcomeReporter {
            tx,
            front: "driver",
        }
    }

    pub fn send(&self, r: OutcomeReport) {
        if let Err(e) = self.tx.send(r) {
            tracing::warn!(
                front = self.front, decision = %e.0.decision_id,
                "outcome reporter stopped; report lost"
            );
        }
    }
}

impl Governor {
    /// The batching outcome reporter the front driver reports through,
    /// started on first use (needs a Tokio runtime).
    pub fn outcomes(self: &Arc<Self>) -> OutcomeReporter {
        self.outcomes
            .get_or_init(|| OutcomeReporter::start_owned(self))
            .clone()
    }
}

async fn run(
    governor: Weak<Governor>,
    // Keeps the governor alive while this reporter's senders exist.
    _keep: Option<Arc<Governor>>,
    mut rx: mpsc::UnboundedReceiver<OutcomeReport>,
    front: &'static str,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(first) = rx.recv().await {
        let Some(governor) = governor.upgrade() else {
            return;
        };
        batch.push(first);
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(r)) => batch.push(r),
                Ok(None) | Err(_) => break,
            }
        }
        let handles: Vec<_> = batch
            .drain(..)
            .map(|r| {
                let g = Arc::clone(&governor);
                tokio::spawn(async move {
                    if let Err(e) = g
                        .report_outcome(
                            &r.principal,
                            &r.decision_id,
                            r.outcome,
                            r.request_id.as_deref(),
                        )
                        .await
                    {
                        tracing::warn!(
                            front, request_id = r.request_id.as_deref().unwrap_or(""),
                            decision = %r.decision_id, error = %e,
                            "cannot report an outcome"
                        );
                    }
                })
            })
            .collect();
        for h in handles {
            let _ = h.await;
        }
    }
}
