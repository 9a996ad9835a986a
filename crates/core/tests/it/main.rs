//! The core's integration tests: the governor over the real SQLite store,
//! on a fake clock where time matters.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failed step should fail the test loudly"
)]

mod common;

mod await_approval;
mod driver;
mod fail_closed;
