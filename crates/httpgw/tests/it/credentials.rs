//! The route's credential reaches the upstream; the client's token and
//! own Authorization never do; nothing of ours hands the secret back.

use crate::common::{Env, SECRET};
use reqwest::Method;

#[tokio::test]
async fn bearer_is_injected_and_client_credentials_are_stripped() {
    let env = Env::start().await;
    let token = env.token("bot").to_owned();
    let r = env
        .req("bot", Method::GET, "/api/things")
        .header("Authorization", "Bearer the-clients-own")
        .header("Proxy-Authorization", "Bearer something-else")
        .header("Connection", "keep-alive, x-hop")
        .header("x-hop", "dropped")
        .header("x-kept", "kept")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(!text.contains(SECRET));
    let seen = env.upstream.last("/things").unwrap();
    let auth: Vec<_> = seen.headers.get_all("authorization").iter().collect();
    assert_eq!(auth.len(), 1);
    assert_eq!(auth[0].to_str().unwrap(), format!("Bearer {SECRET}"));
    for (name, value) in &seen.headers {
        let v = value.to_str().unwrap_or("");
        assert!(!v.contains(&token), "client token forwarded in {name}");
        assert!(
            !v.contains("the-clients-own"),
            "client auth forwarded in {name}"
        );
    }
    assert!(seen.headers.get("countersign-token").is_none());
    assert!(seen.headers.get("proxy-authorization").is_none());
    assert!(seen.headers.get("x-hop").is_none());
    assert_eq!(seen.headers["x-kept"], "kept");
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert!(
        seen.headers["forwarded"]
            .to_str()
            .unwrap()
            .starts_with("for=127.0.0.1;proto=http;host=")
    );
    assert_eq!(
        seen.headers["host"].to_str().unwrap(),
        env.upstream.addr.to_string()
    );
}

#[tokio::test]
async fn query_and_header_credentials_are_injected() {
    let env = Env::start().await;
    let r = env
        .req("bot", Method::GET, "/dev/items?api_key=mine&x=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = env.upstream.last("/base/items").unwrap();
    assert_eq!(
        seen.path_and_query,
        format!("/base/items?x=1&api_key={}", SECRET)
    );
    assert!(seen.headers.get("authorization").is_none());

    let r = env
        .req("alice", Method::GET, "/strict/ok")
        .header("X-Api-Key", "client-chosen")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = env.upstream.last("/ok").unwrap();
    let keys: Vec<_> = seen.headers.get_all("x-api-key").iter().collect();
    assert_eq!(keys, vec![SECRET]);
}

#[tokio::test]
async fn an_upstream_echo_of_the_secret_is_not_passed_on() {
    let env = Env::start().await;
    let r = env
        .req("bot", Method::GET, "/api/echo-auth")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-echo-auth").is_none());
    for (name, value) in r.headers() {
        assert!(
            !value.to_str().unwrap_or("").contains(SECRET),
            "secret in response header {name}"
        );
    }
    assert_eq!(r.text().await.unwrap(), "echoed");
    // The upstream did get it (the echo was real).
    let seen = env.upstream.last("/echo-auth").unwrap();
    assert_eq!(
        seen.headers["authorization"],
        format!("Bearer {SECRET}").as_str()
    );

    // Problem documents never carry it either, nor the audit log.
    let r = env
        .req("vic", Method::POST, "/api/things")
        .send()
        .await
        .unwrap();
    assert!(!r.text().await.unwrap().contains(SECRET));
    for kind in ["decision", "decision.outcome"] {
        for e in env.audit(kind).await {
            assert!(!e.to_string().contains(SECRET));
        }
    }
}

#[tokio::test]
async fn tls_upstreams_are_verified_and_spoken_to_over_http2() {
    use base64::Engine as _;
    let env = Env::start().await;
    let r = env
        .req("bot", Method::GET, "/tls/things")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = env.tls_upstream.last("/things").unwrap();
    assert_eq!(seen.version, http::Version::HTTP_2, "ALPN picked h2");
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("svc:{SECRET}"))
    );
    assert_eq!(seen.headers["authorization"], want.as_str());

    // Without the route's CA the certificate is not trusted: 502, nothing sent.
    let r = env
        .req("bot", Method::GET, "/untrusted/things")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(env.tls_upstream.seen().len(), 1);
}
