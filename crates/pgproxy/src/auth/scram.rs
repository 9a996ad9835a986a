//! The server side of SCRAM-SHA-256 (RFC 5802, RFC 7677), as PostgreSQL
//! runs it: no channel binding, the user name from the startup packet.
//!
//! Countersign stores tokens as SHA-256 of their secret, from which no
//! SCRAM verifier can be derived. The proxy therefore keeps, in memory, the
//! verifier of the last token a principal presented over TLS (where the
//! token is seen and checked by the governor); after that first TLS login,
//! the same principal can authenticate with SCRAM without TLS. The token
//! behind a verifier is re-checked (revoked? expired?) at every login.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What the server keeps to check a password it never sees.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    pub token_id: String,
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("token_id", &self.token_id)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Derives a verifier from a password (PBKDF2, 4096 iterations).
    pub fn derive(token_id: &str, password: &str) -> Option<Verifier> {
        // `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`
        let s = postgres_protocol::password::scram_sha_256(password.as_bytes());
        let rest = s.strip_prefix("SCRAM-SHA-256$")?;
        let (iter_salt, keys) = rest.split_once('$')?;
        let (iter, salt) = iter_salt.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        Some(Verifier {
            token_id: token_id.to_owned(),
            salt: STANDARD.decode(salt).ok()?,
            iterations: iter.parse().ok()?,
            stored_key: STANDARD.decode(stored).ok()?,
            server_key: STANDARD.decode(server).ok()?,
        })
    }

    /// A verifier no password matches (for users without one, so that the
    /// exchange looks the same either way).
    pub fn impossible() -> Verifier {
        let mut salt = [0u8; 16];
        let _ = getrandom::fill(&mut salt);
        Verifier {
            token_id: String::new(),
            salt: salt.to_vec(),
            iterations: 4096,
            stored_key: vec![0; 32],
            server_key: vec![0; 32],
        }
    }
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// Why an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    #[error("channel binding is not supported")]
    ChannelBinding,
    #[error("wrong password")]
    WrongProof,
}

/// After the client's first message: the server's first message is sent.
#[derive(Debug)]
pub struct ExpectClientFinal {
    client_first_bare: String,
    server_first: String,
    nonce: String,
    gs2_header: String,
    verifier: Verifier,
}

/// Handles `client-first-message`; returns the state and `server-first-message`.
pub fn server_first(
    client_first: &[u8],
    verifier: Verifier,
) -> Result<(ExpectClientFinal, String), ScramError> {
    let msg = std::str::from_utf8(client_first).map_err(|_| ScramError::Malformed("not UTF-8"))?;
    // gs2-header: cbind-flag "," [authzid] ","
    let (flag, rest) = msg
        .split_once(',')
        .ok_or(ScramError::Malformed("no gs2 header"))?;
    match flag {
        "n" | "y" => {}
        f if f.starts_with("p=") => return Err(ScramError::ChannelBinding),
        _ => return Err(ScramError::Malformed("bad channel binding flag")),
    }
    let (authzid, bare) = rest
        .split_once(',')
        .ok_or(ScramError::Malformed("no gs2 header"))?;
    if !authzid.is_empty() {
        return Err(ScramError::Malformed("authzid is not supported"));
    }
    let gs2_header = format!("{flag},{authzid},");
    let client_nonce = bare
        .split(',')
        .find_map(|a| a.strip_prefix("r="))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b','))
        .ok_or(ScramError::Malformed("no client nonce"))?;
    if bare.starts_with("m=") {
        return Err(ScramError::Malformed("extensions are not supported"));
    }
    let mut raw = [0u8; 18];
    let _ = getrandom::fill(&mut raw);
    let nonce = format!("{client_nonce}{}", STANDARD.encode(raw));
    let server_first = format!(
        "r={nonce},s={},i={}",
        STANDARD.encode(&verifier.salt),
        verifier.iterations
    );
    Ok((
        ExpectClientFinal {
            client_first_bare: bare.to_owned(),
            server_first: server_first.clone(),
            nonce,
            gs2_header,
            verifier,
        },
        server_first,
    ))
}

impl ExpectClientFinal {
    /// Checks `client-final-message`; returns `server-final-message`.
    pub fn finish(self, client_final: &[u8]) -> Result<(String, Verifier), ScramError> {
        let msg =
            std::str::from_utf8(client_final).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (without_proof, proof) = msg
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("no proof"))?;
        let mut attrs = without_proof.split(',');
        let cbind = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or(ScramError::Malformed("no channel binding"))?;
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramError::Malformed("no nonce"))?;
        if STANDARD.decode(cbind).ok().as_deref() != Some(self.gs2_header.as_bytes()) {
            return Err(ScramError::Malformed("channel binding does not match"));
        }
        if nonce.as_bytes().ct_eq(self.nonce.as_bytes()).unwrap_u8() != 1 {
            return Err(ScramError::Malformed("nonce does not match"));
        }
        let proof = STANDARD
            .decode(proof)
            .map_err(|_| ScramError::Malformed("proof is not base64"))?;
        if proof.len() != 32 {
            return Err(ScramError::Malformed("proof has the wrong length"));
        }
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, without_proof
        );
        let signature = hmac(&self.verifier.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        let stored = Sha256::digest(&client_key);
        if stored
            .as_slice()
            .ct_eq(&self.verifier.stored_key)
            .unwrap_u8()
            != 1
        {
            return Err(ScramError::WrongProof);
        }
        let server_sig = hmac(&self.verifier.server_key, auth_message.as_bytes());
        Ok((format!("v={}", STANDARD.encode(server_sig)), self.verifier))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
    use super::*;
    use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};

    #[test]
    fn a_client_with_the_password_authenticates_and_checks_the_server() {
        let v = Verifier::derive("id1", "cs_token_secret").unwrap();
        let mut client = ScramSha256::new(b"cs_token_secret", ChannelBinding::unsupported());
        let (state, first) = server_first(client.message(), v).unwrap();
        client.update(first.as_bytes()).unwrap();
        let (last, v) = state.finish(client.message()).unwrap();
        client.finish(last.as_bytes()).unwrap();
        assert_eq!(v.token_id, "id1");
    }

    #[test]
    fn a_wrong_password_or_the_impossible_verifier_fails() {
        for v in [
            Verifier::derive("id1", "right").unwrap(),
            Verifier::impossible(),
        ] {
            let mut client = ScramSha256::new(b"wrong", ChannelBinding::unsupported());
            let (state, first) = server_first(client.message(), v).unwrap();
            client.update(first.as_bytes()).unwrap();
            assert_eq!(
                state.finish(client.message()).unwrap_err(),
                ScramError::WrongProof
            );
        }
    }
}
