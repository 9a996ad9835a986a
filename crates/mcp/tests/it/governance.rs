//! Listing, allowed, denied and approval-held calls, end to end through
//! the Python SDK, and what the audit log keeps of them.

use crate::common::{Env, eventually};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tools_are_aggregated_namespaced_and_filtered_per_principal() {
    let env = Env::start(json!({})).await;
    let bot = env.client("bot", json!([{"op": "list"}])).await;
    assert_eq!(bot["protocol"], "2025-11-25");
    let tools: Vec<&str> = bot["results"][0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for t in [
        "local.echo",
        "local.add",
        "local.delete_file",
        "remote.echo",
        "remote.add",
    ] {
        assert!(tools.contains(&t), "{t} missing from {tools:?}");
    }
    // Nothing permits remote.delete_file or remote.slow, for anyone.
    assert!(!tools.contains(&"remote.delete_file"));
    assert!(!tools.contains(&"remote.slow"));
    // vic is no engineer: no approval could let vic delete, so it is hidden.
    let vic = env.client("vic", json!([{"op": "list"}])).await;
    let vtools = vic["results"][0]["tools"].as_array().unwrap();
    assert!(vtools.iter().any(|t| t == "local.echo"));
    assert!(!vtools.iter().any(|t| t == "local.delete_file"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn allowed_calls_run_and_unmodelled_fields_pass_both_ways() {
    let env = Env::start(json!({})).await;
    let out = env
        .client(
            "bot",
            json!([
                {"op": "call", "name": "local.echo", "args": {"text": "hi"}, "meta": {"trace": "t-123"}},
                {"op": "call", "name": "remote.add", "args": {"a": 2, "b": 40}},
                {"op": "ping"},
            ]),
        )
        .await;
    let echo = &out["results"][0];
    assert_eq!(echo["isError"], false, "{echo}");
    assert_eq!(echo["text"], "hi");
    // The agent's `_meta` reached the upstream, the upstream's came back.
    assert_eq!(
        echo["structured"]["request_meta"]["trace"], "t-123",
        "{echo}"
    );
    assert_eq!(echo["meta"]["upstream/extra"]["kept"], true, "{echo}");
    // The HTTP upstream only answers with the credential the gateway injects.
    assert_eq!(out["results"][1]["text"], "42", "{}", out["results"][1]);
    assert_eq!(out["results"][2]["pong"], true, "{out}");

    // Audit: the decision holds the arguments; the outcome status and size.
    let decisions = env.audit("decision").await;
    let d = decisions
        .iter()
        .find(|e| e["resource"]["id"] == "local.echo")
        .expect("decision for local.echo");
    assert_eq!(d["verdict"], "allow");
    assert_eq!(d["principal"]["name"], "bot");
    assert!(
        d["payload_hash"].is_string() || d["payload"].is_object(),
        "{d}"
    );
    eventually("outcome reports", || async {
        env.audit("decision.outcome").await.len() >= 2
    })
    .await;
    let outcomes = env.audit("decision.outcome").await;
    let o = outcomes
        .iter()
        .find(|e| e["resource"]["id"] == "local.echo")
        .unwrap();
    assert_eq!(o["outcome"]["status"], "executed", "{o}");
    assert!(o["outcome"]["bytes_out"].as_u64().unwrap() > 10, "{o}");
    assert!(o["outcome"]["duration_ms"].is_u64(), "{o}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn denied_calls_are_tool_errors_with_the_reason() {
    let env = Env::start(json!({})).await;
    let out = env
        .client(
            "bot",
            json!([
                {"op": "call", "name": "local.delete_file", "args": {"path": "/etc/passwd"}},
                {"op": "call", "name": "remote.delete_file", "args": {"path": "/tmp/x"}},
                {"op": "call", "name": "nope.nothing", "args": {}},
            ]),
        )
        .await;
    let forbid = &out["results"][0];
    assert_eq!(forbid["isError"], true, "{forbid}");
    let text = forbid["text"].as_str().unwrap();
    assert!(text.contains("denied"), "{text}");
    assert!(text.contains("never-delete-passwd"), "{text}");
    assert!(text.contains("nobody deletes /etc/passwd"), "{text}");
    let default_deny = &out["results"][1];
    assert_eq!(default_deny["isError"], true);
    assert!(
        default_deny["text"]
            .as_str()
            .unwrap()
            .contains("default deny"),
        "{default_deny}"
    );
    // An unknown tool is a protocol error the SDK raises.
    assert!(
        out["results"][2]["exception"]
            .as_str()
            .unwrap()
            .contains("unknown tool"),
        "{}",
        out["results"][2]
    );
    let decisions = env.audit("decision").await;
    assert!(
        decisions
            .iter()
            .any(|d| d["resource"]["id"] == "local.delete_file" && d["verdict"] == "deny")
    );
}

/// Waits for the one pending approval and approves it as rita.
async fn approve_when_pending(env: &Env) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let id = loop {
        let (st, v) = env.api_get("rita", "/v1/approvals?status=pending").await;
        assert_eq!(st, 200, "{v}");
        if let Some(a) = v["approvals"].as_array().and_then(|a| a.first()) {
            break a["id"].as_str().unwrap().to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no pending approval appeared"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Let the gateway send a progress notification or two first.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (st, v) = env
        .api_post(
            "rita",
            &format!("/v1/approvals/{id}/votes"),
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn held_calls_wait_with_progress_and_run_once_approved() {
    let env = Env::start(json!({})).await;
    let call = env.client(
        "bot",
        json!([{"op": "call", "name": "local.delete_file", "args": {"path": "/tmp/old.log"}, "progress": true}]),
    );
    let (out, approval) = tokio::join!(call, approve_when_pending(&env));
    let r = &out["results"][0];
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(r["text"], "deleted /tmp/old.log");
    let progress = r["progress"].as_array().unwrap();
    assert!(!progress.is_empty(), "no progress while held: {r}");
    assert!(progress[0].as_str().unwrap().contains(&approval), "{r}");
    // The approval was redeemed by this call.
    let (_, a) = env
        .api_get("rita", &format!("/v1/approvals/{approval}"))
        .await;
    assert_eq!(a["state"], "executed", "{a}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wait_that_runs_out_names_the_approval_and_the_retry_runs() {
    let env = Env::start(json!({"approval_wait_secs": 1})).await;
    let args = json!({"path": "/tmp/retry.log"});
    let first = env
        .client(
            "bot",
            json!([{"op": "call", "name": "local.delete_file", "args": args}]),
        )
        .await;
    let r = &first["results"][0];
    assert_eq!(r["isError"], true);
    let text = r["text"].as_str().unwrap();
    let approval = r["meta"]["countersign/approval"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.contains(&approval) && text.contains("still pending"),
        "{text}"
    );
    let (st, v) = env
        .api_post(
            "rita",
            &format!("/v1/approvals/{approval}/votes"),
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    // The identical call redeems the approval, in a new session even.
    let second = env
        .client(
            "bot",
            json!([{"op": "call", "name": "local.delete_file", "args": args}]),
        )
        .await;
    assert_eq!(
        second["results"][0]["text"], "deleted /tmp/retry.log",
        "{second}"
    );
    // A different call does not ride on it.
    let other = env
        .client(
            "bot",
            json!([{"op": "call", "name": "local.delete_file", "args": {"path": "/tmp/other"}}]),
        )
        .await;
    assert_eq!(other["results"][0]["isError"], true, "{other}");
    let _: Value = other;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prompts_and_resources_are_governed_reads() {
    let env = Env::start(json!({})).await;
    let out = env
        .client(
            "bot",
            json!([
                {"op": "prompts"},
                {"op": "prompt", "name": "local.greet", "args": {"who": "Ada"}},
                {"op": "resources"},
                {"op": "read", "uri": "memo://public"},
                {"op": "read", "uri": "memo://secret"},
                {"op": "prompt", "name": "remote.greet", "args": {}},
            ]),
        )
        .await;
    let r = &out["results"];
    // Only `local` lets anyone read prompts and resources.
    assert_eq!(r[0]["prompts"], json!(["local.greet"]), "{out}");
    assert_eq!(r[1]["messages"], json!(["Hello, Ada!"]), "{out}");
    assert_eq!(
        r[2]["resources"],
        json!(["memo://public", "memo://secret"]),
        "{out}"
    );
    assert_eq!(r[3]["contents"], json!(["the public memo"]), "{out}");
    let denied = r[4]["exception"].as_str().unwrap();
    assert!(denied.contains("agents may not read secret memos"), "{out}");
    assert!(
        r[5]["exception"].as_str().unwrap().contains("default deny"),
        "{out}"
    );
    // A person may read the secret memo; every read is in the audit log.
    let alice = env
        .client("alice", json!([{"op": "read", "uri": "memo://secret"}]))
        .await;
    assert_eq!(
        alice["results"][0]["contents"],
        json!(["the secret memo"]),
        "{alice}"
    );
    let decisions = env.audit("decision").await;
    assert!(
        decisions
            .iter()
            .any(|d| d["resource"]["id"] == "local.resources/read" && d["verdict"] == "deny")
    );
}
