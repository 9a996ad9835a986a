//! `countersign policy validate|test` and graceful shutdown.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failed step should fail the test loudly"
)]

use crate::common::{BIN, Server};
use serde_json::json;
use std::process::Command;

fn countersign(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn validate_and_test_the_starter_policies_then_a_broken_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    assert!(countersign(&["init", d]).status.success());
    // A second init refuses to overwrite.
    let again = countersign(&["init", d]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already initialized"));

    let ok = countersign(&["policy", "validate", "--data-dir", d]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("sha256:"));

    let cases = dir.path().join("policies/cases.toml");
    let ok = countersign(&["policy", "test", cases.to_str().unwrap(), "--data-dir", d]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );

    // A case that expects the wrong verdict fails with a readable diff.
    let wrong = dir.path().join("wrong.toml");
    std::fs::write(
        &wrong,
        r#"
[[principals]]
kind = "Agent"
id = "bot"
owner = "alice"
[[principals]]
kind = "User"
id = "alice"

[[case]]
name = "agents may not change iam in prod"
principal = "Agent::bot"
action = "iam.change"
resource = "Role::admin"
environment = "prod"
expect = "allow"
"#,
    )
    .unwrap();
    let bad = countersign(&["policy", "test", wrong.to_str().unwrap(), "--data-dir", d]);
    assert_eq!(bad.status.code(), Some(1));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(out.contains("expected: allow"), "{out}");
    assert!(out.contains("agents-never-change-iam-in-prod"), "{out}");

    // A broken policy file: refused with file and line.
    let file = dir.path().join("policies/policies.cedar");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(
        "\n@id(\"broken\")\npermit (principal, action == Action::\"sql.nuke\", resource);\n",
    );
    std::fs::write(&file, text).unwrap();
    let bad = countersign(&["policy", "validate", "--data-dir", d]);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("policies.cedar:"), "{err}");
    assert!(err.contains("sql.nuke"), "{err}");
}

#[tokio::test]
async fn graceful_shutdown_keeps_every_acknowledged_event_and_checkpoints_them() {
    let mut s = Server::start();
    let bot = s
        .principal("bot", "agent", &["engineer"], Some("admin"))
        .await;
    let mut seqs = Vec::new();
    for i in 0..50 {
        let d = s
            .client(&bot)
            .decide("sql.read", "Table", &format!("t{i}"), "dev", json!({}))
            .await;
        seqs.push(d["audit_seq"].as_u64().unwrap());
    }
    s.stop();
    s.spawn();
    let admin = s.admin();
    for &seq in &seqs {
        let (st, e) = admin.get(&format!("/v1/audit/entries/{seq}")).await;
        assert_eq!(st, 200, "{e}");
        assert_eq!(e["entry"]["type"], "decision");
        assert_eq!(e["entry"]["seq"], seq);
    }
    // The checkpoint signed at shutdown covers everything acknowledged before it.
    let (_, cp) = admin.get("/v1/audit/checkpoint").await;
    assert!(cp["size"].as_u64().unwrap() > *seqs.last().unwrap());
}
