//! Metric thresholds: `accuracy >= 0.92`, `p99_latency_ms <= 200`, and
//! relative to the version live in the target environment,
//! `accuracy >= live.accuracy - 0.005`. Parsed once when the config is
//! loaded, so a typo is a startup error, not a gate that never passes.

use super::{GateResult, GateStatus};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Ge => ">=",
            Op::Gt => ">",
            Op::Le => "<=",
            Op::Lt => "<",
            Op::Eq => "==",
        }
    }

    fn holds(self, measured: f64, bound: f64) -> bool {
        match self {
            Op::Ge => measured >= bound,
            Op::Gt => measured > bound,
            Op::Le => measured <= bound,
            Op::Lt => measured < bound,
            Op::Eq => measured == bound,
        }
    }
}

/// The right-hand side: a number, or a live metric plus an offset.
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    Absolute(f64),
    Live { metric: String, offset: f64 },
}

/// One parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub metric: String,
    pub op: Op,
    pub bound: Bound,
    /// As written in the config (normalized spacing), for reports.
    pub text: String,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Longest metric name accepted in evidence and thresholds.
pub const MAX_METRIC_NAME: usize = 128;

/// Metric names: letters, digits, `_`, `-`, `.`; not starting with `live.`.
pub fn valid_metric_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_METRIC_NAME
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl Threshold {
    /// Parses `metric OP rhs`; rhs is a number or `live.metric [+|- number]`.
    pub fn parse(s: &str) -> Result<Threshold, String> {
        let bad = |why: &str| format!("metric threshold `{s}`: {why}");
        let (pos, op) = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("==", Op::Eq),
            (">", Op::Gt),
            ("<", Op::Lt),
        ]
        .iter()
        .filter_map(|(t, op)| s.find(t).map(|p| (p, *op, t.len())))
        .min_by_key(|(p, _, len)| (*p, usize::MAX - len))
        .map(|(p, op, len)| ((p, len), op))
        .ok_or_else(|| bad("expected an operator: >=, >, <=, <, =="))?;
        let metric = s[..pos.0].trim();
        let rhs = s[pos.0 + pos.1..].trim();
        if !valid_metric_name(metric) {
            return Err(bad(&format!("`{metric}` is not a metric name")));
        }
        if metric.starts_with("live.") {
            return Err(bad("the left side is the candidate's metric, not `live.`"));
        }
        let bound = if let Some(rest) = rhs.strip_prefix("live.") {
            let (name, offset) = match rest.find(['+', '-']) {
                // A '-' inside a name (`p99-latency`) is part of it unless
                // spaced as an operator.
                Some(i) if rest[..i].ends_with(' ') || rest[i + 1..].starts_with(' ') => {
                    let n: f64 = parse_number(rest[i + 1..].trim())
                        .ok_or_else(|| bad("the offset after `live.metric` must be a number"))?;
                    let n = if rest.as_bytes()[i] == b'-' { -n } else { n };
                    (rest[..i].trim(), n)
                }
                _ => (rest.trim(), 0.0),
            };
            if !valid_metric_name(name) {
                return Err(bad(&format!("`live.{name}` is not a metric name")));
            }
            Bound::Live {
                metric: name.to_owned(),
                offset,
            }
        } else {
            Bound::Absolute(
                parse_number(rhs)
                    .ok_or_else(|| bad("the right side must be a number or `live.metric`"))?,
            )
        };
        let text = match &bound {
            Bound::Absolute(n) => format!("{metric} {} {}", op.as_str(), fmt_num(*n)),
            Bound::Live { metric: m, offset } if *offset == 0.0 => {
                format!("{metric} {} live.{m}", op.as_str())
            }
            Bound::Live { metric: m, offset } => format!(
                "{metric} {} live.{m} {} {}",
                op.as_str(),
                if *offset < 0.0 { '-' } else { '+' },
                fmt_num(offset.abs())
            ),
        };
        Ok(Threshold {
            metric: metric.to_owned(),
            op,
            bound,
            text,
        })
    }

    /// Checks the candidate's metrics against this threshold; `live` is the
    /// evidence of the version live in the target environment, if any.
    pub fn check(
        &self,
        candidate: &BTreeMap<String, f64>,
        live: Option<(&str, &BTreeMap<String, f64>)>,
    ) -> GateResult {
        let measured = candidate.get(&self.metric).copied();
        let (bound, expected) = match &self.bound {
            Bound::Absolute(n) => (Some(*n), format!("{} {}", self.op.as_str(), fmt_num(*n))),
            Bound::Live { metric, offset } => match live {
                None => {
                    return GateResult::new(
                        "metric",
                        &self.text,
                        "relative to the live version: nothing is live in this environment yet",
                        measured.map(fmt_num),
                        GateStatus::Skipped,
                    );
                }
                Some((version, m)) => match m.get(metric) {
                    None => (
                        None,
                        format!("live version {version} has no `{metric}` metric to compare with"),
                    ),
                    Some(l) => {
                        let b = l + offset;
                        (
                            Some(b),
                            format!(
                                "{} {} (live {version}: {metric} = {}{})",
                                self.op.as_str(),
                                fmt_num(b),
                                fmt_num(*l),
                                if *offset == 0.0 {
                                    String::new()
                                } else {
                                    format!(
                                        " {} {}",
                                        if *offset < 0.0 { '-' } else { '+' },
                                        fmt_num(offset.abs())
                                    )
                                }
                            ),
                        )
                    }
                },
            },
        };
        let status = match (measured, bound) {
            (Some(m), Some(b)) if self.op.holds(m, b) => GateStatus::Pass,
            // Not measured, or nothing to compare with: fail closed.
            _ => GateStatus::Fail,
        };
        let measured = Some(measured.map_or_else(|| "not measured".to_owned(), fmt_num));
        GateResult::new("metric", &self.text, expected, measured, status)
    }
}

