//! A Countersign governor in-process (SQLite store, the starter schema
//! plus a `Repo` entity and two actions), the HTTP gateway in front of a
//! local upstream (a small hyper server that records what reached it),
//! and helpers to drive it with reqwest and curl.
#![allow(dead_code, reason = "test harness")]

pub mod upstream;

use countersign_core::governor::{GovernorConfig, NewPrincipal, VoteInput};
use countersign_core::policy::{PolicySet, PolicySource, STARTER_POLICIES, STARTER_SCHEMA};
use countersign_core::{Governor, Principal, PrincipalKind, Store as _, VoteDecision};
use countersign_httpgw::{GatewaySection, HttpGateway};
use countersign_store::{AuditFilter, SqliteStore};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
pub use upstream::Upstream;

/// The upstream credential the gateway injects.
pub const SECRET: &str = "upstream-S3cret-7f3a9c";

const EXTRA_SCHEMA: &str = r#"
entity Repo;
action "repo.delete", "deploy.create" appliesTo {
  principal: [User, Agent, Service],
  resource: [Repo],
  context: HttpContext,
};
"#;

const EXTRA_POLICIES: &str = r#"
@id("repo-delete-needs-a-reviewer")
@message("deleting a repository needs one reviewer")
@approval_quorum("1")
@approval_groups("reviewer")
@approval_ttl("1h")
permit (principal, action == Action::"repo.delete", resource)
when { context.approval.granted };

@id("nobody-deletes-the-vault")
@message("o/vault is never deleted")
forbid (principal, action == Action::"repo.delete", resource == Repo::"o/vault");

@id("deploys-to-staging")
@message("deployments to staging are allowed")
permit (principal, action == Action::"deploy.create", resource)
when {
  context has http && context.http has fields &&
  context.http.fields.contains("environment=staging")
};
"#;

pub struct Env {
    /// The TLS upstream (routes `tls`, trusting its certificate, and
    /// `untrusted`, with the platform's roots).
    pub tls_upstream: Upstream,
    pub governor: Arc<Governor>,
    pub store: Arc<SqliteStore>,
    pub addr: SocketAddr,
    pub url: String,
    pub upstream: Upstream,
    pub tokens: HashMap<String, String>,
    pub principals: HashMap<String, Principal>,
    pub http: reqwest::Client,
    /// With TLS: the gateway's self-signed certificate (PEM file), which
    /// `http` and [`Env::curl`] trust.
    pub gw_cert: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

pub struct Options {
    pub approval_wait_secs: u64,
    /// `Some(ms)`: the gateway listens with TLS (a fresh certificate for
    /// `127.0.0.1`) and this handshake timeout.
    pub tls_handshake_timeout_ms: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            approval_wait_secs: 20,
            tls_handshake_timeout_ms: None,
        }
    }
}

