//! Small backend messages: `CommandComplete`, `NotificationResponse`,
//! `Copy*Response`, `ParameterDescription`.

use crate::wire::DecodeError;
use crate::wire::cursor::Cursor;

/// `CommandComplete`: the command tag, e.g. `UPDATE 3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandComplete {
    pub tag: String,
}

impl CommandComplete {
    pub fn decode(body: &[u8]) -> Result<CommandComplete, DecodeError> {
        let mut c = Cursor::new(body, "CommandComplete");
        let tag = String::from_utf8_lossy(c.cstr_bytes()?).into_owned();
        c.finish()?;
        Ok(CommandComplete { tag })
    }

    /// Rows affected or returned, from the tag's last number.
    pub fn rows(&self) -> Option<u64> {
        let last = self.tag.rsplit(' ').next()?;
        let first = self.tag.split(' ').next()?;
        matches!(
            first,
            "INSERT" | "UPDATE" | "DELETE" | "SELECT" | "MERGE" | "COPY" | "FETCH" | "MOVE"
        )
        .then(|| last.parse().ok())
        .flatten()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub pid: i32,
    pub channel: String,
    pub payload: String,
}

impl Notification {
    pub fn decode(body: &[u8]) -> Result<Notification, DecodeError> {
        let mut c = Cursor::new(body, "NotificationResponse");
        let pid = c.i32()?;
        let channel = String::from_utf8_lossy(c.cstr_bytes()?).into_owned();
        let payload = String::from_utf8_lossy(c.cstr_bytes()?).into_owned();
        c.finish()?;
        Ok(Notification {
            pid,
            channel,
            payload,
        })
    }
}

/// `CopyInResponse`, `CopyOutResponse`, `CopyBothResponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyResponse {
    pub binary: bool,
    pub column_formats: Vec<i16>,
}

impl CopyResponse {
    pub fn decode(body: &[u8]) -> Result<CopyResponse, DecodeError> {
        let mut c = Cursor::new(body, "CopyResponse");
        let binary = c.u8()? != 0;
        let n = c.count16()?;
        let mut column_formats = Vec::with_capacity(n.min(c.remaining() / 2));
        for _ in 0..n {
            column_formats.push(c.i16()?);
        }
        c.finish()?;
        Ok(CopyResponse {
            binary,
            column_formats,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterDescription {
    pub types: Vec<u32>,
}

impl ParameterDescription {
    pub fn decode(body: &[u8]) -> Result<ParameterDescription, DecodeError> {
        let mut c = Cursor::new(body, "ParameterDescription");
        let n = c.count16()?;
        let mut types = Vec::with_capacity(n.min(c.remaining() / 4));
        for _ in 0..n {
            types.push(c.u32()?);
        }
        c.finish()?;
        Ok(ParameterDescription { types })
    }
}
