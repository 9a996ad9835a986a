//! The policy set in force, and reloads.

use crate::auth::Authed;
use crate::error::ApiError;
use crate::{AppState, json, request_id};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use countersign_core::policy::diff_permissions;
use serde::Deserialize;
use serde_json::{Value, json};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/policies", get(show))
        .route("/v1/policies/reload", post(reload))
        .route("/v1/policies/diff", get(diff))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiffQuery {
    left: String,
    right: String,
}

/// Where two environments' effective permissions differ: which kinds of
/// principal in which groups may do which actions on which resource types
/// (probed without request facts; see `PolicySet::effective_permissions`).
async fn diff(
    State(s): State<AppState>,
    Authed(_): Authed,
    q: Result<Query<DiffQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(json::query_error)?;
    for env in [&q.left, &q.right] {
        if !s.governor.config().environments.contains(env) {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!(
                    "unknown environment `{env}`; known: {}",
                    s.governor.config().environments.join(", ")
                ),
            ));
        }
    }
    let snap = s.governor.snapshot();
    let groups = snap.directory_groups();
    let (left, right) = (q.left.clone(), q.right.clone());
    // A large policy set takes a while to probe: off the async threads.
    let result = tokio::task::spawn_blocking(move || {
        let (lset, _) = snap.policies_for(&left);
        let (rset, _) = snap.policies_for(&right);
        let l = lset.effective_permissions(&left, &groups)?;
        let r = rset.effective_permissions(&right, &groups)?;
        let side = |env: &str, hash: &str| {
            json!({
                "environment": env,
                "hash": hash,
                "change": snap.env_policies.get(env).map(|e| e.change_id.clone()),
            })
        };
        Ok::<_, countersign_core::policy::PolicyError>(json!({
            "left": side(&left, lset.hash()),
            "right": side(&right, rset.hash()),
            "differences": diff_permissions(&l, &r),
        }))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
    .map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "policy_error",
            e.to_string(),
        )
    })?;
    Ok(Json(result))
}

/// The schema's entity types, sorted (groups included: they are types too).
fn entity_types(set: &countersign_core::policy::PolicySet) -> Vec<String> {
    let mut types: Vec<String> = set
        .schema()
        .entity_types()
        .map(ToString::to_string)
        .collect();
    types.sort();
    types
}

async fn show(State(s): State<AppState>, Authed(_): Authed) -> Json<Value> {
    let snap = s.governor.snapshot();
    // Environments with an approved policy change of their own.
    let environments: serde_json::Map<String, Value> = snap
        .env_policies
        .iter()
        .map(|(env, e)| {
            (
                env.clone(),
                json!({
                    "hash": e.policies.hash(),
                    "change": e.change_id,
                    "policies": e.policies.policy_ids(),
                }),
            )
        })
        .collect();
    Json(json!({
        "hash": snap.policies.hash(),
        "policies": snap.policies.policy_ids(),
        "actions": snap.policies.action_names(),
        // What requests may name, for clients that explain an unknown one.
        "entity_types": entity_types(&snap.policies),
        "environments": environments,
    }))
}

/// Re-reads the policy files. A broken set is refused with its diagnostics
/// and the set in force stays; both outcomes are audited.
async fn reload(State(s): State<AppState>, Authed(who): Authed) -> Result<Json<Value>, ApiError> {
    if !s.governor.is_admin(&who) {
        return Err(ApiError::forbidden(
            "reloading policies needs an administrator",
        ));
    }
    let rid = request_id::current();
    let loaded = (s.policy_loader)();
    let hash = s
        .governor
        .reload_policies(loaded, Some(&who), rid.as_deref())
        .await?;
    Ok(Json(json!({ "hash": hash, "status": "loaded" })))
}
