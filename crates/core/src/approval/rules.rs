//! Separation-of-duties and eligibility rules for votes and cancellations.
//! Pure functions of the approval, the actor and the time: the governor calls
//! them, the store never needs to know them.

use super::{Approval, ApprovalState, VoteDecision};
use crate::principal::Principal;
use crate::time::Timestamp;

/// Why a vote or a cancellation is refused. Each has a stable code for the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoteRefusal {
    #[error("approval is already {0}")]
    Finished(&'static str),
    #[error("approval has expired")]
    Expired,
    #[error("only people approve: `{0}` is a {1}")]
    NotHuman(String, &'static str),
    #[error("`{0}` is disabled")]
    Disabled(String),
    #[error("no self-approval: `{0}` made this request")]
    SelfApproval(String),
    #[error(
        "`{0}` owns the agent that made this request and policy does not let owners approve it"
    )]
    OwnerOfAgent(String),
    #[error("`{voter}` is not in an eligible approver group ({groups})")]
    NotEligible { voter: String, groups: String },
    #[error("`{0}` has already voted on this approval")]
    AlreadyVoted(String),
    #[error("policy requires a reason with each vote")]
    ReasonRequired,
    #[error("only the requester may cancel this approval")]
    NotRequester,
}

impl VoteRefusal {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            VoteRefusal::Finished(_) => "approval_finished",
            VoteRefusal::Expired => "approval_expired",
            VoteRefusal::NotHuman(..) => "approver_not_human",
            VoteRefusal::Disabled(_) => "principal_disabled",
            VoteRefusal::SelfApproval(_) => "self_approval",
            VoteRefusal::OwnerOfAgent(_) => "owner_approval",
            VoteRefusal::NotEligible { .. } => "approver_not_eligible",
            VoteRefusal::AlreadyVoted(_) => "already_voted",
            VoteRefusal::ReasonRequired => "reason_required",
            VoteRefusal::NotRequester => "not_requester",
        }
    }
}

/// Checks whether `voter` may cast `decision` on `a` at `now`.
pub fn check_vote(
    a: &Approval,
    voter: &Principal,
    decision: VoteDecision,
    reason: Option<&str>,
    now: Timestamp,
) -> Result<(), VoteRefusal> {
    match a.effective_state(now) {
        ApprovalState::Pending => {}
        ApprovalState::Expired => return Err(VoteRefusal::Expired),
        s => return Err(VoteRefusal::Finished(s.as_str())),
    }
    check_voter(a, voter)?;
    if a.votes.iter().any(|v| v.voter == voter.name) {
        return Err(VoteRefusal::AlreadyVoted(voter.name.clone()));
    }
    // A reason is always welcome; policy may require one. Denials without a
    // reason are accepted: blocking a deny on paperwork would be perverse.
    if a.requirement.reason_required
        && decision == VoteDecision::Approve
        && reason.is_none_or(|r| r.trim().is_empty())
    {
        return Err(VoteRefusal::ReasonRequired);
    }
    Ok(())
}

/// Whether `voter` is someone who may decide `a` at all, whatever its
/// state and votes: a human, enabled, not the requester, not the agent's
/// owner (unless policy allows), in an eligible group. Fronts that pick
/// whom to ask (notifications) use this rather than a rule of their own.
pub fn check_voter(a: &Approval, voter: &Principal) -> Result<(), VoteRefusal> {
    if !voter.kind.is_human() {
        return Err(VoteRefusal::NotHuman(
            voter.name.clone(),
            voter.kind.as_str(),
        ));
    }
    if voter.disabled {
        return Err(VoteRefusal::Disabled(voter.name.clone()));
    }
    if voter.name == a.requester().name {
        return Err(VoteRefusal::SelfApproval(voter.name.clone()));
    }
    if a.requester_owner.as_deref() == Some(voter.name.as_str()) && !a.requirement.owner_may_approve
    {
        return Err(VoteRefusal::OwnerOfAgent(voter.name.clone()));
    }
    let groups = &a.requirement.groups;
    if !groups.is_empty() && !groups.iter().any(|g| voter.in_group(g)) {
        return Err(VoteRefusal::NotEligible {
            voter: voter.name.clone(),
            groups: groups.join(", "),
        });
    }
    Ok(())
}

