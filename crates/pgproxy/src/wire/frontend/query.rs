//! `Query` (simple protocol): one string, possibly several statements.

use crate::wire::DecodeError;
use crate::wire::cursor::Cursor;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub sql: String,
}

impl Query {
    pub fn decode(body: &[u8]) -> Result<Query, DecodeError> {
        let mut c = Cursor::new(body, "Query");
        let sql = c.cstr()?.to_owned();
        c.finish()?;
        Ok(Query { sql })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        crate::wire::cursor::frame(out, b'Q', |o| crate::wire::cursor::put_cstr(o, &self.sql));
    }
}
