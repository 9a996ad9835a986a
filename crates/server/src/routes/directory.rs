//! Principals and tokens (administrators), and `whoami`.

use crate::auth::Authed;
use crate::error::ApiError;
use crate::{AppState, json, request_id, views};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use countersign_core::governor::NewPrincipal;
use countersign_core::time::parse_duration;
use countersign_core::{PrincipalKind, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/whoami", get(whoami))
        .route("/v1/principals", get(list_principals).post(add_principal))
        .route("/v1/principals/{name}/disable", post(disable_principal))
        .route("/v1/tokens", get(list_tokens).post(create_token))
        .route("/v1/tokens/{id}/revoke", post(revoke_token))
}

async fn whoami(State(s): State<AppState>, Authed(who): Authed) -> Json<Value> {
    Json(json!({
        "principal": views::principal(&who),
        "admin": s.governor.is_admin(&who),
    }))
}

async fn list_principals(
    State(s): State<AppState>,
    Authed(who): Authed,
) -> Result<Json<Value>, ApiError> {
    if !s.governor.is_admin(&who) && who.kind != PrincipalKind::User {
        return Err(ApiError::forbidden(
            "agents and services cannot list the directory",
        ));
    }
    let snap = s.governor.snapshot();
    let mut all: Vec<_> = snap.principals.values().collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    let list: Vec<_> = all.into_iter().map(views::principal).collect();
    Ok(Json(json!({ "principals": list })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPrincipalBody {
    name: String,
    kind: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

async fn add_principal(
    State(s): State<AppState>,
    Authed(who): Authed,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let b: NewPrincipalBody = json::parse(&headers, &body)?;
    let kind = PrincipalKind::parse(&b.kind).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_request",
            format!(
                "unknown principal kind `{}`: use user, agent or service",
                b.kind
            ),
        )
    })?;
    let rid = request_id::current();
    let p = s
        .governor
        .add_principal(
            Some(&who),
            NewPrincipal {
                name: b.name,
                kind,
                groups: b.groups,
                owner: b.owner,
                email: b.email,
            },
            rid.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!(views::principal(&p)))))
}

async fn disable_principal(
    State(s): State<AppState>,
    Authed(who): Authed,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let rid = request_id::current();
    let p = s
        .governor
        .disable_principal(Some(&who), &name, rid.as_deref())
        .await?;
    Ok(Json(json!(views::principal(&p))))
}

async fn list_tokens(
    State(s): State<AppState>,
    Authed(who): Authed,
) -> Result<Json<Value>, ApiError> {
    let admin = s.governor.is_admin(&who);
    let snap = s.governor.snapshot();
    let now = Timestamp::now();
    let mut list: Vec<_> = snap
        .tokens
        .values()
        .filter(|t| admin || t.principal == who.name)
        .collect();
    list.sort_by(|a, b| {
        (a.principal.as_str(), a.created_at).cmp(&(b.principal.as_str(), b.created_at))
    });
    let list: Vec<Value> = list.into_iter().map(|t| views::token(t, now)).collect();
    Ok(Json(json!({ "tokens": list })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTokenBody {
    principal: String,
    #[serde(default)]
    label: Option<String>,
    /// Lifetime, e.g. `30d`; none means no expiry.
    #[serde(default)]
    expires_in: Option<String>,
}

async fn create_token(
    State(s): State<AppState>,
    Authed(who): Authed,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let b: NewTokenBody = json::parse(&headers, &body)?;
    let expires_at = match b.expires_in.as_deref() {
        None => None,
        Some(d) => Some(Timestamp::now().plus(parse_duration(d).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_request",
                format!("invalid duration `{d}`: use e.g. 30d"),
            )
        })?)),
    };
    let rid = request_id::current();
    let issued = s
        .governor
        .create_token(
            Some(&who),
            &b.principal,
            b.label,
            expires_at,
            rid.as_deref(),
        )
        .await?;
    let mut v = views::token(&issued.record, Timestamp::now());
    if let Value::Object(m) = &mut v {
        // The only time the value is ever returned.
        m.insert("token".into(), Value::String(issued.value));
    }
    Ok((StatusCode::CREATED, Json(v)))
}

async fn revoke_token(
    State(s): State<AppState>,
    Authed(who): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let rid = request_id::current();
    let t = s
        .governor
        .revoke_token(Some(&who), &id, rid.as_deref())
        .await?;
    Ok(Json(views::token(&t, Timestamp::now())))
}
