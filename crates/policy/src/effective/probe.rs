//! Building a permission table by asking the decide path synthetic
//! questions.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use cedar_policy::{EntityTypeName, Schema};

use super::{Access, Permission};
use crate::{
    Directory, DirectoryEntry, EntityRef, PolicyDecision, PolicyError, PolicySet, PrincipalKind,
    Query,
};

/// The Cedar entity type of groups, as in [`Directory`].
const GROUP: &str = "Group";
/// Id of every probe resource and of the probe principal in no group; a
/// principal in group `g` is `countersign:probe:g`. Policies that name
/// specific ids are not expected to name these.
const PROBE_ID: &str = "countersign:probe";
/// The accountable user of every probe agent, in no group.
const PROBE_OWNER: &str = "countersign:probe-owner";

/// One probe principal.
#[derive(Debug)]
struct Principal {
    kind: PrincipalKind,
    group: Option<String>,
    id: String,
}

/// One action and what the schema lets it apply to.
#[derive(Debug)]
struct Action {
    name: String,
    kinds: BTreeSet<PrincipalKind>,
    resource_types: BTreeSet<String>,
}

impl PolicySet {
    /// The effective permissions in `environment`: for every principal kind
    /// (`User`, `Agent`, `Service`) × group (each group alone, or none) ×
    /// action × resource type the schema allows for that action, what
    /// [`PolicySet::decide`] answers, sorted by kind, group (none first),
    /// action and resource type.
    ///
    /// The groups probed are `groups` and every `Group::"…"` literal in the
    /// policies, sorted and deduplicated; a kind the schema does not let be
    /// `in` a group is probed in no group only.
    ///
    /// This is a probe, not a proof. Each cell is one synthetic request: a
    /// principal with a synthetic id in exactly that one group (an agent's
    /// owner is a synthetic user in no group), a resource with a synthetic
    /// id, and a context with only `environment` and no approval, so no
    /// optional facts (SQL tables, HTTP method, command line…). Permissions
    /// that depend on those facts, on specific principal or resource ids,
    /// on several groups at once or on the owner's groups show as the
    /// answer for a request without them: e.g. the starter set's
    /// `http-reads-everywhere` needs `context.http`, so an API read by a
    /// user in no group shows as `Deny`. Obligations (masks) are not part
    /// of the table.
    ///
    /// A probe the schema refuses (an action whose context requires facts)
    /// is left out, not fatal. But the table is never silently empty: when
    /// there is nothing to probe, or every probe is refused, or the schema
    /// refuses the probe principals, this is an error.
    pub fn effective_permissions(
        &self,
        environment: &str,
        groups: &[String],
    ) -> Result<Vec<Permission>, PolicyError> {
        let fail = |message: String| PolicyError::Probe {
            environment: environment.to_owned(),
            message,
        };
        let actions = actions(self.schema());
        let principals = principals(self.schema(), &self.probe_groups(groups));
        let directory = Directory::build(self, &entries(&principals))
            .map_err(|e| fail(format!("the schema refuses the probe principals ({e})")))?;

        let context = serde_json::Map::new();
        let mut table = Vec::new();
        let mut refused = None;
        for action in &actions {
            for principal in principals.iter().filter(|p| action.kinds.contains(&p.kind)) {
                for resource_type in &action.resource_types {
                    let query = Query {
                        principal: EntityRef {
                            kind: principal.kind.as_str(),
                            id: &principal.id,
                        },
                        action: &action.name,
                        resource: EntityRef {
                            kind: resource_type,
                            id: PROBE_ID,
                        },
                        environment,
                        context: &context,
                    };
                    match self.decide(&query, None, &directory) {
                        Ok(decision) => {
                            table.push(permission(principal, &action.name, resource_type, decision))
                        }
                        Err(e) => {
                            refused.get_or_insert(e);
                        }
                    }
                }
            }
        }
        if table.is_empty() {
            return Err(fail(match refused {
                Some(e) => format!("every probe was refused, e.g. {e}"),
                None => {
                    "the schema declares no action a `User`, `Agent` or `Service` may do".to_owned()
                }
            }));
        }
        table.sort_by(|a, b| a.key().cmp(&b.key()));
        Ok(table)
    }

