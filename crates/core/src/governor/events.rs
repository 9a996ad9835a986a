//! Events a front records about its own edge: a request no rule maps to an
//! action, a refused chat click, a tool definition pinned, a notification
//! sent. Fronts never write to the store: these go through here, and only
//! these kinds do (decisions, approvals and changes are written by the
//! governor with the state they describe, never forged by a front).

use super::Governor;
use crate::audit::{AuditEvent, EventKind};
use crate::error::GovernorError;
use crate::store::Write;

/// Longest `reason` a front event keeps.
const MAX_REASON: usize = 2000;
/// Largest `detail` (as JSON text) a front event keeps.
const MAX_DETAIL: usize = 8 * 1024;

impl EventKind {
    /// Kinds a front may record on its own ([`Governor::record_event`]).
    pub fn is_front_event(self) -> bool {
        matches!(
            self,
            EventKind::RequestRejected
                | EventKind::AuthFailed
                | EventKind::ToolPinned
                | EventKind::NotificationSent
        )
    }
}

impl Governor {
    /// Records `ev`, durably, before returning its sequence number: what a
    /// front saw at its edge that never became a decision. The event's time
    /// is the governor's. Refused (`invalid_request`) for kinds only the
    /// governor writes, and for a detail larger than 8 KiB.
    pub async fn record_event(&self, mut ev: AuditEvent) -> Result<u64, GovernorError> {
        if !ev.kind.is_front_event() {
            return Err(GovernorError::InvalidRequest(format!(
                "`{}` events are recorded by the governor, not by a front",
                ev.kind.as_str()
            )));
        }
        if ev
            .detail
            .as_ref()
            .is_some_and(|d| d.to_string().len() > MAX_DETAIL)
        {
            return Err(GovernorError::InvalidRequest(format!(
                "event detail is larger than {MAX_DETAIL} bytes"
            )));
        }
        ev.reason = ev.reason.map(|r| super::truncate(&r, MAX_REASON));
        ev.time = self.now();
        let seqs = self.store.commit(Write::event(ev)).await?;
        Ok(seqs.first().copied().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use crate::audit::EventKind;

    #[test]
    fn fronts_cannot_record_the_governors_events() {
        for k in [
            EventKind::Decision,
            EventKind::Outcome,
            EventKind::Vote,
            EventKind::Approved,
            EventKind::Executed,
            EventKind::PolicyLoaded,
            EventKind::ChangeTransition,
            EventKind::PrincipalCreated,
        ] {
            assert!(!k.is_front_event(), "{}", k.as_str());
        }
        assert!(EventKind::RequestRejected.is_front_event());
        assert!(EventKind::ToolPinned.is_front_event());
    }
}
