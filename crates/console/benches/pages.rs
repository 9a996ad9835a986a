//! Server time of the console's heaviest pages with 100,000 audit entries:
//! the approvals inbox (50 pending approvals), one approval page, the
//! audit explorer (newest page, and a filtered page), each with every
//! receipt on the page verified against the signed checkpoint, and the
//! changes page (200 changes, 20 of them live) and one change page.
//!
//! `cargo bench -p countersign-console --bench pages`
//! (`COUNTERSIGN_BENCH_AUDIT_SIZE` overrides the 100,000 entries).
//!
//! The log is filled through `Governor::decide` (the real write path, many
//! requests in flight so group commit batches them), then requests go
//! through the console's router in process with a signed-in session.

#![expect(
    clippy::unwrap_used,
    reason = "a bench that cannot run should stop loudly"
)]

use axum::body::Body;
use axum::http::{Request, header};
use countersign_console::{ConsoleConfig, router};
use countersign_core::governor::{ChangeInput, DecisionInput, GovernorConfig, NewPrincipal};
use countersign_core::policy::PolicySet;
use countersign_core::{Governor, PrincipalKind, ResourceRef};
use countersign_server::{ApiConfig, AppState, PolicyLoader};
use countersign_store::SqliteStore;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::sync::Arc;
use tower::ServiceExt as _;

struct Fixture {
    app: axum::Router,
    cookie: String,
    approval: String,
    change: String,
    _dir: tempfile::TempDir,
}

