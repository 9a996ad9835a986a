//! The crate's single error type.
//!
//! Every fallible function in this crate returns [`TlogError`], so callers
//! translate one type at their edge (HTTP problem, CLI message, …). Messages
//! are lowercase and put user-supplied values in backticks.

/// Everything that can go wrong in tree math, note handling, checkpoints,
/// tile paths and canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlogError {
    /// A [`crate::HashReader`] does not have a node that the computation needs.
    #[error("tree node at level {level}, index {index} is not available")]
    NodeNotFound {
        /// Height of the requested complete subtree.
        level: u8,
        /// Index of the subtree within its level.
        index: u64,
    },

    /// A leaf index is not inside the tree.
    #[error("leaf index {index} is out of range for tree size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size it was checked against.
        size: u64,
    },

    /// A consistency request where the old tree is bigger than the new one.
    #[error("old tree size {old_size} is greater than new tree size {new_size}")]
    SizeOrder {
        /// The claimed earlier size.
        old_size: u64,
        /// The claimed later size.
        new_size: u64,
    },

    /// A frontier (compact range) whose hash count does not match its size.
    #[error("a frontier for tree size {size} needs {expected} hashes, got {actual}")]
    FrontierSize {
        /// Tree size the frontier claims.
        size: u64,
        /// Number of hashes that size requires (its population count).
        expected: usize,
        /// Number of hashes supplied.
        actual: usize,
    },

    /// The tree would grow beyond `u64::MAX` leaves.
    #[error("tree is full")]
    TreeFull,

    /// An inclusion proof does not lead to the expected root.
    #[error("inclusion proof does not verify")]
    InclusionProofInvalid,

    /// A consistency proof does not link the two roots.
    #[error("consistency proof does not verify")]
    ConsistencyProofInvalid,

    /// A key name that C2SP signed-note does not allow.
    #[error("invalid key name `{0}`: it must be non-empty and contain no whitespace or `+`")]
    InvalidKeyName(String),

    /// An encoded signer or verifier key that cannot be parsed.
    #[error("malformed key: {0}")]
    MalformedKey(&'static str),

    /// The operating system could not provide randomness for a new key.
    #[error("cannot read operating-system randomness: {0}")]
    Randomness(String),

    /// Note text or a signed note that does not follow C2SP signed-note.
    #[error("malformed note: {0}")]
    MalformedNote(&'static str),

    /// A signed note with no signature from any of the given verifiers.
    #[error("note has no valid signature from a known key")]
    UnverifiedNote,

    /// A signature from a known key that does not verify.
    #[error("invalid signature for key `{name}+{key_id:08x}`")]
    InvalidSignature {
        /// Key name on the signature line.
        name: String,
        /// Key ID on the signature line.
        key_id: u32,
    },

    /// Two different verifiers share the same name and key ID.
    #[error("ambiguous key `{name}+{key_id:08x}`: several verifiers match")]
    AmbiguousKey {
        /// Key name on the signature line.
        name: String,
        /// Key ID on the signature line.
        key_id: u32,
    },

    /// Checkpoint text that does not follow C2SP tlog-checkpoint.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),

    /// A tile path that does not follow C2SP tlog-tiles.
    #[error("malformed tile path `{0}`")]
    MalformedTilePath(String),

    /// Tile coordinates that C2SP tlog-tiles cannot express.
    #[error("invalid tile: {0}")]
    InvalidTile(&'static str),

    /// A JSON value that this crate cannot canonicalize.
    #[error("cannot canonicalize json: {0}")]
    Canonical(String),
}

/// Shorthand used throughout the crate.
pub type Result<T, E = TlogError> = std::result::Result<T, E>;
