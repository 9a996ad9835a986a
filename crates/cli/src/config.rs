//! `countersign.toml`: read, overridden by `COUNTERSIGN_*` variables and
//! flags, and validated into one [`Config`] the commands use.

use anyhow::{Context as _, Result, bail};
use countersign_core::policy::{PolicySet, PolicySource};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "countersign.toml";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8750";

/// The file as written (every field optional; defaults fill in).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub store: StoreSection,
    #[serde(default)]
    pub policy: PolicySection,
    #[serde(default)]
    pub audit: AuditSection,
    pub environments: Option<Vec<String>>,
    pub admin_group: Option<String>,
    /// The PostgreSQL proxy; absent: not started.
    pub postgres: Option<countersign_pgproxy::ProxySection>,
    /// Approval notifications (Slack, Teams, webhooks); absent: none sent.
    pub notify: Option<countersign_notify::NotifySection>,
    /// The HTTP gateway; absent: not started.
    pub http_gateway: Option<countersign_httpgw::GatewaySection>,
    /// The web console; absent: served with defaults.
    pub console: Option<countersign_console::ConsoleSection>,
    /// The MCP gateway at `/mcp`; absent: not mounted.
    pub mcp: Option<countersign_mcp::McpSection>,
    /// Change kinds and gates; absent: the safe defaults (promotion in
    /// order, one admin review outside the first environment).
    pub changes: Option<countersign_core::change::ChangesConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub listen: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub max_wait_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    pub path: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    pub key: Option<PathBuf>,
    pub origin: Option<String>,
    pub checkpoint_interval_ms: Option<u64>,
}

/// Validated configuration; paths are absolute.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub db_path: PathBuf,
    pub policy_dir: PathBuf,
    pub key_path: PathBuf,
    pub log_origin: String,
    pub environments: Vec<String>,
    pub admin_group: String,
    pub max_body: usize,
    pub max_wait_secs: u64,
    pub checkpoint_interval_ms: u64,
    pub postgres: Option<countersign_pgproxy::ProxyConfig>,
    pub notify: Option<countersign_notify::NotifyConfig>,
    pub http_gateway: Option<countersign_httpgw::GatewayConfig>,
    /// `None`: the console is turned off (`[console] enabled = false`).
    pub console: Option<countersign_console::ConsoleConfig>,
    pub mcp: Option<countersign_mcp::McpConfig>,
    pub changes: countersign_core::change::ChangeRules,
}

/// The data directory when none is given.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("COUNTERSIGN_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("countersign-data"))
}

