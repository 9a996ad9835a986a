//! Slack's interactivity endpoint: button clicks on approval messages.
//! Order matters: size limit, signature and replay check, then parsing.
//! Slack wants an answer within 3 s, so the vote is cast in a task after the
//! acknowledgement; a refusal is shown to the clicking user only
//! (chat.postEphemeral), and the message itself is updated through the
//! outbox when the vote's audit event is tailed.

use super::SlackCtx;
use super::api::SlackApi;
use super::blocks::{APPROVE, DENY};
use super::verify::Rejection;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use countersign_core::governor::VoteInput;
use countersign_core::ids;
use countersign_core::{
    AuditEvent, EventKind, GovernorError, Principal, PrincipalKind, VoteDecision, Write,
};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;

/// Largest interaction payload accepted (Slack's are a few KiB).
pub const MAX_BODY: usize = 64 * 1024;
/// How long casting one vote may take in the background.
const VOTE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
struct Form {
    payload: String,
}

/// The parts of a `block_actions` payload we use.
#[derive(Debug)]
struct Click {
    user: String,
    channel: Option<String>,
    approval: String,
    decision: VoteDecision,
}

fn parse(body: &[u8]) -> Result<Click, String> {
    let form: Form =
        serde_urlencoded::from_bytes(body).map_err(|_| "body is not a Slack payload form")?;
    let p: Value = serde_json::from_str(&form.payload).map_err(|_| "payload is not JSON")?;
    if p["type"].as_str() != Some("block_actions") {
        return Err("not a block_actions payload".into());
    }
    let action = p["actions"]
        .as_array()
        .and_then(|a| a.first())
        .ok_or("no action")?;
    let decision = match action["action_id"].as_str() {
        Some(APPROVE) => VoteDecision::Approve,
        Some(DENY) => VoteDecision::Deny,
        _ => return Err("not a vote button".into()),
    };
    let approval = action["value"].as_str().unwrap_or_default();
    if !ids::is_id(ids::APPROVAL, approval) {
        return Err("button value is not an approval id".into());
    }
    let user = p["user"]["id"].as_str().unwrap_or_default();
    if user.is_empty() || user.len() > 64 || !user.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err("no valid user id".into());
    }
    let channel = p["channel"]["id"]
        .as_str()
        .filter(|c| c.len() <= 64 && c.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(str::to_owned);
    Ok(Click {
        user: user.to_owned(),
        channel,
        approval: approval.to_owned(),
        decision,
    })
}

pub async fn handle(
    State(ctx): State<Arc<SlackCtx>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let rid = ids::new_id(ids::REQUEST).unwrap_or_else(|_| "req_unknown".into());
    let span = tracing::info_span!("slack_interaction", request_id = %rid);
    async move {
        let now = countersign_core::Timestamp::now().millis() / 1000;
        if let Err(r) = ctx.verifier.check(&headers, &body, now) {
            tracing::warn!(reason = %r, "slack request refused");
            if ctx.may_audit_refusal(now) {
                audit_refusal(&ctx, r, &rid).await;
            } else {
                tracing::warn!("slack refusal not audited: over the per-minute budget");
            }
            return StatusCode::UNAUTHORIZED;
        }
        let click = match parse(&body) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "slack payload ignored");
                return StatusCode::BAD_REQUEST;
            }
        };
        let task_ctx = Arc::clone(&ctx);
        let task_rid = rid.clone();
        tokio::spawn(
            async move {
                if tokio::time::timeout(VOTE_TIMEOUT, cast(&task_ctx, click, &task_rid))
                    .await
                    .is_err()
                {
                    tracing::error!("slack vote timed out");
                }
            }
            .in_current_span(),
        );
        StatusCode::OK
    }
    .instrument(span)
    .await
}

async fn audit_refusal(ctx: &SlackCtx, r: Rejection, rid: &str) {
    let mut ev = AuditEvent::new(EventKind::AuthFailed).with_request_id(Some(rid));
    ev.reason = Some(r.to_string());
    ev.detail = Some(serde_json::json!({ "channel": "slack" }));
    if let Err(e) = ctx.governor.store().commit(Write::event(ev)).await {
        tracing::error!(error = %e, "cannot audit refused slack request");
    }
}

async fn cast(ctx: &SlackCtx, click: Click, rid: &str) {
    let voter = match resolve(ctx, &click.user).await {
        Ok(p) => p,
        Err(msg) => {
            tell(&ctx.api, &click, &msg).await;
            return;
        }
    };
    let input = VoteInput {
        decision: click.decision,
        reason: None,
        via: "slack".into(),
    };
    match ctx
        .governor
        .vote(&voter, &click.approval, input, Some(rid))
        .await
    {
        Ok(a) => {
            tracing::info!(approval = %a.id, voter = %voter.name, state = a.state.as_str(), "slack vote cast")
        }
        Err(e) => {
            tracing::info!(approval = %click.approval, voter = %voter.name, error = %e, "slack vote refused");
            let msg = match &e {
                GovernorError::Unavailable(_) | GovernorError::Internal(_) => {
                    "Countersign could not record your vote; try again or use the link.".to_owned()
                }
                other => format!("Your vote was not counted: {other}"),
            };
            tell(&ctx.api, &click, &msg).await;
        }
    }
}

/// Maps a Slack user to an enabled human principal: the explicit mapping
/// first, else the confirmed e-mail Slack reports.
async fn resolve(ctx: &SlackCtx, slack_user: &str) -> Result<Principal, String> {
    let snap = ctx.governor.snapshot();
    let found = match ctx.users.get(slack_user) {
        Some(name) => snap.principals.get(name).cloned(),
        None => {
            let email = ctx.api.confirmed_email(slack_user).await.map_err(|e| {
                tracing::warn!(error = %e, "users.info failed");
                "Countersign could not look up your Slack account; try again.".to_owned()
            })?;
            email.and_then(|m| {
                snap.principals
                    .values()
                    .find(|p| {
                        p.email
                            .as_deref()
                            .is_some_and(|pm| pm.eq_ignore_ascii_case(&m))
                    })
                    .cloned()
            })
        }
    };
    match found {
        Some(p) if p.kind == PrincipalKind::User && !p.disabled => Ok(p),
        _ => Err("Your Slack account is not linked to an enabled Countersign user.".into()),
    }
}

/// Tells only the clicking user (ephemeral); best effort.
async fn tell(api: &SlackApi, click: &Click, msg: &str) {
    let Some(channel) = &click.channel else {
        return;
    };
    if let Err(e) = api.post_ephemeral(channel, &click.user, msg).await {
        tracing::warn!(error = %e, "cannot tell slack user");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(payload: &Value) -> Vec<u8> {
        serde_urlencoded::to_string([("payload", payload.to_string())])
            .unwrap()
            .into_bytes()
    }

    #[test]
    fn parses_a_block_actions_click() {
        let id = "apr_0123456789abcdef0123456789abcdef";
        let p = serde_json::json!({"type": "block_actions", "user": {"id": "U1"},
            "channel": {"id": "C1"}, "actions": [{"action_id": APPROVE, "value": id}]});
        let c = parse(&form(&p)).unwrap();
        assert_eq!((c.user.as_str(), c.approval.as_str()), ("U1", id));
        assert_eq!(c.decision, VoteDecision::Approve);
        let bad = serde_json::json!({"type": "block_actions", "user": {"id": "U1"},
            "actions": [{"action_id": APPROVE, "value": "apr_../../x"}]});
        assert!(parse(&form(&bad)).is_err());
        assert!(parse(b"not a form").is_err());
    }
}
