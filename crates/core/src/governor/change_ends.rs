//! How a change ends after review: deployed (reported by its deploy's
//! outcome), rolled back, or cancelled by its author before deploying.

use super::Governor;
use super::change_input::{MAX_REASON, check_text};
use crate::approval::ApprovalState;
use crate::audit::EventKind;
use crate::change::{Change, ChangeState, POLICY_KIND, gates};
use crate::error::GovernorError;
use crate::principal::Principal;
use crate::store::{Mutation, StoreError, Write};
use crate::verdict::{DecisionRecord, Outcome};
use serde_json::json;

impl Governor {
    /// Records that a deployed change was rolled back: the deployment
    /// before it is live again. The author, whoever deployed it, or an
    /// administrator may say so.
    pub async fn rollback_change(
        &self,
        who: &Principal,
        id: &str,
        reason: Option<String>,
        request_id: Option<&str>,
    ) -> Result<Change, GovernorError> {
        if let Some(r) = &reason {
            check_text("reason", r, 0, MAX_REASON)?;
        }
        let mut c = self.change(id).await?;
        let deployer = match &c.deployed_by {
            Some(d) => self.store.decision(d).await?.map(|r| r.principal.name),
            None => None,
        };
        if !(self.is_admin(who)
            || c.author.name == who.name
            || deployer.as_deref() == Some(who.name.as_str()))
        {
            return Err(GovernorError::Forbidden(
                "only the change's author, its deployer or an administrator may roll it back"
                    .into(),
            ));
        }
        let siblings = self.siblings(&c.subject).await?;
        let live = gates::live_in(&siblings, &c.environment);
        if c.state != ChangeState::Deployed || live.is_none_or(|l| l.id != c.id) {
            return Err(GovernorError::Conflict(format!(
                "change {id} is {}{}; only the change live in {} can be rolled back",
                c.state.as_str(),
                if c.state == ChangeState::Deployed {
                    " but no longer live"
                } else {
                    ""
                },
                c.environment
            )));
        }
        let previous = siblings
            .iter()
            .filter(|s| {
                s.id != c.id && s.environment == c.environment && s.state == ChangeState::Deployed
            })
            .max_by_key(|s| s.deployed_at)
            .map(|s| s.id.clone());
        let mut write = Write::default();
        let expected = c.rev;
        c.end_reason = reason;
        self.transition(
            &mut c,
            ChangeState::RolledBack,
            Some(&who.reference()),
            Some(json!({ "live_again": previous })),
            &mut write,
            request_id,
        );
        write.mutations.push(Mutation::UpdateChange {
            change: c.clone(),
            expected_rev: expected,
        });
        self.commit_change_write(write).await?;
        if c.kind == POLICY_KIND {
            self.refresh_env_policies().await?;
        }
        Ok(c)
    }

    /// Withdraws a change before it is deployed: its author (or an
    /// administrator). Open reviews are cancelled with it, so reviewers stop
    /// being asked; an approved change simply stops being deployable.
    pub async fn cancel_change(
        &self,
        who: &Principal,
        id: &str,
        reason: Option<String>,
        request_id: Option<&str>,
    ) -> Result<Change, GovernorError> {
        if let Some(r) = &reason {
            check_text("reason", r, 0, MAX_REASON)?;
        }
        for _ in 0..super::votes::CAS_ATTEMPTS {
            let mut c = self.change(id).await?;
            if !(c.author.name == who.name || self.is_admin(who)) {
                return Err(GovernorError::Forbidden(
                    "only the change's author or an administrator may cancel it".into(),
                ));
            }
            if !matches!(c.state, ChangeState::AwaitingReview | ChangeState::Approved) {
                return Err(GovernorError::Conflict(format!(
                    "change {id} is {}; only a change awaiting review or approved (not deployed) can be cancelled",
                    c.state.as_str()
                )));
            }
            let expected = c.rev;
            let mut write = Write::default();
            // Close its open approvals in the same write, so none can be
            // voted to completion after the change is gone.
            for aid in [&c.review_approval, &c.override_approval]
                .into_iter()
                .flatten()
            {
                if let Some(a) = self.store.approval(aid).await?
                    && !a.state.is_final()
                {
                    let mut next = a.clone();
                    next.version += 1;
                    next.state = ApprovalState::Cancelled;
                    next.decided_at = Some(self.now());
                    let mut ev = self.approval_event(EventKind::Cancelled, &next, request_id);
                    ev.principal = Some(who.reference());
                    write.events.push(ev);
                    write.mutations.push(Mutation::UpdateApproval {
                        approval: next,
                        expected_version: a.version,
                    });
                }
            }
            c.end_reason = reason.clone();
            self.transition(
                &mut c,
                ChangeState::Cancelled,
                Some(&who.reference()),
                None,
                &mut write,
                request_id,
            );
            write.mutations.push(Mutation::UpdateChange {
                change: c.clone(),
                expected_rev: expected,
            });
            match self.store.commit(write).await {
                Ok(_) => {
                    for aid in [&c.review_approval, &c.override_approval]
                        .into_iter()
                        .flatten()
                    {
                        // Waiters re-read the approval; the version is a hint.
                        self.notify(aid, 0);
                    }
                    return Ok(c);
                }
                // A vote or another cancel landed first: look again.
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(GovernorError::Conflict(format!(
            "change {id} is too contended; retry"
        )))
    }

    /// Reports a deploy of `id` as done, for CI that asked for the deploy
    /// decision itself rather than through `countersign run` (which reports
    /// on its own): the outcome of the change's latest deploy decision.
    pub async fn change_deployed(
        &self,
        who: &Principal,
        id: &str,
        request_id: Option<&str>,
    ) -> Result<Change, GovernorError> {
        let c = self.change(id).await?;
        let Some(decision) = c.deploy_decision.clone() else {
            return Err(GovernorError::Conflict(format!(
                "change {id} has no allowed deploy decision to report on; deploy it with `{}` first",
                self.config
                    .changes
                    .kind(&c.kind)
                    .map_or("<kind>.deploy", |k| k.deploy_action.as_str())
            )));
        };
        self.report_outcome(
            who,
            &decision,
            crate::verdict::Outcome {
                status: "executed".into(),
                ..Default::default()
            },
            request_id,
        )
        .await?;
        self.change(id).await
    }

    /// An executed deploy of an approved change marks it deployed (live),
    /// in the outcome's own write. Returns whether a policy set changed.
    pub(super) async fn deployed_follow_up(
        &self,
        rec: &DecisionRecord,
        outcome: &Outcome,
        write: &mut Write,
        request_id: Option<&str>,
    ) -> Result<bool, GovernorError> {
        let Some(cid) = &rec.change_id else {
            return Ok(false);
        };
        if outcome.status != "executed" {
            return Ok(false);
        }
        let Some(mut c) = self.store.change(cid).await? else {
            return Ok(false);
        };
        // Any allowed deploy of the approved change that ran makes it live
        // (the decision was checked against the change when it was made).
        if c.state != crate::change::ChangeState::Approved {
            return Ok(false);
        }
        let expected = c.rev;
        c.deployed_at = Some(self.now());
        c.deployed_by = Some(rec.id.clone());
        self.transition(
            &mut c,
            crate::change::ChangeState::Deployed,
            Some(&rec.principal),
            Some(serde_json::json!({ "decision": rec.id })),
            write,
            request_id,
        );
        let installs = c.kind == POLICY_KIND;
        write.mutations.push(Mutation::UpdateChange {
            change: c,
            expected_rev: expected,
        });
        Ok(installs)
    }
}
