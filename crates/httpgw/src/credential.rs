//! The upstream credential a route injects. The secret is read once at
//! start, kept in a header value marked sensitive (hyper's HTTP/2 encoder
//! then never indexes it), and never printed: `Debug` is redacted.

use base64::Engine as _;
use http::{HeaderName, HeaderValue};
use std::fmt;

/// How the secret travels upstream.
#[derive(Clone)]
pub enum Credential {
    /// A header (`Authorization: Bearer …`, `Authorization: Basic …` or
    /// a named header), value precomputed.
    Header {
        name: HeaderName,
        value: HeaderValue,
        secret: Vec<u8>,
    },
    /// A query parameter `name=secret` (secret percent-encoded).
    Query {
        name: String,
        encoded: String,
        secret: Vec<u8>,
    },
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Header { name, .. } => write!(f, "Credential::Header({name}: <redacted>)"),
            Credential::Query { name, .. } => write!(f, "Credential::Query({name}=<redacted>)"),
        }
    }
}

impl Credential {
    /// Builds a credential of `kind` (`bearer`, `basic`, `header`, `query`).
    pub fn new(kind: &str, name: Option<&str>, secret: &str) -> Result<Credential, String> {
        let header = |name: HeaderName, v: String| {
            let mut value = HeaderValue::from_str(&v)
                .map_err(|_| "the secret is not valid in an HTTP header".to_owned())?;
            value.set_sensitive(true);
            Ok(Credential::Header {
                name,
                value,
                secret: secret.as_bytes().to_vec(),
            })
        };
        if secret.is_empty() {
            return Err("the secret is empty".into());
        }
        match (kind, name) {
            ("bearer", None) => header(http::header::AUTHORIZATION, format!("Bearer {secret}")),
            ("basic", None) => {
                if !secret.contains(':') {
                    return Err("a basic credential's secret is `user:password`".into());
                }
                header(
                    http::header::AUTHORIZATION,
                    format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(secret)
                    ),
                )
            }
            ("header", Some(n)) => {
                let name = HeaderName::from_bytes(n.as_bytes())
                    .map_err(|_| format!("`{n}` is not a header name"))?;
                if crate::headers::is_hop_by_hop(&name) || name == http::header::HOST {
                    return Err(format!("`{n}` cannot carry a credential"));
                }
                header(name, secret.to_owned())
            }
            ("query", Some(n)) => {
                if n.is_empty() || !n.bytes().all(unreserved) {
                    return Err(format!("`{n}` is not a plain query parameter name"));
                }
                Ok(Credential::Query {
                    name: n.to_owned(),
                    encoded: encode_component(secret),
                    secret: secret.as_bytes().to_vec(),
                })
            }
            ("bearer" | "basic", Some(_)) => Err(format!("a {kind} credential takes no name")),
            ("header" | "query", None) => Err(format!("a {kind} credential needs a name")),
            (other, _) => Err(format!(
                "credential kind `{other}` is not bearer, basic, header or query"
            )),
        }
    }

    /// The raw secret, to keep it out of responses.
    pub fn secret(&self) -> &[u8] {
        match self {
            Credential::Header { secret, .. } | Credential::Query { secret, .. } => secret,
        }
    }

    /// The header the credential occupies (so a client's own is dropped).
    pub fn header_name(&self) -> Option<&HeaderName> {
        match self {
            Credential::Header { name, .. } => Some(name),
            Credential::Query { .. } => None,
        }
    }
}

fn unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~')
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if unreserved(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `query` without any `name=` parameter, then `name=encoded` appended.
pub fn with_query_param(query: Option<&str>, name: &str, encoded: &str) -> String {
    let mut out = String::new();
    if let Some(q) = query {
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let key = pair.split_once('=').map_or(pair, |(k, _)| k);
            if key == name {
                continue;
            }
            out.push_str(pair);
            out.push('&');
        }
    }
    out.push_str(name);
    out.push('=');
    out.push_str(encoded);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_build_and_redact() {
        let c = Credential::new("bearer", None, "s3cret").unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
        match &c {
            Credential::Header { name, value, .. } => {
                assert_eq!(name, http::header::AUTHORIZATION);
                assert_eq!(value.to_str().unwrap(), "Bearer s3cret");
                assert!(value.is_sensitive());
            }
            Credential::Query { .. } => panic!("wrong kind"),
        }
        let b = Credential::new("basic", None, "u:p").unwrap();
        assert!(matches!(b, Credential::Header { ref value, .. } if value == "Basic dTpw"));
        assert!(Credential::new("basic", None, "nocolon").is_err());
        assert!(Credential::new("header", None, "x").is_err());
        assert!(Credential::new("header", Some("connection"), "x").is_err());
        assert!(Credential::new("query", Some("a b"), "x").is_err());
        assert!(Credential::new("magic", None, "x").is_err());
        assert!(Credential::new("bearer", None, "").is_err());
        assert!(Credential::new("bearer", None, "bad\nvalue").is_err());
    }

    #[test]
    fn query_param_replaces_the_clients() {
        assert_eq!(
            with_query_param(Some("a=1&key=mine&b=2"), "key", "x%20y"),
            "a=1&b=2&key=x%20y"
        );
        assert_eq!(with_query_param(None, "key", "v"), "key=v");
        assert_eq!(encode_component("a b&c"), "a%20b%26c");
    }
}
