//! What a caller asks: who does what to which resource, where.

use std::fmt;

/// A typed entity, e.g. `Table::"orders"` is `{ kind: "Table", id: "orders" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntityRef<'a> {
    /// The Cedar entity type, e.g. `Agent`.
    pub kind: &'a str,
    /// The entity id, e.g. `deploy-bot`.
    pub id: &'a str,
}

impl fmt::Display for EntityRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}::{:?}", self.kind, self.id)
    }
}

/// An owned [`EntityRef`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OwnedEntityRef {
    /// The Cedar entity type.
    pub kind: String,
    /// The entity id.
    pub id: String,
}

impl OwnedEntityRef {
    /// Borrows it as an [`EntityRef`].
    pub fn as_ref(&self) -> EntityRef<'_> {
        EntityRef {
            kind: &self.kind,
            id: &self.id,
        }
    }
}

impl fmt::Display for OwnedEntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_ref().fmt(f)
    }
}

/// One authorization question.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// Who acts: a `User`, `Agent` or `Service`.
    pub principal: EntityRef<'a>,
    /// The action id without the `Action::` prefix, e.g. `sql.ddl`.
    pub action: &'a str,
    /// What is acted on. It need not exist in the [`crate::Directory`].
    pub resource: EntityRef<'a>,
    /// The environment, e.g. `prod`; becomes `context.environment`.
    pub environment: &'a str,
    /// The caller's action-specific context (e.g. `sql`), without
    /// `environment` and `approval`: those are added here and may not be
    /// given by the caller.
    pub context: &'a serde_json::Map<String, serde_json::Value>,
}

/// The state of an approval for this exact request, as the governor knows
/// it. It becomes `context.approval`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovalFacts {
    /// True once the approval reached its quorum.
    pub granted: bool,
    /// Distinct approvers so far.
    pub count: u32,
    /// Their `User` ids.
    pub approvers: Vec<String>,
}
