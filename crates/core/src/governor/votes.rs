//! Votes, cancellations, expiry and outcome reports. Each is a
//! read → check → compare-and-swap loop, so concurrent votes and cancels on
//! one approval end in exactly one terminal state.

use super::Governor;
use super::decide::evaluate;
use crate::approval::{
    Approval, ApprovalState, Vote, VoteDecision, VoteRefusal, check_cancel, check_vote, tally,
};
use crate::audit::{AuditEvent, EventKind, VoteRecord};
use crate::error::GovernorError;
use crate::principal::Principal;
use crate::store::{Mutation, StoreError, Write};
use crate::verdict::{Outcome, Verdict};
use countersign_policy::{ApprovalFacts, PolicyDecision};

/// A vote as a front submits it.
#[derive(Debug, Clone)]
pub struct VoteInput {
    pub decision: VoteDecision,
    pub reason: Option<String>,
    /// Where the vote came from (`api`, `cli`, `web`, `slack` …).
    pub via: String,
}

/// Enough for 50+ concurrent voters on one approval: each lost race means
/// someone else's write landed, so progress is guaranteed.
pub(super) const CAS_ATTEMPTS: usize = 256;
const MAX_VOTE_REASON: usize = 2000;

impl Governor {
    async fn load(&self, id: &str) -> Result<Approval, GovernorError> {
        self.store
            .approval(id)
            .await?
            .ok_or_else(|| GovernorError::NotFound(format!("approval `{id}`")))
    }

    /// Casts a vote. Refusals are errors with a stable code; refusals that
    /// break separation of duties are audited as security events.
    pub async fn vote(
        &self,
        voter: &Principal,
        approval_id: &str,
        input: VoteInput,
        request_id: Option<&str>,
    ) -> Result<Approval, GovernorError> {
        if input
            .reason
            .as_ref()
            .is_some_and(|r| r.len() > MAX_VOTE_REASON)
        {
            return Err(GovernorError::InvalidRequest(format!(
                "reason is longer than {MAX_VOTE_REASON} bytes"
            )));
        }
        for _ in 0..CAS_ATTEMPTS {
            let a = self.load(approval_id).await?;
            let now = self.now();
            if let Err(refusal) =
                check_vote(&a, voter, input.decision, input.reason.as_deref(), now)
            {
                if refusal == VoteRefusal::Expired {
                    self.expire(&a, request_id).await?;
                }
                self.audit_refusal(voter, &a, &refusal, &input.via, request_id)
                    .await?;
                return Err(refusal.into());
            }
            let mut next = a.clone();
            next.version += 1;
            next.votes.push(Vote {
                voter: voter.name.clone(),
                decision: input.decision,
                reason: input.reason.clone(),
                at: now,
                via: input.via.clone(),
            });
            let mut vote_ev = self.approval_event(EventKind::Vote, &next, request_id);
            vote_ev.principal = Some(voter.reference());
            vote_ev.votes = vec![VoteRecord {
                voter: voter.name.clone(),
                decision: match input.decision {
                    VoteDecision::Approve => "approve".into(),
                    VoteDecision::Deny => "deny".into(),
                },
                reason: input.reason.clone(),
                via: input.via.clone(),
            }];
            let mut events = vec![vote_ev];
            match input.decision {
                // Any eligible deny ends it.
                VoteDecision::Deny => {
                    next.state = ApprovalState::Denied;
                    next.decided_at = Some(now);
                    events.push(self.approval_event(EventKind::Denied, &next, request_id));
                }
                VoteDecision::Approve => {
                    let t = tally(&next);
                    // A change review's rule is its gate, not a Cedar policy.
                    if t.approvals() >= next.requirement.quorum
                        && (next.change_id.is_some() || self.policy_grants(&next, &t.approvers)?)
                    {
                        next.state = ApprovalState::Approved;
                        next.decided_at = Some(now);
                        events.push(self.approval_event(EventKind::Approved, &next, request_id));
                    }
                }
            }
            let mut follow = Write {
                mutations: Vec::new(),
                events,
            };
            let installs = self
                .change_follow_up(&mut next, &mut follow, request_id)
                .await?;
            let mut write = Write {
                mutations: vec![Mutation::UpdateApproval {
                    approval: next.clone(),
                    expected_version: a.version,
                }],
                events: follow.events,
            };
            write.mutations.extend(follow.mutations);
            if self.commit_transition(write, &next).await? {
                if installs {
                    self.refresh_env_policies().await?;
                }
                return Ok(next);
            }
        }
        Err(GovernorError::Conflict(format!(
            "approval `{approval_id}` is too contended; retry"
        )))
    }

