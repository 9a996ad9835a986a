//! Delivery: one worker per destination sends its due outbox rows in
//! order, retrying failures with exponential backoff (capped, with jitter)
//! and waiting out rate limits without counting them as failures. Each
//! sent notification is audited (`notification.sent`).

use crate::Shared;
use crate::error::SendError;
use crate::notice::{Notice, now_ms};
use crate::outbox::Row;
use crate::slack::api::Posted;
use crate::slack::blocks;
use countersign_core::{AuditEvent, EventKind, Write};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// Rows fetched per round.
const BATCH: usize = 64;
/// Longest idle wait before looking at the outbox again.
const IDLE: Duration = Duration::from_secs(1);

/// Delay before retry number `attempts` (1-based).
pub fn backoff(attempts: u32, initial: Duration, max: Duration) -> Duration {
    let exp = attempts.saturating_sub(1).min(30);
    let base = initial.saturating_mul(1u32 << exp).min(max);
    // Up to +20% jitter so many failing rows do not retry in lockstep.
    let mut b = [0u8; 1];
    let jitter = match countersign_core::ids::random_bytes(&mut b) {
        Ok(()) => base.mul_f64(f64::from(b[0]) / 255.0 * 0.2),
        Err(_) => Duration::ZERO,
    };
    (base + jitter).min(max.saturating_add(max / 5))
}

pub async fn worker(
    shared: Arc<Shared>,
    dest: String,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let rows = match shared.outbox.due(&dest, now_ms(), BATCH).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(dest = %dest, error = %e, "cannot read outbox");
                Vec::new()
            }
        };
        if rows.is_empty() {
            let wait = match shared.outbox.next_due(&dest).await {
                Ok(Some(at)) => Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)),
                _ => IDLE,
            }
            .min(IDLE);
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                r = stop.changed() => if r.is_err() { return },
            }
            continue;
        }
        for row in rows {
            if *stop.borrow() {
                return;
            }
            match deliver(&shared, &dest, &row).await {
                Ok(()) => sent(&shared, &dest, &row).await,
                Err(SendError::RateLimited(d)) => {
                    tracing::info!(dest = %dest, wait_ms = d.as_millis() as u64, "rate limited");
                    let at = now_ms() + i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2);
                    if let Err(e) = shared.outbox.postpone(row.id, at).await {
                        tracing::error!(error = %e, "cannot postpone outbox row");
                    }
                    // The receiver wants a pause: nothing more for it now.
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        r = stop.changed() => if r.is_err() { return },
                    }
                    break;
                }
                Err(SendError::Failed(msg)) => failed(&shared, &dest, &row, msg).await,
            }
        }
    }
}

async fn sent(shared: &Shared, dest: &str, row: &Row) {
    if let Err(e) = shared.outbox.mark_sent(row.id, now_ms()).await {
        tracing::error!(error = %e, "cannot mark outbox row sent");
    }
    let mut ev = AuditEvent::new(EventKind::NotificationSent);
    if row.subject.starts_with("apr_") {
        ev.approval_id = Some(row.subject.clone());
    } else {
        ev.decision_id = Some(row.subject.clone());
    }
    let channel = dest.split_once(':').map_or(dest, |(k, _)| k);
    ev.detail = Some(serde_json::json!({
        "channel": channel,
        "destination": dest,
        "event": row.event,
        "event_seq": row.seq,
        "outbox_id": row.id,
        "attempts": row.attempts + 1,
    }));
    if let Err(e) = shared.governor.store().commit(Write::event(ev)).await {
        tracing::error!(error = %e, "cannot audit sent notification");
    }
    tracing::debug!(dest = %dest, event = %row.event, subject = %row.subject, "notification sent");
}

async fn failed(shared: &Shared, dest: &str, row: &Row, msg: String) {
    let attempts = row.attempts + 1;
    let delay = backoff(attempts, shared.cfg.retry_initial, shared.cfg.retry_max);
    let at = now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
    tracing::warn!(dest = %dest, event = %row.event, subject = %row.subject, attempts, error = %msg, "notification failed; will retry");
    if let Err(e) = shared
        .outbox
        .mark_failed(row.id, msg, at, shared.cfg.failed_after)
        .await
    {
        tracing::error!(error = %e, "cannot record failed notification");
    }
}

async fn deliver(shared: &Shared, dest: &str, row: &Row) -> Result<(), SendError> {
    let notice: Notice = serde_json::from_str(&row.body)
        .map_err(|e| SendError::Failed(format!("outbox row is corrupt: {e}")))?;
    let (kind, target) = dest
        .split_once(':')
        .ok_or_else(|| SendError::Failed(format!("unknown destination `{dest}`")))?;
    match kind {
        "webhook" => {
            let w = shared.cfg.webhooks.get(target).ok_or_else(|| {
                SendError::Failed(format!("webhook `{target}` is no longer configured"))
            })?;
            let msg_id = format!("msg_{}", row.id);
            crate::webhook::send(&shared.http, &w.url, &w.key, &msg_id, &notice).await
        }
        "teams" => {
            let url = shared.cfg.teams.get(target).ok_or_else(|| {
                SendError::Failed(format!("teams `{target}` is no longer configured"))
            })?;
            crate::teams::send(&shared.http, url.expose(), &notice).await
        }
        "slack" => slack(shared, target, row).await,
        _ => Err(SendError::Failed(format!("unknown destination `{dest}`"))),
    }
}

/// Posts the approval's message once, then updates it in place; the
/// message always shows the approval as it is now.
async fn slack(shared: &Shared, channel: &str, row: &Row) -> Result<(), SendError> {
    let api = shared
        .slack
        .as_ref()
        .ok_or_else(|| SendError::Failed("slack is no longer configured".into()))?;
    let store_err = |e: &dyn std::fmt::Display| SendError::Failed(format!("store: {e}"));
    let a = shared
        .governor
        .store()
        .approval(&row.subject)
        .await
        .map_err(|e| store_err(&e))?
        .ok_or_else(|| SendError::Failed(format!("approval `{}` not found", row.subject)))?;
    let text = blocks::text(&a);
    let b = blocks::blocks(&a, &shared.cfg.public_url);
    let posted = shared
        .outbox
        .slack_ts(&row.subject, channel)
        .await
        .map_err(|e| store_err(&e))?
        .and_then(|s| Posted::decode(&s));
    match posted {
        Some(at) => api.update(&at, &text, &b).await,
        None => {
            let at = api.post_message(channel, &text, &b).await?;
            shared
                .outbox
                .set_slack_ts(&row.subject, channel, &at.encode())
                .await
                .map_err(|e| store_err(&e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let (i, m) = (Duration::from_millis(100), Duration::from_secs(10));
        let b1 = backoff(1, i, m);
        let b4 = backoff(4, i, m);
        assert!(b1 >= i && b1 <= i.mul_f64(1.21), "{b1:?}");
        assert!(b4 >= Duration::from_millis(800), "{b4:?}");
        let b30 = backoff(30, i, m);
        assert!(b30 >= m && b30 <= m.mul_f64(1.21), "{b30:?}");
    }
}
