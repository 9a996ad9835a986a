//! A Countersign governor in-process (SQLite store, starter policies), the
//! proxy in front of the machine's PostgreSQL, and a fresh database per
//! test with `customers` and `orders`. PostgreSQL is found or started;
//! tests never skip silently.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    reason = "test harness"
)]

use countersign_core::governor::{GovernorConfig, NewPrincipal, VoteInput};
use countersign_core::policy::PolicySet;
use countersign_core::{Governor, Principal, PrincipalKind, Store, VoteDecision};
use countersign_pgproxy::{PgProxy, ProxySection};
use countersign_store::{AuditFilter, SqliteStore};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Once};
use std::time::Duration;

pub const PG: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";
pub const DB_PASSWORD: &str = "upstream-Secret-7f3a9c";

static PG_UP: Once = Once::new();

/// Finds the machine's PostgreSQL on 127.0.0.1:5432, starting the cluster
/// if it is down. Panics if it cannot be had.
pub fn ensure_postgres() {
    PG_UP.call_once(|| {
        if std::net::TcpStream::connect("127.0.0.1:5432").is_ok() {
            return;
        }
        let versions = std::fs::read_dir("/etc/postgresql")
            .expect("PostgreSQL is not installed (/etc/postgresql missing)");
        for v in versions.flatten() {
            let v = v.file_name().to_string_lossy().into_owned();
            let _ = Command::new("pg_ctlcluster")
                .args(["--skip-systemctl-redirect", &v, "main", "start"])
                .status();
        }
        for _ in 0..60 {
            if std::net::TcpStream::connect("127.0.0.1:5432").is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("PostgreSQL did not come up on 127.0.0.1:5432");
    });
}

pub async fn pg(conn: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(conn, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {conn}: {e}"));
    tokio::spawn(connection);
    client
}

pub struct Env {
    pub governor: Arc<Governor>,
    pub store: Arc<SqliteStore>,
    pub addr: SocketAddr,
    pub db: String,
    pub tokens: HashMap<String, String>,
    pub principals: HashMap<String, Principal>,
    _dir: tempfile::TempDir,
}

pub struct Options {
    pub approval_wait_secs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            approval_wait_secs: 20,
        }
    }
}

impl Env {
    pub async fn start() -> Env {
        Env::start_with(Options::default()).await
    }

