//! Gates, per change kind and environment, from the `[changes]` config.
//!
//! Defaults keep an unconfigured install safe: every environment after the
//! first requires the same artifact to have been deployed to the one before
//! it (promotion order) and one review by an administrator other than the
//! author. A configured gate replaces the defaults field by field; waiving
//! one takes an explicit `after = "none"` or `reviews = { quorum = 0 }`.

use super::threshold::Threshold;
use crate::time::{Timestamp, parse_duration};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// `[changes]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangesConfig {
    /// Kinds beyond the built-in `model`, `prompt`, `pipeline`, `policy`.
    #[serde(default)]
    pub kinds: BTreeMap<String, KindConfig>,
    #[serde(default)]
    pub gates: Vec<GateConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindConfig {
    /// The Cedar resource type of its subjects, e.g. `Dataset`.
    pub resource: String,
    /// The deploy action (default `<kind>.deploy`).
    pub action: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    /// A kind, or `*` for every kind without its own gate here.
    pub kind: String,
    pub environment: String,
    /// The environment the same artifact must be deployed to first
    /// (default: the previous one in order; `none` to waive).
    pub after: Option<String>,
    /// How long it must have been live there, e.g. `1h`.
    pub min_soak: Option<String>,
    /// Thresholds, e.g. `accuracy >= 0.92`, `accuracy >= live.accuracy - 0.005`.
    #[serde(default)]
    pub metrics: Vec<String>,
    pub reviews: Option<ReviewConfig>,
    /// How long after approval a deploy must wait, e.g. `30m`.
    pub wait: Option<String>,
    /// Windows when deploys are refused unless an emergency override is approved.
    #[serde(default)]
    pub freeze: Vec<FreezeConfig>,
    /// Who approves an emergency override (default: two administrators).
    pub emergency: Option<ReviewConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewConfig {
    pub quorum: u32,
    #[serde(default)]
    pub groups: Vec<String>,
    /// How long reviewers have, e.g. `3d` (default 7 days).
    pub ttl: Option<String>,
    #[serde(default)]
    pub reason_required: bool,
}

/// A freeze window: once (`from`, `until`, RFC 3339) or every week
/// (`weekly_from`, `weekly_until`, e.g. `fri 16:00` and `mon 08:00`, UTC).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeConfig {
    /// RFC 3339, e.g. `2026-12-24T00:00:00Z`.
    pub from: Option<String>,
    pub until: Option<String>,
    /// Day and time of week, UTC, e.g. `fri 16:00`.
    pub weekly_from: Option<String>,
    pub weekly_until: Option<String>,
    pub reason: Option<String>,
}

/// A kind's resource type and deploy action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindRule {
    pub resource_type: String,
    pub deploy_action: String,
}

/// Who must review, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewRule {
    pub quorum: u32,
    pub groups: Vec<String>,
    pub ttl: Duration,
    pub reason_required: bool,
}

/// One occurrence of a freeze: deploys refused from `from` until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreezeWindow {
    pub from: Timestamp,
    pub until: Timestamp,
    pub reason: Option<String>,
}

const WEEK_MINUTES: i64 = 7 * 24 * 60;
const MINUTE_MS: i64 = 60_000;

/// A configured freeze.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FreezeRule {
    Once(FreezeWindow),
    /// Minutes since Monday 00:00 UTC; `start > end` wraps over the
    /// weekend (Friday evening to Monday morning).
    Weekly {
        start: i64,
        end: i64,
        reason: Option<String>,
    },
}

impl FreezeRule {
    /// The occurrence `now` falls in, if any.
    pub fn occurrence(&self, now: Timestamp) -> Option<FreezeWindow> {
        match self {
            FreezeRule::Once(w) => (w.from <= now && now < w.until).then(|| w.clone()),
            FreezeRule::Weekly { start, end, reason } => {
                let minute = now.millis().div_euclid(MINUTE_MS);
                // 1970-01-01 was a Thursday: day 3 of a Monday-first week.
                let of_week = (minute + 3 * 24 * 60).rem_euclid(WEEK_MINUTES);
                let since_start = (of_week - start).rem_euclid(WEEK_MINUTES);
                let length = (end - start).rem_euclid(WEEK_MINUTES);
                (since_start < length).then(|| {
                    let from = (minute - since_start) * MINUTE_MS;
                    FreezeWindow {
                        from: Timestamp(from),
                        until: Timestamp(from + length * MINUTE_MS),
                        reason: reason.clone(),
                    }
                })
            }
        }
    }
}

