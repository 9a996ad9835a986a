//! One client connection: startup (TLS, authentication, the upstream
//! session), then two directions run side by side — [`frontend`] decodes,
//! classifies, governs and forwards; [`backend`] relays responses, masks,
//! and reports outcomes. They share [`state::State`].

mod backend;
mod frontend;
mod govern;
mod startup;
pub(crate) mod state;

use crate::catalog::TargetCatalog;
use crate::config::Target;
use crate::error::ProxyError;
use crate::io::BoxIo;
use crate::server::{HoldCancel, Shared};
use crate::wire::backend::Fields;
use countersign_core::Principal;
use state::State;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::{AsyncWriteExt, WriteHalf};

pub(crate) use startup::run;

/// A running session, after startup.
pub(crate) struct Session {
    pub shared: Arc<Shared>,
    pub id: u64,
    pub principal: Arc<Principal>,
    pub target: Target,
    pub catalog: Arc<TargetCatalog>,
    pub state: Mutex<State>,
    pub client: tokio::sync::Mutex<WriteHalf<BoxIo>>,
    pub hold: Arc<HoldCancel>,
    statements: AtomicU64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("principal", &self.principal.name)
            .field("target", &self.target.name)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub fn st(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// A request id for the next statement (logs and audit entries).
    pub fn request_id(&self) -> String {
        let n = self.statements.fetch_add(1, Ordering::Relaxed);
        format!("pg-{}-{n}", self.id)
    }

    pub async fn write_client(&self, bytes: &[u8]) -> Result<(), ProxyError> {
        let mut c = self.client.lock().await;
        c.write_all(bytes).await?;
        c.flush().await?;
        Ok(())
    }

    /// Sends a notice to the client now (notices may arrive at any time).
    pub async fn notice(&self, fields: &Fields) -> Result<(), ProxyError> {
        let mut out = Vec::new();
        fields.encode_notice(&mut out);
        self.write_client(&out).await
    }
}

/// Ends a connection that is not yet a session with a FATAL error.
pub(crate) async fn fatal<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    code: &str,
    message: impl Into<String>,
    hint: Option<&str>,
) -> Result<(), ProxyError> {
    let mut f = Fields::new("FATAL", code, message);
    if let Some(h) = hint {
        f = f.with(b'H', h);
    }
    let mut out = Vec::new();
    f.encode_error(&mut out);
    w.write_all(&out).await?;
    w.flush().await?;
    Ok(())
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
