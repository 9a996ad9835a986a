//! A stdio upstream: a child process speaking newline-delimited JSON-RPC,
//! supervised. When it exits, every call in flight fails with a clear
//! error and it is started again with exponential backoff (reset after it
//! stayed up a while); calls made while it is down fail at once.

use super::line::{LineError, read_line};
use super::{Shared, cancelled, initialize_params, into_response, response_id};
use crate::error::McpError;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::process::Stdio as ProcStdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncWriteExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Up this long, a process counts as healthy again (backoff resets).
const STABLE: Duration = Duration::from_secs(30);
const OUTBOX: usize = 1024;

type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// One running process.
#[derive(Debug)]
struct Conn {
    out: mpsc::Sender<Vec<u8>>,
    waiters: Waiters,
}

/// How long a call waits for a (re)starting process before failing.
const READY_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct Stdio {
    shared: Arc<Shared>,
    live: Mutex<Option<Arc<Conn>>>,
    /// Bumped whenever a process becomes ready.
    ready: tokio::sync::watch::Sender<u64>,
}

impl Stdio {
    pub fn start(
        shared: Arc<Shared>,
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
    ) -> Arc<Stdio> {
        let s = Arc::new(Stdio {
            shared,
            live: Mutex::new(None),
            ready: tokio::sync::watch::Sender::new(0),
        });
        tokio::spawn(supervise(Arc::clone(&s), command, args, env));
        s
    }

    fn conn(&self) -> Option<Arc<Conn>> {
        self.live.lock().ok().and_then(|g| g.clone())
    }

    fn set(&self, c: Option<Arc<Conn>>) {
        let up = c.is_some();
        if let Ok(mut g) = self.live.lock() {
            *g = c;
        }
        if up {
            self.ready.send_modify(|n| *n += 1);
        }
    }

