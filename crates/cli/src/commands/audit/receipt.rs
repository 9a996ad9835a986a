//! `countersign audit receipt SEQ`: fetch an entry with its receipt and
//! check it as a third party would, with only a trusted public key: the
//! checkpoint's signature, then the entry's inclusion proof against the
//! checkpoint's root.

use super::{VERIFIER_KEY_ENV, b64_hash, data_dir_key, entry_bytes, given_keys};
use crate::cli::Remote;
use crate::client::{Client, print_json};
use crate::exit;
use anyhow::{Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use countersign_tlog::{Checkpoint, Verifier, leaf_hash, verify_inclusion};
use serde_json::{Value, json};
use std::process::ExitCode;

/// `$COUNTERSIGN_VERIFIER_KEY`, and the key of `$COUNTERSIGN_DATA_DIR`
/// when that is set and readable.
fn trusted(advertised: &str) -> Result<Vec<Verifier>> {
    let mut keys = given_keys(&[])?;
    if let Some(dir) = std::env::var_os("COUNTERSIGN_DATA_DIR")
        && let Ok((_, k)) = data_dir_key(std::path::Path::new(&dir))
    {
        keys.push(k);
    }
    if keys.is_empty() {
        bail!(
            "no trusted key: set {VERIFIER_KEY_ENV} to the log's verifier key (or \
             COUNTERSIGN_DATA_DIR on the server's host). The server advertises `{advertised}`, \
             but a receipt checked with the server's own word for its key proves nothing: \
             compare it with the key published when the log was created"
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

pub async fn run(seq: u64, remote: &Remote) -> Result<ExitCode> {
    let client = Client::new(remote)?;
    let v = client.get(&format!("/v1/audit/entries/{seq}")).await?;
    let advertised = v["receipt"]["verifier_key"].as_str().unwrap_or("nothing");
    let keys = trusted(advertised)?;
    match check(&v, seq, &keys) {
        Ok(cp) => {
            if remote.json {
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
            if remote.json {
                print_json(&json!({"verified": false, "seq": seq, "reason": reason}))?;
            }
            eprintln!("receipt for entry {seq} does NOT verify: {reason}");
            Ok(ExitCode::from(exit::CHECK_FAILED))
        }
    }
}