    /// `extra` and every `Group::"…"` literal in the policies (scope and
    /// conditions), sorted and deduplicated.
    fn probe_groups(&self, extra: &[String]) -> BTreeSet<String> {
        let named = self
            .cedar_policies()
            .policies()
            .flat_map(cedar_policy::Policy::entity_literals)
            .filter(|uid| uid.type_name().to_string() == GROUP)
            .map(|uid| uid.id().unescaped().to_owned());
        extra.iter().cloned().chain(named).collect()
    }
}

/// The schema's actions that apply to at least one principal kind and one
/// resource type, by name.
fn actions(schema: &Schema) -> Vec<Action> {
    let mut by_name: BTreeMap<String, Action> = BTreeMap::new();
    for uid in schema.actions() {
        let kinds: BTreeSet<PrincipalKind> = schema
            .principals_for_action(uid)
            .into_iter()
            .flatten()
            .filter_map(|ty| PrincipalKind::from_str(&ty.to_string()).ok())
            .collect();
        let resource_types: BTreeSet<String> = schema
            .resources_for_action(uid)
            .into_iter()
            .flatten()
            .map(ToString::to_string)
            .collect();
        if kinds.is_empty() || resource_types.is_empty() {
            continue;
        }
        let name = uid.id().unescaped().to_owned();
        by_name.entry(name.clone()).or_insert(Action {
            name,
            kinds,
            resource_types,
        });
    }
    by_name.into_values().collect()
}

/// One principal per kind the schema declares × (no group, or each group
/// the schema lets that kind be in).
fn principals(schema: &Schema, groups: &BTreeSet<String>) -> Vec<Principal> {
    let group_type = EntityTypeName::from_str(GROUP).ok();
    let declared: BTreeSet<&EntityTypeName> = schema.entity_types().collect();
    let mut out = Vec::new();
    for kind in [
        PrincipalKind::User,
        PrincipalKind::Agent,
        PrincipalKind::Service,
    ] {
        let Some(ty) = EntityTypeName::from_str(kind.as_str())
            .ok()
            .filter(|ty| declared.contains(ty))
        else {
            continue;
        };
        out.push(Principal {
            kind,
            group: None,
            id: PROBE_ID.to_owned(),
        });
        let may_be_in_group = group_type.as_ref().is_some_and(|g| {
            schema
                .ancestors(&ty)
                .is_some_and(|mut ancestors| ancestors.any(|a| a == g))
        });
        if may_be_in_group {
            out.extend(groups.iter().map(|group| Principal {
                kind,
                group: Some(group.clone()),
                id: format!("{PROBE_ID}:{group}"),
            }));
        }
    }
    out
}

/// The directory entries of the probe principals, plus the probe agents'
/// owner.
fn entries(principals: &[Principal]) -> Vec<DirectoryEntry> {
    let entry = |kind, id: &str, group: Option<&String>, owner: Option<&str>| DirectoryEntry {
        kind,
        id: id.to_owned(),
        groups: group.into_iter().cloned().collect(),
        owner: owner.map(str::to_owned),
        email: None,
    };
    let mut out: Vec<DirectoryEntry> = principals
        .iter()
        .map(|p| {
            let owner = (p.kind == PrincipalKind::Agent).then_some(PROBE_OWNER);
            entry(p.kind, &p.id, p.group.as_ref(), owner)
        })
        .collect();
    if principals.iter().any(|p| p.kind == PrincipalKind::Agent) {
        out.push(entry(PrincipalKind::User, PROBE_OWNER, None, None));
    }
    out
}

fn permission(
    principal: &Principal,
    action: &str,
    resource_type: &str,
    decision: PolicyDecision,
) -> Permission {
    let (access, policies) = match decision {
        PolicyDecision::Allow { policies, .. } => (Access::Allow, policies),
        PolicyDecision::Deny { policies, .. } => (Access::Deny, policies),
        PolicyDecision::ApprovalRequired { rule, policies } => (
            Access::Approval {
                quorum: rule.quorum,
                groups: rule.groups,
            },
            policies,
        ),
    };
    Permission {
        principal_kind: principal.kind,
        group: principal.group.clone(),
        action: action.to_owned(),
        resource_type: resource_type.to_owned(),
        access,
        policies,
    }
}
