//! An index from (action, principal type, resource type, environment) to
//! the policies whose scope can match, so that a decision evaluates a
//! handful of policies instead of all of them. Cells with policies scoped to
//! single resources (`resource == T::"id"`) are refined by resource id.
//!
//! Soundness: a policy is left out of a bucket only when it provably cannot
//! match. Cedar evaluates a policy's scope before its conditions and stops
//! at the first false one, so a left-out policy could neither be satisfied
//! nor raise an error: the bucket gives the same decision, the same
//! determining policies and the same errors as the whole set (the
//! differential test checks this on random policy sets).
//!
//! - Actions: `action == A` is A's row; `action in [G, …]` every schema
//!   action that is one of them or has one as an ancestor.
//! - Principal and resource types: `== E` is E's type, `is T` (also with
//!   `in`) is T, `in E` is E's type and every type the schema lets be a
//!   descendant of it (entities are validated against the schema).
//! - Environment: see [`env`].
//!
//! A request whose action or types are outside the schema, or that the
//! schema says cannot happen, is evaluated against the whole set.

mod env;
mod scope;

use std::collections::HashMap;

use cedar_policy::{EntityTypeName, EntityUid, Policy, Schema};

use env::EnvClasses;
use scope::{Reach, SchemaFacts};

/// Where a request falls in the index.
#[derive(Debug, Clone, Copy)]
pub(super) struct Key<'a> {
    /// Action row.
    pub(super) action: usize,
    /// Principal type, as an index into the schema's types.
    pub(super) principal_type: usize,
    /// Resource type, as an index into the schema's types.
    pub(super) resource_type: usize,
    /// Resource id.
    pub(super) resource_id: &'a str,
    /// `context.environment`, when it is a string.
    pub(super) environment: Option<&'a str>,
}

/// One cell of the index.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// Not a combination the schema allows: evaluate everything.
    All,
    /// A bucket number.
    Bucket(usize),
    /// An entry of `by_id`.
    ById(usize),
}

/// A cell refined by resource id.
#[derive(Debug, Clone)]
struct ById {
    /// Bucket for ids no `resource ==` policy names.
    other: usize,
    ids: HashMap<String, usize>,
}

/// The compiled index.
#[derive(Debug, Clone)]
pub(super) struct Index {
    /// By type index: slot in the principal dimension.
    principal_slot: Vec<Option<usize>>,
    /// By type index: slot in the resource dimension.
    resource_slot: Vec<Option<usize>>,
    rows: usize,
    principal_count: usize,
    resource_count: usize,
    envs: EnvClasses,
    slots: Vec<Slot>,
    by_id: Vec<ById>,
    /// Distinct buckets; identical ones are shared.
    buckets: Vec<cedar_policy::PolicySet>,
}

impl Index {
    /// Builds the index for the schema's `actions` and entity `types`.
    pub(super) fn build(
        schema: &Schema,
        actions: &[EntityUid],
        types: &[EntityTypeName],
        policies: &[&Policy],
    ) -> Result<Index, String> {
        let facts = SchemaFacts::new(schema, actions, types);
        let reaches: Vec<Reach> = policies.iter().map(|p| facts.reach(p)).collect();
        let envs = EnvClasses::new(reaches.iter().map(|r| &r.env));
        let dimension = |of: Vec<&EntityTypeName>| {
            let mut next = 0;
            let slots: Vec<Option<usize>> = types
                .iter()
                .map(|t| {
                    of.contains(&t).then(|| {
                        next += 1;
                        next - 1
                    })
                })
                .collect();
            (slots, next)
        };
        let (principal_slot, principal_count) = dimension(schema.principals().collect());
        let (resource_slot, resource_count) = dimension(schema.resources().collect());
        let mut index = Index {
            principal_slot,
            resource_slot,
            rows: actions.len(),
            principal_count,
            resource_count,
            envs,
            slots: Vec::new(),
            by_id: Vec::new(),
            buckets: Vec::new(),
        };

        let members = index.members(schema, actions, types, &reaches);
        let mut seen: HashMap<Vec<usize>, usize> = HashMap::new();
        let mut slots = Vec::with_capacity(members.len());
        for m in members {
            let slot = match m {
                None => Slot::All,
                Some(m) => index.slot(m, &reaches, policies, &mut seen)?,
            };
            slots.push(slot);
        }
        index.slots = slots;
        Ok(index)
    }

