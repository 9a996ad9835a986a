//! The durable outbox: a SQLite database of its own (`notify.db`), holding
//! the audit-log cursor, one row per (event, destination) and the Slack
//! message each approval was posted as.
//!
//! It is a separate file from the governor's store on purpose: delivery
//! bookkeeping (attempts, backoff, sent marks) is write-heavy and must never
//! queue behind or in front of decisions in the store's single writer. The
//! audit log stays the source of truth; the outbox is derived from it, and
//! the cursor advances in the same transaction that inserts the rows, so an
//! event is turned into rows exactly once.

use rusqlite::{Connection, OptionalExtension as _, params};
use serde::Serialize;
use std::path::Path;
use std::sync::{Arc, Mutex};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    next_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dest TEXT NOT NULL,
    subject TEXT NOT NULL,
    event TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    sent_at INTEGER,
    UNIQUE (dest, seq)
);
CREATE INDEX IF NOT EXISTS outbox_open ON outbox (dest, subject, id) WHERE state != 'sent';
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, id);
CREATE TABLE IF NOT EXISTS slack_messages (
    subject TEXT NOT NULL,
    channel TEXT NOT NULL,
    ts TEXT NOT NULL,
    PRIMARY KEY (subject, channel)
);
";

#[derive(Debug, Clone, thiserror::Error)]
#[error("outbox: {0}")]
pub struct OutboxError(pub String);

fn err(e: impl std::fmt::Display) -> OutboxError {
    OutboxError(e.to_string())
}

/// A row to insert.
#[derive(Debug, Clone)]
pub struct NewRow {
    pub dest: String,
    pub subject: String,
    pub event: String,
    pub seq: u64,
    pub body: String,
}

/// A row as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub id: i64,
    pub dest: String,
    pub subject: String,
    pub event: String,
    pub seq: u64,
    #[serde(skip)]
    pub body: String,
    pub state: String,
    pub attempts: u32,
    pub next_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// Counts by state, for the API summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub pending: u64,
    pub failed: u64,
    pub sent: u64,
}

#[derive(Debug, Clone)]
pub struct Outbox {
    conn: Arc<Mutex<Connection>>,
}

