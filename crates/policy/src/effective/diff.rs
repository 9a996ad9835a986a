//! Comparing two permission tables.

use std::collections::BTreeMap;

use super::{Access, Key, Permission, PermissionChange};

/// The cells whose access differs between `left` and `right`, in table
/// order (kind, group with none first, action, resource type).
///
/// A cell missing on one side counts as `Deny` there: Cedar denies what no
/// policy permits, and a table only lacks a cell when the schema (or the
/// probe) did not cover it, so reading it as anything else would invent a
/// permission. Only the access is compared; the same access granted by
/// other policies is not a change. When a side lists a cell twice, its
/// first row counts.
pub fn diff_permissions(left: &[Permission], right: &[Permission]) -> Vec<PermissionChange> {
    let left = by_key(left);
    let right = by_key(right);
    let mut keys: Vec<Key<'_>> = left.keys().chain(right.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let l = left.get(&key).copied().unwrap_or(&Access::Deny);
            let r = right.get(&key).copied().unwrap_or(&Access::Deny);
            (l != r).then(|| {
                let (principal_kind, group, action, resource_type) = key;
                PermissionChange {
                    principal_kind,
                    group: group.map(str::to_owned),
                    action: action.to_owned(),
                    resource_type: resource_type.to_owned(),
                    left: l.clone(),
                    right: r.clone(),
                }
            })
        })
        .collect()
}

fn by_key(rows: &[Permission]) -> BTreeMap<Key<'_>, &Access> {
    let mut map = BTreeMap::new();
    for row in rows {
        map.entry(row.key()).or_insert(&row.access);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PrincipalKind;

    fn row(kind: PrincipalKind, group: Option<&str>, action: &str, access: Access) -> Permission {
        Permission {
            principal_kind: kind,
            group: group.map(str::to_owned),
            action: action.to_owned(),
            resource_type: "Table".to_owned(),
            access,
            policies: vec!["p".to_owned()],
        }
    }

    fn approval(quorum: u32) -> Access {
        Access::Approval {
            quorum,
            groups: vec!["reviewer".to_owned()],
        }
    }

    #[test]
    fn identical_tables_have_no_changes() {
        let t = [row(PrincipalKind::User, None, "sql.read", Access::Allow)];
        assert!(diff_permissions(&t, &t).is_empty());
        assert!(diff_permissions(&[], &[]).is_empty());
    }

    #[test]
    fn a_row_only_on_one_side_is_compared_with_deny() {
        let allow = [row(PrincipalKind::Agent, None, "sql.write", Access::Allow)];
        let changes = diff_permissions(&allow, &[]);
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (&changes[0].left, &changes[0].right),
            (&Access::Allow, &Access::Deny)
        );
        let changes = diff_permissions(&[], &allow);
        assert_eq!(
            (&changes[0].left, &changes[0].right),
            (&Access::Deny, &Access::Allow)
        );
    }

    /// A missing row and an explicit `Deny` mean the same thing: no change.
    #[test]
    fn a_deny_row_against_a_missing_row_is_no_change() {
        let deny = [row(
            PrincipalKind::Service,
            None,
            "iam.change",
            Access::Deny,
        )];
        assert!(diff_permissions(&deny, &[]).is_empty());
        assert!(diff_permissions(&[], &deny).is_empty());
    }

    /// Another quorum is another access; other policies are not.
    #[test]
    fn access_is_compared_but_policies_are_not() {
        let mut one = row(
            PrincipalKind::User,
            Some("engineer"),
            "sql.ddl",
            approval(1),
        );
        let two = row(
            PrincipalKind::User,
            Some("engineer"),
            "sql.ddl",
            approval(2),
        );
        assert_eq!(diff_permissions(&[one.clone()], &[two]).len(), 1);
        let same = one.clone();
        one.policies = vec!["other".to_owned()];
        assert!(diff_permissions(&[one], &[same]).is_empty());
    }

    #[test]
    fn changes_come_in_table_order() {
        let left = [
            row(PrincipalKind::Service, None, "a", Access::Allow),
            row(PrincipalKind::User, Some("b"), "a", Access::Allow),
            row(PrincipalKind::User, None, "b", Access::Allow),
            row(PrincipalKind::User, None, "a", Access::Allow),
            row(PrincipalKind::Agent, None, "a", Access::Allow),
        ];
        let keys: Vec<_> = diff_permissions(&left, &[])
            .into_iter()
            .map(|c| (c.principal_kind, c.group, c.action))
            .collect();
        assert_eq!(
            keys,
            [
                (PrincipalKind::User, None, "a".to_owned()),
                (PrincipalKind::User, None, "b".to_owned()),
                (PrincipalKind::User, Some("b".to_owned()), "a".to_owned()),
                (PrincipalKind::Agent, None, "a".to_owned()),
                (PrincipalKind::Service, None, "a".to_owned()),
            ]
        );
    }

    #[test]
    fn the_first_of_duplicate_rows_counts() {
        let left = [
            row(PrincipalKind::User, None, "a", Access::Allow),
            row(PrincipalKind::User, None, "a", Access::Deny),
        ];
        let right = [row(PrincipalKind::User, None, "a", Access::Allow)];
        assert!(diff_permissions(&left, &right).is_empty());
    }
}
