//! The `[http_gateway]` section: where to listen, limits, and the routes
//! a request can take.
//!
//! ```toml
//! [http_gateway]
//! listen = "127.0.0.1:8751"
//! # tls = { cert = "gw.crt", key = "gw.key" }  # PEM, relative to the data dir
//! #                              # optional: handshake_timeout_ms = 10000
//! approval_wait_secs = 30        # how long a request is held for approval
//! max_body_bytes = 104857600     # largest request body (413 beyond)
//! inspect_body_bytes = 1048576   # bodies up to this are hashed into the decision
//! connect_timeout_ms = 5000      # connecting to an upstream (502 beyond)
//! response_timeout_secs = 60     # waiting for the upstream's headers (504 beyond)
//! idle_timeout_secs = 300        # a body stalled this long is cut off
//!
//! [http_gateway.routes.github]
//! host = "github.gw.internal"    # optional: match the Host header too
//! path_prefix = "/github"        # stripped before forwarding and matching
//! upstream = "https://api.github.com"
//! environment = "prod"
//! # ca_file = "internal-ca.pem"  # PEM roots for this upstream (default: the platform's)
//! credential = { kind = "bearer", secret_env = "GITHUB_TOKEN" }
//! # kinds: bearer | basic (secret "user:pass") | header (name = "X-Api-Key")
//! #        | query (name = "api_key"); secret_env or secret_file
//! default = { action = "http.request", resource = 'Route::"github"' }
//! # without `default`, requests no rule matches are denied
//!
//! [[http_gateway.routes.github.rules]]
//! method = "DELETE"              # or "*"
//! path = "/repos/{owner}/{repo}"
//! action = "repo.delete"
//! resource = 'Repo::"{owner}/{repo}"'
//! # body_fields = ["ref"]        # JSON fields read (bounded) into context and templates
//! ```
//!
//! # TLS on the listener
//!
//! Clients send their Countersign token with every request, so anything
//! but a loopback listener should have `tls`. With it, the listener speaks
//! only TLS (1.2 and 1.3): ALPN offers `h2` and `http/1.1`, WebSocket
//! upgrades work over HTTP/1.1, and a plaintext request gets no HTTP answer
//! (a TLS alert, then the connection closes). `cert` is the PEM chain
//! (leaf first), `key` its PEM private key (PKCS#8, PKCS#1 or SEC1); both
//! are read and checked against each other at start, so a missing file or
//! a key of another certificate stops the start with the file named. A
//! handshake not finished within `handshake_timeout_ms` (default 10 s,
//! 100 ms to 120 s) is dropped. Certificates are read once: restart to
//! rotate them.
//!
//! Without `tls` the listener is plain HTTP, as before; on a non-loopback
//! address the gateway starts anyway (a TLS-terminating proxy may sit in
//! front) but warns at start that tokens would cross the network in clear.

use crate::credential::Credential;
use crate::error::{GatewayError, bad};
use crate::rules::{MethodMatch, Pattern, ResourceTemplate, Rule};
use crate::tls::ListenerTls;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The section as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    pub listen: String,
    #[serde(default)]
    pub approval_wait_secs: Option<u64>,
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    #[serde(default)]
    pub inspect_body_bytes: Option<usize>,
    #[serde(default)]
    pub connect_timeout_ms: Option<u64>,
    #[serde(default)]
    pub response_timeout_secs: Option<u64>,
    #[serde(default)]
    pub idle_timeout_secs: Option<u64>,
    #[serde(default)]
    pub tls: Option<TlsSection>,
    #[serde(default)]
    pub routes: BTreeMap<String, RouteSection>,
}

/// `tls = { cert = "gw.crt", key = "gw.key" }`: serve HTTPS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub cert: PathBuf,
    pub key: PathBuf,
    #[serde(default)]
    pub handshake_timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub path_prefix: Option<String>,
    pub upstream: String,
    pub environment: String,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub credential: Option<CredentialSection>,
    #[serde(default)]
    pub default: Option<DefaultSection>,
    #[serde(default)]
    pub rules: Vec<RuleSection>,
    /// `strict` (default): every request waits until its decision is
    /// durable on disk. `relaxed_reads`: an allowed GET, HEAD or OPTIONS
    /// is forwarded once its decision is committed to the log, flushed
    /// within milliseconds after (a power loss in that window can lose the
    /// record of a read; a crash of the process cannot). Other methods,
    /// denials and approvals stay strict.
    #[serde(default)]
    pub durability: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialSection {
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub secret_env: Option<String>,
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultSection {
    pub action: String,
    pub resource: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSection {
    #[serde(default)]
    pub method: Option<String>,
    pub path: String,
    pub action: String,
    pub resource: String,
    #[serde(default)]
    pub body_fields: Vec<String>,
}

/// Where a route forwards to.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub scheme: http::uri::Scheme,
    pub authority: http::uri::Authority,
    /// Base path without a trailing `/` (empty for the root).
    pub base_path: String,
}

/// A validated route.
#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    /// Lowercase host without port.
    pub host: Option<String>,
    /// Decoded prefix segments.
    pub prefix: Vec<String>,
    pub upstream: Upstream,
    pub environment: String,
    pub ca_file: Option<PathBuf>,
    pub credential: Option<Credential>,
    pub rules: Vec<Rule>,
    pub default: Option<(String, ResourceTemplate)>,
    /// Allowed safe-method requests proceed once their decision is
    /// committed, before the flush (`durability = "relaxed_reads"`).
    pub relaxed_reads: bool,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub listen: SocketAddr,
    pub approval_wait: Duration,
    pub max_body_bytes: u64,
    pub inspect_body_bytes: usize,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    pub idle_timeout: Duration,
    /// `None`: plain HTTP.
    pub tls: Option<ListenerTls>,
    pub routes: Vec<Route>,
}

