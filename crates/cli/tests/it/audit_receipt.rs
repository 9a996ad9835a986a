//! Receipts: an entry's receipt from a served instance verifies offline
//! with nothing but the public key `init` printed, and stops verifying when
//! the entry or the proof is altered; `countersign audit receipt` checks
//! the same, and refuses an altered receipt served by a lying server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failed step should fail the test loudly"
)]

use crate::common::{BIN, Server};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use countersign_tlog::{Checkpoint, Verifier, canonicalize, leaf_hash, verify_inclusion};
use serde_json::{Value, json};
use std::process::{Command, Output};

/// A third party's check: only the receipt JSON and the public key.
fn verify_offline(receipt: &Value, public_key: &str) -> Result<(), String> {
    let key = Verifier::from_key(public_key).map_err(|e| e.to_string())?;
    let r = &receipt["receipt"];
    let cp = Checkpoint::open(r["checkpoint"]["note"].as_str().unwrap().as_bytes(), &[key])
        .map_err(|e| format!("checkpoint: {e}"))?;
    let seq = r["index"].as_u64().unwrap();
    if receipt["seq"].as_u64() != Some(seq) || r["tree_size"].as_u64() != Some(cp.size) {
        return Err("receipt fields disagree".into());
    }
    let entry = canonicalize(&receipt["entry"]).map_err(|e| e.to_string())?;
    let proof: Vec<[u8; 32]> = r["inclusion_proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            B64.decode(h.as_str().unwrap())
                .map_err(|e| e.to_string())?
                .try_into()
                .map_err(|_| "proof element is not 32 bytes".to_owned())
        })
        .collect::<Result<_, _>>()?;
    verify_inclusion(&leaf_hash(&entry), seq, cp.size, &proof, &cp.root)
        .map_err(|e| format!("inclusion: {e}"))
}

async fn served_with_decisions() -> (Server, Vec<u64>) {
    let s = Server::start();
    let mut seqs = Vec::new();
    for i in 0..12 {
        let d = s
            .admin()
            .decide("sql.read", "Table", &format!("t{i}"), "dev", json!({}))
            .await;
        seqs.push(
            d["audit_seq"]
                .as_u64()
                .unwrap_or_else(|| panic!("no audit_seq: {d}")),
        );
    }
    (s, seqs)
}

