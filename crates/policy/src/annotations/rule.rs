//! Approval rules and obligations, as read from annotations.

use std::time::Duration;

use cedar_policy::Policy;

use super::ttl::{DEFAULT_TTL, parse_ttl};

/// How an action made approvable by a policy gets approved: read from the
/// policy's `@approval_*` annotations.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApprovalRule {
    /// The `@id` of the permit that carries the rule.
    pub policy_id: String,
    /// Distinct approvers needed (`1..=20`).
    pub quorum: u32,
    /// Groups whose members may approve; empty means any human user.
    pub groups: Vec<String>,
    /// How long the request waits for votes.
    pub ttl: Duration,
    /// Whether approvers must give a reason.
    pub reason_required: bool,
    /// Whether an agent's owner may approve that agent's request.
    pub owner_may_approve: bool,
    /// The policy's `@message`, shown to reviewers.
    pub message: Option<String>,
}

/// Something an `Allow` obliges the front to do, from a permit's
/// `@obligation_*` annotation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Obligation {
    /// `mask` or `redact`.
    pub kind: String,
    /// What to mask or redact, e.g. `customers.email`.
    pub targets: Vec<String>,
    /// The `@id` of the permit that carries it.
    pub policy_id: String,
}

const MAX_QUORUM: u32 = 20;

/// The approval rule of `policy`, if it has `@approval_quorum`. Errors are
/// `(annotation key, message)`.
pub(super) fn read_rule(
    id: &str,
    policy: &Policy,
) -> Result<Option<ApprovalRule>, Vec<(&'static str, String)>> {
    let mut errors = Vec::new();
    let Some(quorum) = policy.annotation("approval_quorum") else {
        for key in [
            "approval_groups",
            "approval_ttl",
            "approval_reason_required",
            "approval_owner_may_approve",
        ] {
            if policy.annotation(key).is_some() {
                errors.push((
                    key,
                    format!("`@{key}` needs `@approval_quorum` on the same policy"),
                ));
            }
        }
        return if errors.is_empty() {
            Ok(None)
        } else {
            Err(errors)
        };
    };

    let quorum = match quorum.parse::<u32>() {
        Ok(n) if (1..=MAX_QUORUM).contains(&n) && !quorum.starts_with('+') => n,
        _ => {
            errors.push((
                "approval_quorum",
                format!(
                    "`@approval_quorum` must be an integer from 1 to {MAX_QUORUM}, not `{quorum}`"
                ),
            ));
            1
        }
    };
    let groups = match policy.annotation("approval_groups").map(comma_list) {
        None => Vec::new(),
        Some(Ok(groups)) => groups,
        Some(Err(message)) => {
            errors.push(("approval_groups", format!("`@approval_groups`: {message}")));
            Vec::new()
        }
    };
    let ttl = match policy.annotation("approval_ttl").map(parse_ttl) {
        None => DEFAULT_TTL,
        Some(Ok(ttl)) => ttl,
        Some(Err(message)) => {
            errors.push(("approval_ttl", format!("`@approval_ttl`: {message}")));
            DEFAULT_TTL
        }
    };
    let mut flag = |key: &'static str| match policy.annotation(key) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            errors.push((
                key,
                format!("`@{key}` must be `true` or `false`, not `{other}`"),
            ));
            false
        }
    };
    let reason_required = flag("approval_reason_required");
    let owner_may_approve = flag("approval_owner_may_approve");

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Some(ApprovalRule {
        policy_id: id.to_owned(),
        quorum,
        groups,
        ttl,
        reason_required,
        owner_may_approve,
        message: policy.annotation("message").map(str::to_owned),
    }))
}

/// Splits `a, b,c` into trimmed names; empty input is an empty list, an
/// empty item (`a,,b`) or an item with inner whitespace is an error.
pub(super) fn comma_list(value: &str) -> Result<Vec<String>, String> {
    if value.trim().is_empty() {
        return Ok(Vec::new());
    }
    value
        .split(',')
        .map(str::trim)
        .map(|item| {
            if item.is_empty() {
                Err(format!("`{value}` has an empty item"))
            } else if item.contains(char::is_whitespace) {
                Err(format!("`{item}` must not contain whitespace"))
            } else {
                Ok(item.to_owned())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(annotations: &str) -> Result<Option<ApprovalRule>, Vec<(&'static str, String)>> {
        let src = format!(
            "{annotations}\npermit(principal, action, resource) when {{ context.approval.granted }};"
        );
        let policy = Policy::parse(None, src).unwrap();
        read_rule("p", &policy)
    }

    #[test]
    fn a_full_rule_reads_every_field() {
        let r = rule(
            r#"@approval_quorum("2") @approval_groups("reviewer, dba") @approval_ttl("30m")
               @approval_reason_required("true") @approval_owner_may_approve("true") @message("m")"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.quorum, 2);
        assert_eq!(r.groups, vec!["reviewer", "dba"]);
        assert_eq!(r.ttl, Duration::from_secs(1800));
        assert!(r.reason_required && r.owner_may_approve);
        assert_eq!(r.message.as_deref(), Some("m"));
    }

    #[test]
    fn defaults_apply_when_only_the_quorum_is_given() {
        let r = rule(r#"@approval_quorum("1")"#).unwrap().unwrap();
        assert!(r.groups.is_empty());
        assert_eq!(r.ttl, DEFAULT_TTL);
        assert!(!r.reason_required && !r.owner_may_approve);
    }

    #[test]
    fn no_quorum_means_no_rule() {
        assert_eq!(rule("").unwrap(), None);
    }

    #[test]
    fn bad_values_are_refused() {
        for (ann, key) in [
            (r#"@approval_quorum("0")"#, "approval_quorum"),
            (r#"@approval_quorum("21")"#, "approval_quorum"),
            (r#"@approval_quorum("two")"#, "approval_quorum"),
            (r#"@approval_quorum("+2")"#, "approval_quorum"),
            (
                r#"@approval_quorum("1") @approval_ttl("1y")"#,
                "approval_ttl",
            ),
            (
                r#"@approval_quorum("1") @approval_groups("a,,b")"#,
                "approval_groups",
            ),
            (
                r#"@approval_quorum("1") @approval_reason_required("yes")"#,
                "approval_reason_required",
            ),
            (
                r#"@approval_quorum("1") @approval_owner_may_approve("")"#,
                "approval_owner_may_approve",
            ),
            (r#"@approval_groups("reviewer")"#, "approval_groups"),
        ] {
            let errs = rule(ann).unwrap_err();
            assert_eq!(errs[0].0, key, "{ann}");
        }
    }
}
