//! The single writer: group commit for state and audit log together.
//!
//! Callers queue a [`Write`] and wait for its reply, which comes only after
//! the transaction holding it is durable. The writer applies a batch,
//! commits it without fsync (`synchronous=NORMAL`) and hands its replies to
//! the syncer thread ([`crate::sync`]), which fdatasyncs the WAL and only
//! then answers; meanwhile the writer already applies the next batch. So
//! throughput grows with concurrency instead of being bounded by fsync
//! latency, and the fsync no longer stalls the writer either.

use crate::audit::{self, LogState};
use crate::error::OpenError;
use crate::sync::{POISONED, Pending, Reply, SyncThread, WalFile};
use countersign_core::store::{StoreError, Write};
use countersign_tlog::Signer;
use rusqlite::Connection;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

/// Most writes applied in one transaction: bounds the latency a write can
/// add to others in its batch.
const MAX_BATCH: usize = 1024;
/// Queued writes before callers wait for room (backpressure).
const QUEUE: usize = 16 * 1024;

/// When a commit's caller is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ack {
    /// After an fdatasync that started after the COMMIT: survives power loss.
    Durable,
    /// As soon as the COMMIT returned: the transaction is in the WAL (the
    /// OS page cache) and survives the process being killed; a power loss
    /// or kernel crash before the next fdatasync (normally a few ms) can
    /// lose it. Ordering in the log is unchanged.
    Committed,
}

pub(crate) enum Cmd {
    Commit(Write, Reply<Vec<u64>>, Ack),
    /// Sign a checkpoint of the tree as of this batch, if it grew.
    Checkpoint {
        signer: Arc<Signer>,
        origin: String,
        reply: Reply<Option<audit::CheckpointRow>>,
    },
}

#[derive(Debug)]
pub(crate) struct Writer {
    tx: Mutex<Option<mpsc::Sender<Cmd>>>,
    exited: Mutex<Option<oneshot::Receiver<()>>>,
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Cmd::Commit(..) => "Commit",
            Cmd::Checkpoint { .. } => "Checkpoint",
        })
    }
}

impl Writer {
    pub fn start(conn: Connection) -> Result<Self, OpenError> {
        let mut wal = db_path(&conn)
            .filter(|_| in_wal_mode(&conn))
            .map(|p| WalFile::new(std::path::Path::new(&p)));
        // Not in WAL mode (an in-memory database): `rows::open_write` then
        // keeps `synchronous=FULL`, and each COMMIT is durable by itself.
        Self::start_with(conn, move || wal.as_mut().map_or(Ok(()), WalFile::sync))
    }

    /// Starts the writer with `sync` as the syncer's way of making every
    /// committed batch durable.
    fn start_with<F>(conn: Connection, sync: F) -> Result<Self, OpenError>
    where
        F: FnMut() -> std::io::Result<()> + Send + 'static,
    {
        let state = LogState::recover(&conn).map_err(|message| OpenError::Log {
            path: conn.path().unwrap_or("?").to_owned(),
            message,
        })?;
        let full_for_checkpoints = in_wal_mode(&conn);
        let syncer = SyncThread::start(sync).map_err(OpenError::Thread)?;
        let wal = WalCheckpointer::start(&conn)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let (done_tx, done_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("countersign-store-writer".into())
            .spawn(move || {
                let w = Ctx {
                    conn: &conn,
                    syncer: &syncer,
                    full_for_checkpoints,
                };
                run(&w, rx, state, wal.as_ref());
                // Every committed batch is with the syncer: wait for its
                // last fdatasync and replies before saying we stopped
                // (`close` promises that every acknowledged write is
                // durable), and before closing the connection.
                syncer.stop();
                if let Some(wal) = wal {
                    wal.stop();
                }
                drop(conn);
                let _ = done_tx.send(());
            })
            .map_err(OpenError::Thread)?;
        Ok(Writer {
            tx: Mutex::new(Some(tx)),
            exited: Mutex::new(Some(done_rx)),
        })
    }

    async fn send(&self, cmd: Cmd) -> Result<(), StoreError> {
        let tx = self.tx.lock().await.clone();
        match tx {
            Some(tx) => tx
                .send(cmd)
                .await
                .map_err(|_| StoreError::Unavailable("store writer has stopped".into())),
            None => Err(StoreError::Unavailable("store is closed".into())),
        }
    }

    pub async fn commit(&self, write: Write, ack: Ack) -> Result<Vec<u64>, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Commit(write, reply, ack)).await?;
        rx.await
            .map_err(|_| StoreError::Unavailable("store writer stopped mid-write".into()))?
    }

    pub async fn checkpoint(
        &self,
        signer: Arc<Signer>,
        origin: String,
    ) -> Result<Option<audit::CheckpointRow>, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Checkpoint {
            signer,
            origin,
            reply,
        })
        .await?;
        rx.await
            .map_err(|_| StoreError::Unavailable("store writer stopped mid-write".into()))?
    }

    pub async fn close(&self) {
        self.tx.lock().await.take();
        if let Some(rx) = self.exited.lock().await.take() {
            let _ = rx.await;
        }
    }
}

