//! `Parse` (extended protocol): a statement to prepare under a name.

use crate::wire::DecodeError;
use crate::wire::cursor::{Cursor, frame, put_cstr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parse {
    /// Empty for the unnamed statement.
    pub name: String,
    pub sql: String,
    pub param_types: Vec<u32>,
}

impl Parse {
    pub fn decode(body: &[u8]) -> Result<Parse, DecodeError> {
        let mut c = Cursor::new(body, "Parse");
        let name = c.cstr()?.to_owned();
        let sql = c.cstr()?.to_owned();
        let n = c.count16()?;
        let mut param_types = Vec::with_capacity(n.min(c.remaining() / 4));
        for _ in 0..n {
            param_types.push(c.u32()?);
        }
        c.finish()?;
        Ok(Parse {
            name,
            sql,
            param_types,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        frame(out, b'P', |o| {
            put_cstr(o, &self.name);
            put_cstr(o, &self.sql);
            let types = &self.param_types[..self.param_types.len().min(i16::MAX as usize)];
            let n = i16::try_from(types.len()).unwrap_or(i16::MAX);
            o.extend_from_slice(&n.to_be_bytes());
            for t in types {
                o.extend_from_slice(&t.to_be_bytes());
            }
        });
    }
}
