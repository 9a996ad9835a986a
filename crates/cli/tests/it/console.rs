//! The web console without a browser: sign-in, session cookie flags, CSRF,
//! sign-out, voting through the form, the API's refusal shown, and HTML
//! escaping of hostile values — against the real served binary.

use crate::common::Server;
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::{Value, json};
use std::collections::HashMap;

/// A cookie-keeping client that does not follow redirects (so tests see them).
pub struct Web {
    pub base: String,
    http: reqwest::Client,
    pub jar: HashMap<String, String>,
}

pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The value of the hidden `csrf` input on the page.
    pub fn csrf(&self) -> String {
        let i = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a csrf field")
            + 19;
        self.body[i..i + 64].to_owned()
    }
}

impl Web {
    pub fn new(base: &str) -> Web {
        Web {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, r: reqwest::Response) -> Page {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        for c in headers.get_all(SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (kv, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.jar.remove(k);
            } else {
                self.jar.insert(k.to_owned(), v.to_owned());
            }
        }
        let body = r.text().await.unwrap();
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(r).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_with(path, form, &[]).await
    }

    pub async fn post_with(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        extra: &[(&str, &str)],
    ) -> Page {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                form.iter()
                    .map(|(k, v)| format!("{k}={}", urlencode(v)))
                    .collect::<Vec<_>>()
                    .join("&"),
            );
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        self.finish(r).await
    }

