//! The decision path: evaluate, and when policy makes the action approvable,
//! open an approval — or redeem the approved one bound to this exact request.

use super::deploy::DeployCheck;
use super::{Governor, Snapshot, truncate};
use crate::approval::{Approval, ApprovalState, Requirement, tally};
use crate::audit::{AuditEvent, EventKind};
use crate::error::GovernorError;
use crate::ids;

use crate::principal::Principal;
use crate::request::{ActionRequest, RequestHash, ResourceRef, valid_action};
use crate::store::{Mutation, StoreError, Write};
use crate::verdict::{Decision, DecisionRecord, ObligationView, PendingApproval, Verdict};
use countersign_policy::{ApprovalFacts, EntityRef, PolicyDecision, Query};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// Limits on what a caller may put in a request.
const MAX_REASON: usize = 2000;
const MAX_ID: usize = 512;

/// What a front asks.
#[derive(Debug, Clone)]
pub struct DecisionInput {
    pub action: String,
    pub resource: ResourceRef,
    pub environment: String,
    pub context: Map<String, Value>,
    /// The requester's stated reason, shown to reviewers.
    pub reason: Option<String>,
    /// An approval the caller believes releases this request (optional:
    /// the identical request finds its approval by hash anyway).
    pub approval_id: Option<String>,
}

/// When an *allow* may proceed, as far as its audit record goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AllowAck {
    /// Once the decision is durable on disk (the default, and always so
    /// for denials, approvals and redemptions).
    #[default]
    Durable,
    /// Once the decision is committed and ordered in the log, before the
    /// flush that follows within milliseconds: it survives the process
    /// being killed, not a power loss in that window. For fronts whose
    /// operator opted in for read-only actions (`durability =
    /// "relaxed_reads"`), where waiting for a flush per statement is the
    /// dominant cost.
    Committed,
}

/// How many times a redemption that lost a race is retried.
const REDEEM_ATTEMPTS: usize = 3;

impl Governor {
    /// Decides `input` for `who`. The decision is durable in the audit log
    /// before this returns; if it cannot be recorded, the caller gets an
    /// error, never an allow.
    pub async fn decide(
        &self,
        who: &Principal,
        input: DecisionInput,
        request_id: Option<&str>,
    ) -> Result<Decision, GovernorError> {
        self.decide_with(who, input, request_id, AllowAck::Durable)
            .await
    }

