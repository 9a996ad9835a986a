//! Authentication responses from the client. They share one type byte
//! (`p`); which one is meant depends on what the server asked for.

use crate::wire::DecodeError;
use crate::wire::cursor::{Cursor, frame, put_cstr};

/// `PasswordMessage` (cleartext).
#[derive(Clone, PartialEq, Eq)]
pub struct Password {
    pub password: String,
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    pub fn decode(body: &[u8]) -> Result<Password, DecodeError> {
        let mut c = Cursor::new(body, "PasswordMessage");
        let password = c.cstr()?.to_owned();
        c.finish()?;
        Ok(Password { password })
    }

    pub fn encode(password: &str, out: &mut Vec<u8>) {
        frame(out, b'p', |o| put_cstr(o, password));
    }
}

/// `SASLInitialResponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslInitial {
    pub mechanism: String,
    pub data: Vec<u8>,
}

impl SaslInitial {
    pub fn decode(body: &[u8]) -> Result<SaslInitial, DecodeError> {
        let mut c = Cursor::new(body, "SASLInitialResponse");
        let mechanism = c.cstr()?.to_owned();
        let len = c.i32()?;
        let data = if len == -1 {
            Vec::new()
        } else {
            let n = usize::try_from(len).map_err(|_| DecodeError::Malformed {
                message: "SASLInitialResponse",
                why: "negative length",
            })?;
            c.bytes(n)?.to_vec()
        };
        c.finish()?;
        Ok(SaslInitial { mechanism, data })
    }

    pub fn encode(mechanism: &str, data: &[u8], out: &mut Vec<u8>) {
        frame(out, b'p', |o| {
            put_cstr(o, mechanism);
            let n = i32::try_from(data.len()).unwrap_or(i32::MAX);
            o.extend_from_slice(&n.to_be_bytes());
            o.extend_from_slice(data);
        });
    }
}

/// `SASLResponse`: the rest of the exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslResponse {
    pub data: Vec<u8>,
}

impl SaslResponse {
    pub fn decode(body: &[u8]) -> SaslResponse {
        SaslResponse {
            data: body.to_vec(),
        }
    }

    pub fn encode(data: &[u8], out: &mut Vec<u8>) {
        frame(out, b'p', |o| o.extend_from_slice(data));
    }
}
