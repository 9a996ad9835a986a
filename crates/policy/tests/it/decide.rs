//! The approval model, rule by rule.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test and bench helpers fail loudly"
)]

use std::time::Duration;

use crate::common::{compile, directory};
use countersign_policy::{
    ApprovalFacts, EntityRef, Obligation, PolicyDecision, PolicySet, Query, QueryError,
};
use serde_json::{Map, Value, json};

fn ctx(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn ask(
    set: &PolicySet,
    principal: (&str, &str),
    action: &str,
    resource: (&str, &str),
    env: &str,
    context: &Map<String, Value>,
    facts: Option<&ApprovalFacts>,
) -> Result<PolicyDecision, QueryError> {
    let q = Query {
        principal: EntityRef {
            kind: principal.0,
            id: principal.1,
        },
        action,
        resource: EntityRef {
            kind: resource.0,
            id: resource.1,
        },
        environment: env,
        context,
    };
    set.decide(&q, facts, &directory(set))
}

fn decide(
    set: &PolicySet,
    principal: (&str, &str),
    action: &str,
    env: &str,
    facts: Option<&ApprovalFacts>,
) -> PolicyDecision {
    ask(
        set,
        principal,
        action,
        ("Table", "orders"),
        env,
        &Map::new(),
        facts,
    )
    .unwrap()
}

fn facts(granted: bool, count: u32, approvers: &[&str]) -> ApprovalFacts {
    ApprovalFacts {
        granted,
        count,
        approvers: approvers.iter().map(|a| (*a).to_owned()).collect(),
    }
}

const ALICE: (&str, &str) = ("User", "alice");
const BOT: (&str, &str) = ("Agent", "bot");

// ── 1. building the request ───────────────────────────────────────────────

#[test]
fn malformed_queries_are_refused_with_the_reason() {
    let set = compile(r#"@id("p") permit (principal, action, resource);"#);
    let empty = Map::new();
    let err = |p, a, r, c: &Map<String, Value>| ask(&set, p, a, r, "dev", c, None).unwrap_err();
    assert_eq!(
        err(ALICE, "sql.drop", ("Table", "t"), &empty),
        QueryError::UnknownAction("sql.drop".into())
    );
    assert_eq!(
        err(("Robot", "r"), "sql.read", ("Table", "t"), &empty),
        QueryError::UnknownEntityType("Robot".into())
    );
    assert_eq!(
        err(ALICE, "sql.read", ("Tabel", "t"), &empty),
        QueryError::UnknownEntityType("Tabel".into())
    );
    assert_eq!(
        err(("Group", "admin"), "sql.read", ("Table", "t"), &empty).to_string(),
        "action `sql.read` does not apply to principal type `Group`"
    );
    assert_eq!(
        err(ALICE, "sql.read", ("Model", "m"), &empty).to_string(),
        "action `sql.read` does not apply to resource type `Model`"
    );
    for bad in [
        json!({ "sql": "select 1" }),
        json!({ "sql": { "tables": [1, 2] } }),
        json!({ "sql": { "statement": null } }),
        json!({ "unexpected": true }),
    ] {
        let e = err(ALICE, "sql.read", ("Table", "t"), &ctx(bad.clone()));
        assert!(
            matches!(e, QueryError::InvalidContext { .. }),
            "{bad}: {e:?}"
        );
    }
    for reserved in ["approval", "environment"] {
        let e = err(
            ALICE,
            "sql.read",
            ("Table", "t"),
            &ctx(json!({ reserved: "x" })),
        );
        assert!(e.to_string().contains("is set by countersign"), "{e}");
    }
}

#[test]
fn caller_context_reaches_the_policies_and_resources_need_not_exist() {
    let set = compile(
        r#"@id("orders-only")
        permit (principal, action == Action::"sql.read", resource)
        when { context has sql && context.sql has tables && context.sql.tables.contains("orders") };"#,
    );
    let with = ctx(json!({ "sql": { "statement": "select 1", "tables": ["orders"] } }));
    let without = ctx(json!({ "sql": { "tables": ["users"] } }));
    let read = |c| {
        ask(
            &set,
            ALICE,
            "sql.read",
            ("Table", "never-listed"),
            "prod",
            c,
            None,
        )
    };
    assert_eq!(read(&with).unwrap().label(), "allow");
    assert_eq!(read(&without).unwrap().label(), "deny");
}

#[test]
fn environment_and_approval_facts_reach_the_policies() {
    let set = compile(
        r#"@id("rita-approved-in-qa")
        permit (principal, action == Action::"sql.write", resource)
        when { context.environment == "qa" && context.approval.approvers.contains(User::"rita") };"#,
    );
    let by_rita = facts(false, 1, &["rita"]);
    let by_rob = facts(false, 1, &["rob"]);
    assert_eq!(
        decide(&set, ALICE, "sql.write", "qa", Some(&by_rita)).label(),
        "allow"
    );
    assert_eq!(
        decide(&set, ALICE, "sql.write", "qa", Some(&by_rob)).label(),
        "deny"
    );
    assert_eq!(
        decide(&set, ALICE, "sql.write", "dev", Some(&by_rita)).label(),
        "deny"
    );
}

// ── 2. allow, obligations, fail closed ────────────────────────────────────

#[test]
fn an_allow_lists_determining_permits_and_their_obligations() {
    let set = compile(
        r#"@id("b-read") permit (principal, action == Action::"sql.read", resource);
        @id("a-mask") @obligation_mask("customers.email, customers.phone") @obligation_redact("ssn")
        permit (principal is Agent, action == Action::"sql.read", resource);
        @id("c-other") @obligation_mask("x.y") permit (principal, action == Action::"sql.write", resource);"#,
    );
    let got = decide(&set, BOT, "sql.read", "prod", None);
    assert_eq!(
        got,
        PolicyDecision::Allow {
            policies: vec!["a-mask".into(), "b-read".into()],
            obligations: vec![
                Obligation {
                    kind: "mask".into(),
                    targets: vec!["customers.email".into(), "customers.phone".into()],
                    policy_id: "a-mask".into(),
                },
                Obligation {
                    kind: "redact".into(),
                    targets: vec!["ssn".into()],
                    policy_id: "a-mask".into(),
                },
            ],
        }
    );
    assert_eq!(
        decide(&set, ALICE, "sql.read", "prod", None),
        PolicyDecision::Allow {
            policies: vec!["b-read".into()],
            obligations: vec![]
        }
    );
}

/// A forbid that errors is skipped by Cedar, which would then allow: the
/// gateway must not let that through.
#[test]
fn an_allow_with_an_erroring_policy_fails_closed() {
    let set = compile(
        r#"@id("allow-reads") permit (principal, action == Action::"sql.read", resource);
        @id("overflowing-forbid")
        forbid (principal, action == Action::"sql.read", resource)
        when { context.approval.count * 9223372036854775807 > 1 };"#,
    );
    assert_eq!(
        decide(&set, ALICE, "sql.read", "prod", None).label(),
        "allow"
    );
    let got = decide(
        &set,
        ALICE,
        "sql.read",
        "prod",
        Some(&facts(false, 2, &["rita", "rob"])),
    );
    let PolicyDecision::Deny { policies, reason } = got else {
        panic!("expected deny, got {got:?}");
    };
    assert_eq!(policies, vec!["overflowing-forbid"]);
    assert!(
        reason.contains("policy `overflowing-forbid` could not be evaluated"),
        "{reason}"
    );
    assert!(reason.contains("overflow"), "{reason}");
    assert!(reason.ends_with("failing closed"), "{reason}");
}

#[test]
fn an_erroring_permit_is_not_approvable_and_is_named_in_the_reason() {
    let set = compile(
        r#"@id("overflowing-rule") @approval_quorum("1")
        permit (principal, action == Action::"sql.write", resource)
        when { context.approval.granted && context.approval.count * 9223372036854775807 > 1 };"#,
    );
    let got = decide(&set, ALICE, "sql.write", "prod", None);
    assert_eq!(
        got,
        PolicyDecision::Deny {
            policies: vec![],
            reason: "no policy permits `sql.write` on `Table::\"orders\"` in `prod`; \
                     policies that permit it when their conditions hold: `overflowing-rule`"
                .into(),
        },
        "the hypothetical pass errors, so it is not approvable"
    );
    let got = decide(
        &set,
        ALICE,
        "sql.write",
        "prod",
        Some(&facts(true, 2, &["rita", "rob"])),
    );
    let PolicyDecision::Deny { reason, .. } = got else {
        panic!("expected deny, got {got:?}");
    };
    assert!(
        reason.contains("policy `overflowing-rule` could not be evaluated"),
        "{reason}"
    );
}

// ── 3. approval required ──────────────────────────────────────────────────

const RULES: &str = r#"
@id("writes-dev") permit (principal, action == Action::"sql.write", resource)
when { context.environment == "dev" };

@id("b-two-reviewers") @approval_quorum("2") @approval_groups("reviewer")
@approval_ttl("2h") @approval_reason_required("true") @message("two reviewers")
permit (principal, action == Action::"sql.write", resource)
when { context.environment == "prod" && context.approval.granted && context.approval.count >= 2 };

@id("c-one-dba") @approval_quorum("1") @approval_groups("dba,reviewer")
permit (principal, action == Action::"sql.write", resource)
when { context.environment == "prod" && context.approval.granted };

@id("a-one-lead") @approval_quorum("1") @approval_owner_may_approve("true")
permit (principal, action == Action::"sql.write", resource)
when { context.environment == "prod" && context.approval.granted };

@id("ddl-two") @approval_quorum("2") @approval_groups("reviewer") @message("two reviewers for ddl")
permit (principal, action == Action::"sql.ddl", resource)
when { context.environment == "prod" && context.approval.granted && context.approval.count >= 2 };
"#;

#[test]
fn a_deny_that_an_approval_would_lift_requires_approval() {
    let set = compile(RULES);
    let got = decide(&set, ALICE, "sql.ddl", "prod", None);
    let PolicyDecision::ApprovalRequired { rule, policies } = got else {
        panic!("expected approval, got {got:?}");
    };
    assert_eq!(policies, vec!["ddl-two"]);
    assert_eq!(rule.policy_id, "ddl-two");
    assert_eq!(rule.quorum, 2);
    assert_eq!(rule.groups, vec!["reviewer"]);
    assert_eq!(rule.ttl, Duration::from_secs(3600), "default ttl");
    assert!(!rule.reason_required && !rule.owner_may_approve);
    assert_eq!(rule.message.as_deref(), Some("two reviewers for ddl"));
}

#[test]
fn the_rule_with_the_smallest_quorum_wins_ties_by_id() {
    let set = compile(RULES);
    let got = decide(&set, ALICE, "sql.write", "prod", None);
    let PolicyDecision::ApprovalRequired { rule, policies } = got else {
        panic!("expected approval, got {got:?}");
    };
    assert_eq!(policies, vec!["a-one-lead", "b-two-reviewers", "c-one-dba"]);
    assert_eq!(rule.policy_id, "a-one-lead");
    assert_eq!(rule.quorum, 1);
    assert!(rule.groups.is_empty(), "any human");
    assert!(rule.owner_may_approve);
    assert_eq!(
        set.approval_rule("b-two-reviewers").map(|r| r.ttl),
        Some(Duration::from_secs(7200))
    );
}

#[test]
fn votes_short_of_quorum_still_require_approval() {
    let set = compile(RULES);
    let got = decide(
        &set,
        ALICE,
        "sql.ddl",
        "prod",
        Some(&facts(false, 1, &["rita"])),
    );
    assert_eq!(got.label(), "pending");
}

#[test]
fn a_granted_approval_is_final_cedar_decides() {
    let set = compile(RULES);
    let ok = decide(
        &set,
        ALICE,
        "sql.ddl",
        "prod",
        Some(&facts(true, 2, &["rita", "rob"])),
    );
    assert_eq!(
        ok,
        PolicyDecision::Allow {
            policies: vec!["ddl-two".into()],
            obligations: vec![]
        }
    );
    // Granted, but the policy wants two approvers: no second chance.
    let short = decide(
        &set,
        ALICE,
        "sql.ddl",
        "prod",
        Some(&facts(true, 1, &["rita"])),
    );
    assert_eq!(short.label(), "deny");
}

#[test]
fn a_deny_an_approval_would_lift_without_a_rule_stays_a_deny() {
    let set = compile(
        r#"@id("reads") permit (principal, action == Action::"sql.read", resource);
        @id("unapproved-reads-in-prod") @message("prod reads need an approval")
        forbid (principal, action == Action::"sql.read", resource)
        unless { context.environment != "prod" || context.approval.granted };"#,
    );
    assert_eq!(
        decide(&set, ALICE, "sql.read", "prod", None),
        PolicyDecision::Deny {
            policies: vec!["unapproved-reads-in-prod".into()],
            reason: "prod reads need an approval".into(),
        }
    );
}

#[test]
fn forbids_are_not_lifted_by_approvals() {
    let set = compile(
        r#"@id("rule") @approval_quorum("1")
        permit (principal, action == Action::"sql.write", resource) when { context.approval.granted };
        @id("no-agents") forbid (principal is Agent, action == Action::"sql.write", resource);"#,
    );
    assert_eq!(
        decide(&set, ALICE, "sql.write", "prod", None).label(),
        "pending"
    );
    assert_eq!(
        decide(&set, BOT, "sql.write", "prod", None),
        PolicyDecision::Deny {
            policies: vec!["no-agents".into()],
            reason: "policy `no-agents` forbids `sql.write` on `Table::\"orders\"` in `prod`"
                .into(),
        }
    );
}

// ── 4. deny reasons ───────────────────────────────────────────────────────

#[test]
fn a_deny_for_want_of_a_permit_names_the_permits_that_would_apply_and_who_they_are_for() {
    let set = compile(
        r#"@id("engineers-write") @message("engineers write outside prod")
        permit (principal in Group::"engineer", action == Action::"sql.write", resource)
        when { context.environment != "prod" };
        @id("reviewed-writes") @message("a prod write needs a reviewer")
        @approval_quorum("1") @approval_groups("reviewer")
        permit (principal in Group::"engineer", action == Action::"sql.write", resource)
        when { context.environment == "prod" && context.approval.granted };
        @id("reads") permit (principal, action == Action::"sql.read", resource);"#,
    );
    // rita is a reviewer, not an engineer: nothing applies, and the reason
    // says who may.
    let PolicyDecision::Deny { policies, reason } =
        decide(&set, ("User", "rita"), "sql.write", "dev", None)
    else {
        panic!("expected a deny");
    };
    assert!(policies.is_empty());
    assert_eq!(
        reason,
        "no policy permits `sql.write` on `Table::\"orders\"` in `dev`; policies that permit it \
         when their conditions hold: `engineers-write` (engineers write outside prod)"
    );
    // In prod, the approval rule is the one named.
    let PolicyDecision::Deny { reason, .. } =
        decide(&set, ("User", "rita"), "sql.write", "prod", None)
    else {
        panic!("expected a deny");
    };
    assert!(
        reason.ends_with("`reviewed-writes` (a prod write needs a reviewer)"),
        "{reason}"
    );
    // Permits for other actions (or, by the index, other environments)
    // are not named.
    assert!(!reason.contains("`reads`"), "{reason}");
}

#[test]
fn deny_reasons_use_the_first_forbid_message_or_say_what_is_missing() {
    let set = compile(
        r#"@id("reads") permit (principal, action == Action::"sql.read", resource);
        @id("z-forbid") @message("z says no") forbid (principal, action == Action::"sql.read", resource);
        @id("a-forbid") @message("a says no") forbid (principal, action == Action::"sql.read", resource);"#,
    );
    assert_eq!(
        decide(&set, ALICE, "sql.read", "dev", None),
        PolicyDecision::Deny {
            policies: vec!["a-forbid".into(), "z-forbid".into()],
            reason: "a says no".into(),
        }
    );
    assert_eq!(
        decide(&set, ALICE, "sql.ddl", "prod", None),
        PolicyDecision::Deny {
            policies: vec![],
            reason: "no policy permits `sql.ddl` on `Table::\"orders\"` in `prod`".into(),
        }
    );
}

// ── the set itself ────────────────────────────────────────────────────────

#[test]
fn a_policy_set_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<PolicySet>();
    shareable::<countersign_policy::Directory>();
    shareable::<PolicyDecision>();
}

#[test]
fn directories_refuse_what_the_model_does_not_allow() {
    let set = compile(r#"@id("p") permit (principal, action, resource);"#);
    let build = |entries: &[countersign_policy::DirectoryEntry]| {
        countersign_policy::Directory::build(&set, entries)
            .unwrap_err()
            .to_string()
    };
    let mut orphan = crate::common::agent("bot", "alice", &[]);
    orphan.owner = None;
    assert!(build(&[orphan]).contains("agent `bot` has no owner"));
    let mut owned_user = crate::common::user("alice", &[]);
    owned_user.owner = Some("bob".into());
    assert!(build(&[owned_user]).contains("only agents have owners"));
    let twice = [
        crate::common::user("alice", &[]),
        crate::common::user("alice", &["x"]),
    ];
    assert!(build(&twice).contains("listed twice"));
}
