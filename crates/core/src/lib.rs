//! Countersign's core: the domain (principals, requests, verdicts, approvals,
//! audit events), the rules that govern approvals, and the [`Governor`] that
//! turns an [`ActionRequest`] into a [`Decision`].
//!
//! The core does no I/O of its own: state and the audit log live behind the
//! [`Store`] port, which `countersign-store` implements. Policy evaluation is
//! `countersign-policy` (Cedar). Fronts (HTTP API, PostgreSQL proxy, MCP,
//! HTTP gateway) translate native traffic into requests and enforce verdicts;
//! only the governor decides.

pub mod approval;
pub mod audit;
pub mod change;
pub mod error;
pub mod front;
pub mod governor;
pub mod ids;
pub mod principal;
pub mod request;
pub mod store;
pub mod time;
pub mod token;
pub mod verdict;

pub use approval::{Approval, ApprovalState, Vote, VoteDecision, VoteRefusal};
pub use audit::{AuditEvent, EventKind};
pub use change::{Change, ChangeState};
pub use error::GovernorError;
pub use governor::Governor;
pub use principal::{Principal, PrincipalKind, PrincipalRef};
pub use request::{ActionRequest, RequestHash, ResourceRef};
pub use store::{Mutation, Store, StoreError, Write};
pub use time::Timestamp;
pub use token::{IssuedToken, TokenRecord};
pub use verdict::{Decision, DecisionRecord, Verdict};

pub use countersign_policy as policy;