/// Checks whether `who` may cancel `a` at `now`.
pub fn check_cancel(a: &Approval, who: &Principal, now: Timestamp) -> Result<(), VoteRefusal> {
    match a.effective_state(now) {
        ApprovalState::Pending => {}
        ApprovalState::Expired => return Err(VoteRefusal::Expired),
        s => return Err(VoteRefusal::Finished(s.as_str())),
    }
    if who.name != a.requester().name {
        return Err(VoteRefusal::NotRequester);
    }
    Ok(())
}

/// The votes so far.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tally {
    /// Distinct people who approved.
    pub approvers: Vec<String>,
    /// Distinct people who denied.
    pub deniers: Vec<String>,
}

impl Tally {
    pub fn approvals(&self) -> u32 {
        u32::try_from(self.approvers.len()).unwrap_or(u32::MAX)
    }
}

/// Counts votes, each person once (the first vote of a person counts; the
/// rules refuse a second, but a tally must not trust that).
pub fn tally(a: &Approval) -> Tally {
    let mut t = Tally::default();
    for v in &a.votes {
        if t.approvers.contains(&v.voter) || t.deniers.contains(&v.voter) {
            continue;
        }
        match v.decision {
            VoteDecision::Approve => t.approvers.push(v.voter.clone()),
            VoteDecision::Deny => t.deniers.push(v.voter.clone()),
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::{Requirement, Vote};
    use crate::principal::{PrincipalKind, PrincipalRef};
    use crate::request::{ActionRequest, RequestHash, ResourceRef};

    fn person(name: &str, kind: PrincipalKind, groups: &[&str]) -> Principal {
        Principal {
            name: name.into(),
            kind,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            owner: None,
            email: None,
            disabled: false,
            created_at: Timestamp(0),
        }
    }

    fn approval(groups: &[&str], owner_may: bool, reason_required: bool) -> Approval {
        Approval {
            id: "apr_x".into(),
            request: ActionRequest {
                principal: PrincipalRef {
                    kind: PrincipalKind::Agent,
                    name: "bot".into(),
                },
                action: "sql.ddl".into(),
                resource: ResourceRef {
                    kind: "Table".into(),
                    id: "orders".into(),
                },
                environment: "prod".into(),
                context: Default::default(),
            },
            request_hash: RequestHash("h".into()),
            reason: None,
            requester_owner: Some("olivia".into()),
            requirement: Requirement {
                policy_id: "p".into(),
                quorum: 2,
                groups: groups.iter().map(|g| g.to_string()).collect(),
                ttl_secs: 3600,
                reason_required,
                owner_may_approve: owner_may,
                message: None,
            },
            policy_hash: "sha256:0".into(),
            decision_id: "dec_x".into(),
            state: ApprovalState::Pending,
            votes: vec![],
            created_at: Timestamp(0),
            expires_at: Timestamp(1000),
            decided_at: None,
            executed_by: None,
            change_id: None,
            version: 0,
        }
    }

    const NOW: Timestamp = Timestamp(10);

    #[test]
    fn eligible_reviewer_may_vote() {
        let a = approval(&["reviewer"], false, false);
        let r = person("rita", PrincipalKind::User, &["reviewer"]);
        assert_eq!(check_vote(&a, &r, VoteDecision::Approve, None, NOW), Ok(()));
    }

    #[test]
    fn agents_and_services_never_approve() {
        let a = approval(&[], false, false);
        for k in [PrincipalKind::Agent, PrincipalKind::Service] {
            let p = person("x", k, &["reviewer"]);
            assert_eq!(
                check_vote(&a, &p, VoteDecision::Approve, None, NOW).map_err(|e| e.code()),
                Err("approver_not_human")
            );
        }
    }

    #[test]
    fn no_self_approval_and_no_owner_unless_policy_allows() {
        let mut a = approval(&[], false, false);
        a.request.principal = PrincipalRef {
            kind: PrincipalKind::User,
            name: "rita".into(),
        };
        a.requester_owner = None;
        let rita = person("rita", PrincipalKind::User, &["reviewer"]);
        assert_eq!(
            check_vote(&a, &rita, VoteDecision::Approve, None, NOW).map_err(|e| e.code()),
            Err("self_approval")
        );

        let a = approval(&[], false, false);
        let olivia = person("olivia", PrincipalKind::User, &["reviewer"]);
        assert_eq!(
            check_vote(&a, &olivia, VoteDecision::Approve, None, NOW).map_err(|e| e.code()),
            Err("owner_approval")
        );
        let a = approval(&[], true, false);
        assert_eq!(
            check_vote(&a, &olivia, VoteDecision::Approve, None, NOW),
            Ok(())
        );
    }

    #[test]
    fn groups_restrict_who_votes() {
        let a = approval(&["reviewer", "dba"], false, false);
        let eng = person("ed", PrincipalKind::User, &["engineer"]);
        assert_eq!(
            check_vote(&a, &eng, VoteDecision::Deny, None, NOW).map_err(|e| e.code()),
            Err("approver_not_eligible")
        );
        let dba = person("dee", PrincipalKind::User, &["dba"]);
        assert!(check_vote(&a, &dba, VoteDecision::Deny, None, NOW).is_ok());
    }

    #[test]
    fn one_vote_per_person_and_tally_counts_once() {
        let mut a = approval(&[], false, false);
        let v = |who: &str, d| Vote {
            voter: who.into(),
            decision: d,
            reason: None,
            at: NOW,
            via: "api".into(),
        };
        a.votes.push(v("rita", VoteDecision::Approve));
        let rita = person("rita", PrincipalKind::User, &[]);
        assert_eq!(
            check_vote(&a, &rita, VoteDecision::Approve, None, NOW).map_err(|e| e.code()),
            Err("already_voted")
        );
        a.votes.push(v("rita", VoteDecision::Approve));
        a.votes.push(v("sam", VoteDecision::Approve));
        let t = tally(&a);
        assert_eq!(t.approvals(), 2);
        assert_eq!(t.approvers, vec!["rita".to_string(), "sam".to_string()]);
    }

    #[test]
    fn finished_expired_and_reason() {
        let mut a = approval(&[], false, true);
        let r = person("rita", PrincipalKind::User, &[]);
        assert_eq!(
            check_vote(&a, &r, VoteDecision::Approve, Some("  "), NOW).map_err(|e| e.code()),
            Err("reason_required")
        );
        assert!(check_vote(&a, &r, VoteDecision::Approve, Some("ok, ticket 42"), NOW).is_ok());
        assert!(check_vote(&a, &r, VoteDecision::Deny, None, NOW).is_ok());
        assert_eq!(
            check_vote(&a, &r, VoteDecision::Deny, None, Timestamp(1000)).map_err(|e| e.code()),
            Err("approval_expired")
        );
        a.state = ApprovalState::Denied;
        assert_eq!(
            check_vote(&a, &r, VoteDecision::Deny, None, NOW).map_err(|e| e.code()),
            Err("approval_finished")
        );
    }

    #[test]
    fn only_requester_cancels() {
        let a = approval(&[], false, false);
        let bot = person("bot", PrincipalKind::Agent, &[]);
        let r = person("rita", PrincipalKind::User, &[]);
        assert!(check_cancel(&a, &bot, NOW).is_ok());
        assert_eq!(
            check_cancel(&a, &r, NOW).map_err(|e| e.code()),
            Err("not_requester")
        );
    }
}
