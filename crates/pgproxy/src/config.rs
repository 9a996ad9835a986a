//! The `[postgres]` section: where to listen, TLS, and the targets a
//! client can pick by database name.
//!
//! ```toml
//! [postgres]
//! listen = "127.0.0.1:6432"
//! approval_wait_secs = 30
//! # tls_cert = "pg.crt"   # PEM; without them a self-signed certificate
//! # tls_key = "pg.key"    # is generated at start (development only)
//!
//! [postgres.targets.shop]
//! host = "127.0.0.1"
//! port = 5432
//! database = "shop"
//! environment = "prod"
//! user = "countersign"
//! password_env = "SHOP_DB_PASSWORD"   # or password_file = "…"
//! tls = "disable"                    # disable | require | verify-full
//! ```

use crate::error::ProxyError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The section as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySection {
    pub listen: String,
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// How long a statement waiting for approval is held (default 30 s).
    #[serde(default)]
    pub approval_wait_secs: Option<u64>,
    /// Largest message accepted from a client or upstream (default 64 MiB).
    #[serde(default)]
    pub max_message_bytes: Option<usize>,
    #[serde(default)]
    pub targets: BTreeMap<String, TargetSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSection {
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    /// The upstream database (default: the target's name).
    #[serde(default)]
    pub database: Option<String>,
    pub environment: String,
    pub user: String,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub tls: Option<String>,
    /// CA certificates (PEM) for `verify-full`.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// `strict` (default): every statement waits until its decision is
    /// durable on disk. `relaxed_reads`: an allowed `sql.read` proceeds
    /// once its decision is committed to the log, and is flushed within
    /// milliseconds after (a power loss in that window can lose the record
    /// of a read; a crash of the process cannot). Writes, DDL, denials and
    /// approvals stay strict.
    #[serde(default)]
    pub durability: Option<String>,
}

/// How the proxy talks TLS to an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamTls {
    Disable,
    /// Encrypt, without verifying the certificate (libpq's `require`).
    Require,
    /// Encrypt and verify the certificate and host name against `ca_file`.
    VerifyFull(PathBuf),
}

/// A database password; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A validated target.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub environment: String,
    pub user: String,
    pub password: Option<Secret>,
    pub tls: UpstreamTls,
    /// Allowed reads proceed once their decision is committed, before the
    /// flush (`durability = "relaxed_reads"`).
    pub relaxed_reads: bool,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub listen: SocketAddr,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub approval_wait: Duration,
    pub max_message_bytes: usize,
    pub targets: BTreeMap<String, Target>,
}

fn bad(msg: impl Into<String>) -> ProxyError {
    ProxyError::Config(msg.into())
}

impl ProxySection {
    /// Validates; relative paths are taken from `base`; passwords are read
    /// now (from the environment or a file), so a missing one fails start.
    pub fn validate(self, base: &Path) -> Result<ProxyConfig, ProxyError> {
        let abs = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            bad(format!(
                "postgres.listen `{}` is not host:port",
                self.listen
            ))
        })?;
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(bad("postgres.tls_cert and postgres.tls_key go together"));
        }
        if self.targets.is_empty() {
            return Err(bad(
                "postgres.targets is empty: add [postgres.targets.NAME]",
            ));
        }
        let mut targets = BTreeMap::new();
        for (name, t) in self.targets {
            let password = match (&t.password_env, &t.password_file) {
                (Some(_), Some(_)) => {
                    return Err(bad(format!(
                        "target `{name}`: give password_env or password_file, not both"
                    )));
                }
                (Some(var), None) => Some(Secret::new(std::env::var(var).map_err(|_| {
                    bad(format!(
                        "target `{name}`: environment variable `{var}` is not set"
                    ))
                })?)),
                (None, Some(file)) => {
                    let path = abs(file.clone());
                    let text = std::fs::read_to_string(&path).map_err(|e| {
                        bad(format!(
                            "target `{name}`: cannot read password file `{}`: {e}",
                            path.display()
                        ))
                    })?;
                    Some(Secret::new(text.trim_end_matches(['\r', '\n'])))
                }
                (None, None) => None,
            };
            let tls = match t.tls.as_deref().unwrap_or("disable") {
                "disable" => UpstreamTls::Disable,
                "require" => UpstreamTls::Require,
                "verify-full" => {
                    UpstreamTls::VerifyFull(abs(t.ca_file.clone().ok_or_else(|| {
                        bad(format!(
                            "target `{name}`: tls = \"verify-full\" needs ca_file"
                        ))
                    })?))
                }
                other => {
                    return Err(bad(format!(
                        "target `{name}`: tls `{other}` is not disable, require or verify-full"
                    )));
                }
            };
            let relaxed_reads = match t.durability.as_deref().unwrap_or("strict") {
                "strict" => false,
                "relaxed_reads" => true,
                other => {
                    return Err(bad(format!(
                        "target `{name}`: durability `{other}` is not strict or relaxed_reads"
                    )));
                }
            };
            if t.environment.is_empty() || t.user.is_empty() || t.host.is_empty() {
                return Err(bad(format!(
                    "target `{name}`: host, user and environment are required"
                )));
            }
            targets.insert(
                name.clone(),
                Target {
                    database: t.database.unwrap_or_else(|| name.clone()),
                    name,
                    host: t.host,
                    port: t.port.unwrap_or(5432),
                    environment: t.environment,
                    user: t.user,
                    password,
                    tls,
                    relaxed_reads,
                },
            );
        }
        let max_message_bytes = self.max_message_bytes.unwrap_or(64 * 1024 * 1024);
        if !(64 * 1024..=1024 * 1024 * 1024).contains(&max_message_bytes) {
            return Err(bad(
                "postgres.max_message_bytes must be between 64 KiB and 1 GiB",
            ));
        }
        Ok(ProxyConfig {
            listen,
            tls_cert: self.tls_cert.map(abs),
            tls_key: self.tls_key.map(abs),
            approval_wait: Duration::from_secs(
                self.approval_wait_secs.unwrap_or(30).clamp(0, 3600),
            ),
            max_message_bytes,
            targets,
        })
    }
}
