//! The web console in a real browser: Debian's Chromium driven over the W3C
//! WebDriver protocol by chromedriver, against the served binary. Sign in;
//! a pending action appears in the inbox without a reload; approve from the
//! approval page; a refused self-approval is shown; the audit explorer shows
//! verified receipts; the changes page shows the inventory and a failed
//! gate. Screenshots go to `target/artifacts/`.
//!
//! The WebDriver calls used here are a handful of plain HTTP requests, so
//! they are made with the reqwest client the tests already have rather than
//! a WebDriver crate and its dependency tree.

use crate::common::{Server, free_port};
use crate::console::pending_ddl;
use crate::console_changes::deployed_and_failed;
use base64::Engine as _;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium, or `None` when they are
    /// not installed (outside CI only: in CI a missing browser fails).
    async fn start() -> Option<Browser> {
        if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "chromium and chromium-driver are required in CI: run scripts/setup.sh"
            );
            eprintln!(
                "skipping: chromium/chromedriver not installed (scripts/setup.sh installs them)"
            );
            return None;
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,1000",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {r}"))
            .to_owned();
        Some(Browser {
            http,
            base,
            session,
            driver,
            _profile: profile,
        })
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r: Value = req.send().await.unwrap().json().await.unwrap();
        if r["value"]["error"].is_string() {
            panic!("WebDriver {path}: {}", r["value"]);
        }
        r["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.cmd(reqwest::Method::POST, path, Some(body)).await
    }

    async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn find_all(&self, css: &str) -> Vec<String> {
        self.post("/elements", json!({"using": "css selector", "value": css}))
            .await
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                e[ELEMENT]
                    .as_str()
                    .unwrap_or_else(|| panic!("not an element: {e}"))
                    .to_owned()
            })
            .collect()
    }

    /// Waits up to `secs` for `css` to match, without navigating.
    async fn wait_for(&self, css: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(e) = self.find_all(css).await.into_iter().next() {
                return e;
            }
            assert!(Instant::now() < deadline, "`{css}` did not appear");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&self, el: &str) {
        self.post(&format!("/element/{el}/click"), json!({})).await;
    }

    async fn type_into(&self, el: &str, text: &str) {
        self.post(&format!("/element/{el}/value"), json!({ "text": text }))
            .await;
    }

    async fn text(&self, el: &str) -> String {
        self.cmd(reqwest::Method::GET, &format!("/element/{el}/text"), None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn run(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": []}))
            .await
    }

    /// How far the page scrolls sideways (0 when it fits the window).
    async fn sideways_scroll(&self) -> i64 {
        self.run(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
        )
        .await
        .as_i64()
        .unwrap()
    }

    async fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .unwrap()
            .join("artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, png).unwrap();
        path
    }

    async fn quit(&self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
    }

    async fn sign_in(&self, server: &Server, token: &str) {
        self.goto(&format!("{}/ui/login", server.url)).await;
        let field = self.wait_for("#token", 10).await;
        self.type_into(&field, token).await;
        let button = self.wait_for("form.login button[type=submit]", 5).await;
        self.click(&button).await;
        self.wait_for("nav .logout", 10).await;
    }

    async fn sign_out(&self) {
        let b = self.wait_for("nav .logout button", 5).await;
        self.click(&b).await;
        self.wait_for("#token", 10).await;
    }
}

#[tokio::test]
async fn console_in_chromium_inbox_live_approve_refusal_audit_and_changes() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let s = Server::start();
    let sam = s.principal("sam", "user", &["reviewer"], None).await;
    s.principal("rita", "user", &["reviewer"], None).await;
    let eve = s
        .principal("eve", "user", &["engineer", "reviewer"], None)
        .await;
    let bot = s
        .principal("bot", "agent", &["engineer"], Some("rita"))
        .await;

    // Sign in.
    browser.sign_in(&s, &sam).await;
    assert!(browser.url().await.ends_with("/ui/approvals"));
    let who = browser.wait_for("nav .logout strong", 5).await;
    assert_eq!(browser.text(&who).await, "sam");
    browser.wait_for("#inbox", 5).await;

    // A pending action appears without a reload: a marker set on this
    // document survives only if the page was not reloaded.
    browser.run("window.__stillHere = 42;").await;
    let id = pending_ddl(&s, &bot, "orders", "nightly cleanup").await;
    let card = browser
        .wait_for(&format!("#inbox [data-approval=\"{id}\"]"), 15)
        .await;
    assert_eq!(browser.run("return window.__stillHere;").await, json!(42));
    let text = browser.text(&card).await;
    assert!(
        text.contains("sql.ddl") && text.contains("nightly cleanup"),
        "{text}"
    );
    let shot = browser.screenshot("console-inbox.png").await;
    assert!(std::fs::metadata(&shot).unwrap().len() > 1000);

    // Approve from the approval page.
    let link = browser
        .wait_for(&format!("[data-approval=\"{id}\"] h3 a"), 5)
        .await;
    browser.click(&link).await;
    let reason = browser.wait_for("#reason", 10).await;
    assert!(
        browser
            .url()
            .await
            .ends_with(&format!("/ui/approvals/{id}"))
    );
    browser.type_into(&reason, "backup verified").await;
    browser.screenshot("console-approval.png").await;
    let approve = browser.wait_for("#approve", 5).await;
    browser.click(&approve).await;
    let done = browser.wait_for("#vote-result", 10).await;
    assert!(
        browser
            .text(&done)
            .await
            .contains("Your vote (approve) was recorded")
    );
    let (_, a) = s.admin().get(&format!("/v1/approvals/{id}")).await;
    assert_eq!(a["votes"][0]["voter"], "sam");
    assert_eq!(a["votes"][0]["via"], "web");
    browser.screenshot("console-approval-voted.png").await;

    // A refused self-approval is shown to the person.
    browser.sign_out().await;
    let own = pending_ddl(&s, &eve, "invoices", "cleanup").await;
    browser.sign_in(&s, &eve).await;
    browser.goto(&format!("{}/ui/approvals/{own}", s.url)).await;
    let approve = browser.wait_for("#approve", 10).await;
    browser.click(&approve).await;
    let err = browser.wait_for("#vote-error", 10).await;
    assert_eq!(
        browser.text(&err).await,
        "Vote refused: no self-approval: `eve` made this request"
    );
    browser
        .screenshot("console-self-approval-refused.png")
        .await;

    // The audit explorer shows the entries with verified receipts.
    browser.goto(&format!("{}/ui/audit", s.url)).await;
    let count = browser.wait_for("#verified-count", 10).await;
    let rows = browser.find_all("tr[data-seq]").await.len();
    assert!(rows >= 8, "{rows}");
    assert_eq!(browser.text(&count).await, format!("{rows} of {rows}"));
    assert_eq!(browser.find_all(".badge.verified").await.len(), rows);
    browser.screenshot("console-audit.png").await;

    // Changes: reached from the nav, the inventory first, then a failed
    // gate report, marked by the stylesheet (the CSP allows no inline style).
    let ci = s.principal("ci", "service", &[], None).await;
    let (dev, prod) = deployed_and_failed(&s, &eve, &ci).await;
    let nav = browser.wait_for("nav a[href=\"/ui/changes\"]", 5).await;
    browser.click(&nav).await;
    let row = browser
        .wait_for(&format!("table.inventory tr[data-change=\"{dev}\"]"), 10)
        .await;
    let text = browser.text(&row).await;
    assert!(
        text.contains("v1") && text.contains("accuracy 0.93"),
        "{text}"
    );
    browser.screenshot("console-changes.png").await;
    let link = browser
        .wait_for(&format!("table.changes tr[data-change=\"{prod}\"] a"), 5)
        .await;
    browser.click(&link).await;
    let failed = browser
        .wait_for("tr.gate-fail[data-gate=\"promotion\"]", 10)
        .await;
    assert!(
        browser
            .text(&failed)
            .await
            .contains("this artifact is not live in staging")
    );
    let bg = browser
        .run("return getComputedStyle(document.querySelector('tr.gate-fail')).backgroundColor;")
        .await;
    assert_eq!(bg, json!("rgb(252, 232, 230)"));
    browser
        .run("document.getElementById('gates').scrollIntoView();")
        .await;
    browser.screenshot("console-change-gates.png").await;
    // A description holding a script tag is text, not a script (an alert
    // would also stop every later WebDriver command).
    browser.goto(&format!("{}/ui/changes/{dev}", s.url)).await;
    let d = browser.wait_for("#description", 10).await;
    assert_eq!(
        browser.text(&d).await,
        "retrained <script>alert('x')</script>"
    );

    // Phone width: the inbox still fits (no sideways scrolling).
    browser
        .post("/window/rect", json!({"width": 390, "height": 844}))
        .await;
    browser.goto(&format!("{}/ui/approvals", s.url)).await;
    browser.wait_for("#inbox", 10).await;
    let overflow = browser.sideways_scroll().await;
    assert!(
        overflow <= 0,
        "sideways scroll of {overflow}px at phone width"
    );
    browser.screenshot("console-inbox-phone.png").await;
    // The changes page too: its wide tables scroll inside their cards.
    browser.goto(&format!("{}/ui/changes", s.url)).await;
    browser.wait_for("table.inventory", 10).await;
    let overflow = browser.sideways_scroll().await;
    assert!(
        overflow <= 0,
        "changes page: sideways scroll of {overflow}px at phone width"
    );
    browser.screenshot("console-changes-phone.png").await;
    browser.quit().await;
}