/// `fri 16:00` → minutes since Monday 00:00.
fn minute_of_week(s: &str) -> Option<i64> {
    let (day, time) = s.trim().split_once(' ')?;
    let d = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .position(|x| day.eq_ignore_ascii_case(x))?;
    let (h, m) = time.trim().split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m))
        .then(|| i64::try_from(d).unwrap_or(0) * 24 * 60 + h * 60 + m)
}

/// The gates of one kind in one environment, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct GateRules {
    pub after: Option<String>,
    pub min_soak: Option<Duration>,
    pub metrics: Vec<Threshold>,
    pub reviews: ReviewRule,
    pub wait: Option<Duration>,
    pub freeze: Vec<FreezeRule>,
    pub emergency: ReviewRule,
}

impl GateRules {
    /// The freeze window `now` falls in, if any.
    pub fn frozen_at(&self, now: Timestamp) -> Option<FreezeWindow> {
        self.freeze.iter().find_map(|f| f.occurrence(now))
    }
}

const DEFAULT_REVIEW_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
const MAX_REVIEW_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
const MAX_QUORUM: u32 = 20;

/// Every kind's gates, checked against the environments in force.
#[derive(Debug, Clone)]
pub struct ChangeRules {
    kinds: BTreeMap<String, KindRule>,
    gates: BTreeMap<(String, String), GateRules>,
    environments: Vec<String>,
    admin_group: String,
}

impl Default for ChangeRules {
    fn default() -> Self {
        let envs = vec!["dev".into(), "staging".into(), "prod".into()];
        // The built-in kinds and defaults cannot fail to build.
        ChangeRules::build(&ChangesConfig::default(), &envs, "admin").unwrap_or(ChangeRules {
            kinds: BTreeMap::new(),
            gates: BTreeMap::new(),
            environments: envs,
            admin_group: "admin".into(),
        })
    }
}

