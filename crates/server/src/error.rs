//! API errors: `{"error": {"code", "message"}, "request_id"}` with a stable
//! code and the HTTP status chosen here, at the edge, from the core's error.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use countersign_core::GovernorError;
use countersign_core::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{} not found", what.into()),
        )
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "a valid bearer token is required",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
}

impl From<GovernorError> for ApiError {
    fn from(e: GovernorError) -> Self {
        use GovernorError as G;
        let status = match &e {
            G::Unauthenticated => StatusCode::UNAUTHORIZED,
            G::Forbidden(_) | G::VoteRefused(_) => StatusCode::FORBIDDEN,
            G::InvalidRequest(_)
            | G::UnknownAction(_)
            | G::UnknownEntityType(_)
            | G::InvalidContext(_) => StatusCode::BAD_REQUEST,
            G::NotFound(_) => StatusCode::NOT_FOUND,
            G::AlreadyExists(_) | G::Conflict(_) | G::ApprovalMismatch { .. } => {
                StatusCode::CONFLICT
            }
            G::Policy(_) => StatusCode::UNPROCESSABLE_ENTITY,
            G::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            G::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // Store details stay in the logs; callers learn only that it failed.
        let message = match &e {
            G::Unavailable(m) | G::Internal(m) => {
                tracing::error!(error = %m, "request failed closed");
                "the gateway cannot record decisions right now; nothing was allowed".to_owned()
            }
            other => other.to_string(),
        };
        ApiError::new(status, e.code(), message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        GovernorError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code, "message": self.message },
            "request_id": crate::request_id::current(),
        });
        (self.status, axum::Json(body)).into_response()
    }
}
