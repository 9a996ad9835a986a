//! Approval requests and the rules that govern votes on them.
//!
//! An approval is bound to the hash of one exact request, is single-use, has
//! a TTL, needs a quorum of distinct humans from eligible groups, and enforces
//! separation of duties. Its lifecycle is
//! `pending → approved | denied | expired | cancelled`, then
//! `approved → executed | expired`. Transitions are checked here and applied
//! by the governor with a compare-and-swap on [`Approval::version`], so
//! exactly one terminal state wins under concurrent votes.

mod rules;

pub use rules::{Tally, VoteRefusal, check_cancel, check_vote, check_voter, tally};

use crate::principal::PrincipalRef;
use crate::request::{ActionRequest, RequestHash};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalState {
    Pending,
    Approved,
    Denied,
    Expired,
    Cancelled,
    Executed,
}

impl ApprovalState {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Denied => "denied",
            ApprovalState::Expired => "expired",
            ApprovalState::Cancelled => "cancelled",
            ApprovalState::Executed => "executed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => ApprovalState::Pending,
            "approved" => ApprovalState::Approved,
            "denied" => ApprovalState::Denied,
            "expired" => ApprovalState::Expired,
            "cancelled" => ApprovalState::Cancelled,
            "executed" => ApprovalState::Executed,
            _ => return None,
        })
    }

    /// No vote, cancel or redemption can change a finished approval.
    pub fn is_final(self) -> bool {
        !matches!(self, ApprovalState::Pending | ApprovalState::Approved)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VoteDecision {
    Approve,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub voter: String,
    pub decision: VoteDecision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub at: Timestamp,
    /// Where the vote came from: `api`, `cli`, `web`, `slack` …
    pub via: String,
}

/// What policy asked for, copied from the policy's annotations when the
/// approval was created, so a later policy change cannot move the goalposts
/// of a vote in flight (the final decision is still Cedar's, at redemption).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirement {
    pub policy_id: String,
    pub quorum: u32,
    pub groups: Vec<String>,
    pub ttl_secs: u64,
    pub reason_required: bool,
    pub owner_may_approve: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl From<&countersign_policy::ApprovalRule> for Requirement {
    fn from(r: &countersign_policy::ApprovalRule) -> Self {
        Requirement {
            policy_id: r.policy_id.clone(),
            quorum: r.quorum,
            groups: r.groups.clone(),
            ttl_secs: r.ttl.as_secs(),
            reason_required: r.reason_required,
            owner_may_approve: r.owner_may_approve,
            message: r.message.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub id: String,
    pub request: ActionRequest,
    pub request_hash: RequestHash,
    /// The requester's stated reason, shown to reviewers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The accountable owner when the requester is an agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester_owner: Option<String>,
    pub requirement: Requirement,
    pub policy_hash: String,
    /// The decision that opened this approval.
    pub decision_id: String,
    pub state: ApprovalState,
    pub votes: Vec<Vote>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Timestamp>,
    /// The decision that redeemed this approval (single use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executed_by: Option<String>,
    /// The change this approval reviews (a change review or an emergency
    /// override). Such an approval is never redeemed by a decision: its
    /// approval moves the change along, and the gates are the rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
    /// Bumped on every change; updates are compare-and-swap on it.
    pub version: u64,
}

impl Approval {
    pub fn requester(&self) -> &PrincipalRef {
        &self.request.principal
    }

    /// Past its TTL at `now`.
    pub fn is_past_ttl(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }

    /// The state as of `now`: a pending or approved approval past its TTL is
    /// expired even before the sweeper records it.
    pub fn effective_state(&self, now: Timestamp) -> ApprovalState {
        if !self.state.is_final() && self.is_past_ttl(now) {
            ApprovalState::Expired
        } else {
            self.state
        }
    }
}