    /// The running process, waiting briefly for one that is starting.
    async fn wait_conn(&self) -> Option<Arc<Conn>> {
        let mut rx = self.ready.subscribe();
        if let Some(c) = self.conn() {
            return Some(c);
        }
        let wait = READY_WAIT.min(self.shared.call_timeout);
        let _ = tokio::time::timeout(wait, async {
            while self.conn().is_none() {
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        self.conn()
    }

    pub async fn request(
        &self,
        method: &str,
        params: Option<Value>,
        cancel: &CancellationToken,
    ) -> Result<Map<String, Value>, McpError> {
        let name = &self.shared.name;
        let conn = self.wait_conn().await.ok_or_else(|| {
            McpError::upstream(
                name,
                "is not running (starting or restarting after a crash)",
            )
        })?;
        call(&self.shared, &conn, method, params, cancel).await
    }
}

/// Sends one request on `conn` and waits for its answer.
async fn call(
    shared: &Shared,
    conn: &Conn,
    method: &str,
    params: Option<Value>,
    cancel: &CancellationToken,
) -> Result<Map<String, Value>, McpError> {
    let name = &shared.name;
    let id = shared.next_id();
    let mut msg = json!({"jsonrpc": "2.0", "id": id, "method": method});
    if let (Some(p), Some(o)) = (params, msg.as_object_mut()) {
        o.insert("params".into(), p);
    }
    let line = encode(&msg);
    if line.len() > shared.max_bytes {
        return Err(McpError::upstream(
            name,
            "request is larger than max_message_bytes",
        ));
    }
    let (tx, rx) = oneshot::channel();
    if let Ok(mut w) = conn.waiters.lock() {
        w.insert(id, tx);
    }
    let forget = || {
        if let Ok(mut w) = conn.waiters.lock() {
            w.remove(&id);
        }
    };
    if conn.out.send(line).await.is_err() {
        forget();
        return Err(McpError::upstream(
            name,
            "exited before the request could be sent",
        ));
    }
    let outcome = tokio::select! {
        r = tokio::time::timeout(shared.call_timeout, rx) => r,
        _ = cancel.cancelled() => {
            forget();
            let _ = conn.out.try_send(encode(&cancelled(id, "cancelled by the client")));
            return Err(McpError::Cancelled);
        }
    };
    match outcome {
        Ok(Ok(resp)) => into_response(resp, name),
        Ok(Err(_)) => Err(McpError::upstream(
            name,
            "exited while the call was running; it did not complete (the server is being restarted)",
        )),
        Err(_) => {
            forget();
            let _ = conn
                .out
                .try_send(encode(&cancelled(id, "timed out at the gateway")));
            Err(McpError::upstream(
                name,
                format!(
                    "did not answer within {}s; the call was abandoned",
                    shared.call_timeout.as_secs()
                ),
            ))
        }
    }
}

fn encode(v: &Value) -> Vec<u8> {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    b
}

async fn supervise(
    s: Arc<Stdio>,
    command: String,
    args: Vec<String>,
    env: BTreeMap<String, String>,
) {
    let name = s.shared.name.clone();
    let mut backoff = BACKOFF_MIN;
    loop {
        let started = tokio::time::Instant::now();
        match run_once(&s, &command, &args, &env).await {
            Ok(status) => {
                tracing::warn!(upstream = %name, %status, "mcp: upstream exited; restarting")
            }
            Err(e) => {
                tracing::warn!(upstream = %name, error = %e, "mcp: upstream failed; restarting")
            }
        }
        s.set(None);
        s.shared
            .tools_changed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if started.elapsed() >= STABLE {
            backoff = BACKOFF_MIN;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Runs the process until it exits.
async fn run_once(
    s: &Arc<Stdio>,
    command: &str,
    args: &[String],
    env: &BTreeMap<String, String>,
) -> Result<String, String> {
    let mut child: Child = Command::new(command)
        .args(args)
        .envs(env)
        .stdin(ProcStdio::piped())
        .stdout(ProcStdio::piped())
        .stderr(ProcStdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start `{command}`: {e}"))?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err("no pipes to the child".into());
    };
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(OUTBOX);
    let writer = tokio::spawn(async move {
        while let Some(line) = out_rx.recv().await {
            if stdin.write_all(&line).await.is_err() || stdin.flush().await.is_err() {
                break;
            }
        }
    });
    let waiters: Waiters = Arc::new(Mutex::new(HashMap::new()));
    let conn = Arc::new(Conn {
        out: out_tx.clone(),
        waiters: Arc::clone(&waiters),
    });
    let shared = Arc::clone(&s.shared);
    let reader = {
        let waiters = Arc::clone(&waiters);
        let out = out_tx.clone();
        tokio::spawn(async move {
            let mut r = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                match read_line(&mut r, &mut buf, shared.max_bytes).await {
                    Ok(true) => {}
                    Ok(false) => return "closed its output".to_owned(),
                    Err(LineError::Io(e)) => return format!("output unreadable: {e}"),
                    Err(LineError::TooLong(n)) => {
                        return format!("sent a message larger than {n} bytes");
                    }
                }
                if buf.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let Ok(msg) = serde_json::from_slice::<Value>(&buf) else {
                    tracing::warn!(upstream = %shared.name, "mcp: upstream wrote a line that is not JSON; ignored");
                    continue;
                };
                if let Some(id) = response_id(&msg) {
                    let w = waiters.lock().ok().and_then(|mut w| w.remove(&id));
                    if let Some(tx) = w {
                        let _ = tx.send(msg);
                    }
                } else if let Some(reply) = shared.unsolicited(&msg) {
                    let _ = out.try_send(encode(&reply));
                }
            }
        })
    };
    // The handshake, before any agent call may use the process.
    let never = CancellationToken::new();
    let init = call(
        &s.shared,
        &conn,
        "initialize",
        Some(initialize_params()),
        &never,
    );
    let handshake = tokio::select! {
        r = init => r.map_err(|e| e.to_string()),
        st = child.wait() => Err(format!("exited during the handshake: {}", st.map(|s| s.to_string()).unwrap_or_default())),
    };
    let result = match handshake {
        Ok(resp) if resp.contains_key("result") => {
            let _ = out_tx
                .send(encode(
                    &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
                ))
                .await;
            s.set(Some(Arc::clone(&conn)));
            tracing::info!(upstream = %s.shared.name, "mcp: upstream ready");
            tokio::select! {
                st = child.wait() => st.map(|s| s.to_string()).map_err(|e| e.to_string()),
                why = reader => Err(why.unwrap_or_else(|e| e.to_string())),
            }
        }
        Ok(resp) => Err(format!(
            "refused the handshake: {}",
            resp.get("error").map(Value::to_string).unwrap_or_default()
        )),
        Err(e) => Err(e),
    };
    s.set(None);
    // Dropping the waiters' senders fails every call in flight.
    if let Ok(mut w) = waiters.lock() {
        w.clear();
    }
    writer.abort();
    let _ = child.start_kill();
    let _ = child.wait().await;
    result
}
