//! Producing a signed note.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{MAX_NOTE_SIZE, SIG_PREFIX, Signer, check_text_chars};
use crate::error::{Result, TlogError};

/// Signs `text` and returns the signed note:
/// `text ‖ "\n" ‖ "— " ‖ name ‖ " " ‖ base64(key ID ‖ signature) ‖ "\n"`.
///
/// `text` must end with a newline and contain no control characters other
/// than newline, so that [`super::open_note`] accepts the result.
pub fn sign_note(text: &str, signer: &Signer) -> Result<String> {
    if !text.ends_with('\n') {
        return Err(TlogError::MalformedNote("text must end with a newline"));
    }
    check_text_chars(text)?;
    let mut blob = [0u8; 68];
    blob[..4].copy_from_slice(&signer.key_id().to_be_bytes());
    blob[4..].copy_from_slice(&signer.sign_bytes(text.as_bytes()));
    let note = format!(
        "{text}\n{SIG_PREFIX}{} {}\n",
        signer.name(),
        STANDARD.encode(blob)
    );
    if note.len() > MAX_NOTE_SIZE {
        return Err(TlogError::MalformedNote("note would be larger than 1 MiB"));
    }
    Ok(note)
}