/// The database file's path; `None` for an in-memory database.
fn db_path(conn: &Connection) -> Option<String> {
    conn.path().filter(|p| !p.is_empty()).map(str::to_owned)
}

fn in_wal_mode(conn: &Connection) -> bool {
    db_path(conn).is_some()
        && conn
            .query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
            .is_ok_and(|m| m.eq_ignore_ascii_case("wal"))
}

/// What the writer thread works with.
struct Ctx<'a> {
    conn: &'a Connection,
    syncer: &'a SyncThread,
    /// Commit batches holding a signed checkpoint with `synchronous=FULL`
    /// (see [`process`]); false when every commit is `FULL` anyway.
    full_for_checkpoints: bool,
}

fn run(
    w: &Ctx<'_>,
    mut rx: mpsc::Receiver<Cmd>,
    mut state: LogState,
    wal: Option<&WalCheckpointer>,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        if w.syncer.poisoned() {
            // A failed fdatasync: nothing written from now on could be
            // promised durable. Refuse without touching the database.
            fail_cmds(batch, POISONED);
            continue;
        }
        process(w, &mut state, batch);
        if let Some(wal) = wal {
            wal.nudge();
        }
    }
    tracing::debug!("store writer drained and stopped");
}

/// Least time between two WAL checkpoints.
const WAL_CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// Copies the WAL back into the database file on its own thread and
/// connection, so that no commit waits for it. (SQLite's default runs the
/// checkpoint inside whichever commit crosses 1000 WAL pages: one batch in
/// many then pays for copying megabytes and an extra fsync, which is most
/// of the tail latency of appends.) Passive checkpoints never block the
/// writer; they only copy what no reader still needs.
struct WalCheckpointer {
    nudge: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl WalCheckpointer {
    /// `None` for an in-memory database (it has no WAL).
    fn start(conn: &Connection) -> Result<Option<Self>, OpenError> {
        let Some(path) = conn.path().filter(|p| !p.is_empty()).map(str::to_owned) else {
            return Ok(None);
        };
        let err = |source| OpenError::Sqlite {
            path: path.clone(),
            source,
        };
        let own = Connection::open(&path).map_err(err)?;
        own.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        // Must not be OFF: a checkpoint fsyncs the WAL before copying frames
        // and the database file before the WAL may be reset only when this
        // connection's synchronous level is NORMAL or FULL. That is what
        // keeps checkpoints from losing frames the syncer has not synced
        // yet (see `sync::WalFile`).
        own.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(err)?;
        let (nudge, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("countersign-store-wal".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    let r = own.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "wal checkpoint failed; will retry");
                    }
                    std::thread::sleep(WAL_CHECKPOINT_EVERY);
                }
            })
            .map_err(OpenError::Thread)?;
        Ok(Some(WalCheckpointer { nudge, thread }))
    }

    /// Asks for a checkpoint soon (coalesced: at most one is pending).
    fn nudge(&self) {
        let _ = self.nudge.try_send(());
    }

    /// Waits for the thread to finish its last checkpoint and exit.
    fn stop(self) {
        drop(self.nudge);
        let _ = self.thread.join();
    }
}

