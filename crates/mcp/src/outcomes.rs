//! Outcome reports, batched. Each report is a durable store write; sent
//! one by one, each would take a commit of its own and delay the next
//! statement's decision behind it. Reports wait here briefly and are then
//! sent together, so the store's group commit writes them in one
//! transaction. A report is only ever *late*, by at most [`LINGER`]; the
//! statement it describes has already completed either way.

use countersign_core::verdict::Outcome;
use countersign_core::{Governor, Principal};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a report may wait for others.
pub const LINGER: Duration = Duration::from_millis(20);
const BATCH: usize = 512;

#[derive(Debug)]
pub struct Report {
    pub principal: Arc<Principal>,
    pub decision_id: String,
    pub outcome: Outcome,
}

/// The sending side, shared by sessions.
#[derive(Debug, Clone)]
pub struct Reporter {
    tx: mpsc::UnboundedSender<Report>,
}

impl Reporter {
    /// Starts the batching task (needs a Tokio runtime).
    pub fn start(governor: Arc<Governor>) -> Reporter {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(governor, rx));
        Reporter { tx }
    }

    pub fn send(&self, r: Report) {
        if let Err(e) = self.tx.send(r) {
            tracing::warn!(decision = %e.0.decision_id, "mcp: outcome reporter stopped; report lost");
        }
    }
}

async fn run(governor: Arc<Governor>, mut rx: mpsc::UnboundedReceiver<Report>) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(r)) => batch.push(r),
                Ok(None) | Err(_) => break,
            }
        }
        let sends = batch.drain(..).map(|r| {
            let g = Arc::clone(&governor);
            tokio::spawn(async move {
                if let Err(e) = g
                    .report_outcome(&r.principal, &r.decision_id, r.outcome, None)
                    .await
                {
                    tracing::warn!(decision = %r.decision_id, error = %e, "mcp: cannot report an outcome");
                }
            })
        });
        let handles: Vec<_> = sends.collect();
        for h in handles {
            let _ = h.await;
        }
    }
}
