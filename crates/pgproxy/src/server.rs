//! The listener: accepts connections, runs one session per connection, and
//! routes cancel requests by the key it handed out to the upstream backend
//! behind it.

use crate::auth::VerifierCache;
use crate::catalog::TargetCatalog;
use crate::classify::FactsCache;
use crate::config::{ProxyConfig, Target};
use crate::error::ProxyError;
use crate::session;
use crate::wire::backend::BackendKeyData;
use countersign_core::Governor;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// What a cancel request for one session reaches.
#[derive(Debug)]
pub struct CancelEntry {
    pub target: Target,
    pub upstream: BackendKeyData,
    /// Wakes a statement held for approval.
    pub hold: Arc<HoldCancel>,
}

/// Cancels a held statement: a counter (so a cancel that arrives between
/// two waits is not lost) and a wake-up.
#[derive(Debug, Default)]
pub struct HoldCancel {
    pub generation: AtomicU64,
    pub notify: Notify,
}

impl HoldCancel {
    pub fn cancel(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
}

/// Everything sessions share.
pub struct Shared {
    pub governor: Arc<Governor>,
    pub config: ProxyConfig,
    pub tls: tokio_rustls::TlsAcceptor,
    pub cancels: Mutex<HashMap<(i32, i32), CancelEntry>>,
    pub verifiers: VerifierCache,
    pub facts: FactsCache,
    pub catalogs: HashMap<String, Arc<TargetCatalog>>,
    pub sessions: AtomicU64,
    /// Started with the first `serve`.
    pub outcomes: std::sync::OnceLock<countersign_core::governor::OutcomeReporter>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// A fresh, unused cancel key for a session.
    pub fn register_cancel(&self, entry: CancelEntry) -> BackendKeyData {
        loop {
            let mut b = [0u8; 8];
            let _ = getrandom::fill(&mut b);
            let pid = i32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]).max(1);
            let secret = i32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            if let Ok(mut m) = self.cancels.lock()
                && !m.contains_key(&(pid, secret))
            {
                m.insert((pid, secret), entry);
                return BackendKeyData { pid, secret };
            }
        }
    }

    pub fn unregister_cancel(&self, key: BackendKeyData) {
        if let Ok(mut m) = self.cancels.lock() {
            m.remove(&(key.pid, key.secret));
        }
    }

    /// Handles a cancel request: wakes a held statement and forwards the
    /// cancel to the upstream backend. Unknown keys are ignored silently,
    /// as the server does.
    pub async fn cancel(&self, pid: i32, secret: i32) {
        let found = self.cancels.lock().ok().and_then(|m| {
            m.get(&(pid, secret))
                .map(|e| (e.target.clone(), e.upstream, Arc::clone(&e.hold)))
        });
        if let Some((target, key, hold)) = found {
            hold.cancel();
            if let Err(e) = crate::upstream::cancel(&target, key).await {
                tracing::warn!(error = %e, "postgres: cannot forward cancel request");
            }
        }
    }
}

/// The PostgreSQL front.
#[derive(Debug, Clone)]
pub struct PgProxy {
    shared: Arc<Shared>,
}

impl PgProxy {
    pub fn new(governor: Arc<Governor>, config: ProxyConfig) -> Result<PgProxy, ProxyError> {
        for t in config.targets.values() {
            if !governor.config().environments.contains(&t.environment) {
                return Err(ProxyError::Config(format!(
                    "target `{}`: unknown environment `{}`",
                    t.name, t.environment
                )));
            }
        }
        let tls = crate::tls::acceptor(&config)?;
        let catalogs = config
            .targets
            .values()
            .map(|t| {
                (
                    t.name.clone(),
                    Arc::new(TargetCatalog::new(t.clone(), config.max_message_bytes)),
                )
            })
            .collect();
        Ok(PgProxy {
            shared: Arc::new(Shared {
                governor,
                config,
                tls,
                cancels: Mutex::new(HashMap::new()),
                verifiers: VerifierCache::default(),
                facts: FactsCache::new(10_000),
                catalogs,
                sessions: AtomicU64::new(0),
                outcomes: std::sync::OnceLock::new(),
            }),
        })
    }

    pub async fn bind(&self) -> Result<TcpListener, ProxyError> {
        let l = self.shared.config.listen;
        TcpListener::bind(l)
            .await
            .map_err(|e| ProxyError::Config(format!("cannot listen on {l}: {e}")))
    }

    /// Accepts connections until `shutdown` completes. Sessions in progress
    /// are left to finish on their own.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ProxyError> {
        let governor = Arc::clone(&self.shared.governor);
        self.shared.outcomes.get_or_init(|| {
            countersign_core::governor::OutcomeReporter::start(governor, "postgres")
        });
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                accepted = listener.accept() => {
                    let (sock, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(error = %e, "postgres: accept failed");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = sock.set_nodelay(true);
                    let shared = Arc::clone(&self.shared);
                    tokio::spawn(async move {
                        let id = shared.sessions.fetch_add(1, Ordering::Relaxed);
                        if let Err(e) = session::run(shared, sock, id).await {
                            tracing::debug!(session = id, %peer, error = %e, "postgres session ended");
                        }
                    });
                }
            }
        }
    }
}
