//! Policy test cases (`countersign policy test CASES.toml`).
//!
//! A cases file lists the principals (the directory the cases run against)
//! and the cases, each an authorization question and the expected answer:
//!
//! ```toml
//! [[principals]]
//! kind = "User"               # User | Agent | Service
//! id = "alice"
//! groups = ["reviewer"]       # optional
//! email = "alice@example.com" # optional
//!
//! [[principals]]
//! kind = "Agent"
//! id = "bot"
//! owner = "alice"             # required for agents
//! groups = ["engineer"]
//!
//! [[case]]
//! name = "agent ddl in prod needs two reviewers"
//! principal = "Agent::bot"    # Kind::id, split at the first `::`
//! action = "sql.ddl"
//! resource = "Table::orders"
//! environment = "prod"
//! context = { sql = { tables = ["orders"] } }          # optional
//! approval = { granted = false, count = 0, approvers = [] } # optional
//! expect = "pending"          # allow | deny | pending
//! expect_quorum = 2           # optional, for pending
//! expect_policies = ["…"]     # optional: exactly these determining policies
//! ```

mod parse;
mod run;

pub use run::{CaseFailure, CasesReport, run_cases};

use crate::{ApprovalFacts, DirectoryEntry, OwnedEntityRef};

/// A parsed cases file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasesFile {
    /// The file name, for messages.
    pub name: String,
    /// The directory the cases run against.
    pub principals: Vec<DirectoryEntry>,
    /// The cases, in file order.
    pub cases: Vec<Case>,
}

/// One test case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// What it checks.
    pub name: String,
    /// 1-based line of the case in the file.
    pub line: usize,
    /// Who acts.
    pub principal: OwnedEntityRef,
    /// Action id, e.g. `sql.ddl`.
    pub action: String,
    /// What is acted on.
    pub resource: OwnedEntityRef,
    /// Environment, e.g. `prod`.
    pub environment: String,
    /// Extra context (without `environment` and `approval`).
    pub context: serde_json::Map<String, serde_json::Value>,
    /// Approval facts, if any.
    pub approval: Option<ApprovalFacts>,
    /// The expected outcome.
    pub expect: Expect,
    /// For `pending`: the expected quorum.
    pub expect_quorum: Option<u32>,
    /// The expected determining policies (any order).
    pub expect_policies: Option<Vec<String>>,
}

/// An expected outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// `allow`
    Allow,
    /// `deny`
    Deny,
    /// `pending`: approval required.
    Pending,
}

impl Expect {
    /// `allow`, `deny` or `pending`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Pending => "pending",
        }
    }
}