    /// Whether Cedar, given the approval's facts, now permits the request.
    /// The approval becomes `approved` only then: approvals are evidence, the
    /// decision is Cedar's.
    fn policy_grants(&self, a: &Approval, approvers: &[String]) -> Result<bool, GovernorError> {
        let facts = ApprovalFacts {
            granted: true,
            count: u32::try_from(approvers.len()).unwrap_or(u32::MAX),
            approvers: approvers.to_vec(),
        };
        let snap = self.snapshot();
        Ok(matches!(
            evaluate(&snap, &a.request, Some(&facts))?,
            PolicyDecision::Allow { .. }
        ))
    }

    /// Cancels a pending approval (the requester only).
    pub async fn cancel(
        &self,
        who: &Principal,
        approval_id: &str,
        request_id: Option<&str>,
    ) -> Result<Approval, GovernorError> {
        for _ in 0..CAS_ATTEMPTS {
            let a = self.load(approval_id).await?;
            let now = self.now();
            if let Err(refusal) = check_cancel(&a, who, now) {
                if refusal == VoteRefusal::Expired {
                    self.expire(&a, request_id).await?;
                }
                self.audit_refusal(who, &a, &refusal, "api", request_id)
                    .await?;
                return Err(refusal.into());
            }
            let mut next = a.clone();
            next.version += 1;
            next.state = ApprovalState::Cancelled;
            next.decided_at = Some(now);
            let mut ev = self.approval_event(EventKind::Cancelled, &next, request_id);
            ev.principal = Some(who.reference());
            let mut write = Write::new(
                Mutation::UpdateApproval {
                    approval: next.clone(),
                    expected_version: a.version,
                },
                ev,
            );
            self.change_follow_up(&mut next, &mut write, request_id)
                .await?;
            if self.commit_transition(write, &next).await? {
                return Ok(next);
            }
        }
        Err(GovernorError::Conflict(format!(
            "approval `{approval_id}` is too contended; retry"
        )))
    }

    /// Records the expiry of `a` if it is still open; losing the race to
    /// another writer is fine (someone else recorded a terminal state).
    async fn expire(&self, a: &Approval, request_id: Option<&str>) -> Result<bool, GovernorError> {
        if a.state.is_final() {
            return Ok(false);
        }
        let mut next = a.clone();
        next.version += 1;
        next.state = ApprovalState::Expired;
        next.decided_at = Some(self.now());
        let ev = self.approval_event(EventKind::Expired, &next, request_id);
        let mut write = Write::new(
            Mutation::UpdateApproval {
                approval: next.clone(),
                expected_version: a.version,
            },
            ev,
        );
        self.change_follow_up(&mut next, &mut write, request_id)
            .await?;
        self.commit_transition(write, &next).await
    }

