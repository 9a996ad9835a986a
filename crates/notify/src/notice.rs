//! Turns audit-log entries into notices: what a destination is told.
//! Only approval lifecycle events and policy denials are notices.

use countersign_core::approval::{Approval, tally};
use countersign_core::{AuditEvent, EventKind, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Longest context (SQL text, tool arguments) copied into a notice.
pub const MAX_CONTEXT: usize = 4000;

/// One event worth telling someone about.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notice {
    /// The webhook event type (`approval.requested`, …).
    pub event: String,
    /// Its audit-log sequence number.
    pub seq: u64,
    pub time: String,
    /// The approval id, or the decision id of a denial: events of one
    /// subject are delivered in order.
    pub subject: String,
    /// The event's facts (the webhook `data`).
    pub data: Value,
}

/// What routing looks at.
#[derive(Debug, Clone)]
pub struct RouteFacts {
    pub environment: String,
    pub action: String,
    pub resource: String,
    pub groups: Vec<String>,
    pub requester: String,
}

/// The kind of notice an audit event is, if any.
pub fn notice_kind(ev: &AuditEvent) -> Option<&'static str> {
    match ev.kind {
        EventKind::Decision => match ev.verdict.as_deref() {
            Some("pending") if ev.approval_id.is_some() => Some("approval.requested"),
            Some("deny") => Some("decision.denied"),
            _ => None,
        },
        // A change's review is an approval like any other for reviewers.
        EventKind::ChangeReviewRequested if ev.approval_id.is_some() => Some("approval.requested"),
        EventKind::Vote => Some("approval.vote"),
        EventKind::Approved | EventKind::Denied | EventKind::Expired | EventKind::Cancelled => {
            Some("approval.decided")
        }
        EventKind::Executed => Some("approval.executed"),
        _ => None,
    }
}

/// Limits a string to `max` bytes on a character boundary.
pub fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

pub fn approval_url(public_url: &str, id: &str) -> String {
    format!("{public_url}/ui/approvals/{id}")
}

/// The facts of an approval as reviewers need them.
pub fn approval_data(a: &Approval, public_url: &str) -> Value {
    let context = serde_json::to_string(&a.request.context).unwrap_or_default();
    json!({
        "approval_id": a.id,
        "state": a.state.as_str(),
        "url": approval_url(public_url, &a.id),
        "requester": a.request.principal,
        "owner": a.requester_owner,
        "action": a.request.action,
        "resource": a.request.resource.to_string(),
        "environment": a.request.environment,
        "reason": a.reason,
        "context": clip(&context, MAX_CONTEXT),
        "policy": a.requirement.policy_id,
        "message": a.requirement.message,
        "quorum": a.requirement.quorum,
        "approvals": tally(a).approvals(),
        "groups": a.requirement.groups,
        "expires_at": a.expires_at.rfc3339(),
        "decision_id": a.decision_id,
        "votes": a.votes.iter().map(|v| json!({
            "voter": v.voter,
            "decision": match v.decision {
                countersign_core::VoteDecision::Approve => "approve",
                countersign_core::VoteDecision::Deny => "deny",
            },
            "reason": v.reason,
            "via": v.via,
        })).collect::<Vec<_>>(),
    })
}

/// Builds the notice for an approval event; `a` is the approval as it is
/// now, `ev` the event (its votes and verdict are as of the event).
pub fn approval_notice(
    kind: &str,
    seq: u64,
    ev: &AuditEvent,
    a: &Approval,
    public_url: &str,
) -> Notice {
    let mut data = approval_data(a, public_url);
    if let Value::Object(m) = &mut data {
        if let Some(v) = &ev.verdict
            && kind == "approval.decided"
        {
            // The state this event recorded, not whatever came after.
            m.insert("state".into(), Value::from(v.clone()));
        }
        if kind == "approval.vote"
            && let Some(v) = ev.votes.first()
        {
            m.insert(
                "vote".into(),
                serde_json::to_value(v).unwrap_or(Value::Null),
            );
        }
    }
    Notice {
        event: kind.to_owned(),
        seq,
        time: ev.time.rfc3339(),
        subject: a.id.clone(),
        data,
    }
}

/// Builds the notice of a policy denial.
pub fn denial_notice(seq: u64, ev: &AuditEvent) -> Option<(Notice, RouteFacts)> {
    let decision_id = ev.decision_id.clone()?;
    let principal = ev.principal.clone()?;
    let action = ev.action.clone()?;
    let resource = ev.resource.clone()?;
    let environment = ev.environment.clone()?;
    let deny_reason = ev
        .detail
        .as_ref()
        .and_then(|d| d.get("deny_reason"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let facts = RouteFacts {
        environment: environment.clone(),
        action: action.clone(),
        resource: format!("{}::{}", resource.kind, resource.id),
        groups: Vec::new(),
        requester: principal.name.clone(),
    };
    let data = json!({
        "decision_id": decision_id,
        "principal": principal,
        "owner": ev.owner,
        "action": action,
        "resource": resource.to_string(),
        "environment": environment,
        "reason": ev.reason,
        "deny_reason": deny_reason,
        "policies": ev.policies,
    });
    Some((
        Notice {
            event: "decision.denied".into(),
            seq,
            time: ev.time.rfc3339(),
            subject: decision_id,
            data,
        },
        facts,
    ))
}

pub fn route_facts(a: &Approval) -> RouteFacts {
    RouteFacts {
        environment: a.request.environment.clone(),
        action: a.request.action.clone(),
        resource: format!("{}::{}", a.request.resource.kind, a.request.resource.id),
        groups: a.requirement.groups.clone(),
        requester: a.request.principal.name.clone(),
    }
}

/// Milliseconds now (outbox clocks).
pub fn now_ms() -> i64 {
    Timestamp::now().millis()
}
