//! `countersign audit verify`: offline (the data directory's database,
//! everything recomputed and compared) or `--online` (a server's entries
//! over HTTP, recomputed against its signed checkpoint).

use super::{b64_hash, data_dir_key, entry_bytes, given_keys};
use crate::cli::Remote;
use crate::client::{Client, print_json};
use crate::config;
use crate::exit;
use anyhow::{Context as _, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use countersign_store::verify::{VerifyError, VerifyOptions, VerifyReport, verify_log};
use countersign_tlog::{Checkpoint, Frontier, Verifier, leaf_hash, verify_consistency};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

pub struct Args {
    pub data_dir: Option<PathBuf>,
    pub since: Option<PathBuf>,
    pub keys: Vec<String>,
    pub remote: Remote,
}

fn read_since(path: &Option<PathBuf>) -> Result<Option<Vec<u8>>> {
    path.as_ref()
        .map(|p| {
            std::fs::read(p).with_context(|| format!("cannot read checkpoint `{}`", p.display()))
        })
        .transpose()
}

/// A failed check: the first bad place, exit status 1.
fn failed(json: bool, place: &str, reason: &str) -> Result<ExitCode> {
    if json {
        print_json(&json!({"ok": false, "place": place, "reason": reason}))?;
    }
    eprintln!("audit verify FAILED at {place}: {reason}");
    Ok(ExitCode::from(exit::CHECK_FAILED))
}

pub async fn offline(args: Args) -> Result<ExitCode> {
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(config::default_data_dir);
    let (cfg, own) = data_dir_key(&dir)?;
    let mut verifiers = vec![own];
    verifiers.extend(given_keys(&args.keys)?);
    let opts = VerifyOptions {
        verifiers,
        origin: Some(cfg.log_origin.clone()),
        since: read_since(&args.since)?,
    };
    let db = cfg.db_path.clone();
    let result = tokio::task::spawn_blocking(move || verify_log(&db, &opts))
        .await
        .context("verification task failed")?;
    match result {
        Ok(report) => {
            summary(
                &report,
                &cfg.db_path.display().to_string(),
                args.remote.json,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(VerifyError::Invalid(f)) => failed(args.remote.json, &f.place.to_string(), &f.reason),
        Err(e) => Err(e.into()),
    }
}

fn summary(r: &VerifyReport, what: &str, json: bool) -> Result<()> {
    if json {
        return print_json(&json!({
            "ok": true,
            "entries": r.size,
            "entry_bytes": r.entry_bytes,
            "tree_hashes": r.nodes,
            "checkpoints": r.checkpoints,
            "latest_checkpoint": r.latest_checkpoint,
            "unsigned_entries": r.unsigned_entries(),
            "payloads": r.payloads,
            "since": r.since,
            "root": B64.encode(r.root),
        }));
    }
    println!("audit log in {what} verified");
    println!(
        "  {} entries ({} bytes), {} tree hashes, {} payloads",
        r.size, r.entry_bytes, r.nodes, r.payloads
    );
    match r.latest_checkpoint {
        Some(size) => println!(
            "  {} signed checkpoints, all consistent; latest at size {size}",
            r.checkpoints
        ),
        None => println!("  no signed checkpoint yet"),
    }
    println!("  root {}", B64.encode(r.root));
    if let Some(s) = r.since {
        println!("  the log extends the kept checkpoint of size {s}: it only grew");
    }
    if r.unsigned_entries() > 0 {
        println!(
            "  note: the last {} entries are not covered by a signed checkpoint yet",
            r.unsigned_entries()
        );
    }
    Ok(())
}

/// Keys trusted for a remote log: `--key`, `$COUNTERSIGN_VERIFIER_KEY`
/// and the data directory's key when one is given. Never the key the
/// server advertises on its own say-so.
fn remote_trust(args: &Args, advertised: Option<&str>) -> Result<Vec<Verifier>> {
    let mut keys = given_keys(&args.keys)?;
    if let Some(dir) = &args.data_dir {
        keys.push(data_dir_key(dir)?.1);
    }
    if keys.is_empty() {
        bail!(
            "no trusted key: pass the log's verifier key with --key (or set \
             COUNTERSIGN_VERIFIER_KEY, or --data-dir on the server's host). The server \
             advertises `{}`, but a key taken from the server being checked proves nothing \
             about it: compare it with the key published when the log was created",
            advertised.unwrap_or("nothing")
        );
    }
    Ok(keys)
}

pub async fn online(args: Args) -> Result<ExitCode> {
    let json = args.remote.json;
    let client = Client::new(&args.remote)?;
    let cp_json = client.get("/v1/audit/checkpoint").await?;
    let advertised = cp_json["verifier_key"].as_str();
    let trusted = remote_trust(&args, advertised)?;
    let note = cp_json["note"]
        .as_str()
        .ok_or_else(|| anyhow!("the server sent no checkpoint note"))?;
    let cp = match Checkpoint::open(note.as_bytes(), &trusted) {
        Ok(cp) => cp,
        Err(e) => {
            let hint = match advertised {
                Some(k) if !trusted.iter().any(|t| t.to_key() == k) => {
                    format!(" (the server advertises `{k}`, which is not among the keys you trust)")
                }
                _ => String::new(),
            };
            return failed(
                json,
                "the server's latest checkpoint",
                &format!("{e}{hint}"),
            );
        }
    };
    let since = match read_since(&args.since)? {
        None => None,
        Some(bytes) => match Checkpoint::open(&bytes, &trusted) {
            Ok(s) => Some(s),
            Err(e) => return failed(json, "the kept checkpoint", &e.to_string()),
        },
    };
    if let Some(s) = &since
        && s.size > cp.size
    {
        return failed(
            json,
            &format!("the kept checkpoint (size {})", s.size),
            &format!(
                "the server's latest checkpoint has only {} entries: the log was rolled back",
                cp.size
            ),
        );
    }

    // Every earlier checkpoint: each must carry a trusted signature and
    // sign the root of the entries as they are now (so no two checkpoints
    // contradict each other and none was rewritten).
    let history = match signed_history(&client, &trusted, cp.size).await? {
        Ok(h) => h,
        Err((place, reason)) => return failed(json, &place, &reason),
    };
    let mut next_cp = history.iter().peekable();
    let empty_root = Frontier::new().root();
    while let Some(c) = next_cp.next_if(|c| c.size == 0) {
        if c.root != empty_root {
            return failed(
                json,
                "checkpoint of size 0",
                "its root is not the empty tree's",
            );
        }
    }

    // Recompute the tree of the first `cp.size` entries.
    let mut frontier = Frontier::new();
    let mut bytes = 0u64;
    let mut start = 0u64;
    while frontier.size() < cp.size {
        let page = client
            .get(&format!("/v1/audit/entries?start={start}&limit=1000"))
            .await?;
        let list = page["entries"].as_array().cloned().unwrap_or_default();
        if list.is_empty() {
            break;
        }
        for e in &list {
            let seq = frontier.size();
            if seq == cp.size {
                break;
            }
            if e["seq"].as_u64() != Some(seq) {
                return failed(
                    json,
                    &format!("entry {seq}"),
                    &format!(
                        "missing: the server returned entry {} next (is this token restricted \
                         to its own entries?)",
                        e["seq"]
                    ),
                );
            }
            let entry = entry_bytes(&e["entry"])?;
            bytes += entry.len() as u64;
            let leaf = leaf_hash(&entry);
            if b64_hash(&e["leaf_hash"], "leaf_hash")? != leaf {
                return failed(
                    json,
                    &format!("entry {seq}"),
                    "the stored entry is not the canonical JSON it should be (it was changed)",
                );
            }
            frontier
                .append(leaf)
                .map_err(|e| anyhow!("tree computation failed: {e}"))?;
            while let Some(c) = next_cp.next_if(|c| c.size == frontier.size()) {
                if c.root != frontier.root() {
                    return failed(
                        json,
                        &format!("checkpoint of size {}", c.size),
                        "its signed root differs from the root of the first entries the server \
                         returned: the log was rewritten after it was signed",
                    );
                }
            }
            if let Some(s) = &since
                && s.size == frontier.size()
                && s.root != frontier.root()
            {
                return failed(
                    json,
                    &format!("the kept checkpoint (size {})", s.size),
                    "its root differs from the server's first entries: the log was rewritten \
                     since that checkpoint",
                );
            }
        }
        start = frontier.size();
    }
    if frontier.size() < cp.size {
        return failed(
            json,
            &format!("checkpoint of size {}", cp.size),
            &format!(
                "the server returned only {} entries: entries were removed",
                frontier.size()
            ),
        );
    }
    if frontier.root() != cp.root {
        return failed(
            json,
            &format!("checkpoint of size {}", cp.size),
            "its signed root differs from the root of the entries the server returned: an \
             entry was changed and the stored tree rewritten to match",
        );
    }
    if let Some(s) = &since {
        let proof = client
            .get(&format!(
                "/v1/audit/consistency?from={}&to={}",
                s.size, cp.size
            ))
            .await?;
        let hashes = proof["proof"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|h| b64_hash(h, "consistency proof"))
            .collect::<Result<Vec<_>>>()?;
        if let Err(e) = verify_consistency(s.size, cp.size, &s.root, &cp.root, &hashes) {
            return failed(
                json,
                &format!("the kept checkpoint (size {})", s.size),
                &format!("the server's consistency proof to size {}: {e}", cp.size),
            );
        }
    }
    if json {
        print_json(&json!({
            "ok": true,
            "server": args.remote.server,
            "checkpoints": history.len(),
            "entries": cp.size,
            "entry_bytes": bytes,
            "root": B64.encode(cp.root),
            "since": since.as_ref().map(|s| s.size),
        }))?;
    } else {
        println!("audit log at {} verified", args.remote.server);
        println!(
            "  {} entries ({bytes} bytes) recomputed; they match the signed checkpoint of size {}",
            cp.size, cp.size
        );
        println!(
            "  {} earlier signed checkpoints checked: each signature trusted, each root matches",
            history.len()
        );
        println!("  root {}", B64.encode(cp.root));
        if let Some(s) = &since {
            println!(
                "  consistent with the kept checkpoint of size {}: the log only grew",
                s.size
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The server's checkpoints up to `max_size`, oldest first, each opened with
/// the trusted keys. `Err((place, reason))` names the first bad one.
async fn signed_history(
    client: &Client,
    trusted: &[Verifier],
    max_size: u64,
) -> Result<Result<Vec<Checkpoint>, (String, String)>> {
    let mut out: Vec<Checkpoint> = Vec::new();
    let mut from = 0u64;
    loop {
        let page = client
            .get(&format!("/v1/audit/checkpoints?from={from}&limit=1000"))
            .await?;
        let list = page["checkpoints"].as_array().cloned().unwrap_or_default();
        for c in &list {
            let size = c["size"].as_u64().unwrap_or(0);
            if size > max_size {
                return Ok(Ok(out));
            }
            let place = format!("checkpoint of size {size}");
            let Some(note) = c["note"].as_str() else {
                return Ok(Err((place, "the server sent no note".into())));
            };
            let opened = match Checkpoint::open(note.as_bytes(), trusted) {
                Ok(cp) => cp,
                Err(e) => return Ok(Err((place, format!("its signature: {e}")))),
            };
            if opened.size != size || out.last().is_some_and(|p| p.size >= size) {
                return Ok(Err((place, "checkpoints are out of order".into())));
            }
            out.push(opened);
        }
        match page["next_from"].as_u64() {
            Some(n) if n > from => from = n,
            _ => return Ok(Ok(out)),
        }
    }
}
