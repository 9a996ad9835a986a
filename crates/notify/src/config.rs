//! The `[notify]` section of `countersign.toml`: where approvals are sent
//! and how. Secrets (bot token, signing secret, webhook secrets and Teams
//! URLs) are never written in the file itself but named: an environment
//! variable or a file. They are resolved once at start-up into [`Secret`]s.

use crate::error::ConfigError;
use crate::secret::{Secret, SecretRef};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The section as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySection {
    /// Base URL of this gateway as reviewers reach it; messages link to
    /// `{public_url}/ui/approvals/{id}`.
    pub public_url: String,
    /// The outbox database (default `notify.db` in the data directory).
    pub outbox_path: Option<String>,
    /// First retry delay after a failed delivery (default 1000 ms).
    pub retry_initial_ms: Option<u64>,
    /// Longest delay between retries (default 300000 ms = 5 min).
    pub retry_max_ms: Option<u64>,
    /// Failed attempts after which a notification is listed as `failed`
    /// (default 3); it is still retried.
    pub failed_after: Option<u32>,
    /// Per-request timeout towards Slack, Teams and webhooks (default 10 s).
    pub timeout_ms: Option<u64>,
    /// Days sent notifications stay listed before they are deleted (default 30).
    pub keep_sent_days: Option<u64>,
    pub slack: Option<SlackSection>,
    #[serde(default)]
    pub teams: Vec<TeamsSection>,
    #[serde(default)]
    pub webhooks: Vec<WebhookSection>,
    #[serde(default)]
    pub routes: Vec<RouteSection>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSection {
    /// Slack Web API base (default `https://slack.com/api`).
    pub api_url: Option<String>,
    pub bot_token_env: Option<String>,
    pub bot_token_file: Option<String>,
    pub signing_secret_env: Option<String>,
    pub signing_secret_file: Option<String>,
    /// Explicit Slack user id → Countersign principal mapping; users not
    /// listed are matched by their confirmed e-mail (users.info).
    #[serde(default)]
    pub users: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsSection {
    pub name: String,
    /// The incoming/Workflows webhook URL holds its own credential.
    pub url_env: Option<String>,
    pub url_file: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    pub name: String,
    pub url: String,
    /// A Standard Webhooks secret: `whsec_` + base64.
    pub secret_env: Option<String>,
    pub secret_file: Option<String>,
    /// Event types sent (default: requested, decided, decision.denied).
    pub events: Option<Vec<String>>,
}

/// Which approvals go where. Every filter given must match; empty ones
/// match everything. Patterns may end in `*` (prefix match).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    #[serde(default)]
    pub environments: Vec<String>,
    #[serde(default)]
    pub actions: Vec<String>,
    /// `Type::id` patterns, e.g. `Table::*`.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Approver groups named by the approval requirement.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Slack channel ids.
    #[serde(default)]
    pub slack: Vec<String>,
    #[serde(default)]
    pub teams: Vec<String>,
    #[serde(default)]
    pub webhooks: Vec<String>,
    /// Also message each eligible approver mapped in `[notify.slack.users]`.
    #[serde(default)]
    pub slack_dm_approvers: bool,
}

/// Event types a webhook can subscribe to.
pub const WEBHOOK_EVENTS: [&str; 5] = [
    "approval.requested",
    "approval.vote",
    "approval.decided",
    "approval.executed",
    "decision.denied",
];
const DEFAULT_WEBHOOK_EVENTS: [&str; 3] =
    ["approval.requested", "approval.decided", "decision.denied"];

/// Validated configuration with secrets resolved.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    pub public_url: String,
    pub outbox_path: std::path::PathBuf,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub failed_after: u32,
    pub timeout: Duration,
    pub keep_sent: Duration,
    pub slack: Option<SlackConfig>,
    pub teams: BTreeMap<String, Secret>,
    pub webhooks: BTreeMap<String, WebhookConfig>,
    pub routes: Vec<RouteSection>,
}

#[derive(Debug, Clone)]
pub struct SlackConfig {
    pub api_url: String,
    pub bot_token: Secret,
    pub signing_secret: Secret,
    pub users: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: String,
    /// The decoded key bytes (after `whsec_`).
    pub key: Secret,
    pub events: Vec<String>,
}

