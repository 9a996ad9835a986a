//! A change's gates as they stand now, for people: one row per gate, the
//! latest result of each, and the review rows resolved by what happened to
//! the review. `Change::gates` is the history (submission results, then
//! every deploy check appended), where a review stays `pending` forever and
//! a re-checked gate appears twice; shown as is, an approved change read
//! "wait review … 0 approvals" beside "approved by rita". The API returns
//! both (`gates`, `current_gates`); the CLI and the console show this one.

use countersign_core::change::{Change, ChangeState, GateResult, GateStatus};

/// Gates whose outcome is decided by an approval.
const REVIEW_GATES: [&str; 2] = ["review", "emergency"];

/// The latest result of each gate (same gate and rule), in the order the
/// gates first appeared, with pending reviews resolved from the change's
/// state.
pub fn current_gates(c: &Change) -> Vec<GateResult> {
    let mut out: Vec<GateResult> = Vec::with_capacity(c.gates.len());
    for g in &c.gates {
        match out
            .iter_mut()
            .find(|o| o.gate == g.gate && o.rule == g.rule)
        {
            Some(slot) => *slot = g.clone(),
            None => out.push(g.clone()),
        }
    }
    for g in out
        .iter_mut()
        .filter(|g| g.status == GateStatus::Pending && REVIEW_GATES.contains(&g.gate.as_str()))
    {
        resolve_review(g, c);
    }
    out
}

fn resolve_review(g: &mut GateResult, c: &Change) {
    let (status, measured) = match c.state {
        ChangeState::Approved
        | ChangeState::Deployed
        | ChangeState::Superseded
        | ChangeState::RolledBack => (
            GateStatus::Pass,
            if c.approved_by.is_empty() {
                "approved".to_owned()
            } else {
                format!("approved by {}", c.approved_by.join(", "))
            },
        ),
        ChangeState::Rejected => (
            GateStatus::Fail,
            match &c.end_reason {
                Some(r) => format!("denied: {r}"),
                None => "denied".to_owned(),
            },
        ),
        ChangeState::Expired => (
            GateStatus::Fail,
            "expired before enough approvals".to_owned(),
        ),
        ChangeState::Cancelled => (GateStatus::Skipped, "cancelled".to_owned()),
        ChangeState::ChecksFailed => (
            GateStatus::Skipped,
            "not reached: a check failed".to_owned(),
        ),
        ChangeState::AwaitingReview => return,
    };
    g.status = status;
    g.measured = Some(measured);
}

#[cfg(test)]
mod tests {
    use super::*;
    use countersign_core::change::Evidence;
    use countersign_core::principal::{PrincipalKind, PrincipalRef};
    use countersign_core::request::ResourceRef;
    use countersign_core::time::Timestamp;

    fn gate(name: &str, rule: &str, status: GateStatus, measured: &str) -> GateResult {
        GateResult::new(name, rule, "x", Some(measured.to_owned()), status)
    }

    fn change(state: ChangeState, gates: Vec<GateResult>, approved_by: &[&str]) -> Change {
        Change {
            id: "chg_1".into(),
            kind: "model".into(),
            subject: ResourceRef {
                kind: "Model".into(),
                id: "m".into(),
            },
            version: "v2".into(),
            artifact_sha256: "00".into(),
            environment: "staging".into(),
            description: None,
            author: PrincipalRef {
                kind: PrincipalKind::Service,
                name: "ci".into(),
            },
            author_owner: None,
            evidence: Evidence::default(),
            emergency: None,
            state,
            gates,
            review_approval: None,
            override_approval: None,
            approved_by: approved_by.iter().map(|s| (*s).to_owned()).collect(),
            created_at: Timestamp(0),
            approved_at: None,
            deployed_at: None,
            deployed_by: None,
            deploy_decision: None,
            ended_at: None,
            superseded_by: None,
            end_reason: None,
            policy: None,
            report: None,
            rev: 1,
        }
    }

    #[test]
    fn an_approved_change_shows_its_review_passed_by_whom() {
        let c = change(
            ChangeState::Approved,
            vec![
                gate(
                    "promotion",
                    "deployed to dev first",
                    GateStatus::Pass,
                    "live",
                ),
                gate("review", "1 of admin", GateStatus::Pending, "0 approvals"),
            ],
            &["rita"],
        );
        let now = current_gates(&c);
        assert_eq!(now[1].status, GateStatus::Pass);
        assert_eq!(now[1].measured.as_deref(), Some("approved by rita"));
        // The history is untouched.
        assert_eq!(c.gates[1].status, GateStatus::Pending);
    }

    #[test]
    fn a_gate_checked_again_at_deploy_shows_once_with_its_latest_result() {
        let c = change(
            ChangeState::Approved,
            vec![
                gate("promotion", "deployed to dev first", GateStatus::Pass, "a"),
                gate("wait", "wait 1s", GateStatus::Pending, "-"),
                gate("state", "approved", GateStatus::Pass, "approved"),
                gate("promotion", "deployed to dev first", GateStatus::Pass, "b"),
                gate("wait", "wait 1s", GateStatus::Fail, "0s since approval"),
            ],
            &[],
        );
        let now = current_gates(&c);
        let rules: Vec<&str> = now.iter().map(|g| g.gate.as_str()).collect();
        assert_eq!(rules, ["promotion", "wait", "state"]);
        assert_eq!(now[0].measured.as_deref(), Some("b"));
        assert_eq!(now[1].status, GateStatus::Fail);
    }

    #[test]
    fn a_pending_review_stays_pending_while_awaiting_and_fails_when_denied() {
        let review = || vec![gate("review", "1 of admin", GateStatus::Pending, "0")];
        let waiting = change(ChangeState::AwaitingReview, review(), &[]);
        assert_eq!(current_gates(&waiting)[0].status, GateStatus::Pending);
        let mut denied = change(ChangeState::Rejected, review(), &[]);
        denied.end_reason = Some("not yet".into());
        let g = &current_gates(&denied)[0];
        assert_eq!(
            (g.status, g.measured.as_deref()),
            (GateStatus::Fail, Some("denied: not yet"))
        );
    }
}
