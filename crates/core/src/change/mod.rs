//! Change authorization: a model, prompt, pipeline or policy version moving
//! into an environment, with its evidence, checked against gates before a
//! `<kind>.deploy` of it is allowed.
//!
//! A change's lifecycle:
//!
//! ```text
//! submitted → checks_failed
//!           → awaiting_review → approved → deployed → rolled_back
//!                             → rejected | expired | cancelled
//!                               approved → superseded
//! ```
//!
//! Gates ([`rules`]) are evaluated when a change is submitted (metrics,
//! promotion order, policy tests) and again when it is deployed (soak,
//! wait timer, freeze windows). Reviews are approvals: the governor opens
//! one bound to the change, and the approval rules (quorum, eligible groups,
//! no self-review) apply to its votes.

pub mod gates;
pub mod rules;
pub mod threshold;

pub use rules::{ChangeRules, ChangesConfig, GateRules, KindRule};

use crate::principal::PrincipalRef;
use crate::request::ResourceRef;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The built-in kind whose changes replace an environment's policy set.
pub const POLICY_KIND: &str = "policy";

/// Where a change is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeState {
    /// A gate failed at submission; terminal (submit a new change).
    ChecksFailed,
    /// Checks passed; reviews are open.
    AwaitingReview,
    /// Reviewed and approved: may be deployed.
    Approved,
    /// A reviewer denied it.
    Rejected,
    /// Its review expired before quorum.
    Expired,
    /// Its author withdrew it before review ended.
    Cancelled,
    /// A newer change for the same subject and environment was approved
    /// before this one was deployed.
    Superseded,
    /// Deployed (its deploy's outcome was reported as executed).
    Deployed,
    /// Deployed, then rolled back: the previous deployment is live again.
    RolledBack,
}

impl ChangeState {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeState::ChecksFailed => "checks_failed",
            ChangeState::AwaitingReview => "awaiting_review",
            ChangeState::Approved => "approved",
            ChangeState::Rejected => "rejected",
            ChangeState::Expired => "expired",
            ChangeState::Cancelled => "cancelled",
            ChangeState::Superseded => "superseded",
            ChangeState::Deployed => "deployed",
            ChangeState::RolledBack => "rolled_back",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "checks_failed" => ChangeState::ChecksFailed,
            "awaiting_review" => ChangeState::AwaitingReview,
            "approved" => ChangeState::Approved,
            "rejected" => ChangeState::Rejected,
            "expired" => ChangeState::Expired,
            "cancelled" => ChangeState::Cancelled,
            "superseded" => ChangeState::Superseded,
            "deployed" => ChangeState::Deployed,
            "rolled_back" => ChangeState::RolledBack,
            _ => return None,
        })
    }

    /// Nothing more will happen to it (a deployed change can still be
    /// rolled back, so it is not final).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ChangeState::ChecksFailed
                | ChangeState::Rejected
                | ChangeState::Expired
                | ChangeState::Cancelled
                | ChangeState::Superseded
                | ChangeState::RolledBack
        )
    }
}

/// How one gate came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateStatus {
    Pass,
    Fail,
    /// Not applicable this time (e.g. a relative threshold with nothing
    /// live to compare with).
    Skipped,
    /// Decided later (reviews; soak and wait timers checked at deploy).
    Pending,
}

impl GateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GateStatus::Pass => "pass",
            GateStatus::Fail => "fail",
            GateStatus::Skipped => "skipped",
            GateStatus::Pending => "pending",
        }
    }
}

/// One gate's result: what was expected, what was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    /// `metric`, `promotion`, `soak`, `review`, `emergency`, `wait`,
    /// `freeze`, `policy.compile`, `policy.tests`.
    pub gate: String,
    /// The rule as written, e.g. `accuracy >= live.accuracy - 0.005`.
    pub rule: String,
    /// The bound, resolved: e.g. `>= 0.9125 (live 0.9175 - 0.005)`.
    pub expected: String,
    /// What the evidence says, e.g. `0.93`; absent when nothing was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<String>,
    pub status: GateStatus,
}

