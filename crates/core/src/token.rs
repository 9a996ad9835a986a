//! API tokens. A token is shown once, as `cs_<id>_<secret>`; the store keeps
//! only the id and SHA-256 of the secret. The secret has 256 bits of entropy,
//! so a fast hash is enough (no password stretching needed), and comparison
//! is constant-time.

use crate::error::GovernorError;
use crate::ids::random_bytes;
use crate::time::Timestamp;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "cs_";

/// What the store keeps about a token: never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: String,
    pub principal: String,
    /// Hex SHA-256 of the secret part.
    pub secret_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
}

impl TokenRecord {
    /// Usable now: not revoked, not expired.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }

    /// Constant-time check of a presented secret against the stored hash.
    pub fn matches(&self, secret: &str) -> bool {
        let presented = hex::encode(Sha256::digest(secret.as_bytes()));
        presented
            .as_bytes()
            .ct_eq(self.secret_hash.as_bytes())
            .into()
    }
}

/// A freshly issued token: the value goes to the caller once; the record to the store.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub value: String,
    pub record: TokenRecord,
}

/// Issues a token for `principal`.
pub fn issue(
    principal: &str,
    label: Option<String>,
    expires_at: Option<Timestamp>,
) -> Result<IssuedToken, GovernorError> {
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    random_bytes(&mut id)?;
    random_bytes(&mut secret)?;
    let id = hex::encode(id);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let record = TokenRecord {
        id: id.clone(),
        principal: principal.to_owned(),
        secret_hash: hex::encode(Sha256::digest(secret.as_bytes())),
        label,
        created_at: Timestamp::now(),
        expires_at,
        revoked_at: None,
    };
    Ok(IssuedToken {
        value: format!("{PREFIX}{id}_{secret}"),
        record,
    })
}

/// Splits a presented token into (id, secret) if it has the right shape.
/// Shape errors and unknown ids are reported identically by callers.
pub fn parse(value: &str) -> Option<(&str, &str)> {
    let rest = value.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let secret_ok = secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some((id, secret))
}

/// The public part of a token value, safe to log (`cs_<id>_…`).
pub fn redacted(value: &str) -> String {
    match parse(value) {
        Some((id, _)) => format!("{PREFIX}{id}_…"),
        None => "<malformed>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_token_parses_and_matches_only_its_secret() {
        let t = issue("alice", None, None).unwrap();
        let (id, secret) = parse(&t.value).unwrap();
        assert_eq!(id, t.record.id);
        assert!(t.record.matches(secret));
        assert!(!t.record.matches("x"));
        let mut other = secret.to_owned();
        other.replace_range(0..1, if secret.starts_with('A') { "B" } else { "A" });
        assert!(!t.record.matches(&other));
        assert!(!t.value.contains(&t.record.secret_hash));
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        for v in ["", "cs_", "cs_abc_def", "Bearer x", "cs_0123456789ab_short"] {
            assert!(parse(v).is_none(), "{v}");
        }
    }

    #[test]
    fn expiry_and_revocation() {
        let mut t = issue("a", None, Some(Timestamp(100))).unwrap().record;
        assert!(t.is_active(Timestamp(99)));
        assert!(!t.is_active(Timestamp(100)));
        t.expires_at = None;
        t.revoked_at = Some(Timestamp(5));
        assert!(!t.is_active(Timestamp(1)));
    }
}
