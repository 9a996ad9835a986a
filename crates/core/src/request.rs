//! The one thing every front produces: an [`ActionRequest`]. Its canonical
//! form (RFC 8785 JSON of principal, action, resource, environment and
//! payload) is hashed; an approval is bound to that hash, so an approval for
//! one statement can never release another.

use crate::principal::PrincipalRef;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;

/// A typed resource, e.g. `Table::"orders"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceRef {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}::{:?}", self.kind, self.id)
    }
}

impl ResourceRef {
    /// Parses `Type::"id"` (Cedar syntax) or `Type::id`.
    pub fn parse(s: &str) -> Option<Self> {
        let (kind, id) = s.split_once("::")?;
        let id = id
            .strip_prefix('"')
            .and_then(|i| i.strip_suffix('"'))
            .unwrap_or(id);
        let kind_ok = !kind.is_empty()
            && kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && kind.starts_with(|c: char| c.is_ascii_alphabetic());
        (kind_ok && !id.is_empty()).then(|| ResourceRef {
            kind: kind.to_owned(),
            id: id.to_owned(),
        })
    }
}

/// An action someone wants to take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRequest {
    pub principal: PrincipalRef,
    pub action: String,
    pub resource: ResourceRef,
    pub environment: String,
    /// Facts about the action (SQL text, tool arguments …), given to policy.
    #[serde(default)]
    pub context: Map<String, Value>,
}

/// SHA-256 of the canonical request, hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestHash(pub String);

impl fmt::Display for RequestHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a request cannot be hashed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("context cannot be canonicalized: {0}")]
pub struct CanonicalError(pub String);

impl ActionRequest {
    /// The canonical JSON of this request (RFC 8785).
    pub fn canonical(&self) -> Result<Vec<u8>, CanonicalError> {
        let v = serde_json::json!({
            "principal": { "kind": self.principal.kind.as_str(), "name": self.principal.name },
            "action": self.action,
            "resource": { "type": self.resource.kind, "id": self.resource.id },
            "environment": self.environment,
            "payload": Value::Object(self.context.clone()),
        });
        countersign_tlog::canonical::canonicalize(&v).map_err(|e| CanonicalError(e.to_string()))
    }

    /// The hash an approval binds to.
    pub fn hash(&self) -> Result<RequestHash, CanonicalError> {
        Ok(RequestHash(hex::encode(Sha256::digest(self.canonical()?))))
    }
}

/// Checks an action name: `namespace.verb`, lowercase letters, digits, `_`, `-`.
pub fn valid_action(s: &str) -> bool {
    let ok = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    };
    s.len() <= 64 && s.split('.').count() >= 2 && s.split('.').all(ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::PrincipalKind;

    fn req(ctx: Value) -> ActionRequest {
        ActionRequest {
            principal: PrincipalRef {
                kind: PrincipalKind::Agent,
                name: "bot".into(),
            },
            action: "sql.ddl".into(),
            resource: ResourceRef {
                kind: "Table".into(),
                id: "orders".into(),
            },
            environment: "prod".into(),
            context: ctx.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn hash_ignores_key_order_but_not_content() {
        let a = req(serde_json::json!({"sql": {"statement": "DROP TABLE orders", "n": 1}}));
        let b: ActionRequest = serde_json::from_str(
            r#"{"context":{"sql":{"n":1,"statement":"DROP TABLE orders"}},"environment":"prod",
                "resource":{"id":"orders","type":"Table"},"action":"sql.ddl",
                "principal":{"name":"bot","kind":"Agent"}}"#,
        )
        .unwrap();
        assert_eq!(a.hash().unwrap(), b.hash().unwrap());
        let c = req(serde_json::json!({"sql": {"statement": "DROP TABLE orders;", "n": 1}}));
        assert_ne!(a.hash().unwrap(), c.hash().unwrap());
        let mut d = a.clone();
        d.environment = "staging".into();
        assert_ne!(a.hash().unwrap(), d.hash().unwrap());
    }

    #[test]
    fn resource_parse() {
        assert_eq!(
            ResourceRef::parse(r#"Model::"fraud-detector""#),
            Some(ResourceRef {
                kind: "Model".into(),
                id: "fraud-detector".into()
            })
        );
        assert_eq!(
            ResourceRef::parse("Table::orders").map(|r| r.id),
            Some("orders".into())
        );
        assert!(ResourceRef::parse("orders").is_none());
        assert!(ResourceRef::parse("::x").is_none());
    }

    #[test]
    fn action_names() {
        assert!(valid_action("sql.read"));
        assert!(valid_action("repo.delete"));
        assert!(!valid_action("sql"));
        assert!(!valid_action("SQL.read"));
        assert!(!valid_action("sql..read"));
    }
}
