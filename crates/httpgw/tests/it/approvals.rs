//! Pending requests: held, released by a vote; or refused after the wait
//! with the approval id, and the identical retry proceeds exactly once.

use crate::common::{Env, Options};
use reqwest::Method;
use serde_json::Value;

#[tokio::test]
async fn a_held_request_proceeds_when_approved() {
    let env = Env::start().await;
    let req = env.req("bot", Method::DELETE, "/api/repos/o/r").send();
    let held = tokio::spawn(req);
    let id = env.pending_approval("bot").await;
    assert!(env.upstream.last("/repos/o/r").is_none(), "held, not sent");
    env.vote("rita", &id).await;
    let r = held.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    let seen = env.upstream.last("/repos/o/r").unwrap();
    assert_eq!(seen.method, "DELETE");
    let d = env.last_decision().await;
    assert_eq!(d["verdict"], "allow");
    assert_eq!(d["approval_id"], id.as_str());
}

#[tokio::test]
async fn after_the_wait_the_identical_retry_redeems_the_approval_once() {
    let env = Env::start_with(Options {
        approval_wait_secs: 1,
        ..Options::default()
    })
    .await;
    let r = env
        .req("bot", Method::DELETE, "/api/repos/o/r?cascade=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let p: Value = r.json().await.unwrap();
    assert_eq!(
        p["type"],
        "https://countersign.dev/problems/approval-pending"
    );
    let id = p["approval_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("apr_"));
    assert!(p["detail"].as_str().unwrap().contains(&id));
    assert!(env.upstream.last("/repos").is_none());

    env.vote("rita", &id).await;
    // A different URL does not redeem it.
    let r = env
        .req("bot", Method::DELETE, "/api/repos/o/r?cascade=2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let p: Value = r.json().await.unwrap();
    assert_ne!(p["approval_id"], id.as_str());
    assert!(env.upstream.last("/repos").is_none());

    // The identical request does, once.
    let r = env
        .req("bot", Method::DELETE, "/api/repos/o/r?cascade=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(env.upstream.seen().len(), 1);
    let r = env
        .req("bot", Method::DELETE, "/api/repos/o/r?cascade=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "an approval is redeemed once");
    let p: Value = r.json().await.unwrap();
    assert_ne!(p["approval_id"], id.as_str());
    assert_eq!(env.upstream.seen().len(), 1);
}

#[tokio::test]
async fn the_body_hash_binds_the_approval() {
    let env = Env::start_with(Options {
        approval_wait_secs: 1,
        ..Options::default()
    })
    .await;
    // Agents' production writes need a reviewer (starter policies).
    let send = |body: &'static str| {
        env.req("bot", Method::POST, "/api/issues")
            .body(body)
            .send()
    };
    let r = send("{\"title\":\"a\"}").await.unwrap();
    assert_eq!(r.status(), 403);
    let p: Value = r.json().await.unwrap();
    let id = p["approval_id"].as_str().unwrap().to_owned();
    env.vote("rita", &id).await;
    let r = send("{\"title\":\"b\"}").await.unwrap();
    assert_eq!(r.status(), 403, "another body needs its own approval");
    let r = send("{\"title\":\"a\"}").await.unwrap();
    assert_eq!(r.status(), 200);
    let seen = env.upstream.last("/issues").unwrap();
    assert_eq!(seen.bytes, 13);
}

#[tokio::test]
async fn curl_sees_the_pending_document() {
    let env = Env::start_with(Options {
        approval_wait_secs: 1,
        ..Options::default()
    })
    .await;
    let tok = format!("Countersign-Token: {}", env.token("bot"));
    let (ok, out, err) = env
        .curl(&["-i", "-X", "DELETE", "-H", &tok, "{gw}/api/repos/o/x"])
        .await;
    assert!(ok, "{err}");
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    assert!(out.to_ascii_lowercase().contains("retry-after: 1"), "{out}");
    assert!(out.contains("\"approval_id\":\"apr_"), "{out}");
}

#[tokio::test]
async fn a_streamed_body_cannot_be_held_for_approval() {
    let env = Env::start().await;
    // Over inspect_body_bytes (64 KiB): streamed, so no hash to bind.
    let body = vec![b'a'; 100 * 1024];
    let r = env
        .req("bot", Method::POST, "/api/issues")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let p: Value = r.json().await.unwrap();
    assert!(
        p["detail"].as_str().unwrap().contains("held for approval"),
        "{p}"
    );
    assert!(env.upstream.last("/issues").is_none());
    // The approval it opened is withdrawn, not left for reviewers.
    let cancelled = env.audit("approval.cancelled").await;
    assert_eq!(cancelled.len(), 1);
}