    /// Commits a state change of an approval guarded by its version:
    /// `Ok(false)` when another writer changed it first (the caller looks
    /// again or gives up), and waiters are told when it lands.
    async fn commit_transition(
        &self,
        write: Write,
        next: &Approval,
    ) -> Result<bool, GovernorError> {
        match self.store.commit(write).await {
            Ok(_) => {
                self.notify(&next.id, next.version);
                Ok(true)
            }
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Expires every open approval past its TTL; returns how many. The server
    /// runs this on a timer.
    pub async fn expire_due(&self) -> Result<usize, GovernorError> {
        let mut n = 0;
        loop {
            let due = self.store.due_approvals(self.now(), 100).await?;
            if due.is_empty() {
                return Ok(n);
            }
            let batch = due.len();
            for a in &due {
                if self.expire(a, None).await? {
                    n += 1;
                }
            }
            if batch < 100 {
                return Ok(n);
            }
        }
    }

    /// Records what happened after an allow. Only the principal that was
    /// allowed reports, once.
    pub async fn report_outcome(
        &self,
        who: &Principal,
        decision_id: &str,
        outcome: Outcome,
        request_id: Option<&str>,
    ) -> Result<u64, GovernorError> {
        if !Outcome::STATUSES.contains(&outcome.status.as_str()) {
            return Err(GovernorError::InvalidRequest(format!(
                "outcome status must be one of {}",
                Outcome::STATUSES.join(", ")
            )));
        }
        if outcome.error.as_ref().is_some_and(|e| e.len() > 4000) {
            return Err(GovernorError::InvalidRequest(
                "outcome error is longer than 4000 bytes".into(),
            ));
        }
        let mut rec = self
            .store
            .decision(decision_id)
            .await?
            .ok_or_else(|| GovernorError::NotFound(format!("decision `{decision_id}`")))?;
        if rec.principal.name != who.name {
            return Err(GovernorError::Forbidden(
                "only the principal the decision was made for may report its outcome".into(),
            ));
        }
        if rec.verdict != Verdict::Allow {
            return Err(GovernorError::InvalidRequest(format!(
                "decision `{decision_id}` was {}; outcomes are reported for allows",
                rec.verdict.as_str()
            )));
        }
        if rec.outcome.is_some() {
            return Err(GovernorError::Conflict(format!(
                "the outcome of decision `{decision_id}` was already reported"
            )));
        }
        rec.outcome = Some(outcome.clone());
        let mut ev = AuditEvent::new(EventKind::Outcome).with_request_id(request_id);
        ev.principal = Some(who.reference());
        ev.owner = who.owner.clone();
        ev.decision_id = Some(rec.id.clone());
        ev.action = Some(rec.action.clone());
        ev.resource = Some(rec.resource.clone());
        ev.environment = Some(rec.environment.clone());
        ev.request_hash = Some(rec.request_hash.0.clone());
        ev.approval_id = rec.approval_id.clone();
        ev.outcome = serde_json::to_value(&outcome).ok();
        ev.change_id = rec.change_id.clone();
        let mut write = Write::new(Mutation::SetOutcome(rec.clone()), ev);
        let installs = self
            .deployed_follow_up(&rec, &outcome, &mut write, request_id)
            .await?;
        let seqs = self.store.commit(write).await.map_err(|e| match e {
            StoreError::Conflict(_) => GovernorError::Conflict(format!(
                "the outcome of decision `{decision_id}` was already reported"
            )),
            other => other.into(),
        })?;
        if installs {
            self.refresh_env_policies().await?;
        }
        Ok(seqs.first().copied().unwrap_or(0))
    }

    pub(super) fn approval_event(
        &self,
        kind: EventKind,
        a: &Approval,
        request_id: Option<&str>,
    ) -> AuditEvent {
        let mut ev = AuditEvent::new(kind).with_request_id(request_id);
        ev.principal = Some(a.request.principal.clone());
        ev.owner = a.requester_owner.clone();
        ev.action = Some(a.request.action.clone());
        ev.resource = Some(a.request.resource.clone());
        ev.environment = Some(a.request.environment.clone());
        ev.approval_id = Some(a.id.clone());
        // A change's review was opened by the change, not by a decision.
        match &a.change_id {
            Some(c) => ev.change_id = Some(c.clone()),
            None => ev.decision_id = Some(a.decision_id.clone()),
        }
        ev.request_hash = Some(a.request_hash.0.clone());
        ev.policies = vec![a.requirement.policy_id.clone()];
        ev.policy_hash = Some(a.policy_hash.clone());
        if kind != EventKind::Vote {
            ev.verdict = Some(a.state.as_str().to_owned());
            ev.votes = a
                .votes
                .iter()
                .map(|v| VoteRecord {
                    voter: v.voter.clone(),
                    decision: match v.decision {
                        VoteDecision::Approve => "approve".into(),
                        VoteDecision::Deny => "deny".into(),
                    },
                    reason: v.reason.clone(),
                    via: v.via.clone(),
                })
                .collect();
        }
        ev
    }

    async fn audit_refusal(
        &self,
        who: &Principal,
        a: &Approval,
        refusal: &VoteRefusal,
        via: &str,
        request_id: Option<&str>,
    ) -> Result<(), GovernorError> {
        // Refusals that are only about timing are not security events.
        if matches!(refusal, VoteRefusal::Finished(_) | VoteRefusal::Expired) {
            return Ok(());
        }
        let mut ev = AuditEvent::new(EventKind::VoteRefused).with_request_id(request_id);
        ev.principal = Some(who.reference());
        ev.approval_id = Some(a.id.clone());
        ev.action = Some(a.request.action.clone());
        ev.environment = Some(a.request.environment.clone());
        ev.reason = Some(refusal.to_string());
        ev.detail = Some(serde_json::json!({ "code": refusal.code(), "via": via }));
        self.store.commit(Write::event(ev)).await?;
        Ok(())
    }
}
