//! Offline verification of an audit log: recompute everything from the
//! entries and compare it with everything stored.
//!
//! [`verify_log`] opens the database read-only and, in one pass in sequence
//! order, checks that
//!
//! - entries are numbered `0, 1, 2, …` without gaps;
//! - every stored tree hash in `audit_nodes` (leaf hashes at level 0 and
//!   every complete subtree above) equals the one recomputed from the
//!   entries, and no node is missing or extra;
//! - every stored checkpoint is signed by a trusted key, has the expected
//!   origin, and its root is the recomputed root at its size; each one is
//!   consistent with the previous (an RFC 9162 consistency proof built from
//!   the verified hashes checks out between their roots);
//! - a checkpoint kept from earlier (`since`) is signed, no larger than the
//!   log, and its root is the recomputed root at its size: the log only grew,
//!   which catches a rollback of the whole database;
//! - every stored payload still hashes to the SHA-256 its entries carry.
//!
//! It stops at the first problem in sequence order and names its place (an
//! entry, a tree node or a checkpoint). Memory stays bounded: entries, nodes
//! and checkpoints are streamed, and the tree is recomputed with a
//! [`Frontier`].
//!
//! Two threads share the work: one streams entries and hashes leaves (most
//! of the SHA-256 work), the other streams the stored tree and checks it.
//! Each uses its own read connection; both read the same snapshot (the
//! writer only ever appends, and the snapshot is checked to match).

mod batch;
mod nodes;

use batch::{Batch, BatchSender};
use countersign_tlog::{
    Checkpoint, Frontier, Hash, TlogError, Verifier, consistency_proof, verify_consistency,
};
use nodes::StoredTree;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use std::fmt;
use std::path::Path;
use std::sync::mpsc;

/// Attempts to get both connections onto the same snapshot while a server
/// is appending.
const SNAPSHOT_TRIES: usize = 50;

/// What to trust and what to compare against.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Keys trusted to sign checkpoints: the log's current key and any it
    /// had before a rotation.
    pub verifiers: Vec<Verifier>,
    /// The log's origin (first checkpoint line), when known.
    pub origin: Option<String>,
    /// A signed checkpoint kept earlier (note text): the log must extend it.
    pub since: Option<Vec<u8>>,
}

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries in the log (all verified).
    pub size: u64,
    /// Total bytes of those entries.
    pub entry_bytes: u64,
    /// Stored tree hashes compared (leaf hashes included).
    pub nodes: u64,
    /// Signed checkpoints verified.
    pub checkpoints: u64,
    /// Size of the newest checkpoint, if any.
    pub latest_checkpoint: Option<u64>,
    /// Stored payloads whose hash was checked.
    pub payloads: u64,
    /// Size of the `since` checkpoint the log was shown to extend.
    pub since: Option<u64>,
    /// Recomputed root of the whole log.
    pub root: Hash,
}

impl VerifyReport {
    /// Entries appended after the newest checkpoint: internally consistent,
    /// but not yet covered by a signature.
    pub fn unsigned_entries(&self) -> u64 {
        self.size - self.latest_checkpoint.unwrap_or(0)
    }
}

/// Where the log is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Entry `seq`: its row, or its leaf hash.
    Entry(u64),
    /// The stored hash of the complete subtree of `2^level` entries starting
    /// at entry `index << level` (`level >= 1`; level 0 is reported as the
    /// entry).
    Node { level: u8, index: u64 },
    /// The stored checkpoint of this size.
    Checkpoint(u64),
    /// The checkpoint kept from earlier (its size, if it could be read).
    Since(Option<u64>),
    /// A stored payload, by its hex SHA-256.
    Payload(String),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Entry(seq) => write!(f, "entry {seq}"),
            Place::Node { level, index } => {
                let lo = index.checked_shl(u32::from(*level)).unwrap_or(u64::MAX);
                let hi = lo.saturating_add(1u64.checked_shl(u32::from(*level)).unwrap_or(0));
                write!(
                    f,
                    "tree node at level {level}, index {index} (entries {lo}..{hi})"
                )
            }
            Place::Checkpoint(size) => write!(f, "checkpoint of size {size}"),
            Place::Since(Some(size)) => write!(f, "the kept checkpoint (size {size})"),
            Place::Since(None) => write!(f, "the kept checkpoint"),
            Place::Payload(hash) => write!(f, "payload `{hash}`"),
        }
    }
}

/// The first problem found, with its place and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {reason}")]
pub struct Finding {
    pub place: Place,
    pub reason: String,
}

