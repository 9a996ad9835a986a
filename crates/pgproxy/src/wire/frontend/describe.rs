//! `Describe` and `Close`: both name a statement or a portal.

use crate::wire::DecodeError;
use crate::wire::cursor::{Cursor, frame, put_cstr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Statement,
    Portal,
}

impl Target {
    fn decode(b: u8, message: &'static str) -> Result<Target, DecodeError> {
        match b {
            b'S' => Ok(Target::Statement),
            b'P' => Ok(Target::Portal),
            _ => Err(DecodeError::Malformed {
                message,
                why: "target is neither `S` nor `P`",
            }),
        }
    }

    fn byte(self) -> u8 {
        match self {
            Target::Statement => b'S',
            Target::Portal => b'P',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Describe {
    pub target: Target,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    pub target: Target,
    pub name: String,
}

fn decode(body: &[u8], message: &'static str) -> Result<(Target, String), DecodeError> {
    let mut c = Cursor::new(body, message);
    let target = Target::decode(c.u8()?, message)?;
    let name = c.cstr()?.to_owned();
    c.finish()?;
    Ok((target, name))
}

impl Describe {
    pub fn decode(body: &[u8]) -> Result<Describe, DecodeError> {
        let (target, name) = decode(body, "Describe")?;
        Ok(Describe { target, name })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        frame(out, b'D', |o| {
            o.push(self.target.byte());
            put_cstr(o, &self.name);
        });
    }
}

impl Close {
    pub fn decode(body: &[u8]) -> Result<Close, DecodeError> {
        let (target, name) = decode(body, "Close")?;
        Ok(Close { target, name })
    }
}
