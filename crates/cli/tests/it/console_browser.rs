//! The web console in a real browser: Debian's Chromium driven over the W3C
//! WebDriver protocol by chromedriver, against the served binary, at a
//! laptop's 1280 × 800. Sign in; a pending action appears in the inbox
//! without a reload; approve from the approval page; someone who may not
//! vote sees why and no buttons; the audit explorer shows verified receipts;
//! the changes page shows the inventory and a failed gate; a change's review
//! shows the change and its gate report. On every page no table is wider
//! than its card or the window. Screenshots go to `target/artifacts/`.
//!
//! The WebDriver calls used here are a handful of plain HTTP requests, so
//! they are made with the reqwest client the tests already have rather than
//! a WebDriver crate and its dependency tree.

use crate::common::{Server, free_port};
use crate::console::pending_ddl;
use crate::console_changes::{deployed_and_failed, submit};
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
            "--window-size=1280,800",
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

    /// Tables wider than their container (scrolled sideways inside their
    /// card, a column out of sight) or than the window: `selector (widths)`.
    async fn overflowing_tables(&self) -> Vec<String> {
        let found = self
            .run(
                "const out = [];\
                 const vw = document.documentElement.clientWidth;\
                 for (const t of document.querySelectorAll('table')) {\
                   const box = t.parentElement.clientWidth;\
                   const right = t.getBoundingClientRect().right;\
                   if (t.scrollWidth > box + 1 || right > vw + 1) {\
                     out.push((t.className || 'table') + ' (' + t.scrollWidth + 'px in ' + box + 'px, right edge ' + Math.round(right) + ' of ' + vw + ')');\
                   }\
                 }\
                 return out;",
            )
            .await;
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    }

    /// At laptop width every table fits and nothing scrolls sideways; then
    /// a screenshot of the page.
    async fn fits_and_shoot(&self, name: &str) {
        let tables = self.overflowing_tables().await;
        assert!(tables.is_empty(), "{name}: tables overflow: {tables:?}");
        let sideways = self.sideways_scroll().await;
        assert!(
            sideways <= 0,
            "{name}: the page scrolls {sideways}px sideways"
        );
        self.full_page_screenshot(name).await;
    }

    /// The whole page, not only the window: Chromium's own capture beyond
    /// the viewport (through chromedriver's DevTools passthrough), at the
    /// window's width.
    async fn full_page_screenshot(&self, name: &str) {
        let size = self
            .run("return [document.documentElement.clientWidth, document.documentElement.scrollHeight];")
            .await;
        let (w, h) = (size[0].as_i64().unwrap(), size[1].as_i64().unwrap());
        let shot = self
            .post(
                "/goog/cdp/execute",
                json!({"cmd": "Page.captureScreenshot", "params": {
                    "format": "png", "captureBeyondViewport": true,
                    "clip": {"x": 0, "y": 0, "width": w, "height": h.min(6000), "scale": 1}
                }}),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(artifacts().join(name), png).unwrap();
    }

    async fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = artifacts().join(name);
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

/// `target/artifacts/`, where CI keeps the screenshots.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
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
    browser.fits_and_shoot("console-inbox.png").await;

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
    browser.fits_and_shoot("console-approval.png").await;
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
    browser.fits_and_shoot("console-approval-voted.png").await;

    // Someone who may not vote is told why, and gets no buttons to try.
    browser.sign_out().await;
    let own = pending_ddl(&s, &eve, "invoices", "cleanup").await;
    browser.sign_in(&s, &eve).await;
    browser.goto(&format!("{}/ui/approvals/{own}", s.url)).await;
    let why = browser.wait_for("#cannot-vote", 10).await;
    assert_eq!(
        browser.text(&why).await,
        "You cannot vote on this approval: no self-approval: `eve` made this request."
    );
    assert!(
        browser
            .find_all("#approve, #deny, form.vote")
            .await
            .is_empty()
    );
    browser.fits_and_shoot("console-cannot-vote.png").await;

    // The audit explorer shows the entries with verified receipts, every
    // column on screen.
    browser.goto(&format!("{}/ui/audit", s.url)).await;
    let count = browser.wait_for("#verified-count", 10).await;
    let rows = browser.find_all("tr[data-seq]").await.len();
    assert!(rows >= 8, "{rows}");
    assert_eq!(browser.text(&count).await, format!("{rows} of {rows}"));
    assert_eq!(browser.find_all(".badge.verified").await.len(), rows);
    let receipt_right = browser
        .run("return Math.round(document.querySelector('tr[data-seq] td.receipt-cell').getBoundingClientRect().right);")
        .await
        .as_i64()
        .unwrap();
    assert!(
        receipt_right <= 1280,
        "receipt column ends at {receipt_right}px"
    );
    browser.fits_and_shoot("console-audit.png").await;

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
    browser.fits_and_shoot("console-changes.png").await;
    let link = browser
        .wait_for(&format!("table.changes tr[data-change=\"{prod}\"] a"), 5)
        .await;
    browser.click(&link).await;
    let failed = browser
        .wait_for("tr.gate-fail[data-gate=\"promotion\"]", 10)
        .await;
    let failed_text = browser.text(&failed).await;
    assert!(
        failed_text.contains("this artifact is not live in staging")
            && failed_text.starts_with("fail"),
        "the status comes first: {failed_text}"
    );
    let bg = browser
        .run("return getComputedStyle(document.querySelector('tr.gate-fail')).backgroundColor;")
        .await;
    assert_eq!(bg, json!("rgb(252, 232, 230)"));
    browser
        .run("document.getElementById('gates').scrollIntoView();")
        .await;
    browser.fits_and_shoot("console-change-gates.png").await;
    // A description holding a script tag is text, not a script (an alert
    // would also stop every later WebDriver command).
    browser.goto(&format!("{}/ui/changes/{dev}", s.url)).await;
    let d = browser.wait_for("#description", 10).await;
    assert_eq!(
        browser.text(&d).await,
        "retrained <script>alert('x')</script>"
    );

    // A change's review, as the administrator who reviews it: the change
    // (linked, with its metrics) and its gate report, not loose JSON.
    let staging = submit(&s, &eve, "staging", json!({})).await;
    assert_eq!(staging["state"], "awaiting_review", "{staging}");
    let review = staging["review_approval"].as_str().unwrap();
    let change = staging["id"].as_str().unwrap();
    browser.sign_out().await;
    browser.sign_in(&s, &s.admin_token).await;
    browser
        .goto(&format!("{}/ui/approvals/{review}", s.url))
        .await;
    let to_change = browser.wait_for("#change-link", 10).await;
    assert_eq!(browser.text(&to_change).await, change);
    let metrics = browser.wait_for("#review-metrics", 5).await;
    assert!(browser.text(&metrics).await.contains("accuracy 0.93"));
    let promo = browser
        .wait_for("table.gates tr[data-gate=\"promotion\"]", 5)
        .await;
    assert!(browser.text(&promo).await.starts_with("pass"));
    assert!(browser.find_all("pre").await.is_empty(), "no JSON blocks");
    browser.fits_and_shoot("console-change-review.png").await;
    let approve = browser.wait_for("#approve", 5).await;
    browser.click(&approve).await;
    browser.wait_for("#vote-result", 10).await;
    // The change page now says who approved it, in the gate report too.
    browser
        .click(&browser.wait_for("#change-link", 5).await)
        .await;
    let review_row = browser
        .wait_for("table.gates tr[data-gate=\"review\"]", 10)
        .await;
    let review_text = browser.text(&review_row).await;
    assert!(
        review_text.starts_with("pass") && review_text.contains("approved by admin"),
        "{review_text}"
    );
    browser.fits_and_shoot("console-change-approved.png").await;

    // The policies page: what each environment enforces.
    browser.goto(&format!("{}/ui/policies", s.url)).await;
    let envs = browser.wait_for("table.in-force", 10).await;
    let text = browser.text(&envs).await;
    assert!(
        ["dev", "staging", "prod"].iter().all(|e| text.contains(e)),
        "{text}"
    );
    browser.fits_and_shoot("console-policies.png").await;
    browser.goto(&format!("{}/ui/principals", s.url)).await;
    browser.wait_for("table", 10).await;
    browser.fits_and_shoot("console-principals.png").await;

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