impl GateResult {
    pub fn new(
        gate: &str,
        rule: impl Into<String>,
        expected: impl Into<String>,
        measured: Option<String>,
        status: GateStatus,
    ) -> Self {
        GateResult {
            gate: gate.to_owned(),
            rule: rule.into(),
            expected: expected.into(),
            measured,
            status,
        }
    }
}

/// The evidence a change carries: the metrics of a benchmark or evaluation
/// run, and links (to the run, the dashboard, the pull request).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
}

/// A proposed policy set: what a `policy` change deploys. Stored with the
/// change, so what was reviewed is exactly what takes effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyBundle {
    pub schema: String,
    /// `(file name, Cedar text)`, e.g. `("policies.cedar", "...")`.
    pub files: Vec<PolicyFile>,
    /// Test cases (`policy test` TOML) run against the proposed set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cases: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyFile {
    pub name: String,
    pub text: String,
}

/// A change, as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub id: String,
    /// `model`, `prompt`, `pipeline`, `policy`, or a configured kind.
    pub kind: String,
    /// What changes, e.g. `Model::"fraud-detector"`.
    pub subject: ResourceRef,
    pub version: String,
    /// SHA-256 (hex) of the artifact; a deploy must present the same.
    pub artifact_sha256: String,
    pub environment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub author: PrincipalRef,
    /// The accountable owner when the author is an agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_owner: Option<String>,
    pub evidence: Evidence,
    /// An emergency change's reason: it may deploy during a freeze once its
    /// override is approved as well.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency: Option<String>,
    pub state: ChangeState,
    /// Every gate result so far, submission first, then deploy checks.
    pub gates: Vec<GateResult>,
    /// The approval that carries the review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_approval: Option<String>,
    /// The approval that carries an emergency override of a freeze.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_approval: Option<String>,
    /// Who approved it (reviewers, then override approvers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approved_by: Vec<String>,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_at: Option<Timestamp>,
    /// The decision that deployed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_by: Option<String>,
    /// The latest allowed deploy decision, until its outcome is reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_decision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    /// Why it ended (rejection, rollback), when someone said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<String>,
    /// The proposed policy set of a `policy` change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyBundle>,
    /// What the checks produced beyond gate results: for a policy change,
    /// its test report and its difference from the set live there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<serde_json::Value>,
    /// Bumped on every change; updates are compare-and-swap on it.
    pub rev: u64,
}

impl Change {
    /// The failing gates, for a readable refusal.
    pub fn failed_gates(&self) -> impl Iterator<Item = &GateResult> {
        self.gates.iter().filter(|g| g.status == GateStatus::Fail)
    }
}

/// Which changes to list.
#[derive(Debug, Clone, Default)]
pub struct ChangeFilter {
    pub kind: Option<String>,
    pub subject: Option<ResourceRef>,
    pub environment: Option<String>,
    pub state: Option<ChangeState>,
    pub limit: usize,
}

/// What is live for one subject in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryItem {
    pub kind: String,
    pub subject: ResourceRef,
    pub environment: String,
    pub change_id: String,
    pub version: String,
    pub artifact_sha256: String,
    pub since: Timestamp,
    pub author: String,
    pub approved_by: Vec<String>,
    pub metrics: BTreeMap<String, f64>,
}

impl InventoryItem {
    pub fn of(c: &Change) -> Option<Self> {
        Some(InventoryItem {
            kind: c.kind.clone(),
            subject: c.subject.clone(),
            environment: c.environment.clone(),
            change_id: c.id.clone(),
            version: c.version.clone(),
            artifact_sha256: c.artifact_sha256.clone(),
            since: c.deployed_at?,
            author: c.author.name.clone(),
            approved_by: c.approved_by.clone(),
            metrics: c.evidence.metrics.clone(),
        })
    }
}
