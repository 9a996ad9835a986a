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

/// Where the governor gets new ids: random in production,
/// [`SequentialIds`] where a test wants to know them in advance.
pub trait IdSource: Send + Sync + std::fmt::Debug + 'static {
    fn new_id(&self, prefix: &str) -> Result<String, GovernorError>;
}

/// [`new_id`]: time-ordered, unguessable.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomIds;

impl IdSource for RandomIds {
    fn new_id(&self, prefix: &str) -> Result<String, GovernorError> {
        new_id(prefix)
    }
}

/// `<prefix>_000…001`, `<prefix>_000…002`, … (tests: predictable, still
/// valid ids that sort in creation order).
#[derive(Debug, Default)]
pub struct SequentialIds(std::sync::atomic::AtomicU64);

impl IdSource for SequentialIds {
    fn new_id(&self, prefix: &str) -> Result<String, GovernorError> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        Ok(format!("{prefix}_{n:032x}"))
    }
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
