//! `countersign audit verify` against real data directories written by a
//! served instance: intact, then tampered with in each way the issue
//! lists (each on its own copy of the same log), offline and online.
//! Every failure must exit 1 and name the right entry, node or checkpoint.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failed step should fail the test loudly"
)]

use crate::common::{BIN, Server};
use countersign_tlog::{Checkpoint, Signer, Verifier};
use rusqlite::{Connection, params};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `n` decisions by the admin, a few at a time.
async fn decisions(s: &Server, n: usize) {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let api = s.admin();
        set.spawn(async move {
            api.decide("sql.read", "Table", &format!("t{i}"), "dev", json!({}))
                .await
        });
        if set.len() >= 8 {
            set.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            // Keeps permissions, so the signing key stays 0600.
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// `countersign audit verify` with only the given arguments (no server,
/// no token, no data dir from the environment).
fn verify(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("audit")
        .arg("verify")
        .args(args)
        .env_remove("COUNTERSIGN_DATA_DIR")
        .env_remove("COUNTERSIGN_TOKEN")
        .env_remove("COUNTERSIGN_VERIFIER_KEY")
        .output()
        .unwrap()
}

fn verify_dir(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["--data-dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    verify(&args)
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[track_caller]
fn assert_fails_at(o: &Output, place: &str) {
    assert_eq!(o.status.code(), Some(1), "{}", text(o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("FAILED at {place}:")),
        "expected the failure at `{place}`: {}",
        text(o)
    );
}

#[track_caller]
fn assert_passes(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "{}", text(o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("verified"),
        "{}",
        text(o)
    );
}

/// A log built in two served sessions (each shutdown signs a checkpoint),
/// a copy of the data directory between them, and the final checkpoint
/// note as someone outside would have kept it.
struct Fixture {
    server: Server,
    early: tempfile::TempDir,
    kept: PathBuf,
    checkpoints: Vec<u64>,
    size: u64,
}

impl Fixture {
    async fn build() -> Fixture {
        let mut server = Server::start();
        decisions(&server, 30).await;
        server.stop();
        let early = tempfile::tempdir().unwrap();
        copy_dir(server.data_dir(), early.path());
        server.spawn();
        decisions(&server, 30).await;
        server.stop();
        let c = Connection::open(server.data_dir().join("countersign.db")).unwrap();
        let checkpoints: Vec<u64> = c
            .prepare("SELECT size FROM audit_checkpoints ORDER BY size")
            .unwrap()
            .query_map([], |r| r.get::<_, i64>(0))
            .unwrap()
            .map(|s| s.unwrap() as u64)
            .collect();
        let size: i64 = c
            .query_row("SELECT count(*) FROM audit_entries", [], |r| r.get(0))
            .unwrap();
        let note: String = c
            .query_row(
                "SELECT note FROM audit_checkpoints ORDER BY size DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let kept = early.path().join("kept-checkpoint.txt");
        std::fs::write(&kept, note).unwrap();
        Fixture {
            server,
            early,
            kept,
            checkpoints,
            size: size as u64,
        }
    }

    /// A fresh copy of the final data directory to tamper with.
    fn copy(&self) -> (tempfile::TempDir, Connection) {
        let d = tempfile::tempdir().unwrap();
        copy_dir(self.server.data_dir(), d.path());
        let c = Connection::open(d.path().join("countersign.db")).unwrap();
        (d, c)
    }
}

fn entry(c: &Connection, seq: i64) -> Vec<u8> {
    c.query_row(
        "SELECT entry FROM audit_entries WHERE seq = ?1",
        [seq],
        |r| r.get(0),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_caught_and_located() {
    let f = Fixture::build().await;
    assert!(f.size > 60, "log too small: {}", f.size);
    assert!(f.checkpoints.len() >= 2, "checkpoints: {:?}", f.checkpoints);

    // Intact: passes, and says what it covered.
    let o = verify_dir(f.server.data_dir(), &[]);
    assert_passes(&o);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("{} entries", f.size)),
        "{}",
        text(&o)
    );

    // A byte of an entry.
    let (d, c) = f.copy();
    let mut e = entry(&c, 17);
    let at = e.len() - 3;
    e[at] ^= 0x20;
    c.execute("UPDATE audit_entries SET entry = ?1 WHERE seq = 17", [e])
        .unwrap();
    assert_fails_at(&verify_dir(d.path(), &[]), "entry 17");

    // A deleted entry.
    let (d, c) = f.copy();
    c.execute("DELETE FROM audit_entries WHERE seq = 33", [])
        .unwrap();
    assert_fails_at(&verify_dir(d.path(), &[]), "entry 33");

    // An inserted entry (later ones renumbered to make room).
    let (d, c) = f.copy();
    c.execute_batch(
        "UPDATE audit_entries SET seq = seq + 1000000 WHERE seq >= 20;
         UPDATE audit_entries SET seq = seq - 999999 WHERE seq >= 1000000;",
    )
    .unwrap();
    c.execute(
        "INSERT INTO audit_entries (seq, time, type, entry) VALUES (20, 0, 'decision', ?1)",
        [br#"{"seq":20,"type":"decision","verdict":"allow"}"#.to_vec()],
    )
    .unwrap();
    assert_fails_at(&verify_dir(d.path(), &[]), "entry 20");

    // Two entries swapped.
    let (d, c) = f.copy();
    let (a, b) = (entry(&c, 5), entry(&c, 9));
    c.execute("UPDATE audit_entries SET entry = ?1 WHERE seq = 5", [b])
        .unwrap();
    c.execute("UPDATE audit_entries SET entry = ?1 WHERE seq = 9", [a])
        .unwrap();
    assert_fails_at(&verify_dir(d.path(), &[]), "entry 5");

    // A stored interior hash.
    let (d, c) = f.copy();
    c.execute(
        "UPDATE audit_nodes SET hash = zeroblob(32) WHERE level = 2 AND idx = 3",
        [],
    )
    .unwrap();
    assert_fails_at(
        &verify_dir(d.path(), &[]),
        "tree node at level 2, index 3 (entries 12..16)",
    );

    // A checkpoint re-signed with another key.
    let (d, c) = f.copy();
    let first = f.checkpoints[0] as i64;
    let note: String = c
        .query_row(
            "SELECT note FROM audit_checkpoints WHERE size = ?1",
            [first],
            |r| r.get(0),
        )
        .unwrap();
    let body = Checkpoint::parse(&format!("{}\n", note.split("\n\n").next().unwrap())).unwrap();
    let mallory = Signer::generate(&body.origin).unwrap();
    c.execute(
        "UPDATE audit_checkpoints SET note = ?1 WHERE size = ?2",
        params![body.sign(&mallory).unwrap(), first],
    )
    .unwrap();
    let o = verify_dir(d.path(), &[]);
    assert_fails_at(&o, &format!("checkpoint of size {first}"));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not signed by a trusted key"));

    // Rolled back: the earlier copy is self-consistent, so only a
    // checkpoint kept from the later state can show it.
    let (d, c) = f.copy();
    drop(c);
    for ext in ["", "-wal", "-shm"] {
        let name = format!("countersign.db{ext}");
        let _ = std::fs::remove_file(d.path().join(&name));
        if f.early.path().join(&name).exists() {
            std::fs::copy(f.early.path().join(&name), d.path().join(&name)).unwrap();
        }
    }
    assert_passes(&verify_dir(d.path(), &[]));
    let kept = f.kept.to_str().unwrap();
    let o = verify_dir(d.path(), &["--since", kept]);
    assert_fails_at(&o, &format!("the kept checkpoint (size {})", f.size));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("rolled back"),
        "{}",
        text(&o)
    );

    // The intact log extends the kept checkpoint.
    assert_passes(&verify_dir(f.server.data_dir(), &["--since", kept]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_keys_are_trusted_with_key_after_rotation() {
    let mut s = Server::start();
    decisions(&s, 5).await;
    s.stop();
    // Rotate: a new signing key for the data directory.
    let key_path = s.data_dir().join("keys/audit.key");
    let old = Verifier::from_key(&s.verifier_key).unwrap();
    let new = Signer::generate(old.name()).unwrap();
    std::fs::write(&key_path, format!("{}\n", new.to_private_key())).unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    s.spawn();
    decisions(&s, 5).await;
    s.stop();
    let o = verify_dir(s.data_dir(), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_passes(&verify_dir(s.data_dir(), &["--key", &s.verifier_key]));
}

/// `countersign audit verify --online` against a served instance.
fn online(s: &Server, args: &[&str], data_dir: bool) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(["audit", "verify", "--online"])
        .args(args)
        .env("COUNTERSIGN_SERVER", &s.url)
        .env("COUNTERSIGN_TOKEN", &s.admin_token)
        .env_remove("COUNTERSIGN_VERIFIER_KEY");
    if data_dir {
        cmd.env("COUNTERSIGN_DATA_DIR", s.data_dir());
    } else {
        cmd.env_remove("COUNTERSIGN_DATA_DIR");
    }
    cmd.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_verify_of_a_served_instance() {
    let s = Server::start();
    decisions(&s, 25).await;
    // Keep today's checkpoint, as a witness would.
    let (st, cp) = s.admin().get("/v1/audit/checkpoint").await;
    assert_eq!(st, 200, "{cp}");
    let kept = s.data_dir().join("kept.txt");
    std::fs::write(&kept, cp["note"].as_str().unwrap()).unwrap();
    decisions(&s, 10).await;

    // Trusted through the data directory's key.
    let o = online(&s, &[], true);
    assert_passes(&o);
    // Trusted through --key, without access to the data directory.
    assert_passes(&online(&s, &["--key", &s.verifier_key], false));
    // The log only grew since the kept checkpoint.
    assert_passes(&online(
        &s,
        &["--key", &s.verifier_key, "--since", kept.to_str().unwrap()],
        false,
    ));
    // Offline verification of the live data directory works too.
    assert_passes(&s.cli(&s.admin_token, &["audit", "verify"]));

    // No trusted key: refuse, rather than trust what the server says.
    let o = online(&s, &[], false);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no trusted key"), "{err}");
    assert!(
        err.contains(&s.verifier_key),
        "names the advertised key: {err}"
    );
    // A key that did not sign the log.
    let other = Signer::generate("countersign.local/audit")
        .unwrap()
        .verifier()
        .to_key();
    let o = online(&s, &["--key", &other], false);
    assert_fails_at(&o, "the server's latest checkpoint");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not among the keys you trust"),
        "{}",
        text(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_verify_names_a_changed_entry() {
    let mut s = Server::start();
    decisions(&s, 10).await;
    s.stop();
    // Change an entry so that it is no longer canonical JSON.
    let c = Connection::open(s.data_dir().join("countersign.db")).unwrap();
    let seq: i64 = c
        .query_row(
            "SELECT seq FROM audit_entries WHERE type = 'decision' ORDER BY seq LIMIT 1 OFFSET 3",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let e = String::from_utf8(entry(&c, seq)).unwrap();
    let forged = e.replacen("\"dev\"", "\"prod\" ", 1);
    assert_ne!(e, forged);
    c.execute(
        "UPDATE audit_entries SET entry = ?1 WHERE seq = ?2",
        params![forged.into_bytes(), seq],
    )
    .unwrap();
    drop(c);
    s.spawn();
    assert_fails_at(
        &online(&s, &["--key", &s.verifier_key], false),
        &format!("entry {seq}"),
    );
}

/// `--online` checks every stored checkpoint, not only the latest: a
/// checkpoint whose signature no longer holds, and one that an insider
/// with the key re-signed over a different root (as after rewriting
/// history), are each named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_verify_checks_every_checkpoint() {
    // Checkpoints are signed on a cadence: wait for one past `min`.
    async fn checkpoint_past(s: &Server, min: u64) -> u64 {
        for _ in 0..100 {
            let (st, cp) = s.admin().get("/v1/audit/checkpoint").await;
            assert_eq!(st, 200, "{cp}");
            let size = cp["size"].as_u64().unwrap();
            if size > min {
                return size;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("no checkpoint past size {min} within 10 s");
    }
    let mut s = Server::start();
    decisions(&s, 6).await;
    let first_size = checkpoint_past(&s, 0).await;
    decisions(&s, 6).await;
    checkpoint_past(&s, first_size).await;
    let (st, list) = s.admin().get("/v1/audit/checkpoints?limit=1000").await;
    assert_eq!(st, 200, "{list}");
    let sizes: Vec<u64> = list["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["size"].as_u64().unwrap())
        .collect();
    assert!(sizes.contains(&first_size), "{sizes:?}");
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    let o = online(&s, &["--key", &s.verifier_key, "--json"], false);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["checkpoints"].as_u64(), Some(sizes.len() as u64));
    s.stop();

    let db = s.data_dir().join("countersign.db");
    let original: String = Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT note FROM audit_checkpoints WHERE size = ?1",
            [first_size as i64],
            |r| r.get(0),
        )
        .unwrap();
    let body = Checkpoint::parse(&format!("{}\n", original.split("\n\n").next().unwrap())).unwrap();
    let mut other_root = body.clone();
    other_root.root = [7u8; 32];
    let set_note = |note: &str| {
        Connection::open(&db)
            .unwrap()
            .execute(
                "UPDATE audit_checkpoints SET note = ?1 WHERE size = ?2",
                params![note, first_size as i64],
            )
            .unwrap();
    };

    // A byte of the stored note changed: its signature fails.
    let unsigned = original.replacen(&body.to_note_text(), &other_root.to_note_text(), 1);
    assert_ne!(unsigned, original);
    set_note(&unsigned);
    s.spawn();
    let o = online(&s, &["--key", &s.verifier_key], false);
    assert_fails_at(&o, &format!("checkpoint of size {first_size}"));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("signature"),
        "{}",
        text(&o)
    );
    s.stop();

    // Signed with the real key over another root: the log's entries no
    // longer match what was signed then.
    let key = std::fs::read_to_string(s.data_dir().join("keys/audit.key")).unwrap();
    let signer = Signer::from_private_key(key.trim()).unwrap();
    set_note(&other_root.sign(&signer).unwrap());
    s.spawn();
    let o = online(&s, &["--key", &s.verifier_key], false);
    assert_fails_at(&o, &format!("checkpoint of size {first_size}"));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("rewritten after it was signed"),
        "{}",
        text(&o)
    );
}
