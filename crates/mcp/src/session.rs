//! MCP sessions: created by `initialize`, named by the `Mcp-Session-Id`
//! header, bound to the principal that opened them, dropped when idle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
pub struct Session {
    pub id: String,
    pub principal: String,
    pub protocol: String,
    /// Seconds since the table's epoch, for idle expiry.
    last_seen: AtomicU64,
    /// Requests in flight, by their JSON-RPC id (as JSON text), for
    /// `notifications/cancelled`.
    inflight: Mutex<HashMap<String, CancellationToken>>,
}

impl Session {
    pub fn track(&self, id: &str, token: CancellationToken) {
        if let Ok(mut m) = self.inflight.lock() {
            m.insert(id.to_owned(), token);
        }
    }

    pub fn untrack(&self, id: &str) {
        if let Ok(mut m) = self.inflight.lock() {
            m.remove(id);
        }
    }

    pub fn cancel(&self, id: &str) -> bool {
        let t = self.inflight.lock().ok().and_then(|mut m| m.remove(id));
        t.map(|t| t.cancel()).is_some()
    }

    fn cancel_all(&self) {
        if let Ok(mut m) = self.inflight.lock() {
            for (_, t) in m.drain() {
                t.cancel();
            }
        }
    }
}

#[derive(Debug)]
pub struct Sessions {
    map: RwLock<HashMap<String, Arc<Session>>>,
    max: usize,
    idle: Duration,
    epoch: tokio::time::Instant,
}

impl Sessions {
    pub fn new(max: usize, idle: Duration) -> Sessions {
        Sessions {
            map: RwLock::new(HashMap::new()),
            max,
            idle,
            epoch: tokio::time::Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_secs()
    }

    /// Opens a session, or `None` when the table is full.
    pub fn open(&self, principal: &str, protocol: &str) -> Option<Arc<Session>> {
        let mut raw = [0u8; 16];
        getrandom::fill(&mut raw).ok()?;
        let s = Arc::new(Session {
            id: hex::encode(raw),
            principal: principal.to_owned(),
            protocol: protocol.to_owned(),
            last_seen: AtomicU64::new(self.now()),
            inflight: Mutex::new(HashMap::new()),
        });
        let mut m = self.map.write().ok()?;
        if m.len() >= self.max {
            return None;
        }
        m.insert(s.id.clone(), Arc::clone(&s));
        Some(s)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        let s = self.map.read().ok()?.get(id).cloned()?;
        s.last_seen.store(self.now(), Ordering::Relaxed);
        Some(s)
    }

    pub fn close(&self, id: &str) -> bool {
        let s = self.map.write().ok().and_then(|mut m| m.remove(id));
        s.map(|s| s.cancel_all()).is_some()
    }

    pub fn len(&self) -> usize {
        self.map.read().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops sessions idle longer than the limit.
    pub fn sweep(&self) {
        let now = self.now();
        let idle = self.idle.as_secs();
        if let Ok(mut m) = self.map.write() {
            m.retain(|_, s| {
                let keep = now.saturating_sub(s.last_seen.load(Ordering::Relaxed)) < idle;
                if !keep {
                    s.cancel_all();
                }
                keep
            });
        }
    }
}
