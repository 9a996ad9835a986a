//! Fast node reads for proofs and tiles.
//!
//! An inclusion proof at 10 million entries needs ~24 complete-subtree
//! hashes; read one by one from `audit_nodes`, each is a SQLite statement
//! (~3 µs), so a proof costs ~80 µs. Two things cut that:
//!
//! - the upper levels (`>= CACHED_FROM`) are held in memory. There are
//!   `n / 2^CACHED_FROM` of them at that level and as many again above it:
//!   4 bytes per entry (40 MB at 10 million). Nodes never change once
//!   written, so the cache is filled lazily from committed rows, in ranges,
//!   and can never be stale;
//! - the few lower-level nodes a computation needs are found first by
//!   running it against a reader that only records what is asked (the tree
//!   shape alone decides that), then fetched with one statement.

use crate::audit::NodeReader;
use countersign_tlog::{Hash, HashReader, TlogError};
use rusqlite::{Connection, params};
use std::collections::HashMap;
use std::sync::RwLock;

/// Levels from this one up live in memory.
pub const CACHED_FROM: u8 = 4;
/// Keys fetched per statement.
const BATCH: usize = 32;
/// Fewer lower-level keys than this are read by point lookups.
const BATCH_FROM: usize = 8;

/// The in-memory upper levels, shared by every reader connection.
#[derive(Debug, Default)]
pub struct NodeCache {
    /// `levels[l - CACHED_FROM][idx]`: a prefix of each level, in order.
    levels: RwLock<Vec<Vec<Hash>>>,
}

impl NodeCache {
    /// Bytes of hashes held.
    pub fn bytes(&self) -> usize {
        self.levels
            .read()
            .map_or(0, |l| l.iter().map(|v| v.len() * 32).sum())
    }

    fn get(&self, level: u8, index: u64) -> Option<Hash> {
        let l = usize::from(level.checked_sub(CACHED_FROM)?);
        let i = usize::try_from(index).ok()?;
        self.levels.read().ok()?.get(l)?.get(i).copied()
    }

    /// Loads the rows of `level` from the cached prefix up to `index`, in
    /// one range read.
    fn fill(&self, c: &Connection, level: u8, index: u64) -> Result<(), TlogError> {
        let missing = TlogError::NodeNotFound { level, index };
        let l = usize::from(level - CACHED_FROM);
        let have = match self.levels.read() {
            Ok(levels) => levels.get(l).map_or(0, Vec::len),
            Err(_) => return Err(missing),
        };
        let (from, to) = (
            i64::try_from(have).map_err(|_| missing.clone())?,
            i64::try_from(index).map_err(|_| missing.clone())?,
        );
        if to < from {
            return Ok(());
        }
        let mut st = c
            .prepare_cached(
                "SELECT idx, hash FROM audit_nodes WHERE level = ?1 AND idx BETWEEN ?2 AND ?3
                 ORDER BY idx",
            )
            .map_err(|_| missing.clone())?;
        let mut rows = st
            .query(params![level, from, to])
            .map_err(|_| missing.clone())?;
        let mut got = Vec::new();
        let mut expect = from;
        while let Some(r) = rows.next().map_err(|_| missing.clone())? {
            let idx: i64 = r.get(0).map_err(|_| missing.clone())?;
            let blob: Vec<u8> = r.get(1).map_err(|_| missing.clone())?;
            // A gap would misplace every later hash: keep only the prefix.
            if idx != expect {
                break;
            }
            let Ok(h) = Hash::try_from(blob.as_slice()) else {
                break;
            };
            got.push(h);
            expect += 1;
        }
        let Ok(mut levels) = self.levels.write() else {
            return Err(missing);
        };
        if levels.len() <= l {
            levels.resize(l + 1, Vec::new());
        }
        // Another reader may have filled part of it meanwhile.
        let lvl = &mut levels[l];
        let skip = lvl.len().saturating_sub(have);
        lvl.extend(got.into_iter().skip(skip));
        Ok(())
    }
}

