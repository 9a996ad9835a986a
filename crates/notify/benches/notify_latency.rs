//! Notification benchmarks against a local fake of the Slack Web API, with
//! the real store, governor and notifier in process:
//!
//! 1. latency: an action goes pending (the decision is durable), then the
//!    time until its chat.postMessage reaches Slack; no rate limiting.
//! 2. burst: N pending actions at once across C channels, the fake
//!    enforcing 1 message/s per channel (429 + Retry-After: 1): all
//!    delivered, none lost, none duplicated. Takes ≥ N/C seconds.
//!
//! `cargo bench -p countersign-notify --bench notify_latency [-- LATENCY_N BURST_N CHANNELS]`
//! (defaults 300 1000 10; BURST_N 0 skips the burst).

#![expect(
    clippy::unwrap_used,
    reason = "a bench that cannot run should stop loudly"
)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use countersign_core::governor::{DecisionInput, GovernorConfig, NewPrincipal};
use countersign_core::policy::{PolicySet, PolicySource, STARTER_POLICIES, STARTER_SCHEMA};
use countersign_core::{Governor, Principal, PrincipalKind, ResourceRef, Verdict};
use countersign_notify::{Notifier, NotifySection};
use countersign_store::SqliteStore;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Fake {
    gap: Option<Duration>,
    last: HashMap<String, Instant>,
    /// approval id → times posted, first arrival.
    posted: HashMap<String, (u32, Instant)>,
    limited: u64,
    ts: u64,
}

type Shared = Arc<Mutex<Fake>>;

async fn slack_method(State(f): State<Shared>, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let channel = v["channel"].as_str().unwrap_or_default().to_owned();
    let mut f = f.lock().unwrap();
    let now = Instant::now();
    if let Some(gap) = f.gap {
        if f.last
            .get(&channel)
            .is_some_and(|l| now.duration_since(*l) < gap)
        {
            f.limited += 1;
            return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "").into_response();
        }
        f.last.insert(channel.clone(), now);
    }
    // The approval id is the value of the Approve button.
    let id = v["blocks"]
        .as_array()
        .and_then(|bs| bs.iter().find(|b| b["type"] == "actions"))
        .and_then(|b| b["elements"][0]["value"].as_str())
        .unwrap_or_default()
        .to_owned();
    let e = f.posted.entry(id).or_insert((0, now));
    e.0 += 1;
    f.ts += 1;
    let ts = format!("1700000000.{:06}", f.ts);
    axum::Json(json!({"ok": true, "channel": channel, "ts": ts})).into_response()
}

async fn fake_slack(gap: Option<Duration>) -> (String, Shared) {
    let f: Shared = Arc::new(Mutex::new(Fake {
        gap,
        ..Fake::default()
    }));
    let app = Router::new()
        .route("/api/chat.postMessage", post(slack_method))
        .with_state(Arc::clone(&f));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (url, f)
}

struct Gateway {
    governor: Arc<Governor>,
    bot: Principal,
    _stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

async fn gateway(slack_url: &str, routes: &str) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("cs.db")).unwrap());
    let policies = PolicySet::compile(
        "schema.cedarschema",
        STARTER_SCHEMA,
        &[PolicySource {
            name: "policies.cedar".into(),
            text: STARTER_POLICIES.into(),
        }],
    )
    .unwrap();
    let governor = Arc::new(
        Governor::open(store.clone(), policies, GovernorConfig::default())
            .await
            .unwrap(),
    );
    let add = |name: &str, kind, groups: &[&str], owner: Option<&str>| NewPrincipal {
        name: name.into(),
        kind,
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        owner: owner.map(str::to_owned),
        email: None,
    };
    governor
        .add_principal(
            None,
            add("rita", PrincipalKind::User, &["reviewer"], None),
            None,
        )
        .await
        .unwrap();
    let bot = governor
        .add_principal(
            None,
            add("bot", PrincipalKind::Agent, &["engineer"], Some("rita")),
            None,
        )
        .await
        .unwrap();
    std::fs::write(dir.path().join("tok"), "xoxb-bench").unwrap();
    std::fs::write(dir.path().join("sig"), "bench-signing-secret").unwrap();
    let text = format!(
        "public_url = \"https://cs.example\"\nretry_initial_ms = 200\nretry_max_ms = 2000\n\
         [slack]\napi_url = \"{slack_url}\"\nbot_token_file = \"tok\"\nsigning_secret_file = \"sig\"\n{routes}"
    );
    let section: NotifySection = toml::from_str(&text).unwrap();
    let cfg = section.validate(dir.path()).unwrap();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let n = Notifier::open(cfg, governor.clone(), store, stop_rx)
        .await
        .unwrap();
    n.spawn();
    Gateway {
        governor,
        bot,
        _stop: stop,
        _dir: dir,
    }
}

