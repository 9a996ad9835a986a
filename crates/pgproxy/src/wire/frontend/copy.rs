//! COPY sub-protocol messages from the client.

use crate::wire::DecodeError;
use crate::wire::cursor::Cursor;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyFail {
    pub message: String,
}

impl CopyFail {
    pub fn decode(body: &[u8]) -> Result<CopyFail, DecodeError> {
        let mut c = Cursor::new(body, "CopyFail");
        let message = String::from_utf8_lossy(c.cstr_bytes()?).into_owned();
        c.finish()?;
        Ok(CopyFail { message })
    }
}
