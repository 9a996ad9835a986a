//! `POST /v1/decisions` and outcome reports.

use crate::auth::Authed;
use crate::error::ApiError;
use crate::{AppState, json, request_id};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use countersign_core::ResourceRef;
use countersign_core::governor::DecisionInput;
use countersign_core::verdict::{Decision, Outcome};
use serde::Deserialize;
use serde_json::{Map, Value, json};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/decisions", post(decide))
        .route("/v1/decisions/{id}/outcome", post(outcome))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    action: String,
    resource: ResourceRef,
    environment: String,
    #[serde(default)]
    context: Map<String, Value>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    approval_id: Option<String>,
}

async fn decide(
    State(s): State<AppState>,
    Authed(who): Authed,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Decision>, ApiError> {
    let b: DecisionBody = json::parse(&headers, &body)?;
    let rid = request_id::current();
    let d = s
        .governor
        .decide(
            &who,
            DecisionInput {
                action: b.action,
                resource: b.resource,
                environment: b.environment,
                context: b.context,
                reason: b.reason,
                approval_id: b.approval_id,
            },
            rid.as_deref(),
        )
        .await?;
    tracing::info!(
        principal = %who.name,
        decision = %d.id,
        verdict = d.verdict.as_str(),
        audit_seq = d.audit_seq,
        "decided"
    );
    Ok(Json(d))
}

async fn outcome(
    State(s): State<AppState>,
    Authed(who): Authed,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let o: Outcome = json::parse(&headers, &body)?;
    let rid = request_id::current();
    let seq = s
        .governor
        .report_outcome(&who, &id, o, rid.as_deref())
        .await?;
    Ok(Json(json!({ "decision_id": id, "audit_seq": seq })))
}
