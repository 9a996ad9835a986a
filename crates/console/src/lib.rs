//! Countersign's web console, served by `countersign serve` beside the API:
//! an approvals inbox and approval pages (the target of Slack/Teams links),
//! changes and the inventory of what is deployed where, an audit explorer
//! that verifies every receipt, and read-only policy and principal pages.
//!
//! Server-rendered HTML with one small script (live inbox); sign-in with a
//! Countersign token into a server-side session; a CSRF token on every form;
//! a strict Content-Security-Policy with no inline script or style.

mod assets;
mod auth;
mod config;
mod html;
mod pages;
mod respond;
mod session;

pub use config::ConsoleSection;
pub use session::{SessionLimits, Sessions};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::Redirect;
use axum::routing::{get, post};
use countersign_server::AppState;
use std::sync::Arc;

/// Settings of the console.
#[derive(Debug, Clone, Default)]
pub struct ConsoleConfig {
    /// Mark cookies `Secure` (set when the console is reached over HTTPS,
    /// e.g. behind a TLS-terminating proxy). A request that says it came
    /// over HTTPS (`X-Forwarded-Proto: https`) gets `Secure` cookies anyway.
    pub secure_cookies: bool,
    pub sessions: SessionLimits,
}

/// Everything a console handler reads.
#[derive(Clone)]
pub struct Console {
    pub app: AppState,
    pub sessions: Arc<Sessions>,
    pub config: Arc<ConsoleConfig>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console").finish_non_exhaustive()
    }
}

/// Forms are small; anything bigger is refused before it is read.
const MAX_FORM: usize = 16 * 1024;

/// The console's routes (`/`, `/ui/...`), ready to merge with the API router.
pub fn router(app: AppState, config: ConsoleConfig) -> Router {
    let console = Console {
        app,
        sessions: Arc::new(Sessions::new(config.sessions.clone())),
        config: Arc::new(config),
    };
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/approvals") }))
        .route("/ui", get(|| async { Redirect::to("/ui/approvals") }))
        .route("/ui/", get(|| async { Redirect::to("/ui/approvals") }))
        .route(
            "/ui/login",
            get(pages::login::form).post(pages::login::submit),
        )
        .route("/ui/logout", post(pages::login::logout))
        .route("/ui/approvals", get(pages::approvals::inbox))
        .route("/ui/approvals/live", get(pages::approvals::inbox_fragment))
        .route("/ui/approvals/{id}", get(pages::approval::show))
        .route("/ui/approvals/{id}/vote", post(pages::approval::vote))
        .route("/ui/changes", get(pages::changes::list))
        .route("/ui/changes/{id}", get(pages::change::show))
        .route("/ui/audit", get(pages::audit::explorer))
        .route("/ui/audit/export.jsonl", get(pages::audit::export))
        .route("/ui/policies", get(pages::directory::policies))
        .route("/ui/principals", get(pages::directory::principals))
        .route("/ui/static/app.js", get(assets::script))
        .route("/ui/static/app.css", get(assets::style))
        .layer(DefaultBodyLimit::max(MAX_FORM))
        .layer(middleware::map_response(security_headers))
        .layer(middleware::from_fn(
            countersign_server::request_id_middleware,
        ))
        .with_state(console)
}

/// The same headers on every console response, errors included.
async fn security_headers(mut resp: axum::response::Response) -> axum::response::Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}
