//! Forwarding an allowed request: the upstream URL, clean headers, the
//! route's credential, timeouts mapped to 502/504, the response streamed
//! back with its outcome reported when it ends. A `101 Switching
//! Protocols` answer (WebSocket) becomes a tunnel between the two sides.

use crate::body::{self, Body, Download};
use crate::credential::{self, Credential};
use crate::handle::{Prepared, Upload};
use crate::headers;
use crate::outcomes::Finish;
use crate::problem::{self, Problem};
use crate::server::Shared;
use countersign_core::verdict::Decision;
use http::uri::PathAndQuery;
use http::{Request, Response, StatusCode, Uri, Version, header};
use http_body_util::BodyExt as _;
use hyper::upgrade::OnUpgrade;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

#[expect(
    clippy::too_many_arguments,
    reason = "one call site; the pieces of one request"
)]
pub async fn forward(
    shared: &Arc<Shared>,
    p: Prepared,
    decision: Decision,
    mut parts: http::request::Parts,
    peer: SocketAddr,
    host: Option<String>,
    on_upgrade: Option<OnUpgrade>,
    rid: &str,
) -> Result<Response<Body>, Problem> {
    let route = &shared.config.routes[p.route];
    let client = &shared.upstreams[p.route];
    let cfg = &shared.config;

    let uri = upstream_uri(route, &parts.uri, route.credential.as_ref())
        .map_err(|e| problem::bad_request(format!("cannot build the upstream URL: {e}")))?;
    let upgrade = on_upgrade.is_some();
    let h = &mut parts.headers;
    headers::strip_hop_by_hop(h, upgrade);
    h.remove(&headers::TOKEN_HEADER);
    h.remove(header::AUTHORIZATION);
    h.remove(header::HOST);
    // We answered (or waived) the client's `Expect: 100-continue` when we
    // started reading its body; the upstream gets the body without asking.
    h.remove(header::EXPECT);
    if let Some(Credential::Header { name, value, .. }) = &route.credential {
        h.insert(name.clone(), value.clone());
    }
    headers::set_forwarded(h, peer, host.as_deref());
    parts.uri = uri;
    parts.version = Version::HTTP_11;

    let bytes_in = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(Notify::new());
    let (upload, streaming) = match p.body {
        Upload::Empty => (body::empty(), false),
        Upload::Whole(chunks, _) => (
            body::Upload::new(
                chunks,
                None,
                Arc::clone(&bytes_in),
                cfg.max_body_bytes,
                cfg.idle_timeout,
                Arc::clone(&sent),
            )
            .boxed(),
            true,
        ),
        Upload::Streamed(chunks, rest) => (
            body::Upload::new(
                chunks,
                Some(rest),
                Arc::clone(&bytes_in),
                cfg.max_body_bytes,
                cfg.idle_timeout,
                Arc::clone(&sent),
            )
            .boxed(),
            true,
        ),
    };
    let req = Request::from_parts(parts, upload);
    let mut finish = Finish {
        principal: Arc::clone(&p.principal),
        decision_id: decision.id.clone(),
        request_id: rid.to_owned(),
        started: p.started,
        http_status: None,
        bytes_in,
    };
    let reporter = shared.outcomes.get().cloned();
    let fail = |finish: Finish, msg: String| {
        if let Some(r) = &reporter {
            r.send(finish.into_report(0, Some(msg)));
        }
    };

    let resp = match send(client, req, streaming, &sent, &finish.bytes_in, cfg).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            let msg = upstream_error(&e);
            tracing::warn!(route = %route.name, error = %msg, "http gateway: upstream failed");
            fail(finish, msg.clone());
            return Err(
                problem::bad_gateway(format!("route `{}`: {msg}", route.name))
                    .with("decision_id", decision.id),
            );
        }
        Err(msg) => {
            tracing::warn!(route = %route.name, "http gateway: upstream timed out");
            fail(finish, msg.clone());
            return Err(
                problem::gateway_timeout(format!("route `{}`: {msg}", route.name))
                    .with("decision_id", decision.id),
            );
        }
    };
    finish.http_status = Some(resp.status().as_u16());
    tracing::info!(
        route = %route.name,
        action = %p.input.action,
        resource = %p.input.resource,
        status = resp.status().as_u16(),
        decision = %decision.id,
        "http gateway: forwarded"
    );

    let mut resp = resp;
    let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
    let upstream_up = (switching && upgrade).then(|| hyper::upgrade::on(&mut resp));
    let (mut rparts, incoming) = resp.into_parts();
    headers::strip_hop_by_hop(&mut rparts.headers, switching && upgrade);
    if let Some(c) = &route.credential {
        headers::drop_echoes(&mut rparts.headers, c.secret());
    }
    if let Ok(v) = http::HeaderValue::from_str(rid) {
        rparts.headers.insert(headers::REQUEST_ID, v);
    }
    if switching {
        let (Some(client_up), Some(upstream_up)) = (on_upgrade, upstream_up) else {
            fail(finish, "the upstream switched protocols unasked".into());
            return Err(problem::bad_gateway(
                "the upstream switched protocols unasked",
            ));
        };
        tokio::spawn(tunnel(client_up, upstream_up, finish, reporter));
        return Ok(Response::from_parts(rparts, body::empty()));
    }
    let download = Download::new(incoming, cfg.idle_timeout, reporter.map(|r| (r, finish)));
    Ok(Response::from_parts(rparts, download.boxed()))
}

