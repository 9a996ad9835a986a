//! The listener: HTTP/1.1 and HTTP/2 (prior knowledge) on one port, with
//! protocol upgrades (WebSocket), one task per connection; over TLS when
//! configured, HTTP/2 or HTTP/1.1 as ALPN agreed.

use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::outcomes::Reporter;
use crate::upstream::Upstream;
use countersign_core::Governor;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;

/// How long a client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request head (line + headers) accepted, HTTP/1.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Concurrent streams per HTTP/2 connection.
const MAX_STREAMS: u32 = 256;
/// Client connections open at once; further ones wait in the backlog.
const MAX_CONNECTIONS: usize = 10_000;

/// Everything requests share.
pub struct Shared {
    pub governor: Arc<Governor>,
    pub config: GatewayConfig,
    /// One pool per route, by route index.
    pub upstreams: Vec<Upstream>,
    /// Started with the first `serve`.
    pub outcomes: OnceLock<Reporter>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The HTTP gateway.
#[derive(Debug, Clone)]
pub struct HttpGateway {
    shared: Arc<Shared>,
}

impl HttpGateway {
    pub fn new(
        governor: Arc<Governor>,
        config: GatewayConfig,
    ) -> Result<HttpGateway, GatewayError> {
        for r in &config.routes {
            if !governor.config().environments.contains(&r.environment) {
                return Err(GatewayError::Config(format!(
                    "route `{}`: unknown environment `{}`",
                    r.name, r.environment
                )));
            }
        }
        let upstreams = config
            .routes
            .iter()
            .map(|r| crate::upstream::client(r, &config))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(HttpGateway {
            shared: Arc::new(Shared {
                governor,
                config,
                upstreams,
                outcomes: OnceLock::new(),
            }),
        })
    }

    pub async fn bind(&self) -> Result<TcpListener, GatewayError> {
        let l = self.shared.config.listen;
        // Not refused: a TLS-terminating proxy in front is a legitimate
        // setup, and existing configurations must keep starting.
        if self.shared.config.tls.is_none() && !l.ip().is_loopback() {
            tracing::warn!(
                listen = %l,
                "http gateway: plain HTTP on a non-loopback address; clients' Countersign \
                 tokens and request bodies cross the network in clear. Set \
                 [http_gateway] tls = {{ cert, key }} unless a TLS proxy sits in front"
            );
        }
        TcpListener::bind(l)
            .await
            .map_err(|e| GatewayError::Config(format!("cannot listen on {l}: {e}")))
    }

    /// Accepts connections until `shutdown` completes. Requests in
    /// progress are left to finish on their own.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), GatewayError> {
        let governor = Arc::clone(&self.shared.governor);
        self.shared
            .outcomes
            .get_or_init(|| Reporter::start(governor, "http gateway"));
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .max_buf_size(MAX_HEAD_BYTES)
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(MAX_STREAMS)
            .keep_alive_interval(Some(Duration::from_secs(30)));
        // `serve_connection_with_upgrades` sniffs the protocol and ignores
        // `http2_only`; once ALPN said h2 the connection is served by this
        // one, with plain `serve_connection`, which honours it.
        let h2_builder = Arc::new(builder.clone().http2_only());
        let builder = Arc::new(builder);
        let tls = self
            .shared
            .config
            .tls
            .as_ref()
            .map(|t| (t.acceptor(), t.handshake_timeout));
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                p = Arc::clone(&slots).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return Ok(()),
                },
            };
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                accepted = listener.accept() => {
                    let (sock, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(error = %e, "http gateway: accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = sock.set_nodelay(true);
                    let shared = Arc::clone(&self.shared);
                    let builder = Arc::clone(&builder);
                    let h2_builder = Arc::clone(&h2_builder);
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        // Held through the handshake too: its timeout is
                        // what frees the slot of a client that stays silent.
                        let _permit = permit;
                        let svc = service_fn(move |req| {
                            let shared = Arc::clone(&shared);
                            async move {
                                Ok::<_, std::convert::Infallible>(
                                    crate::handle::handle(shared, peer, req).await,
                                )
                            }
                        });
                        let served = match tls {
                            None => {
                                builder
                                    .serve_connection_with_upgrades(TokioIo::new(sock), svc)
                                    .await
                            }
                            Some((acceptor, timeout)) => {
                                let Some(stream) =
                                    crate::tls::accept(&acceptor, timeout, sock, peer).await
                                else {
                                    return;
                                };
                                let h2 = stream.get_ref().1.alpn_protocol()
                                    == Some(crate::tls::ALPN_H2);
                                if h2 {
                                    h2_builder.serve_connection(TokioIo::new(stream), svc).await
                                } else {
                                    builder
                                        .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                                        .await
                                }
                            }
                        };
                        if let Err(e) = served {
                            tracing::debug!(%peer, error = %e, "http gateway: connection ended");
                        }
                    });
                }
            }
        }
    }
}