fn absolute(base: &Path, p: PathBuf) -> PathBuf {
    if p.is_absolute() { p } else { base.join(p) }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Config {
    /// Reads `file` (its directory is the data directory), applies
    /// environment overrides, then `listen_flag`.
    pub fn load(file: &Path, listen_flag: Option<&str>) -> Result<Config> {
        if !file.exists() && file.file_name().is_some_and(|n| n == CONFIG_FILE) {
            let dir = file.parent().unwrap_or(Path::new("."));
            bail!(
                "no Countersign data directory at `{}` (it has no {CONFIG_FILE}): pass --data-dir DIR or set COUNTERSIGN_DATA_DIR, or run this where `countersign-data` is",
                dir.display()
            );
        }
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read config `{}`", file.display()))?;
        let fc: FileConfig = toml::from_str(&text)
            .with_context(|| format!("invalid config `{}`", file.display()))?;
        let data_dir = file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let data_dir = std::path::absolute(&data_dir)
            .with_context(|| format!("cannot resolve `{}`", data_dir.display()))?;
        Self::from_file(fc, data_dir, listen_flag)
    }

    fn from_file(fc: FileConfig, data_dir: PathBuf, listen_flag: Option<&str>) -> Result<Config> {
        let listen = listen_flag
            .map(str::to_owned)
            .or_else(|| env("COUNTERSIGN_LISTEN"))
            .or(fc.server.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen.parse().with_context(|| {
            format!("invalid listen address `{listen}` (want e.g. 127.0.0.1:8750)")
        })?;
        let environments = env("COUNTERSIGN_ENVIRONMENTS")
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
            .or(fc.environments)
            .unwrap_or_else(|| vec!["dev".into(), "staging".into(), "prod".into()]);
        if environments.is_empty() || environments.iter().any(|e| e.is_empty()) {
            bail!("environments must be a non-empty list of names");
        }
        let max_body = fc.server.max_body_bytes.unwrap_or(64 * 1024);
        if !(1024..=16 * 1024 * 1024).contains(&max_body) {
            bail!("server.max_body_bytes must be between 1 KiB and 16 MiB");
        }
        let postgres = fc
            .postgres
            .map(|p| p.validate(&data_dir))
            .transpose()
            .map_err(|e| anyhow::anyhow!("[postgres]: {e}"))?;
        let notify = fc
            .notify
            .map(|n| n.validate(&data_dir))
            .transpose()
            .map_err(|e| anyhow::anyhow!("[notify]: {e}"))?;
        let http_gateway = fc
            .http_gateway
            .map(|h| h.validate(&data_dir))
            .transpose()
            .map_err(|e| anyhow::anyhow!("[http_gateway]: {e}"))?;
        let console = fc
            .console
            .unwrap_or_default()
            .validate()
            .map_err(|e| anyhow::anyhow!("[console]: {e}"))?;
        let mcp = fc
            .mcp
            .map(|m| m.validate(&data_dir))
            .transpose()
            .map_err(|e| anyhow::anyhow!("[mcp]: {e}"))?;
        let admin_group = fc.admin_group.unwrap_or_else(|| "admin".into());
        let changes = countersign_core::change::ChangeRules::build(
            &fc.changes.unwrap_or_default(),
            &environments,
            &admin_group,
        )
        .map_err(|e| anyhow::anyhow!("[changes]: {e}"))?;
        Ok(Config {
            changes,
            postgres,
            notify,
            http_gateway,
            console,
            mcp,
            listen,
            db_path: absolute(
                &data_dir,
                fc.store.path.unwrap_or_else(|| "countersign.db".into()),
            ),
            policy_dir: absolute(
                &data_dir,
                fc.policy.dir.unwrap_or_else(|| "policies".into()),
            ),
            key_path: absolute(
                &data_dir,
                fc.audit.key.unwrap_or_else(|| "keys/audit.key".into()),
            ),
            log_origin: env("COUNTERSIGN_LOG_ORIGIN")
                .or(fc.audit.origin)
                .unwrap_or_else(|| "countersign.local/audit".into()),
            environments,
            admin_group,
            max_body,
            max_wait_secs: fc.server.max_wait_secs.unwrap_or(60).clamp(1, 600),
            checkpoint_interval_ms: fc
                .audit
                .checkpoint_interval_ms
                .unwrap_or(1000)
                .clamp(100, 60_000),
            data_dir,
        })
    }
}

/// Largest policy file read (a policy set is text, not data).
const MAX_POLICY_FILE: u64 = 4 * 1024 * 1024;
pub const SCHEMA_FILE: &str = "schema.cedarschema";

/// Reads `schema.cedarschema` and every `*.cedar` file of `dir` and
/// compiles them (strict validation). Errors name file, line and column.
pub fn load_policies(dir: &Path) -> Result<PolicySet, String> {
    let schema_path = dir.join(SCHEMA_FILE);
    let schema = read_bounded(&schema_path)?;
    let mut sources = Vec::new();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read policy directory `{}`: {e}", dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot read policy directory `{}`: {e}", dir.display()))?
            .path();
        if path.extension().is_some_and(|x| x == "cedar") {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            sources.push(PolicySource {
                name,
                text: read_bounded(&path)?,
            });
        }
    }
    if sources.is_empty() {
        return Err(format!("no *.cedar policy files in `{}`", dir.display()));
    }
    sources.sort_by(|a, b| a.name.cmp(&b.name));
    PolicySet::compile(SCHEMA_FILE, &schema, &sources).map_err(|e| e.to_string())
}

