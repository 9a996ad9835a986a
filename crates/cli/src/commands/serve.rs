//! `countersign serve`: the gateway. On first start with an empty data
//! directory it initializes one (printing the first admin's token), so a
//! single command gets a new user going.

use super::init;
use crate::cli::ServeArgs;
use crate::config::{self, CONFIG_FILE, Config};
use anyhow::{Context as _, Result};
use countersign_core::Governor;
use countersign_core::governor::GovernorConfig;
use countersign_server::{ApiConfig, AppState, BackgroundConfig, PolicyLoader, spawn_background};
use countersign_store::SqliteStore;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("COUNTERSIGN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = std::env::var("COUNTERSIGN_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

pub async fn run(args: ServeArgs) -> Result<ExitCode> {
    init_tracing();
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(config::default_data_dir);
    let cfg_path = args
        .config
        .clone()
        .unwrap_or_else(|| data_dir.join(CONFIG_FILE));
    if args.config.is_none()
        && !cfg_path.exists()
        && super::first_start::may_initialize(&args, &data_dir)?
    {
        let token = init::initialize(&data_dir, "admin").await?;
        let cfg = Config::load(&cfg_path, args.listen.as_deref())?;
        println!(
            "No data directory yet: initialized {}",
            cfg.data_dir.display()
        );
        init::print_first_admin("admin", &token, &cfg)?;
    }
    let cfg = Config::load(&cfg_path, args.listen.as_deref())?;
    serve(cfg).await
}

async fn serve(cfg: Config) -> Result<ExitCode> {
    // One server per data directory; `admin recover` waits for it to stop.
    let _lock = crate::data_lock::acquire(&cfg.data_dir)?;
    let policy_dir = cfg.policy_dir.clone();
    let policies = config::load_policies(&policy_dir)
        .map_err(|e| anyhow::anyhow!("policies in `{}` are invalid:\n{e}", policy_dir.display()))?;
    let signer = Arc::new(init::load_signer(&cfg.key_path, &cfg.log_origin)?);
    let store = Arc::new(
        SqliteStore::open(&cfg.db_path)
            .with_context(|| format!("cannot open store `{}`", cfg.db_path.display()))?,
    );
    let governor = Arc::new(
        Governor::open(
            store.clone(),
            policies.clone(),
            GovernorConfig {
                environments: cfg.environments.clone(),
                admin_group: cfg.admin_group.clone(),
                changes: cfg.changes.clone(),
            },
        )
        .await?,
    );
    // Record which policy set this process starts with.
    governor
        .reload_policies(Ok(policies), None, None)
        .await
        .context("cannot record the policy set in the audit log")?;

    let loader_dir = policy_dir.clone();
    let loader: PolicyLoader = Arc::new(move || config::load_policies(&loader_dir));
    let state = AppState {
        governor: governor.clone(),
        store: store.clone(),
        config: Arc::new(ApiConfig {
            max_body: cfg.max_body,
            max_wait: Duration::from_secs(cfg.max_wait_secs),
            log_origin: cfg.log_origin.clone(),
        }),
        policy_loader: loader.clone(),
        log_signer: signer,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let background = spawn_background(
        state.clone(),
        BackgroundConfig {
            checkpoint_every: Duration::from_millis(cfg.checkpoint_interval_ms),
            ..BackgroundConfig::default()
        },
        stop_rx.clone(),
    );
    let hup = spawn_sighup_reload(governor.clone(), loader);
    let notifier = match cfg.notify.clone() {
        Some(n) => Some(
            countersign_notify::Notifier::open(n, governor.clone(), store.clone(), stop_rx.clone())
                .await
                .context("cannot start notifications")?,
        ),
        None => None,
    };
    let notify_task = notifier.as_ref().map(countersign_notify::Notifier::spawn);
    let pg = match cfg.postgres.clone() {
        Some(pg_cfg) => {
            let proxy = countersign_pgproxy::PgProxy::new(governor.clone(), pg_cfg)?;
            let pg_listener = proxy.bind().await?;
            tracing::info!(listen = %pg_listener.local_addr()?, "postgres proxy listening");
            let mut stop = stop_rx.clone();
            Some(tokio::spawn(proxy.serve(pg_listener, async move {
                let _ = stop.wait_for(|s| *s).await;
            })))
        }
        None => None,
    };
    let http_gw = match cfg.http_gateway.clone() {
        Some(gw_cfg) => {
            let gw = countersign_httpgw::HttpGateway::new(governor.clone(), gw_cfg)?;
            let gw_listener = gw.bind().await?;
            tracing::info!(listen = %gw_listener.local_addr()?, "http gateway listening");
            let mut stop = stop_rx.clone();
            Some(tokio::spawn(gw.serve(gw_listener, async move {
                let _ = stop.wait_for(|s| *s).await;
            })))
        }
        None => None,
    };

    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    tracing::info!(
        listen = %cfg.listen,
        data_dir = %cfg.data_dir.display(),
        policies = %countersign_server::policy_sets::summary(
            &countersign_server::policy_sets::in_force(&governor)
        ),
        "countersign serving"
    );
    // The web console shares the API's state and port (`/ui/...`).
    let mut app = countersign_server::router(state.clone());
    if let Some(console) = cfg.console.clone() {
        app = app.merge(countersign_console::router(state, console));
    }
    if let Some(n) = &notifier {
        app = app.merge(n.router());
    }
    if let Some(mcp_cfg) = cfg.mcp.clone() {
        let upstreams = mcp_cfg.upstreams.len();
        let gw = countersign_mcp::Gateway::start(governor.clone(), mcp_cfg)?;
        tracing::info!(upstreams, "mcp gateway mounted at /mcp");
        app = app.merge(countersign_mcp::router(gw));
    }
    // Streamed answers (MCP progress, then the result) are written in
    // pieces; without TCP_NODELAY each waits for the peer's delayed ACK.
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server failed")?;

    // In-flight requests are done; every acknowledged event is durable.
    tracing::info!("shutting down: final checkpoint");
    let _ = stop_tx.send(true);
    if let Some(pg) = pg {
        let _ = pg.await;
    }
    if let Some(gw) = http_gw {
        let _ = gw.await;
    }
    let _ = background.await;
    if let Some(t) = notify_task {
        let _ = t.await;
    }
    hup.abort();
    store.close().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested");
}

/// SIGHUP re-reads the policy directory; a broken set is refused (and
/// audited) and the set in force stays.
fn spawn_sighup_reload(
    governor: Arc<Governor>,
    loader: PolicyLoader,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            let Ok(mut hup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                return;
            };
            while hup.recv().await.is_some() {
                match governor.reload_policies(loader(), None, None).await {
                    Ok(hash) => tracing::info!(policy_hash = %hash, "policies reloaded"),
                    Err(e) => {
                        tracing::error!(error = %e, "policy reload refused; previous set stays")
                    }
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = (governor, loader);
        }
    })
}
