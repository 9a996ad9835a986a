//! The audit explorer: filtered entries, each with its receipt (inclusion
//! proof) checked here, against the latest checkpoint whose signature is
//! checked with the log's verifier key. Export of the filtered view as JSONL.

use crate::Console;
use crate::auth::Signed;
use crate::html::{e, page, url_component};
use crate::respond::{error_page, html};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use countersign_core::Timestamp;
use countersign_server::ApiError;
use countersign_store::{AuditEntry, AuditFilter};
use countersign_tlog::{Checkpoint, Hash, leaf_hash, verify_inclusion};
use serde::Deserialize;
use serde_json::Value;
use std::fmt::Write as _;

/// Entries on one page.
const PAGE: usize = 50;
/// Most entries one export holds (bounded work per request).
const MAX_EXPORT: usize = 10_000;

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    principal: Option<String>,
    action: Option<String>,
    environment: Option<String>,
    verdict: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    since: Option<String>,
    until: Option<String>,
    start: Option<u64>,
}

/// Longest filter value accepted (names and actions are short).
const MAX_FILTER: usize = 200;

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// RFC 3339, or the `YYYY-MM-DDTHH:MM` a date-time field sends (taken as UTC).
fn time(name: &str, v: &Option<String>) -> Result<Option<Timestamp>, ApiError> {
    let Some(t) = nonempty(v) else {
        return Ok(None);
    };
    Timestamp::parse_rfc3339(&t)
        .or_else(|| Timestamp::parse_rfc3339(&format!("{t}:00Z")))
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                format!("`{name}` must be a time like 2026-01-31T09:00:00Z, got `{t}`"),
            )
        })
}

impl AuditQuery {
    fn filter(&self, start: u64, limit: usize) -> Result<AuditFilter, ApiError> {
        // Refused, not cut: a silently shortened filter would show the wrong entries.
        if self
            .values()
            .iter()
            .any(|(_, v)| v.as_ref().is_some_and(|v| v.len() > MAX_FILTER))
        {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("filter values are at most {MAX_FILTER} bytes"),
            ));
        }
        Ok(AuditFilter {
            start,
            limit,
            principal: nonempty(&self.principal),
            action: nonempty(&self.action),
            environment: nonempty(&self.environment),
            verdict: nonempty(&self.verdict),
            kind: nonempty(&self.kind),
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
        })
    }

    fn values(&self) -> [(&'static str, &Option<String>); 7] {
        [
            ("principal", &self.principal),
            ("action", &self.action),
            ("environment", &self.environment),
            ("verdict", &self.verdict),
            ("type", &self.kind),
            ("since", &self.since),
            ("until", &self.until),
        ]
    }

    fn is_filtered(&self) -> bool {
        self.values().iter().any(|(_, v)| nonempty(v).is_some())
    }

    /// The filters as a query string (for export and paging links).
    fn query_string(&self) -> String {
        let mut q = String::new();
        for (k, v) in self.values() {
            if let Some(v) = nonempty(v) {
                let _ = write!(
                    q,
                    "{}{k}={}",
                    if q.is_empty() { "" } else { "&" },
                    url_component(&v)
                );
            }
        }
        q
    }
}

/// Receipts of a page of entries, checked against one signed checkpoint.
pub struct Verified {
    pub checkpoint: Option<Checkpoint>,
    /// Per entry (same order): the proof if it verified, or why not.
    pub results: Vec<Result<Vec<Hash>, String>>,
}

