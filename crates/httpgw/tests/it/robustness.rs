//! Malformed requests get clear 4xx answers; an upstream that is down or
//! slow gets a clear 502/504, and nothing is held forever.

use crate::common::Env;
use reqwest::Method;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[tokio::test]
async fn ambiguous_paths_are_refused() {
    let env = Env::start().await;
    let tok = format!("Countersign-Token: {}", env.token("bot"));
    for path in [
        "/api/a/../repos/o/vault",
        "/api/repos/o%2Fvault",
        "/api//repos",
        "/api/%zz",
    ] {
        let url = format!("{{gw}}{path}");
        let (ok, out, err) = env.curl(&["-i", "--path-as-is", "-H", &tok, &url]).await;
        assert!(ok, "{err}");
        assert!(out.starts_with("HTTP/1.1 400"), "{path}: {out}");
        assert!(out.contains("bad-request"), "{out}");
    }
    assert!(env.upstream.seen().is_empty());
}

#[tokio::test]
async fn garbage_on_the_wire_is_answered_and_dropped() {
    let env = Env::start().await;
    let mut s = tokio::net::TcpStream::connect(env.addr).await.unwrap();
    s.write_all(b"NOT HTTP AT ALL\r\n\r\n").await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the gateway closes a garbage connection");
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 400"),
        "{text}"
    );
    // The gateway still serves.
    let r = env.req("bot", Method::GET, "/api/x").send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_down_upstream_is_a_502() {
    let env = Env::start().await;
    let r = env.req("bot", Method::GET, "/down/x").send().await.unwrap();
    assert_eq!(r.status(), 502);
    let p: Value = r.json().await.unwrap();
    assert_eq!(
        p["type"],
        "https://countersign.dev/problems/upstream-unavailable"
    );
    assert!(
        p["detail"].as_str().unwrap().contains("cannot connect"),
        "{p}"
    );
    let o = env.outcome_of(p["decision_id"].as_str().unwrap()).await;
    assert_eq!(o["outcome"]["status"], "failed");
}

#[tokio::test]
async fn a_slow_upstream_is_a_504() {
    let env = Env::start().await;
    let started = std::time::Instant::now();
    let r = env
        .req("bot", Method::GET, "/api/slow")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    // The configured response timeout is 2 s; the upstream takes 10 s.
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
    let p: Value = r.json().await.unwrap();
    assert_eq!(
        p["type"],
        "https://countersign.dev/problems/upstream-timeout"
    );
    let o = env.outcome_of(p["decision_id"].as_str().unwrap()).await;
    assert_eq!(o["outcome"]["status"], "failed");
}
