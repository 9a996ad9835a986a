//! `DataRow`: one row of values; `None` is NULL.

use crate::wire::DecodeError;
use crate::wire::cursor::{Cursor, frame};
use bytes::Bytes;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRow {
    pub values: Vec<Option<Bytes>>,
}

impl DataRow {
    pub fn decode(whole: &Bytes) -> Result<DataRow, DecodeError> {
        let mut c = Cursor::new(whole, "DataRow");
        let n = c.count16()?;
        let mut values = Vec::with_capacity(n.min(c.remaining() / 4));
        for _ in 0..n {
            values.push(c.value(whole)?);
        }
        c.finish()?;
        Ok(DataRow { values })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        frame(out, b'D', |o| {
            let n = i16::try_from(self.values.len()).unwrap_or(i16::MAX);
            o.extend_from_slice(&n.to_be_bytes());
            for v in &self.values {
                match v {
                    None => o.extend_from_slice(&(-1i32).to_be_bytes()),
                    Some(b) => {
                        let len = i32::try_from(b.len()).unwrap_or(i32::MAX);
                        o.extend_from_slice(&len.to_be_bytes());
                        o.extend_from_slice(b);
                    }
                }
            }
        });
    }
}
