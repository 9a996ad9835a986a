//! Countersign's PostgreSQL front: a wire-protocol proxy that classifies
//! every statement with the server's own grammar, asks the governor,
//! holds, refuses or forwards it, masks what policy marks sensitive, and
//! reports the outcome to the audit log.
//!
//! # How a statement travels
//!
//! 1. [`wire`] decodes each client message in full (strictly: trailing
//!    bytes are an error, as they are for the server).
//! 2. [`classify`] parses the text with libpg_query and walks the whole
//!    tree: the most severe thing anywhere in it decides the action
//!    (`sql.read` < `sql.write` < `sql.export` < `sql.ddl` < `sql.admin`).
//!    Text that does not parse is refused (SQLSTATE 42601), never passed.
//! 3. The session asks the governor (`Governor::decide`) with the
//!    statement text, tables, functions, flags and bound parameters in
//!    `context.sql`; the decision is durable before it returns.
//! 4. Allow: forwarded. Deny: SQLSTATE 42501 with the reason and policy.
//!    Pending: a NOTICE names the approval, the statement is held until it
//!    is approved (then it runs once) or the wait ends (57014, naming the
//!    approval; sending the same statement again after approval runs it).
//!    A refusal is delivered *through* the upstream as a statement that
//!    fails, so it arrives in order and the transaction state stays true.
//! 5. Results stream back; masked columns are blanked ([`mask`]);
//!    `CommandComplete` gives the rows for the outcome report.
//!
//! Clients authenticate as Countersign principals (user = principal,
//! password = token): cleartext inside TLS, or SCRAM-SHA-256 without TLS
//! once the principal has logged in over TLS (see [`auth::scram`]). The
//! upstream is reached with the target's own credentials, which clients
//! never see.

pub mod classify;
pub mod config;
pub mod error;
pub mod tls;
pub mod wire;

pub use config::{ProxyConfig, ProxySection, TargetSection};
pub use error::ProxyError;
pub mod auth;
pub mod catalog;
pub mod io;
pub mod mask;
pub mod server;
mod session;
pub mod upstream;

pub use server::PgProxy;
