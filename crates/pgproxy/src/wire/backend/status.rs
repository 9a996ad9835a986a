//! Session state messages: `ParameterStatus`, `BackendKeyData`,
//! `ReadyForQuery`, `NegotiateProtocolVersion`.

use crate::wire::DecodeError;
use crate::wire::cursor::{Cursor, frame, put_cstr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterStatus {
    pub name: String,
    pub value: String,
}

impl ParameterStatus {
    pub fn decode(body: &[u8]) -> Result<ParameterStatus, DecodeError> {
        let mut c = Cursor::new(body, "ParameterStatus");
        let name = String::from_utf8_lossy(c.cstr_bytes()?).into_owned();
        let value = String::from_utf8_lossy(c.cstr_bytes()?).into_owned();
        c.finish()?;
        Ok(ParameterStatus { name, value })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendKeyData {
    pub pid: i32,
    pub secret: i32,
}

impl BackendKeyData {
    pub fn decode(body: &[u8]) -> Result<BackendKeyData, DecodeError> {
        let mut c = Cursor::new(body, "BackendKeyData");
        let pid = c.i32()?;
        let secret = c.i32()?;
        c.finish()?;
        Ok(BackendKeyData { pid, secret })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        frame(out, b'K', |o| {
            o.extend_from_slice(&self.pid.to_be_bytes());
            o.extend_from_slice(&self.secret.to_be_bytes());
        });
    }
}

/// Transaction status in `ReadyForQuery`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxStatus {
    Idle,
    InTransaction,
    Failed,
}

impl TxStatus {
    pub fn byte(self) -> u8 {
        match self {
            TxStatus::Idle => b'I',
            TxStatus::InTransaction => b'T',
            TxStatus::Failed => b'E',
        }
    }
}

pub fn decode_ready(body: &[u8]) -> Result<TxStatus, DecodeError> {
    let mut c = Cursor::new(body, "ReadyForQuery");
    let s = match c.u8()? {
        b'I' => TxStatus::Idle,
        b'T' => TxStatus::InTransaction,
        b'E' => TxStatus::Failed,
        _ => {
            return Err(DecodeError::Malformed {
                message: "ReadyForQuery",
                why: "unknown transaction status",
            });
        }
    };
    c.finish()?;
    Ok(s)
}

pub fn encode_ready(status: TxStatus, out: &mut Vec<u8>) {
    frame(out, b'Z', |o| o.push(status.byte()));
}

/// `NegotiateProtocolVersion`: the newest minor version we speak and the
/// protocol options we did not recognize.
pub fn encode_negotiate(minor: i32, unrecognized: &[String], out: &mut Vec<u8>) {
    frame(out, b'v', |o| {
        o.extend_from_slice(&minor.to_be_bytes());
        let n = i32::try_from(unrecognized.len()).unwrap_or(i32::MAX);
        o.extend_from_slice(&n.to_be_bytes());
        for u in unrecognized {
            put_cstr(o, u);
        }
    });
}

pub fn encode_parameter_status(name: &str, value: &str, out: &mut Vec<u8>) {
    frame(out, b'S', |o| {
        put_cstr(o, name);
        put_cstr(o, value);
    });
}
