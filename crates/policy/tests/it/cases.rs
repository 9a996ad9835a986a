//! Policy test case files: clear errors with the line, readable diffs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test and bench helpers fail loudly"
)]

use countersign_policy::cases::{CasesFile, Expect, run_cases};
use countersign_policy::{PolicyError, PolicySet};

const GOOD: &str = r#"
[[principals]]
kind = "User"
id = "alice"
groups = ["reviewer"]

[[principals]]
kind = "Agent"
id = "bot"
owner = "alice"
groups = ["engineer"]

[[case]]
name = "agent ddl in prod needs two reviewers"
principal = "Agent::bot"
action = "sql.ddl"
resource = "Table::orders"
environment = "prod"
context = { sql = { tables = ["orders"] } }
approval = { granted = false, count = 0 }
expect = "pending"
expect_quorum = 2

[[case]]
name = "wrong on purpose"
principal = "Agent::bot"
action = "sql.ddl"
resource = "Table::orders"
environment = "prod"
expect = "allow"
"#;

fn error(text: &str) -> String {
    match CasesFile::parse("cases.toml", text) {
        Ok(_) => panic!("expected an error"),
        Err(e @ PolicyError::InvalidCases { .. }) => e.to_string(),
        Err(other) => panic!("unexpected {other}"),
    }
}

#[test]
fn a_file_parses_into_cases() {
    let file = CasesFile::parse("cases.toml", GOOD).unwrap();
    assert_eq!(file.principals.len(), 2);
    let case = &file.cases[0];
    assert_eq!(case.line, 13);
    assert_eq!(
        (case.principal.kind.as_str(), case.principal.id.as_str()),
        ("Agent", "bot")
    );
    assert_eq!(case.expect, Expect::Pending);
    assert_eq!(case.expect_quorum, Some(2));
    assert_eq!(case.context["sql"]["tables"][0], "orders");
}

#[test]
fn mismatches_are_reported_as_readable_diffs() {
    let set = PolicySet::starter().unwrap();
    let file = CasesFile::parse("cases.toml", GOOD).unwrap();
    let report = run_cases(&set, &file);
    assert_eq!((report.total, report.passed), (2, 1));
    let text = report.to_string();
    assert!(
        text.contains("case `wrong on purpose` (cases.toml:24)"),
        "{text}"
    );
    assert!(text.contains("  - expected: allow\n"), "{text}");
    assert!(
        text.contains(
            "  + got:      pending (quorum 2, rule `ddl-and-exports-in-prod-need-two-reviewers`)"
        ),
        "{text}"
    );
    assert!(
        text.contains("determining policies: ddl-and-exports-in-prod-need-two-reviewers"),
        "{text}"
    );
    assert!(text.ends_with("1 passed, 1 failed"), "{text}");
}

#[test]
fn query_errors_and_directory_errors_are_failures_not_panics() {
    let set = PolicySet::starter().unwrap();
    let text = GOOD.replace("action = \"sql.ddl\"", "action = \"sql.nope\"");
    let report = run_cases(&set, &CasesFile::parse("cases.toml", &text).unwrap());
    assert!(
        report.failures[0]
            .got
            .contains("error: unknown action `sql.nope`")
    );
    let text = GOOD.replace("owner = \"alice\"\n", "");
    let report = run_cases(&set, &CasesFile::parse("cases.toml", &text).unwrap());
    assert_eq!(report.passed, 0);
    assert!(
        report.failures[0].got.contains("has no owner"),
        "{}",
        report.failures[0].got
    );
}

#[test]
fn malformed_files_point_at_the_line() {
    let e = error("[[case]]\nname = \"x\"\nprincipal = \n");
    assert!(e.contains("cases.toml:3:"), "{e}");

    let e = error(&GOOD.replace("expect = \"allow\"", "expect = \"maybe\""));
    assert!(e.contains("cases.toml:30:"), "{e}");
    assert!(e.contains("maybe"), "{e}");

    let e = error(&GOOD.replace("principal = \"Agent::bot\"\naction = \"sql.ddl\"\nresource = \"Table::orders\"\nenvironment = \"prod\"\ncontext", "principal = \"bot\"\naction = \"sql.ddl\"\nresource = \"Table::orders\"\nenvironment = \"prod\"\ncontext"));
    assert!(e.contains("cases.toml:15:"), "{e}");
    assert!(
        e.contains("`bot` is not an entity like `Table::orders`"),
        "{e}"
    );

    let e = error(&GOOD.replace("kind = \"Agent\"", "kind = \"Robot\""));
    assert!(e.contains("cases.toml:8:"), "{e}");
    assert!(e.contains("unknown principal kind `Robot`"), "{e}");

    let e = error(&GOOD.replace("expect_quorum = 2", "expect_qorum = 2"));
    assert!(e.contains("cases.toml:22:"), "{e}");
    assert!(e.contains("expect_qorum"), "{e}");
}
