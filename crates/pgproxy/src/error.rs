//! The crate's one error type. SQLSTATEs and client-visible messages are
//! chosen at the edge (the session), from this.

use crate::classify::ClassifyError;
use crate::wire::{DecodeError, WireError};

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("tls: {0}")]
    Tls(String),
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Classify(#[from] ClassifyError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The upstream refused us or broke the protocol.
    #[error("upstream `{target}`: {message}")]
    Upstream { target: String, message: String },
    /// The client broke the protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The upstream answered with an error during connection setup.
    #[error("upstream `{target}` refused the connection: {}", .fields.message().unwrap_or("no message"))]
    UpstreamRefused {
        target: String,
        fields: crate::wire::backend::Fields,
    },
    #[error("governor: {0}")]
    Governor(#[from] countersign_core::GovernorError),
}

impl ProxyError {
    pub(crate) fn upstream(target: &str, message: impl Into<String>) -> ProxyError {
        ProxyError::Upstream {
            target: target.to_owned(),
            message: message.into(),
        }
    }
}
