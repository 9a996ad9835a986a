//! The PostgreSQL v3 wire protocol: framing with size limits, and typed
//! frontend and backend messages. Every message is decoded in full before
//! the session acts on it; a frame that does not decode is an error, never
//! forwarded as is.

pub mod backend;
pub mod cursor;
pub mod frontend;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Why bytes are not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed {message} message: {why}")]
    Malformed {
        message: &'static str,
        why: &'static str,
    },
    #[error("unknown {side} message type `{tag}`")]
    UnknownTag { side: &'static str, tag: char },
    #[error("unsupported protocol version {major}.{minor}")]
    UnsupportedVersion { major: u16, minor: u16 },
}

/// Errors reading frames off a socket.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("message of {len} bytes is larger than the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("invalid message length {0}")]
    BadLength(i32),
    #[error("connection closed in the middle of a message")]
    Truncated,
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// One raw message: its type byte and the whole frame (header included),
/// so an unchanged message can be forwarded without re-encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub tag: u8,
    pub raw: Bytes,
}

impl Frame {
    /// The body, after the type byte and length.
    pub fn body(&self) -> Bytes {
        self.raw.slice(5..)
    }

    /// Builds a frame from a tag and a body.
    pub fn new(tag: u8, body: &[u8]) -> Frame {
        let mut out = Vec::with_capacity(body.len() + 5);
        cursor::frame(&mut out, tag, |o| o.extend_from_slice(body));
        Frame {
            tag,
            raw: Bytes::from(out),
        }
    }
}

/// Reads frames from a byte stream, buffering, with a size limit.
/// Cancel-safe: partial input stays in the buffer.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
    max: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader that starts with bytes already read from `inner`.
    pub fn with_buffer(inner: R, buf: BytesMut, max: usize) -> Self {
        FrameReader { inner, buf, max }
    }

    pub fn new(inner: R, max: usize) -> Self {
        FrameReader {
            inner,
            buf: BytesMut::with_capacity(16 * 1024),
            max,
        }
    }

    /// Bytes read but not yet returned (e.g. after a TLS upgrade check).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// True when a whole frame is already buffered (no read needed).
    pub fn has_frame(&self) -> bool {
        if self.buf.len() < 5 {
            return false;
        }
        let len = i32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
        usize::try_from(len).is_ok_and(|l| self.buf.len() > l)
    }

    pub fn into_parts(self) -> (R, BytesMut) {
        (self.inner, self.buf)
    }

    async fn fill(&mut self, want: usize) -> Result<bool, WireError> {
        while self.buf.len() < want {
            self.buf.reserve(want - self.buf.len());
            let n = self.inner.read_buf(&mut self.buf).await?;
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(false)
                } else {
                    Err(WireError::Truncated)
                };
            }
        }
        Ok(true)
    }

    /// The next typed frame, or `None` at a clean end of stream.
    pub async fn next(&mut self) -> Result<Option<Frame>, WireError> {
        if !self.fill(5).await? {
            return Ok(None);
        }
        let len = i32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
        let body_len = usize::try_from(len)
            .ok()
            .filter(|&l| l >= 4)
            .ok_or(WireError::BadLength(len))?;
        if body_len > self.max {
            return Err(WireError::TooLarge {
                len: body_len,
                max: self.max,
            });
        }
        if !self.fill(body_len + 1).await? {
            return Err(WireError::Truncated);
        }
        let raw = self.buf.split_to(body_len + 1).freeze();
        Ok(Some(Frame { tag: raw[0], raw }))
    }

    /// The next untyped startup-phase packet (length, then body), or `None`
    /// at a clean end of stream. Its body is returned without the length.
    pub async fn next_startup(&mut self, max: usize) -> Result<Option<Bytes>, WireError> {
        if !self.fill(4).await? {
            return Ok(None);
        }
        let len = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        let total = usize::try_from(len)
            .ok()
            .filter(|&l| l >= 8)
            .ok_or(WireError::BadLength(len))?;
        if total > max {
            return Err(WireError::TooLarge { len: total, max });
        }
        if !self.fill(total).await? {
            return Err(WireError::Truncated);
        }
        let mut packet = self.buf.split_to(total);
        packet.advance(4);
        Ok(Some(packet.freeze()))
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}
