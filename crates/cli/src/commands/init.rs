//! `countersign init [DIR]`: everything a new gateway needs, in one directory.

use crate::cli::InitArgs;
use crate::config::{self, CONFIG_FILE, Config, SCHEMA_FILE};
use anyhow::{Context as _, Result, bail};
use countersign_core::governor::{GovernorConfig, NewPrincipal};
use countersign_core::policy::{STARTER_CASES, STARTER_POLICIES, STARTER_SCHEMA};
use countersign_core::{Governor, PrincipalKind};
use countersign_store::SqliteStore;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

const CONFIG_TEMPLATE: &str = r#"# Countersign configuration.
# Every value here can be overridden by an environment variable
# (COUNTERSIGN_LISTEN, COUNTERSIGN_ENVIRONMENTS, COUNTERSIGN_LOG_ORIGIN) or a
# flag of `countersign serve`. Relative paths are relative to this file.

# Environments requests may name, in promotion order.
environments = ["dev", "staging", "prod"]

# Members of this group manage principals, tokens and policies.
admin_group = "admin"

[server]
# Address of the HTTP API (decision API, approvals, audit log).
listen = "127.0.0.1:8750"
# Largest request body accepted, in bytes.
max_body_bytes = 65536
# Longest long-poll (GET /v1/approvals/{id}?wait=...) a client may ask for.
max_wait_secs = 60

[store]
# Embedded SQLite database (WAL mode).
path = "countersign.db"

[policy]
# schema.cedarschema plus every *.cedar file in this directory.
# Reload with SIGHUP or POST /v1/policies/reload; a broken set is refused
# and the set in force stays.
dir = "policies"

[audit]
# Ed25519 key that signs audit checkpoints (C2SP signed-note format).
# Keep it secret (mode 0600); publish its verifier key (printed by init).
key = "keys/audit.key"
# The log's name in its checkpoints; make it unique, e.g. your host name.
origin = "countersign.local/audit"
# How often a new checkpoint is signed when the log has grown.
checkpoint_interval_ms = 1000

# The web console is served at /ui/ on the API's address (sign in with a
# token). Uncomment to change it:
# [console]
# secure_cookies = true      # when reached over HTTPS through a TLS proxy
# session_idle_minutes = 30
# session_max_hours = 12
# enabled = false            # serve the API only

# Change authorization (`countersign change`, docs/changes.md): a model,
# prompt, pipeline or policy version reaches an environment only through its
# gates, and `<kind>.deploy` is refused without an approved change whose
# artifact digest matches. Without gates here, every environment after the
# first needs the same artifact live in the one before it, and one review by
# an administrator other than the author. Uncomment to set your own:
# [[changes.gates]]
# kind = "model"                 # or "*" for every kind
# environment = "prod"
# after = "staging"              # promotion order ("none" to waive)
# min_soak = "1h"                # live in staging at least this long
# metrics = ["accuracy >= 0.92", "p99_latency_ms <= 200",
#            "accuracy >= live.accuracy - 0.005"]
# reviews = { quorum = 2, groups = ["ml-reviewer"], ttl = "3d" }
# wait = "30m"                   # after approval, before a deploy
# freeze = [{ from = "2026-12-24T00:00:00Z", until = "2026-12-27T00:00:00Z", reason = "holidays" },
#           { weekly_from = "fri 16:00", weekly_until = "mon 08:00", reason = "weekend" }]  # UTC
# emergency = { quorum = 1, groups = ["incident-commander"] }
#
# [changes.kinds.dataset]        # a kind of your own
# resource = "Dataset"           # its subjects' Cedar type
# action = "dataset.deploy"      # its deploy action (add it to the schema)
"#;

pub async fn run(args: InitArgs) -> Result<ExitCode> {
    let dir = args.dir.unwrap_or_else(config::default_data_dir);
    let token = initialize(&dir, &args.admin).await?;
    let cfg = Config::load(&dir.join(CONFIG_FILE), None)?;
    println!("Initialized Countersign in {}", cfg.data_dir.display());
    print_first_admin(&args.admin, &token, &cfg)?;
    Ok(ExitCode::SUCCESS)
}