fn flip_b64(s: &str) -> String {
    let mut raw = B64.decode(s).unwrap();
    raw[0] ^= 1;
    B64.encode(raw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_verify_offline_with_only_the_public_key() {
    let (s, seqs) = served_with_decisions().await;
    for &seq in seqs.iter().chain([0u64].iter()) {
        let (st, v) = s.admin().get(&format!("/v1/audit/entries/{seq}")).await;
        assert_eq!(st, 200, "{v}");
        verify_offline(&v, &s.verifier_key).unwrap_or_else(|e| panic!("seq {seq}: {e}"));
    }

    let (_, good) = s
        .admin()
        .get(&format!("/v1/audit/entries/{}", seqs[5]))
        .await;
    assert!(
        !good["receipt"]["inclusion_proof"]
            .as_array()
            .unwrap()
            .is_empty(),
        "a non-trivial proof"
    );
    // Any altered proof element fails.
    for i in 0..good["receipt"]["inclusion_proof"].as_array().unwrap().len() {
        let mut bad = good.clone();
        let h = bad["receipt"]["inclusion_proof"][i]
            .as_str()
            .unwrap()
            .to_owned();
        bad["receipt"]["inclusion_proof"][i] = json!(flip_b64(&h));
        assert!(
            verify_offline(&bad, &s.verifier_key).is_err(),
            "proof element {i}"
        );
    }
    // A dropped proof element fails.
    let mut bad = good.clone();
    bad["receipt"]["inclusion_proof"]
        .as_array_mut()
        .unwrap()
        .pop();
    assert!(verify_offline(&bad, &s.verifier_key).is_err());
    // An altered entry fails.
    let mut bad = good.clone();
    bad["entry"]["verdict"] = json!("allow-everything");
    assert!(verify_offline(&bad, &s.verifier_key).is_err());
    let mut bad = good.clone();
    bad["entry"]["environment"] = json!("prod");
    assert!(verify_offline(&bad, &s.verifier_key).is_err());
    // Another entry's receipt does not prove this position.
    let mut bad = good.clone();
    bad["seq"] = json!(seqs[6]);
    bad["receipt"]["index"] = json!(seqs[6]);
    assert!(verify_offline(&bad, &s.verifier_key).is_err());
    // An altered checkpoint root fails (its signature no longer matches).
    let mut bad = good.clone();
    let note = bad["receipt"]["checkpoint"]["note"]
        .as_str()
        .unwrap()
        .to_owned();
    let root = good["receipt"]["checkpoint"]["root"].as_str().unwrap();
    bad["receipt"]["checkpoint"]["note"] = json!(note.replace(root, &flip_b64(root)));
    assert!(verify_offline(&bad, &s.verifier_key).is_err());
    // Another key does not verify it.
    let other = countersign_tlog::Signer::generate("countersign.local/audit")
        .unwrap()
        .verifier()
        .to_key();
    assert!(verify_offline(&good, &other).is_err());
}

fn receipt_cli(server: &str, seq: u64, key: &str) -> Output {
    Command::new(BIN)
        .args(["audit", "receipt", &seq.to_string()])
        .env("COUNTERSIGN_SERVER", server)
        .env("COUNTERSIGN_TOKEN", "cs_test")
        .env("COUNTERSIGN_VERIFIER_KEY", key)
        .env_remove("COUNTERSIGN_DATA_DIR")
        .output()
        .unwrap()
}

/// Serves one fixed (altered) receipt for any entry, as a lying server would.
async fn lying_server(body: Value) -> String {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/v1/audit/entries/{seq}",
        get(move || {
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_command_verifies_and_refuses_altered_receipts() {
    let (s, seqs) = served_with_decisions().await;
    let seq = seqs[3];
    // Through the harness: trusted via the data directory's key.
    let o = s.cli(&s.admin_token, &["audit", "receipt", &seq.to_string()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains(&format!("verified: entry {seq}")), "{out}");
    assert!(
        out.contains("\"action\": \"sql.read\""),
        "prints the entry: {out}"
    );

    // The API needs a token even to read receipts.
    let url = s.url.clone();
    let key = s.verifier_key.clone();
    let o = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["audit", "receipt", &seq.to_string()])
            .env("COUNTERSIGN_SERVER", url)
            .env("COUNTERSIGN_TOKEN", "x")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!o.status.success(), "no token, no receipt");
    let (_, good) = s.admin().get(&format!("/v1/audit/entries/{seq}")).await;

    // With only the public key: an unaltered receipt verifies, and a
    // server that alters the entry or the proof is caught.
    let mut altered_entry = good.clone();
    altered_entry["entry"]["verdict"] = json!("allow");
    altered_entry["entry"]["resource"]["id"] = json!("payroll");
    let mut altered_proof = good.clone();
    let h = altered_proof["receipt"]["inclusion_proof"][0]
        .as_str()
        .unwrap()
        .to_owned();
    altered_proof["receipt"]["inclusion_proof"][0] = json!(flip_b64(&h));
    for (what, body) in [
        ("entry", altered_entry),
        ("proof", altered_proof),
        ("nothing", good),
    ] {
        let url = lying_server(body).await;
        let key = key.clone();
        let o = tokio::task::spawn_blocking(move || receipt_cli(&url, seq, &key))
            .await
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        if what == "nothing" {
            assert!(o.status.success(), "an unaltered receipt verifies: {err}");
        } else {
            assert_eq!(o.status.code(), Some(1), "altered {what}: {err}");
            assert!(err.contains("does NOT verify"), "altered {what}: {err}");
        }
    }

    // Without any trusted key the command refuses instead of trusting the
    // server's own key.
    let url = s.url.clone();
    let token = s.admin_token.clone();
    let o = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["audit", "receipt", &seq.to_string()])
            .env("COUNTERSIGN_SERVER", url)
            .env("COUNTERSIGN_TOKEN", token)
            .env_remove("COUNTERSIGN_DATA_DIR")
            .env_remove("COUNTERSIGN_VERIFIER_KEY")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no trusted key"));
}

/// A receipt fetched once (`--save`) is checked later with only the public
/// key (`--file --key`), with no server running; an edited file fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_receipt_verifies_offline_with_key_flag() {
    let (mut s, seqs) = served_with_decisions().await;
    let seq = seqs[2];
    let saved = s.data_dir().join("receipt.json");
    let cmd = |args: Vec<String>, url: String, token: String| {
        tokio::task::spawn_blocking(move || {
            Command::new(BIN)
                .args(&args)
                .env("COUNTERSIGN_SERVER", url)
                .env("COUNTERSIGN_TOKEN", token)
                .env_remove("COUNTERSIGN_DATA_DIR")
                .env_remove("COUNTERSIGN_VERIFIER_KEY")
                .output()
                .unwrap()
        })
    };
    let o = cmd(
        vec![
            "audit".into(),
            "receipt".into(),
            seq.to_string(),
            "--key".into(),
            s.verifier_key.clone(),
            "--save".into(),
            saved.display().to_string(),
        ],
        s.url.clone(),
        s.admin_token.clone(),
    )
    .await
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    s.stop();

    // The server is gone: the file and the key are enough.
    let offline = |file: String| {
        cmd(
            vec![
                "audit".into(),
                "receipt".into(),
                "--file".into(),
                file,
                "--key".into(),
                s.verifier_key.clone(),
            ],
            "http://127.0.0.1:9".into(),
            String::new(),
        )
    };
    let o = offline(saved.display().to_string()).await.unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains(&format!("verified: entry {seq}")), "{out}");

    // An edited receipt does not verify.
    let mut v: Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
    v["entry"]["environment"] = json!("staging");
    let edited = s.data_dir().join("edited.json");
    std::fs::write(&edited, serde_json::to_vec(&v).unwrap()).unwrap();
    let o = offline(edited.display().to_string()).await.unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does NOT verify"));

    // Not a receipt at all: a clear error, not a verification.
    std::fs::write(&edited, b"{\"hello\": 1}").unwrap();
    let o = offline(edited.display().to_string()).await.unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not a receipt"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
