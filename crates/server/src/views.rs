//! JSON shapes the API returns. Kept apart from domain types so the wire
//! format is deliberate: times as RFC 3339, no secrets, effective states.

use countersign_core::approval::{Approval, tally};
use countersign_core::{Principal, Timestamp, TokenRecord};
use serde::Serialize;
use serde_json::{Value, json};

pub fn approval(a: &Approval, now: Timestamp) -> Value {
    let t = tally(a);
    let state = a.effective_state(now);
    json!({
        "id": a.id,
        "state": state.as_str(),
        "version": a.version,
        "request": {
            "principal": a.request.principal,
            "owner": a.requester_owner,
            "action": a.request.action,
            "resource": a.request.resource,
            "environment": a.request.environment,
            "context": a.request.context,
        },
        "reason": a.reason,
        "request_hash": a.request_hash,
        "requirement": {
            "policy": a.requirement.policy_id,
            "quorum": a.requirement.quorum,
            "groups": a.requirement.groups,
            "reason_required": a.requirement.reason_required,
            "owner_may_approve": a.requirement.owner_may_approve,
            "message": a.requirement.message,
        },
        "approvals": t.approvals(),
        "votes": a.votes.iter().map(|v| json!({
            "voter": v.voter,
            "decision": v.decision,
            "reason": v.reason,
            "at": v.at.rfc3339(),
            "via": v.via,
        })).collect::<Vec<_>>(),
        "policy_hash": a.policy_hash,
        // A change's review was opened by its change, not by a decision.
        "decision_id": if a.change_id.is_some() { None } else { Some(&a.decision_id) },
        "change_id": a.change_id,
        "created_at": a.created_at.rfc3339(),
        "expires_at": a.expires_at.rfc3339(),
        "expires_in_secs": now.until(a.expires_at).as_secs(),
        "decided_at": a.decided_at.map(|t| t.rfc3339()),
        "executed_by": a.executed_by,
    })
}

#[derive(Serialize)]
pub struct PrincipalView<'a> {
    pub name: &'a str,
    pub kind: &'static str,
    pub groups: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
    pub disabled: bool,
    pub created_at: String,
}

pub fn principal(p: &Principal) -> PrincipalView<'_> {
    PrincipalView {
        name: &p.name,
        kind: p.kind.as_str(),
        groups: &p.groups,
        owner: p.owner.as_deref(),
        email: p.email.as_deref(),
        disabled: p.disabled,
        created_at: p.created_at.rfc3339(),
    }
}

/// A token without its secret or even its hash.
pub fn token(t: &TokenRecord, now: Timestamp) -> Value {
    json!({
        "id": t.id,
        "principal": t.principal,
        "label": t.label,
        "created_at": t.created_at.rfc3339(),
        "expires_at": t.expires_at.map(|e| e.rfc3339()),
        "revoked_at": t.revoked_at.map(|e| e.rfc3339()),
        "active": t.is_active(now),
    })
}
