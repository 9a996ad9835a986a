//! The driver: runs a front's phases in order (see the module docs).

use super::{Allowed, Front, FrontSpec, Held, Refusal, Translated, Unmatched};
use crate::audit::{AuditEvent, EventKind};
use crate::error::GovernorError;
use crate::governor::{AllowAck, Awaited, DecisionInput, Governor, deny_reason};
use crate::principal::Principal;
use crate::verdict::{Decision, Outcome, Verdict};
use serde_json::Value;
use std::sync::Arc;

/// Runs requests of one front through the governor. Cheap to build (an
/// `Arc` and the front's spec), so a front may build one per request.
#[derive(Debug, Clone)]
pub struct Driver {
    governor: Arc<Governor>,
    spec: FrontSpec,
}

impl Driver {
    pub fn new(governor: Arc<Governor>, spec: FrontSpec) -> Self {
        Driver { governor, spec }
    }

    pub fn spec(&self) -> &FrontSpec {
        &self.spec
    }

    pub fn governor(&self) -> &Arc<Governor> {
        &self.governor
    }

    /// Every phase of one request, in order; the front's reply.
    pub async fn serve<F: Front>(
        &self,
        front: &F,
        mut req: F::Request,
        request_id: &str,
    ) -> F::Reply {
        let who = match self.authenticate(front.credential(&req), request_id).await {
            Ok(p) => p,
            Err(r) => return front.refuse(&req, r, request_id),
        };
        let input = match front.translate(&who, &mut req, request_id).await {
            Translated::Input(i) => i,
            Translated::Reply(r) => return r,
            Translated::Unmatched(u) => {
                let reason = u.reason.clone();
                self.reject(&who, u, request_id).await;
                return front.refuse(&req, Refusal::Unmatched { reason }, request_id);
            }
        };
        match self.govern(front, &req, &who, input, request_id).await {
            Ok(allowed) => front.forward(req, allowed, request_id).await,
            Err(r) => front.refuse(&req, r, request_id),
        }
    }

    /// Phase 1: the principal a credential stands for. A presented
    /// credential that fails is audited with its reason (`auth.failed`);
    /// the caller learns only [`Refusal::Unauthenticated`].
    pub async fn authenticate(
        &self,
        credential: Option<&str>,
        request_id: &str,
    ) -> Result<Arc<Principal>, Refusal> {
        let Some(token) = credential else {
            return Err(Refusal::Unauthenticated);
        };
        match self.governor.authenticate(token) {
            Ok(p) => Ok(Arc::new(p)),
            Err(failure) => {
                if let Err(e) = self
                    .governor
                    .audit_auth_failure(failure, Some(token), self.spec.name, Some(request_id))
                    .await
                {
                    tracing::error!(
                        front = self.spec.name, request_id, error = %e,
                        "cannot audit a failed authentication"
                    );
                }
                Err(Refusal::Unauthenticated)
            }
        }
    }

    /// Records a request no rule maps to an action (`request.rejected`).
    pub async fn reject(&self, who: &Principal, u: Unmatched, request_id: &str) {
        let mut ev = AuditEvent::new(EventKind::RequestRejected).with_request_id(Some(request_id));
        ev.principal = Some(who.reference());
        ev.owner = who.owner.clone();
        ev.environment = u.environment;
        ev.reason = Some(u.reason);
        let mut detail = match u.detail {
            Value::Object(m) => m,
            Value::Null => serde_json::Map::new(),
            other => {
                let mut m = serde_json::Map::new();
                m.insert("request".into(), other);
                m
            }
        };
        detail.insert("channel".into(), Value::from(self.spec.name));
        ev.detail = Some(Value::Object(detail));
        if let Err(e) = self.governor.record_event(ev).await {
            tracing::error!(
                front = self.spec.name, request_id, error = %e,
                "cannot audit a request no rule matches"
            );
        }
    }

    /// Phases 3 to 5 for one request: decide; hold while its approval is
    /// pending (up to the front's hold, or until its client gives up);
    /// refuse an allow carrying an obligation the front cannot carry out.
    /// On `Ok`, the front acts and reports through the [`Allowed`].
    pub async fn govern<F: Front>(
        &self,
        front: &F,
        req: &F::Request,
        who: &Arc<Principal>,
        input: DecisionInput,
        request_id: &str,
    ) -> Result<Allowed, Refusal> {
        let ack = front.allow_ack(req, &input);
        let d = self.decide(who, input.clone(), ack, request_id).await?;
        match d.verdict {
            Verdict::Allow => self.obligations(who, d, request_id),
            Verdict::Deny => Err(Refusal::Denied(Box::new(d))),
            Verdict::Pending => self.hold(front, req, who, input, d, request_id).await,
        }
    }

