//! Integration tests, compiled as one binary: one link instead of one per
//! file keeps CI builds fast and small. Each module is one area.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly on unexpected input"
)]

mod approvals;
mod common;
mod credentials;
mod enforcement;
mod robustness;
mod streaming;
mod tls;