/// The built-in kinds: `(kind, resource type, deploy action)`.
const BUILT_IN: [(&str, &str, &str); 4] = [
    ("model", "Model", "model.deploy"),
    ("prompt", "Prompt", "prompt.deploy"),
    ("pipeline", "Pipeline", "pipeline.deploy"),
    (super::POLICY_KIND, "PolicySet", "policy.apply"),
];

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl ChangeRules {
    /// Validates `config` against the environments in promotion order.
    pub fn build(
        config: &ChangesConfig,
        environments: &[String],
        admin_group: &str,
    ) -> Result<ChangeRules, String> {
        let mut kinds: BTreeMap<String, KindRule> = BUILT_IN
            .iter()
            .map(|(k, r, a)| {
                (
                    (*k).to_owned(),
                    KindRule {
                        resource_type: (*r).to_owned(),
                        deploy_action: (*a).to_owned(),
                    },
                )
            })
            .collect();
        for (name, k) in &config.kinds {
            if !valid_name(name) {
                return Err(format!(
                    "change kind `{name}`: use lowercase letters, digits and `_`"
                ));
            }
            if kinds.contains_key(name) {
                return Err(format!("change kind `{name}` is built in"));
            }
            if crate::request::ResourceRef::parse(&format!("{}::x", k.resource)).is_none() {
                return Err(format!(
                    "change kind `{name}`: `{}` is not a resource type",
                    k.resource
                ));
            }
            let action = k.action.clone().unwrap_or_else(|| format!("{name}.deploy"));
            if !crate::request::valid_action(&action) {
                return Err(format!(
                    "change kind `{name}`: `{action}` is not an action name"
                ));
            }
            kinds.insert(
                name.clone(),
                KindRule {
                    resource_type: k.resource.clone(),
                    deploy_action: action,
                },
            );
        }
        let mut rules = ChangeRules {
            kinds,
            gates: BTreeMap::new(),
            environments: environments.to_vec(),
            admin_group: admin_group.to_owned(),
        };
        for g in &config.gates {
            let at = format!("gate for kind `{}` in `{}`", g.kind, g.environment);
            if g.kind != "*" && !rules.kinds.contains_key(&g.kind) {
                return Err(format!("{at}: unknown kind `{}`", g.kind));
            }
            let built = rules.build_gate(g).map_err(|e| format!("{at}: {e}"))?;
            if rules
                .gates
                .insert((g.kind.clone(), g.environment.clone()), built)
                .is_some()
            {
                return Err(format!("{at}: defined twice"));
            }
        }
        Ok(rules)
    }

    fn build_gate(&self, g: &GateConfig) -> Result<GateRules, String> {
        let pos = self
            .environments
            .iter()
            .position(|e| *e == g.environment)
            .ok_or_else(|| format!("unknown environment `{}`", g.environment))?;
        let mut rules = self.default_gate(pos);
        match g.after.as_deref() {
            None => {}
            Some("none") => rules.after = None,
            Some(a) => {
                let apos = self
                    .environments
                    .iter()
                    .position(|e| e == a)
                    .ok_or_else(|| format!("`after`: unknown environment `{a}`"))?;
                if apos >= pos {
                    return Err(format!(
                        "`after = \"{a}\"` must come before `{}` in the promotion order",
                        g.environment
                    ));
                }
                rules.after = Some(a.to_owned());
            }
        }
        if let Some(s) = &g.min_soak {
            if rules.after.is_none() {
                return Err("`min_soak` needs an `after` environment".into());
            }
            rules.min_soak = Some(duration("min_soak", s)?);
        }
        rules.metrics = g
            .metrics
            .iter()
            .map(|m| Threshold::parse(m))
            .collect::<Result<_, _>>()?;
        if let Some(r) = &g.reviews {
            rules.reviews = review("reviews", r)?;
        }
        if let Some(r) = &g.emergency {
            rules.emergency = review("emergency", r)?;
            if rules.emergency.quorum == 0 {
                return Err("`emergency.quorum` must be at least 1".into());
            }
        }
        rules.wait = g.wait.as_deref().map(|w| duration("wait", w)).transpose()?;
        for f in &g.freeze {
            rules.freeze.push(freeze(f)?);
        }
        Ok(rules)
    }

    fn default_gate(&self, env_pos: usize) -> GateRules {
        let admins = ReviewRule {
            quorum: 1,
            groups: vec![self.admin_group.clone()],
            ttl: DEFAULT_REVIEW_TTL,
            reason_required: false,
        };
        GateRules {
            after: env_pos
                .checked_sub(1)
                .and_then(|p| self.environments.get(p).cloned()),
            min_soak: None,
            metrics: Vec::new(),
            reviews: if env_pos == 0 {
                ReviewRule {
                    quorum: 0,
                    ..admins.clone()
                }
            } else {
                admins.clone()
            },
            wait: None,
            freeze: Vec::new(),
            emergency: ReviewRule {
                quorum: 2,
                ..admins
            },
        }
    }

    pub fn kind(&self, kind: &str) -> Option<&KindRule> {
        self.kinds.get(kind)
    }

    pub fn kinds(&self) -> impl Iterator<Item = (&String, &KindRule)> {
        self.kinds.iter()
    }

    /// The kind whose deploy action is `action`, if any.
    pub fn kind_deployed_by(&self, action: &str) -> Option<(&str, &KindRule)> {
        self.kinds
            .iter()
            .find(|(_, k)| k.deploy_action == action)
            .map(|(n, k)| (n.as_str(), k))
    }

    /// The gates of `kind` in `environment` (its own, else `*`, else the
    /// defaults); `None` for an unknown environment.
    pub fn gate(&self, kind: &str, environment: &str) -> Option<GateRules> {
        let pos = self.environments.iter().position(|e| e == environment)?;
        Some(
            self.gates
                .get(&(kind.to_owned(), environment.to_owned()))
                .or_else(|| self.gates.get(&("*".to_owned(), environment.to_owned())))
                .cloned()
                .unwrap_or_else(|| self.default_gate(pos)),
        )
    }

    pub fn environments(&self) -> &[String] {
        &self.environments
    }
}