    /// [`Governor::decide`], with a plain allow (no approval redeemed)
    /// acknowledged as `allow_ack` says. Everything else stays durable.
    pub async fn decide_with(
        &self,
        who: &Principal,
        input: DecisionInput,
        request_id: Option<&str>,
        allow_ack: AllowAck,
    ) -> Result<Decision, GovernorError> {
        self.check_input(&input)?;
        let reason = input.reason.clone();
        // A deploy action is checked against the change it names first;
        // the claim is replaced by the change's facts for Cedar.
        let deploy_kind = self
            .config
            .changes
            .kind_deployed_by(&input.action)
            .map(|(k, _)| k.to_owned());
        let claim = deploy_kind
            .as_ref()
            .and_then(|_| input.context.get("change").cloned());
        let mut request = ActionRequest {
            principal: who.reference(),
            action: input.action,
            resource: input.resource,
            environment: input.environment,
            context: input.context,
        };
        let mut hash = RequestHash(String::new());
        let mut deploy = None;

        for attempt in 0..REDEEM_ATTEMPTS {
            if let Some(kind) = &deploy_kind {
                // Again on a retry: the change may have moved meanwhile.
                request.context.remove("change");
                if let Some(c) = &claim {
                    request.context.insert("change".into(), c.clone());
                }
                deploy = Some(
                    self.deploy_check(
                        kind,
                        &request.action,
                        &request.resource,
                        &request.environment,
                        &mut request.context,
                    )
                    .await?,
                );
            }
            if attempt == 0 || deploy_kind.is_some() {
                hash = request
                    .hash()
                    .map_err(|e| GovernorError::InvalidContext(e.to_string()))?;
            }
            let snap = self.snapshot();
            let first = evaluate(&snap, &request, None)?;
            let outcome = match first {
                PolicyDecision::Allow {
                    policies,
                    obligations,
                } => Settled::Allow {
                    policies,
                    obligations: obligations.iter().map(ObligationView::from).collect(),
                    redeemed: None,
                },
                PolicyDecision::Deny { policies, reason } => Settled::Deny { policies, reason },
                PolicyDecision::ApprovalRequired { rule, policies } => {
                    match self
                        .approval_path(&snap, who, &request, &hash, &input.approval_id)
                        .await?
                    {
                        ApprovalPath::Open(a) => Settled::Pending {
                            policies,
                            existing: Some(a),
                            requirement: Requirement::from(&rule),
                        },
                        ApprovalPath::None => Settled::Pending {
                            policies,
                            existing: None,
                            requirement: Requirement::from(&rule),
                        },
                        ApprovalPath::Approved(a) => {
                            let t = tally(&a);
                            let facts = ApprovalFacts {
                                granted: t.approvals() >= a.requirement.quorum,
                                count: t.approvals(),
                                approvers: t.approvers.clone(),
                            };
                            match evaluate(&snap, &request, Some(&facts))? {
                                PolicyDecision::Allow {
                                    policies,
                                    obligations,
                                } => Settled::Allow {
                                    policies,
                                    obligations: obligations
                                        .iter()
                                        .map(ObligationView::from)
                                        .collect(),
                                    redeemed: Some(a),
                                },
                                PolicyDecision::Deny { policies, reason } => Settled::Deny {
                                    policies,
                                    reason: format!(
                                        "approval `{}` was granted but policy no longer permits this: {reason}",
                                        a.id
                                    ),
                                },
                                PolicyDecision::ApprovalRequired { policies, .. } => {
                                    Settled::Deny {
                                        policies,
                                        reason: format!(
                                            "approval `{}` does not satisfy the policy in force",
                                            a.id
                                        ),
                                    }
                                }
                            }
                        }
                    }
                }
            };
            let outcome = match (deploy.as_ref().and_then(|d| d.refusal.as_ref()), outcome) {
                (None, o) => o,
                // Cedar's own denial stands, with the change's reason beside
                // it when a policy (not the default) decided.
                (Some(why), Settled::Deny { policies, reason }) => Settled::Deny {
                    reason: if policies.is_empty() {
                        why.clone()
                    } else {
                        format!("{reason}; {why}")
                    },
                    policies,
                },
                (Some(why), Settled::Allow { .. } | Settled::Pending { .. }) => Settled::Deny {
                    policies: Vec::new(),
                    reason: why.clone(),
                },
            };
            match self
                .record(
                    &snap,
                    who,
                    &request,
                    &hash,
                    reason.as_deref(),
                    outcome,
                    request_id,
                    allow_ack,
                    deploy.as_ref(),
                )
                .await
            {
                Err(GovernorError::Conflict(_)) => continue, // lost a redemption race; look again
                other => return other,
            }
        }
        Err(GovernorError::Conflict(
            "the approval for this request changed concurrently; retry".into(),
        ))
    }

    fn check_input(&self, input: &DecisionInput) -> Result<(), GovernorError> {
        if !valid_action(&input.action) {
            return Err(GovernorError::InvalidRequest(format!(
                "invalid action name `{}`: use `namespace.verb` in lowercase",
                truncate(&input.action, 80)
            )));
        }
        if !self.config.environments.contains(&input.environment) {
            return Err(GovernorError::InvalidRequest(format!(
                "unknown environment `{}`; known: {}",
                truncate(&input.environment, 80),
                self.config.environments.join(", ")
            )));
        }
        if input.resource.id.is_empty() || input.resource.id.len() > MAX_ID {
            return Err(GovernorError::InvalidRequest(format!(
                "resource id must be 1-{MAX_ID} bytes"
            )));
        }
        if input.reason.as_ref().is_some_and(|r| r.len() > MAX_REASON) {
            return Err(GovernorError::InvalidRequest(format!(
                "reason is longer than {MAX_REASON} bytes"
            )));
        }
        if let Some(a) = &input.approval_id
            && !ids::is_id(ids::APPROVAL, a)
        {
            return Err(GovernorError::InvalidRequest(format!(
                "`{}` is not an approval id",
                truncate(a, 80)
            )));
        }
        Ok(())
    }

    /// Finds the approval this request may use: the one named, or the open
    /// one bound to the same request hash.
    async fn approval_path(
        &self,
        _snap: &Snapshot,
        who: &Principal,
        request: &ActionRequest,
        hash: &RequestHash,
        named: &Option<String>,
    ) -> Result<ApprovalPath, GovernorError> {
        let now = self.now();
        let found = match named {
            Some(id) => {
                let a = self
                    .store
                    .approval(id)
                    .await?
                    .filter(|a| a.requester().name == who.name)
                    .ok_or_else(|| GovernorError::NotFound(format!("approval `{id}`")))?;
                if a.request_hash != *hash || a.request != *request {
                    return Err(GovernorError::ApprovalMismatch {
                        approval: a.id.clone(),
                    });
                }
                Some(a)
            }
            None => self.store.open_approval(&who.name, hash).await?,
        };
        Ok(match found {
            // A change's review is never redeemed by a decision.
            Some(a) if a.request == *request && a.change_id.is_none() => {
                match a.effective_state(now) {
                    ApprovalState::Pending => ApprovalPath::Open(a),
                    ApprovalState::Approved => ApprovalPath::Approved(a),
                    _ => ApprovalPath::None,
                }
            }
            _ => ApprovalPath::None,
        })
    }

