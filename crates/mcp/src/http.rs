//! The agent-facing endpoint: MCP Streamable HTTP at `/mcp`, as a thin
//! JSON-RPC layer on `serde_json::Value` (so fields the gateway does not
//! model — `_meta`, extensions — pass through untouched), plus the OAuth
//! protected-resource metadata and the admin API for tool pins.

use crate::catalog::PinState;
use crate::gateway::Gateway;
use crate::govern::{self, Reply, error, result};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use countersign_core::{AuditEvent, EventKind, Principal, ResourceRef, Write};
use futures_util::StreamExt as _;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::{CancellationToken, DropGuard};

/// Protocol revisions with an `initialize` handshake that this gateway
/// speaks, newest first (the first is offered when a client asks for one
/// it does not know).
pub const PROTOCOLS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];
const SESSION: &str = "mcp-session-id";
const VERSION: &str = "mcp-protocol-version";
const METADATA: &str = "/.well-known/oauth-protected-resource";

pub fn router(gw: Arc<Gateway>) -> Router {
    Router::new()
        .route("/mcp", post(post_mcp).get(get_mcp).delete(delete_mcp))
        .route(METADATA, get(metadata))
        .route(&format!("{METADATA}/mcp"), get(metadata))
        .route("/v1/mcp/tools", get(admin_tools))
        .route("/v1/mcp/tools/{name}/pin", post(admin_pin))
        .with_state(gw)
}

fn request_id() -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    format!("mcp-{}", hex::encode(b))
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    let mut r = (status, serde_json::to_vec(v).unwrap_or_default()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn rpc_error(status: StatusCode, id: Value, code: i64, message: &str) -> Response {
    json_response(
        status,
        &json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}),
    )
}

fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.len() <= 255 && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// RFC 9728 metadata: the resource is `/mcp`; tokens are Countersign's own
/// bearer tokens (no authorization server to discover yet).
async fn metadata(headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    json_response(
        StatusCode::OK,
        &json!({
            "resource": format!("{base}/mcp"),
            "authorization_servers": [],
            "bearer_methods_supported": ["header"],
            "resource_name": "Countersign MCP gateway",
            "resource_documentation": "Countersign bearer tokens: `countersign admin token create`",
        }),
    )
}

/// 401 with the pointer to the metadata document the MCP spec asks for.
fn unauthorized(headers: &HeaderMap, why: &str) -> Response {
    let mut r = rpc_error(StatusCode::UNAUTHORIZED, Value::Null, -32001, why);
    let v = format!(
        "Bearer resource_metadata=\"{}{METADATA}/mcp\"",
        base_url(headers)
    );
    if let Ok(v) = HeaderValue::from_str(&v) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

async fn authenticate(gw: &Gateway, headers: &HeaderMap, rid: &str) -> Result<Principal, Response> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(token) = presented else {
        return Err(unauthorized(
            headers,
            "authentication required: send a Countersign bearer token",
        ));
    };
    match gw.governor.authenticate(token) {
        Ok(p) => Ok(p),
        Err(f) => {
            if let Err(e) = gw
                .governor
                .audit_auth_failure(f, Some(token), "mcp", Some(rid))
                .await
            {
                tracing::error!(request_id = %rid, error = %e, "mcp: cannot audit an authentication failure");
            }
            Err(unauthorized(headers, "invalid or expired token"))
        }
    }
}

/// Browsers send `Origin`; a page on another site must not drive a local
/// gateway (DNS rebinding), so a foreign origin is refused.
fn origin_ok(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host)
}

async fn get_mcp() -> Response {
    // No server-initiated stream: every message the gateway sends answers
    // a request, on that request's own response.
    let mut r = StatusCode::METHOD_NOT_ALLOWED.into_response();
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST, DELETE"));
    r
}