/// Records which lower-level nodes a computation asks for.
struct Recorder {
    wanted: std::cell::RefCell<Vec<(u8, u64)>>,
}

impl HashReader for Recorder {
    fn node(&self, level: u8, index: u64) -> Result<Hash, TlogError> {
        if level < CACHED_FROM {
            self.wanted.borrow_mut().push((level, index));
        }
        Ok([0; 32])
    }
}

/// Reads through the cache, the prefetched nodes, then SQLite.
#[derive(Debug)]
pub struct CachedReader<'a> {
    conn: &'a Connection,
    cache: &'a NodeCache,
    prefetched: HashMap<(u8, u64), Hash>,
}

impl HashReader for CachedReader<'_> {
    fn node(&self, level: u8, index: u64) -> Result<Hash, TlogError> {
        if level >= CACHED_FROM {
            if let Some(h) = self.cache.get(level, index) {
                return Ok(h);
            }
            self.cache.fill(self.conn, level, index)?;
            if let Some(h) = self.cache.get(level, index) {
                return Ok(h);
            }
        } else if let Some(h) = self.prefetched.get(&(level, index)) {
            return Ok(*h);
        }
        NodeReader(self.conn).node(level, index)
    }
}

impl<'a> CachedReader<'a> {
    /// A reader for `f`: its lower-level nodes fetched up front when
    /// there are enough of them for one statement to beat point lookups.
    pub fn prepare<T>(
        conn: &'a Connection,
        cache: &'a NodeCache,
        f: &impl Fn(&dyn HashReader) -> Result<T, TlogError>,
    ) -> Self {
        Self::prepare_batching_from(conn, cache, f, BATCH_FROM)
    }

    /// [`CachedReader::prepare`], batching only from `batch_from` keys
    /// (benchmarks compare thresholds).
    pub fn prepare_batching_from<T>(
        conn: &'a Connection,
        cache: &'a NodeCache,
        f: &impl Fn(&dyn HashReader) -> Result<T, TlogError>,
        batch_from: usize,
    ) -> Self {
        if batch_from == usize::MAX {
            return CachedReader {
                conn,
                cache,
                prefetched: HashMap::new(),
            };
        }
        let rec = Recorder {
            wanted: std::cell::RefCell::new(Vec::new()),
        };
        // Only the shape of the calls matters here, not the result.
        let _ = f(&rec);
        let mut wanted = rec.wanted.into_inner();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.len() < batch_from {
            return CachedReader {
                conn,
                cache,
                prefetched: HashMap::new(),
            };
        }
        let mut prefetched = HashMap::with_capacity(wanted.len());
        for chunk in wanted.chunks(BATCH) {
            // A failed batch only means the slower path below is taken.
            let _ = fetch(conn, chunk, &mut prefetched);
        }
        CachedReader {
            conn,
            cache,
            prefetched,
        }
    }
}

/// One statement for up to [`BATCH`] keys.
fn fetch(
    c: &Connection,
    keys: &[(u8, u64)],
    into: &mut HashMap<(u8, u64), Hash>,
) -> rusqlite::Result<()> {
    let values = vec!["(?,?)"; keys.len()].join(",");
    let sql = format!(
        "SELECT n.level, n.idx, n.hash FROM (VALUES {values}) AS k
         JOIN audit_nodes n ON n.level = k.column1 AND n.idx = k.column2"
    );
    let mut st = c.prepare_cached(&sql)?;
    let mut args: Vec<i64> = Vec::with_capacity(keys.len() * 2);
    for &(level, idx) in keys {
        args.push(i64::from(level));
        args.push(i64::try_from(idx).unwrap_or(i64::MAX));
    }
    let mut rows = st.query(rusqlite::params_from_iter(args))?;
    while let Some(r) = rows.next()? {
        let level: u8 = r.get(0)?;
        let idx: i64 = r.get(1)?;
        let blob: Vec<u8> = r.get(2)?;
        if let (Ok(idx), Ok(h)) = (u64::try_from(idx), Hash::try_from(blob.as_slice())) {
            into.insert((level, idx), h);
        }
    }
    Ok(())
}
