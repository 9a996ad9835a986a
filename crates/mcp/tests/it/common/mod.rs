//! Test harness: a gateway on a free port with the decision API beside it.
#![allow(dead_code)]

use countersign_core::governor::{GovernorConfig, NewPrincipal};
use countersign_core::policy::{PolicySet, PolicySource, STARTER_SCHEMA};
use countersign_core::{Governor, PrincipalKind};
use countersign_mcp::{Gateway, McpSection};
use countersign_server::{ApiConfig, AppState, PolicyLoader};
use countersign_store::SqliteStore;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncBufReadExt as _;

pub const POLICIES: &str = r#"
@id("everyday-tools")
permit (principal, action == Action::"mcp.call", resource)
when {
  resource == Tool::"local.echo" || resource == Tool::"local.add" ||
  resource == Tool::"local.slow" || resource == Tool::"local.hang" ||
  resource == Tool::"local.crash" || resource == Tool::"local.note" ||
  resource == Tool::"remote.echo" || resource == Tool::"remote.add"
};

@id("local-prompts-and-resources")
permit (principal, action == Action::"mcp.call", resource)
when { resource == Tool::"local.prompts/get" || resource == Tool::"local.resources/read" };

@id("agents-never-read-secret-memos")
@message("agents may not read secret memos")
forbid (principal is Agent, action == Action::"mcp.call", resource == Tool::"local.resources/read")
when { context has mcp && context.mcp has argument_values &&
       context.mcp.argument_values.contains("uri=memo://secret") };

@id("never-delete-passwd")
@message("nobody deletes /etc/passwd")
forbid (principal, action == Action::"mcp.call", resource == Tool::"local.delete_file")
when { context has mcp && context.mcp has argument_values &&
       context.mcp.argument_values.contains("path=/etc/passwd") };

@id("deletes-need-a-reviewer")
@message("deleting a file needs one reviewer")
@approval_quorum("1")
@approval_groups("reviewer")
@approval_ttl("1h")
permit (principal, action == Action::"mcp.call", resource == Tool::"local.delete_file")
when { principal in Group::"engineer" && context.approval.granted };
"#;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The rmcp upstream example (built by `cargo test` with the tests).
pub fn upstream_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let p = dir.join("examples/mcp_test_upstream");
    assert!(
        p.exists(),
        "{} missing: build with `cargo test -p countersign-mcp`",
        p.display()
    );
    p
}

pub fn python() -> PathBuf {
    let p = root().join("target/py/bin/python");
    assert!(
        p.exists(),
        "the Python MCP SDK is missing at {}: run scripts/setup.sh",
        p.display()
    );
    p
}

/// The Streamable HTTP upstream, killed on drop.
pub struct HttpUpstream {
    pub url: String,
    child: tokio::process::Child,
}

