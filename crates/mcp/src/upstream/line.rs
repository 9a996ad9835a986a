//! Reading newline-delimited messages with a bound on their length.

use tokio::io::{AsyncBufRead, AsyncBufReadExt as _};

#[derive(Debug)]
pub enum LineError {
    Io(std::io::Error),
    TooLong(usize),
}

/// Reads one line (without its `\n`) into `buf`. `Ok(false)` at end of
/// input. A line longer than `max` is an error: the stream cannot be
/// resynchronised safely, so the caller drops it.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<bool, LineError> {
    buf.clear();
    loop {
        let chunk = r.fill_buf().await.map_err(LineError::Io)?;
        if chunk.is_empty() {
            return Ok(!buf.is_empty());
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        if buf.len() + take > max {
            return Err(LineError::TooLong(max));
        }
        buf.extend_from_slice(&chunk[..take]);
        let used = if done { take + 1 } else { take };
        r.consume(used);
        if done {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(true);
        }
    }
}
