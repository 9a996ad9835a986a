//! The governor's error: one enum, each variant with a stable code; fronts
//! map it to an HTTP status, a SQLSTATE or a JSON-RPC error at their edge.

use crate::approval::VoteRefusal;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum GovernorError {
    #[error("authentication failed")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("unknown action `{0}`")]
    UnknownAction(String),
    #[error("unknown entity type `{0}`")]
    UnknownEntityType(String),
    #[error("context does not match the schema: {0}")]
    InvalidContext(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error(transparent)]
    VoteRefused(#[from] VoteRefusal),
    #[error("{0}")]
    Conflict(String),
    #[error("approval `{approval}` is bound to a different request")]
    ApprovalMismatch { approval: String },
    #[error("policy error: {0}")]
    Policy(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl GovernorError {
    /// Stable machine-readable code (part of the API contract).
    pub fn code(&self) -> &'static str {
        match self {
            GovernorError::Unauthenticated => "unauthenticated",
            GovernorError::Forbidden(_) => "forbidden",
            GovernorError::InvalidRequest(_) => "invalid_request",
            GovernorError::UnknownAction(_) => "unknown_action",
            GovernorError::UnknownEntityType(_) => "unknown_entity_type",
            GovernorError::InvalidContext(_) => "invalid_context",
            GovernorError::NotFound(_) => "not_found",
            GovernorError::AlreadyExists(_) => "already_exists",
            GovernorError::VoteRefused(r) => r.code(),
            GovernorError::Conflict(_) => "conflict",
            GovernorError::ApprovalMismatch { .. } => "approval_mismatch",
            GovernorError::Policy(_) => "policy_error",
            GovernorError::Unavailable(_) => "unavailable",
            GovernorError::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for GovernorError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(w) => GovernorError::Conflict(format!("{w} changed concurrently")),
            StoreError::AlreadyExists(w) => GovernorError::AlreadyExists(w),
            StoreError::NotFound(w) => GovernorError::NotFound(w),
            StoreError::Unavailable(m) => GovernorError::Unavailable(m),
            StoreError::Corrupt(m) => GovernorError::Unavailable(format!("corrupt store: {m}")),
        }
    }
}

impl From<countersign_policy::QueryError> for GovernorError {
    fn from(e: countersign_policy::QueryError) -> Self {
        use countersign_policy::QueryError as Q;
        match e {
            Q::UnknownAction(a) => GovernorError::UnknownAction(a),
            Q::UnknownEntityType(t) => GovernorError::UnknownEntityType(t),
            Q::InvalidContext { action, message } => {
                GovernorError::InvalidContext(format!("for `{action}`: {message}"))
            }
            other => GovernorError::InvalidRequest(other.to_string()),
        }
    }
}
