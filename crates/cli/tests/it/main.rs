//! Integration tests, compiled as one binary: one link instead of one per
//! file keeps CI builds fast and small. Each module is one area.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly on unexpected input"
)]

mod api_approvals;
mod api_input;
mod api_lifecycle;
mod audit_export;
mod audit_receipt;
mod audit_tiles;
mod audit_verify;
mod changes;
mod cli_policy;
mod cli_recover;
mod cli_run;
mod common;
mod console;
mod console_browser;
mod console_changes;
mod http_gateway;
mod mcp_serve;
mod notify;
mod walkthrough;
