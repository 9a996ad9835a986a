//! `Bind` (extended protocol): parameters for a prepared statement, making
//! a portal.

use crate::wire::DecodeError;
use crate::wire::cursor::Cursor;
use bytes::Bytes;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub portal: String,
    pub statement: String,
    /// Zero codes: all text; one: applies to all; else one per parameter.
    pub param_formats: Vec<i16>,
    pub params: Vec<Option<Bytes>>,
    pub result_formats: Vec<i16>,
}

impl Bind {
    pub fn decode(whole: &Bytes) -> Result<Bind, DecodeError> {
        let mut c = Cursor::new(whole, "Bind");
        let malformed = |why| DecodeError::Malformed {
            message: "Bind",
            why,
        };
        let portal = c.cstr()?.to_owned();
        let statement = c.cstr()?.to_owned();
        let nf = c.count16()?;
        let mut param_formats = Vec::with_capacity(nf.min(c.remaining() / 2));
        for _ in 0..nf {
            let f = c.i16()?;
            if !(0..=1).contains(&f) {
                return Err(malformed("format code is neither 0 nor 1"));
            }
            param_formats.push(f);
        }
        let np = c.count16()?;
        if nf > 1 && nf != np {
            return Err(malformed("parameter format count does not match"));
        }
        let mut params = Vec::with_capacity(np.min(c.remaining() / 4));
        for _ in 0..np {
            params.push(c.value(whole)?);
        }
        let nr = c.count16()?;
        let mut result_formats = Vec::with_capacity(nr.min(c.remaining() / 2));
        for _ in 0..nr {
            let f = c.i16()?;
            if !(0..=1).contains(&f) {
                return Err(malformed("format code is neither 0 nor 1"));
            }
            result_formats.push(f);
        }
        c.finish()?;
        Ok(Bind {
            portal,
            statement,
            param_formats,
            params,
            result_formats,
        })
    }

    /// Whether parameter `i` is sent in binary.
    pub fn param_is_binary(&self, i: usize) -> bool {
        match self.param_formats.len() {
            0 => false,
            1 => self.param_formats[0] == 1,
            _ => self.param_formats.get(i).is_some_and(|&f| f == 1),
        }
    }
}
