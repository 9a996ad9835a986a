//! Gate evaluation, as pure functions of a change, its gates, the other
//! changes of the same subject and the time: the governor loads, these
//! decide, so every rule is testable without a store.

use super::rules::GateRules;
use super::{Change, ChangeState, GateResult, GateStatus};
use crate::time::{Timestamp, format_duration};
use std::time::Duration;

/// The change live for its subject in `environment`: the latest deployed
/// one that was not rolled back.
pub fn live_in<'a>(changes: &'a [Change], environment: &str) -> Option<&'a Change> {
    changes
        .iter()
        .filter(|c| c.environment == environment && c.state == ChangeState::Deployed)
        .max_by_key(|c| (c.deployed_at, c.id.clone()))
}

/// Gates checked when a change is submitted. Failures here are final
/// (`checks_failed`); soak, wait, reviews and freezes that can only be
/// settled later are reported as pending.
pub fn at_submit(
    change: &Change,
    rules: &GateRules,
    siblings: &[Change],
    now: Timestamp,
) -> Vec<GateResult> {
    let mut out = Vec::new();
    let live = live_in(siblings, &change.environment)
        .filter(|l| l.id != change.id)
        .map(|l| (l.version.as_str(), &l.evidence.metrics));
    for t in &rules.metrics {
        out.push(t.check(&change.evidence.metrics, live));
    }
    if let Some(after) = &rules.after {
        let (promo, soak) = promotion(change, after, rules.min_soak, siblings, now);
        out.push(promo);
        if let Some(mut s) = soak {
            if s.status == GateStatus::Fail {
                // Soak time still to come is not a failed check.
                s.status = GateStatus::Pending;
            }
            out.push(s);
        }
    }
    out.push(review_gate("review", &rules.reviews));
    if change.emergency.is_some() {
        out.push(review_gate("emergency", &rules.emergency));
    }
    if let Some(w) = rules.wait {
        out.push(GateResult::new(
            "wait",
            format!("wait {}", format_duration(w)),
            format!("{} after approval", format_duration(w)),
            None,
            GateStatus::Pending,
        ));
    }
    if let Some(w) = rules.frozen_at(now) {
        // A freeze is checked when deploying (it may be over by then).
        let mut g = freeze_result(change, &w, false);
        g.status = GateStatus::Pending;
        out.push(g);
    }
    out
}

/// What a deploy of `change` presenting `digest` at `now` must pass.
/// Returns every deploy gate's result and, when any fails, why the deploy
/// is refused.
pub fn at_deploy(
    change: &Change,
    rules: &GateRules,
    siblings: &[Change],
    digest: &str,
    override_approved: bool,
    now: Timestamp,
) -> (Vec<GateResult>, Option<String>) {
    let mut out = Vec::new();
    let mut refusals = Vec::new();
    let live = live_in(siblings, &change.environment);
    let state_ok = match change.state {
        ChangeState::Approved => Ok(()),
        ChangeState::Deployed if live.is_some_and(|l| l.id == change.id) => Ok(()),
        ChangeState::Deployed => Err(format!(
            "change {} is no longer live in {} ({} replaced it); submit a new change",
            change.id,
            change.environment,
            live.map_or("another change", |l| l.id.as_str())
        )),
        ChangeState::Superseded => Err(format!(
            "change {} was superseded by {}; deploy that one instead",
            change.id,
            change.superseded_by.as_deref().unwrap_or("a newer change")
        )),
        s => Err(format!(
            "change {} is {}; only an approved change may be deployed",
            change.id,
            s.as_str()
        )),
    };
    out.push(GateResult::new(
        "state",
        "the change is approved",
        "approved (or live, for a redeploy)",
        Some(change.state.as_str().to_owned()),
        if state_ok.is_ok() {
            GateStatus::Pass
        } else {
            GateStatus::Fail
        },
    ));
    if let Err(e) = state_ok {
        refusals.push(e);
    }
    let digest_ok = digest == change.artifact_sha256;
    out.push(GateResult::new(
        "artifact",
        "the deployed artifact is the approved one",
        format!("sha256:{}", change.artifact_sha256),
        Some(format!("sha256:{digest}")),
        if digest_ok {
            GateStatus::Pass
        } else {
            GateStatus::Fail
        },
    ));
    if !digest_ok {
        refusals.push(format!(
            "artifact digest mismatch: change {} approved sha256:{}, this deploy presents sha256:{digest}",
            change.id, change.artifact_sha256
        ));
    }
    if let Some(after) = &rules.after {
        let (promo, soak) = promotion(change, after, rules.min_soak, siblings, now);
        for g in std::iter::once(promo).chain(soak) {
            if g.status == GateStatus::Fail {
                refusals.push(format!(
                    "{}: expected {}, found {}",
                    g.rule,
                    g.expected,
                    g.measured.as_deref().unwrap_or("nothing")
                ));
            }
            out.push(g);
        }
    }
    if let (Some(w), Some(approved)) = (rules.wait, change.approved_at) {
        let ok = now >= approved.plus(w);
        out.push(GateResult::new(
            "wait",
            format!("wait {}", format_duration(w)),
            format!("{} after approval", format_duration(w)),
            Some(format!(
                "{} since approval",
                format_duration(round_secs(elapsed(approved, now)))
            )),
            if ok {
                GateStatus::Pass
            } else {
                GateStatus::Fail
            },
        ));
        if !ok {
            refusals.push(format!(
                "wait timer: deploys wait {} after approval; {} to go",
                format_duration(w),
                format_duration(round_secs(w.saturating_sub(elapsed(approved, now))))
            ));
        }
    }
    if let Some(w) = rules.frozen_at(now) {
        let g = freeze_result(change, &w, override_approved);
        if g.status == GateStatus::Fail {
            refusals.push(format!(
                "{} is frozen until {}{}; only an emergency change with an approved override may deploy",
                change.environment,
                w.until.rfc3339(),
                w.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ));
        }
        out.push(g);
    }
    let refusal = (!refusals.is_empty()).then(|| refusals.join("; "));
    (out, refusal)
}

