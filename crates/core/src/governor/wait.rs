//! Waiting for an approval's decision: the one wait every front uses.
//!
//! The rule that makes it safe is the order: subscribe to changes *first*,
//! then read the approval. A decision committed before the read is in what
//! the read returns; one committed after it is broadcast after its commit,
//! to a subscription that already exists. So no decision is missed, however
//! early it comes (a reviewer who approves between the front's decision and
//! its wait is seen at once, not when the wait times out).

use super::{ApprovalUpdate, Governor};
use crate::approval::{Approval, ApprovalState, VoteDecision};
use crate::error::GovernorError;
use std::future::Future;
use std::time::Duration;
use tokio::sync::broadcast;

/// How a wait for an approval's decision ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Awaited {
    /// Quorum reached and policy agreed: decide the identical request again
    /// to redeem it (once).
    Approved(Approval),
    /// It will never release the request: `state` is denied, expired,
    /// cancelled or executed (as of now, so an approval past its TTL is
    /// expired even before the sweeper records it).
    Ended {
        state: ApprovalState,
        approval: Approval,
    },
    /// Still pending when the wait ran out.
    Pending(Approval),
    /// The front gave up first (its client went away or cancelled). The
    /// approval stays as it is: a later identical request finds it.
    Abandoned,
}

impl Awaited {
    /// Why it ended, for the requester: the last deny vote's reason, if any.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Awaited::Ended { approval, .. } => deny_reason(approval),
            _ => None,
        }
    }
}

/// The reason the last reviewer who denied `a` gave, if any.
pub fn deny_reason(a: &Approval) -> Option<&str> {
    a.votes
        .iter()
        .rev()
        .find(|v| v.decision == VoteDecision::Deny)
        .and_then(|v| v.reason.as_deref())
}

impl Governor {
    /// Subscribes to approval changes (for long-polls and the notifier).
    pub fn subscribe(&self) -> broadcast::Receiver<ApprovalUpdate> {
        self.updates.subscribe()
    }

    pub(super) fn notify(&self, id: &str, version: u64) {
        // No receivers is fine: nobody is waiting.
        let _ = self.updates.send(ApprovalUpdate {
            id: id.to_owned(),
            version,
        });
    }

    /// Waits for approval `id` to be decided: at most `wait`, or until
    /// `cancel` completes (the front's client went away or cancelled).
    /// `progress` is called with the approval each time it changes while
    /// still pending (a vote landed), for fronts that tell their client.
    ///
    /// Subscribes before it reads, so a decision made at any time before
    /// the call is seen by its first read.
    pub async fn await_approval<C, P>(
        &self,
        id: &str,
        wait: Duration,
        cancel: C,
        mut progress: P,
    ) -> Result<Awaited, GovernorError>
    where
        C: Future<Output = ()>,
        P: FnMut(&Approval),
    {
        let mut rx = self.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        let mut cancel = std::pin::pin!(cancel);
        let mut seen = None;
        loop {
            let a = self.load_approval(id).await?;
            match a.effective_state(self.clock.now()) {
                ApprovalState::Pending => {}
                ApprovalState::Approved => return Ok(Awaited::Approved(a)),
                state => return Ok(Awaited::Ended { state, approval: a }),
            }
            if seen.is_some_and(|v| v != a.version) {
                progress(&a);
            }
            seen = Some(a.version);
            if tokio::time::Instant::now() >= deadline {
                return Ok(Awaited::Pending(a));
            }
            // Wake at the deadline, or when the TTL ends (to report the
            // expiry even before the sweeper records it), or on a change.
            let ttl = self.clock.now().until(a.expires_at);
            let wake = deadline.min(tokio::time::Instant::now() + ttl);
            loop {
                tokio::select! {
                    biased;
                    () = &mut cancel => return Ok(Awaited::Abandoned),
                    r = rx.recv() => match r {
                        Ok(u) if u.id == id => break,
                        Ok(_) => continue,
                        Err(broadcast::error::RecvError::Lagged(_)) => break,
                        Err(broadcast::error::RecvError::Closed) => {
                            return Err(GovernorError::Internal("approval updates closed".into()));
                        }
                    },
                    () = tokio::time::sleep_until(wake) => break,
                }
            }
        }
    }

    /// The long-poll primitive of `GET /v1/approvals/{id}?wait=…&version=…`:
    /// waits until approval `id` has a version other than `seen` (or is
    /// past its TTL), up to `wait`, and returns it as it is then. Fronts
    /// holding a request use [`Governor::await_approval`].
    pub async fn wait_for_change(
        &self,
        id: &str,
        seen: u64,
        wait: Duration,
    ) -> Result<Option<Approval>, GovernorError> {
        let mut rx = self.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let a = self.load_approval(id).await?;
            let now = self.clock.now();
            if a.version != seen || a.effective_state(now) != a.state {
                return Ok(Some(a));
            }
            let wake = deadline.min(tokio::time::Instant::now() + now.until(a.expires_at));
            loop {
                match tokio::time::timeout_at(wake, rx.recv()).await {
                    Err(_) if wake == deadline => return Ok(Some(a)),
                    Err(_) => break,
                    Ok(Ok(u)) if u.id == id => break,
                    Ok(Ok(_)) => continue,
                    Ok(Err(broadcast::error::RecvError::Lagged(_))) => break,
                    Ok(Err(broadcast::error::RecvError::Closed)) => return Ok(Some(a)),
                }
            }
        }
    }

    pub(super) async fn load_approval(&self, id: &str) -> Result<Approval, GovernorError> {
        self.store
            .approval(id)
            .await?
            .ok_or_else(|| GovernorError::NotFound(format!("approval `{id}`")))
    }
}
