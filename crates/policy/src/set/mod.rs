//! The compiled policy set: schema, validated policies, index, annotations
//! and hash.

mod compile;
mod context;
mod decide;
mod hash;
mod index;
mod json_expr;
mod parse;
mod request;

use std::collections::HashMap;

use cedar_policy::{Authorizer, EntityTypeName, EntityUid, Schema};

use crate::annotations::PolicyMeta;
use crate::{Diagnostic, PolicySource};
use context::ContextCache;
use index::Index;

/// A compiled, validated and indexed set of Cedar policies. Immutable: hold
/// it in an `Arc` and swap it on reload.
#[derive(Debug, Clone)]
pub struct PolicySet {
    schema: Schema,
    schema_source: PolicySource,
    sources: Vec<PolicySource>,
    full: cedar_policy::PolicySet,
    index: Index,
    meta: HashMap<String, PolicyMeta>,
    ids: Vec<String>,
    warnings: Vec<Diagnostic>,
    hash: String,
    actions: HashMap<String, ActionInfo>,
    types: HashMap<String, TypeInfo>,
    contexts: ContextCache,
    authorizer: Authorizer,
}

/// A schema action, precomputed for requests.
#[derive(Debug, Clone)]
struct ActionInfo {
    uid: EntityUid,
    /// Row in the index.
    idx: usize,
    /// By type column: may a principal of this type do the action?
    principal_types: Vec<bool>,
    /// By type column: may a resource of this type be acted on?
    resource_types: Vec<bool>,
    /// Whether the context with only `environment` and `approval` fits the
    /// action's context type (no other required fields).
    plain_context_ok: bool,
}

/// A schema entity type, precomputed for requests.
#[derive(Debug, Clone)]
struct TypeInfo {
    name: EntityTypeName,
    /// Column in the index.
    idx: usize,
}

impl PolicySet {
    /// The embedded starter schema and policies that `countersign init`
    /// writes.
    pub fn starter() -> Result<PolicySet, crate::PolicyError> {
        Self::compile(
            crate::starter::STARTER_SCHEMA_NAME,
            crate::STARTER_SCHEMA,
            &[PolicySource::new(
                crate::starter::STARTER_POLICIES_NAME,
                crate::STARTER_POLICIES,
            )],
        )
    }

    /// `sha256:<hex>` over the schema and the sources sorted by name (each
    /// as name, NUL, text, NUL): the same files give the same hash whatever
    /// their order.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Every policy id, sorted.
    pub fn policy_ids(&self) -> Vec<&str> {
        self.ids.iter().map(String::as_str).collect()
    }

    /// Number of policies.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when the set has no policies (everything is denied).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The action ids the schema declares (without `Action::`), sorted;
    /// action groups that apply to nothing are left out.
    pub fn action_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .actions
            .iter()
            .filter(|(_, info)| {
                self.schema
                    .resources_for_action(&info.uid)
                    .is_some_and(|mut it| it.next().is_some())
            })
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    }

    /// The approval rule carried by policy `id`, if it is one.
    pub fn approval_rule(&self, id: &str) -> Option<&crate::ApprovalRule> {
        self.meta.get(id).and_then(|m| m.rule.as_ref())
    }

    /// The `@message` of policy `id`.
    pub fn message(&self, id: &str) -> Option<&str> {
        self.meta.get(id).and_then(|m| m.message.as_deref())
    }

    /// Validator warnings (e.g. a policy that can never apply). They do not
    /// stop compilation.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The schema source as given.
    pub fn schema_source(&self) -> &PolicySource {
        &self.schema_source
    }

    /// The policy sources, sorted by name.
    pub fn sources(&self) -> &[PolicySource] {
        &self.sources
    }

    /// The Cedar schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The whole Cedar policy set, with ids from `@id`.
    pub fn cedar_policies(&self) -> &cedar_policy::PolicySet {
        &self.full
    }

    /// The ids of the policies evaluated when `principal_kind` does `action`
    /// on a resource of type `resource_kind` in `environment` (`None`: any
    /// environment), for any resource id, sorted; `None` when the schema
    /// does not allow the combination (then every policy is evaluated).
    pub fn candidate_policies(
        &self,
        principal_kind: &str,
        action: &str,
        resource_kind: &str,
        environment: Option<&str>,
    ) -> Option<Vec<&str>> {
        let key = index::Key {
            action: self.actions.get(action)?.idx,
            principal_type: self.types.get(principal_kind)?.idx,
            resource_type: self.types.get(resource_kind)?.idx,
            resource_id: "",
            environment,
        };
        let policies = self.index.candidates(&key)?;
        Some(policies.into_iter().map(|p| p.id().as_ref()).collect())
    }

    /// How many distinct index buckets the set has (for diagnostics and
    /// benchmarks).
    pub fn bucket_count(&self) -> usize {
        self.index.bucket_count()
    }
}
