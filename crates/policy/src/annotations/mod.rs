//! Countersign's policy annotations: approval rules, obligations, messages.

mod approval_ref;
mod rule;
mod ttl;

pub use rule::{ApprovalRule, Obligation};

use cedar_policy::{Effect, Policy};

/// What the governor needs to know about one policy, read from its
/// annotations at compile time.
#[derive(Debug, Clone)]
pub(crate) struct PolicyMeta {
    pub(crate) message: Option<String>,
    pub(crate) rule: Option<ApprovalRule>,
    pub(crate) obligations: Vec<Obligation>,
}

/// A refused annotation: which one (to point at it) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AnnotationProblem {
    /// The annotation key, or `None` when the problem is the policy as a
    /// whole (e.g. a missing `@id`).
    pub(crate) key: Option<String>,
    pub(crate) message: String,
}

const KNOWN: &[&str] = &[
    "id",
    "message",
    "approval_quorum",
    "approval_groups",
    "approval_ttl",
    "approval_reason_required",
    "approval_owner_may_approve",
    "obligation_mask",
    "obligation_redact",
];

/// The policy id from `@id`, checked.
pub(crate) fn policy_id(policy: &Policy) -> Result<String, AnnotationProblem> {
    let problem = |message: String| AnnotationProblem {
        key: Some("id".to_owned()),
        message,
    };
    match policy.annotation("id") {
        None => Err(AnnotationProblem {
            key: None,
            message: "policy has no `@id(\"…\")` annotation; every policy needs a unique id"
                .to_owned(),
        }),
        Some("") => Err(problem("`@id` must not be empty".to_owned())),
        Some(id) if id.chars().any(|c| c.is_whitespace() || c.is_control()) => Err(problem(
            format!("`@id` value `{id}` must not contain whitespace"),
        )),
        Some(id) => Ok(id.to_owned()),
    }
}

/// Reads and checks every Countersign annotation of `policy` (whose id is
/// `id`). All problems are returned, not just the first.
pub(crate) fn read_meta(id: &str, policy: &Policy) -> Result<PolicyMeta, Vec<AnnotationProblem>> {
    let mut problems = Vec::new();
    let mut problem = |key: &str, message: String| {
        problems.push(AnnotationProblem {
            key: Some(key.to_owned()),
            message,
        });
    };
    let effect = policy.effect();
    for (key, _) in policy.annotations() {
        if (key.starts_with("approval_") || key.starts_with("obligation_")) && !KNOWN.contains(&key)
        {
            problem(key, format!("unknown annotation `@{key}`"));
        }
    }

    let rule = match rule::read_rule(id, policy) {
        Ok(rule) => rule,
        Err(errs) => {
            for (key, message) in errs {
                problem(key, message);
            }
            None
        }
    };
    if rule.is_some() {
        if effect == Effect::Forbid {
            problem(
                "approval_quorum",
                "approval annotations apply only to `permit` policies".to_owned(),
            );
        } else if !policy
            .to_json()
            .is_ok_and(|json| approval_ref::reads_approval_granted(&json))
        {
            problem(
                "approval_quorum",
                "an approval rule must require `context.approval.granted` in its conditions"
                    .to_owned(),
            );
        }
    }

    let mut obligations = Vec::new();
    for (key, kind) in [("obligation_mask", "mask"), ("obligation_redact", "redact")] {
        let Some(value) = policy.annotation(key) else {
            continue;
        };
        if effect == Effect::Forbid {
            problem(
                key,
                "obligations apply only to `permit` policies".to_owned(),
            );
            continue;
        }
        match rule::comma_list(value) {
            Ok(targets) if !targets.is_empty() => obligations.push(Obligation {
                kind: kind.to_owned(),
                targets,
                policy_id: id.to_owned(),
            }),
            Ok(_) => problem(key, format!("`@{key}` needs at least one target")),
            Err(message) => problem(key, format!("`@{key}`: {message}")),
        }
    }

    let message = policy.annotation("message").map(str::to_owned);
    if message.as_deref() == Some("") {
        problem("message", "`@message` must not be empty".to_owned());
    }

    if problems.is_empty() {
        Ok(PolicyMeta {
            message,
            rule,
            obligations,
        })
    } else {
        Err(problems)
    }
}