    pub async fn start_with(opts: Options) -> Env {
        ensure_postgres();
        let mut id = [0u8; 6];
        getrandom::fill(&mut id).unwrap();
        let db = format!("cs_pgproxy_{}", hex::encode(id));
        let admin = pg(PG).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .await
            .unwrap();
        let setup = pg(&format!(
            "host=127.0.0.1 port=5432 user=postgres dbname={db}"
        ))
        .await;
        setup
            .batch_execute(
                "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text, phone varchar(20), score int);
                 INSERT INTO customers VALUES
                   (1, 'Ada', 'ada@example.com', '555-0101', 10),
                   (2, 'Grace', 'grace@example.com', '555-0102', 20);
                 CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers(id), total numeric NOT NULL);
                 INSERT INTO orders (customer_id, total) VALUES (1, 10.50), (2, 20.00), (1, 5.25);
                 CREATE FUNCTION purge_orders() RETURNS int LANGUAGE sql VOLATILE AS $$ DELETE FROM orders RETURNING 1 $$;",
            )
            .await
            .unwrap();

        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("cs.db")).unwrap());
        let governor = Arc::new(
            Governor::open(
                store.clone(),
                PolicySet::starter().unwrap(),
                GovernorConfig::default(),
            )
            .await
            .unwrap(),
        );
        let people: [(&str, PrincipalKind, &[&str], Option<&str>); 6] = [
            ("alice", PrincipalKind::User, &["engineer"], None),
            ("rita", PrincipalKind::User, &["reviewer"], None),
            ("rob", PrincipalKind::User, &["reviewer"], None),
            ("vic", PrincipalKind::User, &[], None),
            ("bot", PrincipalKind::Agent, &[], Some("alice")),
            ("ops", PrincipalKind::User, &["admin"], None),
        ];
        let mut tokens = HashMap::new();
        let mut principals = HashMap::new();
        for (name, kind, groups, owner) in people {
            let p = governor
                .add_principal(
                    None,
                    NewPrincipal {
                        name: name.into(),
                        kind,
                        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
                        owner: owner.map(str::to_owned),
                        email: None,
                    },
                    None,
                )
                .await
                .unwrap();
            principals.insert(name.to_owned(), p);
            let t = governor
                .create_token(None, name, None, None, None)
                .await
                .unwrap();
            tokens.insert(name.to_owned(), t.value);
        }

        // SAFETY of the environment: the variable is unique to this test
        // process and only read at configuration time.
        let pw_file = dir.path().join("db-password");
        std::fs::write(&pw_file, DB_PASSWORD).unwrap();
        let mut targets = BTreeMap::new();
        for (name, env, tls, durability) in [
            ("shop_dev", "dev", "disable", "strict"),
            ("shop_prod", "prod", "disable", "strict"),
            // The machine's PostgreSQL has ssl = on (a self-signed cert).
            ("shop_tls", "dev", "require", "strict"),
            ("shop_fast", "prod", "disable", "relaxed_reads"),
        ] {
            targets.insert(
                name.to_owned(),
                toml::from_str(&format!(
                    r#"host = "127.0.0.1"
                       port = 5432
                       database = "{db}"
                       environment = "{env}"
                       user = "postgres"
                       tls = "{tls}"
                       durability = "{durability}"
                       password_file = "{}""#,
                    pw_file.display()
                ))
                .unwrap(),
            );
        }
        let section = ProxySection {
            listen: "127.0.0.1:0".into(),
            tls_cert: None,
            tls_key: None,
            approval_wait_secs: Some(opts.approval_wait_secs),
            max_message_bytes: None,
            targets,
        };
        let config = section.validate(dir.path()).unwrap();
        let proxy = PgProxy::new(governor.clone(), config).unwrap();
        let listener = proxy.bind().await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(proxy.serve(listener, std::future::pending()));
        Env {
            governor,
            store,
            addr,
            db,
            tokens,
            principals,
            _dir: dir,
        }
    }

    pub fn token(&self, who: &str) -> &str {
        &self.tokens[who]
    }

    /// A libpq connection string to `target` as `who`.
    pub fn conninfo(&self, who: &str, target: &str, sslmode: &str) -> String {
        format!(
            "host=127.0.0.1 port={} dbname={target} user={who} password={} sslmode={sslmode}",
            self.addr.port(),
            self.token(who)
        )
    }

    /// Runs `psql -c sql` (over TLS) and returns (status ok, stdout, stderr).
    pub async fn psql(&self, who: &str, target: &str, sql: &str) -> (bool, String, String) {
        self.psql_args(who, target, &["-c", sql]).await
    }

    pub async fn psql_args(
        &self,
        who: &str,
        target: &str,
        args: &[&str],
    ) -> (bool, String, String) {
        let mut cmd = tokio::process::Command::new("psql");
        cmd.arg(format!(
            "host=127.0.0.1 port={} dbname={target} user={who} sslmode=require",
            self.addr.port()
        ))
        .args([
            "-X",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            "VERBOSITY=verbose",
        ])
        .args(args)
        .env("PGPASSWORD", self.token(who))
        .env("PGCONNECT_TIMEOUT", "10");
        let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .expect("psql timed out")
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A tokio-postgres client through the proxy, without TLS (SCRAM). The
    /// principal logs in over TLS first (psql), as the SCRAM path requires.
    pub async fn client(&self, who: &str, target: &str) -> tokio_postgres::Client {
        let (ok, _, err) = self.psql(who, target, "SELECT 1").await;
        assert!(ok, "TLS login for {who} failed: {err}");
        pg(&self.conninfo(who, target, "disable")).await
    }

    /// Direct connection to the test database (not through the proxy).
    pub async fn direct(&self) -> tokio_postgres::Client {
        pg(&format!(
            "host=127.0.0.1 port=5432 user=postgres dbname={}",
            self.db
        ))
        .await
    }

    pub async fn vote(&self, who: &str, approval: &str) {
        self.governor
            .vote(
                &self.principals[who],
                approval,
                VoteInput {
                    decision: VoteDecision::Approve,
                    reason: Some("looks fine".into()),
                    via: "api".into(),
                },
                None,
            )
            .await
            .unwrap();
    }

    /// Waits for a pending approval requested by `who`; returns its id.
    pub async fn pending_approval(&self, who: &str) -> String {
        for _ in 0..200 {
            let list = self
                .store
                .approvals(&countersign_core::store::ApprovalFilter {
                    state: Some(countersign_core::ApprovalState::Pending),
                    requester: Some(who.into()),
                    limit: 10,
                })
                .await
                .unwrap();
            if let Some(a) = list.first() {
                return a.id.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no pending approval for {who}");
    }

    /// Audit entries of `kind`, parsed.
    pub async fn audit(&self, kind: &str) -> Vec<serde_json::Value> {
        self.store
            .audit_entries(AuditFilter {
                limit: 10_000,
                kind: Some(kind.into()),
                ..AuditFilter::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|e| serde_json::from_slice(&e.entry).unwrap())
            .collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Best effort: drop the database from a fresh thread (the runtime
        // may be shutting down).
        let db = self.db.clone();
        let _ = std::thread::spawn(move || {
            let _ = Command::new("psql")
                .args([
                    "-X",
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-d",
                    "test",
                    "-c",
                    &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
                ])
                .output();
        })
        .join();
    }
}
