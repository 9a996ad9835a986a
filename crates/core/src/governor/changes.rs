//! Changes: submission with its checks, reviews through approvals, and the
//! transitions that follow (approved, rejected, superseded, rolled back).
//! Each transition is one atomic write with its audit events, and every
//! gate result is an event of its own.

use super::Governor;
use super::env_policies::{self, PolicyChecks};
use crate::approval::{Approval, ApprovalState, Requirement, tally};
use crate::audit::{AuditEvent, EventKind};
use crate::change::rules::ReviewRule;
use crate::change::threshold::{fmt_num, valid_metric_name};
use crate::change::{
    Change, ChangeFilter, ChangeState, Evidence, InventoryItem, PolicyBundle, gates,
};
use crate::error::GovernorError;
use crate::ids;
use crate::principal::{Principal, PrincipalRef};
use crate::request::{ActionRequest, ResourceRef};
use crate::store::{Mutation, StoreError, Write};
use crate::time::Timestamp;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// What a submitter sends.
#[derive(Debug, Clone, Default)]
pub struct ChangeInput {
    pub kind: String,
    pub subject: Option<ResourceRef>,
    pub version: String,
    /// SHA-256 of the artifact (hex, optionally `sha256:`-prefixed);
    /// computed from the policy set for `policy` changes.
    pub artifact_sha256: Option<String>,
    pub environment: String,
    pub description: Option<String>,
    /// A JSON object of metric name → number.
    pub metrics: Option<Value>,
    pub links: Vec<String>,
    /// An emergency change's reason.
    pub emergency: Option<String>,
    pub policy: Option<PolicyBundle>,
}

const MAX_VERSION: usize = 128;
const MAX_DESCRIPTION: usize = 4000;
const MAX_METRICS: usize = 256;
const MAX_LINKS: usize = 32;
const MAX_LINK: usize = 2048;
const MAX_REASON: usize = 2000;
/// How many changes of one subject are looked at for promotion and
/// liveness (newest first).
pub(super) const SIBLINGS: usize = 1000;
/// The subject of every `policy` change: a policy change replaces an
/// environment's whole set.
pub const POLICY_SUBJECT: &str = "countersign";

