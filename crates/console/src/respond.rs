//! Turning outcomes into responses: HTML pages, error pages, redirects.

use crate::html::{Chrome, e, page};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use countersign_server::ApiError;

/// An HTML page with a status.
pub fn html(status: StatusCode, body: String) -> Response {
    (status, Html(body)).into_response()
}

/// A page explaining what went wrong, in the API's own words.
pub fn error_page(chrome: Option<&Chrome<'_>>, err: &ApiError) -> Response {
    let body = format!(
        "<h1>{}</h1><p role=\"alert\" class=\"error\" data-code=\"{}\">{}</p>\
         <p><a href=\"/ui/approvals\">Back to approvals</a></p>",
        e(err.status.canonical_reason().unwrap_or("Error")),
        e(err.code),
        e(&err.message)
    );
    html(err.status, page("Error", chrome, &body))
}

/// 303 See Other: the answer to a successful form.
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

/// A refused form: bad or missing CSRF token. Nothing was changed.
pub fn csrf_refused() -> Response {
    tracing::warn!("console form refused: missing or wrong CSRF token");
    html(
        StatusCode::FORBIDDEN,
        page(
            "Refused",
            None,
            "<h1>Refused</h1><p role=\"alert\" class=\"error\">This form has expired or did not \
             come from this console (CSRF check failed). Nothing was changed. \
             <a href=\"/ui/approvals\">Reload</a> and try again.</p>",
        ),
    )
}