fn process(w: &Ctx<'_>, state: &mut LogState, batch: Vec<Cmd>) {
    let conn = w.conn;
    let before = state.clone();
    let n = batch.len();
    // A batch that signs a checkpoint commits with `synchronous=FULL`: in
    // WAL mode SQLite makes a commit visible to readers only after that
    // fsync, so a signed tree head is never served (`latest_checkpoint`)
    // before it is durable. (Served and then lost to a power cut, it would
    // be contradicted by the next head signed for the same size: a fork.)
    // Its reply still goes through the syncer like every other one.
    let full = w.full_for_checkpoints && batch.iter().any(|c| matches!(c, Cmd::Checkpoint { .. }));
    if full && let Err(e) = conn.execute_batch("PRAGMA synchronous = FULL") {
        fail_begin(batch, &e.to_string());
        return;
    }
    let restore = || {
        if full && let Err(e) = conn.execute_batch("PRAGMA synchronous = NORMAL") {
            // Still correct, only slower.
            tracing::warn!(error = %e, "cannot restore synchronous=NORMAL");
        }
    };
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        restore();
        fail_begin(batch, &e.to_string());
        return;
    }
    // Fast path: every command straight into the transaction. Savepoints
    // cost each write a copy of every page it touches (SQLite's
    // sub-journal), so they are only used when a command fails: then the
    // whole batch is rolled back and redone with one savepoint per
    // command, so that the failure does not sink its neighbours.
    let results = match apply_all(conn, state, &batch) {
        Some(results) => results,
        None => {
            *state = before.clone();
            let redo = conn
                .execute_batch("ROLLBACK")
                .and_then(|()| conn.execute_batch("BEGIN IMMEDIATE"));
            if let Err(e) = redo {
                restore();
                fail_begin(batch, &e.to_string());
                return;
            }
            apply_each(conn, state, &batch)
        }
    };
    let mut done: Vec<Pending> = Vec::with_capacity(n);
    let mut early: Vec<Pending> = Vec::new();
    for (cmd, result) in batch.into_iter().zip(results) {
        match (cmd, result) {
            (Cmd::Commit(_, reply, Ack::Committed), Done::Commit(r)) => {
                early.push(Pending::Commit(reply, r));
            }
            (Cmd::Commit(_, reply, Ack::Durable), Done::Commit(r)) => {
                done.push(Pending::Commit(reply, r));
            }
            (Cmd::Checkpoint { reply, .. }, Done::Checkpoint(r)) => {
                done.push(Pending::Checkpoint(reply, r));
            }
            (Cmd::Commit(_, reply, _), Done::Checkpoint(_)) => {
                done.push(Pending::Commit(reply, Err(mismatch())));
            }
            (Cmd::Checkpoint { reply, .. }, Done::Commit(_)) => {
                done.push(Pending::Checkpoint(reply, Err(mismatch())));
            }
        }
    }
    if let Err(e) = conn.execute_batch("COMMIT") {
        // Nothing of this batch is committed: undo the in-memory tree too,
        // and tell the callers at once (an error promises nothing).
        let _ = conn.execute_batch("ROLLBACK");
        restore();
        *state = before;
        let msg = format!("commit failed: {e}");
        tracing::error!(error = %msg, writes = n, "store batch lost; callers told");
        for p in done.into_iter().chain(early) {
            p.fail(&msg);
        }
        return;
    }
    restore();
    for p in early {
        p.send();
    }
    // COMMIT has returned: the frames are in the WAL (page cache). The
    // syncer answers once an fdatasync started after this point returned.
    w.syncer.submit(done);
}

/// The outcome of one command, before the batch commits.
enum Done {
    Commit(Result<Vec<u64>, StoreError>),
    Checkpoint(Result<Option<audit::CheckpointRow>, StoreError>),
}