/// A self-signed certificate for `127.0.0.1` and `localhost`: (cert PEM,
/// key PEM).
pub fn self_signed() -> (String, String) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    (ck.cert.pem(), ck.signing_key.serialize_pem())
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Env {
    pub async fn start() -> Env {
        Env::start_with(Options::default()).await
    }

    pub async fn start_with(opts: Options) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("cs.db")).unwrap());
        let schema = format!("{STARTER_SCHEMA}\n{EXTRA_SCHEMA}");
        let policies = PolicySet::compile(
            "schema.cedarschema",
            &schema,
            &[
                PolicySource::new("policies.cedar", STARTER_POLICIES),
                PolicySource::new("http.cedar", EXTRA_POLICIES),
            ],
        )
        .unwrap();
        let governor = Arc::new(
            Governor::open(store.clone(), policies, GovernorConfig::default())
                .await
                .unwrap(),
        );
        let people: [(&str, PrincipalKind, &[&str], Option<&str>); 5] = [
            ("alice", PrincipalKind::User, &["engineer"], None),
            ("rita", PrincipalKind::User, &["reviewer"], None),
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

        let upstream = Upstream::start().await;
        let (tls_upstream, tls_pem) = Upstream::start_tls().await;
        let ca_file = dir.path().join("upstream-ca.pem");
        std::fs::write(&ca_file, tls_pem).unwrap();
        let tls_port = tls_upstream.addr.port();
        let ca = ca_file.display();
        let secret_file = dir.path().join("upstream-secret");
        std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
        std::fs::write(
            dir.path().join("upstream-secret.basic"),
            format!("svc:{SECRET}"),
        )
        .unwrap();
        let up = upstream.addr;
        let down = closed_port();
        let sf = secret_file.display();
        // Relative paths: they resolve against the directory given to
        // `validate`, as the data dir in production.
        let (tls, gw_cert) = match opts.tls_handshake_timeout_ms {
            None => (String::new(), None),
            Some(ms) => {
                let (cert, key) = self_signed();
                std::fs::write(dir.path().join("gw.crt"), cert).unwrap();
                std::fs::write(dir.path().join("gw.key"), key).unwrap();
                (
                    format!(
                        r#"tls = {{ cert = "gw.crt", key = "gw.key", handshake_timeout_ms = {ms} }}"#
                    ),
                    Some(dir.path().join("gw.crt")),
                )
            }
        };
        let text = format!(
            r#"listen = "127.0.0.1:0"
               approval_wait_secs = {wait}
               inspect_body_bytes = 65536
               max_body_bytes = 67108864
               response_timeout_secs = 2
               connect_timeout_ms = 1000
               idle_timeout_secs = 5
               {tls}

               [routes.api]
               path_prefix = "/api"
               upstream = "http://{up}"
               environment = "prod"
               credential = {{ kind = "bearer", secret_file = "{sf}" }}
               default = {{ action = "http.request", resource = 'Route::"api"' }}

               [[routes.api.rules]]
               method = "DELETE"
               path = "/repos/{{owner}}/{{repo}}"
               action = "repo.delete"
               resource = 'Repo::"{{owner}}/{{repo}}"'

               [[routes.api.rules]]
               method = "POST"
               path = "/repos/{{owner}}/{{repo}}/deployments"
               action = "deploy.create"
               resource = 'Repo::"{{owner}}/{{repo}}"'
               body_fields = ["environment"]

               [routes.fast]
               path_prefix = "/fast"
               upstream = "http://{up}"
               environment = "prod"
               durability = "relaxed_reads"
               default = {{ action = "http.request", resource = 'Route::"fast"' }}

               [routes.dev]
               path_prefix = "/dev"
               upstream = "http://{up}/base/"
               environment = "dev"
               credential = {{ kind = "query", name = "api_key", secret_file = "{sf}" }}
               default = {{ action = "http.request", resource = 'Route::"dev"' }}

               [routes.strict]
               path_prefix = "/strict"
               upstream = "http://{up}"
               environment = "dev"
               credential = {{ kind = "header", name = "X-Api-Key", secret_file = "{sf}" }}

               [[routes.strict.rules]]
               method = "GET"
               path = "/ok"
               action = "http.request"
               resource = 'Route::"strict"'

               [routes.tls]
               path_prefix = "/tls"
               upstream = "https://localhost:{tls_port}"
               environment = "dev"
               ca_file = "{ca}"
               credential = {{ kind = "basic", secret_file = "{sf}.basic" }}
               default = {{ action = "http.request", resource = 'Route::"tls"' }}

               [routes.untrusted]
               path_prefix = "/untrusted"
               upstream = "https://localhost:{tls_port}"
               environment = "dev"
               default = {{ action = "http.request", resource = 'Route::"untrusted"' }}

               [routes.down]
               path_prefix = "/down"
               upstream = "http://127.0.0.1:{down}"
               environment = "dev"
               default = {{ action = "http.request", resource = 'Route::"down"' }}
            "#,
            wait = opts.approval_wait_secs,
        );
        let section: GatewaySection = toml::from_str(&text).unwrap();
        let config = section.validate(dir.path()).unwrap();
        let gw = HttpGateway::new(governor.clone(), config).unwrap();
        let listener = gw.bind().await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(gw.serve(listener, std::future::pending()));
        let (url, http) = match &gw_cert {
            None => (format!("http://{addr}"), reqwest::Client::new()),
            Some(cert) => {
                let pem = std::fs::read(cert).unwrap();
                let http = reqwest::Client::builder()
                    .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
                    .build()
                    .unwrap();
                (format!("https://{addr}"), http)
            }
        };
        Env {
            tls_upstream,
            governor,
            store,
            addr,
            url,
            upstream,
            tokens,
            principals,
            http,
            gw_cert,
            _dir: dir,
        }
    }

    pub fn token(&self, who: &str) -> &str {
        &self.tokens[who]
    }

    /// A request builder through the gateway as `who`.
    pub fn req(&self, who: &str, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .header("Countersign-Token", self.token(who))
    }

    /// Runs curl with `args` (the gateway's URL is `{gw}` in them; with
    /// TLS, `--cacert` names the gateway's certificate); returns (exit ok,
    /// stdout, stderr).
    pub async fn curl(&self, args: &[&str]) -> (bool, String, String) {
        let mut all: Vec<String> = ["-sS", "--max-time", "30"].map(String::from).into();
        if let Some(cert) = &self.gw_cert {
            all.extend(["--cacert".to_owned(), cert.display().to_string()]);
        }
        all.extend(args.iter().map(|a| a.replace("{gw}", &self.url)));
        let out = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::process::Command::new("curl").args(&all).output(),
        )
        .await
        .expect("curl timed out")
        .expect("curl is installed (scripts/setup.sh)");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Opens a WebSocket through the gateway on `s` as `who` (`GET
    /// /api/ws`), sends bytes and checks the upstream echoes them; returns
    /// the response head.
    pub async fn websocket_echo<S>(&self, s: &mut S, who: &str) -> String
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let hs = format!(
            "GET /api/ws HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Countersign-Token: {}\r\n\r\n",
            self.token(who)
        );
        s.write_all(hs.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(s.read(&mut b).await.unwrap(), 1, "handshake cut short");
            head.push(b[0]);
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        s.write_all(b"ping through the tunnel").await.unwrap();
        let mut got = vec![0u8; 23];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping through the tunnel");
        head
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

    /// The outcome audit entry for decision `id`, waiting for the batcher.
    pub async fn outcome_of(&self, decision: &str) -> serde_json::Value {
        for _ in 0..100 {
            if let Some(e) = self
                .audit("decision.outcome")
                .await
                .into_iter()
                .find(|e| e["decision_id"] == decision)
            {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no outcome reported for {decision}");
    }

    /// The context a decision entry was made with (its payload).
    pub async fn payload(&self, entry: &serde_json::Value) -> serde_json::Value {
        let hash = entry["payload_hash"].as_str().expect("a payload");
        let bytes = self.store.audit_payload(hash).await.unwrap().unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    /// The newest decision audit entry.
    pub async fn last_decision(&self) -> serde_json::Value {
        self.audit("decision").await.pop().expect("a decision")
    }
}
