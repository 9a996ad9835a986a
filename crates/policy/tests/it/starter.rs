//! The starter set that `countersign init` writes compiles cleanly, its
//! shipped cases pass, and it shows the model.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test and bench helpers fail loudly"
)]

use countersign_policy::cases::{CasesFile, run_cases};
use countersign_policy::{PolicySet, STARTER_CASES};

#[test]
fn the_starter_set_compiles_without_warnings() {
    let set = PolicySet::starter().unwrap();
    assert!(set.warnings().is_empty(), "{:?}", set.warnings());
    assert!(set.len() >= 10);
    assert_eq!(
        set.action_names(),
        [
            "change.submit",
            "command.run",
            "data.export",
            "http.request",
            "iam.change",
            "mcp.call",
            "model.deploy",
            "pipeline.deploy",
            "policy.apply",
            "prompt.deploy",
            "sql.admin",
            "sql.ddl",
            "sql.export",
            "sql.read",
            "sql.write",
        ]
    );
    assert!(set.hash().starts_with("sha256:") && set.hash().len() == 7 + 64);
}

#[test]
fn the_starter_cases_pass() {
    let set = PolicySet::starter().unwrap();
    let file = CasesFile::parse("cases.toml", STARTER_CASES).unwrap();
    let report = run_cases(&set, &file);
    assert!(report.ok(), "{report}");
    assert!(report.total >= 20);
}

#[test]
fn starter_rules_carry_their_approval_terms() {
    let set = PolicySet::starter().unwrap();
    let ddl = set
        .approval_rule("ddl-and-exports-in-prod-need-two-reviewers")
        .unwrap();
    assert_eq!(
        (ddl.quorum, ddl.groups.as_slice()),
        (2, ["reviewer".to_owned()].as_slice())
    );
    assert!(ddl.reason_required);
    let iam = set
        .approval_rule("iam-and-policy-in-prod-need-two-admins")
        .unwrap();
    assert_eq!(
        (iam.quorum, iam.groups.as_slice()),
        (2, ["admin".to_owned()].as_slice())
    );
    assert!(!iam.owner_may_approve);
}

/// A production write by an engineer only evaluates the production rules:
/// the index keeps the rest out.
#[test]
fn the_index_narrows_the_starter_set() {
    let set = PolicySet::starter().unwrap();
    assert_eq!(
        set.candidate_policies("User", "sql.write", "Table", Some("prod")),
        Some(vec!["writes-in-prod-need-a-reviewer"])
    );
    assert_eq!(
        set.candidate_policies("Agent", "iam.change", "Role", Some("prod")),
        Some(vec![
            "agents-never-change-iam-in-prod",
            "iam-and-policy-in-prod-need-two-admins"
        ])
    );
    assert_eq!(
        set.candidate_policies("User", "iam.change", "Role", Some("dev")),
        Some(vec!["admins-change-iam-and-policy-outside-prod"])
    );
    assert_eq!(
        set.candidate_policies("User", "sql.write", "Model", None),
        None
    );
}