/// Checks every entry's inclusion proof against the latest checkpoint,
/// signing a new checkpoint first if the latest does not cover the page.
pub async fn verify(c: &Console, entries: &[AuditEntry]) -> Result<Verified, ApiError> {
    let Some(max_seq) = entries.iter().map(|e| e.seq).max() else {
        return Ok(Verified {
            checkpoint: None,
            results: Vec::new(),
        });
    };
    let store = &c.app.store;
    let mut cp = store.latest_checkpoint().await?;
    if cp.as_ref().is_none_or(|cp| cp.size <= max_seq) {
        store
            .checkpoint(c.app.log_signer.clone(), &c.app.config.log_origin)
            .await?;
        cp = store.latest_checkpoint().await?;
    }
    let Some(cp) = cp else {
        return Ok(Verified {
            checkpoint: None,
            results: entries
                .iter()
                .map(|_| Err("no checkpoint yet".to_owned()))
                .collect(),
        });
    };
    let verifier = c.app.log_signer.verifier();
    let checkpoint = match Checkpoint::open(cp.note.as_bytes(), std::slice::from_ref(&verifier)) {
        Ok(cp) => cp,
        Err(err) => {
            tracing::error!(error = %err, "latest audit checkpoint does not verify");
            let why = format!("checkpoint signature does not verify: {err}");
            return Ok(Verified {
                checkpoint: None,
                results: entries.iter().map(|_| Err(why.clone())).collect(),
            });
        }
    };
    let size = checkpoint.size;
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    let proofs = store
        .with_nodes(move |r| {
            Ok(seqs
                .iter()
                .map(|&s| countersign_tlog::inclusion_proof(r, s, size).map_err(|e| e.to_string()))
                .collect::<Vec<_>>())
        })
        .await?
        .map_err(|e| ApiError::bad_request("invalid_proof_request", e.to_string()))?;
    let results = entries
        .iter()
        .zip(proofs)
        .map(|(entry, proof)| {
            let proof = proof?;
            verify_inclusion(
                &leaf_hash(&entry.entry),
                entry.seq,
                size,
                &proof,
                &checkpoint.root,
            )
            .map(|()| proof)
            .map_err(|e| e.to_string())
        })
        .collect();
    Ok(Verified {
        checkpoint: Some(checkpoint),
        results,
    })
}

fn field(label: &str, name: &str, value: &Option<String>, hint: &str) -> String {
    format!(
        "<div class=\"field\"><label for=\"f-{name}\">{label}</label>\
         <input id=\"f-{name}\" name=\"{name}\" value=\"{}\" placeholder=\"{}\" autocomplete=\"off\"></div>",
        e(value.as_deref().unwrap_or("")),
        e(hint)
    )
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str().unwrap_or("")
}

fn row(out: &mut String, entry: &AuditEntry, result: &Result<Vec<Hash>, String>, size: u64) {
    let v: Value = serde_json::from_slice(&entry.entry).unwrap_or(Value::Null);
    let resource = match (s(&v, &["resource", "type"]), s(&v, &["resource", "id"])) {
        ("", _) => String::new(),
        (t, id) => format!("{t}::{id}"),
    };
    let mark = match result {
        Ok(_) => "<span class=\"badge verified\" title=\"inclusion proof checked against the signed checkpoint\">✓ verified</span>".to_owned(),
        Err(why) => format!("<span class=\"badge unverified\">✗ not verified</span> <small>{}</small>", e(why)),
    };
    // Seven columns that fit a laptop screen: what happened (type and
    // verdict), to what (action, resource, environment), and the receipt
    // early enough never to be scrolled out of view.
    let what = match (
        s(&v, &["action"]),
        resource.as_str(),
        s(&v, &["environment"]),
    ) {
        ("", "", _) => String::new(),
        (action, resource, env) => {
            let mut w = format!("<code>{}</code>", e(action));
            if !resource.is_empty() {
                let _ = write!(w, " on <code>{}</code>", e(resource));
            }
            if !env.is_empty() {
                let _ = write!(w, " in {}", e(env));
            }
            w
        }
    };
    let verdict = match s(&v, &["verdict"]) {
        "" => String::new(),
        verdict => format!(" <span class=\"verdict\">{}</span>", e(verdict)),
    };
    let (date, clock) = entry.time.rfc3339().split_once('T').map_or_else(
        || (String::new(), entry.time.rfc3339()),
        |(d, t)| (d.to_owned(), t.to_owned()),
    );
    let _ = write!(
        out,
        "<tr data-seq=\"{seq}\"><td>{seq}</td><td><time datetime=\"{full}\">{date}<br>{clock}</time></td>\
         <td>{kind}{verdict}</td><td>{who}</td><td class=\"what\">{what}</td>\
         <td class=\"reason\">{reason}</td><td class=\"receipt-cell\">{mark}",
        seq = entry.seq,
        full = e(&entry.time.rfc3339()),
        date = e(&date),
        clock = e(&clock),
        kind = e(s(&v, &["type"])),
        who = e(s(&v, &["principal", "name"])),
        reason = e(s(&v, &["reason"])),
    );
    if let Ok(proof) = result {
        let _ = write!(
            out,
            "<details><summary>Receipt</summary><dl class=\"receipt\"><dt>Leaf</dt><dd><code>{}</code></dd>\
             <dt>Index</dt><dd>{}</dd><dt>Tree size</dt><dd>{size}</dd><dt>Proof</dt><dd>",
            e(&B64.encode(leaf_hash(&entry.entry))),
            entry.seq
        );
        for h in proof {
            let _ = write!(out, "<code class=\"hash\">{}</code> ", e(&B64.encode(h)));
        }
        out.push_str("</dd></dl></details>");
    }
    out.push_str("</td></tr>");
}