fn http_url(what: &str, u: &str) -> Result<String, ConfigError> {
    let parsed = reqwest::Url::parse(u)
        .map_err(|e| ConfigError(format!("{what}: `{u}` is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError(format!("{what}: `{u}` must be http(s)")));
    }
    Ok(u.trim_end_matches('/').to_owned())
}

fn name_ok(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl NotifySection {
    /// Checks the section and reads every secret it names.
    pub fn validate(self, data_dir: &Path) -> Result<NotifyConfig, ConfigError> {
        let public_url = http_url("public_url", &self.public_url)?;
        let slack = match self.slack {
            None => None,
            Some(s) => {
                let bot_token = SecretRef::new(s.bot_token_env, s.bot_token_file)
                    .resolve("slack bot token", data_dir)?;
                let signing_secret = SecretRef::new(s.signing_secret_env, s.signing_secret_file)
                    .resolve("slack signing secret", data_dir)?;
                Some(SlackConfig {
                    api_url: http_url(
                        "slack.api_url",
                        s.api_url.as_deref().unwrap_or("https://slack.com/api"),
                    )?,
                    bot_token,
                    signing_secret,
                    users: s.users,
                })
            }
        };
        let mut teams = BTreeMap::new();
        for t in self.teams {
            if !name_ok(&t.name) {
                return Err(ConfigError(format!("teams name `{}` is invalid", t.name)));
            }
            let what = format!("teams `{}` url", t.name);
            let url = SecretRef::new(t.url_env, t.url_file).resolve(&what, data_dir)?;
            http_url(&what, url.expose())?;
            if teams.insert(t.name.clone(), url).is_some() {
                return Err(ConfigError(format!("teams `{}` is defined twice", t.name)));
            }
        }
        let mut webhooks = BTreeMap::new();
        for w in self.webhooks {
            if !name_ok(&w.name) {
                return Err(ConfigError(format!("webhook name `{}` is invalid", w.name)));
            }
            let what = format!("webhook `{}` secret", w.name);
            let secret = SecretRef::new(w.secret_env, w.secret_file).resolve(&what, data_dir)?;
            let key = crate::webhook::decode_secret(secret.expose())
                .map_err(|e| ConfigError(format!("{what}: {e}")))?;
            let events = match w.events {
                Some(ev) => {
                    for e in &ev {
                        if !WEBHOOK_EVENTS.contains(&e.as_str()) {
                            return Err(ConfigError(format!(
                                "webhook `{}`: unknown event `{e}`; known: {}",
                                w.name,
                                WEBHOOK_EVENTS.join(", ")
                            )));
                        }
                    }
                    ev
                }
                None => DEFAULT_WEBHOOK_EVENTS.map(str::to_owned).to_vec(),
            };
            let cfg = WebhookConfig {
                url: http_url(&format!("webhook `{}` url", w.name), &w.url)?,
                key,
                events,
            };
            if webhooks.insert(w.name.clone(), cfg).is_some() {
                return Err(ConfigError(format!(
                    "webhook `{}` is defined twice",
                    w.name
                )));
            }
        }
        for (i, r) in self.routes.iter().enumerate() {
            let n = i + 1;
            if (!r.slack.is_empty() || r.slack_dm_approvers) && slack.is_none() {
                return Err(ConfigError(format!(
                    "route {n} sends to Slack but there is no [notify.slack]"
                )));
            }
            if let Some(c) = r.slack.iter().find(|c| !name_ok(c)) {
                return Err(ConfigError(format!(
                    "route {n}: slack channel `{c}` is invalid"
                )));
            }
            if let Some(t) = r.teams.iter().find(|t| !teams.contains_key(*t)) {
                return Err(ConfigError(format!(
                    "route {n}: no [[notify.teams]] named `{t}`"
                )));
            }
            if let Some(w) = r.webhooks.iter().find(|w| !webhooks.contains_key(*w)) {
                return Err(ConfigError(format!(
                    "route {n}: no [[notify.webhooks]] named `{w}`"
                )));
            }
        }
        let outbox_path = self.outbox_path.as_deref().unwrap_or("notify.db");
        let outbox_path = {
            let p = Path::new(outbox_path);
            if p.is_absolute() {
                p.to_owned()
            } else {
                data_dir.join(p)
            }
        };
        let retry_initial = Duration::from_millis(self.retry_initial_ms.unwrap_or(1000).max(10));
        let retry_max =
            Duration::from_millis(self.retry_max_ms.unwrap_or(300_000)).max(retry_initial);
        Ok(NotifyConfig {
            public_url,
            outbox_path,
            retry_initial,
            retry_max,
            failed_after: self.failed_after.unwrap_or(3).max(1),
            timeout: Duration::from_millis(self.timeout_ms.unwrap_or(10_000).clamp(100, 60_000)),
            keep_sent: Duration::from_secs(
                self.keep_sent_days.unwrap_or(30).clamp(1, 3650) * 86_400,
            ),
            slack,
            teams,
            webhooks,
            routes: self.routes,
        })
    }
}
