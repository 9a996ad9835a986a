//! Upstream MCP servers. The gateway is an MCP *client* of each: it runs
//! the `initialize` handshake itself (advertising no client capabilities,
//! so upstreams have no business sending sampling or elicitation
//! requests), renumbers JSON-RPC ids, and hands back the upstream's
//! response object untouched (every field it did not model included).

mod http;
mod line;
mod stdio;

use crate::config::{Transport, UpstreamConfig};
use crate::error::McpError;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The protocol revision the gateway asks its upstreams for.
pub const UPSTREAM_PROTOCOL: &str = "2025-06-18";

/// Where notifications for one forwarded request go (progress).
pub type Sink = mpsc::Sender<Value>;

/// Limits and shared state every transport needs.
#[derive(Debug)]
pub(crate) struct Shared {
    pub name: String,
    pub call_timeout: Duration,
    pub max_bytes: usize,
    /// Set when an upstream says its tool list changed (or it restarted).
    pub tools_changed: Arc<AtomicBool>,
    next_id: AtomicU64,
    /// Progress tokens the gateway put on forwarded requests → where the
    /// upstream's progress goes, with the agent's own token.
    progress: Mutex<HashMap<String, (Value, Sink)>>,
}

impl Shared {
    fn mark_changed(&self) {
        self.tools_changed.store(true, Ordering::SeqCst);
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Replaces the agent's progress token by one unique to this gateway,
    /// so tokens of different agents cannot collide upstream.
    fn register_progress(&self, params: &mut Value, sink: Option<&Sink>) -> Option<String> {
        let sink = sink?;
        let meta = params.get_mut("_meta")?.as_object_mut()?;
        let original = meta.get("progressToken")?.clone();
        let ours = format!("cs-{}", self.next_id());
        meta.insert("progressToken".into(), Value::String(ours.clone()));
        if let Ok(mut m) = self.progress.lock() {
            m.insert(ours.clone(), (original, sink.clone()));
        }
        Some(ours)
    }

    fn unregister_progress(&self, token: Option<String>) {
        if let (Some(t), Ok(mut m)) = (token, self.progress.lock()) {
            m.remove(&t);
        }
    }

    /// Handles a message the upstream sent on its own: a notification, or
    /// a request (answered at once, so the upstream never waits on us).
    /// Returns the reply to send, if any.
    pub(crate) fn unsolicited(&self, msg: &Value) -> Option<Value> {
        let method = msg.get("method").and_then(Value::as_str)?;
        match (method, msg.get("id")) {
            ("notifications/tools/list_changed", None) => {
                self.tools_changed.store(true, Ordering::SeqCst);
                None
            }
            ("notifications/progress", None) => {
                let params = msg.get("params")?;
                let token = match params.get("progressToken")? {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let target = self.progress.lock().ok()?.get(&token).cloned();
                if let Some((original, sink)) = target {
                    let mut p = params.clone();
                    if let Some(o) = p.as_object_mut() {
                        o.insert("progressToken".into(), original);
                    }
                    let _ = sink.try_send(json!({
                        "jsonrpc": "2.0", "method": "notifications/progress", "params": p
                    }));
                }
                None
            }
            (_, None) => None,
            ("ping", Some(id)) => Some(json!({"jsonrpc": "2.0", "id": id, "result": {}})),
            (m, Some(id)) => {
                // Sampling, elicitation and roots need an agent's consent;
                // the gateway advertises none of them and relays none.
                tracing::info!(upstream = %self.name, method = %m, "mcp: refused an upstream request");
                Some(json!({"jsonrpc": "2.0", "id": id, "error": {
                    "code": -32601,
                    "message": format!("Countersign does not relay `{m}` requests from upstream servers to agents")
                }}))
            }
        }
    }
}

#[derive(Debug)]
enum Link {
    Stdio(Arc<stdio::Stdio>),
    Http(Arc<http::Http>),
}

/// One configured upstream server.
#[derive(Debug)]
pub struct Upstream {
    pub name: String,
    pub environment: String,
    shared: Arc<Shared>,
    link: Link,
}

impl Upstream {
    /// Starts supervising the upstream (stdio: spawns it in the background;
    /// HTTP: connects on first use). Needs a Tokio runtime.
    pub fn start(cfg: &UpstreamConfig, call_timeout: Duration, max_bytes: usize) -> Arc<Upstream> {
        let shared = Arc::new(Shared {
            name: cfg.name.clone(),
            call_timeout,
            max_bytes,
            tools_changed: Arc::new(AtomicBool::new(true)),
            next_id: AtomicU64::new(1),
            progress: Mutex::new(HashMap::new()),
        });
        let link = match &cfg.transport {
            Transport::Stdio { command, args, env } => Link::Stdio(stdio::Stdio::start(
                Arc::clone(&shared),
                command.clone(),
                args.clone(),
                env.clone(),
            )),
            Transport::Http { url, headers } => {
                Link::Http(http::Http::new(Arc::clone(&shared), url.clone(), headers))
            }
        };
        Arc::new(Upstream {
            name: cfg.name.clone(),
            environment: cfg.environment.clone(),
            shared,
            link,
        })
    }

    /// Whether the tool list may have changed since the last call.
    pub fn take_tools_changed(&self) -> bool {
        self.shared.tools_changed.swap(false, Ordering::SeqCst)
    }

    pub fn mark_tools_changed(&self) {
        self.shared.tools_changed.store(true, Ordering::SeqCst);
    }

    /// Sends request `method` and returns the upstream's response object
    /// (`result` or `error`, with every other field), or why there is none.
    /// `progress` receives the upstream's progress notifications for it.
    pub async fn request(
        &self,
        method: &str,
        params: Option<Value>,
        progress: Option<&Sink>,
        cancel: &CancellationToken,
    ) -> Result<Map<String, Value>, McpError> {
        let mut params = params;
        let token = params
            .as_mut()
            .and_then(|p| self.shared.register_progress(p, progress));
        let r = match &self.link {
            Link::Stdio(s) => s.request(method, params, cancel).await,
            Link::Http(h) => h.request(method, params, cancel).await,
        };
        self.shared.unregister_progress(token);
        r
    }
}

/// The `initialize` request the gateway sends upstream.
pub(crate) fn initialize_params() -> Value {
    json!({
        "protocolVersion": UPSTREAM_PROTOCOL,
        "capabilities": {},
        "clientInfo": {"name": "countersign", "version": env!("CARGO_PKG_VERSION")}
    })
}

/// The id of a response, as the gateway's own numeric ids.
pub(crate) fn response_id(msg: &Value) -> Option<u64> {
    if msg.get("method").is_some() {
        return None;
    }
    msg.get("id").and_then(Value::as_u64)
}

/// A cancellation notice for request `id`, to send upstream.
pub(crate) fn cancelled(id: u64, reason: &str) -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
           "params": {"requestId": id, "reason": reason}})
}

/// Keeps only the response part of a message.
pub(crate) fn into_response(msg: Value, upstream: &str) -> Result<Map<String, Value>, McpError> {
    match msg {
        Value::Object(mut m) if m.contains_key("result") || m.contains_key("error") => {
            m.remove("jsonrpc");
            m.remove("id");
            Ok(m)
        }
        _ => Err(McpError::upstream(
            upstream,
            "answered with something that is not a JSON-RPC response",
        )),
    }
}
