//! Refusals as RFC 9457 problem documents (`application/problem+json`).
//! They never carry an upstream credential or a client token: only what
//! the governor decided and why.

use crate::body::{self, Body};
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Map, Value, json};

const BASE: &str = "https://countersign.dev/problems/";

/// A problem, built up then turned into a response.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    fields: Map<String, Value>,
    retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Problem {
        let mut fields = Map::new();
        fields.insert("type".into(), Value::String(format!("{BASE}{kind}")));
        fields.insert("title".into(), Value::String(title.into()));
        fields.insert("status".into(), json!(status.as_u16()));
        fields.insert("detail".into(), Value::String(detail.into()));
        Problem {
            status,
            fields,
            retry_after: None,
        }
    }

    pub fn with(mut self, key: &str, v: impl Into<Value>) -> Problem {
        self.fields.insert(key.into(), v.into());
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Problem {
        self.retry_after = Some(secs);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn into_response(self, request_id: &str) -> Response<Body> {
        let mut fields = self.fields;
        fields.insert("request_id".into(), Value::String(request_id.to_owned()));
        let text = serde_json::to_vec(&Value::Object(fields)).unwrap_or_default();
        let mut r = Response::new(body::full(Bytes::from(text)));
        *r.status_mut() = self.status;
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if let Ok(v) = HeaderValue::from_str(request_id) {
            h.insert(crate::headers::REQUEST_ID, v);
        }
        r
    }
}

pub fn bad_request(detail: impl Into<String>) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "bad-request",
        "Malformed request",
        detail,
    )
}

pub fn unauthorized() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "Countersign token required",
        "send a valid Countersign token in the Countersign-Token header \
         (or Proxy-Authorization: Bearer <token>)",
    )
}

pub fn not_found(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "no-route", "No route", detail)
}

pub fn too_large(detail: impl Into<String>) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body-too-large",
        "Request body too large",
        detail,
    )
}

pub fn bad_gateway(detail: impl Into<String>) -> Problem {
    Problem::new(
        StatusCode::BAD_GATEWAY,
        "upstream-unavailable",
        "Upstream unavailable",
        detail,
    )
}

pub fn gateway_timeout(detail: impl Into<String>) -> Problem {
    Problem::new(
        StatusCode::GATEWAY_TIMEOUT,
        "upstream-timeout",
        "Upstream timed out",
        detail,
    )
}

pub fn unavailable(detail: impl Into<String>) -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "governor-unavailable",
        "Cannot decide",
        detail,
    )
}
