//! Countersign's HTTP API (`/v1/...`): ask before acting, wait for and cast
//! approvals, administer principals, tokens and policies, read the audit log.
//! Every response is JSON with a stable error `code`; every request has an id
//! (`x-request-id`) that appears in logs and audit entries.

mod auth;
pub mod change_view;
mod error;
mod json;
mod openapi;
pub mod policy_sets;
mod request_id;
mod routes;
mod tasks;
mod views;

pub use error::ApiError;
/// Request ids for other HTTP fronts mounted beside the API (the console),
/// so their log lines and audit entries carry ids the same way.
pub use request_id::{current as current_request_id, middleware as request_id_middleware};
pub use tasks::{BackgroundConfig, spawn_background};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use countersign_core::Governor;
use countersign_core::policy::PolicySet;
use countersign_store::SqliteStore;
use std::sync::Arc;
use std::time::Duration;

/// Loads the policy set from wherever the binary keeps it (for reloads).
pub type PolicyLoader = Arc<dyn Fn() -> Result<PolicySet, String> + Send + Sync>;

/// Limits and knobs of the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest accepted request body.
    pub max_body: usize,
    /// Longest long-poll a client may ask for.
    pub max_wait: Duration,
    /// Origin line of audit checkpoints (C2SP tlog-checkpoint).
    pub log_origin: String,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_body: 64 * 1024,
            max_wait: Duration::from_secs(60),
            log_origin: "countersign.local/audit".into(),
        }
    }
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub governor: Arc<Governor>,
    pub store: Arc<SqliteStore>,
    pub config: Arc<ApiConfig>,
    pub policy_loader: PolicyLoader,
    /// Signs audit checkpoints (the key never leaves this process).
    pub log_signer: Arc<countersign_tlog::Signer>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// The whole API as one router.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body;
    Router::new()
        .merge(routes::health::routes())
        .merge(routes::decisions::routes())
        .merge(routes::approvals::routes())
        .merge(routes::directory::routes())
        .merge(routes::policies::routes())
        .merge(routes::audit::routes())
        .merge(routes::changes::routes())
        .merge(openapi::routes())
        .fallback(routes::health::not_found)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(request_id::middleware))
        .with_state(state)
}