impl Finding {
    fn new(place: Place, reason: impl Into<String>) -> Self {
        Finding {
            place,
            reason: reason.into(),
        }
    }
}

/// Why verification did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The log was read and is wrong.
    #[error("audit log is not intact: {0}")]
    Invalid(Finding),
    /// The database could not be read.
    #[error("cannot read the audit log in `{path}`: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    /// A server kept appending and no consistent snapshot could be taken.
    #[error("the log in `{0}` kept changing; could not read one consistent state")]
    Unstable(String),
    /// A verification thread stopped unexpectedly.
    #[error("verification thread failed")]
    Thread,
}

impl From<Finding> for VerifyError {
    fn from(f: Finding) -> Self {
        VerifyError::Invalid(f)
    }
}

impl VerifyError {
    /// The finding, when the log itself is wrong.
    pub fn finding(&self) -> Option<&Finding> {
        match self {
            VerifyError::Invalid(f) => Some(f),
            _ => None,
        }
    }
}

/// The database path, for error messages.
#[derive(Clone, Copy)]
pub(crate) struct Db<'p>(&'p str);

impl Db<'_> {
    fn err(&self) -> impl Fn(rusqlite::Error) -> VerifyError + '_ {
        move |source| VerifyError::Sqlite {
            path: self.0.to_owned(),
            source,
        }
    }
}

/// Verifies the audit log in the database at `path` (see the module docs).
pub fn verify_log(path: &Path, opts: &VerifyOptions) -> Result<VerifyReport, VerifyError> {
    let shown = path.display().to_string();
    let db = Db(&shown);
    let since = opts
        .since
        .as_deref()
        .map(|n| open_since(n, opts))
        .transpose()?;
    let (entries_conn, tree_conn) = open_snapshot(path, &db)?;

    let (tx, rx, recycle) = batch::channel();
    std::thread::scope(|scope| {
        let entries = scope.spawn(move || stream_entries(&entries_conn, &db, tx));
        let join = || entries.join().map_err(|_| VerifyError::Thread)?;
        let batches = Batches { rx, recycle };
        let mut report = check_tree(&tree_conn, &db, opts, since.as_ref(), batches, join)?;
        report.payloads = check_payloads(&tree_conn, &db)?;
        Ok(report)
    })
}

/// Opens and checks the kept checkpoint.
fn open_since(note: &[u8], opts: &VerifyOptions) -> Result<Checkpoint, VerifyError> {
    let claimed = std::str::from_utf8(note)
        .ok()
        .and_then(|n| n.split_once("\n\n"))
        .and_then(|(text, _)| Checkpoint::parse(&format!("{text}\n")).ok())
        .map(|c| c.size);
    let cp = Checkpoint::open(note, &opts.verifiers)
        .map_err(|e| Finding::new(Place::Since(claimed), signature_reason(&e)))?;
    if let Some(origin) = &opts.origin
        && cp.origin != *origin
    {
        return Err(Finding::new(
            Place::Since(Some(cp.size)),
            format!("it is for log `{}`, not this log (`{origin}`)", cp.origin),
        )
        .into());
    }
    Ok(cp)
}

fn signature_reason(e: &TlogError) -> String {
    match e {
        TlogError::UnverifiedNote => "not signed by a trusted key".to_owned(),
        TlogError::InvalidSignature { .. } => format!("forged or corrupted signature: {e}"),
        other => format!("unreadable signed note: {other}"),
    }
}

fn open_read(path: &Path, db: &Db<'_>) -> Result<Connection, VerifyError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db.err())?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(db.err())?;
    // Sequential scans: map the file instead of copying pages.
    conn.pragma_update(None, "mmap_size", 1i64 << 34)
        .map_err(db.err())?;
    Ok(conn)
}

