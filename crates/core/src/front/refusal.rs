//! Why a front does not act: one type for every front, each variant with a
//! stable code. Fronts choose how to say it (an HTTP status, a SQLSTATE, a
//! JSON-RPC error); what they may say is here, and it never includes a
//! store's or the governor's internal error text.

use crate::approval::ApprovalState;
use crate::error::GovernorError;
use crate::verdict::Decision;

#[derive(Debug)]
pub enum Refusal {
    /// No or a bad credential. The reason is audited, never told.
    Unauthenticated,
    /// The request cannot be decided as sent: an unknown action or
    /// environment, a context the schema refuses, an approval bound to a
    /// different request. The error's text is safe to show.
    Invalid(GovernorError),
    /// No rule maps the request to an action (audited).
    Unmatched { reason: String },
    /// Policy denies it.
    Denied(Box<Decision>),
    /// Its approval is still pending (the hold ended, or the front does
    /// not hold). The same request, sent again once it is approved, runs.
    Pending(Box<Decision>),
    /// Its approval ended without releasing it: denied, expired, cancelled.
    NotApproved {
        decision: Box<Decision>,
        state: ApprovalState,
        /// The deciding reviewer's reason, when one was given.
        reason: Option<String>,
    },
    /// The front's client gave up while the request was held.
    Abandoned(Box<Decision>),
    /// It needs approval, and the front cannot hold it (e.g. a streamed
    /// body has no hash for an approval to bind).
    Unholdable {
        decision: Box<Decision>,
        why: String,
    },
    /// Allowed only with an obligation this front cannot carry out.
    Obligation {
        decision: Box<Decision>,
        kind: String,
        policy: String,
    },
    /// Countersign cannot decide now (the store cannot be written, an
    /// internal error, too much contention): nothing was allowed. The
    /// details are in the server log, under the request id.
    Unavailable {
        /// `unavailable`, `internal` or `conflict`.
        code: &'static str,
    },
}

impl Refusal {
    /// From an error of the decision path. Internal errors are logged by
    /// the driver and reduced to their code here.
    pub fn from_error(e: GovernorError) -> Refusal {
        match e {
            GovernorError::Unavailable(_) | GovernorError::Internal(_) => {
                Refusal::Unavailable { code: e.code() }
            }
            GovernorError::Conflict(_) => Refusal::Unavailable { code: "conflict" },
            GovernorError::Unauthenticated => Refusal::Unauthenticated,
            other => Refusal::Invalid(other),
        }
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Unauthenticated => "unauthenticated",
            Refusal::Invalid(e) => e.code(),
            Refusal::Unmatched { .. } => "no_rule",
            Refusal::Denied(_) => "denied",
            Refusal::Pending(_) => "approval_pending",
            Refusal::NotApproved { state, .. } => match state {
                ApprovalState::Denied => "approval_denied",
                ApprovalState::Expired => "approval_expired",
                ApprovalState::Cancelled => "approval_cancelled",
                _ => "approval_used",
            },
            Refusal::Abandoned(_) => "abandoned",
            Refusal::Unholdable { .. } => "cannot_hold",
            Refusal::Obligation { .. } => "obligation_unsupported",
            Refusal::Unavailable { code } => code,
        }
    }

    /// The decision behind the refusal, when one was made.
    pub fn decision(&self) -> Option<&Decision> {
        match self {
            Refusal::Denied(d)
            | Refusal::Pending(d)
            | Refusal::Abandoned(d)
            | Refusal::NotApproved { decision: d, .. }
            | Refusal::Unholdable { decision: d, .. }
            | Refusal::Obligation { decision: d, .. } => Some(d),
            _ => None,
        }
    }

    /// A sentence for the client. `front` names it ("the HTTP gateway").
    pub fn message(&self, front: &str) -> String {
        match self {
            Refusal::Unauthenticated => "a valid Countersign token is required".into(),
            Refusal::Invalid(e) => e.to_string(),
            Refusal::Unmatched { reason } => reason.clone(),
            Refusal::Denied(d) => d
                .reason
                .clone()
                .unwrap_or_else(|| "no policy permits it".into()),
            Refusal::Pending(d) => {
                let id = d.approval.as_ref().map_or("", |a| a.id.as_str());
                format!(
                    "{}; approval {id} is pending. Once it is approved, send the identical request again: it proceeds once",
                    d.reason.as_deref().unwrap_or("approval required")
                )
            }
            Refusal::NotApproved {
                decision,
                state,
                reason,
            } => {
                let id = decision.approval.as_ref().map_or("", |a| a.id.as_str());
                match reason {
                    Some(r) => format!("approval {id} was {}: {r}", state.as_str()),
                    None => format!("approval {id} was {}", state.as_str()),
                }
            }
            Refusal::Abandoned(d) => {
                let id = d.approval.as_ref().map_or("", |a| a.id.as_str());
                format!("the request was cancelled while held; approval {id} stays pending")
            }
            Refusal::Unholdable { why, .. } => why.clone(),
            Refusal::Obligation { kind, policy, .. } => format!(
                "policy `{policy}` allows this only with a `{kind}` obligation, which {front} cannot carry out"
            ),
            Refusal::Unavailable { code: "conflict" } => {
                "the request raced another change to its approval; send it again".into()
            }
            Refusal::Unavailable { .. } => {
                "Countersign cannot decide now; nothing was allowed".into()
            }
        }
    }
}
