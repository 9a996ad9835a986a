//! Bad input gets a clear JSON error with a stable code, and loses nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failed step should fail the test loudly"
)]

use crate::common::Server;
use serde_json::{Value, json};

async fn raw(s: &Server, token: &str, path: &str, ctype: &str, body: Vec<u8>) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", s.url))
        .bearer_auth(token)
        .header("content-type", ctype)
        .body(body)
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn malformed_and_unknown_input_is_refused_clearly() {
    let s = Server::start();
    let bot = s
        .principal("bot", "agent", &["engineer"], Some("admin"))
        .await;
    let json_ct = "application/json";
    let cases: Vec<(Vec<u8>, &str, u16, &str)> = vec![
        (b"{not json".to_vec(), json_ct, 400, "invalid_json"),
        (b"[]".to_vec(), json_ct, 400, "invalid_json"),
        (
            br#"{"action":"sql.read","resource":{"type":"Table","id":"t"},"environment":"prod","colour":"red"}"#.to_vec(),
            json_ct, 400, "invalid_json",
        ),
        (
            br#"{"action":"sql.read","resource":{"type":"Table","id":"t"},"environment":"prod"}"#.to_vec(),
            "text/plain", 415, "unsupported_media_type",
        ),
        (
            br#"{"action":"sql.obliterate","resource":{"type":"Table","id":"t"},"environment":"prod"}"#.to_vec(),
            json_ct, 400, "unknown_action",
        ),
        (
            br#"{"action":"sql.read","resource":{"type":"Spaceship","id":"t"},"environment":"prod"}"#.to_vec(),
            json_ct, 400, "unknown_entity_type",
        ),
        (
            br#"{"action":"sql.read","resource":{"type":"Table","id":"t"},"environment":"moon"}"#.to_vec(),
            json_ct, 400, "invalid_request",
        ),
        (
            br#"{"action":"sql.read","resource":{"type":"Table","id":"t"},"environment":"prod","context":{"sql":{"statement":7}}}"#.to_vec(),
            json_ct, 400, "invalid_context",
        ),
        (
            br#"{"action":"sql.read","resource":{"type":"Table","id":"t"},"environment":"prod","context":{"ratio":0.5}}"#.to_vec(),
            json_ct, 400, "invalid_context",
        ),
    ];
    for (body, ct, status, code) in cases {
        let text = String::from_utf8_lossy(&body).into_owned();
        let (st, e) = raw(&s, &bot, "/v1/decisions", ct, body).await;
        assert_eq!(
            (st, e["error"]["code"].as_str()),
            (status, Some(code)),
            "{text} → {e}"
        );
        assert!(
            e["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert!(
            e["request_id"]
                .as_str()
                .is_some_and(|r| r.starts_with("req_"))
        );
    }
    // Oversized bodies are cut off.
    let big = format!(
        r#"{{"action":"sql.read","resource":{{"type":"Table","id":"t"}},"environment":"prod","reason":"{}"}}"#,
        "x".repeat(200_000)
    );
    let (st, _) = raw(&s, &bot, "/v1/decisions", json_ct, big.into_bytes()).await;
    assert_eq!(st, 413);

    // Nothing above reached the log as a decision.
    assert!(s.admin().audit("decision").await.is_empty());
    // …and the server still answers.
    let d = s
        .client(&bot)
        .decide("sql.read", "Table", "t", "prod", json!({}))
        .await;
    assert_eq!(d["verdict"], "allow");
}

#[tokio::test]
async fn admin_endpoints_need_an_admin_and_validate() {
    let s = Server::start();
    let bot = s.principal("bot", "agent", &["admin"], Some("admin")).await;
    let alice = s.principal("alice", "user", &[], None).await;
    // An agent in the admin group is still not an administrator.
    let (st, _) = s
        .client(&bot)
        .post("/v1/principals", json!({"name": "x", "kind": "user"}))
        .await;
    assert_eq!(st, 403);
    let (st, _) = s
        .client(&alice)
        .post("/v1/tokens", json!({"principal": "alice"}))
        .await;
    assert_eq!(st, 403);
    let admin = s.admin();
    for (body, code) in [
        (json!({"name": "a b", "kind": "user"}), "invalid_request"),
        (json!({"name": "x", "kind": "robot"}), "invalid_request"),
        (json!({"name": "x", "kind": "agent"}), "invalid_request"),
        (
            json!({"name": "x", "kind": "agent", "owner": "bot"}),
            "invalid_request",
        ),
        (
            json!({"name": "x", "kind": "user", "owner": "alice"}),
            "invalid_request",
        ),
        (json!({"name": "alice", "kind": "user"}), "already_exists"),
    ] {
        let (st, e) = admin.post("/v1/principals", body.clone()).await;
        assert_eq!(e["error"]["code"].as_str(), Some(code), "{body} → {st} {e}");
    }
    let (st, e) = admin
        .post("/v1/tokens", json!({"principal": "nobody"}))
        .await;
    assert_eq!((st, e["error"]["code"].as_str()), (404, Some("not_found")));
    let (st, _) = admin.get("/v1/approvals?status=maybe").await;
    assert_eq!(st, 400);
    let (st, _) = admin.get("/v1/nothing-here").await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn openapi_document_is_served_and_covers_the_routes() {
    let s = Server::start();
    let r = reqwest::get(format!("{}/openapi.json", s.url))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/decisions",
        "/v1/decisions/{id}/outcome",
        "/v1/approvals",
        "/v1/approvals/{id}",
        "/v1/approvals/{id}/votes",
        "/v1/approvals/{id}/cancel",
        "/v1/principals",
        "/v1/tokens",
        "/v1/policies/reload",
        "/v1/audit/checkpoint",
        "/v1/audit/entries/{seq}",
        "/v1/audit/consistency",
        "/v1/changes",
        "/v1/changes/{id}",
        "/v1/changes/{id}/deployed",
        "/v1/changes/{id}/rollback",
        "/v1/changes/{id}/cancel",
        "/v1/inventory",
        "/v1/policies/diff",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from openapi.json"
        );
    }
}
