//! Durability for group commit, off the writer's critical path.
//!
//! The write connection runs `synchronous=NORMAL` in WAL mode: a COMMIT
//! appends the batch's frames to `<db>-wal` and returns without an fsync.
//! The writer hands the batch's replies to the syncer thread and goes on
//! with the next batch at once. The syncer takes every batch queued so far,
//! calls `fdatasync` on the WAL once, and only then answers them all. While
//! one fdatasync runs, the writer applies and commits the next batches, so
//! the disk's flush latency is no longer serialized with the CPU work.
//!
//! The rules (each one is load-bearing):
//!
//! 1. A reply is sent only after an fdatasync that *started after* its
//!    batch's COMMIT returned. The writer submits a batch only once COMMIT
//!    has returned (its frames are then in the page cache); the syncer
//!    dequeues batches before it calls fdatasync, and fsync on Linux flushes
//!    every dirty page of the inode, whichever descriptor wrote it. Nothing
//!    is ever acknowledged before that.
//! 2. If fdatasync fails, durability can no longer be promised: after a
//!    failed writeback the kernel may have dropped the dirty pages and a
//!    retried fsync can succeed without writing them (PostgreSQL's
//!    "fsyncgate"). So every batch of that round and every later one is
//!    answered [`StoreError::Unavailable`], and the store is poisoned: the
//!    writer refuses all further writes. Fail closed; a restart recovers
//!    from what is really on disk.
//! 3. The WAL is synced through one long-lived descriptor, opened before the
//!    writer writes: Linux reports a writeback error to every open file
//!    description that was open when it happened, even if another one (say
//!    the WAL checkpointer's) has already seen it; a descriptor opened per
//!    sync would miss such errors.
//! 4. SQLite's WAL checkpoints cannot lose frames the syncer has not synced
//!    yet: see [`WalFile`].
//! 5. On shutdown the writer stops the syncer only after its last COMMIT, and
//!    the syncer drains its queue (one last fdatasync, every reply sent)
//!    before it exits; only then does the writer report that it stopped.

use crate::audit::CheckpointRow;
use countersign_core::store::StoreError;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use tokio::sync::oneshot;

pub(crate) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// A committed command's reply and result, waiting for durability.
pub(crate) enum Pending {
    Commit(Reply<Vec<u64>>, Result<Vec<u64>, StoreError>),
    Checkpoint(
        Reply<Option<CheckpointRow>>,
        Result<Option<CheckpointRow>, StoreError>,
    ),
}

impl Pending {
    /// Sends the command's own result. A caller that gave up waiting is
    /// fine: its write is durable anyway.
    pub fn send(self) {
        match self {
            Pending::Commit(r, res) => {
                let _ = r.send(res);
            }
            Pending::Checkpoint(r, res) => {
                let _ = r.send(res);
            }
        }
    }

    /// Replaces the result with an error (the batch is not known durable).
    pub fn fail(self, msg: &str) {
        let err = || StoreError::Unavailable(msg.to_owned());
        match self {
            Pending::Commit(r, _) => {
                let _ = r.send(Err(err()));
            }
            Pending::Checkpoint(r, _) => {
                let _ = r.send(Err(err()));
            }
        }
    }
}

/// Set once durability can no longer be promised; never cleared.
#[derive(Debug, Clone, Default)]
pub(crate) struct Poison(Arc<AtomicBool>);

impl Poison {
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What every write gets once the store is poisoned.
pub(crate) const POISONED: &str =
    "store cannot guarantee durability after a failed fsync; restart required";

/// The syncer's logic, generic over the sync itself so that it can be
/// tested with a fake.
pub(crate) struct Syncer<F> {
    sync: F,
    poison: Poison,
}

impl<F: FnMut() -> io::Result<()>> Syncer<F> {
    pub fn new(sync: F, poison: Poison) -> Self {
        Syncer { sync, poison }
    }

