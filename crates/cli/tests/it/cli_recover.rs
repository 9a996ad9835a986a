//! Holding the data directory is enough to get back in: `admin recover`
//! mints an administrator token offline, audited, and only while no server
//! runs on the directory. And a mistyped `--data-dir` never starts a new,
//! empty instance with a new administrator.

use crate::common::{BIN, Server, free_port};
use std::process::{Command, Output};

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn recover(s: &Server, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(["admin", "recover", "--data-dir"])
        .arg(s.data_dir())
        .args(extra)
        .env_remove("COUNTERSIGN_DATA_DIR")
        .output()
        .unwrap()
}

fn token_in(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|w| w.starts_with("cs_"))
        .unwrap_or_else(|| panic!("no token in {}", text(out)))
        .to_owned()
}

#[tokio::test]
async fn admin_recover_mints_an_audited_admin_token_only_while_no_server_runs() {
    let mut s = Server::start();
    s.principal("alice", "user", &["engineer"], None).await;

    // While the server holds the directory, recovery is refused and writes nothing.
    let out = recover(&s, &["--reason", "lost the token, OPS-7"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("in use by another countersign process"),
        "{}",
        text(&out)
    );
    let tokens_before = s.admin().get("/v1/tokens").await.1["tokens"]
        .as_array()
        .unwrap()
        .len();

    s.stop();
    // A reason is required: it goes into the audit log.
    let out = recover(&s, &["--reason", " "]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // Not for someone who is not an administrator.
    let out = recover(&s, &["--principal", "alice", "--reason", "x"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("`alice` is not an administrator"),
        "{}",
        text(&out)
    );

    let out = recover(&s, &["--reason", "lost the token, OPS-7"]);
    assert!(out.status.success(), "{}", text(&out));
    let token = token_in(&out);
    let out = recover(
        &s,
        &[
            "--principal",
            "ada",
            "--expires-in",
            "1h",
            "--reason",
            "second admin",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Created administrator `ada`"),
        "{}",
        text(&out)
    );
    let ada = token_in(&out);

    s.spawn();
    // The recovered tokens are administrators' tokens.
    for t in [&token, &ada] {
        let (st, v) = s.client(t).get("/v1/tokens").await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["tokens"].as_array().unwrap().len(), tokens_before + 2);
    }
    // The log says who minted them: nobody signed in, offline, and why.
    let created = s.admin().audit("token.created").await;
    let recovered: Vec<_> = created
        .iter()
        .filter(|e| {
            e["detail"]["label"]
                .as_str()
                .is_some_and(|l| l.starts_with("admin recover (offline, by "))
        })
        .collect();
    assert_eq!(recovered.len(), 2, "{created:?}");
    assert!(recovered.iter().all(|e| e["principal"].is_null()));
    assert!(
        recovered[0]["detail"]["label"]
            .as_str()
            .unwrap()
            .ends_with(": lost the token, OPS-7")
    );
    assert_eq!(recovered[0]["detail"]["for"], "admin");
    assert!(recovered[1]["detail"]["expires_at"].is_string());
    let ada_created = s.admin().audit("principal.created").await;
    assert!(
        ada_created
            .iter()
            .any(|e| e["detail"]["name"] == "ada" && e["detail"]["groups"][0] == "admin"),
        "{ada_created:?}"
    );
    // And the log still verifies: the recovery appended to it properly.
    let out = s.cli(
        &token,
        &["audit", "verify", "--online", "--key", &s.verifier_key],
    );
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn serve_refuses_a_data_dir_that_does_not_exist_unless_told_to_create_it() {
    let parent = tempfile::tempdir().unwrap();
    let typo = parent.path().join("countersgn-data");
    let serve = |extra: &[&str]| {
        Command::new(BIN)
            .args(["serve", "--data-dir"])
            .arg(&typo)
            .args(["--listen", &format!("127.0.0.1:{}", free_port())])
            .args(extra)
            .env("COUNTERSIGN_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = serve(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("is the path mistyped?"),
        "{}",
        text(&out)
    );
    assert!(!typo.exists(), "nothing was created");

    // A directory with other files is not ours to fill, --init or not.
    std::fs::create_dir(&typo).unwrap();
    std::fs::write(typo.join("notes.txt"), "mine").unwrap();
    let out = serve(&["--init"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("has files but no countersign.toml"),
        "{}",
        text(&out)
    );
    assert!(!typo.join("countersign.toml").exists());
}
