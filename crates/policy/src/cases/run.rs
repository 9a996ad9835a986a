//! Running cases against a policy set and reporting mismatches.

use std::fmt;

use super::{Case, CasesFile, Expect};
use crate::{Directory, PolicyDecision, PolicySet, Query};

/// The result of running a cases file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasesReport {
    /// Cases run.
    pub total: usize,
    /// Cases that matched.
    pub passed: usize,
    /// Mismatches, in file order.
    pub failures: Vec<CaseFailure>,
}

impl CasesReport {
    /// True when every case matched.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }
}

/// One case whose outcome differs from what it expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFailure {
    /// The case name.
    pub name: String,
    /// `file:line` of the case.
    pub location: String,
    /// What the case expected, e.g. `pending (quorum 2)`.
    pub expected: String,
    /// What happened, e.g. `deny: no policy permits …`.
    pub got: String,
    /// The determining policies of what happened.
    pub policies: Vec<String>,
}

impl fmt::Display for CaseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "case `{}` ({})", self.name, self.location)?;
        writeln!(f, "  - expected: {}", self.expected)?;
        writeln!(f, "  + got:      {}", self.got)?;
        let policies = if self.policies.is_empty() {
            "(none)".to_owned()
        } else {
            self.policies.join(", ")
        };
        write!(f, "    determining policies: {policies}")
    }
}

impl fmt::Display for CasesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for failure in &self.failures {
            writeln!(f, "{failure}")?;
        }
        write!(
            f,
            "{} passed, {} failed",
            self.passed,
            self.total - self.passed
        )
    }
}

/// Runs every case of `file` against `set`.
pub fn run_cases(set: &PolicySet, file: &CasesFile) -> CasesReport {
    let directory = Directory::build(set, &file.principals);
    let failures: Vec<CaseFailure> = file
        .cases
        .iter()
        .filter_map(|case| {
            let got = match &directory {
                Ok(dir) => run_one(set, dir, case),
                Err(e) => Err(e.to_string()),
            };
            check(file, case, got)
        })
        .collect();
    CasesReport {
        total: file.cases.len(),
        passed: file.cases.len() - failures.len(),
        failures,
    }
}

fn run_one(set: &PolicySet, dir: &Directory, case: &Case) -> Result<PolicyDecision, String> {
    let query = Query {
        principal: case.principal.as_ref(),
        action: &case.action,
        resource: case.resource.as_ref(),
        environment: &case.environment,
        context: &case.context,
    };
    set.decide(&query, case.approval.as_ref(), dir)
        .map_err(|e| e.to_string())
}

fn check(
    file: &CasesFile,
    case: &Case,
    got: Result<PolicyDecision, String>,
) -> Option<CaseFailure> {
    let expected = expected_text(case);
    let failure = |got: String, policies: Vec<String>| CaseFailure {
        name: case.name.clone(),
        location: format!("{}:{}", file.name, case.line),
        expected: expected.clone(),
        got,
        policies,
    };
    let decision = match got {
        Ok(d) => d,
        Err(e) => return Some(failure(format!("error: {e}"), Vec::new())),
    };
    let kind_matches = decision.label() == case.expect.label();
    let quorum_matches = match (&decision, case.expect_quorum) {
        (_, None) => true,
        (PolicyDecision::ApprovalRequired { rule, .. }, Some(q)) => rule.quorum == q,
        (_, Some(_)) => false,
    };
    let policies_match = case.expect_policies.as_ref().is_none_or(|want| {
        let mut want = want.clone();
        want.sort();
        want == decision.policies()
    });
    if kind_matches && quorum_matches && policies_match {
        return None;
    }
    Some(failure(got_text(&decision), decision.policies().to_vec()))
}

fn expected_text(case: &Case) -> String {
    let mut text = case.expect.label().to_owned();
    if let (Expect::Pending, Some(q)) | (_, Some(q)) = (case.expect, case.expect_quorum) {
        text.push_str(&format!(" (quorum {q})"));
    }
    if let Some(policies) = &case.expect_policies {
        text.push_str(&format!(" by [{}]", policies.join(", ")));
    }
    text
}

fn got_text(decision: &PolicyDecision) -> String {
    match decision {
        PolicyDecision::Allow { obligations, .. } if obligations.is_empty() => "allow".to_owned(),
        PolicyDecision::Allow { obligations, .. } => format!(
            "allow with {}",
            obligations
                .iter()
                .map(|o| format!("{} {}", o.kind, o.targets.join(",")))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        PolicyDecision::Deny { reason, .. } => format!("deny: {reason}"),
        PolicyDecision::ApprovalRequired { rule, .. } => format!(
            "pending (quorum {}, rule `{}`)",
            rule.quorum, rule.policy_id
        ),
    }
}