async fn delete_mcp(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let rid = request_id();
    let who = match authenticate(&gw, &headers, &rid).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(id) = headers.get(SESSION).and_then(|v| v.to_str().ok()) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    match gw.sessions.get(id) {
        Some(s) if s.principal == who.name => {
            gw.sessions.close(id);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn post_mcp(State(gw): State<Arc<Gateway>>, headers: HeaderMap, body: Body) -> Response {
    let rid = request_id();
    if !origin_ok(&headers) {
        return rpc_error(
            StatusCode::FORBIDDEN,
            Value::Null,
            -32600,
            "origin not allowed",
        );
    }
    let who = match authenticate(&gw, &headers, &rid).await {
        Ok(p) => Arc::new(p),
        Err(r) => return r,
    };
    let max = gw.config.max_message_bytes;
    let bytes: Bytes = match axum::body::to_bytes(body, max).await {
        Ok(b) => b,
        Err(_) => {
            return rpc_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                Value::Null,
                -32600,
                &format!("message larger than {max} bytes"),
            );
        }
    };
    let msg: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                -32700,
                &format!("parse error: {e}"),
            );
        }
    };
    let Value::Object(msg) = msg else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            -32600,
            "invalid request: send one JSON-RPC object (batches are not supported)",
        );
    };
    let id = msg.get("id").cloned();
    if msg.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            id.unwrap_or(Value::Null),
            -32600,
            "invalid request: `jsonrpc` must be \"2.0\"",
        );
    }
    let method = match msg.get("method") {
        Some(Value::String(m)) => m.clone(),
        Some(_) => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                id.unwrap_or(Value::Null),
                -32600,
                "invalid request: `method` must be a string",
            );
        }
        // A response to a request of ours: the gateway sends none.
        None => return StatusCode::ACCEPTED.into_response(),
    };
    if matches!(&id, Some(v) if !(v.is_string() || v.is_i64() || v.is_u64())) {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            -32600,
            "invalid request: `id` must be a string or an integer",
        );
    }
    let params = match msg.get("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                id.unwrap_or(Value::Null),
                -32602,
                "invalid params: `params` must be an object",
            );
        }
    };
    tracing::debug!(request_id = %rid, principal = %who.name, %method, "mcp: request");

    if method == "initialize" {
        let Some(id) = id else {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                -32600,
                "`initialize` is a request: give it an id",
            );
        };
        return initialize(&gw, &who, id, &params);
    }
    // Everything else belongs to a session of this principal.
    let Some(sid) = headers.get(SESSION).and_then(|v| v.to_str().ok()) else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            id.unwrap_or(Value::Null),
            -32600,
            "missing Mcp-Session-Id: send `initialize` first",
        );
    };
    let session = match gw.sessions.get(sid) {
        Some(s) if s.principal == who.name => s,
        _ => {
            return rpc_error(
                StatusCode::NOT_FOUND,
                id.unwrap_or(Value::Null),
                -32001,
                "unknown or expired session: initialize a new one",
            );
        }
    };
    if let Some(v) = headers.get(VERSION).and_then(|v| v.to_str().ok())
        && !PROTOCOLS.contains(&v)
        && v != "2024-11-05"
    {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            id.unwrap_or(Value::Null),
            -32600,
            &format!("unsupported MCP-Protocol-Version `{v}`"),
        );
    }
    let Some(id) = id else {
        // A notification.
        if method == "notifications/cancelled"
            && let Some(req) = params.get("requestId")
        {
            session.cancel(&req.to_string());
        }
        return StatusCode::ACCEPTED.into_response();
    };
    let reply = match method.as_str() {
        "ping" => result(json!({})),
        "tools/list" => list_tools(&gw, &who).await,
        "tools/call" | "prompts/get" | "resources/read" => {
            return call_tool(gw, who, session, id, params, rid, method).await;
        }
        "resources/list" => list_reads(&gw, &who, "resources/list", "resources", true).await,
        "resources/templates/list" => {
            list_reads(
                &gw,
                &who,
                "resources/templates/list",
                "resourceTemplates",
                true,
            )
            .await
        }
        "prompts/list" => list_reads(&gw, &who, "prompts/list", "prompts", false).await,
        "logging/setLevel" => result(json!({})),
        other => error(
            -32601,
            format!("method not found: `{}`", truncate(other, 100)),
        ),
    };
    reply_json(id, reply)
}

fn reply_json(id: Value, reply: Reply) -> Response {
    let mut m = reply;
    m.insert("jsonrpc".into(), Value::String("2.0".into()));
    m.insert("id".into(), id);
    json_response(StatusCode::OK, &Value::Object(m))
}

