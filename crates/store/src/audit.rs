//! The audit log inside the store: appending entries with their Merkle
//! hashes (writer side) and reading entries, nodes and checkpoints (reader
//! side). The tree math and formats are `countersign-tlog`'s.

use crate::rows::{self, unavailable};
use countersign_core::Timestamp;
use countersign_core::store::{StoreError, Write};
use countersign_tlog::{Checkpoint, Frontier, Hash, HashReader, Signer, TlogError};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// What the writer keeps in memory: the tree's right edge and the clock.
#[derive(Debug, Clone)]
pub(crate) struct LogState {
    pub frontier: Frontier,
    /// Entry times never go backwards along the sequence.
    pub last_time: i64,
    pub last_checkpoint: u64,
}

impl LogState {
    /// Rebuilds the frontier from the stored nodes; checks the entry count
    /// and the node count agree (they are written in one transaction).
    pub fn recover(c: &Connection) -> Result<Self, String> {
        let (count, max_seq, last_time): (i64, Option<i64>, Option<i64>) = c
            .query_row(
                "SELECT count(*), max(seq), max(time) FROM audit_entries",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(|e| e.to_string())?;
        let size = u64::try_from(count).map_err(|e| e.to_string())?;
        if max_seq.map_or(0, |m| m + 1) != count {
            return Err(format!(
                "{count} entries but highest sequence number is {max_seq:?}: entries are missing"
            ));
        }
        let frontier = Frontier::load(&NodeReader(c), size).map_err(|e| e.to_string())?;
        let last_checkpoint: Option<i64> = c
            .query_row("SELECT max(size) FROM audit_checkpoints", [], |r| r.get(0))
            .map_err(|e| e.to_string())?;
        Ok(LogState {
            frontier,
            last_time: last_time.unwrap_or(0),
            last_checkpoint: last_checkpoint
                .and_then(|s| u64::try_from(s).ok())
                .unwrap_or(0),
        })
    }
}

fn tlog_err(e: TlogError) -> StoreError {
    StoreError::Unavailable(format!("audit log: {e}"))
}

fn i64_of(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Unavailable("sequence number overflow".into()))
}

/// Applies a write: mutations, then each event appended to the log.
///
/// Takes the write by reference so that the writer can apply it again
/// (in a savepoint) if its batch has to be redone.
pub(crate) fn apply_write(
    c: &Connection,
    s: &mut LogState,
    write: &Write,
) -> Result<Vec<u64>, StoreError> {
    for m in &write.mutations {
        rows::apply(c, m)?;
    }
    let mut seqs = Vec::with_capacity(write.events.len());
    for ev in &write.events {
        let seq = s.frontier.size();
        // The log's clock: the append time, never earlier than the previous entry.
        let now = Timestamp::now().millis().max(s.last_time);
        s.last_time = now;
        let mut value = ev.to_entry_value(seq);
        if let Some(obj) = value.as_object_mut() {
            obj.insert("time".into(), serde_json::Value::from(now));
        }
        let entry = countersign_tlog::canonicalize(&value).map_err(|e| {
            StoreError::Unavailable(format!("audit event cannot be canonicalized: {e}"))
        })?;
        let leaf = countersign_tlog::leaf_hash(&entry);
        let nodes = s.frontier.append(leaf).map_err(tlog_err)?;
        let seq_i = i64_of(seq)?;
        c.prepare_cached(
            "INSERT INTO audit_entries (seq, time, type, principal, action, environment, verdict, entry)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .and_then(|mut st| {
            st.execute(params![
                seq_i,
                now,
                ev.kind.as_str(),
                ev.principal.as_ref().map(|p| p.name.as_str()),
                ev.action,
                ev.environment,
                ev.verdict,
                entry
            ])
        })
        .map_err(unavailable)?;
        let mut ins = c
            .prepare_cached("INSERT INTO audit_nodes (level, idx, hash) VALUES (?1, ?2, ?3)")
            .map_err(unavailable)?;
        for (level, idx, hash) in nodes {
            ins.execute(params![level, i64_of(idx)?, &hash[..]])
                .map_err(unavailable)?;
        }
        if let (Some(h), Some(body)) = (&ev.payload_hash, &ev.payload) {
            c.prepare_cached("INSERT OR IGNORE INTO audit_payloads (hash, body) VALUES (?1, ?2)")
                .and_then(|mut st| st.execute(params![h, body]))
                .map_err(unavailable)?;
        }
        seqs.push(seq);
    }
    Ok(seqs)
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointRow {
    pub size: u64,
    pub created_at: Timestamp,
    /// The signed note text (C2SP tlog-checkpoint in a signed-note).
    pub note: String,
}

