//! Strict validation: every problem is refused with its file, line and
//! column, and what is wrong.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test and bench helpers fail loudly"
)]

use crate::common::diagnostics;

#[test]
fn a_typoed_attribute_is_refused_at_its_line() {
    let d = diagnostics(&[(
        "a.cedar",
        "@id(\"p\")\npermit (principal, action == Action::\"sql.read\", resource)\nwhen { principal is User && principal.emial == \"x\" };\n",
    )]);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        (d[0].file.as_str(), d[0].line, d[0].col),
        ("a.cedar", 3, 29)
    );
    assert!(d[0].message.contains("emial"), "{}", d[0].message);
    assert!(
        d[0].message.contains("email"),
        "suggests the right name: {}",
        d[0].message
    );
}

#[test]
fn an_unknown_action_is_refused() {
    let d = diagnostics(&[(
        "a.cedar",
        "// reads\n@id(\"p\")\npermit (principal, action == Action::\"sql.raed\", resource);\n",
    )]);
    assert_eq!(d[0].line, 3, "{d:?}");
    assert!(d[0].message.contains("sql.raed"), "{}", d[0].message);
}

#[test]
fn a_syntax_error_is_refused() {
    let d = diagnostics(&[(
        "a.cedar",
        "@id(\"p\")\npermit (principal, action, resource)\nwhen { 1 + };\n",
    )]);
    assert_eq!((d[0].line, d[0].col), (3, 12), "{d:?}");
    assert!(
        d[0].message.contains("unexpected token"),
        "{}",
        d[0].message
    );
}

#[test]
fn bad_annotation_values_are_refused_at_the_annotation() {
    let text = r#"@id("p")
@message("m")
@approval_quorum("0")
@approval_ttl("3w")
permit (principal, action == Action::"sql.write", resource)
when { context.approval.granted };
"#;
    let d = diagnostics(&[("a.cedar", text)]);
    assert_eq!(d.len(), 2, "{d:?}");
    assert_eq!((d[0].line, d[0].col), (3, 1));
    assert!(
        d[0].message
            .contains("`@approval_quorum` must be an integer from 1 to 20, not `0`")
    );
    assert_eq!(d[1].line, 4);
    assert!(d[1].message.contains("`3w`"), "{}", d[1].message);
}

#[test]
fn duplicate_ids_are_refused_across_files() {
    let d = diagnostics(&[
        (
            "a.cedar",
            "@id(\"same\")\npermit (principal, action == Action::\"sql.read\", resource);\n",
        ),
        (
            "b.cedar",
            "\n\n@id(\"same\")\nforbid (principal, action == Action::\"sql.read\", resource);\n",
        ),
    ]);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!((d[0].file.as_str(), d[0].line), ("b.cedar", 3));
    assert!(d[0].message.contains("duplicate policy id `same`"));
    assert!(d[0].message.contains("a.cedar:1:1"), "{}", d[0].message);
}

#[test]
fn a_policy_without_id_is_refused() {
    let d = diagnostics(&[("a.cedar", "permit (principal, action, resource);")]);
    assert!(d[0].message.contains("no `@id"), "{}", d[0].message);
}

#[test]
fn approval_rules_must_be_permits_that_require_the_approval() {
    let d = diagnostics(&[(
        "a.cedar",
        r#"@id("no-check") @approval_quorum("1")
permit (principal, action == Action::"sql.write", resource);
@id("on-forbid") @approval_quorum("1")
forbid (principal, action == Action::"sql.write", resource) unless { context.approval.granted };
@id("mask-on-forbid") @obligation_mask("t.c")
forbid (principal, action == Action::"sql.read", resource);
@id("typo") @approval_qourum("1")
permit (principal, action == Action::"sql.read", resource);
"#,
    )]);
    let messages: Vec<String> = d.iter().map(ToString::to_string).collect();
    assert_eq!(d.len(), 4, "{messages:#?}");
    assert!(
        messages[0]
            .contains("a.cedar:1:17: an approval rule must require `context.approval.granted`")
    );
    assert!(messages[1].contains("a.cedar:3:18: approval annotations apply only to `permit`"));
    assert!(messages[2].contains("a.cedar:5:23: obligations apply only to `permit`"));
    assert!(messages[3].contains("a.cedar:7:13: unknown annotation `@approval_qourum`"));
}

#[test]
fn every_file_is_checked_and_the_display_lists_all_problems() {
    let sources = [
        countersign_policy::PolicySource::new(
            "b.cedar",
            "@id(\"x\") permit (principal, action == Action::\"nope\", resource);",
        ),
        countersign_policy::PolicySource::new(
            "a.cedar",
            "@id(\"y\") permit (principal, action, resource) when { };",
        ),
    ];
    let err = countersign_policy::PolicySet::compile(
        "schema.cedarschema",
        countersign_policy::STARTER_SCHEMA,
        &sources,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("invalid policy set (2 problem(s)):"),
        "{text}"
    );
    let a = text.find("\n  a.cedar:1:").unwrap();
    let b = text.find("\n  b.cedar:1:").unwrap();
    assert!(a < b, "sorted by file: {text}");
}

#[test]
fn schema_errors_name_the_schema_file() {
    let err = countersign_policy::PolicySet::compile(
        "my.cedarschema",
        "entity User;\nentity Foo { a: Strin };\n",
        &[],
    )
    .unwrap_err();
    let d = err.diagnostics();
    assert_eq!(
        (d[0].file.as_str(), d[0].line),
        ("my.cedarschema", 2),
        "{d:?}"
    );
    assert!(d[0].message.contains("Strin"));
}

#[test]
fn templates_and_duplicate_file_names_are_refused() {
    let d = diagnostics(&[
        (
            "a.cedar",
            "@id(\"t\") permit (principal == ?principal, action, resource);",
        ),
        ("b.cedar", ""),
        ("b.cedar", ""),
    ]);
    let messages: Vec<String> = d.iter().map(|d| d.message.clone()).collect();
    assert!(
        messages.iter().any(|m| m.contains("templates")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("`b.cedar` is given twice")),
        "{messages:?}"
    );
}
