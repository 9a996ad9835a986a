//! `countersign change submit|status|list|show|deployed|rollback` and
//! `countersign inventory`: change authorization from CI and terminals.

use super::admin::urlencode;
use crate::cli::{ChangeCmd, ChangeSubmitArgs, Remote};
use crate::client::{Client, print_json, s};
use crate::exit;
use anyhow::{Context as _, Result, anyhow, bail};
use countersign_core::time::parse_duration;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Read as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Largest metrics file read (evidence is a summary, not a dataset).
const MAX_METRICS_FILE: u64 = 1024 * 1024;

pub async fn run(cmd: ChangeCmd, remote: &Remote) -> Result<ExitCode> {
    match cmd {
        ChangeCmd::Submit(a) => submit(a, remote).await,
        ChangeCmd::Status { id, wait } => status(&id, wait.as_deref(), remote).await,
        ChangeCmd::List {
            kind,
            subject,
            environment,
            state,
            limit,
        } => {
            let client = Client::new(remote)?;
            let mut q = vec![format!("limit={limit}")];
            for (k, v) in [
                ("kind", kind),
                ("subject", subject),
                ("environment", environment),
                ("state", state),
            ] {
                if let Some(v) = v {
                    q.push(format!("{k}={}", urlencode(&v)));
                }
            }
            let v = client.get(&format!("/v1/changes?{}", q.join("&"))).await?;
            if remote.json {
                print_json(&v)?;
                return Ok(ExitCode::SUCCESS);
            }
            let items = v["changes"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                println!("no changes");
            }
            for c in &items {
                println!(
                    "{}  {:<15} {:<9} {} {} → {}  by {}  {}",
                    s(c, "id"),
                    s(c, "state"),
                    s(c, "kind"),
                    subject_text(&c["subject"]),
                    s(c, "version"),
                    s(c, "environment"),
                    c["author"]["name"].as_str().unwrap_or(""),
                    time_text(&c["created_at"]),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ChangeCmd::Show { id } => {
            let client = Client::new(remote)?;
            let v = client
                .get(&format!("/v1/changes/{}", urlencode(&id)))
                .await?;
            if remote.json {
                print_json(&v)?;
            } else {
                print_change(&v, true);
            }
            Ok(ExitCode::SUCCESS)
        }
        ChangeCmd::Deployed { id } => post_to_change(&id, "deployed", json!({}), remote).await,
        ChangeCmd::Rollback { id, reason } => {
            post_to_change(&id, "rollback", json!({ "reason": reason }), remote).await
        }
        ChangeCmd::Cancel { id, reason } => {
            post_to_change(&id, "cancel", json!({ "reason": reason }), remote).await
        }
    }
}

/// `POST /v1/changes/{id}/{verb}` (deployed, rollback, cancel); prints the
/// change as it is now.
async fn post_to_change(id: &str, verb: &str, body: Value, remote: &Remote) -> Result<ExitCode> {
    let client = Client::new(remote)?;
    let v = client
        .post(&format!("/v1/changes/{}/{verb}", urlencode(id)), &body)
        .await?;
    if remote.json {
        print_json(&v)?;
    } else {
        print_change(&v, false);
    }
    Ok(ExitCode::SUCCESS)
}

async fn submit(a: ChangeSubmitArgs, remote: &Remote) -> Result<ExitCode> {
    let digest = match (&a.artifact, &a.artifact_sha256) {
        (Some(path), _) => Some(sha256_file(path)?),
        (None, d) => d.clone(),
    };
    let metrics = match &a.metrics {
        None => None,
        Some(path) => Some(read_metrics(path)?),
    };
    let body = json!({
        "kind": a.kind,
        "subject": a.subject,
        "version": a.version,
        "artifact_sha256": digest,
        "environment": a.environment,
        "description": a.description,
        "metrics": metrics,
        "links": a.links,
        "emergency": a.emergency,
    });
    let client = Client::new(remote)?;
    let v = client.post("/v1/changes", &body).await?;
    report_submitted(&v, remote.json)
}

/// Prints a submitted change's report; exit 1 when its checks failed.
pub fn report_submitted(v: &Value, as_json: bool) -> Result<ExitCode> {
    if as_json {
        print_json(v)?;
    } else {
        print_change(v, false);
        if s(v, "state") == "awaiting_review" {
            println!(
                "reviewers: `countersign approvals approve {} --reason \"…\"`; follow with `countersign change status {} --wait 30m`",
                s(v, "review_approval"),
                s(v, "id")
            );
        }
    }
    Ok(if s(v, "state") == "checks_failed" {
        ExitCode::from(exit::CHECK_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

async fn status(id: &str, wait: Option<&str>, remote: &Remote) -> Result<ExitCode> {
    let client = Client::new(remote)?;
    let path = format!("/v1/changes/{}", urlencode(id));
    let mut v = client.get(&path).await?;
    if let Some(w) = wait {
        let total =
            parse_duration(w).ok_or_else(|| anyhow!("invalid --wait `{w}`: use e.g. 30m"))?;
        let deadline = Instant::now() + total;
        while s(&v, "state") == "awaiting_review" {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let step = left.min(Duration::from_secs(30)).as_secs().max(1);
            v = client
                .get(&format!("{path}?wait={step}s&state=awaiting_review"))
                .await?;
        }
    }
    if remote.json {
        print_json(&v)?;
    } else {
        print_change(&v, false);
    }
    Ok(ExitCode::from(match s(&v, "state") {
        "approved" | "deployed" => 0,
        "awaiting_review" => exit::NOT_APPROVED,
        "rejected" => exit::DENIED,
        "checks_failed" => exit::CHECK_FAILED,
        _ => exit::NOT_APPROVED,
    }))
}

pub async fn inventory(environment: Option<String>, remote: &Remote) -> Result<ExitCode> {
    let client = Client::new(remote)?;
    let path = match &environment {
        Some(e) => format!("/v1/inventory?environment={}", urlencode(e)),
        None => "/v1/inventory".to_owned(),
    };
    let v = client.get(&path).await?;
    if remote.json {
        print_json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    let items = v["inventory"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("nothing deployed through a change yet");
    }
    for i in &items {
        let approved: Vec<&str> = i["approved_by"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        println!(
            "{:<8} {} {}  {}  since {}  change {}  by {}, approved by {}",
            s(i, "environment"),
            subject_text(&i["subject"]),
            s(i, "version"),
            short_digest(s(i, "artifact_sha256")),
            time_text(&i["since"]),
            s(i, "change_id"),
            s(i, "author"),
            if approved.is_empty() {
                "(no review required)".to_owned()
            } else {
                approved.join(", ")
            },
        );
        if let Some(m) = i["metrics"].as_object().filter(|m| !m.is_empty()) {
            let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
            println!("         metrics: {}", parts.join(" "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Human summary of a change, with every gate as it stands now (the API's
/// `current_gates`: one row per gate, reviews resolved), the failing test
/// cases of a policy change, and with `full` its evidence and report.
pub fn print_change(v: &Value, full: bool) {
    println!(
        "change {}: {} {} {} → {}: {}",
        s(v, "id"),
        s(v, "kind"),
        subject_text(&v["subject"]),
        s(v, "version"),
        s(v, "environment"),
        s(v, "state"),
    );
    println!(
        "  artifact sha256:{}  author {}",
        s(v, "artifact_sha256"),
        v["author"]["name"].as_str().unwrap_or("")
    );
    if let Some(by) = v["approved_by"].as_array().filter(|a| !a.is_empty()) {
        let names: Vec<&str> = by.iter().filter_map(Value::as_str).collect();
        println!("  approved by {}", names.join(", "));
    }
    for key in ["superseded_by", "end_reason", "emergency"] {
        if let Some(x) = v[key].as_str() {
            println!("  {}: {x}", key.replace('_', " "));
        }
    }
    let gates = if v["current_gates"].is_array() {
        &v["current_gates"]
    } else {
        &v["gates"]
    };
    for g in gates.as_array().into_iter().flatten() {
        let mark = match s(g, "status") {
            "pass" => "pass",
            "fail" => "FAIL",
            "skipped" => "skip",
            _ => "wait",
        };
        println!(
            "  {mark}  {:<14} {}: expected {}, measured {}",
            s(g, "gate"),
            s(g, "rule"),
            s(g, "expected"),
            g["measured"].as_str().unwrap_or("-"),
        );
    }
    // A policy change's failing cases: the reason its tests gate failed.
    for f in v["report"]["tests"]["failures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        println!("  {}", f.replace('\n', "\n  "));
    }
    if full {
        print_evidence_and_report(v);
    }
}

fn print_evidence_and_report(v: &Value) {
    if let Some(m) = v["evidence"]["metrics"]
        .as_object()
        .filter(|m| !m.is_empty())
    {
        let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("  metrics: {}", parts.join(" "));
    }
    for l in v["evidence"]["links"].as_array().into_iter().flatten() {
        println!("  link: {}", l.as_str().unwrap_or(""));
    }
    if let Some(d) = v["description"].as_str() {
        println!("  description: {d}");
    }
    let diff = &v["report"]["diff"];
    if diff.is_object() {
        println!("  policy set {} → {}", s(diff, "live"), s(diff, "proposed"));
        for (what, key) in [
            ("added", "added"),
            ("removed", "removed"),
            ("changed", "changed"),
        ] {
            let ids: Vec<&str> = diff[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_str().or_else(|| p["id"].as_str()))
                .collect();
            if !ids.is_empty() {
                println!("  policies {what}: {}", ids.join(", "));
            }
        }
        if diff["schema_changed"] == true {
            println!("  the schema changes");
        }
    }
    for p in v["report"]["permissions"].as_array().into_iter().flatten() {
        println!("  permission: {}", super::policy::permission_change_text(p));
    }
}

fn subject_text(v: &Value) -> String {
    format!("{}::{:?}", s(v, "type"), s(v, "id"))
}

fn short_digest(d: &str) -> String {
    format!("sha256:{}", d.get(..12).unwrap_or(d))
}

fn time_text(v: &Value) -> String {
    v.as_i64()
        .map(|ms| countersign_core::Timestamp(ms).rfc3339())
        .unwrap_or_default()
}

/// SHA-256 of a file, streamed (artifacts can be gigabytes).
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path)
        .with_context(|| format!("cannot read artifact `{}`", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("cannot read artifact `{}`", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn read_metrics(path: &Path) -> Result<Value> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read metrics `{}`", path.display()))?;
    if meta.len() > MAX_METRICS_FILE {
        bail!(
            "metrics file `{}` is larger than {MAX_METRICS_FILE} bytes",
            path.display()
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read metrics `{}`", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("metrics file `{}` is not valid JSON", path.display()))
}
