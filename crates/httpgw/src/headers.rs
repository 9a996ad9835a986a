//! Header hygiene: hop-by-hop headers (RFC 9110 §7.6.1) are the
//! connection's, not the message's, so they are dropped in both
//! directions; the client's credentials never go upstream; the upstream
//! learns who asked through `Forwarded` and `X-Forwarded-*`.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use std::net::SocketAddr;

/// The header clients put their Countersign token in.
pub const TOKEN_HEADER: HeaderName = HeaderName::from_static("countersign-token");
/// The request id we add to every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("countersign-request-id");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

pub fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == KEEP_ALIVE
        || name == PROXY_CONNECTION
        || name == header::PROXY_AUTHENTICATE
        || name == header::PROXY_AUTHORIZATION
        || name == header::TE
        || name == header::TRAILER
        || name == header::TRANSFER_ENCODING
        || name == header::UPGRADE
}

/// Removes hop-by-hop headers, and those `Connection` names. With
/// `upgrade`, keeps `Connection: upgrade` and `Upgrade` (a WebSocket
/// handshake must reach the upstream).
pub fn strip_hop_by_hop(h: &mut HeaderMap, upgrade: bool) {
    if let Some(conn) = h.get(header::CONNECTION) {
        let named: Vec<HeaderName> = conn
            .to_str()
            .unwrap_or("")
            .split(',')
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .filter(|n| !(upgrade && *n == header::UPGRADE))
            .collect();
        for n in named {
            h.remove(n);
        }
    }
    let up = if upgrade {
        h.get(header::UPGRADE).cloned()
    } else {
        None
    };
    for n in [
        header::CONNECTION,
        KEEP_ALIVE,
        PROXY_CONNECTION,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        h.remove(n);
    }
    if let Some(up) = up {
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, up);
    }
}

/// Whether the request asks to switch protocols (WebSocket over HTTP/1.1).
pub fn wants_upgrade(h: &HeaderMap) -> bool {
    h.contains_key(header::UPGRADE)
        && h.get_all(header::CONNECTION).iter().any(|v| {
            v.to_str()
                .unwrap_or("")
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        })
}

/// Adds `Forwarded` and `X-Forwarded-*` (appending to what a proxy in
/// front of us set), keeping the original host.
pub fn set_forwarded(h: &mut HeaderMap, peer: SocketAddr, host: Option<&str>) {
    let ip = peer.ip();
    let xff = match h.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {ip}"),
        None => ip.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        h.insert(X_FORWARDED_FOR, v);
    }
    h.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    let for_ = match ip {
        std::net::IpAddr::V4(a) => a.to_string(),
        std::net::IpAddr::V6(a) => format!("\"[{a}]\""),
    };
    let mut fwd = format!("for={for_};proto=http");
    if let Some(host) = host
        && host
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-.:[]".contains(&c))
    {
        fwd.push_str(";host=\"");
        fwd.push_str(host);
        fwd.push('"');
        if let Ok(v) = HeaderValue::from_str(host) {
            h.insert(X_FORWARDED_HOST, v);
        }
    }
    let fwd = match h.get(header::FORWARDED).and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {fwd}"),
        None => fwd,
    };
    if let Ok(v) = HeaderValue::from_str(&fwd) {
        h.insert(header::FORWARDED, v);
    }
}

/// Drops response headers that carry `secret` (an upstream echoing the
/// injected credential back must not hand it to the client).
pub fn drop_echoes(h: &mut HeaderMap, secret: &[u8]) {
    if secret.is_empty() {
        return;
    }
    let hit: Vec<HeaderName> = h
        .iter()
        .filter(|(_, v)| contains(v.as_bytes(), secret))
        .map(|(n, _)| n.clone())
        .collect();
    for n in hit {
        tracing::warn!(header = %n, "http gateway: upstream echoed the injected credential; header dropped");
        h.remove(n);
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.len() <= hay.len() && hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_named_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h, false);
        assert!(h.get("x-private").is_none() && h.get(header::TE).is_none());
        assert!(h.get(header::CONNECTION).is_none());
        assert_eq!(h.get("x-kept").unwrap(), "1");
    }

    #[test]
    fn upgrades_keep_their_handshake() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(wants_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.get(header::UPGRADE).unwrap(), "websocket");
        assert_eq!(h.get(header::CONNECTION).unwrap(), "upgrade");
    }

    #[test]
    fn forwarded_appends() {
        let mut h = HeaderMap::new();
        h.insert(X_FORWARDED_FOR, HeaderValue::from_static("10.0.0.1"));
        set_forwarded(
            &mut h,
            "127.0.0.1:5000".parse().unwrap(),
            Some("gw.local:8751"),
        );
        assert_eq!(h.get(X_FORWARDED_FOR).unwrap(), "10.0.0.1, 127.0.0.1");
        assert_eq!(
            h.get(header::FORWARDED).unwrap(),
            "for=127.0.0.1;proto=http;host=\"gw.local:8751\""
        );
    }

    #[test]
    fn echoed_secrets_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert("x-echo", HeaderValue::from_static("Bearer s3cret"));
        h.insert("x-fine", HeaderValue::from_static("ok"));
        drop_echoes(&mut h, b"s3cret");
        assert!(h.get("x-echo").is_none());
        assert!(h.get("x-fine").is_some());
    }
}
