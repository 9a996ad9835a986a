//! Bad input and bad upstreams: each gets a clear error, and the gateway
//! keeps serving other sessions.

use crate::common::{Env, eventually};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unauthenticated_requests_get_401_with_resource_metadata() {
    let env = Env::start(json!({})).await;
    let r = env
        .http()
        .post(format!("{}/mcp", env.url))
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.starts_with("Bearer resource_metadata=\""),
        "{challenge}"
    );
    let meta_url = challenge.split('"').nth(1).unwrap().to_owned();
    let meta: Value = env
        .http()
        .get(&meta_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["resource"], format!("{}/mcp", env.url));
    assert_eq!(meta["bearer_methods_supported"], json!(["header"]));
    // A wrong token is refused the same way, and audited.
    let r = env
        .http()
        .post(format!("{}/mcp", env.url))
        .bearer_auth("cs_nope_nope")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(!env.audit("auth.failed").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_unknown_and_oversized_messages_get_jsonrpc_errors() {
    let env = Env::start(json!({"max_message_bytes": 8192})).await;
    let raw = env.raw_session("bot").await;
    let r = raw.post_str("{not json").await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], -32700, "{v}");

    let (st, v) = raw
        .post(&json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]))
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_i64()),
        (400, Some(-32600)),
        "{v}"
    );
    let (st, v) = raw
        .post(&json!({"jsonrpc": "1.0", "id": 1, "method": "ping"}))
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_i64()),
        (400, Some(-32600)),
        "{v}"
    );
    let (st, v) = raw
        .post(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/frobnicate"}))
        .await;
    assert_eq!(
        (st, v["id"].as_i64(), v["error"]["code"].as_i64()),
        (200, Some(7), Some(-32601)),
        "{v}"
    );
    let (_, v) = raw.post(&json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "local.echo", "arguments": "nope"}})).await;
    assert_eq!(v["error"]["code"], -32602, "{v}");

    let big = "x".repeat(10_000);
    let r = raw.post_str(&json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "local.echo", "arguments": {"text": big}}}).to_string()).await;
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("8192"),
        "{v}"
    );

    // Another principal cannot use this session.
    let mut stolen = env.raw_session("vic").await;
    stolen.session = raw.session.clone();
    let (st, _) = stolen
        .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .await;
    assert_eq!(st, 404);

    // The session still works.
    let v = raw
        .call(10, "local.echo", json!({"text": "still here"}))
        .await;
    assert_eq!(v["result"]["content"][0]["text"], "still here", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crashing_upstream_fails_its_call_and_comes_back() {
    let env = Env::start(json!({})).await;
    let raw = env.raw_session("bot").await;
    let other = env.raw_session("alice").await;
    let v = raw.call(1, "local.echo", json!({"text": "warm"})).await;
    assert_eq!(v["result"]["isError"], false, "{v}");
    let v = raw.call(2, "local.crash", json!({})).await;
    assert_eq!(v["result"]["isError"], true, "{v}");
    let text = v["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("exited while the call was running"), "{text}");
    // HTTP upstream unaffected meanwhile.
    let v = other.call(3, "remote.echo", json!({"text": "fine"})).await;
    assert_eq!(v["result"]["content"][0]["text"], "fine", "{v}");
    // The stdio upstream is restarted.
    eventually("local upstream restarted", || async {
        let v = other.call(4, "local.echo", json!({"text": "back"})).await;
        v["result"]["content"][0]["text"] == "back"
    })
    .await;
    let outcomes = env.audit("decision.outcome").await;
    assert!(
        outcomes
            .iter()
            .any(|o| o["resource"]["id"] == "local.crash" && o["outcome"]["status"] == "failed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hanging_upstream_times_out_without_blocking_others() {
    let env = Env::start(json!({"call_timeout_secs": 2})).await;
    let raw = env.raw_session("bot").await;
    let other = env.raw_session("alice").await;
    let hang = raw.call(1, "local.hang", json!({}));
    let meanwhile = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let v = other.call(2, "local.add", json!({"a": 1, "b": 2})).await;
        assert_eq!(v["result"]["content"][0]["text"], "3", "{v}");
        tokio::time::Instant::now()
    };
    let started = tokio::time::Instant::now();
    let (v, other_done) = tokio::join!(hang, meanwhile);
    assert!(
        other_done - started < Duration::from_secs(2),
        "the other session waited for the hang"
    );
    assert_eq!(v["result"]["isError"], true, "{v}");
    let text = v["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("did not answer within 2s"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelling_a_held_call_releases_it() {
    let env = Env::start(json!({})).await;
    let raw = env.raw_session("bot").await;
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": {"name": "local.delete_file", "arguments": {"path": "/tmp/c"}}});
    let held = raw.post(&body);
    let cancel = async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let (st, _) = raw
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5}}))
            .await;
        assert_eq!(st, 202);
    };
    let ((st, v), ()) = tokio::join!(held, cancel);
    assert_eq!(st, 200);
    assert_eq!(v["error"]["code"], -32800, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stays pending"),
        "{v}"
    );
}
