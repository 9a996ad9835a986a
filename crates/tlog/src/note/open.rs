//! Parsing and verifying a signed note.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{MAX_NOTE_SIZE, MAX_SIGNATURES, SIG_PREFIX, Verifier, check_name, check_text_chars};
use crate::error::{Result, TlogError};

/// One parsed signature line.
struct SigLine<'a> {
    name: &'a str,
    key_id: u32,
    sig: Vec<u8>,
}

/// Parses `— <name> <base64(key ID ‖ signature)>`.
fn parse_sig_line(line: &str) -> Result<SigLine<'_>> {
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .ok_or(TlogError::MalformedNote(
            "signature line must start with `— `",
        ))?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or(TlogError::MalformedNote("signature line has no signature"))?;
    check_name(name)
        .map_err(|_| TlogError::MalformedNote("signature line has an invalid key name"))?;
    let blob = STANDARD
        .decode(b64)
        .map_err(|_| TlogError::MalformedNote("signature is not standard base64"))?;
    match blob.split_at_checked(4) {
        Some((id, sig)) if !sig.is_empty() => Ok(SigLine {
            name,
            key_id: u32::from_be_bytes([id[0], id[1], id[2], id[3]]),
            sig: sig.to_vec(),
        }),
        _ => Err(TlogError::MalformedNote("signature is too short")),
    }
}

/// Opens a signed note: checks its syntax, verifies the signatures made by
/// `verifiers`, and returns the text and the names of the keys that signed.
///
/// Signatures by unknown keys are skipped (a note may carry witness
/// cosignatures we do not track), but a signature by a known key that does
/// not verify is an error, and so is a note that no known key signed.
/// Notes over [`MAX_NOTE_SIZE`] bytes or with more than [`MAX_SIGNATURES`]
/// signature lines are refused before any signature is checked. A key that
/// signed twice is listed once.
pub fn open_note(note: &[u8], verifiers: &[Verifier]) -> Result<(String, Vec<String>)> {
    if note.len() > MAX_NOTE_SIZE {
        return Err(TlogError::MalformedNote("note is larger than 1 MiB"));
    }
    let note = std::str::from_utf8(note)
        .map_err(|_| TlogError::MalformedNote("note is not valid utf-8"))?;
    check_text_chars(note)?;
    // The signature block is everything after the last blank line.
    let split = note.rfind("\n\n").ok_or(TlogError::MalformedNote(
        "no blank line before the signatures",
    ))?;
    let (text, block) = (&note[..=split], &note[split + 2..]);
    let block = block.strip_suffix('\n').ok_or(TlogError::MalformedNote(
        "signature block must end with a newline",
    ))?;

    let mut lines = Vec::new();
    for line in block.split('\n') {
        if lines.len() == MAX_SIGNATURES {
            return Err(TlogError::MalformedNote("more than 100 signatures"));
        }
        lines.push(parse_sig_line(line)?);
    }

    let mut signers: Vec<(String, u32)> = Vec::new();
    for line in lines {
        let mut known = verifiers
            .iter()
            .filter(|v| v.name() == line.name && v.key_id() == line.key_id);
        let Some(verifier) = known.next() else {
            continue;
        };
        if known.any(|other| other != verifier) {
            return Err(TlogError::AmbiguousKey {
                name: line.name.to_owned(),
                key_id: line.key_id,
            });
        }
        if signers
            .iter()
            .any(|(n, id)| n == line.name && *id == line.key_id)
        {
            continue;
        }
        if !verifier.verify(text.as_bytes(), &line.sig) {
            return Err(TlogError::InvalidSignature {
                name: line.name.to_owned(),
                key_id: line.key_id,
            });
        }
        signers.push((line.name.to_owned(), line.key_id));
    }
    if signers.is_empty() {
        return Err(TlogError::UnverifiedNote);
    }
    Ok((
        text.to_owned(),
        signers.into_iter().map(|(name, _)| name).collect(),
    ))
}
