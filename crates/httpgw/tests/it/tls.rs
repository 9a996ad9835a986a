//! TLS on the gateway's own listener: HTTPS requests are governed as over
//! HTTP, ALPN picks HTTP/2, WebSockets still tunnel, plaintext gets no
//! answer, a silent client is dropped, and bad certificate files stop the
//! start with the file named.

use crate::common::{Env, Options, SECRET, self_signed};
use countersign_httpgw::GatewaySection;
use reqwest::Method;
use rustls::pki_types::pem::PemObject as _;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

async fn tls_env() -> Env {
    Env::start_with(Options {
        tls_handshake_timeout_ms: Some(10_000),
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn https_requests_are_governed_and_forwarded() {
    let env = tls_env().await;
    assert!(env.url.starts_with("https://"), "{}", env.url);
    // reqwest trusting only the gateway's certificate.
    let r = env
        .req("bot", Method::GET, "/api/things/1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["path"], "/things/1");
    let seen = env.upstream.last("/things/1").unwrap();
    assert_eq!(seen.headers["authorization"], format!("Bearer {SECRET}"));
    let d = env.last_decision().await;
    assert_eq!(d["verdict"], "allow");
    assert_eq!(d["resource"]["id"], "api");
    let o = env.outcome_of(d["decision_id"].as_str().unwrap()).await;
    assert_eq!(o["outcome"]["status"], "executed");

    // Governance is the same over TLS: no token, no forwarding.
    let before = env.upstream.seen().len();
    let r = env
        .http
        .get(format!("{}/api/things/2", env.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(env.upstream.seen().len(), before);
}

#[tokio::test]
async fn curl_negotiates_http2_or_http11_by_alpn() {
    let env = tls_env().await;
    let tok = format!("Countersign-Token: {}", env.token("bot"));
    for (flag, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
        let (ok, out, err) = env
            .curl(&[
                flag,
                "-o",
                "/dev/null",
                "-w",
                "%{http_version} %{http_code}",
                "-H",
                &tok,
                "{gw}/api/things",
            ])
            .await;
        assert!(ok, "{flag}: {err}");
        assert_eq!(out, format!("{version} 200"), "{flag}");
    }
    assert_eq!(env.audit("decision").await.len(), 2);
}

#[tokio::test]
async fn websockets_are_tunnelled_over_tls() {
    let env = tls_env().await;
    let pem = std::fs::read(env.gw_cert.as_ref().unwrap()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(env.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::IpAddress(env.addr.ip().into());
    let mut s = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    env.websocket_echo(&mut s, "bot").await;
    assert_eq!(
        env.upstream.last("/ws").unwrap().headers["upgrade"],
        "websocket"
    );
}

/// A client that forgot `https://` must not get an HTTP answer (nor have
/// its token, already sent in clear, used): the TLS port speaks only TLS.
#[tokio::test]
async fn plaintext_http_to_the_tls_port_is_not_served() {
    let env = tls_env().await;
    let mut s = tokio::net::TcpStream::connect(env.addr).await.unwrap();
    let req = format!(
        "GET /api/things HTTP/1.1\r\nHost: gw\r\nCountersign-Token: {}\r\n\r\n",
        env.token("bot")
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the gateway closes a plaintext connection");
    let text = String::from_utf8_lossy(&out);
    assert!(!text.contains("HTTP/"), "{text}");

    let plain = format!("http://{}/api/things", env.addr);
    let tok = format!("Countersign-Token: {}", env.token("bot"));
    let (ok, out, _) = env.curl(&["-H", &tok, &plain]).await;
    assert!(!ok, "curl got an answer over plain HTTP: {out}");
    assert!(env.upstream.seen().is_empty());
    assert!(env.audit("decision").await.is_empty());
}

/// Without the handshake timeout, a client that connects and says nothing
/// would hold one of the listener's connection slots for good.
#[tokio::test]
async fn a_silent_client_is_dropped_after_the_handshake_timeout() {
    let env = Env::start_with(Options {
        tls_handshake_timeout_ms: Some(300),
        ..Options::default()
    })
    .await;
    let started = Instant::now();
    let mut s = tokio::net::TcpStream::connect(env.addr).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the gateway drops a silent client");
    // Closed (or reset) by the gateway, with nothing sent.
    assert!(read.map_or(true, |n| n == 0), "{out:?}");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    // The gateway still serves.
    let r = env.req("bot", Method::GET, "/api/x").send().await.unwrap();
    assert_eq!(r.status(), 200);
}

/// A minimal section with `tls = {tls}`, validated against `dir`.
fn validate(dir: &Path, tls: &str) -> Result<countersign_httpgw::GatewayConfig, String> {
    let text = format!(
        r#"listen = "127.0.0.1:0"
           tls = {tls}
           [routes.api]
           upstream = "http://127.0.0.1:9"
           environment = "prod"
        "#
    );
    let section: GatewaySection = toml::from_str(&text).unwrap();
    section.validate(dir).map_err(|e| e.to_string())
}

#[test]
fn bad_certificate_files_stop_the_start_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed();
    let (_, other_key) = self_signed();
    let p = |f: &str| dir.path().join(f);
    std::fs::write(p("gw.crt"), &cert).unwrap();
    std::fs::write(p("gw.key"), &key).unwrap();
    std::fs::write(p("other.key"), &other_key).unwrap();
    std::fs::write(p("garbage.crt"), "not a certificate\n").unwrap();
    std::fs::write(
        p("broken.crt"),
        "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();

    // The good pair validates, with relative paths from the data dir.
    let c = validate(dir.path(), r#"{ cert = "gw.crt", key = "gw.key" }"#).unwrap();
    let tls = c.tls.as_ref().unwrap();
    assert_eq!(tls.cert, p("gw.crt"));
    assert_eq!(tls.handshake_timeout, Duration::from_secs(10));
    // The configuration may be logged: its debug output has paths, no key.
    let debug = format!("{c:?}");
    assert!(debug.contains("gw.key"), "{debug}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");

    for (tls, names, says) in [
        (
            r#"{ cert = "missing.crt", key = "gw.key" }"#,
            "missing.crt",
            "cannot read",
        ),
        (
            r#"{ cert = "gw.crt", key = "missing.key" }"#,
            "missing.key",
            "cannot read",
        ),
        (
            r#"{ cert = "garbage.crt", key = "gw.key" }"#,
            "garbage.crt",
            "holds no PEM certificate",
        ),
        (
            r#"{ cert = "broken.crt", key = "gw.key" }"#,
            "broken.crt",
            "not valid X.509",
        ),
        (
            r#"{ cert = "gw.crt", key = "gw.crt" }"#,
            "gw.crt",
            "holds no PEM private key",
        ),
        (
            r#"{ cert = "gw.crt", key = "other.key" }"#,
            "other.key",
            "does not match the certificate",
        ),
    ] {
        let e = validate(dir.path(), tls).unwrap_err();
        assert!(e.contains(names) && e.contains(says), "{tls}: {e}");
        assert!(!e.contains("-----BEGIN"), "{tls}: {e}");
    }
    // Both files are required; unknown options are refused.
    assert!(toml::from_str::<GatewaySection>("listen = \"x\"\ntls = { cert = \"a\" }\n").is_err());
    assert!(
        toml::from_str::<GatewaySection>(
            "listen = \"x\"\ntls = { cert = \"a\", key = \"b\", ciphers = \"all\" }\n"
        )
        .is_err()
    );
}
