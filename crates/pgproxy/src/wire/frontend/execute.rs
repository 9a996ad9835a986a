//! `Execute` (extended protocol): run a portal, up to `max_rows` rows.

use crate::wire::DecodeError;
use crate::wire::cursor::Cursor;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execute {
    pub portal: String,
    /// 0: no limit.
    pub max_rows: i32,
}

impl Execute {
    pub fn decode(body: &[u8]) -> Result<Execute, DecodeError> {
        let mut c = Cursor::new(body, "Execute");
        let portal = c.cstr()?.to_owned();
        let max_rows = c.i32()?;
        c.finish()?;
        Ok(Execute { portal, max_rows })
    }
}
