//! `ErrorResponse` and `NoticeResponse`: typed fields (severity, SQLSTATE,
//! message, detail, hint …).

use crate::wire::DecodeError;
use crate::wire::cursor::{Cursor, frame, put_cstr};

/// The fields of an error or notice, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fields {
    pub fields: Vec<(u8, String)>,
}

impl Fields {
    pub fn decode(body: &[u8], message: &'static str) -> Result<Fields, DecodeError> {
        let mut c = Cursor::new(body, message);
        let mut fields = Vec::new();
        loop {
            let code = c.u8()?;
            if code == 0 {
                break;
            }
            fields.push((code, String::from_utf8_lossy(c.cstr_bytes()?).into_owned()));
        }
        c.finish()?;
        Ok(Fields { fields })
    }

    pub fn get(&self, code: u8) -> Option<&str> {
        self.fields
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_str())
    }

    pub fn code(&self) -> Option<&str> {
        self.get(b'C')
    }

    pub fn message(&self) -> Option<&str> {
        self.get(b'M')
    }

    /// A new error or notice: severity, SQLSTATE, message.
    pub fn new(severity: &str, code: &str, message: impl Into<String>) -> Fields {
        Fields {
            fields: vec![
                (b'S', severity.to_owned()),
                (b'V', severity.to_owned()),
                (b'C', code.to_owned()),
                (b'M', message.into()),
            ],
        }
    }

    pub fn with(mut self, code: u8, value: impl Into<String>) -> Fields {
        self.fields.push((code, value.into()));
        self
    }

    fn encode(&self, tag: u8, out: &mut Vec<u8>) {
        frame(out, tag, |o| {
            for (code, v) in &self.fields {
                o.push(*code);
                put_cstr(o, v);
            }
            o.push(0);
        });
    }

    pub fn encode_error(&self, out: &mut Vec<u8>) {
        self.encode(b'E', out);
    }

    pub fn encode_notice(&self, out: &mut Vec<u8>) {
        self.encode(b'N', out);
    }
}
