//! Countersign's embedded store: SQLite in WAL mode.
//!
//! One writer thread owns the only write connection and applies
//! [`countersign_core::Write`]s in batches: each write in its own savepoint
//! (so one failing write does not sink its neighbours), the whole batch in
//! one transaction, one fsync for all (group commit), done by a syncer thread
//! while the writer goes on with the next batch; callers are answered only
//! after that fsync. Audit entries get their
//! sequence number, leaf hash and new interior hashes in that same
//! transaction, so state and log can never disagree. Readers use a small pool
//! of read-only connections on the blocking thread pool.

mod audit;
mod error;
pub mod node_cache;
mod read;
mod rows;
mod sync;
pub mod verify;
mod writer;

pub use audit::{AuditEntry, AuditFilter, CheckpointRow};
pub use error::OpenError;

use countersign_core::approval::Approval;
use countersign_core::change::{Change, ChangeFilter};
use countersign_core::store::{ApprovalFilter, Store, StoreError, Write};
use countersign_core::verdict::DecisionRecord;
use countersign_core::{Principal, RequestHash, Timestamp, TokenRecord};
use read::Readers;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use writer::Writer;

/// The SQLite store. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: Arc<Readers>,
    /// Upper tree levels in memory, for proofs.
    nodes: Arc<node_cache::NodeCache>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and starts its writer.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let conn = rows::open_write(path)?;
        let writer = Writer::start(conn)?;
        Ok(SqliteStore {
            path: path.to_owned(),
            writer,
            readers: Arc::new(Readers::new(path.to_owned())),
            nodes: Arc::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting writes, finishes those queued, and waits for the
    /// writer to exit. Every write acknowledged before is already durable.
    pub async fn close(&self) {
        self.writer.close().await;
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || readers.with(f))
            .await
            .map_err(|e| StoreError::Unavailable(format!("reader task failed: {e}")))?
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn commit(&self, write: Write) -> Result<Vec<u64>, StoreError> {
        self.writer.commit(write, writer::Ack::Durable).await
    }

    async fn commit_committed(&self, write: Write) -> Result<Vec<u64>, StoreError> {
        self.writer.commit(write, writer::Ack::Committed).await
    }

    async fn principals(&self) -> Result<Vec<Principal>, StoreError> {
        self.read(|c| rows::all_bodies(c, "SELECT body FROM principals ORDER BY name"))
            .await
    }

    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.read(|c| rows::all_bodies(c, "SELECT body FROM tokens ORDER BY id"))
            .await
    }

    async fn approval(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| rows::one_body(c, "SELECT body FROM approvals WHERE id = ?1", [&id]))
            .await
    }

    async fn approvals(&self, filter: &ApprovalFilter) -> Result<Vec<Approval>, StoreError> {
        let state = filter.state.map(|s| s.as_str().to_owned());
        let requester = filter.requester.clone();
        let limit = i64::try_from(filter.limit.clamp(1, 1000)).unwrap_or(1000);
        self.read(move |c| {
            rows::bodies(
                c,
                "SELECT body FROM approvals
                 WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR requester = ?2)
                 ORDER BY created_at DESC, id LIMIT ?3",
                rusqlite::params![state, requester, limit],
            )
        })
        .await
    }

    async fn open_approval(
        &self,
        requester: &str,
        hash: &RequestHash,
    ) -> Result<Option<Approval>, StoreError> {
        let (r, h) = (requester.to_owned(), hash.0.clone());
        self.read(move |c| {
            rows::one_body(
                c,
                "SELECT body FROM approvals
                 WHERE requester = ?1 AND request_hash = ?2 AND state IN ('pending', 'approved')
                 ORDER BY created_at DESC LIMIT 1",
                [&r, &h],
            )
        })
        .await
    }

    async fn due_approvals(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Approval>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(1000);
        self.read(move |c| {
            rows::bodies(
                c,
                "SELECT body FROM approvals
                 WHERE state IN ('pending', 'approved') AND expires_at <= ?1
                 ORDER BY expires_at LIMIT ?2",
                rusqlite::params![now.millis(), limit],
            )
        })
        .await
    }

    async fn decision(&self, id: &str) -> Result<Option<DecisionRecord>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| rows::one_body(c, "SELECT body FROM decisions WHERE id = ?1", [&id]))
            .await
    }

    async fn change(&self, id: &str) -> Result<Option<Change>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| {
            let row: Option<(String, Option<String>)> = c
                .prepare_cached("SELECT body, policy FROM changes WHERE id = ?1")
                .and_then(|mut st| {
                    st.query_row([&id], |r| Ok((r.get(0)?, r.get(1)?)))
                        .map(Some)
                        .or_else(|e| match e {
                            rusqlite::Error::QueryReturnedNoRows => Ok(None),
                            e => Err(e),
                        })
                })
                .map_err(rows::unavailable)?;
            let Some((body, policy)) = row else {
                return Ok(None);
            };
            let mut change: Change = rows::from_json(&body)?;
            change.policy = policy.as_deref().map(rows::from_json).transpose()?;
            Ok(Some(change))
        })
        .await
    }

    /// Without their proposed policy sets (read one with [`Store::change`]).
    async fn changes(&self, filter: &ChangeFilter) -> Result<Vec<Change>, StoreError> {
        let kind = filter.kind.clone();
        let subject = filter.subject.as_ref().map(ToString::to_string);
        let env = filter.environment.clone();
        let state = filter.state.map(|s| s.as_str().to_owned());
        let limit = i64::try_from(filter.limit.clamp(1, 100_000)).unwrap_or(1000);
        self.read(move |c| {
            rows::bodies(
                c,
                "SELECT body FROM changes
                 WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR subject = ?2)
                   AND (?3 IS NULL OR environment = ?3) AND (?4 IS NULL OR state = ?4)
                 ORDER BY created_at DESC, id DESC LIMIT ?5",
                rusqlite::params![kind, subject, env, state, limit],
            )
        })
        .await
    }
}

