//! Liveness and readiness.

use crate::AppState;
use crate::error::ApiError;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(ready))
}

/// Ready when the store answers: a gateway that cannot record decisions must
/// not receive traffic.
async fn ready(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let size = s.store.audit_size().await?;
    Ok(Json(json!({
        "status": "ready",
        "audit_size": size,
        // The disk set's hash, and what each environment enforces.
        "policy_hash": s.governor.policy_hash(),
        "policies": crate::policy_sets::in_force(&s.governor),
    })))
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("route")
}