    /// Makes durable and answers `batches`, all of which must have been
    /// committed (COMMIT returned) before this call: one sync for all.
    pub fn round(&mut self, batches: Vec<Vec<Pending>>) {
        if self.poison.is_set() {
            fail(batches, POISONED);
            return;
        }
        match (self.sync)() {
            Ok(()) => {
                for p in batches.into_iter().flatten() {
                    p.send();
                }
            }
            Err(e) => {
                // Rule 2: poison first, so that the writer refuses new
                // writes from now on, then fail everything of this round.
                self.poison.set();
                let n: usize = batches.iter().map(Vec::len).sum();
                tracing::error!(
                    error = %e, writes = n,
                    "fdatasync of the WAL failed; the store refuses all writes from now on"
                );
                fail(batches, &format!("fdatasync failed: {e}; {POISONED}"));
            }
        }
    }

    /// Answers batches as they come until every sender is gone and the
    /// queue is empty.
    pub fn run(mut self, rx: &mpsc::Receiver<Vec<Pending>>) {
        while let Ok(first) = rx.recv() {
            // Coalesce: everything queued now was committed before this
            // point, so one fdatasync starting after it covers them all.
            let mut batches = vec![first];
            batches.extend(rx.try_iter());
            self.round(batches);
        }
    }
}

fn fail(batches: Vec<Vec<Pending>>, msg: &str) {
    for p in batches.into_iter().flatten() {
        p.fail(msg);
    }
}

/// The syncer thread, as the writer holds it.
pub(crate) struct SyncThread {
    tx: mpsc::Sender<Vec<Pending>>,
    thread: std::thread::JoinHandle<()>,
    poison: Poison,
}

impl SyncThread {
    pub fn start<F>(sync: F) -> io::Result<Self>
    where
        F: FnMut() -> io::Result<()> + Send + 'static,
    {
        let poison = Poison::default();
        let syncer = Syncer::new(sync, poison.clone());
        // Unbounded, but never large: every queued reply has a caller
        // waiting for it, and callers wait for room in the writer's queue.
        let (tx, rx) = mpsc::channel::<Vec<Pending>>();
        let thread = std::thread::Builder::new()
            .name("countersign-store-sync".into())
            .spawn(move || syncer.run(&rx))?;
        Ok(SyncThread { tx, thread, poison })
    }

    pub fn poisoned(&self) -> bool {
        self.poison.is_set()
    }

    /// Hands over the replies of a batch whose COMMIT has returned.
    pub fn submit(&self, batch: Vec<Pending>) {
        if let Err(mpsc::SendError(batch)) = self.tx.send(batch) {
            // The syncer is gone (it cannot exit on its own while the
            // writer holds the sender, so it died): nothing can be made
            // durable any more.
            self.poison.set();
            tracing::error!("store syncer has stopped; the store refuses all writes from now on");
            for p in batch {
                p.fail("store syncer has stopped");
            }
        }
    }

    /// Waits until every submitted batch was synced and answered.
    pub fn stop(self) {
        drop(self.tx);
        if self.thread.join().is_err() {
            tracing::error!("store syncer panicked");
        }
    }
}

/// `fdatasync` of `<db>-wal` through a long-lived descriptor (rule 3),
/// reopened if the path ever names another file.
///
/// Why SQLite's own WAL checkpoints (the `WalCheckpointer` in
/// `writer.rs`, and the one SQLite runs when the last connection closes)
/// cannot reset or truncate the WAL under un-synced frames, per SQLite's
/// `wal.c` (3.54, the bundled version) and <https://sqlite.org/wal.html>:
///
/// - A checkpoint first fsyncs the WAL (`walCheckpoint`: "Sync the WAL to
///   disk"), then copies frames into the database file; only if it copied
///   every frame does it fsync the database file, and only then does it
///   record the WAL as fully backfilled (`nBackfill = mxFrame`). These
///   syncs use the checkpointing connection's checkpoint sync flags, which
///   are on for `synchronous=NORMAL` and `FULL` (only `OFF` clears them).
/// - The WAL is reset (new salt, writing restarts at frame 1, overwriting
///   old frames) only by a writer starting a new write transaction that
///   finds `nBackfill == mxFrame`, i.e. after such a complete checkpoint
///   (`walRestartLog`). Every overwritten frame is then durable twice: in
///   the WAL (synced before the copy) and in the database file (synced
///   before `nBackfill` moved).
/// - Truncation happens only after a complete checkpoint too, and only in
///   modes this store never uses (`wal_checkpoint(TRUNCATE)`,
///   `journal_size_limit`); deletion only when the last connection closes,
///   after a complete checkpoint, and the writer's connection closes only
///   after the syncer stopped. The "WAL-reset bug" (3.7.0 to 3.51.2) is
///   fixed in the bundled SQLite.
///
/// So a checkpoint can only make frames durable earlier; it cannot lose
/// one. Un-synced frames live in the WAL's current inode, which this
/// descriptor syncs.
#[derive(Debug)]
pub(crate) struct WalFile {
    path: PathBuf,
    open: Option<(File, FileId)>,
}

impl WalFile {
    /// The WAL of the database at `db`. Opens it now if it exists (the
    /// write connection has normally created it already), so that rule 3
    /// covers the writer's very first write.
    pub fn new(db: &Path) -> Self {
        let mut path = db.as_os_str().to_owned();
        path.push("-wal");
        let mut wal = WalFile {
            path: PathBuf::from(path),
            open: None,
        };
        if let Ok(f) = File::open(&wal.path)
            && let Ok(id) = file_id(&f)
        {
            wal.open = Some((f, id));
        }
        wal
    }