    /// Signs in with `token`; returns the answer to the sign-in form.
    pub async fn sign_in(&mut self, token: &str) -> Page {
        let form = self.get("/ui/login").await;
        assert_eq!(form.status, 200);
        let csrf = form.csrf();
        self.post(
            "/ui/login",
            &[("csrf", &csrf), ("token", token), ("next", "/ui/approvals")],
        )
        .await
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn assert_security_headers(p: &Page) {
    let h = |n: &str| p.headers.get(n).map(|v| v.to_str().unwrap().to_owned());
    let csp = h("content-security-policy").expect("a CSP");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(h("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(h("referrer-policy").as_deref(), Some("no-referrer"));
}

/// A pending approval: an agent's DROP TABLE in prod (starter policies).
pub async fn pending_ddl(s: &Server, agent_token: &str, table: &str, reason: &str) -> String {
    let (st, d) = s
        .client(agent_token)
        .post(
            "/v1/decisions",
            json!({
                "action": "sql.ddl",
                "resource": {"type": "Table", "id": table},
                "environment": "prod",
                "context": {"sql": {"statement": format!("DROP TABLE {table}")}},
                "reason": reason,
            }),
        )
        .await;
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["verdict"], "pending", "{d}");
    d["approval"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn sign_in_sets_a_strict_session_cookie_and_sign_out_ends_it() {
    let s = Server::start();
    let sam = s.principal("sam", "user", &["reviewer"], None).await;
    let bot = s
        .principal("bot", "agent", &["engineer"], Some("sam"))
        .await;
    let mut web = Web::new(&s.url);

    // Not signed in: pages send the browser to the sign-in form.
    let p = web.get("/ui/approvals/apr_x").await;
    assert_eq!(p.status, 303);
    assert_eq!(p.location(), "/ui/login?next=%2Fui%2Fapprovals%2Fapr_x");
    assert_security_headers(&p);

    // The sign-in form's own CSRF check.
    let form = web.get("/ui/login").await;
    assert_security_headers(&form);
    let login_cookie = form.set_cookies().join("\n");
    assert!(
        login_cookie.contains("cs_login=")
            && login_cookie.contains("HttpOnly")
            && login_cookie.contains("SameSite=Strict")
    );
    let wrong = web
        .post("/ui/login", &[("csrf", &"0".repeat(64)), ("token", &sam)])
        .await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    assert!(!web.jar.contains_key("cs_session"));

    // A wrong token: refused, no session, the value not echoed.
    let form = web.get("/ui/login").await;
    let bad = format!("{}x", &sam[..sam.len() - 1]);
    let p = web
        .post("/ui/login", &[("csrf", &form.csrf()), ("token", &bad)])
        .await;
    assert_eq!(p.status, 401);
    assert!(p.body.contains("Sign-in failed"));
    assert!(!p.body.contains(&bad[3..]));
    assert!(!web.jar.contains_key("cs_session"));
    let failures = s.admin().audit("auth.failed").await;
    assert!(
        failures.iter().any(|e| e["detail"]["channel"] == "console"),
        "{failures:?}"
    );

    // Agents use the API, not the console.
    let p = web.sign_in(&bot).await;
    assert_eq!(p.status, 403);
    assert!(!web.jar.contains_key("cs_session"));

    // The real thing.
    let p = web.sign_in(&sam).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(p.location(), "/ui/approvals");
    let cookie = p
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("cs_session="))
        .expect("a session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let sid = cookie["cs_session=".len()..].split(';').next().unwrap();
    assert_eq!(sid.len(), 64, "256 random bits, hex");
    assert!(!cookie.contains(&sam), "the token never goes into a cookie");

    for path in [
        "/ui/approvals",
        "/ui/audit",
        "/ui/policies",
        "/ui/principals",
    ] {
        let p = web.get(path).await;
        assert_eq!(p.status, 200, "{path}: {}", p.body);
        assert_security_headers(&p);
        assert!(
            p.body.contains("Signed in as <strong>sam</strong>"),
            "{path}"
        );
        let (_, secret) = sam[3..].split_once('_').unwrap();
        assert!(!p.body.contains(secret), "{path} shows the token");
    }
    assert!(web.get("/ui/principals").await.body.contains("never here"));

    // Behind a TLS-terminating proxy the cookie is Secure.
    let mut tls = Web::new(&s.url);
    let form = tls.get("/ui/login").await;
    let p = tls
        .post_with(
            "/ui/login",
            &[("csrf", &form.csrf()), ("token", &sam)],
            &[("x-forwarded-proto", "https")],
        )
        .await;
    assert_eq!(p.status, 303);
    assert!(
        p.set_cookies()
            .iter()
            .any(|c| c.starts_with("cs_session=") && c.contains("; Secure"))
    );

    // Sign-out needs the CSRF token too.
    let page = web.get("/ui/approvals").await;
    let p = web.post("/ui/logout", &[]).await;
    assert_eq!(p.status, 403);
    assert_eq!(
        web.get("/ui/approvals").await.status,
        200,
        "still signed in"
    );
    let p = web.post("/ui/logout", &[("csrf", &page.csrf())]).await;
    assert_eq!(p.status, 303);
    assert!(!web.jar.contains_key("cs_session"));
    // The old session id is dead on the server, not only in the browser.
    web.jar.insert("cs_session".into(), sid.to_owned());
    let p = web.get("/ui/approvals").await;
    assert_eq!(p.status, 303);
    assert!(p.location().starts_with("/ui/login"));

    // A revoked token ends the session it opened.
    let mut web = Web::new(&s.url);
    assert_eq!(web.sign_in(&sam).await.status, 303);
    let (_, tokens) = s.admin().get("/v1/tokens").await;
    let id = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["principal"] == "sam")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (st, _) = s
        .admin()
        .post(&format!("/v1/tokens/{id}/revoke"), json!({}))
        .await;
    assert_eq!(st, 200);
    assert_eq!(web.get("/ui/approvals").await.status, 303);
}

async fn approval(s: &Server, id: &str) -> Value {
    let (st, a) = s.admin().get(&format!("/v1/approvals/{id}")).await;
    assert_eq!(st, 200, "{a}");
    a
}

#[tokio::test]
async fn votes_need_csrf_and_a_refused_self_approval_shows_the_apis_reason() {
    let s = Server::start();
    let rita = s.principal("rita", "user", &["reviewer"], None).await;
    let sam = s.principal("sam", "user", &["reviewer"], None).await;
    let eve = s
        .principal("eve", "user", &["engineer", "reviewer"], None)
        .await;
    let bot = s
        .principal("bot", "agent", &["engineer"], Some("rita"))
        .await;
    let id = pending_ddl(&s, &bot, "orders", "nightly cleanup").await;

    let mut web = Web::new(&s.url);
    assert_eq!(web.sign_in(&sam).await.status, 303);
    let inbox = web.get("/ui/approvals").await;
    assert!(
        inbox.body.contains(&format!("data-approval=\"{id}\"")),
        "{}",
        inbox.body
    );
    assert!(inbox.body.contains("DROP TABLE orders"));
    assert!(inbox.body.contains("nightly cleanup"));
    assert!(inbox.body.contains("owner <strong>rita</strong>"));
    assert!(inbox.body.contains("0 of 2 approvals"));
    let live = web.get("/ui/approvals/live").await;
    assert_eq!(live.status, 200);
    assert!(live.body.contains(&id));

    let path = format!("/ui/approvals/{id}");
    let page = web.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("ddl-and-exports-in-prod-need-two-reviewers")
    );
    let csrf = page.csrf();

    // Missing and wrong CSRF tokens: 403, nothing recorded.
    let vote = format!("{path}/vote");
    let p = web
        .post(&vote, &[("decision", "approve"), ("reason", "ok")])
        .await;
    assert_eq!(p.status, 403);
    let p = web
        .post(
            &vote,
            &[
                ("csrf", &"f".repeat(64)),
                ("decision", "approve"),
                ("reason", "ok"),
            ],
        )
        .await;
    assert_eq!(p.status, 403);
    // Another session's token is not this one's.
    let mut other = Web::new(&s.url);
    assert_eq!(other.sign_in(&rita).await.status, 303);
    let p = other
        .post(
            &vote,
            &[("csrf", &csrf), ("decision", "approve"), ("reason", "ok")],
        )
        .await;
    assert_eq!(p.status, 403);
    assert_eq!(approval(&s, &id).await["votes"], json!([]));

    // The form, with its token: recorded, via the web.
    let p = web
        .post(
            &vote,
            &[
                ("csrf", &csrf),
                ("decision", "approve"),
                ("reason", "backup verified"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(p.location(), format!("{path}?voted=approve"));
    let a = approval(&s, &id).await;
    assert_eq!(a["votes"][0]["voter"], "sam");
    assert_eq!(a["votes"][0]["via"], "web");
    assert_eq!(a["votes"][0]["reason"], "backup verified");
    let page = web.get(&format!("{path}?voted=approve")).await;
    assert!(page.body.contains("Your vote (approve) was recorded"));
    assert!(page.body.contains("backup verified"));

    // Voting twice: refused in the API's words.
    let p = web
        .post(
            &vote,
            &[
                ("csrf", &csrf),
                ("decision", "approve"),
                ("reason", "again"),
            ],
        )
        .await;
    assert_eq!(p.status, 403);
    assert!(
        p.body.contains("`sam` has already voted on this approval"),
        "{}",
        p.body
    );

    // Self-approval: eve asks, then tries to approve her own request.
    let own = pending_ddl(&s, &eve, "invoices", "cleanup").await;
    let mut web = Web::new(&s.url);
    assert_eq!(web.sign_in(&eve).await.status, 303);
    let own_path = format!("/ui/approvals/{own}");
    let page = web.get(&own_path).await;
    let p = web
        .post(
            &format!("{own_path}/vote"),
            &[
                ("csrf", &page.csrf()),
                ("decision", "approve"),
                ("reason", "mine"),
            ],
        )
        .await;
    assert_eq!(p.status, 403);
    let (_, api) = s.client(&eve).vote(&own, "approve", Some("mine")).await;
    let api_message = api["error"]["message"].as_str().unwrap();
    assert_eq!(api_message, "no self-approval: `eve` made this request");
    assert!(
        p.body.contains("no self-approval: `eve` made this request"),
        "{}",
        p.body
    );
    assert!(p.body.contains("data-code=\"self_approval\""));
    assert_eq!(approval(&s, &own).await["votes"], json!([]));
    // The inbox does not offer eve her own request to decide.
    let inbox = web.get("/ui/approvals").await;
    let mine = inbox.body.split("Waiting on others").next().unwrap();
    assert!(!mine.contains(&own), "{}", inbox.body);
}

#[tokio::test]
async fn hostile_values_are_escaped_everywhere() {
    let s = Server::start();
    let sam = s.principal("sam", "user", &["reviewer"], None).await;
    let bot = s
        .principal("bot", "agent", &["engineer"], Some("sam"))
        .await;
    let evil = "<script>alert('x')</script>";
    let id = pending_ddl(&s, &bot, evil, &format!("because \"{evil}\"")).await;

    let mut web = Web::new(&s.url);
    assert_eq!(web.sign_in(&sam).await.status, 303);
    for path in [
        "/ui/approvals".to_owned(),
        "/ui/approvals/live".to_owned(),
        format!("/ui/approvals/{id}"),
        "/ui/audit?action=sql.ddl".to_owned(),
        format!("/ui/audit?principal={}", urlencode(evil)),
    ] {
        let p = web.get(&path).await;
        assert_eq!(p.status, 200, "{path}");
        assert!(!p.body.contains("<script>alert"), "{path}: {}", p.body);
        assert!(!p.body.contains("alert('x')"), "{path}");
    }
    let p = web.get("/ui/approvals").await;
    assert!(
        p.body
            .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;")
    );
    assert!(p.body.contains("because &quot;&lt;script&gt;"));
    // Principal names cannot hold markup; token labels can.
    let (st, _) = s
        .admin()
        .post("/v1/tokens", json!({"principal": "sam", "label": evil}))
        .await;
    assert_eq!(st, 201);
    let mut admin = Web::new(&s.url);
    assert_eq!(admin.sign_in(&s.admin_token).await.status, 303);
    let p = admin.get("/ui/principals").await;
    assert!(!p.body.contains("<script>alert"), "{}", p.body);
    assert!(
        p.body
            .contains("<td>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</td>")
    );
    // The filter value is echoed into the form escaped.
    let p = web
        .get(&format!("/ui/audit?principal={}", urlencode(evil)))
        .await;
    assert!(
        p.body
            .contains("value=\"&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;\"")
    );
}

#[tokio::test]
async fn audit_explorer_verifies_receipts_and_exports_the_filtered_view() {
    let s = Server::start();
    let sam = s.principal("sam", "user", &["reviewer"], None).await;
    let bot = s
        .principal("bot", "agent", &["engineer"], Some("sam"))
        .await;
    pending_ddl(&s, &bot, "orders", "cleanup").await;
    pending_ddl(&s, &bot, "users", "cleanup").await;

    let mut web = Web::new(&s.url);
    assert_eq!(web.sign_in(&sam).await.status, 303);
    let p = web.get("/ui/audit").await;
    assert_eq!(p.status, 200);
    let rows = p.body.matches("<tr data-seq=").count();
    assert!(rows >= 6, "{rows} rows");
    assert_eq!(p.body.matches("✓ verified").count(), rows, "{}", p.body);
    assert!(!p.body.contains("not verified"));
    assert!(p.body.contains(&format!(
        "<strong id=\"verified-count\">{rows} of {rows}</strong>"
    )));

    let p = web.get("/ui/audit?action=sql.ddl&verdict=pending").await;
    assert_eq!(p.body.matches("<tr data-seq=").count(), 2, "{}", p.body);
    assert_eq!(p.body.matches("✓ verified").count(), 2);

    let p = web
        .get("/ui/audit/export.jsonl?action=sql.ddl&verdict=pending")
        .await;
    assert_eq!(p.status, 200);
    let lines: Vec<Value> = p
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["entry"]["resource"]["id"], "orders");
    assert_eq!(lines[1]["entry"]["resource"]["id"], "users");

    let p = web.get("/ui/audit?since=yesterday").await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("`since` must be a time"));
    let p = web
        .get(&format!("/ui/audit?principal={}", "a".repeat(201)))
        .await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("at most 200 bytes"));
}

#[tokio::test]
async fn console_section_sets_secure_cookies_or_turns_the_console_off() {
    let mut s = Server::start();
    let sam = s.principal("sam", "user", &["reviewer"], None).await;
    let cfg = s.data_dir().join("countersign.toml");
    let original = std::fs::read_to_string(&cfg).unwrap();

    s.stop();
    std::fs::write(
        &cfg,
        format!("{original}\n[console]\nsecure_cookies = true\n"),
    )
    .unwrap();
    s.spawn();
    let mut web = Web::new(&s.url);
    let p = web.sign_in(&sam).await;
    assert_eq!(p.status, 303);
    assert!(
        p.set_cookies()
            .iter()
            .any(|c| c.starts_with("cs_session=") && c.ends_with("; Secure")),
        "{:?}",
        p.set_cookies()
    );

    s.stop();
    std::fs::write(&cfg, format!("{original}\n[console]\nenabled = false\n")).unwrap();
    s.spawn();
    let mut web = Web::new(&s.url);
    assert_eq!(web.get("/ui/login").await.status, 404);
    assert_eq!(web.get("/").await.status, 404);
    let (st, _) = s.client(&sam).get("/v1/whoami").await;
    assert_eq!(st, 200, "the API still serves");
}