    async fn decide(
        &self,
        who: &Principal,
        input: DecisionInput,
        ack: AllowAck,
        request_id: &str,
    ) -> Result<Decision, Refusal> {
        self.governor
            .decide_with(who, input, Some(request_id), ack)
            .await
            .map_err(|e| self.failed(e, request_id))
    }

    /// An error of the decision path, logged with its text under the
    /// request id; the refusal carries only its code.
    fn failed(&self, e: GovernorError, request_id: &str) -> Refusal {
        match &e {
            GovernorError::Unavailable(_)
            | GovernorError::Internal(_)
            | GovernorError::Conflict(_) => {
                tracing::error!(front = self.spec.name, request_id, error = %e, "cannot decide; refused");
            }
            _ => {
                tracing::info!(front = self.spec.name, request_id, error = %e, "request cannot be decided");
            }
        }
        Refusal::from_error(e)
    }

    async fn hold<F: Front>(
        &self,
        front: &F,
        req: &F::Request,
        who: &Arc<Principal>,
        mut input: DecisionInput,
        d: Decision,
        request_id: &str,
    ) -> Result<Allowed, Refusal> {
        let Some(approval) = d.approval.clone() else {
            return Err(Refusal::Denied(Box::new(d)));
        };
        if self.spec.hold.is_zero() {
            return Err(Refusal::Pending(Box::new(d)));
        }
        match front.held(req, &d).await {
            Held::Wait => {}
            Held::Refuse {
                why,
                cancel_approval,
            } => {
                if cancel_approval
                    && let Err(e) = self
                        .governor
                        .cancel(who, &approval.id, Some(request_id))
                        .await
                {
                    tracing::warn!(
                        front = self.spec.name, request_id, approval = %approval.id, error = %e,
                        "cannot cancel an approval no retry could redeem"
                    );
                }
                return Err(Refusal::Unholdable {
                    decision: Box::new(d),
                    why,
                });
            }
        }
        tracing::info!(
            front = self.spec.name, request_id, approval = %approval.id,
            wait_secs = self.spec.hold.as_secs(), "holding for approval"
        );
        let deadline = tokio::time::Instant::now() + self.spec.hold;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let step = self.spec.heartbeat.map_or(left, |h| h.min(left));
            let waited = self
                .governor
                .await_approval(&approval.id, step, front.cancelled(req), |a| {
                    front.progress(req, a);
                })
                .await
                .map_err(|e| self.failed(e, request_id))?;
            match waited {
                Awaited::Approved(_) => {
                    // Redeem: the identical request, naming its approval.
                    input.approval_id = Some(approval.id.clone());
                    let d2 = self
                        .decide(who, input, AllowAck::Durable, request_id)
                        .await?;
                    return match d2.verdict {
                        Verdict::Allow => self.obligations(who, d2, request_id),
                        Verdict::Deny => Err(Refusal::Denied(Box::new(d2))),
                        Verdict::Pending => Err(Refusal::Pending(Box::new(d2))),
                    };
                }
                Awaited::Ended { state, approval } => {
                    return Err(Refusal::NotApproved {
                        decision: Box::new(d),
                        state,
                        reason: deny_reason(&approval).map(str::to_owned),
                    });
                }
                Awaited::Abandoned => return Err(Refusal::Abandoned(Box::new(d))),
                Awaited::Pending(a) => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(Refusal::Pending(Box::new(d)));
                    }
                    front.progress(req, &a);
                }
            }
        }
    }

    /// Phase 5: an allow with an obligation the front cannot carry out is
    /// not acted on; its outcome says so.
    fn obligations(
        &self,
        who: &Arc<Principal>,
        d: Decision,
        request_id: &str,
    ) -> Result<Allowed, Refusal> {
        let unsupported = d
            .obligations
            .iter()
            .find(|o| !self.spec.obligations.enforces(&o.kind))
            .map(|o| (o.kind.clone(), o.policy.clone()));
        let allowed = Allowed::new(
            d,
            Arc::clone(who),
            Some(request_id.to_owned()),
            self.governor.outcomes(),
        );
        match unsupported {
            None => Ok(allowed),
            Some((kind, policy)) => {
                let decision = allowed.decision().clone();
                allowed.report(Outcome {
                    status: "skipped".into(),
                    error: Some(format!(
                        "policy `{policy}` attaches a `{kind}` obligation, which the {} front cannot carry out",
                        self.spec.name
                    )),
                    ..Outcome::default()
                });
                Err(Refusal::Obligation {
                    decision: Box::new(decision),
                    kind,
                    policy,
                })
            }
        }
    }
}
