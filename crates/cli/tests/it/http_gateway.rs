//! `countersign serve` with an `[http_gateway]` section: the real binary
//! governs plain HTTP calls to a local upstream, with the starter
//! policies and the route's credential injected.

use crate::common::{Server, free_port};
use axum::http::HeaderMap;
use serde_json::Value;

const SECRET: &str = "cli-upstream-secret-91c2";

/// An upstream that answers 200 only to the injected credential.
async fn upstream() -> u16 {
    let app = axum::Router::new().fallback(|h: HeaderMap| async move {
        let auth = h.get("authorization").and_then(|v| v.to_str().ok());
        if auth == Some(&format!("Bearer {SECRET}")) && h.get("countersign-token").is_none() {
            (axum::http::StatusCode::OK, "upstream ok")
        } else {
            (axum::http::StatusCode::UNAUTHORIZED, "bad credential")
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(l, app).await });
    port
}

#[tokio::test]
async fn serve_starts_the_http_gateway() {
    let up = upstream().await;
    let gw = free_port();
    let s = Server::start_configured(None, |dir| {
        std::fs::write(dir.join("api-secret"), SECRET).unwrap();
        format!(
            r#"[http_gateway]
listen = "127.0.0.1:{gw}"
approval_wait_secs = 1

[http_gateway.routes.api]
path_prefix = "/api"
upstream = "http://127.0.0.1:{up}"
environment = "prod"
credential = {{ kind = "bearer", secret_file = "api-secret" }}
default = {{ action = "http.request", resource = 'Route::"api"' }}
"#
        )
    });
    let bot = s.principal("bot", "Agent", &[], Some("admin")).await;
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{gw}/api/things");

    // Reads are allowed everywhere (starter policy); the credential is injected.
    let r = http
        .get(&url)
        .header("Countersign-Token", &bot)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "upstream ok");

    // A production write by an agent is held, then refused pending.
    let r = http
        .post(&url)
        .header("Countersign-Token", &bot)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().contains_key("retry-after"));
    let p: Value = r.json().await.unwrap();
    assert!(p["approval_id"].as_str().unwrap().starts_with("apr_"));

    // Both decisions are in the audit log, with the request's facts.
    let decisions = s.admin().audit("decision").await;
    let http_ones: Vec<_> = decisions
        .iter()
        .filter(|d| d["action"] == "http.request")
        .collect();
    assert_eq!(http_ones.len(), 2);
    assert_eq!(http_ones[0]["verdict"], "allow");
    assert_eq!(http_ones[1]["verdict"], "pending");
}
