//! A Streamable HTTP upstream. Each request is a POST; the answer is JSON
//! or an SSE stream that carries notifications before the response. The
//! configured headers (credentials) are added here and nowhere else.

use super::{Shared, cancelled, initialize_params, into_response, response_id};
use crate::error::McpError;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

const SESSION: &str = "mcp-session-id";
const VERSION: &str = "mcp-protocol-version";

#[derive(Debug)]
pub struct Http {
    shared: Arc<Shared>,
    url: String,
    client: reqwest::Client,
    /// The upstream session (`None`: not initialized yet, or lost).
    session: Mutex<Option<Option<String>>>,
}

impl Http {
    pub fn new(shared: Arc<Shared>, url: String, headers: &[(String, String)]) -> Arc<Http> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            // Validated with the configuration.
            if let (Ok(k), Ok(mut v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                v.set_sensitive(true);
                map.insert(k, v);
            }
        }
        let client = reqwest::Client::builder()
            .default_headers(map)
            .connect_timeout(shared.call_timeout)
            .build()
            .unwrap_or_default();
        Arc::new(Http {
            shared,
            url,
            client,
            session: Mutex::new(None),
        })
    }

    pub async fn request(
        &self,
        method: &str,
        params: Option<Value>,
        cancel: &CancellationToken,
    ) -> Result<Map<String, Value>, McpError> {
        let session = self.session_id().await?;
        match self
            .post_request(session.as_deref(), method, params.clone(), cancel)
            .await
        {
            Err(Failure::SessionGone) => {
                // The upstream forgot us (restart): handshake again, once.
                *self.session.lock().await = None;
                self.shared.mark_changed();
                let session = self.session_id().await?;
                match self
                    .post_request(session.as_deref(), method, params, cancel)
                    .await
                {
                    Ok(r) => Ok(r),
                    Err(Failure::SessionGone) => Err(self.err("lost its session twice in a row")),
                    Err(Failure::Other(e)) => Err(e),
                }
            }
            Ok(r) => Ok(r),
            Err(Failure::Other(e)) => Err(e),
        }
    }

    fn err(&self, m: impl Into<String>) -> McpError {
        McpError::upstream(&self.shared.name, m)
    }

    /// The session to use, running the handshake when there is none.
    async fn session_id(&self) -> Result<Option<String>, McpError> {
        let mut g = self.session.lock().await;
        if let Some(s) = g.as_ref() {
            return Ok(s.clone());
        }
        let never = CancellationToken::new();
        let id = self.shared.next_id();
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": initialize_params()});
        let resp = self.send(None, &body).await?;
        let session = resp
            .headers()
            .get(SESSION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match self
            .read_response(resp, id, session.as_deref(), &never)
            .await
        {
            Ok(r) if r.contains_key("result") => {}
            Ok(r) => {
                return Err(self.err(format!(
                    "refused the handshake: {}",
                    r.get("error").map(Value::to_string).unwrap_or_default()
                )));
            }
            Err(Failure::SessionGone) => return Err(self.err("refused the handshake (404)")),
            Err(Failure::Other(e)) => return Err(e),
        }
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let r = self.send(session.as_deref(), &note).await?;
        if !r.status().is_success() {
            return Err(self.err(format!(
                "refused `notifications/initialized` (HTTP {})",
                r.status().as_u16()
            )));
        }
        tracing::info!(upstream = %self.shared.name, "mcp: upstream ready");
        *g = Some(session.clone());
        Ok(session)
    }

    async fn send(
        &self,
        session: Option<&str>,
        body: &Value,
    ) -> Result<reqwest::Response, McpError> {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        if bytes.len() > self.shared.max_bytes {
            return Err(self.err("request is larger than max_message_bytes"));
        }
        let mut req = self
            .client
            .post(&self.url)
            .header(ACCEPT, "application/json, text/event-stream")
            .header(CONTENT_TYPE, "application/json")
            .header(VERSION, super::UPSTREAM_PROTOCOL)
            .timeout(self.shared.call_timeout)
            .body(bytes);
        if let Some(s) = session {
            req = req.header(SESSION, s);
        }
        // reqwest's error text names the URL, never the headers.
        req.send()
            .await
            .map_err(|e| self.err(format!("cannot be reached: {}", without_url(&e))))
    }

    async fn post_request(
        &self,
        session: Option<&str>,
        method: &str,
        params: Option<Value>,
        cancel: &CancellationToken,
    ) -> Result<Map<String, Value>, Failure> {
        let id = self.shared.next_id();
        let mut body = json!({"jsonrpc": "2.0", "id": id, "method": method});
        if let (Some(p), Some(o)) = (params, body.as_object_mut()) {
            o.insert("params".into(), p);
        }
        let sent = tokio::select! {
            r = self.send(session, &body) => r.map_err(Failure::Other)?,
            _ = cancel.cancelled() => return Err(Failure::Other(McpError::Cancelled)),
        };
        let r = tokio::select! {
            r = self.read_response(sent, id, session, cancel) => r,
            _ = tokio::time::sleep(self.shared.call_timeout) => Err(Failure::Other(self.err(format!(
                "did not answer within {}s; the call was abandoned",
                self.shared.call_timeout.as_secs()
            )))),
        };
        if matches!(
            &r,
            Err(Failure::Other(McpError::Cancelled))
                | Err(Failure::Other(McpError::Upstream { .. }))
        ) {
            let reason = if cancel.is_cancelled() {
                "cancelled by the client"
            } else {
                "timed out at the gateway"
            };
            let _ = self.send(session, &cancelled(id, reason)).await;
        }
        r
    }

    /// Reads the answer to request `id` (JSON or SSE).
    async fn read_response(
        &self,
        mut resp: reqwest::Response,
        id: u64,
        session: Option<&str>,
        cancel: &CancellationToken,
    ) -> Result<Map<String, Value>, Failure> {
        let status = resp.status();
        if status.as_u16() == 404 {
            return Err(Failure::SessionGone);
        }
        if !status.is_success() {
            return Err(Failure::Other(
                self.err(format!("answered HTTP {}", status.as_u16())),
            ));
        }
        let sse = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let max = self.shared.max_bytes;
        let mut buf: Vec<u8> = Vec::new();
        let mut data: Vec<u8> = Vec::new();
        loop {
            let chunk = tokio::select! {
                c = resp.chunk() => c.map_err(|e| Failure::Other(self.err(format!("broke off its answer: {}", without_url(&e)))))?,
                _ = cancel.cancelled() => return Err(Failure::Other(McpError::Cancelled)),
            };
            let Some(chunk) = chunk else { break };
            buf.extend_from_slice(&chunk);
            if !sse {
                if buf.len() > max {
                    return Err(Failure::Other(
                        self.err(format!("answered with more than {max} bytes")),
                    ));
                }
                continue;
            }
            // Events are separated by blank lines; `data:` lines join.
            while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let line = line.strip_suffix(b"\n").unwrap_or(&line);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.is_empty() {
                    if !data.is_empty() {
                        if let Some(r) = self.event(&data, id, session) {
                            return r;
                        }
                        data.clear();
                    }
                } else if let Some(d) = line.strip_prefix(b"data:") {
                    let d = d.strip_prefix(b" ").unwrap_or(d);
                    if !data.is_empty() {
                        data.push(b'\n');
                    }
                    data.extend_from_slice(d);
                }
            }
            if buf.len() + data.len() > max {
                return Err(Failure::Other(
                    self.err(format!("sent an event larger than {max} bytes")),
                ));
            }
        }
        if sse {
            if !data.is_empty()
                && let Some(r) = self.event(&data, id, session)
            {
                return r;
            }
            return Err(Failure::Other(
                self.err("closed its event stream without answering"),
            ));
        }
        let msg: Value = serde_json::from_slice(&buf)
            .map_err(|_| Failure::Other(self.err("answered with invalid JSON")))?;
        if response_id(&msg) == Some(id) {
            into_response(msg, &self.shared.name).map_err(Failure::Other)
        } else {
            Err(Failure::Other(self.err("answered a different request")))
        }
    }

    /// One SSE event: the response (returned), or something else (handled).
    fn event(
        &self,
        data: &[u8],
        id: u64,
        session: Option<&str>,
    ) -> Option<Result<Map<String, Value>, Failure>> {
        let msg: Value = serde_json::from_slice(data).ok()?;
        if response_id(&msg) == Some(id) {
            return Some(into_response(msg, &self.shared.name).map_err(Failure::Other));
        }
        if let Some(reply) = self.shared.unsolicited(&msg) {
            // Answered on a POST of its own, as the transport requires.
            let this = self.client.clone();
            let url = self.url.clone();
            let session = session.map(str::to_owned);
            tokio::spawn(async move {
                let mut req = this.post(url);
                if let Some(s) = session {
                    req = req.header(SESSION, s);
                }
                let _ = req
                    .header(CONTENT_TYPE, "application/json")
                    .header(ACCEPT, "application/json, text/event-stream")
                    .body(serde_json::to_vec(&reply).unwrap_or_default())
                    .send()
                    .await;
            });
        }
        None
    }
}

enum Failure {
    SessionGone,
    Other(McpError),
}

/// A reqwest error's text without the URL (which may carry a query secret).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection refused or failed"
    } else if e.is_body() || e.is_decode() {
        "bad response body"
    } else {
        "request failed"
    };
    kind.to_owned()
}