/// What identifies a state of an append-only log.
fn fingerprint(c: &Connection) -> rusqlite::Result<(Option<i64>, Option<i64>, Option<i64>)> {
    c.query_row(
        "SELECT (SELECT max(seq) FROM audit_entries),
                (SELECT max(idx) FROM audit_nodes WHERE level = 0),
                (SELECT max(size) FROM audit_checkpoints)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// Two read connections inside read transactions on the same state.
fn open_snapshot(path: &Path, db: &Db<'_>) -> Result<(Connection, Connection), VerifyError> {
    let a = open_read(path, db)?;
    let b = open_read(path, db)?;
    for _ in 0..SNAPSHOT_TRIES {
        a.execute_batch("BEGIN").map_err(db.err())?;
        let fa = fingerprint(&a).map_err(db.err())?;
        b.execute_batch("BEGIN").map_err(db.err())?;
        let fb = fingerprint(&b).map_err(db.err())?;
        if fa == fb {
            return Ok((a, b));
        }
        a.execute_batch("ROLLBACK").map_err(db.err())?;
        b.execute_batch("ROLLBACK").map_err(db.err())?;
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Err(VerifyError::Unstable(db.0.to_owned()))
}

struct EntryStats {
    bytes: u64,
}

/// Streams entries in sequence order, checks numbering, and hands them to
/// the tree thread. Stops early (without error) if the receiver hung up
/// because it found a problem first.
fn stream_entries(
    conn: &Connection,
    db: &Db<'_>,
    mut tx: BatchSender,
) -> Result<EntryStats, VerifyError> {
    let mut st = conn
        .prepare("SELECT seq, entry FROM audit_entries ORDER BY seq")
        .map_err(db.err())?;
    let mut rows = st.query([]).map_err(db.err())?;
    let mut stats = EntryStats { bytes: 0 };
    let mut expected: u64 = 0;
    let outcome = loop {
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => break Ok(()),
            Err(e) => break Err(db.err()(e)),
        };
        let seq = match row.get_ref(0).map_err(db.err())? {
            ValueRef::Integer(s) => s,
            _ => {
                break Err(Finding::new(
                    Place::Entry(expected),
                    "sequence number is not an integer",
                )
                .into());
            }
        };
        if u64::try_from(seq).ok() != Some(expected) {
            let reason = if u64::try_from(seq).is_ok_and(|s| s > expected) {
                format!("missing: the next stored entry is {seq} (entries were deleted)")
            } else {
                format!("an entry numbered {seq} is stored before it (an entry was inserted)")
            };
            break Err(Finding::new(Place::Entry(expected), reason).into());
        }
        let entry = match row.get_ref(1).map_err(db.err())? {
            ValueRef::Blob(b) | ValueRef::Text(b) => b,
            _ => break Err(Finding::new(Place::Entry(expected), "entry is not bytes").into()),
        };
        stats.bytes += entry.len() as u64;
        if !tx.push(entry) {
            return Ok(stats);
        }
        expected += 1;
    };
    // Entries before a problem go first, so a problem the tree finds
    // earlier in sequence order is the one reported.
    if !tx.flush() {
        return Ok(stats);
    }
    drop(tx);
    outcome.map(|()| stats)
}

/// The tree thread's end of the entry channel.
struct Batches {
    rx: mpsc::Receiver<Batch>,
    recycle: mpsc::SyncSender<Vec<u8>>,
}

/// A checkpoint already verified: its size and root.
#[derive(Clone, Copy)]
struct Verified {
    size: u64,
    root: Hash,
}

/// Receives leaf hashes, recomputes the tree, compares each new node with
/// the stored one, and checks checkpoints (and `since`) at their sizes.
///
/// `entries` joins the entry thread once its leaves ran out: if it stopped
/// at a problem, that problem comes first in sequence order, before any
/// end-of-log check here.
fn check_tree(
    conn: &Connection,
    db: &Db<'_>,
    opts: &VerifyOptions,
    since: Option<&Checkpoint>,
    batches: Batches,
    entries: impl FnOnce() -> Result<EntryStats, VerifyError>,
) -> Result<VerifyReport, VerifyError> {
    let mut tree = StoredTree::prepare(conn, db)?;
    let mut stored = tree.open(db)?;
    let mut cps = Checkpoints::prepare(conn, db)?;
    let mut cp_rows = cps.query(db)?;
    let mut frontier = Frontier::new();
    let mut state = CheckState {
        conn,
        opts,
        since,
        previous: None,
        checkpoints: 0,
        since_ok: None,
    };
    // The empty tree may already be checkpointed (size 0).
    state.at_size(&frontier, &mut cp_rows, db)?;
    let mut step = |leaf: Hash| -> Result<(), VerifyError> {
        let size = frontier.size();
        for (level, index, hash) in frontier.append(leaf).map_err(tlog_finding(size))? {
            stored.check(level, index, &hash, db)?;
        }
        state.at_size(&frontier, &mut cp_rows, db)
    };
    let mut failed = None;
    for batch in batches.rx {
        batch.leaves(&batches.recycle, |leaf| match step(leaf) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
    }
    let stats = entries()?;
    let size = frontier.size();
    stored.leftover(size, db)?;
    if let Some(row) = cp_rows.next_row(db)? {
        return Err(Finding::new(
            Place::Checkpoint(row.size),
            format!(
                "it covers {} entries but the log has only {size}: entries were removed or the \
                 log was rolled back",
                row.size
            ),
        )
        .into());
    }
    let root = frontier.root();
    if let Some(s) = since {
        if state.since_ok.is_none() {
            return Err(Finding::new(
                Place::Since(Some(s.size)),
                format!(
                    "it covers {} entries but the log has only {size}: the log was rolled back \
                     or truncated since that checkpoint",
                    s.size
                ),
            )
            .into());
        }
        // The proof a remote verifier would ask for: since → now.
        let proof = consistency_proof(&crate::audit::NodeReader(conn), s.size, size)
            .map_err(tlog_finding(s.size))?;
        verify_consistency(s.size, size, &s.root, &root, &proof).map_err(|e| {
            Finding::new(
                Place::Since(Some(s.size)),
                format!("no valid consistency proof to the current log: {e}"),
            )
        })?;
    }
    Ok(VerifyReport {
        size,
        entry_bytes: stats.bytes,
        nodes: stored.compared(),
        checkpoints: state.checkpoints,
        latest_checkpoint: state.previous.map(|p| p.size),
        payloads: 0,
        since: state.since_ok,
        root,
    })
}

fn tlog_finding(size: u64) -> impl Fn(TlogError) -> Finding {
    move |e| Finding::new(Place::Entry(size), format!("tree computation failed: {e}"))
}

/// Checkpoint and `since` checks as the tree grows.
struct CheckState<'a> {
    conn: &'a Connection,
    opts: &'a VerifyOptions,
    since: Option<&'a Checkpoint>,
    previous: Option<Verified>,
    checkpoints: u64,
    since_ok: Option<u64>,
}

impl CheckState<'_> {
    /// Checks every stored checkpoint of the current size, then `since`.
    fn at_size(
        &mut self,
        frontier: &Frontier,
        rows: &mut CheckpointRows<'_>,
        db: &Db<'_>,
    ) -> Result<(), VerifyError> {
        let size = frontier.size();
        while rows.peek_size(db)? == Some(size) {
            let Some(row) = rows.next_row(db)? else { break };
            self.checkpoint(size, &row.note, frontier)?;
        }
        if let Some(s) = self.since.filter(|s| s.size == size) {
            if s.root != frontier.root() {
                return Err(Finding::new(
                    Place::Since(Some(size)),
                    format!(
                        "its root differs from the log's first {size} entries: the log was \
                         rewritten or rolled back since that checkpoint"
                    ),
                )
                .into());
            }
            self.since_ok = Some(size);
        }
        Ok(())
    }

    fn checkpoint(
        &mut self,
        size: u64,
        note: &str,
        frontier: &Frontier,
    ) -> Result<(), VerifyError> {
        let here = Place::Checkpoint(size);
        let cp = Checkpoint::open(note.as_bytes(), &self.opts.verifiers)
            .map_err(|e| Finding::new(here.clone(), signature_reason(&e)))?;
        if let Some(origin) = &self.opts.origin
            && cp.origin != *origin
        {
            return Err(Finding::new(
                here,
                format!("it is for log `{}`, not `{origin}`", cp.origin),
            )
            .into());
        }
        if cp.size != size {
            return Err(Finding::new(
                here,
                format!(
                    "its signed size is {}, not the size it is stored under",
                    cp.size
                ),
            )
            .into());
        }
        let root = frontier.root();
        if cp.root != root {
            let lo = self.previous.map_or(0, |p| p.size);
            if let Some(f) = misnumbered(self.conn, lo, size) {
                return Err(f.into());
            }
            return Err(Finding::new(
                here,
                format!(
                    "its signed root differs from the root of the stored entries: an entry in \
                     {lo}..{size} was changed and the stored tree rewritten to match"
                ),
            )
            .into());
        }
        if let Some(prev) = self.previous {
            let proof = consistency_proof(&crate::audit::NodeReader(self.conn), prev.size, size)
                .map_err(|e| {
                    Finding::new(
                        here.clone(),
                        format!("cannot build a consistency proof: {e}"),
                    )
                })?;
            verify_consistency(prev.size, size, &prev.root, &root, &proof).map_err(|_| {
                Finding::new(
                    here.clone(),
                    format!("not consistent with the checkpoint of size {}", prev.size),
                )
            })?;
        }
        self.previous = Some(Verified { size, root });
        self.checkpoints += 1;
        Ok(())
    }
}

/// Diagnosis after a checkpoint mismatch: the first entry in `lo..hi` whose
/// own `seq` field disagrees with its position (entries renumbered to hide
/// a deletion or insertion). Only runs on the failure path.
fn misnumbered(conn: &Connection, lo: u64, hi: u64) -> Option<Finding> {
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: Option<u64>,
    }
    let mut st = conn
        .prepare("SELECT seq, entry FROM audit_entries WHERE seq >= ?1 AND seq < ?2 ORDER BY seq")
        .ok()?;
    let mut rows = st
        .query([i64::try_from(lo).ok()?, i64::try_from(hi).ok()?])
        .ok()?;
    while let Ok(Some(row)) = rows.next() {
        let pos: i64 = row.get(0).ok()?;
        let pos = u64::try_from(pos).ok()?;
        let claimed = match row.get_ref(1).ok()? {
            ValueRef::Blob(b) | ValueRef::Text(b) => {
                serde_json::from_slice::<Seq>(b).ok().and_then(|s| s.seq)
            }
            _ => None,
        };
        if claimed != Some(pos) {
            let says = claimed.map_or("no sequence number".to_owned(), |c| format!("seq {c}"));
            return Some(Finding::new(
                Place::Entry(pos),
                format!(
                    "it says {says}: entries were renumbered (deleted, inserted or reordered) \
                     and the stored tree rewritten to hide it; the checkpoint of size {hi} \
                     no longer matches"
                ),
            ));
        }
    }
    None
}

