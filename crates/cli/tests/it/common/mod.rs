//! Test harness: runs the real `countersign` binary (`serve` on a fresh
//! data directory and a free port) and talks to it over HTTP.
#![allow(dead_code)]

pub mod notify_fakes;

use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_countersign");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A served instance; killed on drop.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub admin_token: String,
    pub verifier_key: String,
    child: Option<Child>,
    port: u16,
}

impl Server {
    /// `countersign init` then `serve`, optionally replacing the starter
    /// policies with `policies` (Cedar text) first.
    pub fn start_with(policies: Option<&str>) -> Server {
        let mut s = Self::prepare(policies);
        s.spawn();
        s
    }

    /// Like [`Self::start_with`], appending `extra(data_dir)` to
    /// `countersign.toml` before serving (e.g. a front's section).
    pub fn start_configured(policies: Option<&str>, extra: impl FnOnce(&Path) -> String) -> Server {
        let mut s = Self::prepare(policies);
        let extra = extra(s.data_dir());
        if !extra.is_empty() {
            let cfg = s.data_dir().join("countersign.toml");
            let mut text = std::fs::read_to_string(&cfg).unwrap();
            text.push('\n');
            text.push_str(&extra);
            std::fs::write(&cfg, text).unwrap();
        }
        s.spawn();
        s
    }

    /// `countersign init` only: the caller may edit the data directory
    /// (e.g. `countersign.toml`) before [`Server::spawn`].
    pub fn prepare(policies: Option<&str>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(BIN)
            .arg("init")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let admin_token = stdout
            .split_whitespace()
            .find(|w| w.starts_with("cs_"))
            .expect("init prints a token")
            .to_owned();
        let verifier_key = stdout
            .lines()
            .find_map(|l| l.strip_prefix("Audit log verifier key (publish it): "))
            .expect("init prints the verifier key")
            .to_owned();
        if let Some(p) = policies {
            std::fs::write(dir.path().join("policies/policies.cedar"), p).unwrap();
        }
        let port = free_port();
        Server {
            dir,
            url: format!("http://127.0.0.1:{port}"),
            admin_token,
            verifier_key,
            child: None,
            port,
        }
    }

    pub fn start() -> Server {
        Self::start_with(None)
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn policy_file(&self) -> PathBuf {
        self.dir.path().join("policies/policies.cedar")
    }

    /// Starts `serve` and waits until `/readyz` answers.
    pub fn spawn(&mut self) {
        let child = Command::new(BIN)
            .args(["serve", "--data-dir"])
            .arg(self.dir.path())
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .env("COUNTERSIGN_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if probe_ready(&format!("{}/readyz", self.url)) {
                return;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                let mut err = String::new();
                if let Some(e) = c.stderr.take() {
                    for l in BufReader::new(e).lines().map_while(Result::ok) {
                        err.push_str(&l);
                        err.push('\n');
                    }
                }
                panic!("serve exited with {st}: {err}");
            }
            assert!(Instant::now() < deadline, "server did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM and wait (graceful shutdown).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
            panic!("server did not stop within 20s of SIGTERM");
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn client(&self, token: &str) -> Api {
        Api {
            base: self.url.clone(),
            token: token.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    pub fn admin(&self) -> Api {
        self.client(&self.admin_token)
    }

    /// Runs the CLI with this server and `token` in its environment.
    pub fn cli(&self, token: &str, args: &[&str]) -> std::process::Output {
        Command::new(BIN)
            .args(args)
            .env("COUNTERSIGN_SERVER", &self.url)
            .env("COUNTERSIGN_TOKEN", token)
            .env("COUNTERSIGN_DATA_DIR", self.dir.path())
            .output()
            .unwrap()
    }

    /// Adds a principal and returns a token for it.
    pub async fn principal(
        &self,
        name: &str,
        kind: &str,
        groups: &[&str],
        owner: Option<&str>,
    ) -> String {
        let admin = self.admin();
        let (st, v) = admin
            .post(
                "/v1/principals",
                json!({"name": name, "kind": kind, "groups": groups, "owner": owner}),
            )
            .await;
        assert_eq!(st, 201, "add principal {name}: {v}");
        let (st, t) = admin.post("/v1/tokens", json!({"principal": name})).await;
        assert_eq!(st, 201, "token for {name}: {t}");
        t["token"].as_str().unwrap().to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Whether `GET url` answers 200, over a plain TCP socket (the harness
/// needs no blocking HTTP client for this).
fn probe_ready(url: &str) -> bool {
    use std::io::{Read as _, Write as _};
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let Some((host, path)) = rest.split_once('/') else {
        return false;
    };
    let Ok(mut s) = std::net::TcpStream::connect(host) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200")
}

/// An API client bound to one token.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl Api {
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        (st, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        (st, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn decide(
        &self,
        action: &str,
        rtype: &str,
        rid: &str,
        env: &str,
        ctx: Value,
    ) -> Value {
        let (st, v) = self
            .post(
                "/v1/decisions",
                json!({"action": action, "resource": {"type": rtype, "id": rid}, "environment": env, "context": ctx}),
            )
            .await;
        assert_eq!(st, 200, "decision failed: {v}");
        v
    }

    pub async fn vote(&self, approval: &str, decision: &str, reason: Option<&str>) -> (u16, Value) {
        self.post(
            &format!("/v1/approvals/{approval}/votes"),
            json!({"decision": decision, "reason": reason}),
        )
        .await
    }

    /// Audit entries of a type, newest last.
    pub async fn audit(&self, kind: &str) -> Vec<Value> {
        let (st, v) = self
            .get(&format!("/v1/audit/entries?type={kind}&limit=1000"))
            .await;
        assert_eq!(st, 200, "{v}");
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["entry"].clone())
            .collect()
    }
}
