//! Transparency-log primitives for Countersign's audit log.
//!
//! Pure functions and small types, no I/O: the store keeps the hashes, this
//! crate does the math and the formats, so that standard transparency-log
//! tools can check what Countersign publishes.
//!
//! - [`hash`]: RFC 9162 leaf and node hashes.
//! - [`tree`]: roots, inclusion and consistency proofs over any
//!   [`HashReader`], their verification, [`Frontier`] for appends and an
//!   in-memory [`MemoryTree`].
//! - [`note`]: C2SP signed notes with Ed25519 keys in Go's key encodings.
//! - [`checkpoint`]: C2SP tlog-checkpoint bodies, signed and opened.
//! - [`tiles`]: C2SP tlog-tiles paths and tile contents.
//! - [`canonical`]: RFC 8785 canonical JSON for entries.
//!
//! ```
//! use countersign_tlog::*;
//!
//! # fn main() -> Result<()> {
//! // Append canonical JSON entries.
//! let mut log = MemoryTree::new();
//! for n in 0..5 {
//!     let entry = canonicalize(&serde_json::json!({"n": n, "action": "query"}))?;
//!     log.push_entry(&entry)?;
//! }
//!
//! // Publish a signed checkpoint.
//! let signer = Signer::generate("countersign.example/audit")?;
//! let checkpoint = Checkpoint {
//!     origin: "countersign.example/audit".into(),
//!     size: log.size(),
//!     root: log.root(),
//!     extensions: vec![],
//! };
//! let note = checkpoint.sign(&signer)?;
//!
//! // A verifier trusts the checkpoint, then checks an entry against it.
//! let seen = Checkpoint::open(note.as_bytes(), &[signer.verifier()])?;
//! let proof = inclusion_proof(&log, 3, seen.size)?;
//! let entry = canonicalize(&serde_json::json!({"action": "query", "n": 3}))?;
//! verify_inclusion(&leaf_hash(&entry), 3, seen.size, &proof, &seen.root)?;
//! # Ok(())
//! # }
//! ```

pub mod canonical;
pub mod checkpoint;
mod error;
pub mod hash;
pub mod note;
pub mod tiles;
pub mod tree;

pub use canonical::canonicalize;
pub use checkpoint::Checkpoint;
pub use error::{Result, TlogError};
pub use hash::{Hash, empty_root, leaf_hash, node_hash};
pub use note::{Signer, Verifier, open_note, sign_note};
pub use tiles::{TileKind, TilePath, entries_path, parse_tile_path, tile_hashes, tile_path};
pub use tree::{
    Frontier, HashReader, MemoryTree, consistency_proof, inclusion_proof, root_at,
    verify_consistency, verify_inclusion,
};
