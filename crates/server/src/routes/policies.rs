//! The policy set in force, and reloads.

use crate::auth::Authed;
use crate::error::ApiError;
use crate::{AppState, request_id};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/policies", get(show))
        .route("/v1/policies/reload", post(reload))
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