fn freeze(f: &FreezeConfig) -> Result<FreezeRule, String> {
    match (&f.from, &f.until, &f.weekly_from, &f.weekly_until) {
        (Some(a), Some(b), None, None) => {
            let from = Timestamp::parse_rfc3339(a)
                .ok_or_else(|| format!("freeze `from`: `{a}` is not RFC 3339"))?;
            let until = Timestamp::parse_rfc3339(b)
                .ok_or_else(|| format!("freeze `until`: `{b}` is not RFC 3339"))?;
            if until <= from {
                return Err(format!("freeze window {a} .. {b} ends before it starts"));
            }
            Ok(FreezeRule::Once(FreezeWindow {
                from,
                until,
                reason: f.reason.clone(),
            }))
        }
        (None, None, Some(a), Some(b)) => {
            let bad = |s: &str| format!("freeze `{s}`: use a day and a UTC time, e.g. `fri 16:00`");
            let start = minute_of_week(a).ok_or_else(|| bad(a))?;
            let end = minute_of_week(b).ok_or_else(|| bad(b))?;
            if start == end {
                return Err(format!("weekly freeze {a} .. {b} is empty"));
            }
            Ok(FreezeRule::Weekly {
                start,
                end,
                reason: f.reason.clone(),
            })
        }
        _ => Err(
            "a freeze is `from` and `until` (RFC 3339), or `weekly_from` and `weekly_until` (e.g. `fri 16:00`)"
                .into(),
        ),
    }
}

fn duration(field: &str, s: &str) -> Result<Duration, String> {
    parse_duration(s).ok_or_else(|| format!("`{field}`: `{s}` is not a duration like 30m, 1h, 2d"))
}

