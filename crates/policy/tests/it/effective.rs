//! Effective permissions per environment and their diff: the table is what
//! `decide` answers for synthetic requests, so these tests pin answers a
//! reviewer would read off it.

use crate::common::compile;
use countersign_policy::{
    Access, Permission, PermissionChange, PolicyError, PolicySet, PolicySource, PrincipalKind,
    diff_permissions,
};
use serde_json::json;

use PrincipalKind::{Agent, Service, User};

fn table(set: &PolicySet, env: &str) -> Vec<Permission> {
    set.effective_permissions(env, &[]).unwrap()
}

fn cell<'a>(
    table: &'a [Permission],
    kind: PrincipalKind,
    group: Option<&str>,
    action: &str,
    resource_type: &str,
) -> &'a Permission {
    table
        .iter()
        .find(|p| {
            p.principal_kind == kind
                && p.group.as_deref() == group
                && p.action == action
                && p.resource_type == resource_type
        })
        .unwrap_or_else(|| panic!("no cell {kind} {group:?} {action} {resource_type}"))
}

fn reviewer(quorum: u32) -> Access {
    Access::Approval {
        quorum,
        groups: vec!["reviewer".to_owned()],
    }
}

fn ids(policies: &[&str]) -> Vec<String> {
    policies.iter().map(|p| (*p).to_owned()).collect()
}

#[test]
fn an_engineer_writes_tables_in_dev_and_needs_a_reviewer_in_prod() {
    let set = PolicySet::starter().unwrap();
    let dev = table(&set, "dev");
    let prod = table(&set, "prod");

    let write = cell(&dev, User, Some("engineer"), "sql.write", "Table");
    assert_eq!(write.access, Access::Allow);
    assert_eq!(write.policies, ids(&["writes-outside-prod"]));

    let write = cell(&prod, User, Some("engineer"), "sql.write", "Table");
    assert_eq!(write.access, reviewer(1));
    assert_eq!(write.policies, ids(&["writes-in-prod-need-a-reviewer"]));

    // DDL in prod: the two-reviewer rule.
    let ddl = cell(&prod, User, Some("engineer"), "sql.ddl", "Database");
    assert_eq!(ddl.access, reviewer(2));

    // A user in no group is refused for want of a permit, not by a forbid.
    let write = cell(&dev, User, None, "sql.write", "Table");
    assert_eq!((&write.access, write.policies.len()), (&Access::Deny, 0));
}

#[test]
fn an_agent_never_changes_iam_in_prod() {
    let set = PolicySet::starter().unwrap();
    let prod = table(&set, "prod");
    for group in [None, Some("admin"), Some("engineer")] {
        let iam = cell(&prod, Agent, group, "iam.change", "Role");
        assert_eq!(iam.access, Access::Deny, "{group:?}");
        assert_eq!(iam.policies, ids(&["agents-never-change-iam-in-prod"]));
    }
    // The forbid is what stops an admin agent: a human admin may ask.
    let human = cell(&prod, User, Some("admin"), "iam.change", "Role");
    assert_eq!(
        human.access,
        Access::Approval {
            quorum: 2,
            groups: vec!["admin".to_owned()]
        }
    );
    let dev = table(&set, "dev");
    let iam = cell(&dev, Agent, Some("admin"), "iam.change", "Role");
    assert_eq!(iam.access, Access::Allow);
}

#[test]
fn the_diff_of_dev_and_prod_shows_writes_but_not_reads() {
    let set = PolicySet::starter().unwrap();
    let changes = diff_permissions(&table(&set, "dev"), &table(&set, "prod"));
    let write = changes
        .iter()
        .find(|c| {
            c.principal_kind == User
                && c.group.as_deref() == Some("engineer")
                && c.action == "sql.write"
                && c.resource_type == "Table"
        })
        .unwrap();
    assert_eq!((&write.left, &write.right), (&Access::Allow, &reviewer(1)));
    assert!(changes.iter().any(|c| c.principal_kind == Agent
        && c.group.as_deref() == Some("admin")
        && c.action == "iam.change"
        && (&c.left, &c.right) == (&Access::Allow, &Access::Deny)));
    assert!(
        changes.iter().all(|c| c.action != "sql.read"),
        "{changes:#?}"
    );
    // Nothing permits model deploys anywhere.
    assert!(changes.iter().all(|c| c.action != "model.deploy"));
    assert!(diff_permissions(&table(&set, "prod"), &table(&set, "prod")).is_empty());
}

