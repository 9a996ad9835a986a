//! The `[mcp]` section: the gateway's limits and the upstream MCP servers
//! it aggregates.
//!
//! ```toml
//! [mcp]
//! approval_wait_secs = 30        # how long a held call waits for approval
//! call_timeout_secs = 60         # how long an upstream may take to answer
//! max_message_bytes = 1048576    # largest JSON-RPC message, either way
//! pin = "first-use"              # off | first-use | admin
//! separator = "."                # exposed name = server + separator + tool
//!
//! [[mcp.upstreams]]              # a stdio server, supervised
//! name = "files"
//! environment = "dev"
//! command = "/usr/local/bin/files-mcp"
//! args = ["--root", "/srv"]
//! env = { LOG = "warn" }
//!
//! [[mcp.upstreams]]              # a Streamable HTTP server
//! name = "tickets"
//! environment = "prod"
//! url = "https://tickets.internal/mcp"
//! headers = { Authorization = "Bearer …" }   # or headers_env = { Authorization = "TICKETS_AUTH" }
//! ```

use crate::error::McpError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The section as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpSection {
    #[serde(default)]
    pub approval_wait_secs: Option<u64>,
    #[serde(default)]
    pub call_timeout_secs: Option<u64>,
    #[serde(default)]
    pub max_message_bytes: Option<usize>,
    #[serde(default)]
    pub max_sessions: Option<usize>,
    #[serde(default)]
    pub session_idle_secs: Option<u64>,
    #[serde(default)]
    pub pin: Option<String>,
    #[serde(default)]
    pub separator: Option<String>,
    /// Where the pinned tool definitions are kept (default
    /// `mcp-pins.json` in the data directory).
    #[serde(default)]
    pub pins_file: Option<PathBuf>,
    #[serde(default)]
    pub upstreams: Vec<UpstreamSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSection {
    pub name: String,
    pub environment: String,
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Header values read from environment variables at start.
    #[serde(default)]
    pub headers_env: BTreeMap<String, String>,
}

/// When tool definitions are checked against pinned hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinMode {
    /// No pinning: every tool is shown as the upstream describes it.
    Off,
    /// A tool seen for the first time is pinned as it is; a later change
    /// hides it until an admin pins the new definition.
    FirstUse,
    /// Every tool stays hidden until an admin pins its definition.
    Admin,
}

