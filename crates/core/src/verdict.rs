//! What the governor answers.

use crate::principal::PrincipalRef;
use crate::request::{RequestHash, ResourceRef};
use crate::time::Timestamp;
use countersign_policy::Obligation;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allow,
    Deny,
    Pending,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::Pending => "pending",
        }
    }
}

/// The pending approval a decision points at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingApproval {
    pub id: String,
    pub quorum: u32,
    pub approvals: u32,
    pub groups: Vec<String>,
    pub expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One decision, as returned to the front that asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub id: String,
    pub verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The policies that determined the verdict.
    pub policies: Vec<String>,
    pub obligations: Vec<ObligationView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<PendingApproval>,
    /// The approval this allow consumed, when it was released by one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    pub policy_hash: String,
    pub request_hash: RequestHash,
    /// Sequence number of this decision's entry in the audit log.
    pub audit_seq: u64,
}

/// An obligation attached to an allow, e.g. mask these columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObligationView {
    pub kind: String,
    pub targets: Vec<String>,
    pub policy: String,
}

impl From<&Obligation> for ObligationView {
    fn from(o: &Obligation) -> Self {
        ObligationView {
            kind: o.kind.clone(),
            targets: o.targets.clone(),
            policy: o.policy_id.clone(),
        }
    }
}

/// What the store remembers of a decision, for outcome reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub id: String,
    pub principal: PrincipalRef,
    pub action: String,
    pub resource: ResourceRef,
    pub environment: String,
    pub verdict: Verdict,
    pub request_hash: RequestHash,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    pub created_at: Timestamp,
    /// The change a deploy decision deploys: its executed outcome marks the
    /// change deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
    /// Set once, by the front that acted on an allow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
}

/// What happened after an allow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// `executed`, `failed` or `skipped`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_affected: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The HTTP status the upstream answered (HTTP gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Request body bytes sent upstream (HTTP gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_in: Option<u64>,
    /// Response body bytes returned to the client (HTTP gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_out: Option<u64>,
}

impl Outcome {
    pub const STATUSES: [&'static str; 3] = ["executed", "failed", "skipped"];
}
