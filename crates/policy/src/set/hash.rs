//! The policy set hash recorded with every decision.

use sha2::{Digest, Sha256};

use crate::PolicySource;

/// `sha256:<hex>` over the schema then the sources sorted by name, each as
/// `name NUL text NUL`.
pub(super) fn policy_set_hash(schema: &PolicySource, sources: &[PolicySource]) -> String {
    let mut sorted: Vec<&PolicySource> = sources.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut hasher = Sha256::new();
    for source in std::iter::once(schema).chain(sorted) {
        hasher.update(source.name.as_bytes());
        hasher.update([0]);
        hasher.update(source.text.as_bytes());
        hasher.update([0]);
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}
