//! Benchmark for bench/mcp.sh: `tools/call` round trips over MCP
//! Streamable HTTP against an rmcp upstream directly, and through the
//! Countersign gateway (policy and durable audit on: a SQLite store in a
//! temporary directory, each decision fsynced before the call goes out),
//! at several session counts, in one run; then memory per idle session.
//!
//!   mcp_bench UPSTREAM_URL SECS SESSIONS...
//!
//! The gateway runs in this process on its own Tokio runtime (2 worker
//! threads), the load generator on another; the upstream is a separate
//! process. Direct calls carry the upstream's credential (`Bearer
//! upstream-secret`); gateway calls a Countersign token, and the gateway
//! injects the credential.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use std::time::{Duration, Instant};

struct Target {
    url: String,
    auth: String,
    tool: String,
}

async fn session(http: &reqwest::Client, t: &Target) -> String {
    let r = http
        .post(&t.url)
        .header("authorization", &t.auth)
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"}}}),
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "initialize: {}", r.status());
    let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let _ = r.bytes().await;
    let r = http
        .post(&t.url)
        .header("authorization", &t.auth)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &sid)
        .header("mcp-protocol-version", "2025-06-18")
        .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .send()
        .await
        .unwrap();
    let _ = r.bytes().await;
    sid
}

/// One call; returns when the response (JSON or the SSE event) is in.
async fn call(http: &reqwest::Client, t: &Target, sid: &str, id: u64) {
    let mut r = http
        .post(&t.url)
        .header("authorization", &t.auth)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", sid)
        .header("mcp-protocol-version", "2025-06-18")
        .json(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                      "params": {"name": t.tool, "arguments": {"text": "hello"}}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "call: {}", r.status());
    let mut buf = Vec::new();
    while let Some(c) = r.chunk().await.unwrap() {
        buf.extend_from_slice(&c);
    }
    let text = String::from_utf8_lossy(&buf);
    let body = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .find(|l| l.contains("\"result\""))
        .unwrap_or(text.trim());
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("bad answer: {text}"));
    assert_eq!(v["result"]["isError"], false, "{v}");
}

struct Run {
    calls: usize,
    secs: f64,
    p50: Duration,
    p99: Duration,
}

async fn run(t: &Target, sessions: usize, secs: u64) -> Run {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let mut sids = Vec::new();
    for _ in 0..sessions {
        sids.push(session(&http, t).await);
    }
    // Warm up.
    for (i, s) in sids.iter().enumerate() {
        call(&http, t, s, i as u64 + 1).await;
    }
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for sid in sids {
        let http = http.clone();
        let t = Target {
            url: t.url.clone(),
            auth: t.auth.clone(),
            tool: t.tool.clone(),
        };
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut id = 1000;
            while Instant::now() < until {
                let s = Instant::now();
                call(&http, &t, &sid, id).await;
                lat.push(s.elapsed());
                id += 1;
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for h in tasks {
        all.extend(h.await.unwrap());
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    Run {
        calls: all.len(),
        secs,
        p50: pct(0.50),
        p99: pct(0.99),
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Starts the gateway on its own runtime; returns its `/mcp` URL and a
/// token of an agent that policy lets call `remote.echo`.
fn start_gateway(upstream: &str, dir: &std::path::Path) -> (String, String) {
    use countersign_core::governor::{GovernorConfig, NewPrincipal};
    use countersign_core::policy::{PolicySet, PolicySource, STARTER_SCHEMA};
    use countersign_core::{Governor, PrincipalKind};
    let (tx, rx) = std::sync::mpsc::channel();
    let upstream = upstream.to_owned();
    let dir = dir.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let set = PolicySet::compile(
                "schema.cedarschema",
                STARTER_SCHEMA,
                &[PolicySource {
                    name: "bench.cedar".into(),
                    text: "@id(\"bench-echo\")\npermit (principal, action == Action::\"mcp.call\", resource == Tool::\"remote.echo\");\n".into(),
                }],
            )
            .unwrap();
            let store = std::sync::Arc::new(countersign_store::SqliteStore::open(&dir.join("db.sqlite")).unwrap());
            let governor = std::sync::Arc::new(Governor::open(store, set, GovernorConfig::default()).await.unwrap());
            for (name, kind, owner) in [("owner", PrincipalKind::User, None), ("bench-bot", PrincipalKind::Agent, Some("owner"))] {
                governor
                    .add_principal(None, NewPrincipal { name: name.into(), kind, groups: vec![], owner: owner.map(String::from), email: None }, None)
                    .await
                    .unwrap();
            }
            let token = governor.create_token(None, "bench-bot", None, None, None).await.unwrap().value;
            let cfg = serde_json::from_value::<countersign_mcp::McpSection>(json!({
                "pin": "first-use",
                "max_sessions": 50000,
                "upstreams": [{"name": "remote", "environment": "dev", "url": upstream,
                               "headers": {"Authorization": "Bearer upstream-secret"}}]
            }))
            .unwrap()
            .validate(&dir)
            .unwrap();
            let gw = countersign_mcp::Gateway::start(governor, cfg).unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/mcp", listener.local_addr().unwrap());
            tx.send((url, token)).unwrap();
            // As `countersign serve` does.
            use axum::serve::ListenerExt as _;
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, countersign_mcp::router(gw)).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = tempfile::tempdir().unwrap();
    let (gw_url, token) = start_gateway(&args[1], dir.path());
    // The same gateway with its store on tmpfs, where fsync costs nothing:
    // what is left is the gateway's own work.
    let shm = tempfile::tempdir_in("/dev/shm").unwrap();
    let (shm_url, shm_token) = start_gateway(&args[1], shm.path());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let direct = Target { url: args[1].clone(), auth: "Bearer upstream-secret".into(), tool: "echo".into() };
        let gateway = Target { url: gw_url.clone(), auth: format!("Bearer {token}"), tool: "remote.echo".into() };
        let gateway_shm = Target { url: shm_url.clone(), auth: format!("Bearer {shm_token}"), tool: "remote.echo".into() };
        let secs: u64 = args[2].parse().unwrap();
        // Memory per idle session, first (before load warms the allocator):
        // the whole process's RSS, so the client's share of each session is
        // included: an upper bound.
        let http = reqwest::Client::new();
        let n = 20_000;
        let before = rss_kb();
        for _ in 0..n {
            session(&http, &gateway).await;
        }
        let after = rss_kb();
        println!(
            "idle sessions: {n}; process RSS {before} kB -> {after} kB: {} bytes per idle session (upper bound)",
            (after.saturating_sub(before)) * 1024 / n
        );
        println!();
        println!("| sessions | path | calls/s | ratio to direct | p50 | added p50 | p99 | added p99 |");
        println!("|---:|---|---:|---:|---:|---:|---:|---:|");
        for n in &args[3..] {
            let n: usize = n.parse().unwrap();
            let d = run(&direct, n, secs).await;
            let dr = d.calls as f64 / d.secs;
            println!(
                "| {n} | direct | {dr:.0} | 1.00× | {:.0} µs | | {:.0} µs | |",
                us(d.p50),
                us(d.p99)
            );
            for (label, t) in [("gateway, store on disk", &gateway), ("gateway, store on tmpfs", &gateway_shm)] {
                let g = run(t, n, secs).await;
                let gr = g.calls as f64 / g.secs;
                println!(
                    "| {n} | {label} | {gr:.0} | {:.2}× | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} µs |",
                    gr / dr,
                    us(g.p50),
                    us(g.p50) - us(d.p50),
                    us(g.p99),
                    us(g.p99) - us(d.p99),
                );
            }
        }
    });
}