    /// Writes the decision (and any approval change) with its audit event.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call site; a struct would only rename them"
    )]
    async fn record(
        &self,
        snap: &Arc<Snapshot>,
        who: &Principal,
        request: &ActionRequest,
        hash: &RequestHash,
        reason: Option<&str>,
        outcome: Settled,
        request_id: Option<&str>,
        allow_ack: AllowAck,
        deploy: Option<&DeployCheck>,
    ) -> Result<Decision, GovernorError> {
        let now = self.now();
        let id = self.new_id(ids::DECISION)?;
        let mut ev = AuditEvent::new(EventKind::Decision).with_request_id(request_id);
        ev.principal = Some(who.reference());
        ev.owner = who.owner.clone();
        ev.action = Some(request.action.clone());
        ev.resource = Some(request.resource.clone());
        ev.environment = Some(request.environment.clone());
        let policy_hash = snap.policies_for(&request.environment).0.hash().to_owned();
        ev.policy_hash = Some(policy_hash.clone());
        ev.decision_id = Some(id.clone());
        ev.request_hash = Some(hash.0.clone());
        ev.reason = reason.map(str::to_owned);
        if !request.context.is_empty() {
            let payload = serde_json::to_vec(&request.context)
                .map_err(|e| GovernorError::Internal(e.to_string()))?;
            ev = ev.with_payload(payload);
        }
        let mut write = Write::default();
        let mut decision = Decision {
            id: id.clone(),
            verdict: Verdict::Deny,
            reason: None,
            policies: Vec::new(),
            obligations: Vec::new(),
            approval: None,
            approved_by: None,
            policy_hash: policy_hash.clone(),
            request_hash: hash.clone(),
            audit_seq: 0,
        };
        let mut notify = None;
        match outcome {
            Settled::Allow {
                policies,
                obligations,
                redeemed,
            } => {
                decision.verdict = Verdict::Allow;
                decision.policies = policies;
                decision.obligations = obligations;
                if let Some(a) = redeemed {
                    let mut done = a.clone();
                    done.state = ApprovalState::Executed;
                    done.executed_by = Some(id.clone());
                    done.version = a.version + 1;
                    let mut exec = AuditEvent::new(EventKind::Executed).with_request_id(request_id);
                    exec.principal = Some(who.reference());
                    exec.approval_id = Some(a.id.clone());
                    exec.decision_id = Some(id.clone());
                    exec.request_hash = Some(hash.0.clone());
                    ev.approval_id = Some(a.id.clone());
                    decision.approved_by = Some(a.id.clone());
                    notify = Some((done.id.clone(), done.version));
                    write.mutations.push(Mutation::UpdateApproval {
                        approval: done,
                        expected_version: a.version,
                    });
                    write.events.push(exec);
                }
            }
            Settled::Deny { policies, reason } => {
                decision.verdict = Verdict::Deny;
                decision.policies = policies;
                decision.reason = Some(reason);
            }
            Settled::Pending {
                policies,
                existing,
                requirement,
            } => {
                decision.verdict = Verdict::Pending;
                decision.policies = policies;
                let a = match existing {
                    Some(a) => a,
                    None => {
                        let a = Approval {
                            id: self.new_id(ids::APPROVAL)?,
                            request: request.clone(),
                            request_hash: hash.clone(),
                            reason: reason.map(str::to_owned),
                            requester_owner: who.owner.clone(),
                            expires_at: now.plus(Duration::from_secs(requirement.ttl_secs)),
                            requirement,
                            policy_hash: policy_hash.clone(),
                            decision_id: id.clone(),
                            state: ApprovalState::Pending,
                            votes: Vec::new(),
                            created_at: now,
                            decided_at: None,
                            executed_by: None,
                            change_id: None,
                            version: 0,
                        };
                        write.mutations.push(Mutation::CreateApproval(a.clone()));
                        // Tell subscribers (the notifier) at once.
                        notify = Some((a.id.clone(), a.version));
                        a
                    }
                };
                decision.reason = Some(a.requirement.message.clone().unwrap_or_else(|| {
                    format!(
                        "approval required: {} of {}",
                        a.requirement.quorum,
                        if a.requirement.groups.is_empty() {
                            "any reviewer".to_owned()
                        } else {
                            a.requirement.groups.join(", ")
                        }
                    )
                }));
                ev.approval_id = Some(a.id.clone());
                decision.approval = Some(PendingApproval {
                    id: a.id.clone(),
                    quorum: a.requirement.quorum,
                    approvals: tally(&a).approvals(),
                    groups: a.requirement.groups.clone(),
                    expires_at: a.expires_at.rfc3339(),
                    message: a.requirement.message.clone(),
                });
            }
        }
        ev.verdict = Some(decision.verdict.as_str().to_owned());
        ev.policies = decision.policies.clone();
        let mut detail = Map::new();
        if decision.verdict == Verdict::Deny
            && let Some(r) = &decision.reason
        {
            detail.insert("deny_reason".into(), Value::from(r.clone()));
        }
        let deployed = deploy.and_then(|d| d.change.as_ref());
        if let Some(d) = deploy {
            if let Value::Object(m) = d.detail() {
                detail.extend(m);
            }
            ev.change_id = deployed.map(|c| c.id.clone());
        }
        if !detail.is_empty() {
            ev.detail = Some(Value::Object(detail));
        }
        if decision.verdict == Verdict::Allow
            && let Some(c) = deployed
        {
            // Remembered so `change deployed` can report this deploy.
            let mut next = c.clone();
            next.deploy_decision = Some(id.clone());
            next.rev += 1;
            write.mutations.push(Mutation::UpdateChange {
                change: next,
                expected_rev: c.rev,
            });
        }
        write
            .mutations
            .push(Mutation::CreateDecision(DecisionRecord {
                id: id.clone(),
                principal: who.reference(),
                action: request.action.clone(),
                resource: request.resource.clone(),
                environment: request.environment.clone(),
                verdict: decision.verdict,
                request_hash: hash.clone(),
                approval_id: decision
                    .approval
                    .as_ref()
                    .map(|a| a.id.clone())
                    .or_else(|| decision.approved_by.clone()),
                created_at: now,
                change_id: deployed.map(|c| c.id.clone()),
                outcome: None,
            }));
        // The decision event comes first so its sequence number is seqs[0].
        write.events.insert(0, ev);
        let relaxed = allow_ack == AllowAck::Committed
            && decision.verdict == Verdict::Allow
            && write
                .mutations
                .iter()
                .all(|m| matches!(m, Mutation::CreateDecision(_)))
            && write.events.len() == 1;
        let committed = if relaxed {
            self.store.commit_committed(write).await
        } else {
            self.store.commit(write).await
        };
        let seqs = committed.map_err(|e| match e {
            StoreError::Conflict(w) => GovernorError::Conflict(w),
            other => other.into(),
        })?;
        decision.audit_seq = seqs.first().copied().unwrap_or(0);
        if let Some((aid, v)) = notify {
            self.notify(&aid, v);
        }
        Ok(decision)
    }
}

