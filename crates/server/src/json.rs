//! Strict JSON bodies: unknown fields and type errors are refused with
//! serde's precise message (line, column, field), never silently dropped.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;

pub fn parse<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T, ApiError> {
    let is_json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let mime = v.split(';').next().unwrap_or("").trim();
            mime.eq_ignore_ascii_case("application/json")
        });
    if !is_json {
        return Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send a JSON body with `content-type: application/json`",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("invalid request body: {e}")))
}

/// Maps a query-string rejection into the API's error shape.
pub fn query_error(e: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::bad_request("invalid_query", e.body_text())
}
