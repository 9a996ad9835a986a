//! An allowed action, as a value the front must use up: the only ways to
//! end it are to report its outcome, or to hand the decision to a client
//! that reports it itself. The type makes "acted, never reported" hard to
//! write; dropping it anyway still records an outcome (unknown, as failed).

use crate::governor::{OutcomeReport, OutcomeReporter};
use crate::principal::Principal;
use crate::verdict::{Decision, ObligationView, Outcome};
use std::sync::Arc;
use std::time::Instant;

#[must_use = "an allowed action's outcome must be reported: `report`, or `defer` when the client reports it"]
#[derive(Debug)]
pub struct Allowed {
    decision: Decision,
    principal: Arc<Principal>,
    request_id: Option<String>,
    reporter: OutcomeReporter,
    started: Instant,
    settled: bool,
}

impl Allowed {
    pub(super) fn new(
        decision: Decision,
        principal: Arc<Principal>,
        request_id: Option<String>,
        reporter: OutcomeReporter,
    ) -> Self {
        Allowed {
            decision,
            principal,
            request_id,
            reporter,
            started: Instant::now(),
            settled: false,
        }
    }

    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    /// The obligations the front must carry out (only kinds it declared).
    pub fn obligations(&self) -> &[ObligationView] {
        &self.decision.obligations
    }

    pub fn principal(&self) -> &Arc<Principal> {
        &self.principal
    }

    /// When the action was allowed (for `duration_ms`).
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Milliseconds since the action was allowed.
    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Records what happened (batched with other reports; late by at most
    /// a few milliseconds, never lost while the process runs).
    pub fn report(mut self, outcome: Outcome) {
        self.send(outcome);
    }

    /// The client acts and reports the outcome itself
    /// (`POST /v1/decisions/{id}/outcome`): the decision, to answer with.
    pub fn defer(mut self) -> Decision {
        self.settled = true;
        self.decision.clone()
    }

    fn send(&mut self, outcome: Outcome) {
        self.settled = true;
        self.reporter.send(OutcomeReport {
            principal: Arc::clone(&self.principal),
            decision_id: self.decision.id.clone(),
            request_id: self.request_id.clone(),
            outcome,
        });
    }
}

impl Drop for Allowed {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        tracing::warn!(
            request_id = self.request_id.as_deref().unwrap_or(""),
            decision = %self.decision.id,
            "an allowed action ended without an outcome report; recording it as unknown"
        );
        let duration_ms = Some(self.elapsed_ms());
        self.send(Outcome {
            status: "failed".into(),
            error: Some("outcome unknown: the front ended without reporting one".into()),
            duration_ms,
            ..Outcome::default()
        });
    }
}
