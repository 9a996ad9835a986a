//! Exit statuses shared by subcommands, so scripts can tell them apart.

/// Something went wrong (bad input, server unreachable …).
pub const ERROR: u8 = 1;
/// The action was denied (by policy or by a reviewer).
pub const DENIED: u8 = 2;
/// The approval expired, was cancelled, or the wait ran out.
pub const NOT_APPROVED: u8 = 3;
/// A check failed (policy validate/test, audit verify).
pub const CHECK_FAILED: u8 = 1;