/// How an upstream is reached.
#[derive(Clone)]
pub enum Transport {
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
    },
    Http {
        url: String,
        /// Injected into every request; never shown to agents or logged.
        headers: Vec<(String, String)>,
    },
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::Stdio { command, args, .. } => f
                .debug_struct("Stdio")
                .field("command", command)
                .field("args", args)
                .finish_non_exhaustive(),
            Transport::Http { url, headers } => f
                .debug_struct("Http")
                .field("url", url)
                .field(
                    "headers",
                    &headers.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
                )
                .finish(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub name: String,
    pub environment: String,
    pub transport: Transport,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct McpConfig {
    pub approval_wait: Duration,
    pub call_timeout: Duration,
    pub max_message_bytes: usize,
    pub max_sessions: usize,
    pub session_idle: Duration,
    pub pin: PinMode,
    pub separator: String,
    pub pins_file: PathBuf,
    pub upstreams: Vec<UpstreamConfig>,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl McpSection {
    /// Checks the section; relative paths are taken from `data_dir`.
    pub fn validate(self, data_dir: &Path) -> Result<McpConfig, McpError> {
        let bad = |m: String| McpError::Config(m);
        let pin = match self.pin.as_deref().unwrap_or("first-use") {
            "off" => PinMode::Off,
            "first-use" => PinMode::FirstUse,
            "admin" => PinMode::Admin,
            other => {
                return Err(bad(format!(
                    "pin = `{other}`: use \"off\", \"first-use\" or \"admin\""
                )));
            }
        };
        let separator = self.separator.unwrap_or_else(|| ".".into());
        if separator.is_empty() || separator.len() > 4 || separator.chars().any(char::is_whitespace)
        {
            return Err(bad("separator must be 1-4 non-space characters".into()));
        }
        let max_message_bytes = self.max_message_bytes.unwrap_or(1024 * 1024);
        if !(4096..=64 * 1024 * 1024).contains(&max_message_bytes) {
            return Err(bad(
                "max_message_bytes must be between 4 KiB and 64 MiB".into()
            ));
        }
        let mut upstreams = Vec::new();
        for u in self.upstreams {
            if !valid_name(&u.name) {
                return Err(bad(format!(
                    "upstream name `{}` must be 1-64 of a-z, 0-9, `_`, `-`",
                    u.name
                )));
            }
            if u.name.contains(&separator)
                || upstreams.iter().any(|x: &UpstreamConfig| x.name == u.name)
            {
                return Err(bad(format!(
                    "upstream name `{}` is repeated or contains the separator",
                    u.name
                )));
            }
            if u.environment.is_empty() {
                return Err(bad(format!("upstream `{}` needs an environment", u.name)));
            }
            let transport = match (u.command, u.url) {
                (Some(command), None) => {
                    if !u.headers.is_empty() || !u.headers_env.is_empty() {
                        return Err(bad(format!(
                            "upstream `{}`: headers are for url upstreams",
                            u.name
                        )));
                    }
                    Transport::Stdio {
                        command,
                        args: u.args,
                        env: u.env,
                    }
                }
                (None, Some(url)) => {
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(bad(format!(
                            "upstream `{}`: url must start with http:// or https://",
                            u.name
                        )));
                    }
                    if !u.args.is_empty() || !u.env.is_empty() {
                        return Err(bad(format!(
                            "upstream `{}`: args and env are for command upstreams",
                            u.name
                        )));
                    }
                    let mut headers: Vec<(String, String)> = u.headers.into_iter().collect();
                    for (h, var) in u.headers_env {
                        let v = std::env::var(&var).map_err(|_| {
                            bad(format!(
                                "upstream `{}`: header `{h}` wants environment variable `{var}`, which is not set",
                                u.name
                            ))
                        })?;
                        headers.push((h, v));
                    }
                    for (h, v) in &headers {
                        if reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err()
                            || reqwest::header::HeaderValue::from_str(v).is_err()
                        {
                            return Err(bad(format!(
                                "upstream `{}`: header `{h}` is not a valid HTTP header",
                                u.name
                            )));
                        }
                    }
                    Transport::Http { url, headers }
                }
                _ => {
                    return Err(bad(format!(
                        "upstream `{}` needs exactly one of `command` (stdio) or `url` (Streamable HTTP)",
                        u.name
                    )));
                }
            };
            upstreams.push(UpstreamConfig {
                name: u.name,
                environment: u.environment,
                transport,
            });
        }
        let pins_file = self.pins_file.unwrap_or_else(|| "mcp-pins.json".into());
        let pins_file = if pins_file.is_absolute() {
            pins_file
        } else {
            data_dir.join(pins_file)
        };
        Ok(McpConfig {
            approval_wait: Duration::from_secs(
                self.approval_wait_secs.unwrap_or(30).clamp(1, 3600),
            ),
            call_timeout: Duration::from_secs(self.call_timeout_secs.unwrap_or(60).clamp(1, 3600)),
            max_message_bytes,
            max_sessions: self.max_sessions.unwrap_or(10_000).clamp(1, 1_000_000),
            session_idle: Duration::from_secs(
                self.session_idle_secs.unwrap_or(3600).clamp(10, 86_400),
            ),
            pin,
            separator,
            pins_file,
            upstreams,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(s: &str) -> Result<McpConfig, McpError> {
        let sec: McpSection = toml_like(s);
        sec.validate(Path::new("/d"))
    }

    fn toml_like(s: &str) -> McpSection {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn upstreams_need_one_transport() {
        let ok =
            parse(r#"{"upstreams":[{"name":"files","environment":"dev","command":"x"}]}"#).unwrap();
        assert_eq!(ok.pins_file, PathBuf::from("/d/mcp-pins.json"));
        assert_eq!(ok.pin, PinMode::FirstUse);
        assert!(parse(r#"{"upstreams":[{"name":"f","environment":"dev"}]}"#).is_err());
        assert!(
            parse(
                r#"{"upstreams":[{"name":"f","environment":"dev","command":"x","url":"http://a"}]}"#
            )
            .is_err()
        );
        assert!(
            parse(r#"{"upstreams":[{"name":"f.g","environment":"dev","command":"x"}]}"#).is_err()
        );
        assert!(
            parse(r#"{"upstreams":[{"name":"f","environment":"dev","url":"ftp://a"}]}"#).is_err()
        );
        assert!(parse(r#"{"pin":"sometimes"}"#).is_err());
    }

    #[test]
    fn header_values_are_not_debug_printed() {
        let c = parse(r#"{"upstreams":[{"name":"t","environment":"dev","url":"http://a","headers":{"Authorization":"Bearer s3cret"}}]}"#).unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("Authorization"));
        assert!(!shown.contains("s3cret"));
    }
}
