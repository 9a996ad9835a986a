//! A small client for the Countersign API, used by the CLI subcommands.

use crate::cli::Remote;
use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::Value;
use std::time::Duration;

/// An API error with its stable code, for commands that react to codes.
#[derive(Debug)]
pub struct ApiFailure {
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ApiFailure {}

#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(remote: &Remote) -> Result<Self> {
        let token = remote
            .token
            .clone()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| anyhow!("no token: set COUNTERSIGN_TOKEN (or pass --token)"))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // Long-polls are at most a minute or two server-side.
            .timeout(Duration::from_secs(180))
            .user_agent(concat!("countersign-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build HTTP client")?;
        Ok(Client {
            base: remote.server.trim_end_matches('/').to_owned(),
            token,
            http,
        })
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let req = self.http.post(format!("{}{path}", self.base)).json(body);
        self.send(req).await
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value> {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| unreachable(&self.base, &e))?;
        let status = resp.status();
        let body: Value = resp
            .json()
            .await
            .with_context(|| format!("unreadable response from {} (HTTP {status})", self.base))?;
        if status.is_success() {
            return Ok(body);
        }
        let code = body["error"]["code"].as_str().unwrap_or("error").to_owned();
        let mut message = body["error"]["message"]
            .as_str()
            .unwrap_or("request failed")
            .to_owned();
        if let Some(known) = self.known_names(&code).await {
            message.push_str(&format!("; {known}"));
        }
        Err(ApiFailure { code, message }.into())
    }

    /// For an unknown action or entity type, the names the server knows
    /// (best effort: the error stands without them).
    async fn known_names(&self, code: &str) -> Option<String> {
        let (key, what) = match code {
            "unknown_action" => ("actions", "known actions"),
            "unknown_entity_type" => ("entity_types", "known types"),
            _ => return None,
        };
        let resp = self
            .http
            .get(format!("{}/v1/policies", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .ok()?;
        let v: Value = resp.json().await.ok()?;
        let names: Vec<&str> = v[key]
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        (!names.is_empty()).then(|| format!("{what}: {}", names.join(", ")))
    }
}

/// One sentence for a request that got no answer: where, the root cause
/// (`Connection refused`, not reqwest's four nested wrappers), and what to
/// check.
fn unreachable(base: &str, e: &reqwest::Error) -> anyhow::Error {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let hint = if e.is_connect() {
        "is `countersign serve` running there? Point at another server with --server URL or COUNTERSIGN_SERVER"
    } else if e.is_timeout() {
        "the server did not answer in time"
    } else {
        "check the URL (--server or COUNTERSIGN_SERVER)"
    };
    anyhow!("cannot reach Countersign at {base}: {cause}; {hint}")
}

/// Prints JSON prettily.
pub fn print_json(v: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// `s` as a string field or an empty string.
pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

pub fn ensure_object(v: Value, what: &str) -> Result<serde_json::Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        _ => bail!("{what} must be a JSON object"),
    }
}
