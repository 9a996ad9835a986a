//! Reviews of changes through the approval machinery: the approvals a
//! change opens, and how their votes, expiry and cancellation move the
//! change (approved once every approval it needs is, superseding older
//! approved changes; a policy change applied at once when its gates allow).

use super::Governor;
use super::env_policies;
use crate::approval::{Approval, ApprovalState, Requirement, tally};
use crate::audit::{AuditEvent, EventKind};
use crate::change::rules::ReviewRule;
use crate::change::{Change, ChangeState, POLICY_KIND, gates};
use crate::error::GovernorError;
use crate::ids;
use crate::request::ActionRequest;
use crate::store::{Mutation, Write};
use crate::time::Timestamp;
use serde_json::{Map, json};
use std::time::Duration;

impl Governor {
    /// Marks a change approval executed: the change consumed it.
    fn consume(
        &self,
        a: &mut Approval,
        change_id: &str,
        write: &mut Write,
        request_id: Option<&str>,
    ) {
        a.state = ApprovalState::Executed;
        a.executed_by = Some(change_id.to_owned());
        a.version += 1;
        write
            .events
            .push(self.approval_event(EventKind::Executed, a, request_id));
    }

    /// The entry that opens a change's review: reviewers are notified from
    /// it (Slack, Teams, webhooks), as from a pending decision.
    pub(super) fn review_requested(&self, a: &Approval, request_id: Option<&str>) -> AuditEvent {
        let mut ev = self.approval_event(EventKind::ChangeReviewRequested, a, request_id);
        ev.reason = a.reason.clone();
        ev
    }

    /// Moves `c` to approved (and supersedes the approved, undeployed
    /// changes of the same subject and environment). A policy change is
    /// applied at once when its deploy gates pass; returns whether one was.
    pub(super) fn approve_change(
        &self,
        c: &mut Change,
        approvers: Vec<String>,
        siblings: &[Change],
        override_approved: bool,
        write: &mut Write,
        request_id: Option<&str>,
    ) -> Result<bool, GovernorError> {
        let now = self.now();
        c.approved_by = approvers;
        c.approved_at = Some(now);
        self.transition(c, ChangeState::Approved, None, None, write, request_id);
        for s in siblings.iter().filter(|s| {
            s.id != c.id && s.environment == c.environment && s.state == ChangeState::Approved
        }) {
            let mut old = s.clone();
            let expected = old.rev;
            old.superseded_by = Some(c.id.clone());
            self.transition(
                &mut old,
                ChangeState::Superseded,
                None,
                Some(json!({ "superseded_by": c.id })),
                write,
                request_id,
            );
            write.mutations.push(Mutation::UpdateChange {
                change: old,
                expected_rev: expected,
            });
        }
        if c.kind != POLICY_KIND {
            return Ok(false);
        }
        let Some(rules) = self.config.changes.gate(&c.kind, &c.environment) else {
            return Ok(false);
        };
        let digest = c.artifact_sha256.clone();
        let (results, refusal) =
            gates::at_deploy(c, &rules, siblings, &digest, override_approved, now);
        for g in &results {
            let mut ev = self.change_event(EventKind::ChangeGate, c, None, request_id);
            ev.verdict = Some(g.status.as_str().to_owned());
            ev.detail = serde_json::to_value(g).ok();
            write.events.push(ev);
        }
        c.gates.extend(results);
        if refusal.is_some() {
            // Stays approved; `change apply` retries when the gates allow.
            return Ok(false);
        }
        let set = env_policies::compile_bundle(c.policy.as_ref())
            .map_err(|e| GovernorError::Policy(format!("change {}: {e}", c.id)))?;
        c.deployed_at = Some(now);
        self.transition(c, ChangeState::Deployed, None, None, write, request_id);
        let mut ev = AuditEvent::new(EventKind::PolicyLoaded).with_request_id(request_id);
        ev.environment = Some(c.environment.clone());
        ev.change_id = Some(c.id.clone());
        ev.policy_hash = Some(set.hash().to_owned());
        ev.detail = Some(json!({
            "policies": set.len(),
            "previous": self.snapshot().policies_for(&c.environment).0.hash(),
        }));
        write.events.push(ev);
        Ok(true)
    }

    /// An approval that carries a change's review (or emergency override):
    /// the approval rules apply to its votes (quorum, eligible groups, no
    /// vote by the author or an agent author's owner).
    pub(super) fn review_approval(
        &self,
        c: &Change,
        purpose: &str,
        rule: &ReviewRule,
        now: Timestamp,
    ) -> Result<Approval, GovernorError> {
        let mut context = Map::new();
        context.insert("change".into(), json!(c.id));
        context.insert("kind".into(), json!(c.kind));
        context.insert("version".into(), json!(c.version));
        context.insert("artifact_sha256".into(), json!(c.artifact_sha256));
        if let Some(e) = &c.emergency {
            context.insert("emergency".into(), json!(e));
        }
        let request = ActionRequest {
            principal: c.author.clone(),
            action: format!("change.{purpose}"),
            resource: c.subject.clone(),
            environment: c.environment.clone(),
            context,
        };
        let hash = request
            .hash()
            .map_err(|e| GovernorError::Internal(e.to_string()))?;
        let what = if purpose == "override" {
            "emergency override for change"
        } else {
            "review change"
        };
        Ok(Approval {
            id: self.new_id(ids::APPROVAL)?,
            request,
            request_hash: hash,
            reason: Some(review_brief(c)),
            requester_owner: c.author_owner.clone(),
            requirement: Requirement {
                policy_id: format!("change-gate:{}/{}", c.kind, c.environment),
                quorum: rule.quorum,
                groups: rule.groups.clone(),
                ttl_secs: rule.ttl.as_secs(),
                reason_required: rule.reason_required,
                owner_may_approve: false,
                message: Some(format!(
                    "{what} {}: {} {} {} → {}",
                    c.id, c.kind, c.subject, c.version, c.environment
                )),
            },
            policy_hash: self
                .snapshot()
                .policies_for(&c.environment)
                .0
                .hash()
                .to_owned(),
            decision_id: c.id.clone(),
            state: ApprovalState::Pending,
            votes: Vec::new(),
            created_at: now,
            expires_at: now.plus(rule.ttl.max(Duration::from_secs(1))),
            decided_at: None,
            executed_by: None,
            change_id: Some(c.id.clone()),
            version: 0,
        })
    }