pub fn print_first_admin(admin: &str, token: &str, cfg: &Config) -> Result<()> {
    let verifier = load_signer(&cfg.key_path, &cfg.log_origin)?
        .verifier()
        .to_key();
    println!();
    println!("First administrator: {admin}");
    println!("Its token (shown once; store it now):");
    println!();
    println!("    {token}");
    println!();
    println!("Audit log verifier key (publish it): {verifier}");
    if cfg.console.is_some() {
        println!();
        println!(
            "Web console: http://{}/ui/ (sign in with a token)",
            cfg.listen
        );
    }
    Ok(())
}

/// Creates `dir` with config, policies, key, database and the first admin;
/// returns the admin's token. Refuses a directory that already has a config.
pub async fn initialize(dir: &Path, admin: &str) -> Result<String> {
    if dir.join(CONFIG_FILE).exists() {
        bail!(
            "`{}` is already initialized",
            dir.join(CONFIG_FILE).display()
        );
    }
    let policies = dir.join("policies");
    let keys = dir.join("keys");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    // The database holds token hashes and the audit log: owner only.
    restrict_dir(dir)?;
    std::fs::create_dir_all(&policies)
        .with_context(|| format!("cannot create `{}`", policies.display()))?;
    std::fs::create_dir_all(&keys)
        .with_context(|| format!("cannot create `{}`", keys.display()))?;
    restrict_dir(&keys)?;
    write_new(&policies.join(SCHEMA_FILE), STARTER_SCHEMA)?;
    write_new(&policies.join("policies.cedar"), STARTER_POLICIES)?;
    write_new(&policies.join("cases.toml"), STARTER_CASES)?;
    // Written last: its presence marks the directory as initialized.
    let cfg_path = dir.join(CONFIG_FILE);
    let cfg_text = CONFIG_TEMPLATE;
    let tmp = dir.join(".countersign.toml.tmp");
    write_new(&tmp, cfg_text)?;
    let cfg = Config::load(&tmp, None)?;
    let signer = countersign_tlog::Signer::generate(&cfg.log_origin)
        .map_err(|e| anyhow::anyhow!("cannot generate the signing key: {e}"))?;
    write_secret(&cfg.key_path, &format!("{}\n", signer.to_private_key()))?;

    let set = config::load_policies(&cfg.policy_dir).map_err(|e| anyhow::anyhow!(e))?;
    let store = Arc::new(SqliteStore::open(&cfg.db_path)?);
    let gov = Governor::open(
        store.clone(),
        set,
        GovernorConfig {
            environments: cfg.environments.clone(),
            admin_group: cfg.admin_group.clone(),
            changes: cfg.changes.clone(),
        },
    )
    .await?;
    gov.add_principal(
        None,
        NewPrincipal {
            name: admin.to_owned(),
            kind: PrincipalKind::User,
            groups: vec![cfg.admin_group.clone()],
            owner: None,
            email: None,
        },
        None,
    )
    .await?;
    let token = gov
        .create_token(None, admin, Some("created by init".into()), None, None)
        .await?;
    store.close().await;
    std::fs::rename(&tmp, &cfg_path)
        .with_context(|| format!("cannot write `{}`", cfg_path.display()))?;
    Ok(token.value)
}

/// Reads the checkpoint signing key; refuses one readable by others.
pub fn load_signer(path: &Path, _origin: &str) -> Result<countersign_tlog::Signer> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("cannot read signing key `{}`", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "signing key `{}` is readable by others (mode {:o}); run chmod 600 on it",
                path.display(),
                mode & 0o777
            );
        }
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read signing key `{}`", path.display()))?;
    countersign_tlog::Signer::from_private_key(text.trim())
        .map_err(|e| anyhow::anyhow!("invalid signing key `{}`: {e}", path.display()))
}

fn write_new(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create `{}`", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot write `{}`", path.display()))
}

/// Creates a file readable by its owner only, from the start (no window in
/// which the key is world-readable).
fn write_secret(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create `{}`", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write `{}`", path.display()))
}

fn restrict_dir(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict `{}`", path.display()))?;
    }
    Ok(())
}