pub async fn explorer(
    State(c): State<Console>,
    signed: Signed,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Response {
    let chrome = signed.chrome("audit");
    let q = match q {
        Ok(Query(q)) => q,
        Err(rej) => {
            return error_page(
                Some(&chrome),
                &ApiError::bad_request("invalid_query", rej.body_text()),
            );
        }
    };
    match explorer_body(&c, &q).await {
        Ok(body) => html(StatusCode::OK, page("Audit log", Some(&chrome), &body)),
        Err(err) => {
            let body = format!(
                "<h1>Audit log</h1>{}<p role=\"alert\" class=\"error\">{}</p>",
                filters(&q),
                e(&err.message)
            );
            html(err.status, page("Audit log", Some(&chrome), &body))
        }
    }
}

fn filters(q: &AuditQuery) -> String {
    format!(
        "<form method=\"get\" action=\"/ui/audit\" class=\"card filters\" role=\"search\">{}{}{}{}{}{}{}\
         <div class=\"buttons\"><button type=\"submit\">Filter</button> <a href=\"/ui/audit\">Clear</a></div></form>",
        field("Principal", "principal", &q.principal, "alice"),
        field("Action", "action", &q.action, "sql.ddl"),
        field("Environment", "environment", &q.environment, "prod"),
        field("Verdict", "verdict", &q.verdict, "allow, deny, pending"),
        field("Type", "type", &q.kind, "decision, vote, approved"),
        field("Since", "since", &q.since, "2026-01-31T09:00:00Z"),
        field("Until", "until", &q.until, "2026-02-01T00:00:00Z"),
    )
}

async fn explorer_body(c: &Console, q: &AuditQuery) -> Result<String, ApiError> {
    let size = c.app.store.audit_size().await?;
    // Unfiltered, the newest page comes first; filtered, matches in log order.
    let start = q.start.unwrap_or_else(|| {
        if q.is_filtered() {
            0
        } else {
            size.saturating_sub(PAGE as u64)
        }
    });
    let entries = c.app.store.audit_entries(q.filter(start, PAGE)?).await?;
    let verified = verify(c, &entries).await?;
    let qs = q.query_string();
    let amp = if qs.is_empty() { "" } else { "&" };
    let mut out = format!("<h1>Audit log</h1>{}", filters(q));
    let ok = verified.results.iter().filter(|r| r.is_ok()).count();
    match &verified.checkpoint {
        Some(cp) => {
            let _ = write!(
                out,
                "<p class=\"help\" id=\"checkpoint\">Log size {size}. Receipts checked against the signed \
                 checkpoint of size {} (root <code class=\"hash\">{}</code>, origin {}): \
                 <strong id=\"verified-count\">{ok} of {}</strong> shown entries verified.</p>",
                cp.size,
                e(&B64.encode(cp.root)),
                e(&cp.origin),
                entries.len()
            );
        }
        None => out.push_str("<p class=\"help\">No entries to verify.</p>"),
    }
    let _ = write!(
        out,
        "<p><a href=\"/ui/audit/export.jsonl{}{}\" download>Export this view (JSONL)</a></p>",
        if qs.is_empty() { "" } else { "?" },
        e(&qs)
    );
    if entries.is_empty() {
        out.push_str("<p class=\"empty\">No entries match.</p>");
    } else {
        out.push_str(
            "<div class=\"scroll\"><table class=\"audit\"><caption>Audit entries</caption><thead><tr>\
             <th scope=\"col\">#</th><th scope=\"col\">Time (UTC)</th><th scope=\"col\">Entry</th>\
             <th scope=\"col\">Principal</th><th scope=\"col\">What</th><th scope=\"col\">Reason</th>\
             <th scope=\"col\">Receipt</th></tr></thead><tbody>",
        );
        let tree = verified.checkpoint.as_ref().map_or(0, |c| c.size);
        for (entry, result) in entries.iter().zip(&verified.results) {
            row(&mut out, entry, result, tree);
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str("<nav aria-label=\"Pages\" class=\"pager\">");
    if start > 0 {
        let prev = start.saturating_sub(PAGE as u64);
        let _ = write!(
            out,
            "<a href=\"/ui/audit?{}{amp}start={prev}\">← Earlier</a> ",
            e(&qs)
        );
    }
    if let Some(last) = entries.last()
        && entries.len() == PAGE
    {
        let _ = write!(
            out,
            "<a href=\"/ui/audit?{}{amp}start={}\">Later →</a>",
            e(&qs),
            last.seq + 1
        );
    }
    out.push_str("</nav>");
    Ok(out)
}

/// The filtered view as JSON Lines: `{"seq","time","leaf_hash","entry"}`.
pub async fn export(
    State(c): State<Console>,
    signed: Signed,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(rej) => {
            return error_page(
                Some(&signed.chrome("audit")),
                &ApiError::bad_request("invalid_query", rej.body_text()),
            );
        }
    };
    let mut out = Vec::new();
    let mut start = q.start.unwrap_or(0);
    let mut n = 0usize;
    loop {
        let filter = match q.filter(start, 1000) {
            Ok(f) => f,
            Err(err) => return error_page(Some(&signed.chrome("audit")), &err),
        };
        let list = match c.app.store.audit_entries(filter).await {
            Ok(l) => l,
            Err(err) => return error_page(Some(&signed.chrome("audit")), &err.into()),
        };
        for entry in &list {
            let v = serde_json::json!({
                "seq": entry.seq,
                "time": entry.time.rfc3339(),
                "leaf_hash": B64.encode(leaf_hash(&entry.entry)),
                "entry": serde_json::from_slice::<Value>(&entry.entry).unwrap_or(Value::Null),
            });
            if serde_json::to_writer(&mut out, &v).is_ok() {
                out.push(b'\n');
            }
            n += 1;
            if n >= MAX_EXPORT {
                break;
            }
        }
        match list.last() {
            Some(last) if list.len() == 1000 && n < MAX_EXPORT => start = last.seq + 1,
            _ => break,
        }
    }
    tracing::info!(principal = %signed.who.name, entries = n, "audit export from the console");
    (
        [
            (header::CONTENT_TYPE, "application/x-ndjson; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"countersign-audit.jsonl\"",
            ),
        ],
        out,
    )
        .into_response()
}
