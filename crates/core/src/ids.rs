//! Identifiers for decisions, approvals and requests: a short type prefix,
//! then 48 bits of milliseconds and 80 random bits (32 hex digits), so an id
//! says what it names, sorts by creation time, and cannot be guessed.
//! Time-ordered ids keep the store's primary-key inserts at the right edge
//! of its B-trees, which is what lets a batch of decisions commit by writing
//! a few pages instead of one random page each.

use crate::error::GovernorError;

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), GovernorError> {
    getrandom::fill(buf).map_err(|e| GovernorError::Internal(format!("no randomness: {e}")))
}

/// A new id `<prefix>_<12 hex ms><20 hex random>`.
pub fn new_id(prefix: &str) -> Result<String, GovernorError> {
    let mut b = [0u8; 16];
    let ms = u64::try_from(crate::time::Timestamp::now().millis()).unwrap_or(0);
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    random_bytes(&mut b[6..])?;
    Ok(format!("{prefix}_{}", hex::encode(b)))
}

/// True when `s` looks like an id with this prefix (cheap shape check before a lookup).
pub fn is_id(prefix: &str, s: &str) -> bool {
    s.strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('_'))
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub const DECISION: &str = "dec";
pub const APPROVAL: &str = "apr";
pub const REQUEST: &str = "req";
pub const CHANGE: &str = "chg";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_are_unique() {
        let a = new_id(APPROVAL).unwrap();
        let b = new_id(APPROVAL).unwrap();
        assert_ne!(a, b);
        assert!(is_id(APPROVAL, &a));
        assert!(!is_id(DECISION, &a));
        assert!(!is_id(APPROVAL, "apr_xyz"));
        // Later ids sort after earlier ones (millisecond prefix).
        std::thread::sleep(std::time::Duration::from_millis(2));
        let c = new_id(APPROVAL).unwrap();
        assert!(c > a && c > b);
    }
}
