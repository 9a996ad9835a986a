//! What a policy's scope (and leading environment test) can match, as
//! index coordinates.
//!
//! Each function answers "which of these can the policy match?" and errs on
//! the side of "more": `None` means "any".

use std::collections::HashSet;

use cedar_policy::{
    ActionConstraint, EntityTypeName, EntityUid, Policy, PrincipalConstraint, ResourceConstraint,
    Schema,
};

use super::env::{EnvFilter, env_filter};

/// A policy's reach in index coordinates.
#[derive(Debug, Clone)]
pub(super) struct Reach {
    /// Action rows, or `None` for any action.
    pub(super) actions: Option<Vec<usize>>,
    /// Principal entity types (indices into the schema's types).
    pub(super) principals: Option<Vec<usize>>,
    /// Resource entity types (indices into the schema's types).
    pub(super) resources: Option<Vec<usize>>,
    /// For `resource == T::"id"`: the only resource id it can match.
    pub(super) resource_id: Option<String>,
    /// The leading environment test.
    pub(super) env: EnvFilter,
}

/// The schema facts the analysis needs.
#[derive(Debug)]
pub(super) struct SchemaFacts<'a> {
    schema: &'a Schema,
    actions: &'a [EntityUid],
    types: &'a [EntityTypeName],
    /// Per action, its ancestors (action groups).
    action_ancestors: Vec<HashSet<EntityUid>>,
}

impl<'a> SchemaFacts<'a> {
    pub(super) fn new(
        schema: &'a Schema,
        actions: &'a [EntityUid],
        types: &'a [EntityTypeName],
    ) -> Self {
        let entities = schema.action_entities().ok();
        let action_ancestors = actions
            .iter()
            .map(|action| {
                entities
                    .as_ref()
                    .and_then(|e| e.ancestors(action))
                    .map(|it| it.cloned().collect())
                    .unwrap_or_default()
            })
            .collect();
        SchemaFacts {
            schema,
            actions,
            types,
            action_ancestors,
        }
    }

    /// Where `policy` can apply.
    pub(super) fn reach(&self, policy: &Policy) -> Reach {
        let (resources, resource_id) = self.resources(&policy.resource_constraint());
        Reach {
            actions: self.actions(&policy.action_constraint()),
            principals: self.principals(&policy.principal_constraint()),
            resources,
            resource_id,
            env: policy
                .to_json()
                .map_or(EnvFilter::Any, |json| env_filter(&json)),
        }
    }

    /// `action == A`: A's row. `action in [G, …]`: every action that is one
    /// of them or has one as an ancestor.
    fn actions(&self, constraint: &ActionConstraint) -> Option<Vec<usize>> {
        match constraint {
            ActionConstraint::Any => None,
            ActionConstraint::Eq(uid) => Some(
                self.actions
                    .iter()
                    .position(|a| a == uid)
                    .into_iter()
                    .collect(),
            ),
            ActionConstraint::In(groups) => Some(
                (0..self.actions.len())
                    .filter(|&i| {
                        groups.iter().any(|g| {
                            self.actions.get(i) == Some(g)
                                || self
                                    .action_ancestors
                                    .get(i)
                                    .is_some_and(|anc| anc.contains(g))
                        })
                    })
                    .collect(),
            ),
        }
    }

    fn principals(&self, constraint: &PrincipalConstraint) -> Option<Vec<usize>> {
        match constraint {
            PrincipalConstraint::Any => None,
            PrincipalConstraint::Eq(uid) => Some(self.exactly(uid.type_name())),
            PrincipalConstraint::Is(ty) | PrincipalConstraint::IsIn(ty, _) => {
                Some(self.exactly(ty))
            }
            PrincipalConstraint::In(uid) => Some(self.in_type(uid.type_name())),
        }
    }

    fn resources(&self, constraint: &ResourceConstraint) -> (Option<Vec<usize>>, Option<String>) {
        match constraint {
            ResourceConstraint::Any => (None, None),
            ResourceConstraint::Eq(uid) => (
                Some(self.exactly(uid.type_name())),
                Some(uid.id().unescaped().to_owned()),
            ),
            ResourceConstraint::Is(ty) | ResourceConstraint::IsIn(ty, _) => {
                (Some(self.exactly(ty)), None)
            }
            ResourceConstraint::In(uid) => (Some(self.in_type(uid.type_name())), None),
        }
    }

    fn exactly(&self, ty: &EntityTypeName) -> Vec<usize> {
        self.types
            .iter()
            .position(|t| t == ty)
            .into_iter()
            .collect()
    }

    /// Types whose entities can be `in` an entity of type `target`: itself,
    /// and every type the schema lets have it as an ancestor. Entities are
    /// validated against the schema, so no other type can be.
    fn in_type(&self, target: &EntityTypeName) -> Vec<usize> {
        (0..self.types.len())
            .filter(|&i| {
                self.types.get(i).is_some_and(|ty| {
                    ty == target
                        || self
                            .schema
                            .ancestors(ty)
                            .is_none_or(|mut anc| anc.any(|a| a == target))
                })
            })
            .collect()
    }
}
