//! What the gateway knows of an allowed request as its response starts,
//! turned into an outcome report when the body is done. Reports are sent
//! through the governor's batching [`Reporter`].

use countersign_core::Principal;
use countersign_core::governor::OutcomeReport;
pub use countersign_core::governor::OutcomeReporter as Reporter;
use countersign_core::verdict::Outcome;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

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
    pub fn into_report(self, bytes_out: u64, error: Option<String>) -> OutcomeReport {
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
        OutcomeReport {
            principal: self.principal,
            decision_id: self.decision_id,
            request_id: Some(self.request_id),
            outcome,
        }
    }
}
