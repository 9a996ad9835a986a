//! The principals Cedar knows about: users, agents, services and their
//! groups, as Cedar entities.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use cedar_policy::{Entities, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression};

use crate::{PolicyError, PolicySet};

/// The kind of a principal. Serialized as its Cedar type name (`User`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum PrincipalKind {
    /// A human.
    User,
    /// An AI agent; always has an accountable human owner.
    Agent,
    /// A CI pipeline, a job.
    Service,
}

impl PrincipalKind {
    /// The Cedar entity type name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Agent => "Agent",
            Self::Service => "Service",
        }
    }
}

impl fmt::Display for PrincipalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PrincipalKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "User" => Ok(Self::User),
            "Agent" => Ok(Self::Agent),
            "Service" => Ok(Self::Service),
            other => Err(format!(
                "unknown principal kind `{other}` (expected `User`, `Agent` or `Service`)"
            )),
        }
    }
}

/// One principal as the identity layer knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    /// User, agent or service.
    pub kind: PrincipalKind,
    /// Its id, e.g. `alice`.
    pub id: String,
    /// Groups (roles) it is `in`, e.g. `engineer`.
    pub groups: Vec<String>,
    /// For an agent, the `User` id of its accountable human (required).
    pub owner: Option<String>,
    /// For a user, an email address (optional).
    pub email: Option<String>,
}

/// The principals and groups as Cedar entities, validated against a policy
/// set's schema (with the schema's action hierarchy). Rebuild it when the
/// policy set is reloaded.
#[derive(Debug, Clone)]
pub struct Directory {
    entities: Entities,
}

const GROUP: &str = "Group";

impl Directory {
    /// Builds the directory; refuses duplicates, agents without owners,
    /// owners on anything but agents, and entries the schema does not allow.
    pub fn build(set: &PolicySet, entries: &[DirectoryEntry]) -> Result<Directory, PolicyError> {
        let mut seen = HashSet::new();
        let mut groups = BTreeSet::new();
        let mut entities = Vec::with_capacity(entries.len());
        for entry in entries {
            if !seen.insert((entry.kind, entry.id.as_str())) {
                return Err(PolicyError::Directory(format!(
                    "`{}::{:?}` is listed twice",
                    entry.kind, entry.id
                )));
            }
            entities.push(principal_entity(entry)?);
            groups.extend(entry.groups.iter().map(String::as_str));
        }
        for group in groups {
            entities.push(Entity::with_uid(uid(GROUP, group)?));
        }
        let entities = Entities::from_entities(entities, Some(set.schema()))
            .map_err(|e| PolicyError::Directory(e.to_string()))?;
        Ok(Directory { entities })
    }

    /// Wraps Cedar entities built elsewhere (e.g. with resource
    /// hierarchies). They should conform to the policy set's schema and
    /// include its action entities, as [`Entities::from_entities`] with a
    /// schema does.
    pub fn from_entities(entities: Entities) -> Directory {
        Directory { entities }
    }

    /// The Cedar entities.
    pub fn entities(&self) -> &Entities {
        &self.entities
    }
}

fn principal_entity(entry: &DirectoryEntry) -> Result<Entity, PolicyError> {
    let this = uid(entry.kind.as_str(), &entry.id)?;
    let mut attrs = HashMap::new();
    match (entry.kind, &entry.owner) {
        (PrincipalKind::Agent, Some(owner)) => {
            attrs.insert(
                "owner".to_owned(),
                RestrictedExpression::new_entity_uid(uid("User", owner)?),
            );
        }
        (PrincipalKind::Agent, None) => {
            return Err(PolicyError::Directory(format!(
                "agent `{}` has no owner; every agent needs an accountable user",
                entry.id
            )));
        }
        (kind, Some(_)) => {
            return Err(PolicyError::Directory(format!(
                "{} `{}` has an owner; only agents have owners",
                kind.as_str().to_lowercase(),
                entry.id
            )));
        }
        (_, None) => {}
    }
    if let Some(email) = &entry.email {
        attrs.insert(
            "email".to_owned(),
            RestrictedExpression::new_string(email.clone()),
        );
    }
    let parents = entry
        .groups
        .iter()
        .map(|g| uid(GROUP, g))
        .collect::<Result<HashSet<_>, _>>()?;
    Entity::new(this, attrs, parents).map_err(|e| PolicyError::Directory(e.to_string()))
}

fn uid(kind: &str, id: &str) -> Result<EntityUid, PolicyError> {
    let ty = EntityTypeName::from_str(kind)
        .map_err(|e| PolicyError::Directory(format!("entity type `{kind}`: {e}")))?;
    Ok(EntityUid::from_type_name_and_id(ty, EntityId::new(id)))
}
