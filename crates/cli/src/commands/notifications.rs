//! `countersign notifications list [--failed]`: the notification outbox.

use super::admin::urlencode;
use crate::cli::{NotificationsCmd, Remote};
use crate::client::{Client, print_json, s};
use anyhow::{Result, bail};
use serde_json::Value;
use std::process::ExitCode;

pub async fn run(cmd: NotificationsCmd, remote: &Remote) -> Result<ExitCode> {
    let NotificationsCmd::List {
        failed,
        state,
        limit,
    } = cmd;
    let state = if failed {
        Some("failed".to_owned())
    } else {
        state
    };
    let mut path = format!("/v1/notifications?limit={limit}");
    if let Some(st) = &state {
        if !["pending", "failed", "sent"].contains(&st.as_str()) {
            bail!("--state must be pending, failed or sent");
        }
        path.push_str(&format!("&state={}", urlencode(st)));
    }
    let c = Client::new(remote)?;
    let v = c.get(&path).await?;
    if remote.json {
        return print_json(&v).map(|_| ExitCode::SUCCESS);
    }
    let list = v["notifications"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!(
            "no {}notifications",
            state.map(|s| format!("{s} ")).unwrap_or_default()
        );
    }
    for n in &list {
        println!("{}", one_line(n));
    }
    let counts = &v["counts"];
    println!(
        "outbox: {} pending, {} failed, {} sent",
        counts["pending"], counts["failed"], counts["sent"]
    );
    Ok(ExitCode::SUCCESS)
}

fn one_line(n: &Value) -> String {
    let mut line = format!(
        "#{} {} {} {} {} attempts={}",
        n["id"],
        s(n, "state"),
        s(n, "destination"),
        s(n, "event"),
        s(n, "subject"),
        n["attempts"]
    );
    if let Some(e) = n["last_error"].as_str() {
        line.push_str(&format!(" last_error={e:?}"));
    }
    if let Some(at) = n["next_attempt_at"].as_str() {
        line.push_str(&format!(" next={at}"));
    }
    line
}
