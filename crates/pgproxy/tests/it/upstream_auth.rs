//! The proxy authenticates to an upstream that demands SCRAM-SHA-256 with
//! the target's injected password; clients never learn it. A private
//! PostgreSQL cluster (initdb, as the `postgres` user) stands in for a
//! production server with password authentication.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use countersign_core::governor::{GovernorConfig, NewPrincipal};
use countersign_core::policy::PolicySet;
use countersign_core::{Governor, PrincipalKind};
use countersign_pgproxy::{PgProxy, ProxySection};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

const PASSWORD: &str = "scram-Only-Secret-91c2e";

struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D"])
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pg_bin() -> PathBuf {
    let v = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries are not installed")
        .flatten()
        .map(|e| e.path())
        .max()
        .unwrap();
    v.join("bin")
}

fn run_as_postgres(bin: &Path, args: &[&str]) {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        bin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A cluster that only accepts SCRAM-SHA-256 over TCP.
fn scram_cluster() -> Cluster {
    let bin = pg_bin();
    let mut id = [0u8; 4];
    getrandom::fill(&mut id).unwrap();
    let dir = PathBuf::from(format!("/tmp/cs-pg-scram-{}", hex::encode(id)));
    std::fs::create_dir_all(&dir).unwrap();
    Command::new("chown")
        .args(["postgres:postgres"])
        .arg(&dir)
        .status()
        .unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let data = dir.join("data");
    let pwfile = dir.join("pw");
    std::fs::write(&pwfile, PASSWORD).unwrap();
    Command::new("chown")
        .args(["postgres:postgres"])
        .arg(&pwfile)
        .status()
        .unwrap();
    run_as_postgres(
        &bin.join("initdb"),
        &[
            "-D",
            data.to_str().unwrap(),
            "-U",
            "app",
            "--pwfile",
            pwfile.to_str().unwrap(),
            "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        ],
    );
    run_as_postgres(
        &bin.join("pg_ctl"),
        &[
            "-D",
            data.to_str().unwrap(),
            "-o",
            &format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                dir.display()
            ),
            "-l",
            dir.join("log").to_str().unwrap(),
            "-w",
            "start",
        ],
    );
    Cluster { dir, bin, port }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_logs_in_with_scram_and_the_password_stays_secret() {
    let cluster = scram_cluster();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(countersign_store::SqliteStore::open(&dir.path().join("cs.db")).unwrap());
    let governor = Arc::new(
        Governor::open(
            store,
            PolicySet::starter().unwrap(),
            GovernorConfig::default(),
        )
        .await
        .unwrap(),
    );
    governor
        .add_principal(
            None,
            NewPrincipal {
                name: "alice".into(),
                kind: PrincipalKind::User,
                groups: vec!["engineer".into()],
                owner: None,
                email: None,
            },
            None,
        )
        .await
        .unwrap();
    let token = governor
        .create_token(None, "alice", None, None, None)
        .await
        .unwrap()
        .value;
    let pw_file = dir.path().join("app-password");
    std::fs::write(&pw_file, format!("{PASSWORD}\n")).unwrap();
    let mut targets = BTreeMap::new();
    targets.insert(
        "app".to_owned(),
        toml::from_str(&format!(
            r#"host = "127.0.0.1"
               port = {}
               database = "postgres"
               environment = "dev"
               user = "app"
               password_file = "{}""#,
            cluster.port,
            pw_file.display()
        ))
        .unwrap(),
    );
    let config = ProxySection {
        listen: "127.0.0.1:0".into(),
        tls_cert: None,
        tls_key: None,
        approval_wait_secs: Some(5),
        max_message_bytes: None,
        targets,
    }
    .validate(dir.path())
    .unwrap();
    let proxy = PgProxy::new(governor, config).unwrap();
    let listener = proxy.bind().await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(proxy.serve(listener, std::future::pending()));

    let out = tokio::process::Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={port} dbname=app user=alice sslmode=require"
        ))
        .args([
            "-X",
            "-At",
            "-c",
            "SELECT current_user",
            "-c",
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'app'",
        ])
        .env("PGPASSWORD", &token)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.starts_with("app\n"), "{stdout} {stderr}");
    // Even the stored verifier is not the password.
    assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD));
}