impl HttpUpstream {
    pub async fn start() -> HttpUpstream {
        let mut child = tokio::process::Command::new(upstream_bin())
            .args(["--http", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let addr = line.strip_prefix("listening on ").unwrap().to_owned();
        HttpUpstream {
            url: format!("http://{addr}/mcp"),
            child,
        }
    }
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub governor: Arc<Governor>,
    pub gateway: Arc<Gateway>,
    pub tokens: HashMap<&'static str, String>,
    pub http_upstream: HttpUpstream,
    pub note_file: PathBuf,
}

impl Env {
    /// A gateway with upstreams `local` (stdio) and `remote` (HTTP);
    /// `extra` is merged into the `[mcp]` section (as JSON).
    pub async fn start(extra: Value) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let note_file = dir.path().join("note.txt");
        std::fs::write(&note_file, "Writes a note.").unwrap();
        let set = PolicySet::compile(
            "schema.cedarschema",
            STARTER_SCHEMA,
            &[PolicySource {
                name: "policies.cedar".into(),
                text: POLICIES.into(),
            }],
        )
        .unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("db.sqlite")).unwrap());
        let governor = Arc::new(
            Governor::open(store.clone(), set, GovernorConfig::default())
                .await
                .unwrap(),
        );
        let mut tokens = HashMap::new();
        for (name, kind, groups, owner) in [
            ("ada", PrincipalKind::User, vec!["admin"], None),
            ("rita", PrincipalKind::User, vec!["reviewer"], None),
            ("alice", PrincipalKind::User, vec!["engineer"], None),
            ("vic", PrincipalKind::User, vec![], None),
            ("bot", PrincipalKind::Agent, vec!["engineer"], Some("alice")),
        ] {
            governor
                .add_principal(
                    None,
                    NewPrincipal {
                        name: name.into(),
                        kind,
                        groups: groups.into_iter().map(String::from).collect(),
                        owner: owner.map(String::from),
                        email: None,
                    },
                    None,
                )
                .await
                .unwrap();
            let t = governor
                .create_token(None, name, None, None, None)
                .await
                .unwrap();
            tokens.insert(name, t.value);
        }
        let http_upstream = HttpUpstream::start().await;
        let mut section = json!({
            "approval_wait_secs": 20,
            "call_timeout_secs": 10,
            "upstreams": [
                {"name": "local", "environment": "dev", "command": upstream_bin(),
                 "env": {"UPSTREAM_NOTE_FILE": note_file}},
                {"name": "remote", "environment": "prod", "url": http_upstream.url,
                 "headers": {"Authorization": "Bearer upstream-secret"}},
            ]
        });
        if let (Some(s), Value::Object(x)) = (section.as_object_mut(), extra) {
            s.extend(x);
        }
        let cfg = serde_json::from_value::<McpSection>(section)
            .unwrap()
            .validate(dir.path())
            .unwrap();
        let gateway = Gateway::start(governor.clone(), cfg).unwrap();
        let loader: PolicyLoader = Arc::new(|| Err("no reloads in these tests".into()));
        let state = AppState {
            governor: governor.clone(),
            store,
            config: Arc::new(ApiConfig {
                max_body: 64 * 1024,
                max_wait: Duration::from_secs(30),
                log_origin: "test.local/audit".into(),
            }),
            policy_loader: loader,
            log_signer: Arc::new(countersign_tlog::Signer::generate("test.local/audit").unwrap()),
        };
        let app = countersign_server::router(state).merge(countersign_mcp::router(gateway.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Env {
            dir,
            url,
            governor,
            gateway,
            tokens,
            http_upstream,
            note_file,
        }
    }

    pub fn token(&self, who: &str) -> String {
        self.tokens[who].clone()
    }

    /// Runs the Python SDK client as `who` with `ops`; returns its results.
    pub async fn client(&self, who: &str, ops: Value) -> Value {
        let out = tokio::time::timeout(
            Duration::from_secs(120),
            tokio::process::Command::new(python())
                .arg(root().join("crates/mcp/tests/it/mcp_client.py"))
                .arg(format!("{}/mcp", self.url))
                .arg(self.token(who))
                .arg(ops.to_string())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("python client timed out")
        .unwrap();
        assert!(
            out.status.success(),
            "python client failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::new()
    }

    /// GET on the API as `who`.
    pub async fn api_get(&self, who: &str, path: &str) -> (u16, Value) {
        let r = self
            .http()
            .get(format!("{}{path}", self.url))
            .bearer_auth(self.token(who))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    pub async fn api_post(&self, who: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http()
            .post(format!("{}{path}", self.url))
            .bearer_auth(self.token(who))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// Audit entries of a type.
    pub async fn audit(&self, kind: &str) -> Vec<Value> {
        let (st, v) = self
            .api_get("ada", &format!("/v1/audit/entries?type={kind}&limit=1000"))
            .await;
        assert_eq!(st, 200, "{v}");
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["entry"].clone())
            .collect()
    }

    /// A raw MCP session over plain HTTP (for what the SDK will not send).
    pub async fn raw_session(&self, who: &str) -> Raw {
        let raw = Raw {
            url: format!("{}/mcp", self.url),
            token: self.token(who),
            session: None,
            http: self.http(),
        };
        let r = raw
            .post_str(
                &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"}}})
                .to_string(),
            )
            .await;
        assert_eq!(r.status(), 200);
        let session = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        Raw {
            session: Some(session),
            ..raw
        }
    }
}

pub struct Raw {
    pub url: String,
    pub token: String,
    pub session: Option<String>,
    pub http: reqwest::Client,
}

impl Raw {
    pub async fn post_str(&self, body: &str) -> reqwest::Response {
        let mut req = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        req.send().await.unwrap()
    }

    /// Posts `body` and returns (status, JSON body).
    pub async fn post(&self, body: &Value) -> (u16, Value) {
        let r = self.post_str(&body.to_string()).await;
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    pub async fn call(&self, id: u64, name: &str, args: Value) -> Value {
        let (st, v) = self
            .post(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                          "params": {"name": name, "arguments": args}}))
            .await;
        assert_eq!(st, 200, "{v}");
        v
    }
}

/// Polls until `f` is true (up to 20 s).
pub async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}
