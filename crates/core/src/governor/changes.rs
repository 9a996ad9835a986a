//! Changes: submission with its checks, reviews through approvals, and the
//! transitions that follow (approved, rejected, superseded, rolled back).
//! Each transition is one atomic write with its audit events, and every
//! gate result is an event of its own.

use super::change_input::{
    MAX_DESCRIPTION, MAX_REASON, MAX_VERSION, check_links, check_text, normalize_digest,
    parse_metrics,
};
use super::env_policies::{self, PolicyChecks};
use super::{DecisionInput, Governor};
use crate::audit::{AuditEvent, EventKind};
use crate::change::threshold::fmt_num;
use crate::change::{
    Change, ChangeFilter, ChangeState, Evidence, InventoryItem, PolicyBundle, gates,
};
use crate::error::GovernorError;
use crate::ids;
use crate::principal::{Principal, PrincipalRef};
use crate::request::ResourceRef;
use crate::store::{Mutation, StoreError, Write};
use crate::verdict::Verdict;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

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

/// How many changes of one subject are looked at for promotion and
/// liveness (newest first).
pub(super) const SIBLINGS: usize = 1000;
/// The subject of every `policy` change: a policy change replaces an
/// environment's whole set.
pub const POLICY_SUBJECT: &str = "countersign";
/// The action that proposing a change is, for policy.
pub const SUBMIT_ACTION: &str = "change.submit";

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

        // Proposing a change is itself an action policy decides (and the
        // audit log records): `change.submit` on the subject.
        let id = self.new_id(ids::CHANGE)?;
        self.authorize_submission(
            who,
            &id,
            &input.kind,
            &subject,
            &input.environment,
            &input.version,
            &digest,
            request_id,
        )
        .await?;
        let now = self.now();
        let siblings = self.siblings(&subject).await?;
        let mut change = Change {
            id,
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
                write.events.push(self.review_requested(&a, request_id));
                write.mutations.push(Mutation::CreateApproval(a));
            }
            if needs_override {
                let a = self.review_approval(&change, "override", &rules.emergency, now)?;
                change.override_approval = Some(a.id.clone());
                write.events.push(self.review_requested(&a, request_id));
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
        // New reviews wake their subscribers (the notifier) at once.
        for aid in [&change.review_approval, &change.override_approval]
            .into_iter()
            .flatten()
        {
            self.notify(aid, 0);
        }
        if installs {
            self.refresh_env_policies().await?;
        }
        Ok(change)
    }

    /// Asks policy whether `who` may propose this change (`change.submit`).
    /// A hold for approval is refused: a change's reviews are its gates.
    #[expect(
        clippy::too_many_arguments,
        reason = "the facts of the change being proposed, from one call site"
    )]
    async fn authorize_submission(
        &self,
        who: &Principal,
        id: &str,
        kind: &str,
        subject: &ResourceRef,
        environment: &str,
        version: &str,
        digest: &str,
        request_id: Option<&str>,
    ) -> Result<(), GovernorError> {
        let mut context = Map::new();
        context.insert(
            "change".into(),
            json!({ "id": id, "kind": kind, "version": version, "artifact_sha256": digest }),
        );
        let d = self
            .decide(
                who,
                DecisionInput {
                    action: SUBMIT_ACTION.into(),
                    resource: subject.clone(),
                    environment: environment.to_owned(),
                    context,
                    reason: None,
                    approval_id: None,
                },
                request_id,
            )
            .await?;
        match d.verdict {
            Verdict::Allow => Ok(()),
            Verdict::Deny => Err(GovernorError::Forbidden(format!(
                "you may not propose {kind} changes to {subject} in {environment}: {}",
                d.reason.unwrap_or_default()
            ))),
            Verdict::Pending => Err(GovernorError::Forbidden(format!(
                "policy holds `{SUBMIT_ACTION}` for approval, which changes do not support (their reviews are their gates); permit or forbid it instead"
            ))),
        }
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
            c.ended_at = Some(self.now());
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
}
