//! C2SP checkpoints (<https://c2sp.org/tlog-checkpoint>): the signed
//! statement "log `origin` had `size` entries with root `root`".
//!
//! Parsing is strict — one canonical text per checkpoint — so two parties
//! that accept the same checkpoint also agree on the bytes that were signed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::{Result, TlogError};
use crate::hash::Hash;
use crate::note::{MAX_NOTE_SIZE, Signer, Verifier, open_note, sign_note};

/// A transparency-log checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Unique name of the log, conventionally a schema-less URL.
    pub origin: String,
    /// Number of entries in the tree.
    pub size: u64,
    /// RFC 9162 root of the first `size` entries.
    pub root: Hash,
    /// Optional extension lines, each non-empty, without newlines.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note body: `origin\nsize\nbase64(root)\n` then one line per
    /// extension.
    pub fn to_note_text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for ext in &self.extensions {
            text.push_str(ext);
            text.push('\n');
        }
        text
    }

    /// Parses a note body strictly: non-empty origin, size in decimal
    /// without leading zeros, root in padded standard base64 of exactly 32
    /// bytes, non-empty extension lines, final newline.
    pub fn parse(text: &str) -> Result<Self> {
        if text.len() > MAX_NOTE_SIZE {
            return Err(TlogError::MalformedCheckpoint(
                "checkpoint is larger than 1 MiB",
            ));
        }
        let body = text
            .strip_suffix('\n')
            .ok_or(TlogError::MalformedCheckpoint(
                "text must end with a newline",
            ))?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(TlogError::MalformedCheckpoint(
                "needs origin, size and root lines",
            ));
        };
        if origin.is_empty() {
            return Err(TlogError::MalformedCheckpoint("origin is empty"));
        }
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(TlogError::MalformedCheckpoint("extension line is empty"));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size: parse_size(size)?,
            root: parse_root(root)?,
            extensions,
        })
    }

    /// Signs the checkpoint as a signed note.
    ///
    /// Refuses a checkpoint whose text would not parse back to itself
    /// (empty origin, newlines inside fields, empty extension lines).
    pub fn sign(&self, signer: &Signer) -> Result<String> {
        let text = self.to_note_text();
        if Self::parse(&text)? != *self {
            return Err(TlogError::MalformedCheckpoint(
                "fields contain newlines and would not parse back",
            ));
        }
        sign_note(&text, signer)
    }

    /// Opens a signed checkpoint: verifies the note with `verifiers` (see
    /// [`open_note`]) and parses its text.
    pub fn open(note: &[u8], verifiers: &[Verifier]) -> Result<Self> {
        let (text, _signers) = open_note(note, verifiers)?;
        Self::parse(&text)
    }
}

/// Decimal, digits only, no leading zeros except "0" itself.
fn parse_size(s: &str) -> Result<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if !canonical {
        return Err(TlogError::MalformedCheckpoint(
            "size is not a canonical decimal",
        ));
    }
    s.parse()
        .map_err(|_| TlogError::MalformedCheckpoint("size does not fit in 64 bits"))
}

/// Padded standard base64 of exactly 32 bytes.
fn parse_root(s: &str) -> Result<Hash> {
    let raw = STANDARD
        .decode(s)
        .map_err(|_| TlogError::MalformedCheckpoint("root is not standard base64"))?;
    raw.try_into()
        .map_err(|_| TlogError::MalformedCheckpoint("root is not 32 bytes"))
}
