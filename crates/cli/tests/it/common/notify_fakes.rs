//! Local stand-ins for internet services, speaking their documented
//! protocols: the Slack Web API (chat.postMessage, chat.update,
//! chat.postEphemeral, users.info; `{"ok": …}` bodies, 429 + Retry-After
//! when a channel is posted to faster than its limit) and a receiver that
//! records Teams and webhook posts.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One recorded Slack API call.
#[derive(Debug, Clone)]
pub struct SlackCall {
    pub method: String,
    pub body: Value,
    pub at: Instant,
}

#[derive(Default)]
struct SlackState {
    token: String,
    calls: Vec<SlackCall>,
    /// user id → (email, confirmed)
    users: HashMap<String, (String, bool)>,
    /// Minimum gap between posts to one channel (None: unlimited).
    per_channel: Option<Duration>,
    last_post: HashMap<String, Instant>,
    next_ts: u64,
    rate_limited: u64,
}

#[derive(Clone)]
pub struct FakeSlack {
    state: Arc<Mutex<SlackState>>,
    pub url: String,
}

impl FakeSlack {
    pub async fn start(token: &str, per_channel: Option<Duration>) -> FakeSlack {
        let state = Arc::new(Mutex::new(SlackState {
            token: token.to_owned(),
            per_channel,
            next_ts: 1,
            ..SlackState::default()
        }));
        let app = Router::new()
            .route("/api/users.info", get(users_info))
            .route("/api/{method}", post(method))
            .with_state(Arc::clone(&state));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app).await });
        FakeSlack { state, url }
    }

    pub fn add_user(&self, id: &str, email: &str, confirmed: bool) {
        self.state
            .lock()
            .unwrap()
            .users
            .insert(id.into(), (email.into(), confirmed));
    }

    pub fn calls(&self, method: &str) -> Vec<SlackCall> {
        self.state
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    pub fn rate_limited(&self) -> u64 {
        self.state.lock().unwrap().rate_limited
    }

    /// Waits until `pred` holds over the calls of `method`.
    pub async fn wait_for(
        &self,
        method: &str,
        timeout: Duration,
        pred: impl Fn(&[SlackCall]) -> bool,
    ) -> Vec<SlackCall> {
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.calls(method);
            if pred(&c) {
                return c;
            }
            assert!(
                Instant::now() < deadline,
                "fake Slack: timed out waiting on {method}; got {c:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn authed(st: &SlackState, h: &HeaderMap) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {}", st.token))
}

async fn users_info(
    State(state): State<Arc<Mutex<SlackState>>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let st = state.lock().unwrap();
    if !authed(&st, &headers) {
        return axum::Json(json!({"ok": false, "error": "invalid_auth"})).into_response();
    }
    let user = q
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("user=").map(str::to_owned))
        .unwrap_or_default();
    match st.users.get(&user) {
        Some((email, confirmed)) => axum::Json(json!({"ok": true, "user": {
            "id": user, "is_email_confirmed": confirmed, "profile": {"email": email}}}))
        .into_response(),
        None => axum::Json(json!({"ok": false, "error": "user_not_found"})).into_response(),
    }
}

async fn method(
    State(state): State<Arc<Mutex<SlackState>>>,
    axum::extract::Path(method): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = state.lock().unwrap();
    if !authed(&st, &headers) {
        return axum::Json(json!({"ok": false, "error": "invalid_auth"})).into_response();
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return axum::Json(json!({"ok": false, "error": "invalid_json"})).into_response();
    };
    let channel = body["channel"].as_str().unwrap_or_default().to_owned();
    if channel.is_empty() {
        return axum::Json(json!({"ok": false, "error": "channel_not_found"})).into_response();
    }
    if (method == "chat.postMessage" || method == "chat.update")
        && let Some(gap) = st.per_channel
    {
        let now = Instant::now();
        if let Some(last) = st.last_post.get(&channel)
            && now.duration_since(*last) < gap
        {
            st.rate_limited += 1;
            return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "").into_response();
        }
        st.last_post.insert(channel.clone(), now);
    }
    st.calls.push(SlackCall {
        method: method.clone(),
        body: body.clone(),
        at: Instant::now(),
    });
    match method.as_str() {
        "chat.postMessage" => {
            let ts = format!("1700000000.{:06}", st.next_ts);
            st.next_ts += 1;
            // Posting to a user id opens a DM, answered with its D… id.
            let ch = match channel.strip_prefix('U') {
                Some(rest) => format!("D{rest}"),
                None => channel,
            };
            axum::Json(
                json!({"ok": true, "channel": ch, "ts": ts, "message": {"text": body["text"]}}),
            )
            .into_response()
        }
        "chat.update" => {
            axum::Json(json!({"ok": true, "channel": channel, "ts": body["ts"]})).into_response()
        }
        "chat.postEphemeral" => {
            axum::Json(json!({"ok": true, "message_ts": "1700000000.999999"})).into_response()
        }
        _ => axum::Json(json!({"ok": false, "error": "unknown_method"})).into_response(),
    }
}

/// One recorded POST.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// Records every POST; bound to a given port so it can "come back".
#[derive(Clone, Default)]
pub struct Receiver {
    pub got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub async fn start_on(port: u16) -> Receiver {
        let r = Receiver::default();
        let got = Arc::clone(&r.got);
        let app = Router::new().fallback(
            move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
                let got = Arc::clone(&got);
                async move {
                    got.lock().unwrap().push(Received {
                        path: uri.path().to_owned(),
                        headers: headers
                            .iter()
                            .map(|(k, v)| {
                                (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())
                            })
                            .collect(),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    StatusCode::NO_CONTENT
                }
            },
        );
        let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        tokio::spawn(async move { axum::serve(l, app).await });
        r
    }

    pub fn on(&self, path: &str) -> Vec<Received> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

/// The `standardwebhooks` package (PyPI), installed by scripts/setup.sh
/// into `target/py`. In CI its absence fails the test.
pub fn python_with_standardwebhooks() -> Option<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let py = std::env::var_os("COUNTERSIGN_PY")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target/py/bin/python"));
    let ok = std::process::Command::new(&py)
        .args(["-c", "import standardwebhooks"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "standardwebhooks is missing: run scripts/setup.sh"
    );
    eprintln!("SKIPPED: standardwebhooks not installed (run scripts/setup.sh)");
    None
}

/// Verifies every message with the `standardwebhooks` package; panics on
/// the first that does not verify.
pub fn verify_with_standardwebhooks(py: &std::path::Path, secret: &str, msgs: &[Received]) {
    let input: Vec<Value> = msgs
        .iter()
        .map(|m| json!({"headers": m.headers, "body": m.body}))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("msgs.json");
    std::fs::write(&file, serde_json::to_vec(&input).unwrap()).unwrap();
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
wh = Webhook(sys.argv[1])
msgs = json.load(open(sys.argv[2]))
for m in msgs:
    wh.verify(m["body"], m["headers"])
# A tampered body must not verify.
m = msgs[0]
try:
    wh.verify(m["body"] + " ", m["headers"])
    sys.exit("tampered body verified")
except Exception:
    pass
print("verified", len(msgs))
"#;
    let out = std::process::Command::new(py)
        .args(["-c", script, secret])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "standardwebhooks refused a signature: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
