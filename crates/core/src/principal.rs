//! Who acts: people, AI agents (always with an accountable human owner) and
//! services (CI pipelines, jobs). Names are unique across kinds so that a name
//! alone (a PostgreSQL user name, a CLI argument) identifies one principal.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PrincipalKind {
    User,
    Agent,
    Service,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "User",
            PrincipalKind::Agent => "Agent",
            PrincipalKind::Service => "Service",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "user" => Some(PrincipalKind::User),
            "agent" => Some(PrincipalKind::Agent),
            "service" => Some(PrincipalKind::Service),
            _ => None,
        }
    }

    /// Only people may approve; agents and services never do.
    pub fn is_human(self) -> bool {
        matches!(self, PrincipalKind::User)
    }
}

impl fmt::Display for PrincipalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reference to a principal as it appears in requests and audit entries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PrincipalRef {
    pub kind: PrincipalKind,
    pub name: String,
}

impl fmt::Display for PrincipalRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}::\"{}\"", self.kind, self.name)
    }
}

/// A directory entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub name: String,
    pub kind: PrincipalKind,
    #[serde(default)]
    pub groups: Vec<String>,
    /// The accountable human of an agent; required for agents, absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default)]
    pub disabled: bool,
    pub created_at: Timestamp,
}

impl Principal {
    pub fn reference(&self) -> PrincipalRef {
        PrincipalRef {
            kind: self.kind,
            name: self.name.clone(),
        }
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

/// Why a principal definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    #[error(
        "invalid name `{0}`: use 1-128 of letters, digits, `.`, `_`, `-`, `@`, starting with a letter or digit"
    )]
    InvalidName(String),
    #[error("invalid group `{0}`: use 1-64 of letters, digits, `.`, `_`, `-`")]
    InvalidGroup(String),
    #[error("agent `{0}` must name an accountable owner (a user)")]
    AgentWithoutOwner(String),
    #[error("only agents have owners; `{0}` is a {1}")]
    OwnerOnNonAgent(String, PrincipalKind),
    #[error("owner `{0}` is not an enabled user")]
    InvalidOwner(String),
}

/// Checks a principal name.
pub fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// Checks a group name.
pub fn valid_group(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl Principal {
    /// Validates the shape of a new principal (the owner's existence is the
    /// governor's check, against the directory).
    pub fn validate(&self) -> Result<(), PrincipalError> {
        if !valid_name(&self.name) {
            return Err(PrincipalError::InvalidName(self.name.clone()));
        }
        if let Some(g) = self.groups.iter().find(|g| !valid_group(g)) {
            return Err(PrincipalError::InvalidGroup(g.clone()));
        }
        match (self.kind, &self.owner) {
            (PrincipalKind::Agent, None) => {
                Err(PrincipalError::AgentWithoutOwner(self.name.clone()))
            }
            (PrincipalKind::Agent, Some(o)) if !valid_name(o) => {
                Err(PrincipalError::InvalidName(o.clone()))
            }
            (k, Some(_)) if k != PrincipalKind::Agent => {
                Err(PrincipalError::OwnerOnNonAgent(self.name.clone(), k))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(kind: PrincipalKind, name: &str, owner: Option<&str>) -> Principal {
        Principal {
            name: name.into(),
            kind,
            groups: vec![],
            owner: owner.map(Into::into),
            email: None,
            disabled: false,
            created_at: Timestamp(0),
        }
    }

    #[test]
    fn agents_need_owners_and_only_agents_have_them() {
        assert_eq!(
            p(PrincipalKind::Agent, "bot", None).validate(),
            Err(PrincipalError::AgentWithoutOwner("bot".into()))
        );
        assert!(
            p(PrincipalKind::Agent, "bot", Some("alice"))
                .validate()
                .is_ok()
        );
        assert!(
            p(PrincipalKind::User, "bob", Some("alice"))
                .validate()
                .is_err()
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("alice@example.com"));
        assert!(valid_name("deploy-bot.v2"));
        assert!(!valid_name(""));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a b"));
        assert!(!valid_name("a\"b"));
        assert!(!valid_name(&"a".repeat(129)));
    }
}
