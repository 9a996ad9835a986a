//! `Authentication*` requests from a server (or from us, to a client).

use crate::wire::DecodeError;
use crate::wire::cursor::{Cursor, frame, put_cstr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    Ok,
    CleartextPassword,
    Md5Password {
        salt: [u8; 4],
    },
    Sasl {
        mechanisms: Vec<String>,
    },
    SaslContinue {
        data: Vec<u8>,
    },
    SaslFinal {
        data: Vec<u8>,
    },
    /// Kerberos, GSSAPI, SSPI: not supported towards an upstream.
    Unsupported(i32),
}

impl Authentication {
    pub fn decode(body: &[u8]) -> Result<Authentication, DecodeError> {
        let mut c = Cursor::new(body, "Authentication");
        let code = c.i32()?;
        let a = match code {
            0 => Authentication::Ok,
            3 => Authentication::CleartextPassword,
            5 => {
                let s = c.bytes(4)?;
                Authentication::Md5Password {
                    salt: [s[0], s[1], s[2], s[3]],
                }
            }
            10 => {
                let mut mechanisms = Vec::new();
                loop {
                    let m = c.cstr()?;
                    if m.is_empty() {
                        break;
                    }
                    mechanisms.push(m.to_owned());
                }
                Authentication::Sasl { mechanisms }
            }
            11 => Authentication::SaslContinue {
                data: c.rest().to_vec(),
            },
            12 => Authentication::SaslFinal {
                data: c.rest().to_vec(),
            },
            other => {
                c.rest();
                Authentication::Unsupported(other)
            }
        };
        c.finish()?;
        Ok(a)
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        frame(out, b'R', |o| match self {
            Authentication::Ok => o.extend_from_slice(&0i32.to_be_bytes()),
            Authentication::CleartextPassword => o.extend_from_slice(&3i32.to_be_bytes()),
            Authentication::Md5Password { salt } => {
                o.extend_from_slice(&5i32.to_be_bytes());
                o.extend_from_slice(salt);
            }
            Authentication::Sasl { mechanisms } => {
                o.extend_from_slice(&10i32.to_be_bytes());
                for m in mechanisms {
                    put_cstr(o, m);
                }
                o.push(0);
            }
            Authentication::SaslContinue { data } => {
                o.extend_from_slice(&11i32.to_be_bytes());
                o.extend_from_slice(data);
            }
            Authentication::SaslFinal { data } => {
                o.extend_from_slice(&12i32.to_be_bytes());
                o.extend_from_slice(data);
            }
            Authentication::Unsupported(code) => o.extend_from_slice(&code.to_be_bytes()),
        });
    }
}
