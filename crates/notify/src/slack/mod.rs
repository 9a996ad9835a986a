//! Slack: Block Kit approval messages, updated in place, and the
//! interactivity endpoint for Approve / Deny clicks.

pub mod api;
pub mod blocks;
pub mod interact;
pub mod verify;

use countersign_core::Governor;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Refused requests audited per minute at most: forged traffic must not be
/// able to flood the audit log (the rest are counted in the logs).
pub const REFUSALS_AUDITED_PER_MINUTE: u32 = 120;

/// What the interactivity endpoint needs.
#[derive(Debug)]
pub struct SlackCtx {
    pub governor: Arc<Governor>,
    pub api: api::SlackApi,
    pub verifier: verify::Verifier,
    pub users: BTreeMap<String, String>,
    /// (minute, refusals audited in it).
    pub refusal_budget: Mutex<(i64, u32)>,
}

impl SlackCtx {
    /// Whether one more refusal may be audited this minute.
    pub fn may_audit_refusal(&self, now_secs: i64) -> bool {
        let Ok(mut b) = self.refusal_budget.lock() else {
            return false;
        };
        let minute = now_secs / 60;
        if b.0 != minute {
            *b = (minute, 0);
        }
        b.1 += 1;
        b.1 <= REFUSALS_AUDITED_PER_MINUTE
    }
}
