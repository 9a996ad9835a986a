//! The policy set hash recorded with every decision: stable under file
//! order, sensitive to every byte.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test and bench helpers fail loudly"
)]

use countersign_policy::{PolicySet, PolicySource, STARTER_SCHEMA};

const A: &str = "@id(\"a\") permit (principal, action == Action::\"sql.read\", resource);\n";
const B: &str =
    "@id(\"b\") forbid (principal is Agent, action == Action::\"iam.change\", resource);\n";

fn hash(schema: &str, sources: &[(&str, &str)]) -> String {
    let sources: Vec<PolicySource> = sources
        .iter()
        .map(|(n, t)| PolicySource::new(*n, *t))
        .collect();
    PolicySet::compile("schema.cedarschema", schema, &sources)
        .unwrap()
        .hash()
        .to_owned()
}

#[test]
fn the_same_sources_in_any_order_hash_the_same() {
    assert_eq!(
        hash(STARTER_SCHEMA, &[("a.cedar", A), ("b.cedar", B)]),
        hash(STARTER_SCHEMA, &[("b.cedar", B), ("a.cedar", A)])
    );
}

#[test]
fn any_change_changes_the_hash() {
    let base = hash(STARTER_SCHEMA, &[("a.cedar", A), ("b.cedar", B)]);
    let changed_policy = A.replace("sql.read", "sql.write");
    let changed_schema = format!("{STARTER_SCHEMA}\n");
    let others = [
        hash(
            STARTER_SCHEMA,
            &[("a.cedar", &changed_policy), ("b.cedar", B)],
        ),
        hash(
            STARTER_SCHEMA,
            &[("a.cedar", &format!("{A} ")), ("b.cedar", B)],
        ),
        hash(STARTER_SCHEMA, &[("c.cedar", A), ("b.cedar", B)]),
        hash(STARTER_SCHEMA, &[("a.cedar", &format!("{A}{B}"))]),
        hash(&changed_schema, &[("a.cedar", A), ("b.cedar", B)]),
    ];
    for other in others {
        assert_ne!(base, other);
    }
}

/// Names and texts are separated, so moving bytes between them shows.
#[test]
fn boundaries_between_name_and_text_count() {
    let one = hash(STARTER_SCHEMA, &[("a.cedar", A)]);
    let other = hash(STARTER_SCHEMA, &[("a.cedar\0", A)]);
    assert_ne!(one, other);
}
