//! Errors of the notifier.

use countersign_core::StoreError;

/// The `[notify]` section is invalid; the message says what to fix.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Why starting the notifier failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open outbox `{path}`: {message}")]
    Outbox { path: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot build HTTP client: {0}")]
    Http(String),
}

/// One delivery attempt failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// The receiver asked us to wait (HTTP 429 + Retry-After); not a failure.
    #[error("rate limited; retry after {0:?}")]
    RateLimited(std::time::Duration),
    #[error("{0}")]
    Failed(String),
}
