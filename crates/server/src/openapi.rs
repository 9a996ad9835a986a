//! `GET /openapi.json`: the API's OpenAPI 3.1 document, written by hand and
//! checked by a test against the router (every route documented).

use crate::AppState;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

pub const DOCUMENT: &str = include_str!("openapi.json");

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/openapi.json",
        get(|| async { ([(header::CONTENT_TYPE, "application/json")], DOCUMENT).into_response() }),
    )
}