/// The audit log's read side and checkpointing.
impl SqliteStore {
    /// Number of entries in the log.
    pub async fn audit_size(&self) -> Result<u64, StoreError> {
        self.read(audit::size).await
    }

    pub async fn audit_entries(&self, filter: AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        self.read(move |c| audit::entries(c, &filter)).await
    }

    pub async fn audit_entry(&self, seq: u64) -> Result<Option<AuditEntry>, StoreError> {
        let f = AuditFilter {
            start: seq,
            limit: 1,
            ..AuditFilter::default()
        };
        Ok(self
            .audit_entries(f)
            .await?
            .into_iter()
            .find(|e| e.seq == seq))
    }

    pub async fn audit_payload(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let h = hash.to_owned();
        self.read(move |c| audit::payload(c, &h)).await
    }

    /// Runs `f` with a reader of the stored tree hashes (for proofs and tiles).
    ///
    /// `f` runs twice: once against a reader that only records which
    /// nodes it asks for, so that they are fetched together, then for real.
    pub async fn with_nodes<T: Send + 'static>(
        &self,
        f: impl Fn(&dyn countersign_tlog::HashReader) -> Result<T, countersign_tlog::TlogError>
        + Send
        + 'static,
    ) -> Result<Result<T, countersign_tlog::TlogError>, StoreError> {
        let cache = Arc::clone(&self.nodes);
        self.read(move |c| Ok(f(&node_cache::CachedReader::prepare(c, &cache, &f))))
            .await
    }

    /// Signs a checkpoint of the current tree if it grew since the last one.
    pub async fn checkpoint(
        &self,
        signer: Arc<countersign_tlog::Signer>,
        origin: &str,
    ) -> Result<Option<CheckpointRow>, StoreError> {
        self.writer.checkpoint(signer, origin.to_owned()).await
    }

    pub async fn latest_checkpoint(&self) -> Result<Option<CheckpointRow>, StoreError> {
        self.read(audit::latest_checkpoint).await
    }

    /// Checkpoints with `size >= from_size`, oldest first.
    pub async fn checkpoints(
        &self,
        from_size: u64,
        limit: usize,
    ) -> Result<Vec<CheckpointRow>, StoreError> {
        self.read(move |c| audit::checkpoints(c, from_size, limit))
            .await
    }
}