fn mismatch() -> StoreError {
    StoreError::Unavailable("store writer lost track of a batch".into())
}

fn apply_one(conn: &Connection, state: &mut LogState, cmd: &Cmd) -> Done {
    match cmd {
        Cmd::Commit(write, ..) => Done::Commit(audit::apply_write(conn, state, write)),
        Cmd::Checkpoint { signer, origin, .. } => {
            Done::Checkpoint(audit::checkpoint(conn, state, signer, origin))
        }
    }
}

/// Applies every command without savepoints; `None` as soon as one fails
/// (the transaction then holds a partial command and must be rolled back).
fn apply_all(conn: &Connection, state: &mut LogState, batch: &[Cmd]) -> Option<Vec<Done>> {
    let mut out = Vec::with_capacity(batch.len());
    for cmd in batch {
        let done = apply_one(conn, state, cmd);
        let failed = matches!(&done, Done::Commit(Err(_)) | Done::Checkpoint(Err(_)));
        if failed {
            return None;
        }
        out.push(done);
    }
    Some(out)
}

/// Applies each command in its own savepoint: a failing one is undone
/// alone and reported to its caller; the others proceed.
fn apply_each(conn: &Connection, state: &mut LogState, batch: &[Cmd]) -> Vec<Done> {
    batch
        .iter()
        .map(|cmd| match cmd {
            Cmd::Commit(write, ..) => Done::Commit(in_savepoint(conn, state, |c, s| {
                audit::apply_write(c, s, write)
            })),
            Cmd::Checkpoint { signer, origin, .. } => {
                Done::Checkpoint(in_savepoint(conn, state, |c, s| {
                    audit::checkpoint(c, s, signer, origin)
                }))
            }
        })
        .collect()
}

/// Runs `f` in a savepoint; on error rolls back both the database and the
/// in-memory tree so the rest of the batch is unaffected.
fn in_savepoint<T>(
    conn: &Connection,
    state: &mut LogState,
    f: impl FnOnce(&Connection, &mut LogState) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let saved = state.clone();
    conn.execute_batch("SAVEPOINT w")
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    match f(conn, state) {
        Ok(v) => {
            conn.execute_batch("RELEASE w")
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            Ok(v)
        }
        Err(e) => {
            *state = saved;
            let _ = conn.execute_batch("ROLLBACK TO w; RELEASE w");
            Err(e)
        }
    }
}

fn fail_begin(batch: Vec<Cmd>, msg: &str) {
    tracing::error!(error = %msg, "store cannot begin a transaction");
    fail_cmds(batch, &format!("cannot begin transaction: {msg}"));
}

