//! Effective permissions: what each kind of principal in each group may do
//! in one environment, as a table, and how two such tables differ.
//!
//! Cedar policies say what is allowed one request at a time; reviewers of a
//! policy change want the whole picture ("may an engineer write to a table
//! in prod now?") and what a change does to it ("which answers differ
//! between staging and prod?"). [`PolicySet::effective_permissions`] builds
//! that picture by asking [`PolicySet::decide`] one synthetic question per
//! cell, so the table is exactly what the gateway would answer for those
//! requests, approval rules included. [`diff_permissions`] compares two
//! tables (two environments, or two versions of a policy set).
//!
//! [`PolicySet::effective_permissions`]: crate::PolicySet::effective_permissions
//! [`PolicySet::decide`]: crate::PolicySet::decide

mod diff;
mod probe;

pub use diff::diff_permissions;

use serde::{Deserialize, Serialize};

use crate::PrincipalKind;

/// What one kind of principal in one group may do with one action on one
/// resource type, in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    /// `User`, `Agent` or `Service`.
    pub principal_kind: PrincipalKind,
    /// The one group the probed principal is in; `None`: in no group.
    pub group: Option<String>,
    /// The action id, e.g. `sql.write`.
    pub action: String,
    /// The resource entity type, e.g. `Table`.
    pub resource_type: String,
    /// The answer.
    pub access: Access,
    /// The determining policy ids, sorted: the permits that allow, the
    /// forbids that deny (empty when no permit applies), or the permits
    /// that would allow once approved.
    pub policies: Vec<String>,
}

/// The answer to a probe, without its reason: what a reviewer compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Access {
    /// Allowed outright.
    Allow,
    /// Held until `quorum` approvers from `groups` (empty: any human) agree.
    Approval {
        /// Distinct approvers needed.
        quorum: u32,
        /// Groups whose members may approve; empty means any human user.
        groups: Vec<String>,
    },
    /// Refused, whether by a forbid or for want of a permit.
    Deny,
}

/// One cell whose access differs between two permission tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionChange {
    /// `User`, `Agent` or `Service`.
    pub principal_kind: PrincipalKind,
    /// The group probed; `None`: in no group.
    pub group: Option<String>,
    /// The action id.
    pub action: String,
    /// The resource entity type.
    pub resource_type: String,
    /// The access in the left table (`Deny` when the cell is missing there).
    pub left: Access,
    /// The access in the right table (`Deny` when the cell is missing there).
    pub right: Access,
}

/// The cell a permission or change is about, in table order: kind, then
/// group (none first), action, resource type.
type Key<'a> = (PrincipalKind, Option<&'a str>, &'a str, &'a str);

impl Permission {
    fn key(&self) -> Key<'_> {
        (
            self.principal_kind,
            self.group.as_deref(),
            &self.action,
            &self.resource_type,
        )
    }
}