fn parse_number(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Numbers as people write them: `0.92`, `200`, not `200.0` or `0.9200000001`.
pub fn fmt_num(n: f64) -> String {
    let r = (n * 1e9).round() / 1e9;
    if r == r.trunc() && r.abs() < 1e15 {
        format!("{}", r as i64)
    } else {
        format!("{r}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn parses_absolute_and_relative() {
        let t = Threshold::parse("accuracy>=0.92").unwrap();
        assert_eq!(t.op, Op::Ge);
        assert_eq!(t.bound, Bound::Absolute(0.92));
        assert_eq!(t.text, "accuracy >= 0.92");
        let t = Threshold::parse("p99_latency_ms <= 200").unwrap();
        assert_eq!((t.op, t.text.as_str()), (Op::Le, "p99_latency_ms <= 200"));
        let t = Threshold::parse("accuracy >= live.accuracy - 0.005").unwrap();
        assert_eq!(
            t.bound,
            Bound::Live {
                metric: "accuracy".into(),
                offset: -0.005
            }
        );
        let t = Threshold::parse("f1 > live.f1").unwrap();
        assert_eq!(t.op, Op::Gt);
        assert_eq!(t.text, "f1 > live.f1");
    }

    #[test]
    fn refuses_malformed_rules() {
        for bad in [
            "accuracy",
            "accuracy >= ",
            ">= 0.9",
            "accuracy >= high",
            "accuracy >= live.",
            "accuracy >= live.accuracy - much",
            "live.accuracy >= 0.9",
            "acc uracy >= 0.9",
            "accuracy >= NaN",
        ] {
            assert!(Threshold::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn checks_report_expected_and_measured() {
        let t = Threshold::parse("accuracy >= 0.92").unwrap();
        let r = t.check(&m(&[("accuracy", 0.91)]), None);
        assert_eq!(r.status, GateStatus::Fail);
        assert_eq!(r.expected, ">= 0.92");
        assert_eq!(r.measured.as_deref(), Some("0.91"));
        assert_eq!(
            t.check(&m(&[("accuracy", 0.93)]), None).status,
            GateStatus::Pass
        );
        let r = t.check(&m(&[]), None);
        assert_eq!(r.status, GateStatus::Fail);
        assert_eq!(r.measured.as_deref(), Some("not measured"));
    }

    #[test]
    fn relative_rules_compare_with_the_live_version() {
        let t = Threshold::parse("accuracy >= live.accuracy - 0.005").unwrap();
        let live = m(&[("accuracy", 0.95)]);
        let r = t.check(&m(&[("accuracy", 0.946)]), Some(("v1", &live)));
        assert_eq!(r.status, GateStatus::Pass, "{r:?}");
        assert!(r.expected.contains("0.945"), "{}", r.expected);
        let r = t.check(&m(&[("accuracy", 0.944)]), Some(("v1", &live)));
        assert_eq!(r.status, GateStatus::Fail);
        // Nothing live: not applicable; live without the metric: fail closed.
        assert_eq!(
            t.check(&m(&[("accuracy", 0.1)]), None).status,
            GateStatus::Skipped
        );
        let r = t.check(&m(&[("accuracy", 0.99)]), Some(("v1", &m(&[]))));
        assert_eq!(r.status, GateStatus::Fail);
    }
}
