//! `countersign admin recover`: whoever holds the data directory can always
//! get back in. It mints a new administrator token offline, straight into
//! the database, and the audit log says so (a `token.created` entry with no
//! acting principal, labelled `admin recover …` with the OS user, the host
//! and the reason). Holding the directory already means holding the
//! database and the signing key, so this grants nothing new; making it
//! explicit and audited beats people editing SQLite by hand.
//!
//! Refused while a server runs on the directory: two writers would race
//! for the audit log's sequence numbers.

use crate::config::{self, CONFIG_FILE, Config};
use crate::data_lock;
use anyhow::{Context as _, Result, anyhow, bail};
use countersign_core::governor::{GovernorConfig, NewPrincipal};
use countersign_core::policy::PolicySet;
use countersign_core::time::parse_duration;
use countersign_core::{Governor, PrincipalKind, Timestamp};
use countersign_store::SqliteStore;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The core's limit on a token label.
const MAX_LABEL: usize = 200;

pub async fn run(
    data_dir: Option<PathBuf>,
    name: &str,
    expires_in: &str,
    reason: &str,
) -> Result<ExitCode> {
    let lifetime = parse_duration(expires_in)
        .ok_or_else(|| anyhow!("invalid --expires-in `{expires_in}`: use e.g. 24h or 30m"))?;
    if reason.trim().is_empty() {
        bail!("--reason must say why (it is written to the audit log)");
    }
    let label = format!(
        "admin recover (offline, by {} on {}): {}",
        os_user(),
        host_name(),
        reason.trim()
    );
    if label.len() > MAX_LABEL {
        bail!(
            "--reason is too long for the audit entry: keep it under {} characters",
            MAX_LABEL.saturating_sub(label.len() - reason.trim().len())
        );
    }
    let dir = data_dir.unwrap_or_else(config::default_data_dir);
    let cfg = Config::load(&dir.join(CONFIG_FILE), None)?;
    let _lock = data_lock::acquire(&cfg.data_dir)?;
    if TcpStream::connect_timeout(&cfg.listen, Duration::from_millis(300)).is_ok() {
        bail!(
            "something answers on {}, where this data directory's server listens: stop the server first (recovery writes to the database it holds)",
            cfg.listen
        );
    }

    let policies = config::load_policies(&cfg.policy_dir).or_else(|e| {
        // The directory must stay recoverable when its policies are broken:
        // only principals and tokens are touched here.
        eprintln!(
            "warning: the policies in `{}` do not load ({e}); recovering with the starter schema",
            cfg.policy_dir.display()
        );
        PolicySet::starter().map_err(|e| anyhow!("the starter policies do not load: {e}"))
    })?;
    let store = Arc::new(
        SqliteStore::open(&cfg.db_path)
            .with_context(|| format!("cannot open store `{}`", cfg.db_path.display()))?,
    );
    let gov = Governor::open(
        store.clone(),
        policies,
        GovernorConfig {
            environments: cfg.environments.clone(),
            admin_group: cfg.admin_group.clone(),
            changes: cfg.changes.clone(),
        },
    )
    .await?;
    let existing = gov.snapshot().principals.get(name).cloned();
    match existing {
        Some(p) if p.disabled => bail!(
            "`{name}` is disabled; recover as a new administrator instead: --principal NEW-NAME"
        ),
        Some(p) if p.kind != PrincipalKind::User || !p.groups.contains(&cfg.admin_group) => bail!(
            "`{name}` is not an administrator (a user in group `{}`); recover as a new one: --principal NEW-NAME",
            cfg.admin_group
        ),
        Some(_) => {}
        None => {
            gov.add_principal(
                None,
                NewPrincipal {
                    name: name.to_owned(),
                    kind: PrincipalKind::User,
                    groups: vec![cfg.admin_group.clone()],
                    owner: None,
                    email: None,
                },
                None,
            )
            .await?;
            println!("Created administrator `{name}`.");
        }
    }
    let expires = Timestamp::now().plus(lifetime);
    let token = gov
        .create_token(None, name, Some(label), Some(expires), None)
        .await?;
    store.close().await;

    println!(
        "Recovery token for `{name}` (shown once; expires {}):",
        expires.rfc3339()
    );
    println!();
    println!("    {}", token.value);
    println!();
    println!(
        "The audit log records it (token.created, id {}). Next: start the server, create a lasting token",
        token.record.id
    );
    println!(
        "(`countersign tokens create --principal {name}`), then revoke the lost one (`countersign tokens list`, `countersign tokens revoke ID`)."
    );
    Ok(ExitCode::SUCCESS)
}

fn os_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "an unknown user".to_owned())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "an unknown host".to_owned())
}
