//! Approvals: list, show (with long-poll), vote, cancel.

use crate::auth::Authed;
use crate::error::ApiError;
use crate::{AppState, json, request_id, views};
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use countersign_core::approval::{Approval, ApprovalState, VoteDecision};
use countersign_core::governor::VoteInput;
use countersign_core::store::{ApprovalFilter, Store as _};
use countersign_core::time::parse_duration;
use countersign_core::{Principal, PrincipalKind, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/approvals", get(list))
        .route("/v1/approvals/{id}", get(show))
        .route("/v1/approvals/{id}/votes", post(vote))
        .route("/v1/approvals/{id}/cancel", post(cancel))
}

/// People and administrators see every approval (reviewers must); agents and
/// services see only their own.
fn may_see(s: &AppState, who: &Principal, a: &Approval) -> bool {
    who.kind == PrincipalKind::User || s.governor.is_admin(who) || a.requester().name == who.name
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    requester: Option<String>,
    limit: Option<usize>,
}

async fn list(
    State(s): State<AppState>,
    Authed(who): Authed,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(json::query_error)?;
    let state = match q.status.as_deref() {
        None | Some("all") => None,
        Some(x) => Some(ApprovalState::parse(x).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                format!("unknown status `{x}`: use pending, approved, denied, expired, cancelled, executed or all"),
            )
        })?),
    };
    let requester = if who.kind == PrincipalKind::User || s.governor.is_admin(&who) {
        q.requester
    } else {
        Some(who.name.clone())
    };
    let now = Timestamp::now();
    let items = s
        .store
        .approvals(&ApprovalFilter {
            state,
            requester,
            limit: q.limit.unwrap_or(100).min(1000),
        })
        .await?;
    let items: Vec<Value> = items
        .iter()
        // A pending approval past its TTL is not pending any more.
        .filter(|a| state.is_none_or(|st| a.effective_state(now) == st))
        .map(|a| views::approval(a, now))
        .collect();
    Ok(Json(json!({ "approvals": items })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShowQuery {
    /// Long-poll: wait up to this long (`30s`, `2m`) for a change.
    wait: Option<String>,
    /// The version the client has; the wait ends when it differs.
    version: Option<u64>,
}

async fn show(
    State(s): State<AppState>,
    Authed(who): Authed,
    Path(id): Path<String>,
    q: Result<Query<ShowQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(json::query_error)?;
    let a = s
        .store
        .approval(&id)
        .await?
        .filter(|a| may_see(&s, &who, a))
        .ok_or_else(|| ApiError::not_found(format!("approval `{id}`")))?;
    let a = match q.wait {
        None => a,
        Some(w) => {
            let wait = parse_duration(&w).ok_or_else(|| {
                ApiError::bad_request("invalid_query", format!("invalid wait `{w}`: use e.g. 30s"))
            })?;
            let wait = wait.min(s.config.max_wait);
            let seen = q.version.unwrap_or(a.version);
            s.governor
                .wait_for_change(&id, seen, wait)
                .await?
                .unwrap_or(a)
        }
    };
    Ok(Json(views::approval(&a, Timestamp::now())))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VoteBody {
    decision: VoteDecision,
    #[serde(default)]
    reason: Option<String>,
    /// The client voting on the user's behalf (`cli`, `web` …); defaults to `api`.
    #[serde(default)]
    via: Option<String>,
}

async fn vote(
    State(s): State<AppState>,
    Authed(who): Authed,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let b: VoteBody = json::parse(&headers, &body)?;
    let via = match b.via.as_deref() {
        None => "api".to_owned(),
        Some(v @ ("api" | "cli" | "web")) => v.to_owned(),
        Some(v) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("unknown vote channel `{v}`"),
            ));
        }
    };
    let rid = request_id::current();
    let a = s
        .governor
        .vote(
            &who,
            &id,
            VoteInput {
                decision: b.decision,
                reason: b.reason,
                via,
            },
            rid.as_deref(),
        )
        .await?;
    tracing::info!(approval = %id, voter = %who.name, state = a.state.as_str(), "vote cast");
    Ok(Json(views::approval(&a, Timestamp::now())))
}

async fn cancel(
    State(s): State<AppState>,
    Authed(who): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let rid = request_id::current();
    let a = s.governor.cancel(&who, &id, rid.as_deref()).await?;
    Ok(Json(views::approval(&a, Timestamp::now())))
}
