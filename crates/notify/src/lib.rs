//! Countersign's approval notifications: Slack (Block Kit messages updated
//! in place, Approve / Deny buttons voting through the governor), Microsoft
//! Teams (Adaptive Cards) and webhooks signed per Standard Webhooks.
//!
//! Nothing here is on the decision path. A tail task reads the audit log
//! from a durable cursor and writes one outbox row per (event,
//! destination) into its own SQLite file; one worker per destination
//! delivers its rows in order per approval, with retries and backoff.
//! A decision never waits on a notification, and a notification is never
//! lost to a crash or a receiver that is down: it stays in the outbox, and
//! one that keeps failing is listed by `GET /v1/notifications?state=failed`.

pub mod api;
pub mod config;
pub mod deliver;
pub mod error;
mod http;
pub mod notice;
pub mod outbox;
pub mod route;
pub mod secret;
pub mod slack;
pub mod tail;
pub mod teams;
pub mod webhook;

pub use config::{NotifyConfig, NotifySection};
pub use error::{ConfigError, StartError};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use countersign_core::Governor;
use countersign_store::SqliteStore;
use outbox::Outbox;
use slack::SlackCtx;
use slack::api::SlackApi;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// The path Slack's interactivity requests are sent to.
pub const SLACK_INTERACTIONS_PATH: &str = "/v1/notify/slack/interactions";

/// State shared by the tail, the workers and the API.
#[derive(Debug)]
pub struct Shared {
    pub cfg: NotifyConfig,
    pub outbox: Outbox,
    pub governor: Arc<Governor>,
    pub store: Arc<SqliteStore>,
    pub http: reqwest::Client,
    pub slack: Option<SlackApi>,
    workers: Mutex<HashMap<String, Arc<Notify>>>,
    stop: watch::Receiver<bool>,
}

impl Shared {
    /// Wakes the worker of `dest`, starting it if there is none yet.
    pub fn wake(self: &Arc<Self>, dest: &str) {
        let Ok(mut workers) = self.workers.lock() else {
            return;
        };
        if let Some(n) = workers.get(dest) {
            n.notify_one();
            return;
        }
        let n = Arc::new(Notify::new());
        workers.insert(dest.to_owned(), Arc::clone(&n));
        tokio::spawn(deliver::worker(
            Arc::clone(self),
            dest.to_owned(),
            n,
            self.stop.clone(),
        ));
    }
}

/// A running notifier.
#[derive(Debug)]
pub struct Notifier {
    shared: Arc<Shared>,
    slack: Option<Arc<SlackCtx>>,
}

impl Notifier {
    /// Opens the outbox (a new one starts at the end of the audit log) and
    /// prepares the channels. Nothing runs until [`Notifier::spawn`].
    pub async fn open(
        cfg: NotifyConfig,
        governor: Arc<Governor>,
        store: Arc<SqliteStore>,
        stop: watch::Receiver<bool>,
    ) -> Result<Self, StartError> {
        let start = store.audit_size().await?;
        let path = cfg.outbox_path.clone();
        let outbox = tokio::task::spawn_blocking(move || Outbox::open(&path, start))
            .await
            .map_err(|e| StartError::Http(e.to_string()))?
            .map_err(|e| StartError::Outbox {
                path: cfg.outbox_path.display().to_string(),
                message: e.to_string(),
            })?;
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout)
            // Receivers are configured endpoints; never follow elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("countersign-notify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| StartError::Http(e.to_string()))?;
        let slack_api = cfg
            .slack
            .as_ref()
            .map(|s| SlackApi::new(http.clone(), s.api_url.clone(), s.bot_token.clone()));
        let slack = match (&cfg.slack, &slack_api) {
            (Some(s), Some(api)) => Some(Arc::new(SlackCtx {
                governor: Arc::clone(&governor),
                api: api.clone(),
                verifier: slack::verify::Verifier::new(s.signing_secret.clone()),
                users: s.users.clone(),
                refusal_budget: Mutex::new((0, 0)),
            })),
            _ => None,
        };
        Ok(Notifier {
            shared: Arc::new(Shared {
                cfg,
                outbox,
                governor,
                store,
                http,
                slack: slack_api,
                workers: Mutex::new(HashMap::new()),
                stop,
            }),
            slack,
        })
    }

    /// `GET /v1/notifications` and, with Slack configured, its
    /// interactivity endpoint.
    pub fn router(&self) -> Router {
        let mut r = Router::new()
            .route("/v1/notifications", get(api::list))
            .with_state(Arc::clone(&self.shared));
        if let Some(ctx) = &self.slack {
            r = r.merge(
                Router::new()
                    .route(SLACK_INTERACTIONS_PATH, post(slack::interact::handle))
                    .layer(DefaultBodyLimit::max(slack::interact::MAX_BODY))
                    .with_state(Arc::clone(ctx)),
            );
        }
        r
    }

    /// Starts tailing and delivering (also what an earlier run left
    /// unsent); the returned task ends when `stop` turns true.
    pub fn spawn(&self) -> JoinHandle<()> {
        let shared = Arc::clone(&self.shared);
        tokio::spawn(async move {
            match shared.outbox.open_dests().await {
                Ok(dests) => {
                    for d in dests {
                        shared.wake(&d);
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot read outbox"),
            }
            let stop = shared.stop.clone();
            tail::run(shared, stop).await;
        })
    }
}