fn elapsed(from: Timestamp, to: Timestamp) -> Duration {
    Duration::from_millis(u64::try_from(to.millis() - from.millis()).unwrap_or(0))
}

fn round_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs().max(1))
}

/// The promotion gate (same artifact live in `after`) and, with a minimum
/// soak, how long it has been live there.
fn promotion(
    change: &Change,
    after: &str,
    min_soak: Option<Duration>,
    siblings: &[Change],
    now: Timestamp,
) -> (GateResult, Option<GateResult>) {
    let rule = format!("deployed to {after} first");
    let prior = siblings
        .iter()
        .filter(|c| {
            c.environment == after
                && c.artifact_sha256 == change.artifact_sha256
                && c.state == ChangeState::Deployed
        })
        .min_by_key(|c| c.deployed_at);
    let promo = match prior {
        Some(p) => GateResult::new(
            "promotion",
            &rule,
            format!("sha256:{} live in {after}", short(&change.artifact_sha256)),
            Some(format!(
                "live in {after} since {} ({})",
                p.deployed_at.map(Timestamp::rfc3339).unwrap_or_default(),
                p.id
            )),
            GateStatus::Pass,
        ),
        None => GateResult::new(
            "promotion",
            &rule,
            format!("sha256:{} live in {after}", short(&change.artifact_sha256)),
            Some(format!("this artifact is not live in {after}")),
            GateStatus::Fail,
        ),
    };
    let soak = min_soak.map(|need| {
        let since = prior.and_then(|p| p.deployed_at);
        let have = since.map(|s| elapsed(s, now));
        GateResult::new(
            "soak",
            format!("live in {after} for {}", format_duration(need)),
            format!(">= {}", format_duration(need)),
            Some(have.map_or_else(|| "not live".to_owned(), |h| format_duration(round_secs(h)))),
            if have.is_some_and(|h| h >= need) {
                GateStatus::Pass
            } else {
                GateStatus::Fail
            },
        )
    });
    (promo, soak)
}

fn review_gate(gate: &str, r: &super::rules::ReviewRule) -> GateResult {
    let who = if r.groups.is_empty() {
        "any human".to_owned()
    } else {
        r.groups.join(", ")
    };
    if r.quorum == 0 {
        return GateResult::new(
            gate,
            "no review required",
            "0 approvals",
            None,
            GateStatus::Pass,
        );
    }
    GateResult::new(
        gate,
        format!("{} of {who}, not the author", r.quorum),
        format!("{} approvals", r.quorum),
        Some("0 approvals".into()),
        GateStatus::Pending,
    )
}

