//! `countersign serve` mounts the MCP gateway when `[mcp]` is configured.
//! (The gateway's behaviour is tested in crates/mcp; this checks wiring.)

use crate::common::Server;
use serde_json::{Value, json};

#[tokio::test]
async fn serve_mounts_mcp_with_its_own_auth_challenge() {
    let mut s = Server::start();
    s.stop();
    let cfg = s.data_dir().join("countersign.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    // An upstream that is not there: the gateway still serves, with no tools.
    text.push_str("\n[mcp]\n[[mcp.upstreams]]\nname = \"gone\"\nenvironment = \"dev\"\nurl = \"http://127.0.0.1:9/mcp\"\n");
    std::fs::write(&cfg, text).unwrap();
    s.spawn();
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/mcp", s.url))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("resource_metadata")
    );
    let r = http
        .post(format!("{}/mcp", s.url))
        .bearer_auth(&s.admin_token)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let session = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["result"]["protocolVersion"], "2025-06-18");
    let v: Value = http
        .post(format!("{}/mcp", s.url))
        .bearer_auth(&s.admin_token)
        .header("mcp-session-id", &session)
        .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["result"]["tools"], json!([]), "{v}");
    // The API beside it still answers.
    let (st, _) = s.admin().get("/v1/whoami").await;
    assert_eq!(st, 200);
}