/// Answers every command of a batch that was not committed with an error.
fn fail_cmds(batch: Vec<Cmd>, msg: &str) {
    for cmd in batch {
        let err = StoreError::Unavailable(msg.to_owned());
        match cmd {
            Cmd::Commit(_, r, _) => {
                let _ = r.send(Err(err));
            }
            Cmd::Checkpoint { reply, .. } => {
                let _ = reply.send(Err(err));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use countersign_core::{AuditEvent, EventKind};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    const ORIGIN: &str = "countersign.test/audit";

    fn write() -> Write {
        Write::event(AuditEvent::new(EventKind::Decision))
    }

    fn signer() -> Arc<Signer> {
        Arc::new(Signer::new(ORIGIN, [7u8; 32]).unwrap())
    }

    fn entries(db: &std::path::Path) -> i64 {
        Connection::open(db)
            .unwrap()
            .query_row("SELECT count(*) FROM audit_entries", [], |r| r.get(0))
            .unwrap()
    }

    /// Commits and checkpoints are answered only once the sync returned.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replies_wait_for_the_sync() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let (gate, opened) = std::sync::mpsc::channel::<()>();
        let syncs = Arc::new(AtomicU64::new(0));
        let s = syncs.clone();
        let writer = Arc::new(
            Writer::start_with(crate::rows::open_write(&db).unwrap(), move || {
                // Blocks until the test opens the gate.
                opened
                    .recv()
                    .map_err(|_| std::io::Error::other("gate gone"))?;
                s.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .unwrap(),
        );
        let w = writer.clone();
        let commit = tokio::spawn(async move { w.commit(write(), Ack::Durable).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!commit.is_finished(), "acknowledged before any sync");
        // Committed though (readers see it): only the reply waits.
        assert_eq!(entries(&db), 1);
        gate.send(()).unwrap();
        assert_eq!(commit.await.unwrap().unwrap(), vec![0]);
        assert_eq!(syncs.load(Ordering::SeqCst), 1);

        let w = writer.clone();
        let cp = tokio::spawn(async move { w.checkpoint(signer(), ORIGIN.into()).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!cp.is_finished(), "checkpoint acknowledged before any sync");
        gate.send(()).unwrap();
        assert_eq!(cp.await.unwrap().unwrap().map(|c| c.size), Some(1));
        assert_eq!(syncs.load(Ordering::SeqCst), 2);
        gate.send(()).unwrap(); // for close: nothing pending, no sync expected
        writer.close().await;
        assert_eq!(syncs.load(Ordering::SeqCst), 2);
    }

    /// A commit asking only for `Committed` is answered before the sync,
    /// and is made durable by the next one all the same.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn committed_acks_do_not_wait_for_the_sync() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let (gate, opened) = std::sync::mpsc::channel::<()>();
        let syncs = Arc::new(AtomicU64::new(0));
        let s = syncs.clone();
        let writer = Arc::new(
            Writer::start_with(crate::rows::open_write(&db).unwrap(), move || {
                opened
                    .recv()
                    .map_err(|_| std::io::Error::other("gate gone"))?;
                s.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .unwrap(),
        );
        let w = writer.clone();
        let durable = tokio::spawn(async move { w.commit(write(), Ack::Durable).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The sync for the durable write is blocked; a committed-ack write
        // goes through regardless, in log order after it.
        let fast = tokio::time::timeout(
            Duration::from_secs(5),
            writer.commit(write(), Ack::Committed),
        )
        .await
        .expect("a committed-ack write must not wait for the blocked sync")
        .unwrap();
        assert_eq!(fast, vec![1]);
        assert_eq!(entries(&db), 2);
        assert!(!durable.is_finished(), "the durable write still waits");
        assert_eq!(syncs.load(Ordering::SeqCst), 0);
        gate.send(()).unwrap();
        assert_eq!(durable.await.unwrap().unwrap(), vec![0]);
        // Closing syncs whatever was only committed.
        gate.send(()).unwrap();
        gate.send(()).unwrap();
        writer.close().await;
        assert!(syncs.load(Ordering::SeqCst) >= 1);
        assert_eq!(entries(&db), 2);
    }

    /// A failed fdatasync fails its writes and every later one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_fsync_poisons_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let calls = Arc::new(AtomicU64::new(0));
        let c = calls.clone();
        let writer = Writer::start_with(crate::rows::open_write(&db).unwrap(), move || {
            c.fetch_add(1, Ordering::SeqCst);
            Err(std::io::Error::other("EIO"))
        })
        .unwrap();
        let r = writer.commit(write(), Ack::Durable).await;
        assert!(
            matches!(&r, Err(StoreError::Unavailable(m)) if m.contains("fdatasync failed")),
            "{r:?}"
        );
        for _ in 0..3 {
            let r = writer.commit(write(), Ack::Durable).await;
            assert!(
                matches!(&r, Err(StoreError::Unavailable(m)) if m == POISONED),
                "{r:?}"
            );
        }
        let r = writer.checkpoint(signer(), ORIGIN.into()).await;
        assert!(
            matches!(&r, Err(StoreError::Unavailable(m)) if m == POISONED),
            "{r:?}"
        );
        writer.close().await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "no sync after the failure");
        // The first write was committed (just never promised durable); the
        // refused ones never reached the database.
        assert_eq!(entries(&db), 1);
    }
}
