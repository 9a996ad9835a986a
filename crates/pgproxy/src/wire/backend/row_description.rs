//! `RowDescription`: the columns of a result, with their origin (table OID
//! and attribute number) when a column is a plain table column.

use crate::wire::DecodeError;
use crate::wire::cursor::Cursor;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// 0 when the column is not a plain table column.
    pub table_oid: u32,
    pub column: i16,
    pub type_oid: u32,
    pub type_size: i16,
    pub type_modifier: i32,
    pub format: i16,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RowDescription {
    pub fields: Vec<Field>,
}

impl RowDescription {
    pub fn decode(body: &[u8]) -> Result<RowDescription, DecodeError> {
        let mut c = Cursor::new(body, "RowDescription");
        let n = c.count16()?;
        let mut fields = Vec::with_capacity(n.min(c.remaining() / 19));
        for _ in 0..n {
            fields.push(Field {
                name: String::from_utf8_lossy(c.cstr_bytes()?).into_owned(),
                table_oid: c.u32()?,
                column: c.i16()?,
                type_oid: c.u32()?,
                type_size: c.i16()?,
                type_modifier: c.i32()?,
                format: c.i16()?,
            });
        }
        c.finish()?;
        Ok(RowDescription { fields })
    }
}
