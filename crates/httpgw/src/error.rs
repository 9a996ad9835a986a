//! The crate's one error type, for configuration and start-up. Per-request
//! failures become problem documents at the edge ([`crate::problem`]).

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("tls: {0}")]
    Tls(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

pub(crate) fn bad(msg: impl Into<String>) -> GatewayError {
    GatewayError::Config(msg.into())
}
