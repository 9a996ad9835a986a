//! `countersign audit …`: verify the log (offline from a data directory or
//! online from a server), check a receipt, tail and export entries.
//!
//! Trust comes from keys the user holds, never from the server being
//! checked: the data directory's own signing key, `--key`, or
//! `$COUNTERSIGN_VERIFIER_KEY`. A key the server advertises is shown for
//! comparison, but trusting it would let a compromised server vouch for
//! itself.

mod entries;
mod receipt;
mod verify;

use crate::cli::{AuditCmd, Remote};
use crate::config::{CONFIG_FILE, Config};
use anyhow::{Context as _, Result, anyhow};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use countersign_tlog::{Hash, Verifier};
use std::path::Path;
use std::process::ExitCode;

/// Verifier keys trusted without a flag (comma- or space-separated).
pub const VERIFIER_KEY_ENV: &str = "COUNTERSIGN_VERIFIER_KEY";

pub async fn run(cmd: AuditCmd, remote: Remote) -> Result<ExitCode> {
    match cmd {
        AuditCmd::Verify {
            data_dir,
            online,
            since,
            keys,
        } => {
            let args = verify::Args {
                data_dir,
                since,
                keys,
                remote,
            };
            if online {
                verify::online(args).await
            } else {
                verify::offline(args).await
            }
        }
        AuditCmd::Receipt {
            seq,
            keys,
            file,
            save,
        } => {
            receipt::run(receipt::Args {
                seq,
                keys,
                file,
                save,
                remote,
            })
            .await
        }
        AuditCmd::Tail { lines, follow } => entries::tail(lines, follow, &remote).await,
        AuditCmd::Export {
            format: _,
            principal,
            action,
            environment,
            verdict,
            since,
            until,
        } => {
            let filter = entries::Filter {
                principal,
                action,
                environment,
                verdict,
                since,
                until,
            };
            entries::export(&filter, &remote).await
        }
    }
}

/// The data directory's config and its checkpoint verifier.
fn data_dir_key(dir: &Path) -> Result<(Config, Verifier)> {
    let cfg = Config::load(&dir.join(CONFIG_FILE), None)?;
    let signer = super::init::load_signer(&cfg.key_path, &cfg.log_origin)?;
    Ok((cfg, signer.verifier()))
}

/// `--key` values and `$COUNTERSIGN_VERIFIER_KEY`, parsed.
fn given_keys(flags: &[String]) -> Result<Vec<Verifier>> {
    let env = std::env::var(VERIFIER_KEY_ENV).unwrap_or_default();
    flags
        .iter()
        .map(String::as_str)
        .chain(env.split([',', ' ', '\n']).filter(|k| !k.is_empty()))
        .map(|k| {
            Verifier::from_key(k.trim()).map_err(|e| anyhow!("invalid verifier key `{k}`: {e}"))
        })
        .collect()
}

fn b64_hash(v: &serde_json::Value, what: &str) -> Result<Hash> {
    let s = v
        .as_str()
        .ok_or_else(|| anyhow!("{what} is missing from the response"))?;
    let raw = B64
        .decode(s)
        .with_context(|| format!("{what} is not base64"))?;
    raw.try_into()
        .map_err(|_| anyhow!("{what} is not a 32-byte hash"))
}

/// An entry as the API returns it, back to the exact bytes that were
/// hashed: entries are RFC 8785 canonical JSON, so canonicalizing the
/// parsed entry gives them back.
fn entry_bytes(entry: &serde_json::Value) -> Result<Vec<u8>> {
    countersign_tlog::canonicalize(entry).map_err(|e| anyhow!("entry cannot be canonicalized: {e}"))
}
