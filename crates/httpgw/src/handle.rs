//! One request, end to end: authenticate → route → rule → (bounded body
//! read for the hash) → `governor.decide` → hold while pending → forward
//! or refuse. Every refusal is a problem document; every allowed request
//! has its outcome reported.

use crate::body::{self, Body, Prefix};
use crate::config::Route;
use crate::headers::TOKEN_HEADER;
use crate::path::{self, Segments};
use crate::problem::{self, Problem};
use crate::rules::{Captures, ResourceTemplate, Values};
use crate::server::Shared;
use bytes::Bytes;
use countersign_core::governor::{AllowAck, AuthFailure, DecisionInput};
use countersign_core::verdict::{Decision, Verdict};
use countersign_core::{
    ApprovalState, AuditEvent, EventKind, GovernorError, Principal, ResourceRef, Timestamp, Write,
};
use http::{HeaderMap, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument as _;

/// Entry point from the listener; never fails (refusals are responses).
pub async fn handle(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Body> {
    let rid = countersign_core::ids::new_id(countersign_core::ids::REQUEST)
        .unwrap_or_else(|_| "req_unavailable".to_owned());
    let span = tracing::info_span!("http", request_id = %rid, method = %req.method());
    async move {
        match run(&shared, peer, req, &rid).await {
            Ok(r) => r,
            Err(p) => {
                tracing::info!(status = p.status().as_u16(), "http gateway: refused");
                p.into_response(&rid)
            }
        }
    }
    .instrument(span)
    .await
}

/// What the decision was asked, and what forwarding needs.
pub struct Prepared {
    pub route: usize,
    pub principal: Arc<Principal>,
    pub input: DecisionInput,
    pub body: Upload,
    pub started: Instant,
}

/// The request body, as far as it was read.
pub enum Upload {
    Empty,
    /// Read in full (and hashed).
    Whole(VecDeque<Bytes>, u64),
    /// Larger than the inspect limit: a read prefix, then the stream.
    Streamed(VecDeque<Bytes>, Incoming),
}

async fn run(
    shared: &Arc<Shared>,
    peer: SocketAddr,
    mut req: Request<Incoming>,
    rid: &str,
) -> Result<Response<Body>, Problem> {
    let started = Instant::now();
    let principal = Arc::new(authenticate(shared, req.headers(), rid).await?);
    let host = request_host(&req);
    let raw_path = req.uri().path().to_owned();
    let segs = path::split(&raw_path).map_err(|e| problem::bad_request(e.to_string()))?;
    let ri = pick_route(&shared.config.routes, host.as_deref(), &segs)
        .ok_or_else(|| problem::not_found(format!("no route serves {raw_path}")))?;
    let route = &shared.config.routes[ri];
    let rest = &segs.decoded[route.prefix.len()..];

    // Which rule; unmatched requests are denied unless the route has a default.
    let method = req.method().clone();
    let rule = route.rules.iter().find_map(|r| {
        (r.method.matches(&method))
            .then(|| r.pattern.matches(rest))
            .flatten()
            .map(|c| (r, c))
    });
    let (action, template, captures, fields): (&str, &ResourceTemplate, Captures<'_>, &[String]) =
        match &rule {
            Some((r, c)) => (&r.action, &r.resource, c.clone(), &r.body_fields),
            None => match &route.default {
                Some((a, t)) => (a, t, Vec::new(), &[]),
                None => {
                    let why = format!(
                        "no rule of route `{}` matches {method} {raw_path}, and the route has no default",
                        route.name
                    );
                    audit_unmatched(shared, &principal, route, &method, &raw_path, &why, rid).await;
                    return Err(Problem::new(
                        StatusCode::FORBIDDEN,
                        "no-rule",
                        "No rule matches",
                        why,
                    )
                    .with("route", route.name.clone()));
                }
            },
        };

    // The body: hashed when it fits the inspect limit, read in full when
    // a rule needs its fields, streamed otherwise.
    let max = shared.config.max_body_bytes;
    if let Some(len) = content_length(req.headers())
        && len > max
    {
        return Err(problem::too_large(format!(
            "the body is {len} bytes; this gateway accepts at most {max}"
        )));
    }
    let upgrade = crate::headers::wants_upgrade(req.headers());
    let on_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (parts, incoming) = req.into_parts();
    let limit = shared.config.inspect_body_bytes;
    let upload = if http_body::Body::is_end_stream(&incoming) {
        Upload::Empty
    } else {
        match body::read_prefix(incoming, limit, shared.config.idle_timeout).await {
            Ok(Prefix::Whole(chunks, n)) => Upload::Whole(chunks, n),
            Ok(Prefix::Partial(chunks, rest)) => Upload::Streamed(chunks, rest),
            Err(e) => {
                return Err(problem::bad_request(format!(
                    "cannot read the request body: {e}"
                )));
            }
        }
    };
    let body_values = if fields.is_empty() {
        Vec::new()
    } else {
        match &upload {
            Upload::Streamed(..) => {
                return Err(problem::too_large(format!(
                    "this request's rule reads the JSON body, which must then be at most {limit} bytes"
                )));
            }
            Upload::Empty => read_fields(&[], fields)?,
            Upload::Whole(chunks, _) => read_fields(&concat(chunks), fields)?,
        }
    };
    let vals = Values {
        captures: &captures,
        body: &body_values,
    };
    let resource_id = template.id.render(&vals).map_err(|f| {
        problem::bad_request(format!(
            "the JSON body has no `{f}`, which this request's rule needs"
        ))
    })?;
    let input = DecisionInput {
        action: action.to_owned(),
        resource: ResourceRef {
            kind: template.kind.clone(),
            id: resource_id,
        },
        environment: route.environment.clone(),
        context: context(route, &parts, host.as_deref(), &upload, &body_values),
        reason: None,
        approval_id: None,
    };
    drop(rule);
    let prepared = Prepared {
        route: ri,
        principal,
        input,
        body: upload,
        started,
    };
    let decision = govern(shared, &prepared, rid).await?;
    crate::forward::forward(
        shared, prepared, decision, parts, peer, host, on_upgrade, rid,
    )
    .await
}

/// The Countersign token, from our own header or `Proxy-Authorization`.
async fn authenticate(shared: &Shared, h: &HeaderMap, rid: &str) -> Result<Principal, Problem> {
    let presented = h
        .get(&TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .or_else(|| {
            h.get(header::PROXY_AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().strip_prefix("Bearer "))
                .map(str::trim)
        });
    let Some(token) = presented else {
        return Err(problem::unauthorized());
    };
    match shared.governor.authenticate(token) {
        Ok(p) => Ok(p),
        Err(failure) => {
            audit_failure(shared, failure, token, rid).await;
            Err(problem::unauthorized())
        }
    }
}

async fn audit_failure(shared: &Shared, failure: AuthFailure, token: &str, rid: &str) {
    if let Err(e) = shared
        .governor
        .audit_auth_failure(failure, Some(token), "http_gateway", Some(rid))
        .await
    {
        tracing::warn!(error = %e, "http gateway: cannot audit a failed authentication");
    }
}

/// A request no rule maps to an action never reaches the governor's
/// decision path, so its refusal is recorded here (`request.rejected`).
async fn audit_unmatched(
    shared: &Shared,
    who: &Principal,
    route: &Route,
    method: &http::Method,
    path: &str,
    why: &str,
    rid: &str,
) {
    let mut ev = AuditEvent::new(EventKind::RequestRejected).with_request_id(Some(rid));
    ev.principal = Some(who.reference());
    ev.owner = who.owner.clone();
    ev.environment = Some(route.environment.clone());
    ev.reason = Some(why.chars().take(2000).collect());
    ev.detail = Some(json!({
        "channel": "http_gateway",
        "route": route.name,
        "method": method.as_str(),
        "path": path.chars().take(2000).collect::<String>(),
    }));
    if let Err(e) = shared.governor.store().commit(Write::event(ev)).await {
        tracing::warn!(error = %e, "http gateway: cannot audit an unmatched request");
    }
}

/// The host the client addressed, lowercase, without port.
fn request_host(req: &Request<Incoming>) -> Option<String> {
    let h = req.uri().authority().map(|a| a.as_str()).or_else(|| {
        req.headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
    })?;
    Some(h.to_ascii_lowercase())
}

fn host_only(h: &str) -> &str {
    if h.starts_with('[') {
        return h.split_once(']').map_or(h, |(a, _)| &a[1..]);
    }
    h.rsplit_once(':').map_or(h, |(a, _)| a)
}

/// The route with the longest prefix that fits host and path.
fn pick_route(routes: &[Route], host: Option<&str>, segs: &Segments<'_>) -> Option<usize> {
    let host = host.map(host_only);
    routes
        .iter()
        .enumerate()
        .filter(|(_, r)| r.host.as_deref().is_none_or(|want| Some(want) == host))
        .filter(|(_, r)| segs.decoded.starts_with(&r.prefix))
        .max_by_key(|(_, r)| (r.prefix.len(), r.host.is_some()))
        .map(|(i, _)| i)
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

fn concat(chunks: &VecDeque<Bytes>) -> Bytes {
    if chunks.len() == 1
        && let Some(c) = chunks.front()
    {
        return c.clone();
    }
    let mut v = Vec::with_capacity(chunks.iter().map(Bytes::len).sum());
    for c in chunks {
        v.extend_from_slice(c);
    }
    Bytes::from(v)
}

/// Top-level JSON fields a rule reads, as text.
fn read_fields(body: &[u8], fields: &[String]) -> Result<Vec<(String, String)>, Problem> {
    let v: Value = if body.is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body)
            .map_err(|e| problem::bad_request(format!("the body is not JSON: {e}")))?
    };
    let Value::Object(obj) = v else {
        return Err(problem::bad_request("the JSON body must be an object"));
    };
    let mut out = Vec::new();
    for f in fields {
        let text = match obj.get(f) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => s.clone(),
            Some(v @ (Value::Bool(_) | Value::Number(_))) => v.to_string(),
            Some(_) => {
                return Err(problem::bad_request(format!(
                    "body field `{f}` must be a string, number or boolean"
                )));
            }
        };
        out.push((f.clone(), text));
    }
    Ok(out)
}

/// `context.http`: what the request was, so that its hash (and so the
/// approval it may redeem) binds method, URL and body.
fn context(
    route: &Route,
    parts: &http::request::Parts,
    host: Option<&str>,
    upload: &Upload,
    fields: &[(String, String)],
) -> Map<String, Value> {
    let mut http = Map::new();
    http.insert(
        "method".into(),
        Value::String(parts.method.as_str().to_owned()),
    );
    http.insert("route".into(), Value::String(route.name.clone()));
    http.insert("path".into(), Value::String(parts.uri.path().to_owned()));
    if let Some(h) = host {
        http.insert("host".into(), Value::String(h.to_owned()));
    }
    if let Some(q) = parts.uri.query() {
        http.insert("query".into(), Value::String(q.to_owned()));
    }
    match upload {
        Upload::Empty => {
            http.insert("body_bytes".into(), json!(0));
            http.insert(
                "body_sha256".into(),
                Value::String(hex::encode(Sha256::digest([]))),
            );
        }
        Upload::Whole(chunks, n) => {
            let mut h = Sha256::new();
            for c in chunks {
                h.update(c);
            }
            http.insert("body_bytes".into(), json!(n));
            http.insert(
                "body_sha256".into(),
                Value::String(hex::encode(h.finalize())),
            );
        }
        Upload::Streamed(..) => {
            http.insert("streamed".into(), Value::Bool(true));
        }
    }
    if !fields.is_empty() {
        http.insert(
            "fields".into(),
            Value::Array(
                fields
                    .iter()
                    .map(|(k, v)| Value::String(format!("{k}={v}")))
                    .collect(),
            ),
        );
    }
    let mut ctx = Map::new();
    ctx.insert("http".into(), Value::Object(http));
    ctx
}

/// Decides, holding a pending request up to the configured wait. Returns
/// the allowing decision, or the refusal to send.
async fn govern(shared: &Shared, p: &Prepared, rid: &str) -> Result<Decision, Problem> {
    let d = decide(shared, p, rid).await?;
    match d.verdict {
        Verdict::Allow => allowed(d),
        Verdict::Deny => Err(denied(&d)),
        Verdict::Pending => hold(shared, p, d, rid).await,
    }
}

async fn decide(shared: &Shared, p: &Prepared, rid: &str) -> Result<Decision, Problem> {
    let safe = matches!(
        p.input
            .context
            .get("http")
            .and_then(|h| h.get("method"))
            .and_then(Value::as_str),
        Some("GET" | "HEAD" | "OPTIONS")
    );
    let ack = if safe && shared.config.routes[p.route].relaxed_reads {
        AllowAck::Committed
    } else {
        AllowAck::Durable
    };
    shared
        .governor
        .decide_with(&p.principal, p.input.clone(), Some(rid), ack)
        .await
        .map_err(|e| cannot_decide(&e))
}

fn cannot_decide(e: &GovernorError) -> Problem {
    tracing::warn!(error = %e, "http gateway: cannot decide");
    match e {
        GovernorError::Unavailable(_) | GovernorError::Internal(_) | GovernorError::Conflict(_) => {
            problem::unavailable(format!(
                "countersign cannot decide on this request now: {e}"
            ))
            .retry_after(1)
        }
        other => Problem::new(
            StatusCode::FORBIDDEN,
            "undecidable",
            "Cannot decide",
            format!("countersign cannot decide on this request ({other}); it was not sent"),
        ),
    }
}

/// An allow whose obligations this front cannot carry out is refused.
fn allowed(d: Decision) -> Result<Decision, Problem> {
    if let Some(o) = d.obligations.first() {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "obligation-unsupported",
            "Cannot meet the policy's obligations",
            format!(
                "policy `{}` allows this only with a `{}` obligation, which the HTTP gateway cannot carry out",
                o.policy, o.kind
            ),
        )
        .with("decision_id", d.id.clone()));
    }
    Ok(d)
}