/// Signs and stores a checkpoint of the current tree if it grew since the
/// last one (or none exists). Only the writer signs, from its own tree, so
/// two checkpoints can never disagree.
pub(crate) fn checkpoint(
    c: &Connection,
    s: &mut LogState,
    signer: &Signer,
    origin: &str,
) -> Result<Option<CheckpointRow>, StoreError> {
    let size = s.frontier.size();
    let has_any: bool = c
        .query_row("SELECT EXISTS (SELECT 1 FROM audit_checkpoints)", [], |r| {
            r.get(0)
        })
        .map_err(unavailable)?;
    if has_any && size <= s.last_checkpoint {
        return Ok(None);
    }
    let cp = Checkpoint {
        origin: origin.to_owned(),
        size,
        root: s.frontier.root(),
        extensions: Vec::new(),
    };
    let note = cp.sign(signer).map_err(tlog_err)?;
    let now = Timestamp::now();
    let size_i = i64_of(size)?;
    c.prepare_cached("INSERT INTO audit_checkpoints (size, created_at, note) VALUES (?1, ?2, ?3)")
        .and_then(|mut st| st.execute(params![size_i, now.millis(), note]))
        .map_err(unavailable)?;
    s.last_checkpoint = size;
    Ok(Some(CheckpointRow {
        size,
        created_at: now,
        note,
    }))
}

/// Reads complete-subtree hashes from `audit_nodes`.
pub struct NodeReader<'a>(pub &'a Connection);

impl HashReader for NodeReader<'_> {
    fn node(&self, level: u8, index: u64) -> Result<Hash, TlogError> {
        let missing = TlogError::NodeNotFound { level, index };
        let idx = i64::try_from(index).map_err(|_| missing.clone())?;
        let blob: Option<Vec<u8>> = self
            .0
            .prepare_cached("SELECT hash FROM audit_nodes WHERE level = ?1 AND idx = ?2")
            .and_then(|mut st| st.query_row(params![level, idx], |r| r.get(0)).optional())
            .map_err(|_| missing.clone())?;
        blob.and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .ok_or(missing)
    }
}

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: u64,
    pub time: Timestamp,
    /// The canonical JSON bytes whose leaf hash is in the tree.
    pub entry: Vec<u8>,
}

/// Filters for listing entries; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub start: u64,
    pub limit: usize,
    pub principal: Option<String>,
    pub action: Option<String>,
    pub environment: Option<String>,
    pub verdict: Option<String>,
    pub kind: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

pub(crate) fn entries(c: &Connection, f: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
    // Only the filters given go into the statement: a generic
    // `(?n IS NULL OR col = ?n)` shape keeps SQLite from using the
    // `(principal, seq)` and `(action, seq)` indexes, and a filter that
    // matches nothing then walks the whole log.
    let mut sql = String::from("SELECT seq, time, entry FROM audit_entries WHERE seq >= ?");
    let mut args: Vec<rusqlite::types::Value> = vec![i64_of(f.start)?.into()];
    let text = |v: &Option<String>| v.clone().map(rusqlite::types::Value::Text);
    for (col, v) in [
        ("principal", text(&f.principal)),
        ("action", text(&f.action)),
        ("environment", text(&f.environment)),
        ("verdict", text(&f.verdict)),
        ("type", text(&f.kind)),
    ] {
        if let Some(v) = v {
            sql.push_str(&format!(" AND {col} = ?"));
            args.push(v);
        }
    }
    if let Some(t) = f.since {
        sql.push_str(" AND time >= ?");
        args.push(t.millis().into());
    }
    if let Some(t) = f.until {
        sql.push_str(" AND time < ?");
        args.push(t.millis().into());
    }
    sql.push_str(" ORDER BY seq LIMIT ?");
    args.push(
        i64::try_from(f.limit.clamp(1, 10_000))
            .unwrap_or(10_000)
            .into(),
    );
    let mut st = c.prepare_cached(&sql).map_err(unavailable)?;
    let rows = st
        .query_map(rusqlite::params_from_iter(args), |r| {
            Ok(AuditEntry {
                seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                time: Timestamp(r.get(1)?),
                entry: r.get(2)?,
            })
        })
        .map_err(unavailable)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)
}

pub(crate) fn size(c: &Connection) -> Result<u64, StoreError> {
    let n: i64 = c
        .query_row("SELECT count(*) FROM audit_entries", [], |r| r.get(0))
        .map_err(unavailable)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub(crate) fn checkpoints(
    c: &Connection,
    from_size: u64,
    limit: usize,
) -> Result<Vec<CheckpointRow>, StoreError> {
    let mut st = c
        .prepare_cached(
            "SELECT size, created_at, note FROM audit_checkpoints WHERE size >= ?1 ORDER BY size LIMIT ?2",
        )
        .map_err(unavailable)?;
    let rows = st
        .query_map(
            params![i64_of(from_size)?, i64::try_from(limit).unwrap_or(i64::MAX)],
            |r| {
                Ok(CheckpointRow {
                    size: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                    created_at: Timestamp(r.get(1)?),
                    note: r.get(2)?,
                })
            },
        )
        .map_err(unavailable)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)
}

pub(crate) fn latest_checkpoint(c: &Connection) -> Result<Option<CheckpointRow>, StoreError> {
    c.query_row(
        "SELECT size, created_at, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1",
        [],
        |r| {
            Ok(CheckpointRow {
                size: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                created_at: Timestamp(r.get(1)?),
                note: r.get(2)?,
            })
        },
    )
    .optional()
    .map_err(unavailable)
}

pub(crate) fn payload(c: &Connection, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
    c.query_row(
        "SELECT body FROM audit_payloads WHERE hash = ?1",
        [hash],
        |r| r.get(0),
    )
    .optional()
    .map_err(unavailable)
}