    /// Moves the change an approval reviews along with it, inside the
    /// approval's own write: approved (once every approval it needs is),
    /// rejected, expired or cancelled. May mark `next` executed (the change
    /// consumed it). Returns whether a policy change was applied.
    pub(super) async fn change_follow_up(
        &self,
        next: &mut Approval,
        write: &mut Write,
        request_id: Option<&str>,
    ) -> Result<bool, GovernorError> {
        let Some(cid) = next.change_id.clone() else {
            return Ok(false);
        };
        if next.state == ApprovalState::Pending {
            return Ok(false);
        }
        let Some(mut c) = self.store.change(&cid).await? else {
            return Ok(false);
        };
        if c.state != ChangeState::AwaitingReview {
            return Ok(false);
        }
        let expected = c.rev;
        let other_id = if c.review_approval.as_deref() == Some(next.id.as_str()) {
            c.override_approval.clone()
        } else {
            c.review_approval.clone()
        };
        let other = match &other_id {
            Some(o) => self.store.approval(o).await?,
            None => None,
        };
        let mut installs = false;
        match next.state {
            ApprovalState::Approved => {
                let other_done = other.as_ref().is_none_or(|o| {
                    matches!(o.state, ApprovalState::Approved | ApprovalState::Executed)
                });
                if other_done {
                    let mut approvers = Vec::new();
                    let review_first = [Some(&*next), other.as_ref()];
                    let mut ordered: Vec<&Approval> = review_first.into_iter().flatten().collect();
                    ordered.sort_by_key(|a| Some(&a.id) != c.review_approval.as_ref());
                    for a in ordered {
                        for v in tally(a).approvers {
                            if !approvers.contains(&v) {
                                approvers.push(v);
                            }
                        }
                    }
                    let siblings = self.siblings(&c.subject).await?;
                    let override_approved = c.override_approval.is_some();
                    installs = self.approve_change(
                        &mut c,
                        approvers,
                        &siblings,
                        override_approved,
                        write,
                        request_id,
                    )?;
                    // Both approvals are spent: the change consumed them.
                    self.consume(next, &cid, write, request_id);
                    if let Some(mut o) = other {
                        let v = o.version;
                        if o.state == ApprovalState::Approved {
                            self.consume(&mut o, &cid, write, request_id);
                            write.mutations.push(Mutation::UpdateApproval {
                                approval: o,
                                expected_version: v,
                            });
                        }
                    }
                } else {
                    // Waiting for the other approval; the revision bump
                    // makes two approvals landing at once conflict, so
                    // the later one sees the earlier.
                    c.rev += 1;
                }
            }
            ApprovalState::Denied | ApprovalState::Expired | ApprovalState::Cancelled => {
                let to = match next.state {
                    ApprovalState::Denied => ChangeState::Rejected,
                    ApprovalState::Expired => ChangeState::Expired,
                    _ => ChangeState::Cancelled,
                };
                c.end_reason = next
                    .votes
                    .iter()
                    .rev()
                    .find(|v| v.decision == crate::approval::VoteDecision::Deny)
                    .and_then(|v| v.reason.clone());
                self.transition(
                    &mut c,
                    to,
                    None,
                    Some(json!({ "approval": next.id })),
                    write,
                    request_id,
                );
            }
            _ => return Ok(false),
        }
        write.mutations.push(Mutation::UpdateChange {
            change: c,
            expected_rev: expected,
        });
        Ok(installs)
    }
}

/// What a reviewer reads first (Slack, Teams, the console inbox): the
/// description, the emergency, and every gate with what it measured, so a
/// review at 3 a.m. does not start with a search for the evidence.
fn review_brief(c: &Change) -> String {
    let mut out = String::new();
    if let Some(e) = &c.emergency {
        out.push_str(&format!("EMERGENCY: {}\n", super::truncate(e, 300)));
    }
    if let Some(d) = &c.description {
        out.push_str(&format!("{}\n", super::truncate(d, 600)));
    }
    for g in &c.gates {
        let line = format!(
            "{} {}: {}\n",
            g.status.as_str(),
            g.rule,
            g.measured.as_deref().unwrap_or("-")
        );
        if out.len() + line.len() > REVIEW_BRIEF_MAX {
            out.push_str("…\n");
            break;
        }
        out.push_str(&line);
    }
    if let Some(l) = c.evidence.links.first() {
        out.push_str(&format!("evidence: {}", super::truncate(l, 300)));
    }
    out.trim_end().to_owned()
}

/// An approval's reason is shown in chat messages: keep it readable.
const REVIEW_BRIEF_MAX: usize = 1800;
