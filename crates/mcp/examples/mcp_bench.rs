//! Load generator for bench/mcp.sh: `tools/call` round trips over MCP
//! Streamable HTTP, against an upstream directly and through Countersign,
//! at several session counts, in one run.
//!
//!   mcp_bench DIRECT_URL GATEWAY_URL TOKEN SECS SESSIONS... [--idle N]
//!
//! DIRECT_URL is called with the upstream's own credential
//! (`Bearer upstream-secret`); GATEWAY_URL with TOKEN. The tool is
//! `echo` directly and `remote.echo` through the gateway.
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
        if buf.windows(9).any(|w| w == b"\"result\":")
            && (buf.ends_with(b"\n\n") || buf.ends_with(b"}"))
        {
            break;
        }
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

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--idle") {
        // Opens N sessions on the gateway and keeps them idle until stdin closes.
        let n: usize = args[i + 1].parse().unwrap();
        let t = Target {
            url: args[1].clone(),
            auth: format!("Bearer {}", args[2]),
            tool: String::new(),
        };
        let http = reqwest::Client::new();
        for _ in 0..n {
            session(&http, &t).await;
        }
        println!("opened {n}");
        let mut s = String::new();
        let _ = std::io::stdin().read_line(&mut s);
        return;
    }
    let direct = Target {
        url: args[1].clone(),
        auth: "Bearer upstream-secret".into(),
        tool: "echo".into(),
    };
    let gateway = Target {
        url: args[2].clone(),
        auth: format!("Bearer {}", args[3]),
        tool: "remote.echo".into(),
    };
    let secs: u64 = args[4].parse().unwrap();
    println!(
        "| sessions | direct calls/s | gateway calls/s | ratio | direct p50 | gateway p50 | added p50 | direct p99 | gateway p99 | added p99 |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for n in &args[5..] {
        let n: usize = n.parse().unwrap();
        let d = run(&direct, n, secs).await;
        let g = run(&gateway, n, secs).await;
        let (dr, gr) = (d.calls as f64 / d.secs, g.calls as f64 / g.secs);
        println!(
            "| {n} | {dr:.0} | {gr:.0} | {:.2}× | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} µs |",
            gr / dr,
            us(d.p50),
            us(g.p50),
            us(g.p50) - us(d.p50),
            us(d.p99),
            us(g.p99),
            us(g.p99) - us(d.p99),
        );
    }
}