struct CheckpointRow {
    size: u64,
    note: String,
}

/// The prepared checkpoint query (rows borrow it).
struct Checkpoints<'c>(rusqlite::Statement<'c>);

impl<'c> Checkpoints<'c> {
    fn prepare(conn: &'c Connection, db: &Db<'_>) -> Result<Self, VerifyError> {
        conn.prepare("SELECT size, note FROM audit_checkpoints ORDER BY size")
            .map(Checkpoints)
            .map_err(db.err())
    }

    fn query(&mut self, db: &Db<'_>) -> Result<CheckpointRows<'_>, VerifyError> {
        Ok(CheckpointRows {
            rows: self.0.query([]).map_err(db.err())?,
            peeked: None,
        })
    }
}

/// Checkpoints in size order with one row of look-ahead.
struct CheckpointRows<'s> {
    rows: rusqlite::Rows<'s>,
    peeked: Option<Option<CheckpointRow>>,
}

impl CheckpointRows<'_> {
    fn fetch(&mut self, db: &Db<'_>) -> Result<Option<CheckpointRow>, VerifyError> {
        let Some(row) = self.rows.next().map_err(db.err())? else {
            return Ok(None);
        };
        let size: i64 = row.get(0).map_err(db.err())?;
        let note: String = row.get(1).map_err(db.err())?;
        let size = u64::try_from(size).map_err(|_| {
            Finding::new(
                Place::Checkpoint(0),
                format!("a checkpoint is stored with the invalid size {size}"),
            )
        })?;
        Ok(Some(CheckpointRow { size, note }))
    }

    fn peek_size(&mut self, db: &Db<'_>) -> Result<Option<u64>, VerifyError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.fetch(db)?);
        }
        Ok(self
            .peeked
            .as_ref()
            .and_then(|p| p.as_ref().map(|r| r.size)))
    }

    fn next_row(&mut self, db: &Db<'_>) -> Result<Option<CheckpointRow>, VerifyError> {
        match self.peeked.take() {
            Some(p) => Ok(p),
            None => self.fetch(db),
        }
    }
}

/// Checks that every stored payload hashes to its key.
fn check_payloads(conn: &Connection, db: &Db<'_>) -> Result<u64, VerifyError> {
    use sha2::{Digest, Sha256};
    let mut st = conn
        .prepare("SELECT hash, body FROM audit_payloads ORDER BY hash")
        .map_err(db.err())?;
    let mut rows = st.query([]).map_err(db.err())?;
    let mut n = 0;
    let mut hex_buf = [0u8; 64];
    while let Some(row) = rows.next().map_err(db.err())? {
        let key: String = row.get(0).map_err(db.err())?;
        let body = match row.get_ref(1).map_err(db.err())? {
            ValueRef::Blob(b) | ValueRef::Text(b) => b,
            _ => &[],
        };
        let digest = Sha256::digest(body);
        let ok = hex::encode_to_slice(digest, &mut hex_buf).is_ok()
            && key.as_bytes().eq_ignore_ascii_case(&hex_buf);
        if !ok {
            return Err(Finding::new(
                Place::Payload(key),
                "its body does not match its SHA-256 (the payload was changed)",
            )
            .into());
        }
        n += 1;
    }
    Ok(n)
}
