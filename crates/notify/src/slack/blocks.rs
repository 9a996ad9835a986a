//! The Block Kit message of an approval: who, what, why, which policy, how
//! many votes until when, with Approve / Deny buttons while it is open and
//! the result once it ended.

use crate::notice::{approval_url, clip};
use countersign_core::VoteDecision;
use countersign_core::approval::{Approval, ApprovalState, tally};
use serde_json::{Value, json};

pub const APPROVE: &str = "countersign_approve";
pub const DENY: &str = "countersign_deny";

/// Slack mrkdwn needs `&`, `<` and `>` escaped; the rest is literal.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn who(a: &Approval) -> String {
    let p = &a.request.principal;
    match &a.requester_owner {
        Some(o) => format!("{} `{}` (owner: {})", p.kind, esc(&p.name), esc(o)),
        None => format!("{} `{}`", p.kind, esc(&p.name)),
    }
}

fn votes_line(a: &Approval) -> String {
    if a.votes.is_empty() {
        return "no votes yet".into();
    }
    a.votes
        .iter()
        .map(|v| {
            let d = match v.decision {
                VoteDecision::Approve => "approved",
                VoteDecision::Deny => "denied",
            };
            match &v.reason {
                Some(r) => format!(
                    "{} {d} via {} ({})",
                    esc(&v.voter),
                    esc(&v.via),
                    esc(&clip(r, 200))
                ),
                None => format!("{} {d} via {}", esc(&v.voter), esc(&v.via)),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The fallback text (notifications, screen readers).
pub fn text(a: &Approval) -> String {
    format!(
        "{}: {} on {} in {} by {}",
        status(a),
        a.request.action,
        a.request.resource,
        a.request.environment,
        a.request.principal.name
    )
}

fn status(a: &Approval) -> &'static str {
    match a.state {
        ApprovalState::Pending => "Approval needed",
        ApprovalState::Approved => "Approved",
        ApprovalState::Denied => "Denied",
        ApprovalState::Expired => "Expired",
        ApprovalState::Cancelled => "Cancelled",
        ApprovalState::Executed => "Approved and executed",
    }
}

pub fn blocks(a: &Approval, public_url: &str) -> Value {
    let t = tally(a);
    let groups = if a.requirement.groups.is_empty() {
        "any reviewer".to_owned()
    } else {
        a.requirement.groups.join(", ")
    };
    let context = serde_json::to_string_pretty(&a.request.context).unwrap_or_default();
    let mut out = vec![
        json!({"type": "header", "text": {"type": "plain_text",
            "text": clip(&format!("{}: {} on {}", status(a), a.request.action, a.request.resource), 140)}}),
        json!({"type": "section", "fields": [
            {"type": "mrkdwn", "text": format!("*Who*\n{}", who(a))},
            {"type": "mrkdwn", "text": format!("*Environment*\n`{}`", esc(&a.request.environment))},
            {"type": "mrkdwn", "text": format!("*Action*\n`{}`", esc(&a.request.action))},
            {"type": "mrkdwn", "text": format!("*Resource*\n`{}`", esc(&a.request.resource.to_string()))},
            {"type": "mrkdwn", "text": format!("*Policy*\n`{}`", esc(&a.requirement.policy_id))},
            {"type": "mrkdwn", "text": format!("*Votes*\n{} of {} from {} (until {})",
                t.approvals(), a.requirement.quorum, esc(&groups), a.expires_at.rfc3339())},
        ]}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*Why*\n{}",
            esc(&clip(a.reason.as_deref().unwrap_or("(no reason given)"), 1000)))}}),
    ];
    if !a.request.context.is_empty() {
        out.push(json!({"type": "section", "text": {"type": "mrkdwn",
            "text": format!("*Details*\n```{}```", esc(&clip(&context, 2500)))}}));
    }
    out.push(json!({"type": "context", "elements": [
        {"type": "mrkdwn", "text": format!("Votes: {}", votes_line(a))}]}));
    let link = json!({"type": "button", "action_id": "countersign_open",
        "text": {"type": "plain_text", "text": "Open in Countersign"},
        "url": approval_url(public_url, &a.id)});
    if a.state == ApprovalState::Pending {
        out.push(
            json!({"type": "actions", "block_id": "countersign_vote", "elements": [
                {"type": "button", "action_id": APPROVE, "style": "primary", "value": a.id,
                 "text": {"type": "plain_text", "text": "Approve"}},
                {"type": "button", "action_id": DENY, "style": "danger", "value": a.id,
                 "text": {"type": "plain_text", "text": "Deny"}},
                link,
            ]}),
        );
    } else {
        out.push(json!({"type": "section", "text": {"type": "mrkdwn",
            "text": format!("*{}*", status(a))}}));
        out.push(json!({"type": "actions", "elements": [link]}));
    }
    Value::Array(out)
}
