//! The audit log: checkpoints, entries with receipts (inclusion proofs),
//! consistency proofs, and the C2SP tlog-tiles read endpoints so standard
//! transparency-log clients and witnesses can follow it.
//!
//! Checkpoints and hash tiles hold only hashes and are public (witnesses need
//! no account); entries name principals and actions and need a token. Agents
//! only read entries about themselves.

use crate::AppState;
use crate::auth::Authed;
use crate::error::ApiError;
use crate::json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use countersign_core::{Principal, PrincipalKind, Timestamp};
use countersign_store::{AuditEntry, AuditFilter, CheckpointRow};
use countersign_tlog::{TileKind, TlogError};
use serde::Deserialize;
use serde_json::{Value, json};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/audit/checkpoint", get(checkpoint))
        .route("/v1/audit/checkpoints", get(checkpoints))
        .route("/v1/audit/entries", get(entries))
        .route("/v1/audit/entries/{seq}", get(entry))
        .route("/v1/audit/consistency", get(consistency))
        .route("/v1/audit/payloads/{hash}", get(payload))
        .route("/audit/checkpoint", get(tlog_checkpoint))
        .route("/audit/tile/{*path}", get(tlog_tile))
}

fn tlog_error(e: TlogError) -> ApiError {
    ApiError::bad_request("invalid_proof_request", e.to_string())
}

/// The newest checkpoint covering at least `min_size` entries, signing a new
/// one if the latest is older than that.
async fn checkpoint_covering(s: &AppState, min_size: u64) -> Result<CheckpointRow, ApiError> {
    if let Some(cp) = s.store.latest_checkpoint().await?
        && cp.size >= min_size
    {
        return Ok(cp);
    }
    s.store
        .checkpoint(s.log_signer.clone(), &s.config.log_origin)
        .await?;
    s.store
        .latest_checkpoint()
        .await?
        .filter(|cp| cp.size >= min_size)
        .ok_or_else(|| ApiError::not_found("a checkpoint covering that entry"))
}

fn checkpoint_json(cp: &CheckpointRow) -> Value {
    let root = countersign_tlog::Checkpoint::parse(
        cp.note
            .split("\n\n")
            .next()
            .map(|t| format!("{t}\n"))
            .as_deref()
            .unwrap_or(""),
    )
    .map(|c| B64.encode(c.root))
    .ok();
    json!({
        "size": cp.size,
        "root": root,
        "created_at": cp.created_at.rfc3339(),
        "note": cp.note,
        "verifier_key": null,
    })
}

async fn checkpoint(State(s): State<AppState>, Authed(_): Authed) -> Result<Json<Value>, ApiError> {
    let cp = checkpoint_covering(&s, 0).await?;
    let mut v = checkpoint_json(&cp);
    v["verifier_key"] = Value::String(s.log_signer.verifier().to_key());
    Ok(Json(v))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointsQuery {
    from: Option<u64>,
    limit: Option<usize>,
}

/// Every stored checkpoint, oldest first, so that a verifier can check each
/// signature and that each is consistent with the entries and the next.
async fn checkpoints(
    State(s): State<AppState>,
    Authed(_): Authed,
    q: Result<Query<CheckpointsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(json::query_error)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let list = s.store.checkpoints(q.from.unwrap_or(0), limit).await?;
    let next = (list.len() == limit)
        .then(|| list.last().map(|c| c.size + 1))
        .flatten();
    Ok(Json(json!({
        "checkpoints": list.iter().map(checkpoint_json).collect::<Vec<_>>(),
        "next_from": next,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntriesQuery {
    start: Option<u64>,
    limit: Option<usize>,
    principal: Option<String>,
    action: Option<String>,
    environment: Option<String>,
    verdict: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

fn time_param(name: &str, v: Option<String>) -> Result<Option<Timestamp>, ApiError> {
    v.map(|t| {
        Timestamp::parse_rfc3339(&t).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                format!("`{name}` must be RFC 3339, got `{t}`"),
            )
        })
    })
    .transpose()
}

/// Agents read only what is about them.
fn restrict(who: &Principal, f: &mut AuditFilter) {
    if who.kind == PrincipalKind::Agent {
        f.principal = Some(who.name.clone());
    }
}

fn entry_json(e: &AuditEntry) -> Value {
    let parsed: Value = serde_json::from_slice(&e.entry).unwrap_or(Value::Null);
    json!({
        "seq": e.seq,
        "time": e.time.rfc3339(),
        "leaf_hash": B64.encode(countersign_tlog::leaf_hash(&e.entry)),
        "entry": parsed,
    })
}

async fn entries(
    State(s): State<AppState>,
    Authed(who): Authed,
    q: Result<Query<EntriesQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(json::query_error)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let mut f = AuditFilter {
        start: q.start.unwrap_or(0),
        limit,
        principal: q.principal,
        action: q.action,
        environment: q.environment,
        verdict: q.verdict,
        kind: q.kind,
        since: time_param("since", q.since)?,
        until: time_param("until", q.until)?,
    };
    restrict(&who, &mut f);
    let list = s.store.audit_entries(f).await?;
    let next = (list.len() == limit)
        .then(|| list.last().map(|e| e.seq + 1))
        .flatten();
    Ok(Json(json!({
        "entries": list.iter().map(entry_json).collect::<Vec<_>>(),
        "next_start": next,
    })))
}

/// One entry with its receipt: an inclusion proof against a signed
/// checkpoint, verifiable offline with the log's public key.
async fn entry(
    State(s): State<AppState>,
    Authed(who): Authed,
    Path(seq): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    let e = s
        .store
        .audit_entry(seq)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("audit entry {seq}")))?;
    let mut v = entry_json(&e);
    if who.kind == PrincipalKind::Agent
        && v["entry"]["principal"]["name"].as_str() != Some(who.name.as_str())
    {
        return Err(ApiError::not_found(format!("audit entry {seq}")));
    }
    let cp = checkpoint_covering(&s, seq + 1).await?;
    let size = cp.size;
    let proof = s
        .store
        .with_nodes(move |r| countersign_tlog::inclusion_proof(r, seq, size))
        .await?
        .map_err(tlog_error)?;
    v["receipt"] = json!({
        "checkpoint": checkpoint_json(&cp),
        "index": seq,
        "tree_size": size,
        "inclusion_proof": proof.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
        "verifier_key": s.log_signer.verifier().to_key(),
    });
    Ok(Json(v))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    from: u64,
    to: u64,
}

async fn consistency(
    State(s): State<AppState>,
    Authed(_): Authed,
    q: Result<Query<ConsistencyQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(json::query_error)?;
    let size = s.store.audit_size().await?;
    if q.to > size || q.from > q.to {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("need 0 <= from <= to <= {size} (the log size)"),
        ));
    }
    let (from, to) = (q.from, q.to);
    let proof = s
        .store
        .with_nodes(move |r| {
            let p = countersign_tlog::consistency_proof(r, from, to)?;
            Ok((
                p,
                countersign_tlog::root_at(r, from)?,
                countersign_tlog::root_at(r, to)?,
            ))
        })
        .await?
        .map_err(tlog_error)?;
    Ok(Json(json!({
        "from": from,
        "to": to,
        "from_root": B64.encode(proof.1),
        "to_root": B64.encode(proof.2),
        "proof": proof.0.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
    })))
}