fn read_bounded(path: &Path) -> Result<String, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    if meta.len() > MAX_POLICY_FILE {
        return Err(format!(
            "`{}` is larger than {MAX_POLICY_FILE} bytes",
            path.display()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let fc: FileConfig = toml::from_str("[server]\nlisten = \"127.0.0.1:9000\"\n").unwrap();
        let c = Config::from_file(fc, PathBuf::from("/d"), Some("0.0.0.0:1234")).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:1234");
        assert_eq!(c.db_path, PathBuf::from("/d/countersign.db"));
        assert_eq!(c.environments, vec!["dev", "staging", "prod"]);
    }

    #[test]
    fn mcp_section_is_validated() {
        let fc: FileConfig = toml::from_str(
            "[mcp]\npin = \"admin\"\n[[mcp.upstreams]]\nname = \"files\"\nenvironment = \"dev\"\ncommand = \"files-mcp\"\n",
        )
        .unwrap();
        let c = Config::from_file(fc, PathBuf::from("/d"), None).unwrap();
        let m = c.mcp.unwrap();
        assert_eq!(m.upstreams.len(), 1);
        assert_eq!(m.pins_file, PathBuf::from("/d/mcp-pins.json"));
        let fc: FileConfig =
            toml::from_str("[[mcp.upstreams]]\nname = \"files\"\nenvironment = \"dev\"\n").unwrap();
        let e = Config::from_file(fc, PathBuf::from("/d"), None).unwrap_err();
        assert!(e.to_string().contains("[mcp]"), "{e}");
    }

    #[test]
    fn change_gates_are_validated_at_load() {
        let ok: FileConfig = toml::from_str(
            "[[changes.gates]]\nkind = \"model\"\nenvironment = \"prod\"\nmetrics = [\"accuracy >= 0.9\"]\nreviews = { quorum = 2, groups = [\"ml\"] }\n",
        )
        .unwrap();
        let c = Config::from_file(ok, PathBuf::from("/d"), None).unwrap();
        let prod = c.changes.gate("model", "prod").unwrap();
        assert_eq!((prod.reviews.quorum, prod.metrics.len()), (2, 1));
        for (bad, says) in [
            (
                "kind = \"modle\"\nenvironment = \"prod\"",
                "unknown kind `modle`",
            ),
            (
                "kind = \"model\"\nenvironment = \"qa\"",
                "unknown environment `qa`",
            ),
            (
                "kind = \"model\"\nenvironment = \"prod\"\nmetrics = [\"accuracy => 1\"]",
                "metric threshold",
            ),
        ] {
            let fc: FileConfig = toml::from_str(&format!("[[changes.gates]]\n{bad}\n")).unwrap();
            let e = format!(
                "{:#}",
                Config::from_file(fc, PathBuf::from("/d"), None).unwrap_err()
            );
            assert!(e.contains("[changes]") && e.contains(says), "{e}");
        }
        assert!(
            toml::from_str::<FileConfig>(
                "[[changes.gates]]\nkind = \"model\"\nenviroment = \"prod\"\n"
            )
            .is_err(),
            "a misspelt gate key is refused"
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(toml::from_str::<FileConfig>("[server]\nlisten_on = \"x\"\n").is_err());
        let fc: FileConfig = toml::from_str("[server]\nlisten = \"nowhere\"\n").unwrap();
        assert!(Config::from_file(fc, PathBuf::from("/d"), None).is_err());
        let fc: FileConfig =
            toml::from_str("[console]\nsecure_cookie = true\n").unwrap_or_default();
        assert!(fc.console.is_none(), "a misspelt console key is refused");
        let fc: FileConfig = toml::from_str("[console]\nsession_idle_minutes = 0\n").unwrap();
        assert!(Config::from_file(fc, PathBuf::from("/d"), None).is_err());
        let fc: FileConfig = toml::from_str("[console]\nenabled = false\n").unwrap();
        let c = Config::from_file(fc, PathBuf::from("/d"), None).unwrap();
        assert!(c.console.is_none());
    }
}