impl GatewaySection {
    /// Validates; relative paths are taken from `base`; secrets are read
    /// now, so a missing one fails start.
    pub fn validate(self, base: &Path) -> Result<GatewayConfig, GatewayError> {
        let abs = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            bad(format!(
                "http_gateway.listen `{}` is not host:port",
                self.listen
            ))
        })?;
        if self.routes.is_empty() {
            return Err(bad(
                "http_gateway.routes is empty: add [http_gateway.routes.NAME]",
            ));
        }
        let mut routes = Vec::new();
        for (name, r) in self.routes {
            routes.push(route(&name, r, &abs)?);
        }
        // Read now, like the credentials: a bad file fails start, not the
        // first client.
        let tls = match self.tls {
            None => None,
            Some(t) => Some(ListenerTls::load(
                abs(t.cert),
                abs(t.key),
                Duration::from_millis(t.handshake_timeout_ms.unwrap_or(10_000).clamp(100, 120_000)),
            )?),
        };
        let inspect = self.inspect_body_bytes.unwrap_or(1024 * 1024);
        if !(1024..=64 * 1024 * 1024).contains(&inspect) {
            return Err(bad(
                "http_gateway.inspect_body_bytes must be between 1 KiB and 64 MiB",
            ));
        }
        let max_body = self.max_body_bytes.unwrap_or(100 * 1024 * 1024);
        if max_body < inspect as u64 {
            return Err(bad(
                "http_gateway.max_body_bytes must be at least inspect_body_bytes",
            ));
        }
        Ok(GatewayConfig {
            listen,
            approval_wait: Duration::from_secs(self.approval_wait_secs.unwrap_or(30).min(3600)),
            max_body_bytes: max_body,
            inspect_body_bytes: inspect,
            connect_timeout: Duration::from_millis(
                self.connect_timeout_ms.unwrap_or(5000).clamp(10, 120_000),
            ),
            response_timeout: Duration::from_secs(
                self.response_timeout_secs.unwrap_or(60).clamp(1, 3600),
            ),
            idle_timeout: Duration::from_secs(
                self.idle_timeout_secs.unwrap_or(300).clamp(1, 86_400),
            ),
            tls,
            routes,
        })
    }
}

