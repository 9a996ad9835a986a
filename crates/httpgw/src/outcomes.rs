//! Outcome reports, batched. Each report is a durable store write; sent
//! one by one, each would take a commit of its own and queue behind the
//! next decision. Reports wait here briefly and are then sent together,
//! so the store's group commit writes them in one transaction (the same
//! scheme as the PostgreSQL front). A report is only ever *late*, by at
//! most [`LINGER`]; the request it describes has completed either way.

use countersign_core::verdict::Outcome;
use countersign_core::{Governor, Principal};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long a report may wait for others.
pub const LINGER: Duration = Duration::from_millis(20);
const BATCH: usize = 512;

#[derive(Debug)]
pub struct Report {
    pub principal: Arc<Principal>,
    pub decision_id: String,
    pub request_id: String,
    pub outcome: Outcome,
}

/// What is known of an allowed request when its response starts; the
/// rest (bytes out, how it ended) comes when the body is done.
#[derive(Debug)]
pub struct Finish {
    pub principal: Arc<Principal>,
    pub decision_id: String,
    pub request_id: String,
    pub started: Instant,
    pub http_status: Option<u16>,
    pub bytes_in: Arc<AtomicU64>,
}

impl Finish {
    pub fn into_report(self, bytes_out: u64, error: Option<String>) -> Report {
        let outcome = Outcome {
            status: if error.is_none() {
                "executed"
            } else {
                "failed"
            }
            .to_owned(),
            error,
            duration_ms: Some(
                u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            ),
            http_status: self.http_status,
            bytes_in: Some(self.bytes_in.load(Ordering::Relaxed)),
            bytes_out: Some(bytes_out),
            ..Outcome::default()
        };
        Report {
            principal: self.principal,
            decision_id: self.decision_id,
            request_id: self.request_id,
            outcome,
        }
    }
}

/// The sending side, shared by requests.
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
            tracing::warn!(decision = %e.0.decision_id, "http gateway: outcome reporter stopped; report lost");
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
        let handles: Vec<_> = batch
            .drain(..)
            .map(|r| {
                let g = Arc::clone(&governor);
                tokio::spawn(async move {
                    if let Err(e) = g
                        .report_outcome(&r.principal, &r.decision_id, r.outcome, Some(&r.request_id))
                        .await
                    {
                        tracing::warn!(request_id = %r.request_id, decision = %r.decision_id, error = %e, "http gateway: cannot report an outcome");
                    }
                })
            })
            .collect();
        for h in handles {
            let _ = h.await;
        }
    }
}