fn freeze_result(
    change: &Change,
    w: &super::rules::FreezeWindow,
    override_approved: bool,
) -> GateResult {
    let rule = format!(
        "no deploys to {} from {} until {}{}",
        change.environment,
        w.from.rfc3339(),
        w.until.rfc3339(),
        w.reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    let (measured, status) = if change.emergency.is_some() && override_approved {
        ("emergency override approved", GateStatus::Pass)
    } else if change.emergency.is_some() {
        ("emergency override not approved yet", GateStatus::Fail)
    } else {
        ("frozen; not an emergency change", GateStatus::Fail)
    };
    GateResult::new(
        "freeze",
        rule,
        "outside the window, or an approved emergency override",
        Some(measured.into()),
        status,
    )
}

fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

/// Summary of a failing gate for people: `accuracy >= 0.92: measured 0.91`.
pub fn describe(g: &GateResult) -> String {
    format!(
        "{} [{}]: expected {}, measured {}",
        g.rule,
        g.gate,
        g.expected,
        g.measured.as_deref().unwrap_or("nothing")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::rules::ChangeRules;
    use crate::change::{Evidence, GateStatus};
    use crate::principal::{PrincipalKind, PrincipalRef};
    use crate::request::ResourceRef;

    const NOW: Timestamp = Timestamp(1_800_000_000_000);
    const MIN: i64 = 60_000;

    fn change(
        id: &str,
        env: &str,
        digest: &str,
        state: ChangeState,
        deployed_min_ago: Option<i64>,
    ) -> Change {
        Change {
            id: id.into(),
            kind: "model".into(),
            subject: ResourceRef {
                kind: "Model".into(),
                id: "m".into(),
            },
            version: "v".into(),
            artifact_sha256: digest.into(),
            environment: env.into(),
            description: None,
            author: PrincipalRef {
                kind: PrincipalKind::User,
                name: "alice".into(),
            },
            author_owner: None,
            evidence: Evidence::default(),
            emergency: None,
            state,
            gates: Vec::new(),
            review_approval: None,
            override_approval: None,
            approved_by: Vec::new(),
            created_at: Timestamp(0),
            approved_at: Some(Timestamp(NOW.0 - 120 * MIN)),
            deployed_at: deployed_min_ago.map(|m| Timestamp(NOW.0 - m * MIN)),
            deployed_by: None,
            deploy_decision: None,
            ended_at: None,
            superseded_by: None,
            end_reason: None,
            policy: None,
            report: None,
            rev: 0,
        }
    }

    fn prod_rules(min_soak: Option<Duration>) -> crate::change::rules::GateRules {
        let mut g = ChangeRules::default().gate("model", "prod").unwrap();
        g.min_soak = min_soak;
        g
    }

    #[test]
    fn soak_time_in_the_previous_environment_is_checked_at_deploy() {
        let c = change("c2", "prod", "aa", ChangeState::Approved, None);
        let staging = change("c1", "staging", "aa", ChangeState::Deployed, Some(10));
        let rules = prod_rules(Some(Duration::from_secs(3600)));
        let (gates, refusal) =
            at_deploy(&c, &rules, std::slice::from_ref(&staging), "aa", false, NOW);
        let soak = gates.iter().find(|g| g.gate == "soak").unwrap();
        assert_eq!(soak.status, GateStatus::Fail);
        assert_eq!(soak.measured.as_deref(), Some("10m"));
        assert!(refusal.unwrap().contains("live in staging for 1h"));
        // At submission the same soak is only pending.
        let at = at_submit(&c, &rules, &[staging], NOW);
        assert_eq!(
            at.iter().find(|g| g.gate == "soak").unwrap().status,
            GateStatus::Pending
        );
        let soaked = change("c1", "staging", "aa", ChangeState::Deployed, Some(61));
        let (_, refusal) = at_deploy(&c, &rules, &[soaked], "aa", false, NOW);
        assert_eq!(refusal, None);
    }

    #[test]
    fn promotion_needs_the_same_artifact_still_live_before() {
        let c = change("c2", "prod", "aa", ChangeState::Approved, None);
        let rules = prod_rules(None);
        for (sibling, ok) in [
            (
                change("s", "staging", "aa", ChangeState::Deployed, Some(5)),
                true,
            ),
            (
                change("s", "staging", "bb", ChangeState::Deployed, Some(5)),
                false,
            ),
            (
                change("s", "staging", "aa", ChangeState::RolledBack, Some(5)),
                false,
            ),
            (
                change("s", "staging", "aa", ChangeState::Approved, None),
                false,
            ),
            (
                change("s", "dev", "aa", ChangeState::Deployed, Some(5)),
                false,
            ),
        ] {
            let (_, refusal) =
                at_deploy(&c, &rules, std::slice::from_ref(&sibling), "aa", false, NOW);
            assert_eq!(refusal.is_none(), ok, "{sibling:?}: {refusal:?}");
        }
    }

    #[test]
    fn the_live_change_is_the_latest_deployed_one() {
        let a = change("a", "prod", "aa", ChangeState::Deployed, Some(30));
        let b = change("b", "prod", "bb", ChangeState::Deployed, Some(10));
        let rolled = change("c", "prod", "cc", ChangeState::RolledBack, Some(5));
        let all = [a.clone(), b.clone(), rolled];
        assert_eq!(live_in(&all, "prod").map(|c| c.id.as_str()), Some("b"));
        // Redeploying the live one is fine; the replaced one is refused.
        let rules = prod_rules(None);
        let staging = [
            change("sa", "staging", "aa", ChangeState::Deployed, Some(60)),
            change("sb", "staging", "bb", ChangeState::Deployed, Some(60)),
        ];
        let with = |extra: &[Change]| [&all[..], extra].concat();
        assert_eq!(
            at_deploy(&b, &rules, &with(&staging), "bb", false, NOW).1,
            None
        );
        let (_, why) = at_deploy(&a, &rules, &with(&staging), "aa", false, NOW);
        assert!(
            why.unwrap()
                .contains("no longer live in prod (b replaced it)")
        );
    }
}
