//! Streaming the stored tree (`audit_nodes`) alongside the recomputed one.
//!
//! A recomputed tree creates its nodes level by level in increasing index
//! order, interleaved across levels. One cursor per level, each reading
//! `WHERE level = L ORDER BY idx` (a contiguous range of the primary key),
//! follows that order with sequential reads and no point lookups.

use super::{Db, Finding, Place, VerifyError};
use countersign_tlog::Hash;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Rows, Statement};

/// Levels a tree of up to `u64::MAX` leaves can have.
const LEVELS: u8 = 64;

/// One prepared statement per level (the cursors borrow them).
pub(super) struct StoredTree<'c> {
    conn: &'c Connection,
    stmts: Vec<Statement<'c>>,
}

impl<'c> StoredTree<'c> {
    pub fn prepare(conn: &'c Connection, db: &Db<'_>) -> Result<Self, VerifyError> {
        let stmts = (0..LEVELS)
            .map(|_| {
                conn.prepare("SELECT idx, hash FROM audit_nodes WHERE level = ?1 ORDER BY idx")
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(db.err())?;
        Ok(StoredTree { conn, stmts })
    }

    pub fn open(&mut self, db: &Db<'_>) -> Result<Cursors<'_>, VerifyError> {
        let rows = self
            .stmts
            .iter_mut()
            .enumerate()
            .map(|(level, st)| st.query([level as i64]))
            .collect::<Result<Vec<_>, _>>()
            .map_err(db.err())?;
        Ok(Cursors {
            conn: self.conn,
            rows,
            compared: 0,
        })
    }
}

/// Per-level cursors over the stored nodes.
pub(super) struct Cursors<'s> {
    conn: &'s Connection,
    rows: Vec<Rows<'s>>,
    compared: u64,
}

/// Level 0 is reported as the entry it hashes.
fn place(level: u8, index: u64) -> Place {
    if level == 0 {
        Place::Entry(index)
    } else {
        Place::Node { level, index }
    }
}

impl Cursors<'_> {
    /// Stored nodes compared so far.
    pub fn compared(&self) -> u64 {
        self.compared
    }

    /// Compares the recomputed node `(level, index)` with the next stored
    /// node of that level.
    pub fn check(
        &mut self,
        level: u8,
        index: u64,
        hash: &Hash,
        db: &Db<'_>,
    ) -> Result<(), VerifyError> {
        let missing = || {
            Finding::new(
                place(level, index),
                if level == 0 {
                    "its leaf hash is not in the stored tree (the entry was added outside the log)"
                } else {
                    "its hash is missing from the stored tree"
                },
            )
        };
        let Some(rows) = self.rows.get_mut(usize::from(level)) else {
            return Err(missing().into());
        };
        let Some(row) = rows.next().map_err(db.err())? else {
            return Err(missing().into());
        };
        let idx = match row.get_ref(0).map_err(db.err())? {
            ValueRef::Integer(i) => i,
            _ => -1,
        };
        let want = i64::try_from(index).unwrap_or(i64::MAX);
        if idx > want {
            return Err(missing().into());
        }
        if idx < want {
            return Err(Finding::new(
                place(level, index),
                format!(
                    "the stored tree has a node at level {level}, index {idx} that belongs to no \
                     tree (a node was inserted)"
                ),
            )
            .into());
        }
        let same = match row.get_ref(1).map_err(db.err())? {
            ValueRef::Blob(b) => b == hash.as_slice(),
            _ => false,
        };
        if !same {
            let reason = if level == 0 {
                "it does not match its stored leaf hash (the entry or its stored hash was changed)"
            } else {
                "its stored hash differs from the hash recomputed from the entries (the stored \
                 tree was changed)"
            };
            return Err(Finding::new(place(level, index), reason).into());
        }
        self.compared += 1;
        Ok(())
    }

    /// After the last entry: no stored node may remain beyond the tree of
    /// `size` entries, at any level.
    pub fn leftover(&mut self, size: u64, db: &Db<'_>) -> Result<(), VerifyError> {
        for (level, rows) in (0u8..).zip(self.rows.iter_mut()) {
            if let Some(row) = rows.next().map_err(db.err())? {
                let idx: i64 = row.get(0).map_err(db.err())?;
                let index = u64::try_from(idx).unwrap_or(u64::MAX);
                let reason = if level == 0 {
                    format!(
                        "its leaf hash is stored but the log has only {size} entries (the entry \
                         was deleted)"
                    )
                } else {
                    format!(
                        "its hash is stored but no tree of {size} entries has it (the stored \
                         tree was changed)"
                    )
                };
                return Err(Finding::new(place(level, index), reason).into());
            }
        }
        let stray: Option<(i64, i64)> = self
            .conn
            .query_row(
                "SELECT level, idx FROM audit_nodes WHERE level < 0 OR level >= ?1 LIMIT 1",
                [i64::from(LEVELS)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
            .map_err(db.err())?;
        if let Some((level, idx)) = stray {
            return Err(Finding::new(
                Place::Node {
                    level: u8::try_from(level).unwrap_or(u8::MAX),
                    index: u64::try_from(idx).unwrap_or(u64::MAX),
                },
                format!("a node is stored at level {level}, which no tree has"),
            )
            .into());
        }
        Ok(())
    }
}
