//! The crate's error type. What an agent sees is chosen at the edge (the
//! JSON-RPC handler), from this.

#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An upstream could not be reached, broke the protocol, exited or did
    /// not answer in time. The message is safe to show to an agent: it never
    /// carries upstream credentials.
    #[error("upstream `{upstream}`: {message}")]
    Upstream { upstream: String, message: String },
    /// The agent cancelled the request.
    #[error("cancelled")]
    Cancelled,
    #[error("pin store: {0}")]
    Pins(String),
}

impl McpError {
    pub(crate) fn upstream(upstream: &str, message: impl Into<String>) -> Self {
        McpError::Upstream {
            upstream: upstream.to_owned(),
            message: message.into(),
        }
    }
}
