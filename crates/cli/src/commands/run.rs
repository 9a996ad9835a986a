//! `countersign run -- CMD ARGS…`: like `sudo` with approvals, for CI jobs
//! and deploy scripts. Asks the governor; when the answer is pending, shows
//! who must approve and waits (bounded, Ctrl-C cancels the request); runs the
//! command only when allowed; reports its exit status as the outcome.

use super::admin::urlencode;
use crate::cli::RunArgs;
use crate::client::{ApiFailure, Client, ensure_object, s};
use crate::exit;
use anyhow::{Context as _, Result, anyhow, bail};
use countersign_core::ResourceRef;
use countersign_core::time::{format_duration, parse_duration};
use serde_json::{Value, json};
use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub async fn run(args: RunArgs) -> Result<ExitCode> {
    let resource = ResourceRef::parse(&args.resource).ok_or_else(|| {
        anyhow!(
            "invalid --resource `{}`: use Type::\"id\", e.g. Command::\"deploy\"",
            args.resource
        )
    })?;
    let wait = parse_duration(&args.wait)
        .ok_or_else(|| anyhow!("invalid --wait `{}`: use e.g. 15m", args.wait))?;
    let mut context = match &args.context {
        Some(c) => ensure_object(
            serde_json::from_str(c).context("--context is not valid JSON")?,
            "--context",
        )?,
        None => serde_json::Map::new(),
    };
    // Bind a command.run approval to the exact command line.
    if args.action == "command.run" && !context.contains_key("command") {
        context.insert(
            "command".into(),
            Value::String(shell_words::join(&args.command)),
        );
    }
    // A deploy names its approved change and the artifact it deploys.
    if let Some(id) = &args.change {
        let digest = match (&args.artifact, &args.artifact_sha256) {
            (Some(path), _) => super::change::sha256_file(path)?,
            (None, Some(d)) => d.clone(),
            (None, None) => bail!(
                "--change needs the artifact being deployed: --artifact FILE or --artifact-sha256 HEX"
            ),
        };
        context.insert(
            "change".into(),
            json!({ "id": id, "artifact_sha256": digest }),
        );
    }
    let client = Client::new(&args.remote)?;
    let mut body = json!({
        "action": args.action,
        "resource": resource,
        "environment": args.environment,
        "context": context,
        "reason": args.reason,
    });

    let mut decision = client.post("/v1/decisions", &body).await?;
    if s(&decision, "verdict") == "pending" {
        let approval_id = s(&decision["approval"], "id").to_owned();
        eprintln!(
            "countersign: {} on {} in {} needs approval: {}",
            args.action,
            args.resource,
            args.environment,
            s(&decision, "reason")
        );
        eprintln!("countersign: approve with `countersign approvals approve {approval_id}`");
        match wait_for_approval(&client, &approval_id, wait).await? {
            Waited::Approved => {}
            Waited::Ended(state) => {
                let code = if state == "denied" {
                    exit::DENIED
                } else {
                    exit::NOT_APPROVED
                };
                eprintln!(
                    "countersign: approval {approval_id} was {state}; not running the command"
                );
                return Ok(ExitCode::from(code));
            }
            Waited::TimedOut => {
                eprintln!(
                    "countersign: still pending after {}; approval {approval_id} stays open — run again once approved",
                    format_duration(wait)
                );
                return Ok(ExitCode::from(exit::NOT_APPROVED));
            }
            Waited::Interrupted => {
                let _ = client
                    .post(
                        &format!("/v1/approvals/{}/cancel", urlencode(&approval_id)),
                        &json!({}),
                    )
                    .await;
                eprintln!("countersign: interrupted; request {approval_id} cancelled");
                return Ok(ExitCode::from(130));
            }
        }
        body["approval_id"] = Value::String(approval_id);
        decision = client.post("/v1/decisions", &body).await?;
    }
    match s(&decision, "verdict") {
        "allow" => {}
        "deny" => {
            eprintln!(
                "countersign: denied: {}{}",
                s(&decision, "reason"),
                policies_suffix(&decision)
            );
            return Ok(ExitCode::from(exit::DENIED));
        }
        other => bail!("unexpected verdict `{other}` after approval"),
    }
    let decision_id = s(&decision, "id").to_owned();
    eprintln!(
        "countersign: allowed (decision {decision_id}, audit entry {})",
        decision["audit_seq"]
    );
    let started = Instant::now();
    let status = tokio::process::Command::new(&args.command[0])
        .args(&args.command[1..])
        .status()
        .await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (outcome, code) = match &status {
        Ok(st) => {
            let code = st.code();
            (
                json!({
                    "status": if st.success() { "executed" } else { "failed" },
                    "exit_code": code,
                    "duration_ms": duration_ms,
                }),
                code.map_or(1, |c| u8::try_from(c & 0xff).unwrap_or(1)),
            )
        }
        Err(e) => (
            json!({"status": "failed", "error": format!("cannot start `{}`: {e}", args.command[0]), "duration_ms": duration_ms}),
            127,
        ),
    };
    if let Err(e) = client
        .post(
            &format!("/v1/decisions/{}/outcome", urlencode(&decision_id)),
            &outcome,
        )
        .await
    {
        eprintln!("countersign: warning: could not report the outcome: {e:#}");
    }
    if let Err(e) = status {
        eprintln!("countersign: cannot start `{}`: {e}", args.command[0]);
    }
    Ok(ExitCode::from(code))
}