const COLS: &str = "id, dest, subject, event, seq, body, state, attempts, next_at, last_error, created_at, sent_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        id: r.get(0)?,
        dest: r.get(1)?,
        subject: r.get(2)?,
        event: r.get(3)?,
        seq: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
        body: r.get(5)?,
        state: r.get(6)?,
        attempts: u32::try_from(r.get::<_, i64>(7)?).unwrap_or(u32::MAX),
        next_at: r.get(8)?,
        last_error: r.get(9)?,
        created_at: r.get(10)?,
        sent_at: r.get(11)?,
    })
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Outbox {
    /// Opens (creating) the outbox; a new one starts its cursor at
    /// `start_seq` (the audit log's size), so history is not re-announced.
    pub fn open(path: &Path, start_seq: u64) -> Result<Self, OutboxError> {
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        // FULL: a row marked sent, or a cursor advanced, survives power loss.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        conn.execute(
            "INSERT OR IGNORE INTO cursor (id, next_seq) VALUES (1, ?1)",
            [i64_of(start_seq)],
        )
        .map_err(err)?;
        Ok(Outbox {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, OutboxError> + Send + 'static,
    ) -> Result<T, OutboxError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut c = conn
                .lock()
                .map_err(|_| OutboxError("lock poisoned".into()))?;
            f(&mut c)
        })
        .await
        .map_err(err)?
    }

    pub async fn cursor(&self) -> Result<u64, OutboxError> {
        self.with(|c| {
            let v: i64 = c
                .query_row("SELECT next_seq FROM cursor WHERE id = 1", [], |r| r.get(0))
                .map_err(err)?;
            Ok(u64::try_from(v).unwrap_or(0))
        })
        .await
    }

    /// Inserts `rows` and moves the cursor to `next_seq`, atomically.
    pub async fn enqueue(
        &self,
        rows: Vec<NewRow>,
        next_seq: u64,
        now: i64,
    ) -> Result<(), OutboxError> {
        self.with(move |c| {
            let tx = c.transaction().map_err(err)?;
            {
                let mut st = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO outbox (dest, subject, event, seq, body, next_at, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                    )
                    .map_err(err)?;
                for r in &rows {
                    st.execute(params![r.dest, r.subject, r.event, i64_of(r.seq), r.body, now])
                        .map_err(err)?;
                }
            }
            tx.execute("UPDATE cursor SET next_seq = ?1 WHERE id = 1", [i64_of(next_seq)])
                .map_err(err)?;
            tx.commit().map_err(err)
        })
        .await
    }

    /// The destinations that have unsent rows (workers for them start).
    pub async fn open_dests(&self) -> Result<Vec<String>, OutboxError> {
        self.with(|c| {
            let mut st = c
                .prepare("SELECT DISTINCT dest FROM outbox WHERE state != 'sent'")
                .map_err(err)?;
            st.query_map([], |r| r.get(0))
                .map_err(err)?
                .collect::<Result<Vec<String>, _>>()
                .map_err(err)
        })
        .await
    }

    /// Unsent rows of `dest` that are due and first in line for their
    /// subject: later events of one approval wait for earlier ones.
    pub async fn due(&self, dest: &str, now: i64, limit: usize) -> Result<Vec<Row>, OutboxError> {
        let dest = dest.to_owned();
        let limit = i64::try_from(limit).unwrap_or(100);
        self.with(move |c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {COLS} FROM outbox o
                     WHERE dest = ?1 AND state != 'sent' AND next_at <= ?2
                       AND NOT EXISTS (SELECT 1 FROM outbox p
                           WHERE p.dest = o.dest AND p.subject = o.subject
                             AND p.state != 'sent' AND p.id < o.id)
                     ORDER BY id LIMIT ?3"
                ))
                .map_err(err)?;
            st.query_map(params![dest, now, limit], row)
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)
        })
        .await
    }

    /// The earliest `next_at` of an unsent row of `dest`.
    pub async fn next_due(&self, dest: &str) -> Result<Option<i64>, OutboxError> {
        let dest = dest.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT MIN(next_at) FROM outbox WHERE dest = ?1 AND state != 'sent'",
                [dest],
                |r| r.get(0),
            )
            .map_err(err)
        })
        .await
    }

    pub async fn mark_sent(&self, id: i64, now: i64) -> Result<(), OutboxError> {
        self.with(move |c| {
            c.execute(
                "UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_at = ?2, last_error = NULL
                 WHERE id = ?1",
                params![id, now],
            )
            .map_err(err)?;
            Ok(())
        })
        .await
    }

    /// Records a failed attempt; the row is retried at `next_at`.
    pub async fn mark_failed(
        &self,
        id: i64,
        error: String,
        next_at: i64,
        failed_after: u32,
    ) -> Result<u32, OutboxError> {
        self.with(move |c| {
            let attempts: i64 = c
                .query_row(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_at = ?3,
                        state = CASE WHEN attempts + 1 >= ?4 THEN 'failed' ELSE state END
                     WHERE id = ?1 RETURNING attempts",
                    params![id, error, next_at, i64::from(failed_after)],
                    |r| r.get(0),
                )
                .map_err(err)?;
            Ok(u32::try_from(attempts).unwrap_or(u32::MAX))
        })
        .await
    }

    /// Postpones a row without counting a failure (rate limits).
    pub async fn postpone(&self, id: i64, next_at: i64) -> Result<(), OutboxError> {
        self.with(move |c| {
            c.execute(
                "UPDATE outbox SET next_at = ?2 WHERE id = ?1",
                params![id, next_at],
            )
            .map_err(err)?;
            Ok(())
        })
        .await
    }

    /// Rows, newest first, optionally of one state.
    pub async fn list(&self, state: Option<String>, limit: usize) -> Result<Vec<Row>, OutboxError> {
        let limit = i64::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
        self.with(move |c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {COLS} FROM outbox WHERE (?1 IS NULL OR state = ?1)
                     ORDER BY id DESC LIMIT ?2"
                ))
                .map_err(err)?;
            st.query_map(params![state, limit], row)
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)
        })
        .await
    }

    pub async fn counts(&self) -> Result<Counts, OutboxError> {
        self.with(|c| {
            let mut st = c
                .prepare_cached("SELECT state, COUNT(*) FROM outbox GROUP BY state")
                .map_err(err)?;
            let mut out = Counts::default();
            let rows = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(err)?;
            for r in rows {
                let (s, n) = r.map_err(err)?;
                let n = u64::try_from(n).unwrap_or(0);
                match s.as_str() {
                    "pending" => out.pending = n,
                    "failed" => out.failed = n,
                    "sent" => out.sent = n,
                    _ => {}
                }
            }
            Ok(out)
        })
        .await
    }

    /// Deletes rows sent before `before` (ms), and the Slack message ids of
    /// subjects with no rows left; returns how many rows went.
    pub async fn prune_sent(&self, before: i64) -> Result<usize, OutboxError> {
        self.with(move |c| {
            let tx = c.transaction().map_err(err)?;
            let n = tx
                .execute(
                    "DELETE FROM outbox WHERE state = 'sent' AND sent_at < ?1",
                    [before],
                )
                .map_err(err)?;
            tx.execute(
                "DELETE FROM slack_messages WHERE subject NOT IN (SELECT subject FROM outbox)",
                [],
            )
            .map_err(err)?;
            tx.commit().map_err(err)?;
            Ok(n)
        })
        .await
    }

    pub async fn slack_ts(
        &self,
        subject: &str,
        channel: &str,
    ) -> Result<Option<String>, OutboxError> {
        let (s, ch) = (subject.to_owned(), channel.to_owned());
        self.with(move |c| {
            c.query_row(
                "SELECT ts FROM slack_messages WHERE subject = ?1 AND channel = ?2",
                [s, ch],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)
        })
        .await
    }

    pub async fn set_slack_ts(
        &self,
        subject: &str,
        channel: &str,
        ts: &str,
    ) -> Result<(), OutboxError> {
        let (s, ch, ts) = (subject.to_owned(), channel.to_owned(), ts.to_owned());
        self.with(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO slack_messages (subject, channel, ts) VALUES (?1, ?2, ?3)",
                [s, ch, ts],
            )
            .map_err(err)?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nr(dest: &str, subject: &str, seq: u64) -> NewRow {
        NewRow {
            dest: dest.into(),
            subject: subject.into(),
            event: "approval.requested".into(),
            seq,
            body: "{}".into(),
        }
    }

    #[tokio::test]
    async fn later_events_of_a_subject_wait_for_earlier_ones_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.db");
        let ob = Outbox::open(&path, 5).unwrap();
        assert_eq!(ob.cursor().await.unwrap(), 5);
        ob.enqueue(
            vec![
                nr("w:a", "apr1", 5),
                nr("w:a", "apr2", 6),
                nr("w:a", "apr1", 7),
            ],
            8,
            0,
        )
        .await
        .unwrap();
        // Re-enqueueing the same (dest, seq) is a no-op: no duplicates.
        ob.enqueue(vec![nr("w:a", "apr1", 5)], 8, 0).await.unwrap();
        let due = ob.due("w:a", 0, 10).await.unwrap();
        assert_eq!(due.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![5, 6]);
        let n = ob
            .mark_failed(due[0].id, "down".into(), 100, 1)
            .await
            .unwrap();
        assert_eq!(n, 1);
        // apr1's first row is backing off, so its second row is not due either.
        let due = ob.due("w:a", 50, 10).await.unwrap();
        assert_eq!(due.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![6]);
        assert_eq!(ob.list(Some("failed".into()), 10).await.unwrap().len(), 1);
        drop(ob);
        let ob = Outbox::open(&path, 0).unwrap();
        assert_eq!(ob.cursor().await.unwrap(), 8, "cursor survives reopen");
        let due = ob.due("w:a", 100, 10).await.unwrap();
        assert_eq!(due.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![5, 6]);
        ob.mark_sent(due[0].id, 101).await.unwrap();
        let due = ob.due("w:a", 101, 10).await.unwrap();
        assert_eq!(due.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![6, 7]);
        let failed = ob.list(Some("failed".into()), 10).await.unwrap();
        assert!(failed.is_empty(), "a sent row is no longer failed");
        // Retention: only rows sent before the cut-off go.
        assert_eq!(ob.prune_sent(101).await.unwrap(), 0);
        assert_eq!(ob.prune_sent(102).await.unwrap(), 1);
        assert_eq!(ob.list(None, 10).await.unwrap().len(), 2);
    }
}
