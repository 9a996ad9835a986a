//! Cedar policies for Countersign: compiled, validated, indexed, with the
//! approval model.
//!
//! A [`PolicySet`] is compiled once from a Cedar schema and policy files
//! ([`PolicySet::compile`]); any parse, validation or annotation problem is
//! refused with `file:line:col`. [`PolicySet::decide`] then answers one
//! [`Query`] against a [`Directory`] of principals with a [`PolicyDecision`]:
//! `Allow` (with obligations), `Deny` (with a reason) or `ApprovalRequired`
//! (with the [`ApprovalRule`] that makes the action approvable).
//! [`PolicySet::effective_permissions`] tabulates those answers per
//! principal kind, group, action and resource type for one environment, and
//! [`diff_permissions`] compares two such tables.
//!
//! Approvals are evidence, not a bypass: a policy makes an action approvable
//! by requiring `context.approval.granted` in Cedar, and says how in its
//! annotations (see [`annotations`](crate#annotations)). The final word is
//! always Cedar's.
//!
//! # Annotations
//!
#![doc = include_str!("annotations/README.md")]

mod annotations;
pub mod cases;
mod decision;
mod directory;
mod effective;
mod error;
mod query;
mod set;
mod source;
mod starter;

pub use annotations::{ApprovalRule, Obligation};
pub use decision::PolicyDecision;
pub use directory::{Directory, DirectoryEntry, PrincipalKind};
pub use effective::{Access, Permission, PermissionChange, diff_permissions};
pub use error::{Diagnostic, PolicyError, QueryError};
pub use query::{ApprovalFacts, EntityRef, OwnedEntityRef, Query};
pub use set::PolicySet;
pub use source::PolicySource;
pub use starter::{STARTER_CASES, STARTER_POLICIES, STARTER_SCHEMA};