/// Sends the request. While the body is still going up, the wait is
/// bounded by progress (a body the upstream stops reading for
/// `idle_timeout` is given up); once it is all sent, the upstream has
/// `response_timeout` to answer. `Err` says which limit was hit.
async fn send(
    client: &crate::upstream::Upstream,
    req: Request<Body>,
    streaming: bool,
    sent: &Notify,
    bytes_in: &AtomicU64,
    cfg: &crate::config::GatewayConfig,
) -> Result<Result<Response<hyper::body::Incoming>, hyper_util::client::legacy::Error>, String> {
    let fut = client.request(req);
    tokio::pin!(fut);
    if streaming {
        let mut last = bytes_in.load(Ordering::Relaxed);
        loop {
            tokio::select! {
                r = &mut fut => return Ok(r),
                _ = sent.notified() => break,
                _ = tokio::time::sleep(cfg.idle_timeout) => {
                    let now = bytes_in.load(Ordering::Relaxed);
                    if now == last {
                        return Err(format!(
                            "the upstream took no request body data for {}s",
                            cfg.idle_timeout.as_secs()
                        ));
                    }
                    last = now;
                }
            }
        }
    }
    tokio::time::timeout(cfg.response_timeout, fut)
        .await
        .map_err(|_| {
            format!(
                "the upstream sent no response within {}s",
                cfg.response_timeout.as_secs()
            )
        })
}

async fn tunnel(
    client: OnUpgrade,
    upstream: OnUpgrade,
    finish: Finish,
    reporter: Option<crate::outcomes::Reporter>,
) {
    let (c, u) = match tokio::try_join!(client, upstream) {
        Ok(x) => x,
        Err(e) => {
            if let Some(r) = reporter {
                r.send(finish.into_report(0, Some(format!("upgrade failed: {e}"))));
            }
            return;
        }
    };
    let mut c = hyper_util::rt::TokioIo::new(c);
    let mut u = hyper_util::rt::TokioIo::new(u);
    let result = tokio::io::copy_bidirectional(&mut c, &mut u).await;
    let (sent, received, error) = match result {
        Ok((a, b)) => (a, b, None),
        Err(e) => (0, 0, Some(format!("tunnel failed: {e}"))),
    };
    finish.bytes_in.fetch_add(sent, Ordering::Relaxed);
    if let Some(r) = reporter {
        r.send(finish.into_report(received, error));
    }
}

/// base path + the request's path after the route prefix + query (with
/// the credential parameter, for a query credential).
fn upstream_uri(
    route: &crate::config::Route,
    uri: &Uri,
    cred: Option<&Credential>,
) -> Result<Uri, http::Error> {
    let segs = uri.path().split('/').filter(|s| !s.is_empty());
    let mut path = String::with_capacity(route.upstream.base_path.len() + uri.path().len());
    path.push_str(&route.upstream.base_path);
    for s in segs.skip(route.prefix.len()) {
        path.push('/');
        path.push_str(s);
    }
    if path.is_empty() || (uri.path().ends_with('/') && !path.ends_with('/')) {
        path.push('/');
    }
    let query = match cred {
        Some(Credential::Query { name, encoded, .. }) => {
            Some(credential::with_query_param(uri.query(), name, encoded))
        }
        _ => uri.query().map(str::to_owned),
    };
    if let Some(q) = query {
        path.push('?');
        path.push_str(&q);
    }
    Uri::builder()
        .scheme(route.upstream.scheme.clone())
        .authority(route.upstream.authority.clone())
        .path_and_query(PathAndQuery::try_from(path)?)
        .build()
}

/// A client error, said plainly (connect refused, timeout, reset).
fn upstream_error(e: &hyper_util::client::legacy::Error) -> String {
    use std::error::Error as _;
    let mut msg = if e.is_connect() {
        "cannot connect to the upstream".to_owned()
    } else {
        "the upstream connection failed".to_owned()
    };
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GatewaySection;

    fn route(upstream: &str, prefix: &str) -> crate::config::Route {
        let text = format!(
            "listen = \"127.0.0.1:0\"\n[routes.r]\nupstream = \"{upstream}\"\nenvironment = \"dev\"\npath_prefix = \"{prefix}\"\n"
        );
        let s: GatewaySection = toml::from_str(&text).unwrap();
        s.validate(std::path::Path::new("/"))
            .unwrap()
            .routes
            .remove(0)
    }

    #[test]
    fn upstream_urls_strip_the_prefix_and_keep_the_rest() {
        let r = route("https://api.example.com/v3/", "/gh");
        let u: Uri = "/gh/repos/o%20x/r/?a=1".parse().unwrap();
        assert_eq!(
            upstream_uri(&r, &u, None).unwrap().to_string(),
            "https://api.example.com/v3/repos/o%20x/r/?a=1"
        );
        let u: Uri = "/gh".parse().unwrap();
        assert_eq!(
            upstream_uri(&r, &u, None).unwrap().to_string(),
            "https://api.example.com/v3"
        );
        let root = route("http://127.0.0.1:9", "/");
        let u: Uri = "/".parse().unwrap();
        assert_eq!(
            upstream_uri(&root, &u, None).unwrap().to_string(),
            "http://127.0.0.1:9/"
        );
        let q = Credential::new("query", Some("key"), "s e").unwrap();
        let u: Uri = "/x?key=mine".parse().unwrap();
        assert_eq!(
            upstream_uri(&root, &u, Some(&q)).unwrap().to_string(),
            "http://127.0.0.1:9/x?key=s%20e"
        );
    }
}