fn review(field: &str, r: &ReviewConfig) -> Result<ReviewRule, String> {
    if r.quorum > MAX_QUORUM {
        return Err(format!("`{field}.quorum` must be at most {MAX_QUORUM}"));
    }
    let ttl = r
        .ttl
        .as_deref()
        .map(|t| duration(&format!("{field}.ttl"), t))
        .transpose()?
        .unwrap_or(DEFAULT_REVIEW_TTL);
    if ttl.is_zero() || ttl > MAX_REVIEW_TTL {
        return Err(format!("`{field}.ttl` must be between 1s and 30d"));
    }
    Ok(ReviewRule {
        quorum: r.quorum,
        groups: r.groups.clone(),
        ttl,
        reason_required: r.reason_required,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envs() -> Vec<String> {
        vec!["dev".into(), "staging".into(), "prod".into()]
    }

    fn parse(toml_like: Vec<GateConfig>) -> Result<ChangeRules, String> {
        ChangeRules::build(
            &ChangesConfig {
                kinds: BTreeMap::new(),
                gates: toml_like,
            },
            &envs(),
            "admin",
        )
    }

    fn gate(kind: &str, env: &str) -> GateConfig {
        GateConfig {
            kind: kind.into(),
            environment: env.into(),
            after: None,
            min_soak: None,
            metrics: Vec::new(),
            reviews: None,
            wait: None,
            freeze: Vec::new(),
            emergency: None,
        }
    }

    #[test]
    fn defaults_promote_in_order_with_one_admin_review() {
        let r = ChangeRules::default();
        let dev = r.gate("model", "dev").unwrap();
        assert_eq!((dev.after, dev.reviews.quorum), (None, 0));
        let prod = r.gate("model", "prod").unwrap();
        assert_eq!(prod.after.as_deref(), Some("staging"));
        assert_eq!(prod.reviews.quorum, 1);
        assert_eq!(prod.reviews.groups, vec!["admin"]);
        assert!(r.gate("model", "qa").is_none());
        assert_eq!(
            r.kind_deployed_by("policy.apply").map(|(k, _)| k),
            Some("policy")
        );
    }

    #[test]
    fn configured_gates_override_field_by_field() {
        let mut g = gate("model", "prod");
        g.metrics = vec!["accuracy >= 0.92".into()];
        g.reviews = Some(ReviewConfig {
            quorum: 2,
            groups: vec!["ml-reviewer".into()],
            ttl: Some("3d".into()),
            reason_required: false,
        });
        g.min_soak = Some("1h".into());
        let r = parse(vec![g, gate("*", "staging")]).unwrap();
        let prod = r.gate("model", "prod").unwrap();
        assert_eq!(prod.after.as_deref(), Some("staging"));
        assert_eq!(prod.metrics.len(), 1);
        assert_eq!(prod.reviews.quorum, 2);
        assert_eq!(prod.min_soak, Some(Duration::from_secs(3600)));
        // `prompt` has no prod gate of its own: defaults.
        assert_eq!(r.gate("prompt", "prod").unwrap().reviews.quorum, 1);
    }

    #[test]
    fn weekly_freezes_wrap_over_the_weekend() {
        let f = freeze(&FreezeConfig {
            weekly_from: Some("fri 16:00".into()),
            weekly_until: Some("Mon 08:00".into()),
            reason: Some("weekend".into()),
            ..FreezeConfig::default()
        })
        .unwrap();
        let at = |s: &str| Timestamp::parse_rfc3339(s).unwrap();
        // 2026-11-27 is a Friday.
        assert_eq!(f.occurrence(at("2026-11-27T15:59:00Z")), None);
        let w = f.occurrence(at("2026-11-28T12:00:00Z")).unwrap();
        assert_eq!(w.from, at("2026-11-27T16:00:00Z"));
        assert_eq!(w.until, at("2026-11-30T08:00:00Z"));
        assert!(f.occurrence(at("2026-11-30T07:59:00Z")).is_some());
        assert_eq!(f.occurrence(at("2026-11-30T08:00:00Z")), None);
        assert_eq!(f.occurrence(at("2026-11-25T12:00:00Z")), None);
        // Within one day, no wrap.
        let lunch = freeze(&FreezeConfig {
            weekly_from: Some("wed 12:00".into()),
            weekly_until: Some("wed 13:00".into()),
            ..FreezeConfig::default()
        })
        .unwrap();
        assert!(lunch.occurrence(at("2026-11-25T12:30:00Z")).is_some());
        assert_eq!(lunch.occurrence(at("2026-11-26T12:30:00Z")), None);
        for bad in [
            FreezeConfig {
                weekly_from: Some("friday 16:00".into()),
                weekly_until: Some("mon 08:00".into()),
                ..FreezeConfig::default()
            },
            FreezeConfig {
                weekly_from: Some("fri 25:00".into()),
                weekly_until: Some("mon 08:00".into()),
                ..FreezeConfig::default()
            },
            FreezeConfig {
                from: Some("2026-12-24T00:00:00Z".into()),
                weekly_until: Some("mon 08:00".into()),
                ..FreezeConfig::default()
            },
        ] {
            assert!(freeze(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn configured_kinds_name_their_type_and_deploy_action() {
        let mut kinds = BTreeMap::new();
        kinds.insert(
            "dataset".to_owned(),
            KindConfig {
                resource: "Dataset".into(),
                action: None,
            },
        );
        let cfg = ChangesConfig {
            kinds,
            gates: vec![gate("dataset", "prod")],
        };
        let r = ChangeRules::build(&cfg, &envs(), "admin").unwrap();
        assert_eq!(
            r.kind("dataset"),
            Some(&KindRule {
                resource_type: "Dataset".into(),
                deploy_action: "dataset.deploy".into()
            })
        );
        assert_eq!(
            r.kind_deployed_by("dataset.deploy").map(|(k, _)| k),
            Some("dataset")
        );
        for (name, resource, why) in [
            ("model", "Model", "built in"),
            ("Data Set", "Dataset", "lowercase"),
            ("dataset", "not a type!", "not a resource type"),
        ] {
            let mut kinds = BTreeMap::new();
            kinds.insert(
                name.to_owned(),
                KindConfig {
                    resource: resource.into(),
                    action: None,
                },
            );
            let cfg = ChangesConfig {
                kinds,
                gates: Vec::new(),
            };
            let e = ChangeRules::build(&cfg, &envs(), "admin").unwrap_err();
            assert!(e.contains(why), "{name}: {e}");
        }
    }

    #[test]
    fn bad_gates_are_refused_with_where() {
        let mut g = gate("model", "prod");
        g.after = Some("prod".into());
        assert!(parse(vec![g]).unwrap_err().contains("must come before"));
        let mut g = gate("modle", "prod");
        g.metrics = vec![];
        assert!(parse(vec![g]).unwrap_err().contains("unknown kind"));
        let mut g = gate("model", "qa");
        g.wait = None;
        assert!(parse(vec![g]).unwrap_err().contains("unknown environment"));
        let mut g = gate("model", "prod");
        g.metrics = vec!["accuracy => 0.9".into()];
        assert!(
            parse(vec![g])
                .unwrap_err()
                .contains("gate for kind `model` in `prod`")
        );
        let mut g = gate("model", "prod");
        g.freeze = vec![FreezeConfig {
            from: Some("2026-12-27T00:00:00Z".into()),
            until: Some("2026-12-24T00:00:00Z".into()),
            ..FreezeConfig::default()
        }];
        assert!(parse(vec![g]).unwrap_err().contains("ends before"));
        assert!(
            parse(vec![gate("model", "prod"), gate("model", "prod")])
                .unwrap_err()
                .contains("twice")
        );
    }
}