impl Governor {
    /// Whether policy could let `who` do `input`, now or after an approval,
    /// without deciding or recording anything: for listings (which tools
    /// an agent is shown), never for letting an action through.
    pub fn may_request(&self, who: &Principal, input: &DecisionInput) -> bool {
        let request = ActionRequest {
            principal: who.reference(),
            action: input.action.clone(),
            resource: input.resource.clone(),
            environment: input.environment.clone(),
            context: input.context.clone(),
        };
        matches!(
            evaluate(&self.snapshot(), &request, None),
            Ok(PolicyDecision::Allow { .. } | PolicyDecision::ApprovalRequired { .. })
        )
    }
}

/// Cedar's answer for `request`, with approval facts when redeeming.
pub(crate) fn evaluate(
    snap: &Snapshot,
    request: &ActionRequest,
    facts: Option<&ApprovalFacts>,
) -> Result<PolicyDecision, GovernorError> {
    let q = Query {
        principal: EntityRef {
            kind: request.principal.kind.as_str(),
            id: &request.principal.name,
        },
        action: &request.action,
        resource: EntityRef {
            kind: &request.resource.kind,
            id: &request.resource.id,
        },
        environment: &request.environment,
        context: &request.context,
    };
    let (policies, directory) = snap.policies_for(&request.environment);
    Ok(policies.decide(&q, facts, directory)?)
}

enum ApprovalPath {
    None,
    Open(Approval),
    Approved(Approval),
}

enum Settled {
    Allow {
        policies: Vec<String>,
        obligations: Vec<ObligationView>,
        redeemed: Option<Approval>,
    },
    Deny {
        policies: Vec<String>,
        reason: String,
    },
    Pending {
        policies: Vec<String>,
        existing: Option<Approval>,
        requirement: Requirement,
    },
}
