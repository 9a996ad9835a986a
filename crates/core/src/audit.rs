//! Audit events: one canonical record per decision, vote, expiry, outcome and
//! admin change. Events are built here and handed to the store together with
//! the state change they describe (see [`crate::store::Write`]); the store
//! assigns the sequence number and appends the canonical JSON to the log.
//! Large payloads (SQL text, tool arguments) stay in the store's payload
//! table: the entry carries their SHA-256.

use crate::principal::PrincipalRef;
use crate::request::ResourceRef;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Event types. The string form is what entries carry and filters match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "decision")]
    Decision,
    #[serde(rename = "decision.outcome")]
    Outcome,
    #[serde(rename = "approval.vote")]
    Vote,
    #[serde(rename = "approval.vote_refused")]
    VoteRefused,
    #[serde(rename = "approval.approved")]
    Approved,
    #[serde(rename = "approval.denied")]
    Denied,
    #[serde(rename = "approval.expired")]
    Expired,
    #[serde(rename = "approval.cancelled")]
    Cancelled,
    #[serde(rename = "approval.executed")]
    Executed,
    #[serde(rename = "auth.failed")]
    AuthFailed,
    #[serde(rename = "request.rejected")]
    RequestRejected,
    #[serde(rename = "principal.created")]
    PrincipalCreated,
    #[serde(rename = "principal.disabled")]
    PrincipalDisabled,
    #[serde(rename = "token.created")]
    TokenCreated,
    #[serde(rename = "token.revoked")]
    TokenRevoked,
    #[serde(rename = "policy.loaded")]
    PolicyLoaded,
    #[serde(rename = "policy.rejected")]
    PolicyRejected,
    #[serde(rename = "log.initialized")]
    LogInitialized,
    /// A notification about an approval or decision left the outbox
    /// (Slack, Teams, webhook); `detail` names the channel and destination.
    #[serde(rename = "notification.sent")]
    NotificationSent,
    /// An administrator trusted an MCP tool's definition (its hash) so
    /// that agents may see and call it (tool pinning).
    #[serde(rename = "mcp.tool_pinned")]
    ToolPinned,
    /// A change (model, prompt, pipeline, policy version) was submitted
    /// with its evidence.
    #[serde(rename = "change.submitted")]
    ChangeSubmitted,
    /// One gate's result for a change: rule, expected, measured, status.
    #[serde(rename = "change.gate")]
    ChangeGate,
    /// A change moved to a new state (`verdict` is the new state).
    #[serde(rename = "change.transition")]
    ChangeTransition,
    /// A change's review (or emergency override) approval was opened:
    /// what tells reviewers, as a pending decision does for an action.
    #[serde(rename = "change.review_requested")]
    ChangeReviewRequested,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Decision => "decision",
            EventKind::Outcome => "decision.outcome",
            EventKind::Vote => "approval.vote",
            EventKind::VoteRefused => "approval.vote_refused",
            EventKind::Approved => "approval.approved",
            EventKind::Denied => "approval.denied",
            EventKind::Expired => "approval.expired",
            EventKind::Cancelled => "approval.cancelled",
            EventKind::Executed => "approval.executed",
            EventKind::AuthFailed => "auth.failed",
            EventKind::RequestRejected => "request.rejected",
            EventKind::PrincipalCreated => "principal.created",
            EventKind::PrincipalDisabled => "principal.disabled",
            EventKind::TokenCreated => "token.created",
            EventKind::TokenRevoked => "token.revoked",
            EventKind::PolicyLoaded => "policy.loaded",
            EventKind::PolicyRejected => "policy.rejected",
            EventKind::LogInitialized => "log.initialized",
            EventKind::NotificationSent => "notification.sent",
            EventKind::ToolPinned => "mcp.tool_pinned",
            EventKind::ChangeSubmitted => "change.submitted",
            EventKind::ChangeGate => "change.gate",
            EventKind::ChangeTransition => "change.transition",
            EventKind::ChangeReviewRequested => "change.review_requested",
        }
    }
}

/// A vote as recorded in an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteRecord {
    pub voter: String,
    pub decision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub via: String,
}

/// One audit event. Every field but `kind` and `time` is optional so one type
/// fits all events; absent fields are omitted from the canonical entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub time: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<PrincipalRef>,
    /// The accountable owner when the principal is an agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// The change this event is about (change events, deploy decisions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub votes: Vec<VoteRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// SHA-256 (hex) of the payload kept in the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_hash: Option<String>,
    /// Small structured facts specific to the event type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
    /// The payload itself; stored beside the log, never inside an entry.
    #[serde(skip)]
    pub payload: Option<Vec<u8>>,
}

impl AuditEvent {
    pub fn new(kind: EventKind) -> Self {
        AuditEvent {
            kind,
            time: Timestamp::now(),
            request_id: None,
            principal: None,
            owner: None,
            action: None,
            resource: None,
            environment: None,
            verdict: None,
            policies: Vec::new(),
            policy_hash: None,
            decision_id: None,
            request_hash: None,
            approval_id: None,
            change_id: None,
            votes: Vec::new(),
            outcome: None,
            reason: None,
            payload_hash: None,
            detail: None,
            payload: None,
        }
    }

    /// Attaches a large payload: the entry carries its hash, the store keeps it.
    pub fn with_payload(mut self, bytes: Vec<u8>) -> Self {
        self.payload_hash = Some(hex::encode(Sha256::digest(&bytes)));
        self.payload = Some(bytes);
        self
    }

    pub fn with_request_id(mut self, id: Option<&str>) -> Self {
        self.request_id = id.map(str::to_owned);
        self
    }

    /// The JSON value of this event with its sequence number: what the store
    /// canonicalizes (RFC 8785) into a log entry.
    pub fn to_entry_value(&self, seq: u64) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.insert("seq".into(), Value::from(seq));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_value_has_seq_type_and_no_payload() {
        let e = AuditEvent::new(EventKind::Decision).with_payload(b"DROP TABLE orders".to_vec());
        let v = e.to_entry_value(7);
        assert_eq!(v["seq"], 7);
        assert_eq!(v["type"], "decision");
        assert!(v.get("payload").is_none());
        assert_eq!(v["payload_hash"].as_str().unwrap().len(), 64);
        assert!(v.get("policies").is_none(), "empty lists are omitted");
    }

    #[test]
    fn kind_strings_match_serde() {
        for k in [
            EventKind::Decision,
            EventKind::Expired,
            EventKind::AuthFailed,
            EventKind::NotificationSent,
            EventKind::ToolPinned,
            EventKind::ChangeSubmitted,
            EventKind::ChangeGate,
            EventKind::ChangeTransition,
            EventKind::ChangeReviewRequested,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }
}
