//! The store port: the only I/O the core knows. `countersign-store`
//! implements it for SQLite (and later PostgreSQL).
//!
//! Every change goes through [`Store::commit`] as one [`Write`]: state
//! mutations and the audit events that describe them, applied atomically and
//! durably (group commit), so no state change exists without its audit entry
//! and no event bypasses the log.

use crate::approval::{Approval, ApprovalState};
use crate::audit::AuditEvent;
use crate::change::{Change, ChangeFilter};
use crate::principal::Principal;
use crate::request::RequestHash;
use crate::time::Timestamp;
use crate::token::TokenRecord;
use crate::verdict::DecisionRecord;
use async_trait::async_trait;

/// A state change. Creates fail on an existing key; updates are
/// compare-and-swap where concurrent writers can race.
#[derive(Debug, Clone)]
pub enum Mutation {
    CreatePrincipal(Principal),
    /// Replaces an existing principal (disable, groups).
    UpdatePrincipal(Principal),
    CreateToken(TokenRecord),
    UpdateToken(TokenRecord),
    CreateApproval(Approval),
    /// Applies only if the stored version is `expected_version`; the new
    /// approval must carry `expected_version + 1`.
    UpdateApproval {
        approval: Approval,
        expected_version: u64,
    },
    CreateDecision(DecisionRecord),
    /// Sets the outcome of a decision that has none yet.
    SetOutcome(DecisionRecord),
    CreateChange(Change),
    /// Applies only if the stored revision is `expected_rev`; the new
    /// change must carry `expected_rev + 1`.
    UpdateChange {
        change: Change,
        expected_rev: u64,
    },
}

/// One atomic, durable unit: mutations plus the events that record them.
#[derive(Debug, Clone, Default)]
pub struct Write {
    pub mutations: Vec<Mutation>,
    pub events: Vec<AuditEvent>,
}

impl Write {
    pub fn event(e: AuditEvent) -> Self {
        Write {
            mutations: Vec::new(),
            events: vec![e],
        }
    }

    pub fn new(m: Mutation, e: AuditEvent) -> Self {
        Write {
            mutations: vec![m],
            events: vec![e],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A compare-and-swap lost: someone else changed it first.
    #[error("conflict: {0} was changed concurrently")]
    Conflict(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0} not found")]
    NotFound(String),
    /// The store cannot be read or written; callers fail closed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data does not decode; never silently skipped.
    #[error("store data is corrupt: {0}")]
    Corrupt(String),
}

/// Which approvals to list.
#[derive(Debug, Clone, Default)]
pub struct ApprovalFilter {
    pub state: Option<ApprovalState>,
    pub requester: Option<String>,
    pub limit: usize,
}

#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Applies `write` atomically and durably; returns the audit sequence
    /// number of each event, in order. Nothing is applied on error.
    async fn commit(&self, write: Write) -> Result<Vec<u64>, StoreError>;

    /// Like [`Store::commit`], but answered once the write is committed and
    /// ordered in the log, before it is flushed to disk: it survives the
    /// process being killed, and is made durable by the next flush (a
    /// power loss before that can lose it). Used only where an operator
    /// chose it for allowed, read-only actions. Stores without the
    /// distinction commit durably.
    async fn commit_committed(&self, write: Write) -> Result<Vec<u64>, StoreError> {
        self.commit(write).await
    }

    async fn principals(&self) -> Result<Vec<Principal>, StoreError>;
    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    async fn approval(&self, id: &str) -> Result<Option<Approval>, StoreError>;
    /// Newest first.
    async fn approvals(&self, filter: &ApprovalFilter) -> Result<Vec<Approval>, StoreError>;
    /// The pending or approved (not yet executed) approval of `requester` for
    /// this exact request, if any.
    async fn open_approval(
        &self,
        requester: &str,
        hash: &RequestHash,
    ) -> Result<Option<Approval>, StoreError>;
    /// Pending or approved approvals whose TTL ended by `now`.
    async fn due_approvals(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Approval>, StoreError>;

    async fn decision(&self, id: &str) -> Result<Option<DecisionRecord>, StoreError>;

    /// The change in full, with a policy change's proposed set.
    async fn change(&self, id: &str) -> Result<Option<Change>, StoreError>;
    /// Newest first, without policy changes' proposed sets (`policy` is
    /// `None`), so listings and gate checks stay light.
    async fn changes(&self, filter: &ChangeFilter) -> Result<Vec<Change>, StoreError>;
}

/// The store, for reading only: what the notifier and the console need to
/// show approvals, changes and decisions. Every write goes through the
/// governor, with its audit events.
#[derive(Debug, Clone)]
pub struct StoreReader(std::sync::Arc<dyn Store>);

impl StoreReader {
    pub(crate) fn new(store: std::sync::Arc<dyn Store>) -> Self {
        StoreReader(store)
    }

    pub async fn approval(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        self.0.approval(id).await
    }

    /// Newest first.
    pub async fn approvals(&self, filter: &ApprovalFilter) -> Result<Vec<Approval>, StoreError> {
        self.0.approvals(filter).await
    }

    pub async fn decision(&self, id: &str) -> Result<Option<DecisionRecord>, StoreError> {
        self.0.decision(id).await
    }

    pub async fn change(&self, id: &str) -> Result<Option<Change>, StoreError> {
        self.0.change(id).await
    }

    pub async fn changes(&self, filter: &ChangeFilter) -> Result<Vec<Change>, StoreError> {
        self.0.changes(filter).await
    }
}
