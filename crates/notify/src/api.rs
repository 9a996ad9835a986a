//! `GET /v1/notifications[?state=pending|failed|sent][&limit=N]`: the
//! outbox, newest first, with counts by state. Administrators only.

use crate::Shared;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use countersign_core::governor::AuthFailure;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    state: Option<String>,
    limit: Option<usize>,
}

fn error(status: StatusCode, code: &str, message: &str, rid: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}, "request_id": rid})),
    )
        .into_response()
}

fn bearer(h: &HeaderMap) -> Option<&str> {
    let v = h.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let rid = countersign_core::ids::new_id(countersign_core::ids::REQUEST)
        .unwrap_or_else(|_| "req_unknown".into());
    let presented = bearer(&headers);
    let who = match presented.map_or(Err(AuthFailure::Malformed), |t| {
        shared.governor.authenticate(t)
    }) {
        Ok(p) => p,
        Err(f) => {
            tracing::warn!(request_id = %rid, reason = %f, "authentication failed");
            if let Err(e) = shared
                .governor
                .audit_auth_failure(f, presented, "api", Some(&rid))
                .await
            {
                tracing::error!(request_id = %rid, error = %e, "cannot audit failed authentication");
            }
            return error(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "authentication failed",
                &rid,
            );
        }
    };
    if !shared.governor.is_admin(&who) {
        return error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only administrators may list notifications",
            &rid,
        );
    }
    let Ok(Query(q)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "query: use state=pending|failed|sent and limit",
            &rid,
        );
    };
    if let Some(s) = &q.state
        && !["pending", "failed", "sent"].contains(&s.as_str())
    {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "state must be pending, failed or sent",
            &rid,
        );
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = match shared.outbox.list(q.state.clone(), limit).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "cannot read outbox");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the outbox cannot be read",
                &rid,
            );
        }
    };
    let counts = shared.outbox.counts().await.unwrap_or_default();
    let ms = |v: i64| countersign_core::Timestamp(v).rfc3339();
    let items: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "destination": r.dest,
                "subject": r.subject,
                "event": r.event,
                "event_seq": r.seq,
                "state": r.state,
                "attempts": r.attempts,
                "next_attempt_at": (r.state != "sent").then(|| ms(r.next_at)),
                "last_error": r.last_error,
                "created_at": ms(r.created_at),
                "sent_at": r.sent_at.map(ms),
            })
        })
        .collect();
    (
        StatusCode::OK,
        Json(json!({"notifications": items, "counts": counts})),
    )
        .into_response()
}