async fn fill(n: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("cs.db")).unwrap());
    let governor = Arc::new(
        Governor::open(
            store.clone(),
            PolicySet::starter().unwrap(),
            GovernorConfig::default(),
        )
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
            add("sam", PrincipalKind::User, &["reviewer"], None),
            None,
        )
        .await
        .unwrap();
    let bot = governor
        .add_principal(
            None,
            add("bot", PrincipalKind::Agent, &["engineer"], Some("sam")),
            None,
        )
        .await
        .unwrap();
    let sam_token = governor
        .create_token(None, "sam", None, None, None)
        .await
        .unwrap();

    let started = std::time::Instant::now();
    let mut approval = String::new();
    // 50 pending approvals for the inbox; the rest allowed reads.
    for i in 0..50 {
        let d = governor
            .decide(
                &bot,
                DecisionInput {
                    action: "sql.ddl".into(),
                    resource: ResourceRef {
                        kind: "Table".into(),
                        id: format!("t{i}"),
                    },
                    environment: "prod".into(),
                    context: json!({"sql": {"statement": format!("DROP TABLE t{i}")}})
                        .as_object()
                        .cloned()
                        .unwrap(),
                    reason: Some("cleanup".into()),
                    approval_id: None,
                },
                None,
            )
            .await
            .unwrap();
        approval = d.approval.map(|a| a.id).unwrap_or(approval);
    }
    let change = changes(&governor, &bot).await;
    let mut tasks = tokio::task::JoinSet::new();
    let workers = 64u64;
    let have = store.audit_size().await.unwrap();
    let per = n.saturating_sub(have) / workers + 1;
    for w in 0..workers {
        let g = governor.clone();
        let bot = bot.clone();
        tasks.spawn(async move {
            for i in 0..per {
                g.decide(
                    &bot,
                    DecisionInput {
                        action: "sql.read".into(),
                        resource: ResourceRef {
                            kind: "Table".into(),
                            id: format!("r{}", (w * per + i) % 97),
                        },
                        environment: ["dev", "staging", "prod"][usize::try_from(i % 3).unwrap()]
                            .into(),
                        context: serde_json::Map::new(),
                        reason: None,
                        approval_id: None,
                    },
                    None,
                )
                .await
                .unwrap();
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let size = store.audit_size().await.unwrap();
    eprintln!("filled {size} audit entries in {:.1?}", started.elapsed());

    let signer = Arc::new(countersign_tlog::Signer::generate("countersign.local/audit").unwrap());
    store
        .checkpoint(signer.clone(), "countersign.local/audit")
        .await
        .unwrap();
    let loader: PolicyLoader = Arc::new(|| PolicySet::starter().map_err(|e| e.to_string()));
    let state = AppState {
        governor,
        store,
        config: Arc::new(ApiConfig::default()),
        policy_loader: loader,
        log_signer: signer,
    };
    let app = router(state, ConsoleConfig::default());

    // Sign in through the form, as a browser would.
    let form = app
        .clone()
        .oneshot(Request::get("/ui/login").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let login = form.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let nonce = login.split_once('=').unwrap().1.to_owned();
    let resp = app
        .clone()
        .oneshot(
            Request::post("/ui/login")
                .header(header::COOKIE, &login)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "csrf={nonce}&token={}",
                    sam_token.value
                )))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let cookie = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("cs_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    Fixture {
        app,
        cookie,
        approval,
        change,
        _dir: dir,
    }
}

/// 200 model changes in dev (20 subjects, 10 versions each, approved at
/// once), the newest of each subject deployed by a service the way a
/// pipeline does it. Returns the last change's id.
async fn changes(governor: &Governor, author: &countersign_core::Principal) -> String {
    let ci = governor
        .add_principal(
            None,
            NewPrincipal {
                name: "ci".into(),
                kind: PrincipalKind::Service,
                groups: Vec::new(),
                owner: None,
                email: None,
            },
            None,
        )
        .await
        .unwrap();
    let mut last = String::new();
    for m in 0..20 {
        for v in 0..10 {
            let digest = format!("{m:032x}{v:032x}");
            let c = governor
                .submit_change(
                    author,
                    ChangeInput {
                        kind: "model".into(),
                        subject: Some(ResourceRef {
                            kind: "Model".into(),
                            id: format!("m{m}"),
                        }),
                        version: format!("v{v}"),
                        artifact_sha256: Some(digest.clone()),
                        environment: "dev".into(),
                        metrics: Some(json!({"accuracy": 0.9, "p99_latency_ms": 180})),
                        links: vec!["https://ci.example.com/runs/1".into()],
                        ..ChangeInput::default()
                    },
                    None,
                )
                .await
                .unwrap();
            if v == 9 {
                governor
                    .decide(
                        &ci,
                        DecisionInput {
                            action: "model.deploy".into(),
                            resource: c.subject.clone(),
                            environment: "dev".into(),
                            context: json!({"change": {"id": c.id, "artifact_sha256": digest}})
                                .as_object()
                                .cloned()
                                .unwrap(),
                            reason: None,
                            approval_id: None,
                        },
                        None,
                    )
                    .await
                    .unwrap();
                governor.change_deployed(&ci, &c.id, None).await.unwrap();
            }
            last = c.id;
        }
    }
    last
}

async fn get(f: &Fixture, path: &str) -> usize {
    let resp = f
        .app
        .clone()
        .oneshot(
            Request::get(path)
                .header(header::COOKIE, &f.cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    axum::body::to_bytes(resp.into_body(), 16 << 20)
        .await
        .unwrap()
        .len()
}

fn pages(c: &mut Criterion) {
    let n: u64 = std::env::var("COUNTERSIGN_BENCH_AUDIT_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let f = rt.block_on(fill(n));
    let approval = format!("/ui/approvals/{}", f.approval);
    let change = format!("/ui/changes/{}", f.change);
    let paths = [
        ("inbox", "/ui/approvals"),
        ("inbox_live_fragment", "/ui/approvals/live"),
        ("approval_page", approval.as_str()),
        ("audit_newest_page", "/ui/audit"),
        (
            "audit_filtered_page",
            "/ui/audit?principal=bot&action=sql.read&environment=prod&start=50000",
        ),
        (
            "audit_filtered_ddl",
            "/ui/audit?action=sql.ddl&verdict=pending",
        ),
        // Worst cases: no match at all, with an index (principal) and
        // without one (verdict alone scans the whole log).
        ("audit_no_match_indexed", "/ui/audit?principal=nobody"),
        ("audit_no_match_scan", "/ui/audit?verdict=nothing"),
        ("changes_page", "/ui/changes"),
        (
            "changes_filtered",
            "/ui/changes?state=deployed&environment=dev",
        ),
        ("change_page", change.as_str()),
    ];
    let mut g = c.benchmark_group("console_pages_100k");
    for (name, path) in paths {
        let bytes = rt.block_on(get(&f, path));
        eprintln!("{name}: {bytes} bytes");
        g.bench_function(name, |b| b.iter(|| rt.block_on(get(&f, path))));
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = pages
}
criterion_main!(benches);
