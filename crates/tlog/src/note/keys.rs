//! Ed25519 signer and verifier keys, encoded as Go's `sumdb/note` does.
//!
//! Private key: `PRIVATE+KEY+<name>+<key ID hex>+<base64(0x01 ‖ seed)>`.
//! Verifier key: `<name>+<key ID hex>+<base64(0x01 ‖ public key)>`.
//! The key ID is the first four bytes of
//! `SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)`, so it also binds the name.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::check_name;
use crate::error::{Result, TlogError};

/// Algorithm byte for Ed25519 in encoded keys.
const ALG_ED25519: u8 = 0x01;

/// Computes the C2SP key ID of an Ed25519 public key under `name`.
fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public_key);
    let digest = h.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Parses the `<key ID hex>` field: exactly eight hex digits.
fn parse_key_id(field: &str) -> Result<u32> {
    if field.len() != 8 || !field.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(TlogError::MalformedKey("key id must be 8 hex digits"));
    }
    u32::from_str_radix(field, 16)
        .map_err(|_| TlogError::MalformedKey("key id must be 8 hex digits"))
}

/// Parses the `<base64(0x01 ‖ 32 bytes)>` field.
fn parse_key_bytes(field: &str) -> Result<[u8; 32]> {
    let raw = STANDARD
        .decode(field)
        .map_err(|_| TlogError::MalformedKey("key material is not standard base64"))?;
    match raw.split_first() {
        Some((&ALG_ED25519, rest)) => rest
            .try_into()
            .map_err(|_| TlogError::MalformedKey("ed25519 key must be 32 bytes")),
        Some(_) => Err(TlogError::MalformedKey("unknown key algorithm")),
        None => Err(TlogError::MalformedKey("key material is empty")),
    }
}

fn encode_key_bytes(bytes: &[u8; 32]) -> String {
    let mut raw = [0u8; 33];
    raw[0] = ALG_ED25519;
    raw[1..].copy_from_slice(bytes);
    STANDARD.encode(raw)
}

/// Holds a note signing key. Its `Debug` output never shows the secret.
#[derive(Clone)]
pub struct Signer {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl Signer {
    /// A signer from a key name and a 32-byte Ed25519 seed.
    pub fn new(name: &str, seed: [u8; 32]) -> Result<Self> {
        check_name(name)?;
        let key = SigningKey::from_bytes(&seed);
        let key_id = key_id(name, key.verifying_key().as_bytes());
        Ok(Self {
            name: name.to_owned(),
            key_id,
            key,
        })
    }

    /// A fresh signer whose seed comes from the operating system.
    pub fn generate(name: &str) -> Result<Self> {
        check_name(name)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| TlogError::Randomness(e.to_string()))?;
        Self::new(name, seed)
    }

    /// Parses `PRIVATE+KEY+<name>+<key ID hex>+<base64(0x01 ‖ seed)>`.
    ///
    /// The key ID is checked against the public key derived from the seed,
    /// so a mangled key is refused instead of signing under the wrong ID.
    pub fn from_private_key(encoded: &str) -> Result<Self> {
        let rest = encoded
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(TlogError::MalformedKey(
                "private key must start with `PRIVATE+KEY+`",
            ))?;
        let (name, rest) = rest
            .split_once('+')
            .ok_or(TlogError::MalformedKey("private key has too few fields"))?;
        let (id, material) = rest
            .split_once('+')
            .ok_or(TlogError::MalformedKey("private key has too few fields"))?;
        check_name(name)?;
        let claimed = parse_key_id(id)?;
        let signer = Self::new(name, parse_key_bytes(material)?)?;
        if signer.key_id != claimed {
            return Err(TlogError::MalformedKey("key id does not match the key"));
        }
        Ok(signer)
    }

    /// Encodes the key as `PRIVATE+KEY+<name>+<key ID hex>+<base64>`. This is
    /// the secret: store it like a password.
    pub fn to_private_key(&self) -> String {
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id,
            encode_key_bytes(self.key.as_bytes())
        )
    }

    /// The matching verifier.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// The key name that appears on signature lines.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The C2SP key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Ed25519 signature of `msg` (deterministic).
    pub(crate) fn sign_bytes(&self, msg: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer as _;
        self.key.sign(msg).to_bytes()
    }
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

/// A public key that can check note signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl Verifier {
    /// A verifier from a key name and a 32-byte Ed25519 public key.
    pub fn new(name: &str, public_key: [u8; 32]) -> Result<Self> {
        check_name(name)?;
        let key = VerifyingKey::from_bytes(&public_key)
            .map_err(|_| TlogError::MalformedKey("not a valid ed25519 public key"))?;
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, &public_key),
            key,
        })
    }

    /// Parses `<name>+<key ID hex>+<base64(0x01 ‖ public key)>`.
    pub fn from_key(encoded: &str) -> Result<Self> {
        let (name, rest) = encoded
            .split_once('+')
            .ok_or(TlogError::MalformedKey("verifier key has too few fields"))?;
        let (id, material) = rest
            .split_once('+')
            .ok_or(TlogError::MalformedKey("verifier key has too few fields"))?;
        check_name(name)?;
        let claimed = parse_key_id(id)?;
        let verifier = Self::new(name, parse_key_bytes(material)?)?;
        if verifier.key_id != claimed {
            return Err(TlogError::MalformedKey("key id does not match the key"));
        }
        Ok(verifier)
    }

    /// Encodes the key as `<name>+<key ID hex>+<base64>`; safe to publish.
    pub fn to_key(&self) -> String {
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            encode_key_bytes(self.key.as_bytes())
        )
    }

    /// The key name that appears on signature lines.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The C2SP key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Whether `sig` is a valid Ed25519 signature of `msg` by this key.
    ///
    /// Uses strict verification (canonical encodings, no small-order keys):
    /// honest Ed25519 signers never produce what it rejects.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(bytes) = <[u8; 64]>::try_from(sig) else {
            return false;
        };
        self.key
            .verify_strict(msg, &Signature::from_bytes(&bytes))
            .is_ok()
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_key())
    }
}
