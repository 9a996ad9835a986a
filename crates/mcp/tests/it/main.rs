//! Integration tests, compiled as one binary. The gateway runs in process
//! with a real Governor, SQLite store and the HTTP API on a real port; the
//! upstreams are rmcp servers (the `mcp_test_upstream` example, over stdio
//! and over Streamable HTTP); the agent is the official Python MCP SDK.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly on unexpected input"
)]

mod common;
mod governance;
mod pinning;
mod robustness;
