//! The documentation, executed: the README's walkthrough and the change
//! walkthrough of docs/changes.md run verbatim, command by command, against
//! a fresh instance started the way the quick start says (`countersign
//! serve` in an empty directory). A command that fails, or output shown in
//! the docs that the command no longer prints, fails the test with the
//! file and line. `scripts/walkthrough.sh` runs just this.
//!
//! The only liberties taken with the text are the values a reader copies
//! from their own screen: `cs_…` (the admin token `serve` printed), `apr_…`
//! (the newest pending approval), `chg_…` (the newest change),
//! `countersign.local/audit+…` (the verifier key) and port 8750 (each run
//! gets a free one).

mod markdown;
mod shell;

use crate::common::{BIN, free_port};
use markdown::{Step, first_missing, section_steps};
use serde_json::Value;
use shell::Session;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server started as the quick start does, in a directory of its own.
struct Instance {
    dir: tempfile::TempDir,
    port: u16,
    token: String,
    key: String,
    server: Child,
    http: reqwest::Client,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

impl Instance {
    async fn start() -> Instance {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut server = Command::new(BIN)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .current_dir(dir.path())
            .env_remove("COUNTERSIGN_DATA_DIR")
            .env("COUNTERSIGN_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // The first start prints the admin token and the verifier key.
        let mut token = None;
        let mut key = None;
        let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
        while token.is_none() || key.is_none() {
            let line = lines
                .next()
                .expect("serve prints its first administrator's token")
                .unwrap();
            if let Some(t) = line.split_whitespace().find(|w| w.starts_with("cs_")) {
                token = Some(t.to_owned());
            }
            if let Some(k) = line.strip_prefix("Audit log verifier key (publish it): ") {
                key = Some(k.trim().to_owned());
            }
        }
        std::thread::spawn(move || for _ in lines {});
        let inst = Instance {
            dir,
            port,
            token: token.unwrap(),
            key: key.unwrap(),
            server,
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while inst.get("/readyz").await.is_none() {
            assert!(Instant::now() < deadline, "the server did not get ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        inst
    }

    async fn get(&self, path: &str) -> Option<Value> {
        let r = self
            .http
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .bearer_auth(&self.token)
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json().await.ok()
    }

    /// The newest `what` (an approval or a change id) the API lists at
    /// `path`, waiting a little for it to appear (a background job may
    /// just be asking).
    async fn newest(&self, path: &str, list: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(v) = self.get(path).await
                && let Some(items) = v[list].as_array()
                && let Some(id) = items
                    .iter()
                    .max_by_key(|i| i["created_at"].to_string())
                    .and_then(|i| i["id"].as_str())
            {
                return id.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "nothing at {path} to stand for `…`"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The command with the reader's own values in place of the docs' ones.
    async fn fill_in(&self, command: &str) -> String {
        let mut c = command
            .replace("cs_…", &self.token)
            .replace("countersign.local/audit+…", &self.key)
            .replace("127.0.0.1:8750", &format!("127.0.0.1:{}", self.port))
            .replace("localhost:8750", &format!("127.0.0.1:{}", self.port));
        if c.contains("apr_…") {
            let id = self
                .newest("/v1/approvals?status=pending", "approvals")
                .await;
            c = c.replace("apr_…", &id);
        }
        if c.contains("chg_…") {
            let id = self.newest("/v1/changes?limit=1", "changes").await;
            c = c.replace("chg_…", &id);
        }
        assert!(
            !c.contains('…'),
            "{command}: a placeholder this runner does not know"
        );
        c
    }
}

/// The directory holding the `countersign` binary under test.
fn bin_dir() -> PathBuf {
    Path::new(BIN).parent().unwrap().to_path_buf()
}

fn repo_file(rel: &str) -> (String, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    (rel.to_owned(), std::fs::read_to_string(path).unwrap())
}

/// Checks a finished step's output and exit status against the docs.
fn check(step: &Step, output: &Path, exit: Option<i32>, filled: &str) {
    let text = std::fs::read_to_string(output).unwrap_or_default();
    let fail = |why: String| {
        panic!(
            "{place}: {why}\n  command: {filled}\n  output:\n{text}",
            place = step.place
        )
    };
    if exit != Some(step.exit) {
        fail(format!(
            "exit status {exit:?}, the docs expect {}",
            step.exit
        ));
    }
    if let Some(missing) = first_missing(&step.expect, &text) {
        fail(format!(
            "the docs show `{missing}`, the command did not print it (in order)"
        ));
    }
}

/// Runs the steps of `sections` of each file, in order, in one session
/// against one fresh instance.
async fn run_docs(files: &[(&str, &[&str])]) {
    let inst = Instance::start().await;
    let mut session = Session::start(inst.dir.path(), &bin_dir());
    for (file, sections) in files {
        let (name, text) = repo_file(file);
        for title in *sections {
            let steps = section_steps(&name, &text, title);
            let mut background = Vec::new();
            for step in &steps {
                let filled = inst.fill_in(&step.command).await;
                eprintln!("$ {}", step.command);
                let ran = session.run(&filled, step.background, Duration::from_secs(120));
                if step.background {
                    // As a reader would, see it start before going on.
                    if let Some(first) = step.expect.first() {
                        wait_for_line(&ran.output, first, step);
                    }
                    background.push((step, ran.output, filled));
                } else {
                    eprint!(
                        "{}",
                        std::fs::read_to_string(&ran.output).unwrap_or_default()
                    );
                    check(step, &ran.output, ran.exit, &filled);
                }
            }
            session.wait_all(Duration::from_secs(120));
            for (step, output, filled) in background {
                check(step, &output, Session::exit_of(&output), &filled);
            }
        }
    }
}

fn wait_for_line(output: &Path, pattern: &str, step: &Step) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(output).unwrap_or_default();
        if text.lines().any(|l| markdown::matches(pattern, l)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{}: the background command never printed `{pattern}`:\n{text}",
            step.place
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn the_readme_walkthrough_runs_as_written() {
    run_docs(&[(
        "README.md",
        &[
            "A five-minute walkthrough",
            "Change authorization",
            "Policies",
        ],
    )])
    .await;
}

#[tokio::test]
async fn the_change_walkthrough_runs_as_written() {
    run_docs(&[("docs/changes.md", &["A model, dev → staging → prod"])]).await;
}
