//! Messages a client sends after startup, decoded in full.

mod auth;
mod bind;
mod copy;
mod describe;
mod execute;
mod parse;
mod query;
mod startup;

pub use auth::{Password, SaslInitial, SaslResponse};
pub use bind::Bind;
pub use copy::CopyFail;
pub use describe::{Close, Describe, Target};
pub use execute::Execute;
pub use parse::Parse;
pub use query::Query;
pub use startup::{CancelRequest, Startup, StartupPacket, ssl_request};

use super::{DecodeError, Frame};
use bytes::Bytes;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrontendMessage {
    Query(Query),
    Parse(Parse),
    Bind(Bind),
    Describe(Describe),
    Execute(Execute),
    Close(Close),
    Sync,
    Flush,
    Terminate,
    CopyData(Bytes),
    CopyDone,
    CopyFail(CopyFail),
    /// The fast-path function call interface (`F`): refused by the proxy.
    FunctionCall,
    /// An authentication response (`p`) outside authentication.
    Password,
}

fn empty(body: &[u8], message: &'static str) -> Result<(), DecodeError> {
    if body.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::Malformed {
            message,
            why: "unexpected bytes at the end of the message",
        })
    }
}

impl FrontendMessage {
    pub fn decode(frame: &Frame) -> Result<FrontendMessage, DecodeError> {
        let body = frame.body();
        Ok(match frame.tag {
            b'Q' => FrontendMessage::Query(Query::decode(&body)?),
            b'P' => FrontendMessage::Parse(Parse::decode(&body)?),
            b'B' => FrontendMessage::Bind(Bind::decode(&body)?),
            b'D' => FrontendMessage::Describe(Describe::decode(&body)?),
            b'E' => FrontendMessage::Execute(Execute::decode(&body)?),
            b'C' => FrontendMessage::Close(Close::decode(&body)?),
            b'S' => {
                empty(&body, "Sync")?;
                FrontendMessage::Sync
            }
            b'H' => {
                empty(&body, "Flush")?;
                FrontendMessage::Flush
            }
            b'X' => {
                empty(&body, "Terminate")?;
                FrontendMessage::Terminate
            }
            b'd' => FrontendMessage::CopyData(body),
            b'c' => {
                empty(&body, "CopyDone")?;
                FrontendMessage::CopyDone
            }
            b'f' => FrontendMessage::CopyFail(CopyFail::decode(&body)?),
            b'F' => FrontendMessage::FunctionCall,
            b'p' => FrontendMessage::Password,
            t => {
                return Err(DecodeError::UnknownTag {
                    side: "frontend",
                    tag: char::from(t),
                });
            }
        })
    }
}

/// Encodes `Sync`.
pub fn sync(out: &mut Vec<u8>) {
    out.extend_from_slice(&[b'S', 0, 0, 0, 4]);
}

/// Encodes `Flush`.
pub fn flush(out: &mut Vec<u8>) {
    out.extend_from_slice(&[b'H', 0, 0, 0, 4]);
}

/// Encodes `Terminate`.
pub fn terminate(out: &mut Vec<u8>) {
    out.extend_from_slice(&[b'X', 0, 0, 0, 4]);
}
