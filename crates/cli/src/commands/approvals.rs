//! `countersign approvals list|show|approve|deny|cancel`.

use super::admin::urlencode;
use crate::cli::{ApprovalsCmd, Remote};
use crate::client::{Client, print_json, s};
use crate::human;
use anyhow::Result;
use serde_json::{Value, json};
use std::process::ExitCode;

pub async fn run(cmd: ApprovalsCmd, remote: &Remote) -> Result<ExitCode> {
    match cmd {
        ApprovalsCmd::List { status } => {
            let c = Client::new(remote)?;
            let v = c
                .get(&format!("/v1/approvals?status={}", urlencode(&status)))
                .await?;
            if remote.json {
                return print_json(&v).map(|_| ExitCode::SUCCESS);
            }
            let list = v["approvals"].as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                println!("no {status} approvals");
            }
            for a in &list {
                println!("{}", one_line(a));
            }
        }
        ApprovalsCmd::Show { id } => {
            let c = Client::new(remote)?;
            let a = c.get(&format!("/v1/approvals/{}", urlencode(&id))).await?;
            if remote.json {
                print_json(&a)?;
            } else {
                print_detail(&a);
            }
        }
        ApprovalsCmd::Approve { id, reason } => {
            return vote(&id, "approve", reason, remote).await;
        }
        ApprovalsCmd::Deny { id, reason } => {
            return vote(&id, "deny", reason, remote).await;
        }
        ApprovalsCmd::Cancel { id } => {
            let c = Client::new(remote)?;
            let a = c
                .post(
                    &format!("/v1/approvals/{}/cancel", urlencode(&id)),
                    &json!({}),
                )
                .await?;
            if remote.json {
                print_json(&a)?;
            } else {
                println!("{} is {}", s(&a, "id"), s(&a, "state"));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn vote(
    id: &str,
    decision: &str,
    reason: Option<String>,
    remote: &Remote,
) -> Result<ExitCode> {
    let c = Client::new(remote)?;
    let a = c
        .post(
            &format!("/v1/approvals/{}/votes", urlencode(id)),
            &json!({"decision": decision, "reason": reason, "via": "cli"}),
        )
        .await?;
    if remote.json {
        print_json(&a)?;
    } else {
        println!("{}", vote_result(decision, &a));
    }
    Ok(ExitCode::SUCCESS)
}

/// What a vote did, in words. A change's review is used up the moment it
/// is approved (the change becomes `approved`), so its approval reads
/// `executed`; say what that means for the change instead.
fn vote_result(decision: &str, a: &Value) -> String {
    let tally = format!(
        "{}/{} approvals",
        a["approvals"], a["requirement"]["quorum"]
    );
    let state = s(a, "state");
    match a["change_id"].as_str() {
        Some(change) if state == "executed" || state == "approved" => format!(
            "voted {decision} on {}: review complete ({tally}); change {change} is approved, not yet deployed (`countersign change status {change}`)",
            s(a, "id")
        ),
        Some(change) if state == "denied" => format!(
            "voted {decision} on {}: change {change} is rejected",
            s(a, "id")
        ),
        _ => format!("voted {decision} on {}: now {state} ({tally})", s(a, "id")),
    }
}

fn who(a: &Value) -> String {
    let p = &a["request"]["principal"];
    let mut w = format!("{} {}", s(p, "kind"), s(p, "name"));
    if let Some(o) = a["request"]["owner"].as_str() {
        w.push_str(&format!(" (owner {o})"));
    }
    w
}

fn one_line(a: &Value) -> String {
    let r = &a["request"];
    format!(
        "{}  {:<9} {} {}::{:?} in {}  by {}  {}/{} votes{}",
        s(a, "id"),
        s(a, "state"),
        s(r, "action"),
        s(&r["resource"], "type"),
        s(&r["resource"], "id"),
        s(r, "environment"),
        who(a),
        a["approvals"],
        a["requirement"]["quorum"],
        human::approval_time_left(a)
            .map(|l| format!(", {l}"))
            .unwrap_or_default(),
    )
}

fn print_detail(a: &Value) {
    let r = &a["request"];
    println!("approval     {}", s(a, "id"));
    println!("state        {}", s(a, "state"));
    println!("requested by {}", who(a));
    println!(
        "action       {} on {}::{:?} in {}",
        s(r, "action"),
        s(&r["resource"], "type"),
        s(&r["resource"], "id"),
        s(r, "environment")
    );
    if let Some(reason) = a["reason"].as_str() {
        // A change review's reason is its gate report, several lines long.
        println!("reason       {}", reason.replace('\n', "\n             "));
    }
    if let Some(change) = a["change_id"].as_str() {
        println!("change       {change} (`countersign change show {change}`)");
    }
    if r["context"].as_object().is_some_and(|m| !m.is_empty()) {
        println!(
            "context      {}",
            serde_json::to_string_pretty(&r["context"])
                .unwrap_or_default()
                .replace('\n', "\n             ")
        );
    }
    let req = &a["requirement"];
    let groups: Vec<&str> = req["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    println!(
        "needs        {} approval(s) from {} (policy {})",
        req["quorum"],
        if groups.is_empty() {
            "anyone human".to_owned()
        } else {
            groups.join(", ")
        },
        s(req, "policy")
    );
    if let Some(m) = req["message"].as_str() {
        println!("message      {m}");
    }
    match human::approval_time_left(a) {
        Some(left) => println!("expires      {} ({left})", s(a, "expires_at")),
        None => println!("decided      {}", s(a, "decided_at")),
    }
    if s(a, "state") == "pending" {
        println!("approve with {}", human::approve_command(a));
    }
    for v in a["votes"].as_array().into_iter().flatten() {
        println!(
            "vote         {} {} via {} at {}{}",
            s(v, "voter"),
            s(v, "decision"),
            s(v, "via"),
            s(v, "at"),
            v["reason"]
                .as_str()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
}
