//! The answer to a query.

use crate::{ApprovalRule, Obligation};

/// What policy says about one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyDecision {
    /// Permitted. `policies` are the determining permits (sorted), and
    /// `obligations` what they oblige the front to do.
    Allow {
        /// Determining permit ids, sorted.
        policies: Vec<String>,
        /// Obligations from the determining permits' annotations.
        obligations: Vec<Obligation>,
    },
    /// Refused. `policies` are the determining forbids (or, when failing
    /// closed, the policies that could not be evaluated); empty when no
    /// permit applied.
    Deny {
        /// Determining policy ids, sorted.
        policies: Vec<String>,
        /// Why, for people: a forbid's `@message` or a generated sentence.
        reason: String,
    },
    /// Refused for now, but allowed once an approval per `rule` is granted.
    ApprovalRequired {
        /// The approval rule to follow (smallest quorum among the
        /// determining approval rules, ties by policy id).
        rule: ApprovalRule,
        /// The permits that would allow the action once approved, sorted.
        policies: Vec<String>,
    },
}

impl PolicyDecision {
    /// `allow`, `deny` or `pending`, as in audit records and case files.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Allow { .. } => "allow",
            Self::Deny { .. } => "deny",
            Self::ApprovalRequired { .. } => "pending",
        }
    }

    /// The determining policy ids.
    pub fn policies(&self) -> &[String] {
        match self {
            Self::Allow { policies, .. }
            | Self::Deny { policies, .. }
            | Self::ApprovalRequired { policies, .. } => policies,
        }
    }
}
