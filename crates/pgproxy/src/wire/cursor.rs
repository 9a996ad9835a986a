//! A strict reader over one message body: every read is bounds-checked and
//! a message must be consumed exactly (trailing bytes are an error, as they
//! are for the server), so what we decode is what the server will decode.

use super::DecodeError;
use bytes::Bytes;

#[derive(Debug)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    /// The message being decoded, for error messages.
    what: &'static str,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8], what: &'static str) -> Self {
        Cursor { buf, pos: 0, what }
    }

    fn err(&self, why: &'static str) -> DecodeError {
        DecodeError::Malformed {
            message: self.what,
            why,
        }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| self.err("message ends early"))?;
        self.pos += 1;
        Ok(b)
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| self.err("message ends early"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub fn i16(&mut self) -> Result<i16, DecodeError> {
        let b = self.bytes(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        let b = self.bytes(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A count that must not be negative.
    pub fn count16(&mut self) -> Result<usize, DecodeError> {
        usize::try_from(self.i16()?).map_err(|_| self.err("negative count"))
    }

    /// A NUL-terminated string, as bytes (without the NUL).
    pub fn cstr_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let rest = &self.buf[self.pos..];
        let nul = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| self.err("string is not NUL-terminated"))?;
        self.pos += nul + 1;
        Ok(&rest[..nul])
    }

    /// A NUL-terminated UTF-8 string.
    pub fn cstr(&mut self) -> Result<&'a str, DecodeError> {
        let b = self.cstr_bytes()?;
        std::str::from_utf8(b).map_err(|_| self.err("string is not valid UTF-8"))
    }

    /// A length-prefixed value: `-1` is NULL.
    pub fn value(&mut self, whole: &Bytes) -> Result<Option<Bytes>, DecodeError> {
        let len = self.i32()?;
        if len == -1 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| self.err("negative value length"))?;
        let start = self.pos;
        self.bytes(len)?;
        Ok(Some(whole.slice(start..start + len)))
    }

    /// The rest of the message.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// Fails unless the whole message was read.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(self.err("unexpected bytes at the end of the message"))
        }
    }
}

/// Appends a big-endian length-prefixed message with `tag` to `out`.
pub fn frame(out: &mut Vec<u8>, tag: u8, body: impl FnOnce(&mut Vec<u8>)) {
    out.push(tag);
    let at = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    body(out);
    let len = u32::try_from(out.len() - at).unwrap_or(u32::MAX);
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// Appends `s` NUL-terminated; NUL bytes inside `s` (which the protocol
/// cannot carry) are dropped.
pub fn put_cstr(out: &mut Vec<u8>, s: &str) {
    out.extend(s.bytes().filter(|&b| b != 0));
    out.push(0);
}
