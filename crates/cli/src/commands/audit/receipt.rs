//! `countersign audit receipt SEQ`: fetch an entry with its receipt and
//! check it as a third party would, with only a trusted public key: the
//! checkpoint's signature, then the entry's inclusion proof against the
//! checkpoint's root.

use super::{VERIFIER_KEY_ENV, b64_hash, data_dir_key, entry_bytes, given_keys};
use crate::cli::Remote;
use crate::client::{Client, print_json};
use crate::exit;
use anyhow::{Context as _, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use countersign_tlog::{Checkpoint, Verifier, leaf_hash, verify_inclusion};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;

/// `--key`, `$COUNTERSIGN_VERIFIER_KEY`, and the key of
/// `$COUNTERSIGN_DATA_DIR` when that is set and readable.
fn trusted(flags: &[String], advertised: &str) -> Result<Vec<Verifier>> {
    let mut keys = given_keys(flags)?;
    if let Some(dir) = std::env::var_os("COUNTERSIGN_DATA_DIR")
        && let Ok((_, k)) = data_dir_key(std::path::Path::new(&dir))
    {
        keys.push(k);
    }
    if keys.is_empty() {
        bail!(
            "no trusted key: pass the log's verifier key with --key (or set \
             {VERIFIER_KEY_ENV}, or COUNTERSIGN_DATA_DIR on the server's host). The receipt \
             names `{advertised}`, but a receipt checked with the server's own word for its key \
             proves nothing: compare it with the key published when the log was created"
        );
    }
    Ok(keys)
}

/// Checks a receipt (the `GET /v1/audit/entries/{seq}` response) and
/// returns the checkpoint it is proven against.
pub fn check(v: &Value, seq: u64, keys: &[Verifier]) -> Result<Checkpoint, String> {
    let r = &v["receipt"];
    let note = r["checkpoint"]["note"]
        .as_str()
        .ok_or("the receipt has no checkpoint")?;
    let cp = Checkpoint::open(note.as_bytes(), keys)
        .map_err(|e| format!("its checkpoint does not verify: {e}"))?;
    if v["seq"].as_u64() != Some(seq) || r["index"].as_u64() != Some(seq) {
        return Err(format!(
            "the receipt is for entry {}, not {seq}",
            r["index"]
        ));
    }
    if r["tree_size"].as_u64() != Some(cp.size) {
        return Err("the receipt's tree size is not its checkpoint's".into());
    }
    let entry = entry_bytes(&v["entry"]).map_err(|e| e.to_string())?;
    let leaf = leaf_hash(&entry);
    let proof = r["inclusion_proof"]
        .as_array()
        .ok_or("the receipt has no inclusion proof")?
        .iter()
        .map(|h| b64_hash(h, "inclusion proof"))
        .collect::<Result<Vec<_>>>()
        .map_err(|e| e.to_string())?;
    verify_inclusion(&leaf, seq, cp.size, &proof, &cp.root).map_err(|_| {
        format!(
            "the entry is not proven to be entry {seq} of the signed log of size {}: the entry or \
             the proof was altered",
            cp.size
        )
    })?;
    Ok(cp)
}

pub struct Args {
    pub seq: Option<u64>,
    pub keys: Vec<String>,
    pub file: Option<PathBuf>,
    pub save: Option<PathBuf>,
    pub remote: Remote,
}

/// Receipts are small; a file much larger than one is not a receipt.
const MAX_RECEIPT_FILE: u64 = 1 << 20;

pub async fn run(args: Args) -> Result<ExitCode> {
    let (v, seq) = match (&args.file, args.seq) {
        (Some(path), _) => {
            let len = std::fs::metadata(path)
                .with_context(|| format!("cannot read `{}`", path.display()))?
                .len();
            if len > MAX_RECEIPT_FILE {
                bail!("`{}` is {len} bytes: not a receipt", path.display());
            }
            let text =
                std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
            let v: Value = serde_json::from_slice(&text)
                .with_context(|| format!("`{}` is not a JSON receipt", path.display()))?;
            let seq = v["seq"]
                .as_u64()
                .ok_or_else(|| anyhow!("`{}` has no `seq`: not a receipt", path.display()))?;
            (v, seq)
        }
        (None, Some(seq)) => {
            let client = Client::new(&args.remote)?;
            (client.get(&format!("/v1/audit/entries/{seq}")).await?, seq)
        }
        (None, None) => bail!("give an entry's sequence number or --file"),
    };
    let advertised = v["receipt"]["verifier_key"].as_str().unwrap_or("nothing");
    let keys = trusted(&args.keys, advertised)?;
    let json = args.remote.json;
    match check(&v, seq, &keys) {
        Ok(cp) => {
            if let Some(path) = &args.save {
                let text = serde_json::to_vec_pretty(&v)
                    .map_err(|e| anyhow!("cannot encode the receipt: {e}"))?;
                std::fs::write(path, text)
                    .with_context(|| format!("cannot write `{}`", path.display()))?;
            }
            if json {
                let mut out = v.clone();
                out["verified"] = json!(true);
                print_json(&out)?;
            } else {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&v["entry"])
                        .map_err(|e| anyhow!("cannot print the entry: {e}"))?
                );
                println!(
                    "verified: entry {seq} is in the log `{}` of size {} (root {}), signed by a \
                     trusted key",
                    cp.origin,
                    cp.size,
                    B64.encode(cp.root)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            if json {
                print_json(&json!({"verified": false, "seq": seq, "reason": reason}))?;
            }
            eprintln!("receipt for entry {seq} does NOT verify: {reason}");
            Ok(ExitCode::from(exit::CHECK_FAILED))
        }
    }
}