async fn pend(g: &Gateway, table: &str) -> String {
    let d = g
        .governor
        .decide(
            &g.bot,
            DecisionInput {
                action: "sql.write".into(),
                resource: ResourceRef {
                    kind: "Table".into(),
                    id: table.into(),
                },
                environment: "prod".into(),
                context: serde_json::Map::new(),
                reason: Some("benchmark".into()),
                approval_id: None,
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(d.verdict, Verdict::Pending);
    d.approval.unwrap().id
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn latency(n: usize) {
    let (url, fake) = fake_slack(None).await;
    let g = gateway(&url, "[[routes]]\nslack = [\"CBENCH\"]\n").await;
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let id = pend(&g, &format!("lat_{i}")).await;
        let t0 = Instant::now();
        loop {
            if let Some((_, at)) = fake.lock().unwrap().posted.get(&id) {
                lat.push(at.saturating_duration_since(t0));
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "not delivered");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    lat.sort();
    println!(
        "latency pending→chat.postMessage at Slack, {n} approvals one at a time: \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 1.0)
    );
}

async fn burst(n: usize, channels: usize) {
    let (url, fake) = fake_slack(Some(Duration::from_secs(1))).await;
    let routes: String = (0..channels)
        .map(|c| format!("[[routes]]\nresources = [\"Table::c{c}_*\"]\nslack = [\"C{c}\"]\n"))
        .collect();
    let g = Arc::new(gateway(&url, &routes).await);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..n {
        let g = Arc::clone(&g);
        tasks.push(tokio::spawn(async move {
            pend(&g, &format!("c{}_{i}", i % channels)).await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    let pending_in = t0.elapsed();
    let deadline = Instant::now() + Duration::from_secs((n / channels) as u64 * 3 + 60);
    loop {
        let done = {
            let f = fake.lock().unwrap();
            ids.iter().filter(|id| f.posted.contains_key(*id)).count()
        };
        if done == n || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let total = t0.elapsed();
    // Give any duplicate a chance to show up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let f = fake.lock().unwrap();
    let delivered = ids.iter().filter(|id| f.posted.contains_key(*id)).count();
    let dups = f.posted.values().filter(|(k, _)| *k > 1).count();
    println!(
        "burst: {n} pending actions over {channels} channels at 1 msg/s/channel: \
         all pending in {:.2} s; delivered {delivered}/{n} in {:.1} s \
         (floor {} s), lost {}, duplicated {dups}, 429 answers {}",
        pending_in.as_secs_f64(),
        total.as_secs_f64(),
        n / channels,
        n - delivered,
        f.limited
    );
    assert_eq!(delivered, n, "lost notifications");
    assert_eq!(dups, 0, "duplicated notifications");
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let lat_n = args.first().copied().unwrap_or(300);
    let burst_n = args.get(1).copied().unwrap_or(1000);
    let channels = args.get(2).copied().unwrap_or(10).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if lat_n > 0 {
            latency(lat_n).await;
        }
        if burst_n > 0 {
            burst(burst_n, channels).await;
        }
    });
}