async fn payload(
    State(s): State<AppState>,
    Authed(who): Authed,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    if who.kind == PrincipalKind::Agent {
        return Err(ApiError::forbidden("agents cannot read stored payloads"));
    }
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(
            "invalid_request",
            "payload hash is 64 hex digits",
        ));
    }
    let body = s
        .store
        .audit_payload(&hash)
        .await?
        .ok_or_else(|| ApiError::not_found("payload"))?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response())
}

async fn tlog_checkpoint(State(s): State<AppState>) -> Result<Response, ApiError> {
    let cp = checkpoint_covering(&s, 0).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        cp.note,
    )
        .into_response())
}

/// `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`.
async fn tlog_tile(
    State(s): State<AppState>,
    Path(path): Path<String>,
    auth: Result<Authed, ApiError>,
) -> Result<Response, ApiError> {
    let full = format!("tile/{path}");
    let tile = countersign_tlog::parse_tile_path(&full).map_err(|e| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("not a tile path: {e}"),
        )
    })?;
    let size = s.store.audit_size().await?;
    let width = u64::from(tile.width());
    match tile.kind {
        TileKind::Hashes { level } => {
            // Tile level L holds tree-level 8L nodes; it exists once the
            // tree has that many complete subtrees.
            let shift = u32::from(level) * 8;
            let have = if shift >= 64 { 0 } else { size >> shift };
            if tile.index.saturating_mul(256).saturating_add(width) > have {
                return Err(ApiError::not_found("tile"));
            }
            let (idx, w) = (tile.index, tile.width());
            let hashes = s
                .store
                .with_nodes(move |r| countersign_tlog::tile_hashes(r, level, idx, w))
                .await?
                .map_err(tlog_error)?;
            let body: Vec<u8> = hashes.concat();
            Ok(immutable(body))
        }
        TileKind::Entries => {
            if auth.is_err() {
                return Err(ApiError::unauthenticated());
            }
            let start = tile.index.saturating_mul(256);
            if start.saturating_add(width) > size {
                return Err(ApiError::not_found("entry bundle"));
            }
            let list = s
                .store
                .audit_entries(AuditFilter {
                    start,
                    limit: usize::try_from(width).unwrap_or(256),
                    ..AuditFilter::default()
                })
                .await?;
            let mut body = Vec::new();
            for e in &list {
                let len = u16::try_from(e.entry.len()).map_err(|_| {
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "entry too large for a bundle",
                    )
                })?;
                body.extend_from_slice(&len.to_be_bytes());
                body.extend_from_slice(&e.entry);
            }
            Ok(immutable(body))
        }
    }
}

fn immutable(body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response()
}