fn truncate(s: &str, n: usize) -> &str {
    let mut end = n.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn initialize(gw: &Gateway, who: &Principal, id: Value, params: &Map<String, Value>) -> Response {
    let asked = params
        .get("protocolVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let version = if PROTOCOLS.contains(&asked) {
        asked
    } else {
        PROTOCOLS[0]
    };
    let Some(session) = gw.sessions.open(&who.name, version) else {
        return rpc_error(
            StatusCode::SERVICE_UNAVAILABLE,
            id,
            -32603,
            "too many sessions; try again later",
        );
    };
    tracing::info!(principal = %who.name, session = %session.id, protocol = version, "mcp: session opened");
    let mut r = reply_json(
        id,
        result(json!({
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": false}, "prompts": {"listChanged": false}, "resources": {"listChanged": false, "subscribe": false}},
            "serverInfo": {"name": "countersign", "version": env!("CARGO_PKG_VERSION")},
            "instructions": "Tools of several servers, governed by Countersign: a call may be denied (the result says why) or held until a person approves it.",
        })),
    );
    if let Ok(v) = HeaderValue::from_str(&session.id) {
        r.headers_mut().insert(SESSION, v);
    }
    r
}

async fn list_tools(gw: &Gateway, who: &Principal) -> Reply {
    let tools = gw.catalog.tools(false).await;
    let mut shown: Vec<&Value> = Vec::new();
    let mut entries: Vec<_> = tools.values().collect();
    entries.sort_by(|a, b| a.exposed.cmp(&b.exposed));
    for t in entries {
        if gw.catalog.pin_state(t).await == PinState::Trusted && govern::listable(gw, who, t) {
            shown.push(&t.definition);
        }
    }
    result(json!({"tools": shown}))
}

/// Prompts and resources of every upstream whose reads this principal
/// may request (`Tool::"server.prompts/get"`, `Tool::"server.resources/read"`).
/// Prompt names are namespaced like tools; resource URIs stay as they are.
async fn list_reads(
    gw: &Gateway,
    who: &Principal,
    method: &str,
    key: &str,
    resources: bool,
) -> Reply {
    let read = if resources {
        "resources/read"
    } else {
        "prompts/get"
    };
    let mut out = Vec::new();
    for (u, mut item) in gw.catalog.list(method, key).await {
        if !govern::may_request(gw, who, &u, &format!("{}.{read}", u.name), read) {
            continue;
        }
        if !resources
            && let Some(o) = item.as_object_mut()
            && let Some(n) = o.get("name").and_then(Value::as_str).map(str::to_owned)
        {
            o.insert(
                "name".into(),
                Value::String(format!("{}{}{n}", u.name, gw.config.separator)),
            );
        }
        out.push(item);
    }
    let mut m = Map::new();
    m.insert(key.into(), Value::Array(out));
    result(Value::Object(m))
}

/// Runs a call in its own task so the answer can switch to an SSE stream
/// when something (progress) must be said before the result. The task is
/// cancelled if the client goes away (the response is dropped) or sends
/// `notifications/cancelled`.
async fn call_tool(
    gw: Arc<Gateway>,
    who: Arc<Principal>,
    session: Arc<crate::session::Session>,
    id: Value,
    params: Map<String, Value>,
    rid: String,
    method: String,
) -> Response {
    let cancel = CancellationToken::new();
    let key = id.to_string();
    session.track(&key, cancel.clone());
    let guard = cancel.clone().drop_guard();
    let (sink, mut notes) = mpsc::channel::<Value>(64);
    let (done_tx, mut done) = oneshot::channel::<Reply>();
    {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let call = govern::Call {
                gw: &gw,
                who: &who,
                params,
                sink: &sink,
                cancel: &cancel,
                request_id: &rid,
                read: method != "tools/call",
            };
            let reply = match method.as_str() {
                "prompts/get" => call.prompt().await,
                "resources/read" => call.resource().await,
                _ => call.run().await,
            };
            session.untrack(&key);
            let _ = done_tx.send(reply);
        });
    }
    let first = tokio::select! {
        biased;
        r = &mut done => {
            return match r {
                Ok(reply) => {
                    drop(guard.disarm());
                    reply_json(id, reply)
                }
                Err(_) => rpc_error(StatusCode::INTERNAL_SERVER_ERROR, id, -32603, "the call ended without an answer"),
            };
        }
        n = notes.recv() => n,
    };
    // Something to say before the result: answer with an event stream.
    let stream = Streamed {
        first,
        notes,
        done,
        id,
        _guard: Some(guard),
    };
    let body = Body::from_stream(
        futures_util::stream::unfold(stream, next_event).map(Ok::<_, std::convert::Infallible>),
    );
    let mut r = Response::new(body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

struct Streamed {
    first: Option<Value>,
    notes: mpsc::Receiver<Value>,
    done: oneshot::Receiver<Reply>,
    id: Value,
    /// Cancels the call when the stream is dropped before the result.
    _guard: Option<DropGuard>,
}

fn event(v: &Value) -> Bytes {
    Bytes::from(format!("event: message\ndata: {v}\n\n"))
}

async fn next_event(mut s: Streamed) -> Option<(Bytes, Streamed)> {
    if let Some(n) = s.first.take() {
        return Some((event(&n), s));
    }
    s._guard.as_ref()?;
    tokio::select! {
        biased;
        n = s.notes.recv(), if !s.notes.is_closed() => match n {
            Some(n) => Some((event(&n), s)),
            None => {
                let r = (&mut s.done).await.unwrap_or_else(|_| error(-32603, "the call ended without an answer"));
                finish(s, r)
            }
        },
        r = &mut s.done => {
            let r = r.unwrap_or_else(|_| error(-32603, "the call ended without an answer"));
            finish(s, r)
        }
    }
}

fn finish(mut s: Streamed, reply: Reply) -> Option<(Bytes, Streamed)> {
    let mut m = reply;
    m.insert("jsonrpc".into(), Value::String("2.0".into()));
    m.insert("id".into(), s.id.clone());
    if let Some(g) = s._guard.take() {
        drop(g.disarm());
    }
    Some((event(&Value::Object(m)), s))
}

// ── Admin: tool pins ───────────────────────────────────────────────────────

async fn admin(gw: &Gateway, headers: &HeaderMap) -> Result<Principal, Response> {
    let rid = request_id();
    let p = authenticate(gw, headers, &rid).await?;
    if !p
        .groups
        .iter()
        .any(|g| g == &gw.governor.config().admin_group)
    {
        return Err(json_response(
            StatusCode::FORBIDDEN,
            &json!({"error": {"code": "forbidden", "message": "only admins manage MCP tool pins"}}),
        ));
    }
    Ok(p)
}

/// Every tool the upstreams offer, with its pin state.
async fn admin_tools(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    if let Err(r) = admin(&gw, &headers).await {
        return r;
    }
    let tools = gw.catalog.tools(true).await;
    let mut out: Vec<Value> = Vec::new();
    let mut entries: Vec<_> = tools.values().collect();
    entries.sort_by(|a, b| a.exposed.cmp(&b.exposed));
    for t in entries {
        let pin = gw
            .catalog
            .pins
            .get(&crate::pins::key(&t.upstream.name, &t.original));
        out.push(json!({
            "name": t.exposed,
            "upstream": t.upstream.name,
            "environment": t.upstream.environment,
            "hash": t.hash,
            "state": gw.catalog.pin_state(t).await.as_str(),
            "pinned": pin,
            "definition": t.definition,
        }));
    }
    json_response(StatusCode::OK, &json!({"tools": out}))
}

/// Pins the current definition of a tool. With `{"hash": …}` in the body,
/// only if that is still the current definition (the admin approves what
/// they reviewed, not whatever the upstream says a moment later).
async fn admin_pin(
    State(gw): State<Arc<Gateway>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let who = match admin(&gw, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let want: Option<String> = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => v.get("hash").and_then(Value::as_str).map(str::to_owned),
            Err(e) => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": {"code": "invalid_request", "message": format!("body is not JSON: {e}")}}),
                );
            }
        }
    };
    let Some(t) = gw.catalog.tools(true).await.get(&name).cloned() else {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": {"code": "not_found", "message": format!("no upstream offers a tool `{name}`")}}),
        );
    };
    if want.as_ref().is_some_and(|h| h != &t.hash) {
        return json_response(
            StatusCode::CONFLICT,
            &json!({"error": {"code": "conflict", "message": "the tool's definition changed since that hash; review it again", "current": t.hash}}),
        );
    }
    // The admin's decision to trust this definition is audited before it
    // takes effect: no record, no pin.
    let mut ev = AuditEvent::new(EventKind::ToolPinned);
    ev.principal = Some(who.reference());
    ev.resource = Some(ResourceRef {
        kind: "Tool".into(),
        id: name.clone(),
    });
    ev.detail = Some(json!({"hash": t.hash, "upstream": t.upstream.name}));
    if let Err(e) = gw.governor.store().commit(Write::event(ev)).await {
        tracing::error!(tool = %name, error = %e, "mcp: cannot audit a pin; not pinned");
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"error": {"code": "unavailable", "message": "the pin cannot be recorded in the audit log; it was not made"}}),
        );
    }
    match gw
        .catalog
        .pins
        .set(
            &crate::pins::key(&t.upstream.name, &t.original),
            &t.hash,
            &who.name,
        )
        .await
    {
        Ok(pin) => {
            tracing::info!(tool = %name, hash = %t.hash, by = %who.name, "mcp: tool pinned");
            json_response(StatusCode::OK, &json!({"name": name, "pin": pin}))
        }
        Err(e) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": {"code": "internal", "message": e.to_string()}}),
        ),
    }
}
