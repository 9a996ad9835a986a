//! Background work of a serving gateway: expiring approvals past their TTL
//! and signing audit checkpoints on a cadence (and once more at shutdown).

use crate::AppState;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct BackgroundConfig {
    pub expire_every: Duration,
    pub checkpoint_every: Duration,
}

impl Default for BackgroundConfig {
    fn default() -> Self {
        BackgroundConfig {
            expire_every: Duration::from_secs(1),
            checkpoint_every: Duration::from_secs(1),
        }
    }
}

/// Runs until `shutdown` turns true, then signs a final checkpoint.
pub fn spawn_background(
    state: AppState,
    cfg: BackgroundConfig,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut expire = tokio::time::interval(cfg.expire_every);
        let mut sign = tokio::time::interval(cfg.checkpoint_every);
        expire.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        sign.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = expire.tick() => {
                    match state.governor.expire_due().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(expired = n, "approvals expired"),
                        Err(e) => tracing::error!(error = %e, "expiry sweep failed"),
                    }
                }
                _ = sign.tick() => checkpoint(&state).await,
                r = shutdown.changed() => {
                    if r.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
            }
        }
        checkpoint(&state).await;
    })
}

async fn checkpoint(state: &AppState) {
    match state
        .store
        .checkpoint(state.log_signer.clone(), &state.config.log_origin)
        .await
    {
        Ok(Some(cp)) => tracing::debug!(size = cp.size, "checkpoint signed"),
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "cannot sign checkpoint"),
    }
}