fn denied(d: &Decision) -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "denied",
        "Denied by policy",
        d.reason
            .clone()
            .unwrap_or_else(|| "no policy permits this request".into()),
    )
    .with("decision_id", d.id.clone())
    .with("policies", d.policies.clone())
}

async fn hold(shared: &Shared, p: &Prepared, d: Decision, rid: &str) -> Result<Decision, Problem> {
    let Some(approval) = d.approval.clone() else {
        return Err(denied(&d));
    };
    let id = approval.id.clone();
    if let Upload::Streamed(..) = p.body {
        // An approval binds the body's hash; a streamed body has none, so
        // nothing could tie the retry to what reviewers approved.
        if let Err(e) = shared.governor.cancel(&p.principal, &id, Some(rid)).await {
            tracing::warn!(approval = %id, error = %e, "http gateway: cannot cancel an unredeemable approval");
        }
        return Err(problem::too_large(format!(
            "this request needs approval, and a request held for approval may have a body of at most {} bytes",
            shared.config.inspect_body_bytes
        ))
        .with("decision_id", d.id.clone()));
    }
    let wait = shared.config.approval_wait;
    tracing::info!(approval = %id, wait_secs = wait.as_secs(), "http gateway: holding for approval");
    let pending = |detail: String| {
        Problem::new(
            StatusCode::FORBIDDEN,
            "approval-pending",
            "Approval pending",
            detail,
        )
        .with("approval_id", id.clone())
        .with("decision_id", d.id.clone())
        .with("policies", d.policies.clone())
        .with("quorum", approval.quorum)
        .with("expires_at", approval.expires_at.clone())
        .retry_after(wait.as_secs().clamp(1, 60))
    };
    let how = format!(
        "approve with `countersign approvals approve {id}`, then send the identical request again: it proceeds once"
    );
    let deadline = tokio::time::Instant::now() + wait;
    // No version seen yet: the first wait returns the approval as it is
    // now, so one approved between the decision and here is not missed.
    let mut version = u64::MAX;
    loop {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(pending(format!(
                "{} — still pending after {}s; {how}",
                d.reason.as_deref().unwrap_or("approval required"),
                wait.as_secs()
            )));
        }
        let a = match shared
            .governor
            .wait_for_change(&id, version, deadline - now)
            .await
        {
            Ok(Some(a)) => a,
            Ok(None) => continue,
            Err(e) => return Err(cannot_decide(&e)),
        };
        match a.effective_state(Timestamp::now()) {
            ApprovalState::Pending => version = a.version,
            ApprovalState::Approved => {
                let d2 = decide(shared, p, rid).await?;
                return match d2.verdict {
                    Verdict::Allow => allowed(d2),
                    _ => Err(denied(&d2)),
                };
            }
            other => {
                return Err(Problem::new(
                    StatusCode::FORBIDDEN,
                    "approval-refused",
                    "Approval not granted",
                    format!(
                        "approval {id} was {}; the request was not sent",
                        other.as_str()
                    ),
                )
                .with("approval_id", id.clone())
                .with("decision_id", d.id.clone()));
            }
        }
    }
}
