//! `countersign run` and `countersign approvals`, as a CI job would use them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failed step should fail the test loudly"
)]

use crate::common::Server;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const POLICIES: &str = r#"
@id("commands-dev") permit (principal, action == Action::"command.run", resource)
when { context.environment == "dev" };

@id("commands-staging-briefly-approvable")
@approval_quorum("1")
@approval_groups("reviewer")
@approval_ttl("3s")
permit (principal, action == Action::"command.run", resource)
when { context.environment == "staging" && context.approval.granted };

@id("commands-prod-need-a-reviewer")
@approval_quorum("1")
@approval_groups("reviewer")
@approval_ttl("1h")
permit (principal, action == Action::"command.run", resource)
when { context.environment == "prod" && context.approval.granted };

@id("no-deploys-by-agents")
@message("agents may not deploy models")
forbid (principal is Agent, action == Action::"model.deploy", resource);
"#;

fn run_args<'a>(env: &'a str, marker: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        "--resource",
        "Command::\"touch\"",
        "--env",
        env,
        "--reason",
        "test",
        "--wait",
        "20s",
        "--",
        "touch",
        marker,
    ]
}

#[tokio::test]
async fn allowed_command_runs_and_its_outcome_is_audited() {
    let s = Server::start_with(Some(POLICIES));
    let ci = s.principal("ci", "service", &[], None).await;
    let marker = s.data_dir().join("ran");
    let out = s.cli(&ci, &run_args("dev", marker.to_str().unwrap()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(marker.exists());
    // A failing command's status is passed through and reported.
    let out = s.cli(
        &ci,
        &[
            "run",
            "--resource",
            "Command::\"false\"",
            "--env",
            "dev",
            "--",
            "sh",
            "-c",
            "exit 7",
        ],
    );
    assert_eq!(out.status.code(), Some(7));
    let outcomes = s.admin().audit("decision.outcome").await;
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[0]["outcome"]["status"], "executed");
    assert_eq!(outcomes[1]["outcome"]["status"], "failed");
    assert_eq!(outcomes[1]["outcome"]["exit_code"], 7);
}

#[tokio::test]
async fn denied_command_does_not_run() {
    let s = Server::start_with(Some(POLICIES));
    let bot = s.principal("bot", "agent", &[], Some("admin")).await;
    let marker = s.data_dir().join("deployed");
    let out = s.cli(
        &bot,
        &[
            "run",
            "--action",
            "model.deploy",
            "--resource",
            "Model::\"fraud\"",
            "--env",
            "prod",
            "--",
            "touch",
            marker.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!marker.exists());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("agents may not deploy models"), "{err}");
    assert!(err.contains("no-deploys-by-agents"), "{err}");
}

#[tokio::test]
async fn pending_command_waits_for_a_cli_approval_then_runs() {
    let s = Server::start_with(Some(POLICIES));
    let ci = s.principal("ci", "service", &[], None).await;
    let rita = s.principal("rita", "user", &["reviewer"], None).await;
    let marker = s.data_dir().join("prod-ran");
    let mut child = Command::new(crate::common::BIN)
        .args(run_args("prod", marker.to_str().unwrap()))
        .env("COUNTERSIGN_SERVER", &s.url)
        .env("COUNTERSIGN_TOKEN", &ci)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Find the pending approval from the reviewer's side.
    let deadline = Instant::now() + Duration::from_secs(10);
    let id = loop {
        let (_, v) = s.client(&rita).get("/v1/approvals?status=pending").await;
        if let Some(a) = v["approvals"].as_array().and_then(|a| a.first()) {
            break a["id"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no pending approval appeared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!marker.exists(), "must not run before approval");
    let list = s.cli(&rita, &["approvals", "list"]);
    assert!(String::from_utf8_lossy(&list.stdout).contains(&id));
    let out = s.cli(&rita, &["approvals", "approve", &id, "--reason", "lgtm"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = wait_child(&mut child, Duration::from_secs(20));
    assert_eq!(status, Some(0));
    assert!(marker.exists());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("approved by rita"), "{err}");
    // The approval was used, by this run.
    let (_, a) = s.admin().get(&format!("/v1/approvals/{id}")).await;
    assert_eq!(a["state"], "executed");
}

#[tokio::test]
async fn expired_approval_fails_the_run_without_running() {
    let s = Server::start_with(Some(POLICIES));
    let ci = s.principal("ci", "service", &[], None).await;
    let marker = s.data_dir().join("staging-ran");
    let started = Instant::now();
    let out = s.cli(&ci, &run_args("staging", marker.to_str().unwrap()));
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(!marker.exists());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expired"));
}

#[tokio::test]
async fn denied_by_a_reviewer_exits_2() {
    let s = Server::start_with(Some(POLICIES));
    let ci = s.principal("ci", "service", &[], None).await;
    let rita = s.principal("rita", "user", &["reviewer"], None).await;
    let marker = s.data_dir().join("never");
    let mut child = Command::new(crate::common::BIN)
        .args(run_args("prod", marker.to_str().unwrap()))
        .env("COUNTERSIGN_SERVER", &s.url)
        .env("COUNTERSIGN_TOKEN", &ci)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let id = loop {
        let (_, v) = s.client(&rita).get("/v1/approvals?status=pending").await;
        if let Some(a) = v["approvals"].as_array().and_then(|a| a.first()) {
            break a["id"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let out = s.cli(&rita, &["approvals", "deny", &id, "--reason", "not now"]);
    assert!(out.status.success());
    assert_eq!(wait_child(&mut child, Duration::from_secs(20)), Some(2));
    assert!(!marker.exists());
}

/// The child's exit code, or `None` if it is still running after `limit`.
fn wait_child(c: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(st)) = c.try_wait() {
            return st.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Did not finish in time: the callers' asserts on the status fail.
    let _ = c.kill();
    None
}