/// One cell per kind × group × action × resource type the schema allows
/// (and no other), in table order.
#[test]
fn the_table_covers_what_the_schema_allows_in_order() {
    let set = PolicySet::starter().unwrap();
    let dev = table(&set, "dev");
    // 3 kinds × (no group, admin, engineer) × 24 action/resource pairs
    // (change.submit applies to 4 resource types).
    assert_eq!(dev.len(), 3 * 3 * 24);
    assert!(
        !dev.iter()
            .any(|p| p.action == "sql.write" && p.resource_type == "Model")
    );
    assert!(
        dev.iter()
            .any(|p| p.action == "data.export" && p.resource_type == "Dataset")
    );
    let keys: Vec<_> = dev
        .iter()
        .map(|p| (p.principal_kind, &p.group, &p.action, &p.resource_type))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted);
    assert_eq!(keys.first().map(|k| (k.0, k.1)), Some((User, &None)));
}

/// Groups named only in the caller's list are probed too; the starter
/// policies name `admin` and `engineer` as `Group::` literals, while
/// `reviewer` only appears in `@approval_groups`.
#[test]
fn groups_probed_are_the_given_ones_and_those_the_policies_name() {
    let set = PolicySet::starter().unwrap();
    let groups = |given: &[&str]| {
        let given: Vec<String> = given.iter().map(|g| (*g).to_owned()).collect();
        let mut seen: Vec<Option<String>> = set
            .effective_permissions("prod", &given)
            .unwrap()
            .into_iter()
            .filter(|p| p.principal_kind == Service)
            .map(|p| p.group)
            .collect();
        seen.dedup();
        seen
    };
    let some = |g: &str| Some(g.to_owned());
    assert_eq!(groups(&[]), [None, some("admin"), some("engineer")]);
    assert_eq!(
        groups(&["reviewer", "engineer", "reviewer"]),
        [None, some("admin"), some("engineer"), some("reviewer")]
    );
}

/// The probe sends no optional facts: a permit that needs `context.http`
/// does not show, so an API read by a user in no group shows as denied.
#[test]
fn permissions_that_need_request_facts_show_without_them() {
    let set = PolicySet::starter().unwrap();
    let prod = table(&set, "prod");
    assert_eq!(
        cell(&prod, User, None, "http.request", "Route").access,
        Access::Deny
    );
    // A synthetic resource id is not `Table::"customers"`: no mask permit.
    let read = cell(&prod, Agent, None, "sql.read", "Table");
    assert_eq!(read.policies, ids(&["reads-everywhere"]));
}

#[test]
fn a_permission_serializes_as_the_api_shows_it() {
    let set = PolicySet::starter().unwrap();
    let prod = table(&set, "prod");
    let write = cell(&prod, User, Some("engineer"), "sql.write", "Table");
    assert_eq!(
        serde_json::to_value(write).unwrap(),
        json!({
            "principal_kind": "User",
            "group": "engineer",
            "action": "sql.write",
            "resource_type": "Table",
            "access": {"type": "approval", "quorum": 1, "groups": ["reviewer"]},
            "policies": ["writes-in-prod-need-a-reviewer"],
        })
    );
    let read = cell(&prod, Service, None, "sql.read", "Database");
    assert_eq!(
        serde_json::to_value(&read.access).unwrap(),
        json!({"type": "allow"})
    );
    let back: Permission = serde_json::from_value(serde_json::to_value(write).unwrap()).unwrap();
    assert_eq!(&back, write);
    let change = &diff_permissions(&[], std::slice::from_ref(read))[0];
    assert_eq!(
        serde_json::to_value(change).unwrap(),
        json!({
            "principal_kind": "Service",
            "group": null,
            "action": "sql.read",
            "resource_type": "Database",
            "left": {"type": "deny"},
            "right": {"type": "allow"},
        })
    );
}