    /// Policy numbers per cell, for the cells the schema allows (`None`
    /// elsewhere).
    fn members(
        &self,
        schema: &Schema,
        actions: &[EntityUid],
        types: &[EntityTypeName],
        reaches: &[Reach],
    ) -> Vec<Option<Vec<usize>>> {
        let cells = self.rows * self.principal_count * self.resource_count * self.envs.len();
        let mut members: Vec<Option<Vec<usize>>> = vec![None; cells];
        let applies = |of: Option<Vec<&EntityTypeName>>| -> Vec<usize> {
            let of = of.unwrap_or_default();
            (0..types.len())
                .filter(|&i| types.get(i).is_some_and(|t| of.contains(&t)))
                .collect()
        };
        for (row, action) in actions.iter().enumerate() {
            let ps = applies(schema.principals_for_action(action).map(Iterator::collect));
            let rs = applies(schema.resources_for_action(action).map(Iterator::collect));
            for (&p, &r) in ps.iter().flat_map(|p| rs.iter().map(move |r| (p, r))) {
                for class in 0..self.envs.len() {
                    if let Some(m) = self.cell(row, p, r, class).and_then(|c| members.get_mut(c)) {
                        *m = Some(Vec::new());
                    }
                }
            }
        }
        let all = |n: usize| (0..n).collect::<Vec<_>>();
        for (i, reach) in reaches.iter().enumerate() {
            let rows = reach.actions.clone().unwrap_or_else(|| all(actions.len()));
            let ps = reach.principals.clone().unwrap_or_else(|| all(types.len()));
            let rs = reach.resources.clone().unwrap_or_else(|| all(types.len()));
            let classes: Vec<usize> = (0..self.envs.len())
                .filter(|&c| self.envs.admits(&reach.env, c))
                .collect();
            for &row in &rows {
                for (&p, &r) in ps.iter().flat_map(|p| rs.iter().map(move |r| (p, r))) {
                    for &class in &classes {
                        if let Some(Some(m)) =
                            self.cell(row, p, r, class).and_then(|c| members.get_mut(c))
                        {
                            m.push(i);
                        }
                    }
                }
            }
        }
        members
    }

    /// The slot of one cell's members: one bucket, or one per resource id
    /// named by a `resource ==` policy among them.
    fn slot(
        &mut self,
        members: Vec<usize>,
        reaches: &[Reach],
        policies: &[&Policy],
        seen: &mut HashMap<Vec<usize>, usize>,
    ) -> Result<Slot, String> {
        let id_of = |i: &usize| reaches.get(*i).and_then(|r| r.resource_id.as_deref());
        let mut ids: Vec<&str> = members.iter().filter_map(id_of).collect();
        if ids.is_empty() {
            return Ok(Slot::Bucket(self.bucket(members, policies, seen)?));
        }
        ids.sort_unstable();
        ids.dedup();
        let without = |keep: Option<&str>| -> Vec<usize> {
            members
                .iter()
                .copied()
                .filter(|i| id_of(i).is_none_or(|id| Some(id) == keep))
                .collect()
        };
        let other = self.bucket(without(None), policies, seen)?;
        let mut by_id = HashMap::with_capacity(ids.len());
        for id in ids {
            by_id.insert(
                id.to_owned(),
                self.bucket(without(Some(id)), policies, seen)?,
            );
        }
        self.by_id.push(ById { other, ids: by_id });
        Ok(Slot::ById(self.by_id.len() - 1))
    }

    fn bucket(
        &mut self,
        members: Vec<usize>,
        policies: &[&Policy],
        seen: &mut HashMap<Vec<usize>, usize>,
    ) -> Result<usize, String> {
        if let Some(&b) = seen.get(&members) {
            return Ok(b);
        }
        let set = cedar_policy::PolicySet::from_policies(
            members
                .iter()
                .filter_map(|&i| policies.get(i).map(|p| (*p).clone())),
        )
        .map_err(|e| e.to_string())?;
        self.buckets.push(set);
        seen.insert(members, self.buckets.len() - 1);
        Ok(self.buckets.len() - 1)
    }

    /// The cell number of (action row, principal type, resource type, env
    /// class), if the types are in their dimensions.
    fn cell(&self, row: usize, principal: usize, resource: usize, class: usize) -> Option<usize> {
        let p = (*self.principal_slot.get(principal)?)?;
        let r = (*self.resource_slot.get(resource)?)?;
        if row >= self.rows || class >= self.envs.len() {
            return None;
        }
        Some(((row * self.principal_count + p) * self.resource_count + r) * self.envs.len() + class)
    }

    /// The policies to evaluate for `key`, or `None` for all of them.
    pub(super) fn lookup(&self, key: &Key<'_>) -> Option<&cedar_policy::PolicySet> {
        let class = self.envs.class_of(key.environment);
        let cell = self.cell(key.action, key.principal_type, key.resource_type, class)?;
        let bucket = match self.slots.get(cell)? {
            Slot::All => return None,
            Slot::Bucket(b) => *b,
            Slot::ById(i) => {
                let by_id = self.by_id.get(*i)?;
                by_id
                    .ids
                    .get(key.resource_id)
                    .copied()
                    .unwrap_or(by_id.other)
            }
        };
        self.buckets.get(bucket)
    }

    /// The policies evaluated for any resource id in one cell (for
    /// diagnostics): the union of a refined cell's buckets.
    pub(super) fn candidates(&self, key: &Key<'_>) -> Option<Vec<&Policy>> {
        let class = self.envs.class_of(key.environment);
        let cell = self.cell(key.action, key.principal_type, key.resource_type, class)?;
        let buckets: Vec<usize> = match self.slots.get(cell)? {
            Slot::All => return None,
            Slot::Bucket(b) => vec![*b],
            Slot::ById(i) => {
                let by_id = self.by_id.get(*i)?;
                by_id.ids.values().copied().chain([by_id.other]).collect()
            }
        };
        let mut policies: Vec<&Policy> = buckets
            .iter()
            .filter_map(|&b| self.buckets.get(b))
            .flat_map(|set| set.policies())
            .collect();
        policies.sort_by(|a, b| a.id().cmp(b.id()));
        policies.dedup_by(|a, b| a.id() == b.id());
        Some(policies)
    }

    /// Number of distinct buckets.
    pub(super) fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// The environments policies test first, sorted.
    pub(super) fn environments(&self) -> &[String] {
        self.envs.names()
    }
}
