//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys.
//!
//! A signed note is UTF-8 text followed by a blank line and one line per
//! signature: `— <key name> <base64(key ID ‖ signature)>`. It is the envelope
//! that checkpoints travel in, so any witness or monitor that speaks the
//! format (Go's `golang.org/x/mod/sumdb/note`, Sigsum, Cloudflare's Rust
//! ports) can check our signatures and we can check theirs.

mod keys;
mod open;
mod sign;

pub use keys::{Signer, Verifier};
pub use open::open_note;
pub use sign::sign_note;

use crate::error::{Result, TlogError};

/// Largest signed note we will parse or produce. Checkpoints are a few
/// hundred bytes; the bound keeps hostile input cheap to reject.
pub const MAX_NOTE_SIZE: usize = 1 << 20;

/// Most signature lines we will look at in one note, known or not.
pub const MAX_SIGNATURES: usize = 100;

/// The prefix of every signature line: an em dash (U+2014) and a space.
pub(crate) const SIG_PREFIX: &str = "\u{2014} ";

/// C2SP key names are non-empty and contain no whitespace and no `+`
/// (which separates the fields of an encoded key).
pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(TlogError::InvalidKeyName(name.to_owned()));
    }
    Ok(())
}

/// Note text is UTF-8 (guaranteed by `&str`) without ASCII control
/// characters other than newline.
pub(crate) fn check_text_chars(text: &str) -> Result<()> {
    if text.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Err(TlogError::MalformedNote(
            "text contains a control character other than newline",
        ));
    }
    Ok(())
}