fn policies_suffix(d: &Value) -> String {
    let ps: Vec<&str> = d["policies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if ps.is_empty() {
        String::new()
    } else {
        format!(" (policy {})", ps.join(", "))
    }
}

enum Waited {
    Approved,
    Ended(String),
    TimedOut,
    Interrupted,
}

/// Long-polls the approval, keeping a status line current, until it is
/// approved, ends otherwise, `wait` runs out, or the user presses Ctrl-C.
async fn wait_for_approval(client: &Client, id: &str, wait: Duration) -> Result<Waited> {
    let deadline = Instant::now() + wait;
    let tty = std::io::stderr().is_terminal();
    let mut version: Option<u64> = None;
    let mut last_line = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            if tty {
                eprintln!();
            }
            return Ok(Waited::TimedOut);
        }
        let poll = left.min(Duration::from_secs(30));
        let path = match version {
            Some(v) => format!(
                "/v1/approvals/{}?wait={}s&version={v}",
                urlencode(id),
                poll.as_secs().max(1)
            ),
            None => format!("/v1/approvals/{}", urlencode(id)),
        };
        let a = tokio::select! {
            r = client.get(&path) => match r {
                Ok(a) => a,
                Err(e) if e.downcast_ref::<ApiFailure>().is_some() => return Err(e),
                Err(e) => {
                    // The server may restart; keep waiting within the deadline.
                    eprintln!("countersign: {e:#}; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => {
                if tty { eprintln!(); }
                return Ok(Waited::Interrupted);
            }
        };
        version = a["version"].as_u64();
        let state = s(&a, "state");
        match state {
            "approved" => {
                if tty {
                    eprintln!();
                }
                eprintln!("countersign: approved by {}", approvers(&a));
                return Ok(Waited::Approved);
            }
            "pending" => {}
            other => {
                if tty {
                    eprintln!();
                }
                return Ok(Waited::Ended(other.to_owned()));
            }
        }
        let groups: Vec<&str> = a["requirement"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let line = format!(
            "waiting for {}: {}/{} approvals from {} · {} left",
            id,
            a["approvals"],
            a["requirement"]["quorum"],
            if groups.is_empty() {
                "any reviewer".to_owned()
            } else {
                groups.join(" or ")
            },
            format_duration(Duration::from_secs(
                a["expires_in_secs"]
                    .as_u64()
                    .unwrap_or(0)
                    .min(left.as_secs())
            )),
        );
        if tty {
            eprint!("\r\x1b[2K{line}");
            let _ = std::io::stderr().flush();
        } else if line != last_line {
            eprintln!("countersign: {line}");
        }
        last_line = line;
    }
}

fn approvers(a: &Value) -> String {
    let v: Vec<&str> = a["votes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["decision"] == "approve")
        .filter_map(|v| v["voter"].as_str())
        .collect();
    v.join(", ")
}