fn route(
    name: &str,
    r: RouteSection,
    abs: &dyn Fn(PathBuf) -> PathBuf,
) -> Result<Route, GatewayError> {
    let ctx = |m: String| bad(format!("route `{name}`: {m}"));
    if r.environment.is_empty() {
        return Err(ctx("environment is required".into()));
    }
    let uri: http::Uri = r
        .upstream
        .parse()
        .map_err(|_| ctx(format!("upstream `{}` is not a URL", r.upstream)))?;
    let scheme = uri
        .scheme()
        .cloned()
        .filter(|s| *s == http::uri::Scheme::HTTP || *s == http::uri::Scheme::HTTPS);
    let (Some(scheme), Some(authority)) = (scheme, uri.authority().cloned()) else {
        return Err(ctx(format!(
            "upstream `{}` must be an http:// or https:// URL",
            r.upstream
        )));
    };
    if uri.query().is_some() || authority.as_str().contains('@') {
        return Err(ctx("upstream may not carry a query or user info".into()));
    }
    let base_path = uri.path().trim_end_matches('/').to_owned();
    let prefix_text = r.path_prefix.unwrap_or_else(|| "/".into());
    let prefix = crate::path::split(&prefix_text)
        .map_err(|e| ctx(format!("path_prefix `{prefix_text}`: {e}")))?
        .decoded;
    let credential = match r.credential {
        None => None,
        Some(c) => {
            let secret = match (&c.secret_env, &c.secret_file) {
                (Some(var), None) => std::env::var(var)
                    .map_err(|_| ctx(format!("environment variable `{var}` is not set")))?,
                (None, Some(file)) => {
                    let path = abs(file.clone());
                    let text = std::fs::read_to_string(&path).map_err(|e| {
                        ctx(format!("cannot read secret file `{}`: {e}", path.display()))
                    })?;
                    text.trim_end_matches(['\r', '\n']).to_owned()
                }
                _ => {
                    return Err(ctx(
                        "credential needs exactly one of secret_env or secret_file".into(),
                    ));
                }
            };
            Some(
                Credential::new(&c.kind, c.name.as_deref(), &secret)
                    .map_err(|e| ctx(format!("credential: {e}")))?,
            )
        }
    };
    let mut rules = Vec::new();
    for (i, rs) in r.rules.into_iter().enumerate() {
        let rctx = |m: String| ctx(format!("rule {}: {m}", i + 1));
        let pattern = Pattern::parse(&rs.path).map_err(|e| rctx(e.to_string()))?;
        check_action(&rs.action).map_err(rctx)?;
        for f in &rs.body_fields {
            if f.is_empty() || f.contains(['=', '{', '}']) {
                return Err(rctx(format!("body field `{f}` is not a field name")));
            }
        }
        let resource = ResourceTemplate::parse(&rs.resource, pattern.names(), &rs.body_fields)
            .map_err(|e| rctx(e.to_string()))?;
        rules.push(Rule {
            method: MethodMatch::parse(rs.method.as_deref().unwrap_or("*"))
                .map_err(|e| rctx(e.to_string()))?,
            pattern,
            action: rs.action,
            resource,
            body_fields: rs.body_fields,
        });
    }
    let default = match r.default {
        None => None,
        Some(d) => {
            check_action(&d.action).map_err(|m| ctx(format!("default: {m}")))?;
            let t = ResourceTemplate::parse(&d.resource, std::iter::empty(), &[])
                .map_err(|e| ctx(format!("default: {e}")))?;
            Some((d.action, t))
        }
    };
    let relaxed_reads = match r.durability.as_deref().unwrap_or("strict") {
        "strict" => false,
        "relaxed_reads" => true,
        other => {
            return Err(ctx(format!(
                "durability `{other}` is not strict or relaxed_reads"
            )));
        }
    };
    Ok(Route {
        name: name.to_owned(),
        host: r.host.map(|h| h.to_ascii_lowercase()),
        prefix,
        upstream: Upstream {
            scheme,
            authority,
            base_path,
        },
        environment: r.environment,
        ca_file: r.ca_file.map(abs),
        credential,
        rules,
        default,
        relaxed_reads,
    })
}

fn check_action(a: &str) -> Result<(), String> {
    if countersign_core::request::valid_action(a) {
        Ok(())
    } else {
        Err(format!("action `{a}` is not `namespace.verb` in lowercase"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(extra: &str) -> Result<GatewayConfig, GatewayError> {
        let text = format!(
            r#"listen = "127.0.0.1:0"
               [routes.gh]
               upstream = "http://127.0.0.1:9/base/"
               environment = "prod"
               path_prefix = "/gh"
               {extra}"#
        );
        let s: GatewaySection = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        s.validate(Path::new("/"))
    }

    #[test]
    fn a_route_validates() {
        let c = section(
            r#"default = { action = "http.request", resource = 'Route::"gh"' }
               [[routes.gh.rules]]
               method = "delete"
               path = "/repos/{owner}/{repo}"
               action = "repo.delete"
               resource = 'Repo::"{owner}/{repo}"'"#,
        )
        .unwrap();
        let r = &c.routes[0];
        assert_eq!(r.prefix, vec!["gh"]);
        assert_eq!(r.upstream.base_path, "/base");
        assert_eq!(r.rules.len(), 1);
        assert!(r.default.is_some());
    }

    #[test]
    fn mistakes_are_named() {
        let e = section(
            r#"[[routes.gh.rules]]
               path = "/repos/{owner}"
               action = "repo.delete"
               resource = 'Repo::"{repo}"'"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("route `gh`: rule 1") && e.contains("{repo}"),
            "{e}"
        );
        let e = section(r#"credential = { kind = "bearer", secret_env = "CS_TEST_SURELY_UNSET" }"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("CS_TEST_SURELY_UNSET"), "{e}");
        let e = section(
            r#"[[routes.gh.rules]]
               path = "/x"
               action = "Bad Action"
               resource = 'X::"y"'"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("namespace.verb"), "{e}");
        assert!(toml::from_str::<GatewaySection>("listen = \"x\"\nbogus = 1\n").is_err());
    }
}
