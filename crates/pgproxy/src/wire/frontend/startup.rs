//! Startup-phase packets: no type byte, a length and a code.

use crate::wire::DecodeError;
use crate::wire::cursor::Cursor;

const SSL_REQUEST: i32 = 80_877_103;
const GSSENC_REQUEST: i32 = 80_877_104;
const CANCEL_REQUEST: i32 = 80_877_102;

/// A packet sent before authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupPacket {
    SslRequest,
    GssEncRequest,
    Cancel(CancelRequest),
    Startup(Startup),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CancelRequest {
    pub pid: i32,
    pub secret: i32,
}

/// `StartupMessage`: protocol version and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Startup {
    pub major: u16,
    pub minor: u16,
    pub params: Vec<(String, String)>,
}

impl Startup {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0, 0, 0, 0];
        out.extend_from_slice(&self.major.to_be_bytes());
        out.extend_from_slice(&self.minor.to_be_bytes());
        for (k, v) in &self.params {
            crate::wire::cursor::put_cstr(&mut out, k);
            crate::wire::cursor::put_cstr(&mut out, v);
        }
        out.push(0);
        let len = u32::try_from(out.len()).unwrap_or(u32::MAX);
        out[..4].copy_from_slice(&len.to_be_bytes());
        out
    }
}

impl CancelRequest {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&16i32.to_be_bytes());
        out.extend_from_slice(&CANCEL_REQUEST.to_be_bytes());
        out.extend_from_slice(&self.pid.to_be_bytes());
        out.extend_from_slice(&self.secret.to_be_bytes());
        out
    }
}

/// The `SSLRequest` packet, for connecting to an upstream with TLS.
pub fn ssl_request() -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&8i32.to_be_bytes());
    out[4..].copy_from_slice(&SSL_REQUEST.to_be_bytes());
    out
}

impl StartupPacket {
    /// Decodes a packet body (after the length).
    pub fn decode(body: &[u8]) -> Result<StartupPacket, DecodeError> {
        let mut c = Cursor::new(body, "startup");
        let code = c.i32()?;
        match code {
            SSL_REQUEST => {
                c.finish()?;
                Ok(StartupPacket::SslRequest)
            }
            GSSENC_REQUEST => {
                c.finish()?;
                Ok(StartupPacket::GssEncRequest)
            }
            CANCEL_REQUEST => {
                let pid = c.i32()?;
                let secret = c.i32()?;
                c.finish()?;
                Ok(StartupPacket::Cancel(CancelRequest { pid, secret }))
            }
            _ => {
                let major = u16::try_from((code >> 16) & 0xffff).unwrap_or(0);
                let minor = u16::try_from(code & 0xffff).unwrap_or(0);
                if major != 3 {
                    return Err(DecodeError::UnsupportedVersion { major, minor });
                }
                let mut params = Vec::new();
                loop {
                    let k = c.cstr()?;
                    if k.is_empty() {
                        break;
                    }
                    let v = c.cstr()?;
                    if params.iter().any(|(pk, _): &(String, String)| pk == k) {
                        return Err(DecodeError::Malformed {
                            message: "startup",
                            why: "a parameter is given twice",
                        });
                    }
                    params.push((k.to_owned(), v.to_owned()));
                }
                c.finish()?;
                Ok(StartupPacket::Startup(Startup {
                    major,
                    minor,
                    params,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn startup_round_trips_and_rejects_trailing_bytes() {
        let s = Startup {
            major: 3,
            minor: 0,
            params: vec![
                ("user".into(), "bob".into()),
                ("database".into(), "db".into()),
            ],
        };
        let enc = s.encode();
        assert_eq!(
            StartupPacket::decode(&enc[4..]).unwrap(),
            StartupPacket::Startup(s)
        );
        let mut bad = enc[4..].to_vec();
        bad.push(1);
        assert!(StartupPacket::decode(&bad).is_err());
        assert_eq!(
            StartupPacket::decode(&ssl_request()[4..]).unwrap(),
            StartupPacket::SslRequest
        );
    }
}