impl Governor {
    /// Submits a change: validates it, runs its checks, and opens its
    /// reviews. A failing check is recorded (`checks_failed`), not an error:
    /// the report is the answer.
    pub async fn submit_change(
        &self,
        who: &Principal,
        input: ChangeInput,
        request_id: Option<&str>,
    ) -> Result<Change, GovernorError> {
        let kind = self.config.changes.kind(&input.kind).ok_or_else(|| {
            GovernorError::InvalidRequest(format!(
                "unknown change kind `{}`; known: {}",
                super::truncate(&input.kind, 64),
                self.config
                    .changes
                    .kinds()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let is_policy = kind.deploy_action == "policy.apply";
        let subject = match (input.subject.clone(), is_policy) {
            (Some(s), _) => s,
            (None, true) => ResourceRef {
                kind: "PolicySet".into(),
                id: POLICY_SUBJECT.into(),
            },
            (None, false) => {
                return Err(GovernorError::InvalidRequest(format!(
                    "`subject` is required, e.g. {}::\"name\"",
                    kind.resource_type
                )));
            }
        };
        if subject.kind != kind.resource_type {
            return Err(GovernorError::InvalidRequest(format!(
                "a `{}` change's subject is a `{}`, not `{}`",
                input.kind, kind.resource_type, subject.kind
            )));
        }
        if subject.id.is_empty() || subject.id.len() > 512 {
            return Err(GovernorError::InvalidRequest(
                "subject id must be 1-512 bytes".into(),
            ));
        }
        if is_policy && subject.id != POLICY_SUBJECT {
            return Err(GovernorError::InvalidRequest(format!(
                "a policy change replaces an environment's whole set: its subject is PolicySet::\"{POLICY_SUBJECT}\""
            )));
        }
        let rules = self
            .config
            .changes
            .gate(&input.kind, &input.environment)
            .ok_or_else(|| {
                GovernorError::InvalidRequest(format!(
                    "unknown environment `{}`; known: {}",
                    super::truncate(&input.environment, 64),
                    self.config.environments.join(", ")
                ))
            })?;
        check_text("version", &input.version, 1, MAX_VERSION)?;
        if let Some(d) = &input.description {
            check_text("description", d, 0, MAX_DESCRIPTION)?;
        }
        if let Some(e) = &input.emergency {
            check_text("emergency reason", e, 1, MAX_REASON)?;
        }
        let mut metrics = parse_metrics(input.metrics.as_ref())?;
        let links = check_links(&input.links)?;
        let mut extra_gates = Vec::new();
        let mut report = None;
        let digest = match (&input.policy, is_policy) {
            (None, true) => {
                return Err(GovernorError::InvalidRequest(
                    "a policy change carries its policy set (`policy`: schema, files, cases)"
                        .into(),
                ));
            }
            (Some(_), false) => {
                return Err(GovernorError::InvalidRequest(format!(
                    "only policy changes carry a policy set, not `{}` changes",
                    input.kind
                )));
            }
            (Some(bundle), true) => {
                if !self.is_admin(who) {
                    return Err(GovernorError::Forbidden(format!(
                        "only members of `{}` may propose policy changes",
                        self.config.admin_group
                    )));
                }
                let live = self.snapshot();
                let live_set = live.policies_for(&input.environment).0;
                let checks: PolicyChecks = env_policies::check_bundle(
                    bundle,
                    live_set,
                    &input.environment,
                    &live.directory_groups(),
                )?;
                metrics.extend(checks.metrics);
                extra_gates = checks.gates;
                report = Some(checks.report);
                if let Some(given) = &input.artifact_sha256
                    && normalize_digest(given)? != checks.digest
                {
                    return Err(GovernorError::InvalidRequest(format!(
                        "artifact_sha256 {given} is not the digest of the proposed policy set ({})",
                        checks.digest
                    )));
                }
                checks.digest
            }
            (None, false) => match &input.artifact_sha256 {
                Some(d) => normalize_digest(d)?,
                None => {
                    return Err(GovernorError::InvalidRequest(
                        "`artifact_sha256` is required: the SHA-256 of the artifact to deploy"
                            .into(),
                    ));
                }
            },
        };

        let now = Timestamp::now();
        let siblings = self.siblings(&subject).await?;
        let mut change = Change {
            id: ids::new_id(ids::CHANGE)?,
            kind: input.kind.clone(),
            subject,
            version: input.version,
            artifact_sha256: digest,
            environment: input.environment,
            description: input.description,
            author: who.reference(),
            author_owner: who.owner.clone(),
            evidence: Evidence { metrics, links },
            emergency: input.emergency,
            state: ChangeState::AwaitingReview,
            gates: Vec::new(),
            review_approval: None,
            override_approval: None,
            approved_by: Vec::new(),
            created_at: now,
            approved_at: None,
            deployed_at: None,
            deployed_by: None,
            deploy_decision: None,
            ended_at: None,
            superseded_by: None,
            end_reason: None,
            policy: input.policy,
            report,
            rev: 0,
        };
        change.gates = extra_gates;
        change
            .gates
            .extend(gates::at_submit(&change, &rules, &siblings, now));

        let mut write = Write::default();
        write.events.push(self.change_event(
            EventKind::ChangeSubmitted,
            &change,
            Some(&who.reference()),
            request_id,
        ));
        for g in &change.gates {
            let mut ev = self.change_event(EventKind::ChangeGate, &change, None, request_id);
            ev.verdict = Some(g.status.as_str().to_owned());
            ev.detail = serde_json::to_value(g).ok();
            write.events.push(ev);
        }
        let mut installs = false;
        if change.failed_gates().next().is_some() {
            self.transition(
                &mut change,
                ChangeState::ChecksFailed,
                None,
                None,
                &mut write,
                request_id,
            );
        } else {
            let needs_review = rules.reviews.quorum > 0;
            let needs_override = change.emergency.is_some();
            if needs_review {
                let a = self.review_approval(&change, "review", &rules.reviews, now)?;
                change.review_approval = Some(a.id.clone());
                write.events.push(review_requested(&a, request_id));
                write.mutations.push(Mutation::CreateApproval(a));
            }
            if needs_override {
                let a = self.review_approval(&change, "override", &rules.emergency, now)?;
                change.override_approval = Some(a.id.clone());
                write.events.push(review_requested(&a, request_id));
                write.mutations.push(Mutation::CreateApproval(a));
            }
            if needs_review || needs_override {
                self.transition(
                    &mut change,
                    ChangeState::AwaitingReview,
                    None,
                    None,
                    &mut write,
                    request_id,
                );
            } else {
                installs = self.approve_change(
                    &mut change,
                    Vec::new(),
                    &siblings,
                    false,
                    &mut write,
                    request_id,
                )?;
            }
        }
        // The change is created in its settled state, so the creation goes
        // first and the updates to its siblings after.
        write
            .mutations
            .insert(0, Mutation::CreateChange(change.clone()));
        self.store.commit(write).await?;
        if installs {
            self.refresh_env_policies().await?;
        }
        Ok(change)
    }

    pub async fn change(&self, id: &str) -> Result<Change, GovernorError> {
        if !ids::is_id(ids::CHANGE, id) {
            return Err(GovernorError::InvalidRequest(format!(
                "`{}` is not a change id",
                super::truncate(id, 80)
            )));
        }
        self.store
            .change(id)
            .await?
            .ok_or_else(|| GovernorError::NotFound(format!("change `{id}`")))
    }

    pub async fn changes(&self, filter: &ChangeFilter) -> Result<Vec<Change>, GovernorError> {
        Ok(self.store.changes(filter).await?)
    }

    /// What is live where: one item per subject and environment.
    pub async fn inventory(
        &self,
        environment: Option<&str>,
    ) -> Result<Vec<InventoryItem>, GovernorError> {
        let deployed = self
            .store
            .changes(&ChangeFilter {
                state: Some(ChangeState::Deployed),
                environment: environment.map(str::to_owned),
                limit: 100_000,
                ..ChangeFilter::default()
            })
            .await?;
        let mut live: BTreeMap<(String, String, String), &Change> = BTreeMap::new();
        for c in &deployed {
            let key = (
                c.subject.kind.clone(),
                c.subject.id.clone(),
                c.environment.clone(),
            );
            match live.get(&key) {
                Some(cur) if (cur.deployed_at, &cur.id) >= (c.deployed_at, &c.id) => {}
                _ => {
                    live.insert(key, c);
                }
            }
        }
        let order = |env: &str| {
            self.config
                .environments
                .iter()
                .position(|e| e == env)
                .unwrap_or(usize::MAX)
        };
        let mut items: Vec<InventoryItem> =
            live.values().filter_map(|c| InventoryItem::of(c)).collect();
        items.sort_by(|a, b| {
            (&a.subject.kind, &a.subject.id, order(&a.environment)).cmp(&(
                &b.subject.kind,
                &b.subject.id,
                order(&b.environment),
            ))
        });
        Ok(items)
    }

    /// Records that a deployed change was rolled back: the deployment
    /// before it is live again. The author, whoever deployed it, or an
    /// administrator may say so.
    pub async fn rollback_change(
        &self,
        who: &Principal,
        id: &str,
        reason: Option<String>,
        request_id: Option<&str>,
    ) -> Result<Change, GovernorError> {
        if let Some(r) = &reason {
            check_text("reason", r, 0, MAX_REASON)?;
        }
        let mut c = self.change(id).await?;
        let deployer = match &c.deployed_by {
            Some(d) => self.store.decision(d).await?.map(|r| r.principal.name),
            None => None,
        };
        if !(self.is_admin(who)
            || c.author.name == who.name
            || deployer.as_deref() == Some(who.name.as_str()))
        {
            return Err(GovernorError::Forbidden(
                "only the change's author, its deployer or an administrator may roll it back"
                    .into(),
            ));
        }
        let siblings = self.siblings(&c.subject).await?;
        let live = gates::live_in(&siblings, &c.environment);
        if c.state != ChangeState::Deployed || live.is_none_or(|l| l.id != c.id) {
            return Err(GovernorError::Conflict(format!(
                "change {id} is {}{}; only the change live in {} can be rolled back",
                c.state.as_str(),
                if c.state == ChangeState::Deployed {
                    " but no longer live"
                } else {
                    ""
                },
                c.environment
            )));
        }
        let previous = siblings
            .iter()
            .filter(|s| {
                s.id != c.id && s.environment == c.environment && s.state == ChangeState::Deployed
            })
            .max_by_key(|s| s.deployed_at)
            .map(|s| s.id.clone());
        let mut write = Write::default();
        let expected = c.rev;
        c.end_reason = reason;
        self.transition(
            &mut c,
            ChangeState::RolledBack,
            Some(&who.reference()),
            Some(json!({ "live_again": previous })),
            &mut write,
            request_id,
        );
        write.mutations.push(Mutation::UpdateChange {
            change: c.clone(),
            expected_rev: expected,
        });
        self.commit_change_write(write).await?;
        if c.kind == "policy" {
            self.refresh_env_policies().await?;
        }
        Ok(c)
    }

    /// Withdraws a change before it is deployed: its author (or an
    /// administrator). Open reviews are cancelled with it, so reviewers stop
    /// being asked; an approved change simply stops being deployable.
    pub async fn cancel_change(
        &self,
        who: &Principal,
        id: &str,
        reason: Option<String>,
        request_id: Option<&str>,
    ) -> Result<Change, GovernorError> {
        if let Some(r) = &reason {
            check_text("reason", r, 0, MAX_REASON)?;
        }
        for _ in 0..super::votes::CAS_ATTEMPTS {
            let mut c = self.change(id).await?;
            if !(c.author.name == who.name || self.is_admin(who)) {
                return Err(GovernorError::Forbidden(
                    "only the change's author or an administrator may cancel it".into(),
                ));
            }
            if !matches!(c.state, ChangeState::AwaitingReview | ChangeState::Approved) {
                return Err(GovernorError::Conflict(format!(
                    "change {id} is {}; only a change awaiting review or approved (not deployed) can be cancelled",
                    c.state.as_str()
                )));
            }
            let expected = c.rev;
            let mut write = Write::default();
            // Close its open approvals in the same write, so none can be
            // voted to completion after the change is gone.
            for aid in [&c.review_approval, &c.override_approval]
                .into_iter()
                .flatten()
            {
                if let Some(a) = self.store.approval(aid).await?
                    && !a.state.is_final()
                {
                    let mut next = a.clone();
                    next.version += 1;
                    next.state = ApprovalState::Cancelled;
                    next.decided_at = Some(Timestamp::now());
                    let mut ev = AuditEvent::new(EventKind::Cancelled).with_request_id(request_id);
                    ev.principal = Some(who.reference());
                    ev.approval_id = Some(a.id.clone());
                    ev.change_id = Some(c.id.clone());
                    ev.action = Some(a.request.action.clone());
                    ev.resource = Some(a.request.resource.clone());
                    ev.environment = Some(a.request.environment.clone());
                    ev.verdict = Some("cancelled".into());
                    write.events.push(ev);
                    write.mutations.push(Mutation::UpdateApproval {
                        approval: next,
                        expected_version: a.version,
                    });
                }
            }
            c.end_reason = reason.clone();
            self.transition(
                &mut c,
                ChangeState::Cancelled,
                Some(&who.reference()),
                None,
                &mut write,
                request_id,
            );
            write.mutations.push(Mutation::UpdateChange {
                change: c.clone(),
                expected_rev: expected,
            });
            match self.store.commit(write).await {
                Ok(_) => {
                    for aid in [&c.review_approval, &c.override_approval]
                        .into_iter()
                        .flatten()
                    {
                        // Waiters re-read the approval; the version is a hint.
                        self.notify(aid, 0);
                    }
                    return Ok(c);
                }
                // A vote or another cancel landed first: look again.
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(GovernorError::Conflict(format!(
            "change {id} is too contended; retry"
        )))
    }

    /// Reports a deploy of `id` as done, for CI that asked for the deploy
    /// decision itself rather than through `countersign run` (which reports
    /// on its own): the outcome of the change's latest deploy decision.
    pub async fn change_deployed(
        &self,
        who: &Principal,
        id: &str,
        request_id: Option<&str>,
    ) -> Result<Change, GovernorError> {
        let c = self.change(id).await?;
        let Some(decision) = c.deploy_decision.clone() else {
            return Err(GovernorError::Conflict(format!(
                "change {id} has no allowed deploy decision to report on; deploy it with `{}` first",
                self.config
                    .changes
                    .kind(&c.kind)
                    .map_or("<kind>.deploy", |k| k.deploy_action.as_str())
            )));
        };
        self.report_outcome(
            who,
            &decision,
            crate::verdict::Outcome {
                status: "executed".into(),
                ..Default::default()
            },
            request_id,
        )
        .await?;
        self.change(id).await
    }

    pub(super) async fn siblings(
        &self,
        subject: &ResourceRef,
    ) -> Result<Vec<Change>, GovernorError> {
        Ok(self
            .store
            .changes(&ChangeFilter {
                subject: Some(subject.clone()),
                limit: SIBLINGS,
                ..ChangeFilter::default()
            })
            .await?)
    }

    pub(super) async fn commit_change_write(
        &self,
        write: Write,
    ) -> Result<Vec<u64>, GovernorError> {
        self.store.commit(write).await.map_err(|e| match e {
            StoreError::Conflict(w) => {
                GovernorError::Conflict(format!("{w} changed concurrently; retry"))
            }
            other => other.into(),
        })
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
        let now = Timestamp::now();
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
        if c.kind != "policy" {
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

    /// Sets `c`'s state and records the transition (the caller writes `c`).
    pub(super) fn transition(
        &self,
        c: &mut Change,
        to: ChangeState,
        by: Option<&PrincipalRef>,
        extra: Option<Value>,
        write: &mut Write,
        request_id: Option<&str>,
    ) {
        let from = c.state;
        c.state = to;
        c.rev += 1;
        if to.is_final() {
            c.ended_at = Some(Timestamp::now());
        }
        let mut ev = self.change_event(EventKind::ChangeTransition, c, by, request_id);
        ev.verdict = Some(to.as_str().to_owned());
        let mut detail = Map::new();
        detail.insert("kind".into(), json!(c.kind));
        detail.insert("version".into(), json!(c.version));
        detail.insert("artifact_sha256".into(), json!(c.artifact_sha256));
        detail.insert("from".into(), json!(from.as_str()));
        detail.insert("to".into(), json!(to.as_str()));
        if !c.approved_by.is_empty() && to == ChangeState::Approved {
            detail.insert("approved_by".into(), json!(c.approved_by));
        }
        if let Some(Value::Object(m)) = extra {
            detail.extend(m);
        }
        ev.reason = c.end_reason.clone().filter(|_| to.is_final());
        ev.detail = Some(Value::Object(detail));
        write.events.push(ev);
    }

    pub(super) fn change_event(
        &self,
        kind: EventKind,
        c: &Change,
        by: Option<&PrincipalRef>,
        request_id: Option<&str>,
    ) -> AuditEvent {
        let mut ev = AuditEvent::new(kind).with_request_id(request_id);
        ev.principal = Some(by.cloned().unwrap_or_else(|| c.author.clone()));
        ev.owner = c.author_owner.clone().filter(|_| by.is_none());
        ev.resource = Some(c.subject.clone());
        ev.environment = Some(c.environment.clone());
        ev.change_id = Some(c.id.clone());
        if kind == EventKind::ChangeSubmitted {
            // Entries are RFC 8785 JSON with integers only: metrics go in as
            // the decimal text people wrote.
            let metrics: BTreeMap<&String, String> = c
                .evidence
                .metrics
                .iter()
                .map(|(k, v)| (k, fmt_num(*v)))
                .collect();
            ev.detail = Some(json!({
                "kind": c.kind,
                "version": c.version,
                "artifact_sha256": c.artifact_sha256,
                "metrics": metrics,
                "links": c.evidence.links,
                "emergency": c.emergency,
                "description": c.description,
            }));
        }
        ev
    }

    /// An approval that carries a change's review (or emergency override):
    /// the approval rules apply to its votes (quorum, eligible groups, no
    /// vote by the author or an agent author's owner).
    fn review_approval(
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
            id: ids::new_id(ids::APPROVAL)?,
            request,
            request_hash: hash,
            reason: c.description.clone().or_else(|| c.emergency.clone()),
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
                    consume(next, &cid, write, request_id);
                    if let Some(mut o) = other {
                        let v = o.version;
                        if o.state == ApprovalState::Approved {
                            consume(&mut o, &cid, write, request_id);
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

/// The entry that opens a change's review: reviewers are notified from it
/// (Slack, Teams, webhooks), as from a pending decision.
fn review_requested(a: &Approval, request_id: Option<&str>) -> AuditEvent {
    let mut ev = AuditEvent::new(EventKind::ChangeReviewRequested).with_request_id(request_id);
    ev.principal = Some(a.request.principal.clone());
    ev.owner = a.requester_owner.clone();
    ev.action = Some(a.request.action.clone());
    ev.resource = Some(a.request.resource.clone());
    ev.environment = Some(a.request.environment.clone());
    ev.approval_id = Some(a.id.clone());
    ev.change_id = a.change_id.clone();
    ev.request_hash = Some(a.request_hash.0.clone());
    ev.policies = vec![a.requirement.policy_id.clone()];
    ev.verdict = Some("pending".into());
    ev.reason = a.reason.clone();
    ev
}

/// Marks a change approval executed: the change consumed it.
fn consume(a: &mut Approval, change_id: &str, write: &mut Write, request_id: Option<&str>) {
    a.state = ApprovalState::Executed;
    a.executed_by = Some(change_id.to_owned());
    a.version += 1;
    let mut ev = AuditEvent::new(EventKind::Executed).with_request_id(request_id);
    ev.principal = Some(a.request.principal.clone());
    ev.approval_id = Some(a.id.clone());
    ev.change_id = Some(change_id.to_owned());
    ev.action = Some(a.request.action.clone());
    ev.resource = Some(a.request.resource.clone());
    ev.environment = Some(a.request.environment.clone());
    write.events.push(ev);
}

fn check_text(field: &str, s: &str, min: usize, max: usize) -> Result<(), GovernorError> {
    if s.len() < min || s.len() > max {
        return Err(GovernorError::InvalidRequest(format!(
            "`{field}` must be {min}-{max} bytes"
        )));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(GovernorError::InvalidRequest(format!(
            "`{field}` contains control characters"
        )));
    }
    Ok(())
}

/// `sha256:ABC…` or `abc…` → 64 lowercase hex digits.
pub fn normalize_digest(s: &str) -> Result<String, GovernorError> {
    let hex = s.strip_prefix("sha256:").unwrap_or(s).to_ascii_lowercase();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(GovernorError::InvalidRequest(format!(
            "`{}` is not a SHA-256 digest (64 hex digits, optionally prefixed `sha256:`)",
            super::truncate(s, 80)
        )));
    }
    Ok(hex)
}

/// Evidence metrics: a flat JSON object of finite numbers.
fn parse_metrics(v: Option<&Value>) -> Result<BTreeMap<String, f64>, GovernorError> {
    let Some(v) = v else {
        return Ok(BTreeMap::new());
    };
    let obj = v.as_object().ok_or_else(|| {
        GovernorError::InvalidRequest(
            "`metrics` must be a JSON object of metric name → number, e.g. {\"accuracy\": 0.93}"
                .into(),
        )
    })?;
    if obj.len() > MAX_METRICS {
        return Err(GovernorError::InvalidRequest(format!(
            "at most {MAX_METRICS} metrics"
        )));
    }
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        if !valid_metric_name(k) || k.starts_with("live.") {
            return Err(GovernorError::InvalidRequest(format!(
                "metric name `{}`: use letters, digits, `_`, `-`, `.` (at most 128)",
                super::truncate(k, 80)
            )));
        }
        let n = v.as_f64().filter(|n| n.is_finite()).ok_or_else(|| {
            GovernorError::InvalidRequest(format!(
                "metric `{k}` must be a number, not {}",
                match v {
                    Value::Null => "null",
                    Value::Bool(_) => "a boolean",
                    Value::String(_) => "a string",
                    Value::Array(_) => "an array",
                    Value::Object(_) => "an object",
                    Value::Number(_) => "a non-finite number",
                }
            ))
        })?;
        out.insert(k.clone(), n);
    }
    Ok(out)
}

fn check_links(links: &[String]) -> Result<Vec<String>, GovernorError> {
    if links.len() > MAX_LINKS {
        return Err(GovernorError::InvalidRequest(format!(
            "at most {MAX_LINKS} links"
        )));
    }
    for l in links {
        if l.len() > MAX_LINK
            || !(l.starts_with("https://") || l.starts_with("http://"))
            || l.chars().any(char::is_whitespace)
        {
            return Err(GovernorError::InvalidRequest(format!(
                "link `{}` must be an http(s) URL of at most {MAX_LINK} bytes",
                super::truncate(l, 80)
            )));
        }
    }
    Ok(links.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_must_be_a_flat_object_of_numbers() {
        let ok = parse_metrics(Some(&json!({"accuracy": 0.93, "p99_latency_ms": 180}))).unwrap();
        assert_eq!(ok["accuracy"], 0.93);
        for (bad, says) in [
            (json!([1, 2]), "JSON object"),
            (json!({"accuracy": "high"}), "a string"),
            (json!({"accuracy": null}), "null"),
            (json!({"nested": {"a": 1}}), "an object"),
            (json!({"bad name": 1}), "metric name"),
        ] {
            let e = parse_metrics(Some(&bad)).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn digests_are_normalized_and_checked() {
        let d = "A".repeat(64);
        assert_eq!(
            normalize_digest(&format!("sha256:{d}")).unwrap(),
            "a".repeat(64)
        );
        assert!(normalize_digest("sha256:abc").is_err());
        assert!(normalize_digest(&"g".repeat(64)).is_err());
    }
}
