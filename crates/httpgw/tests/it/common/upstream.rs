//! The local upstream: a hyper server (HTTP/1.1 and HTTP/2) that records
//! every request that reaches it and answers by path:
//!
//! - `/slow…`: answers after 10 s (longer than the gateway's timeout)
//! - `/sse`: `text/event-stream`; one event at once, the next only when
//!   the test calls [`Upstream::release`]
//! - `/download/N`: N bytes, streamed in 64 KiB chunks
//! - `/echo-auth`: echoes the Authorization it got in `x-echo-auth`
//! - `/ws`: switches protocols and echoes bytes back
//! - anything else: reads the body (streaming) and answers JSON with
//!   method, path, query, byte count and SHA-256

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::StreamBody;
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::{Digest as _, Sha256};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::Notify;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub version: http::Version,
    pub method: String,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    release: Arc<Notify>,
}

fn full(b: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(b.into())
        .map_err(|never| match never {})
        .boxed()
}

impl Upstream {
    pub async fn start() -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = Upstream {
            addr: listener.local_addr().unwrap(),
            seen: Arc::default(),
            release: Arc::new(Notify::new()),
        };
        let me = up.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                let me = me.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let me = me.clone();
                        async move { Ok::<_, std::convert::Infallible>(me.serve(req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(sock), svc)
                        .await;
                });
            }
        });
        up
    }

    /// The same upstream over TLS (ALPN h2 and http/1.1) with a fresh
    /// self-signed certificate for `localhost`; returns it and the
    /// certificate (PEM).
    pub async fn start_tls() -> (Upstream, String) {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let pem = ck.cert.pem();
        let key =
            rustls_pki_types::PrivateKeyDer::try_from(ck.signing_key.serialize_der()).unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = Upstream {
            addr: listener.local_addr().unwrap(),
            seen: Arc::default(),
            release: Arc::new(Notify::new()),
        };
        let me = up.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                let me = me.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(sock).await else {
                        return;
                    };
                    let svc = hyper::service::service_fn(move |req| {
                        let me = me.clone();
                        async move { Ok::<_, std::convert::Infallible>(me.serve(req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        (up, pem)
    }

    /// What reached the upstream so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The last request whose path starts with `prefix`.
    pub fn last(&self, prefix: &str) -> Option<Seen> {
        self.seen()
            .into_iter()
            .rev()
            .find(|s| s.path_and_query.starts_with(prefix))
    }

    /// Lets `/sse` send its second event.
    pub fn release(&self) {
        self.release.notify_one();
    }

    async fn serve(&self, mut req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_owned();
        let pq = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        let mut seen = Seen {
            version: req.version(),
            method: req.method().to_string(),
            path_and_query: pq.clone(),
            headers: req.headers().clone(),
            bytes: 0,
            sha256: String::new(),
        };
        if path.ends_with("/ws") {
            self.seen.lock().unwrap().push(seen);
            let on = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                if let Ok(up) = on.await {
                    let mut io = TokioIo::new(up);
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = io.read(&mut buf).await {
                        if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            });
            return Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .body(full(Bytes::new()))
                .unwrap();
        }
        // Read the body as it comes, counting and hashing.
        let mut body = req.into_body();
        let mut h = Sha256::new();
        while let Some(f) = body.frame().await {
            let Ok(f) = f else { break };
            if let Ok(d) = f.into_data() {
                seen.bytes += d.len() as u64;
                h.update(&d);
            }
        }
        seen.sha256 = hex::encode(h.finalize());
        self.seen.lock().unwrap().push(seen.clone());

        if path.contains("/slow") {
            tokio::time::sleep(Duration::from_secs(10)).await;
            return Response::new(full("late"));
        }
        if path.ends_with("/sse") {
            let release = Arc::clone(&self.release);
            let events = futures_util::stream::unfold(0u8, move |i| {
                let release = Arc::clone(&release);
                async move {
                    match i {
                        0 => Some((
                            Ok::<_, BoxError>(Frame::data(Bytes::from("data: one\n\n"))),
                            1,
                        )),
                        1 => {
                            release.notified().await;
                            Some((Ok(Frame::data(Bytes::from("data: two\n\n"))), 2))
                        }
                        _ => None,
                    }
                }
            });
            return Response::builder()
                .header("content-type", "text/event-stream")
                .header("cache-control", "no-cache")
                .body(BodyExt::boxed(StreamBody::new(events)))
                .unwrap();
        }
        if let Some(n) = path
            .rsplit_once("/download/")
            .and_then(|(_, n)| n.parse::<u64>().ok())
        {
            let chunks = futures_util::stream::unfold(n, |left| async move {
                if left == 0 {
                    return None;
                }
                let k = left.min(64 * 1024);
                Some((
                    Ok::<_, BoxError>(Frame::data(Bytes::from(vec![b'x'; k as usize]))),
                    left - k,
                ))
            });
            return Response::new(BodyExt::boxed(StreamBody::new(chunks)));
        }
        if path.ends_with("/echo-auth") {
            let auth = seen
                .headers
                .get("authorization")
                .cloned()
                .unwrap_or(http::HeaderValue::from_static("none"));
            return Response::builder()
                .header("x-echo-auth", auth)
                .body(full("echoed"))
                .unwrap();
        }
        let answer = serde_json::json!({
            "method": seen.method,
            "path": pq,
            "bytes": seen.bytes,
            "sha256": seen.sha256,
        });
        Response::builder()
            .header("content-type", "application/json")
            .body(full(answer.to_string()))
            .unwrap()
    }
}

use http_body_util::BodyExt;