    /// `fdatasync` of every frame written to the WAL so far.
    pub fn sync(&mut self) -> io::Result<()> {
        // A missing WAL while the write connection is open is an error:
        // the frames just committed must be somewhere.
        let now = path_id(&self.path)?;
        if let Some((f, id)) = &self.open {
            if *id == now {
                return f.sync_data();
            }
            // The path names another file: first flush what was written to
            // the old one (still reachable through this descriptor).
            f.sync_data()?;
        }
        let f = File::open(&self.path)?;
        let id = file_id(&f)?;
        // A WAL new to us: make its directory entry durable as well.
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        f.sync_data()?;
        self.open = Some((f, id));
        Ok(())
    }
}

#[cfg(unix)]
type FileId = (u64, u64);
#[cfg(not(unix))]
type FileId = ();

#[cfg(unix)]
fn file_id(f: &File) -> io::Result<FileId> {
    use std::os::unix::fs::MetadataExt as _;
    let m = f.metadata()?;
    Ok((m.dev(), m.ino()))
}

#[cfg(unix)]
fn path_id(p: &Path) -> io::Result<FileId> {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(p)?;
    Ok((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_: &File) -> io::Result<FileId> {
    Ok(())
}

#[cfg(not(unix))]
fn path_id(p: &Path) -> io::Result<FileId> {
    std::fs::metadata(p).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicU64;
    use std::time::Duration;
    use tokio::sync::oneshot::error::TryRecvError;

    type Rx = oneshot::Receiver<Result<Vec<u64>, StoreError>>;

    fn pending(result: Result<Vec<u64>, StoreError>) -> (Pending, Rx) {
        let (tx, rx) = oneshot::channel();
        (Pending::Commit(tx, result), rx)
    }

    #[test]
    fn no_reply_is_sent_before_the_sync_returns() {
        let receivers: Arc<Mutex<Vec<Rx>>> = Arc::default();
        let syncs = Arc::new(AtomicU64::new(0));
        let (r, s) = (receivers.clone(), syncs.clone());
        let mut syncer = Syncer::new(
            move || {
                // Inside the sync: nobody may have an answer yet.
                for rx in r.lock().unwrap().iter_mut() {
                    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
                }
                s.fetch_add(1, Ordering::SeqCst);
                Ok(())
            },
            Poison::default(),
        );
        let mut batches = Vec::new();
        for b in 0..3u64 {
            let mut batch = Vec::new();
            for i in 0..4 {
                let result = if i == 3 {
                    Err(StoreError::AlreadyExists(format!("w{b}")))
                } else {
                    Ok(vec![b * 10 + i])
                };
                let (p, rx) = pending(result);
                batch.push(p);
                receivers.lock().unwrap().push(rx);
            }
            batches.push(batch);
        }
        syncer.round(batches);
        assert_eq!(syncs.load(Ordering::SeqCst), 1, "one sync for all batches");
        // After it: every caller has its own result, errors included.
        for (n, rx) in receivers.lock().unwrap().iter_mut().enumerate() {
            let (b, i) = (n as u64 / 4, n as u64 % 4);
            match rx.try_recv().unwrap() {
                Ok(seqs) => assert_eq!(seqs, vec![b * 10 + i]),
                Err(StoreError::AlreadyExists(w)) => assert_eq!((w, i), (format!("w{b}"), 3)),
                other => panic!("unexpected reply {other:?}"),
            }
        }
    }

    /// The writer commits batches while the syncer syncs: every reply must
    /// come after a sync that started after its batch was committed.
    #[test]
    fn every_ack_follows_a_sync_started_after_its_commit() {
        const BATCHES: u64 = 200;
        // Batches committed so far (the writer bumps it when COMMIT returns).
        let committed = Arc::new(AtomicU64::new(0));
        // Batches covered by a finished sync: those committed when it started.
        let durable = Arc::new(AtomicU64::new(0));
        let syncs = Arc::new(AtomicU64::new(0));
        let (c, d, n) = (committed.clone(), durable.clone(), syncs.clone());
        let thread = SyncThread::start(move || {
            let covers = c.load(Ordering::SeqCst);
            // Long enough that an early reply would be seen before the
            // sync that should have preceded it finishes.
            std::thread::sleep(Duration::from_millis(2));
            d.fetch_max(covers, Ordering::SeqCst);
            n.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<(u64, Rx)>();
        let checker = std::thread::spawn(move || {
            for (b, reply) in rx {
                assert_eq!(reply.blocking_recv().unwrap().unwrap(), vec![b]);
                // Batch b is the (b+1)-th committed.
                let covered = durable.load(Ordering::SeqCst);
                assert!(covered > b, "batch {b} acknowledged; durable: {covered}");
            }
        });
        for b in 0..BATCHES {
            let (p, reply) = pending(Ok(vec![b]));
            committed.fetch_add(1, Ordering::SeqCst); // "COMMIT returned"
            thread.submit(vec![p]);
            tx.send((b, reply)).unwrap();
            if b % 7 == 0 {
                std::thread::sleep(Duration::from_micros(500));
            }
        }
        drop(tx);
        thread.stop();
        checker.join().unwrap();
        let syncs = syncs.load(Ordering::SeqCst);
        assert!((1..=BATCHES).contains(&syncs), "{syncs} syncs");
    }

    #[test]
    fn a_failed_sync_fails_its_batches_and_poisons() {
        let calls = Arc::new(AtomicU64::new(0));
        let c = calls.clone();
        let poison = Poison::default();
        let mut syncer = Syncer::new(
            move || {
                c.fetch_add(1, Ordering::SeqCst);
                Err(io::Error::other("EIO"))
            },
            poison.clone(),
        );
        let (p1, mut rx1) = pending(Ok(vec![1]));
        let (p2, mut rx2) = pending(Ok(vec![2]));
        syncer.round(vec![vec![p1], vec![p2]]);
        assert!(poison.is_set());
        for rx in [&mut rx1, &mut rx2] {
            let r = rx.try_recv();
            assert!(
                matches!(&r, Ok(Err(StoreError::Unavailable(m))) if m.contains("fdatasync failed")),
                "{r:?}"
            );
        }
        // Later batches fail too, without another (meaningless) sync.
        let (p3, mut rx3) = pending(Ok(vec![3]));
        syncer.round(vec![vec![p3]]);
        assert!(matches!(rx3.try_recv(), Ok(Err(StoreError::Unavailable(m))) if m == POISONED));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_wal_file_is_followed_when_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let walp = dir.path().join("x.db-wal");
        let mut wal = WalFile::new(&db);
        assert!(
            wal.sync().is_err(),
            "no WAL: an error, not a silent success"
        );
        std::fs::write(&walp, b"one").unwrap();
        wal.sync().unwrap();
        let first = wal.open.as_ref().map(|(_, id)| *id);
        std::fs::remove_file(&walp).unwrap();
        std::fs::write(&walp, b"two").unwrap();
        wal.sync().unwrap();
        let second = wal.open.as_ref().map(|(_, id)| *id);
        #[cfg(unix)]
        assert_ne!(first, second);
        let _ = (first, second);
    }
}
