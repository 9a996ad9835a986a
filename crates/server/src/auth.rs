//! Bearer-token authentication. Every failure answers the same 401 and is
//! audited with its real reason (a security event).

use crate::AppState;
use crate::error::ApiError;
use crate::request_id;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use countersign_core::Principal;
use countersign_core::governor::AuthFailure;

/// The authenticated principal of a request.
#[derive(Debug, Clone)]
pub struct Authed(pub Principal);

fn bearer(parts: &Parts) -> Option<&str> {
    let v = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = bearer(parts);
        let result = match presented {
            Some(t) => state.governor.authenticate(t),
            None => Err(AuthFailure::Malformed),
        };
        match result {
            Ok(p) => {
                tracing::debug!(principal = %p.name, "authenticated");
                Ok(Authed(p))
            }
            Err(failure) => {
                tracing::warn!(reason = %failure, "authentication failed");
                let rid = request_id::current();
                // If even the failure cannot be recorded, still refuse.
                if let Err(e) = state
                    .governor
                    .audit_auth_failure(failure, presented, "api", rid.as_deref())
                    .await
                {
                    tracing::error!(error = %e, "cannot audit failed authentication");
                }
                Err(ApiError::unauthenticated())
            }
        }
    }
}