/// Staging differs from prod by one permit, for one group on one resource
/// type: the diff is exactly those cells, one per principal kind.
#[test]
fn one_permit_more_in_staging_is_the_whole_diff() {
    let set = compile(
        r#"
        @id("reads")
        permit (principal, action == Action::"sql.read", resource);

        @id("dba-writes-tables-in-staging")
        permit (principal in Group::"dba", action == Action::"sql.write", resource is Table)
        when { context.environment == "staging" };
        "#,
    );
    let changes = diff_permissions(
        &set.effective_permissions("staging", &[]).unwrap(),
        &set.effective_permissions("prod", &[]).unwrap(),
    );
    let expected: Vec<PermissionChange> = [User, Agent, Service]
        .into_iter()
        .map(|kind| PermissionChange {
            principal_kind: kind,
            group: Some("dba".to_owned()),
            action: "sql.write".to_owned(),
            resource_type: "Table".to_owned(),
            left: Access::Allow,
            right: Access::Deny,
        })
        .collect();
    assert_eq!(changes, expected);
}

/// An agent's owner is a synthetic user in no group, so a permit on the
/// owner's groups does not show for any probed agent.
#[test]
fn a_probe_agent_is_owned_by_a_user_in_no_group() {
    let set = compile(
        r#"
        @id("engineers-agents-write")
        permit (principal is Agent, action == Action::"sql.write", resource)
        when { principal.owner in Group::"engineer" };
        "#,
    );
    let dev = table(&set, "dev");
    assert!(
        dev.iter()
            .filter(|p| p.action == "sql.write")
            .all(|p| p.access == Access::Deny)
    );
}

const FACT_SCHEMA: &str = r#"
entity Group;
entity User in [Group];
entity Doc;
type Approval = { granted: Bool, count: Long, approvers: Set<User> };
action "doc.sign" appliesTo {
  principal: [User],
  resource: [Doc],
  context: { environment: String, approval: Approval, ticket: String },
};
"#;

const PLAIN_ACTION: &str = r#"
action "doc.read" appliesTo {
  principal: [User],
  resource: [Doc],
  context: { environment: String, approval: Approval },
};
"#;

fn custom(schema: &str, policies: &str) -> PolicySet {
    PolicySet::compile(
        "schema.cedarschema",
        schema,
        &[PolicySource::new("p.cedar", policies)],
    )
    .unwrap()
}

/// An action whose context requires a fact cannot be probed; it is left
/// out while the rest of the table stands.
#[test]
fn a_refused_probe_is_left_out() {
    let schema = format!("{FACT_SCHEMA}{PLAIN_ACTION}");
    let set = custom(
        &schema,
        r#"@id("all") permit (principal, action, resource);"#,
    );
    let rows = table(&set, "prod");
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|p| p.action == "doc.read"));
    assert!(rows.iter().all(|p| p.access == Access::Allow));
}

/// A table that would be empty is an error, not an empty answer.
#[test]
fn a_set_with_nothing_to_probe_is_an_error() {
    let set = custom(
        FACT_SCHEMA,
        r#"@id("all") permit (principal, action, resource);"#,
    );
    let err = set.effective_permissions("prod", &[]).unwrap_err();
    assert!(matches!(&err, PolicyError::Probe { environment, .. } if environment == "prod"));
    assert!(err.to_string().contains("every probe was refused"), "{err}");

    let robots = r#"
        entity Robot;
        entity Doc;
        action "doc.read" appliesTo { principal: [Robot], resource: [Doc] };
    "#;
    let set = custom(
        robots,
        r#"@id("all") permit (principal, action, resource);"#,
    );
    let err = set.effective_permissions("dev", &[]).unwrap_err();
    assert!(err.to_string().contains("no action"), "{err}");
}
