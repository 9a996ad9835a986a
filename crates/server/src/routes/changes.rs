//! Change authorization: submit a change with its evidence, follow it
//! through its gates and reviews, report its deploy, roll it back; and the
//! inventory of what is live where.

use crate::auth::Authed;
use crate::error::ApiError;
use crate::{AppState, json, request_id};
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use countersign_core::ResourceRef;
use countersign_core::change::{Change, ChangeFilter, ChangeState, PolicyBundle};
use countersign_core::governor::ChangeInput;
use countersign_core::time::parse_duration;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// A policy change carries its whole policy set; everything else is small.
const MAX_CHANGE_BODY: usize = 3 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/changes", get(list).post(submit))
        .route("/v1/changes/{id}", get(show))
        .route("/v1/changes/{id}/deployed", post(deployed))
        .route("/v1/changes/{id}/rollback", post(rollback))
        .route("/v1/changes/{id}/cancel", post(cancel))
        .route("/v1/inventory", get(inventory))
        .layer(DefaultBodyLimit::max(MAX_CHANGE_BODY))
}

/// A subject as `Model::"name"` text or `{"type": …, "id": …}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SubjectBody {
    Text(String),
    Typed(ResourceRef),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    kind: String,
    #[serde(default)]
    subject: Option<SubjectBody>,
    version: String,
    #[serde(default)]
    artifact_sha256: Option<String>,
    environment: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    metrics: Option<Value>,
    #[serde(default)]
    links: Vec<String>,
    #[serde(default)]
    emergency: Option<String>,
    #[serde(default)]
    policy: Option<PolicyBundle>,
}

async fn submit(
    State(s): State<AppState>,
    Authed(who): Authed,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let b: SubmitBody = json::parse(&headers, &body)?;
    let subject = match b.subject {
        None => None,
        Some(SubjectBody::Typed(r)) => Some(r),
        Some(SubjectBody::Text(t)) => Some(ResourceRef::parse(&t).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_request",
                format!("invalid subject `{t}`: use Type::\"id\", e.g. Model::\"fraud-detector\""),
            )
        })?),
    };
    let rid = request_id::current();
    let c = s
        .governor
        .submit_change(
            &who,
            ChangeInput {
                kind: b.kind,
                subject,
                version: b.version,
                artifact_sha256: b.artifact_sha256,
                environment: b.environment,
                description: b.description,
                metrics: b.metrics,
                links: b.links,
                emergency: b.emergency,
                policy: b.policy,
            },
            rid.as_deref(),
        )
        .await?;
    tracing::info!(change = %c.id, kind = %c.kind, subject = %c.subject, environment = %c.environment, state = c.state.as_str(), "change submitted");
    Ok((StatusCode::CREATED, Json(view(&c, true))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    kind: Option<String>,
    subject: Option<String>,
    environment: Option<String>,
    state: Option<String>,
    limit: Option<usize>,
}

async fn list(
    State(s): State<AppState>,
    Authed(_): Authed,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(json::query_error)?;
    let state = match q.state.as_deref() {
        None | Some("all") => None,
        Some(x) => Some(ChangeState::parse(x).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                format!("unknown state `{x}`: use checks_failed, awaiting_review, approved, rejected, expired, cancelled, superseded, deployed, rolled_back or all"),
            )
        })?),
    };
    let subject = q
        .subject
        .map(|t| {
            ResourceRef::parse(&t).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("invalid subject `{t}`: use Type::\"id\""),
                )
            })
        })
        .transpose()?;
    let items = s
        .governor
        .changes(&ChangeFilter {
            kind: q.kind,
            subject,
            environment: q.environment,
            state,
            limit: q.limit.unwrap_or(100).min(1000),
        })
        .await?;
    let items: Vec<Value> = items.iter().map(|c| view(c, false)).collect();
    Ok(Json(json!({ "changes": items })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShowQuery {
    /// Long-poll: wait up to this long (`30s`, `2m`) for the state to change.
    wait: Option<String>,
    /// The state the client has seen; the wait ends when it differs.
    state: Option<String>,
}

async fn show(
    State(s): State<AppState>,
    Authed(_): Authed,
    Path(id): Path<String>,
    q: Result<Query<ShowQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(json::query_error)?;
    let mut c = s.governor.change(&id).await?;
    if let Some(w) = q.wait {
        let wait = parse_duration(&w).ok_or_else(|| {
            ApiError::bad_request("invalid_query", format!("invalid wait `{w}`: use e.g. 30s"))
        })?;
        let deadline = tokio::time::Instant::now() + wait.min(s.config.max_wait);
        let seen = q.state.unwrap_or_else(|| c.state.as_str().to_owned());
        // Reviews move changes along with their approvals: wake on any
        // approval update, and look again at least every second.
        let mut rx = s.governor.subscribe();
        while c.state.as_str() == seen && tokio::time::Instant::now() < deadline {
            let wake = deadline.min(tokio::time::Instant::now() + Duration::from_secs(1));
            let _ = tokio::time::timeout_at(wake, rx.recv()).await;
            c = s.governor.change(&id).await?;
        }
    }
    Ok(Json(view(&c, true)))
}

async fn deployed(
    State(s): State<AppState>,
    Authed(who): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let rid = request_id::current();
    let c = s
        .governor
        .change_deployed(&who, &id, rid.as_deref())
        .await?;
    Ok(Json(view(&c, true)))
}

/// A reason, for rollbacks and cancellations.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    #[serde(default)]
    reason: Option<String>,
}

/// The optional `{"reason": …}` body; an empty body has none.
fn reason(headers: &HeaderMap, body: &Bytes) -> Result<Option<String>, ApiError> {
    if body.is_empty() {
        return Ok(None);
    }
    Ok(json::parse::<ReasonBody>(headers, body)?.reason)
}

async fn rollback(
    State(s): State<AppState>,
    Authed(who): Authed,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let reason = reason(&headers, &body)?;
    let rid = request_id::current();
    let c = s
        .governor
        .rollback_change(&who, &id, reason, rid.as_deref())
        .await?;
    tracing::info!(change = %c.id, by = %who.name, "change rolled back");
    Ok(Json(view(&c, true)))
}

async fn cancel(
    State(s): State<AppState>,
    Authed(who): Authed,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let reason = reason(&headers, &body)?;
    let rid = request_id::current();
    let c = s
        .governor
        .cancel_change(&who, &id, reason, rid.as_deref())
        .await?;
    tracing::info!(change = %c.id, by = %who.name, "change cancelled");
    Ok(Json(view(&c, true)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryQuery {
    environment: Option<String>,
}

async fn inventory(
    State(s): State<AppState>,
    Authed(_): Authed,
    q: Result<Query<InventoryQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(json::query_error)?;
    let items = s.governor.inventory(q.environment.as_deref()).await?;
    Ok(Json(json!({ "inventory": items })))
}

/// A change as the API shows it; lists leave out policy texts.
fn view(c: &Change, full: bool) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.remove("rev");
        if !full && let Some(p) = &c.policy {
            m.insert(
                "policy".into(),
                json!({ "files": p.files.iter().map(|f| &f.name).collect::<Vec<_>>() }),
            );
        }
        m.insert("failed_gates".into(), json!(c.failed_gates().count()));
        m.insert(
            "current_gates".into(),
            json!(crate::change_view::current_gates(c)),
        );
    }
    v
}
