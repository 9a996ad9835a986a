//! Large bodies both ways, server-sent events, WebSocket, HTTP/2.

use crate::common::Env;
use bytes::Bytes;
use reqwest::Method;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn a_large_chunked_upload_streams_through() {
    let env = Env::start().await;
    // 24 MiB in 256 KiB chunks, no length given: chunked, streamed.
    let chunk = Bytes::from(vec![7u8; 256 * 1024]);
    let mut h = Sha256::new();
    for _ in 0..96 {
        h.update(&chunk);
    }
    let want = hex::encode(h.finalize());
    let c = chunk.clone();
    let stream =
        futures_util::stream::iter((0..96).map(move |_| Ok::<_, std::io::Error>(c.clone())));
    let r = env
        .req("bot", Method::POST, "/dev/upload")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["bytes"], 24 * MIB);
    assert_eq!(v["sha256"], want.as_str());
    let d = env.last_decision().await;
    let ctx = env.payload(&d).await;
    assert_eq!(ctx["http"]["streamed"], true);
    assert!(ctx["http"].get("body_sha256").is_none());
    let o = env.outcome_of(d["decision_id"].as_str().unwrap()).await;
    assert_eq!(o["outcome"]["bytes_in"], 24 * MIB);
}

#[tokio::test]
async fn curl_uploads_and_downloads_large_bodies() {
    let env = Env::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blob");
    let data: Vec<u8> = (0..8 * MIB).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let tok = format!("Countersign-Token: {}", env.token("bot"));
    let at = format!("@{}", file.display());
    let (ok, out, err) = env
        .curl(&["-H", &tok, "--data-binary", &at, "{gw}/dev/blob"])
        .await;
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["bytes"], 8 * MIB);
    assert_eq!(v["sha256"], hex::encode(Sha256::digest(&data)).as_str());

    let out_file = dir.path().join("down");
    let of = out_file.display().to_string();
    let (ok, _, err) = env
        .curl(&["-H", &tok, "-o", &of, "{gw}/dev/download/33554432"])
        .await;
    assert!(ok, "{err}");
    assert_eq!(std::fs::metadata(&out_file).unwrap().len(), 32 * MIB as u64);
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let env = Env::start().await;
    let tok = format!("Countersign-Token: {}", env.token("bot"));
    // Content-Length over max_body_bytes (64 MiB): refused before reading.
    let (ok, out, _) = env
        .curl(&[
            "-i",
            "-H",
            &tok,
            "-H",
            "Content-Length: 100000000",
            "-X",
            "POST",
            "{gw}/dev/blob",
        ])
        .await;
    let _ = ok;
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    assert!(env.upstream.last("/base/blob").is_none());
}

#[tokio::test]
async fn server_sent_events_arrive_as_they_are_sent() {
    let env = Env::start().await;
    let mut r = env
        .req("bot", Method::GET, "/api/sse")
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    // The first event arrives while the upstream still holds the second.
    let first = r.chunk().await.unwrap().unwrap();
    assert_eq!(&first[..], b"data: one\n\n");
    env.upstream.release();
    let second = r.chunk().await.unwrap().unwrap();
    assert_eq!(&second[..], b"data: two\n\n");
    assert!(r.chunk().await.unwrap().is_none());
}

#[tokio::test]
async fn websockets_are_tunnelled() {
    let env = Env::start().await;
    let mut s = tokio::net::TcpStream::connect(env.addr).await.unwrap();
    let head = env.websocket_echo(&mut s, "bot").await;
    assert!(
        head.to_ascii_lowercase().contains("upgrade: websocket"),
        "{head}"
    );
    let seen = env.upstream.last("/ws").unwrap();
    assert_eq!(seen.headers["upgrade"], "websocket");
    assert!(seen.headers.get("countersign-token").is_none());
}

#[tokio::test]
async fn http2_clients_are_served() {
    let env = Env::start().await;
    let tok = format!("Countersign-Token: {}", env.token("bot"));
    let (ok, out, err) = env
        .curl(&[
            "-i",
            "--http2-prior-knowledge",
            "-H",
            &tok,
            "{gw}/api/things",
        ])
        .await;
    assert!(ok, "{err}");
    assert!(out.starts_with("HTTP/2 200"), "{out}");
    let seen = env.upstream.last("/things").unwrap();
    assert_eq!(
        seen.headers["host"].to_str().unwrap(),
        env.upstream.addr.to_string()
    );
}
