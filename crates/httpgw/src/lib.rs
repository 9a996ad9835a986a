//! Countersign's HTTP gateway: a reverse proxy that maps each API call to
//! an action, asks the governor, holds it for approval when policy says
//! so, injects the route's upstream credential (so agents never hold a
//! broad token), and reports the outcome to the audit log.
//!
//! # How a request travels
//!
//! 1. The client authenticates with a Countersign token in
//!    `Countersign-Token` (or `Proxy-Authorization: Bearer`), leaving the
//!    upstream's `Authorization` header free — and it is stripped anyway.
//! 2. The path is normalized strictly ([`path`]); the route is the one
//!    with the longest matching prefix (and host, if the route names one).
//! 3. The first [`rules::Rule`] whose method and pattern match gives the
//!    action and resource (`DELETE /repos/{owner}/{repo}` → `repo.delete`
//!    on `Repo::"{owner}/{repo}"`); else the route's default; else 403.
//! 4. A body up to `inspect_body_bytes` is read and hashed into
//!    `context.http` with method, path and query, so the decision's
//!    request hash binds the exact request; larger bodies stream.
//! 5. `Governor::decide` — durable before it returns. Deny: 403 problem
//!    document naming reason and policies. Pending: held up to
//!    `approval_wait_secs`, then 403 `approval-pending` with the approval
//!    id and `Retry-After`; the identical request, once approved, proceeds
//!    once. Allow: forwarded and streamed back ([`forward`]).
//! 6. The outcome (HTTP status, bytes each way, duration) is reported when
//!    the response body ends ([`outcomes`]).
//!
//! The listener speaks plain HTTP, or HTTPS when `tls` is configured
//! ([`tls`], options in [`config`]).

pub mod body;
pub mod config;
pub mod credential;
pub mod error;
mod forward;
mod handle;
pub mod headers;
pub mod outcomes;
pub mod path;
pub mod problem;
pub mod rules;
pub mod server;
pub mod tls;
pub mod upstream;

pub use config::{GatewayConfig, GatewaySection};
pub use error::GatewayError;
pub use server::HttpGateway;
