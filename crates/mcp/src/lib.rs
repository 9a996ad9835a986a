//! Countersign's MCP front: one Model Context Protocol endpoint (Streamable
//! HTTP at `/mcp`) over the upstream MCP servers an organization runs.
//!
//! # How a tool call travels
//!
//! 1. The agent authenticates with a Countersign bearer token (401 with
//!    RFC 9728 metadata otherwise) and opens a session (`initialize`).
//! 2. `tools/list` aggregates every upstream's tools as `server.tool`
//!    ([`catalog`]), hides tools whose definition is not pinned
//!    ([`pins`]: a changed definition waits for an admin), and shows only
//!    those policy lets this principal call or ask approval for.
//! 3. `tools/call` is an `mcp.call` on `Tool::"server.tool"` with the
//!    arguments in `context.mcp` ([`govern`]); the decision is durable
//!    before anything is sent. Deny: a tool result with `isError` and the
//!    reason. Pending: held, with progress notifications, until approved
//!    (then sent once) or the wait ends (the result names the approval;
//!    the identical call proceeds once it is approved).
//! 4. The call goes to the upstream with the agent's params untouched but
//!    the name; the upstream's response goes back untouched, and the
//!    outcome (status, size, duration) is reported to the audit log.
//!
//! Prompts and resources pass through as governed reads: `mcp.call` on
//! `Tool::"server.prompts/get"` and `Tool::"server.resources/read"`.
//!
//! The agent-facing side is a thin JSON-RPC layer on `serde_json::Value`
//! rather than rmcp's typed server: forwarding must keep every field the
//! gateway does not model, and the typed models would drop them.

pub mod catalog;
pub mod config;
pub mod error;
pub mod gateway;
pub mod govern;
pub mod http;
pub mod pins;
pub mod session;
pub mod upstream;

pub use config::{McpConfig, McpSection};
pub use error::McpError;
pub use gateway::Gateway;
pub use http::router;
