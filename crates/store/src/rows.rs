//! Connections, schema, and row ↔ domain conversions.

use crate::error::OpenError;
use countersign_core::store::{Mutation, StoreError};
use rusqlite::{Connection, OpenFlags, Params, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;

pub const SCHEMA_VERSION: i64 = 1;
const SCHEMA: &str = include_str!("schema.sql");

fn sqlite_err(path: &Path) -> impl Fn(rusqlite::Error) -> OpenError + '_ {
    move |source| OpenError::Sqlite {
        path: path.display().to_string(),
        source,
    }
}

/// The write connection: WAL, `synchronous=NORMAL`, schema applied.
///
/// NORMAL: a commit appends its frames to the WAL without fsync; the
/// writer's syncer thread fdatasyncs the WAL before any caller hears that
/// its write succeeded (see `sync.rs`), so acknowledged writes are still
/// durable. If the database cannot be in WAL mode (in memory), `FULL`:
/// then each commit is durable when it returns.
pub fn open_write(path: &Path) -> Result<Connection, OpenError> {
    let e = sqlite_err(path);
    let conn = Connection::open(path).map_err(&e)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(&e)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(&e)?;
    let level = if mode.eq_ignore_ascii_case("wal") {
        "NORMAL"
    } else {
        "FULL"
    };
    conn.pragma_update(None, "synchronous", level).map_err(&e)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(&e)?;
    conn.execute_batch(SCHEMA).map_err(&e)?;
    let found: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .ok();
    match found.and_then(|v| v.parse::<i64>().ok()) {
        None => {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                [SCHEMA_VERSION.to_string()],
            )
            .map_err(&e)?;
        }
        Some(v) if v == SCHEMA_VERSION => {}
        Some(v) => {
            return Err(OpenError::SchemaVersion {
                path: path.display().to_string(),
                found: v,
                known: SCHEMA_VERSION,
            });
        }
    }
    Ok(conn)
}

/// A read-only connection for the reader pool.
pub fn open_read(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(unavailable)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(unavailable)?;
    Ok(conn)
}

pub fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

pub fn to_json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

/// A change's row body: everything but its proposed policy set.
fn change_body(ch: &countersign_core::change::Change) -> Result<String, StoreError> {
    if ch.policy.is_none() {
        return to_json(ch);
    }
    let mut light = ch.clone();
    light.policy = None;
    to_json(&light)
}

pub fn from_json<T: DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("cannot decode row: {e}")))
}

pub fn bodies<T: DeserializeOwned, P: Params>(
    c: &Connection,
    sql: &str,
    p: P,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = c.prepare_cached(sql).map_err(unavailable)?;
    let rows = stmt
        .query_map(p, |r| r.get::<_, String>(0))
        .map_err(unavailable)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(from_json(&row.map_err(unavailable)?)?);
    }
    Ok(out)
}

pub fn all_bodies<T: DeserializeOwned>(c: &Connection, sql: &str) -> Result<Vec<T>, StoreError> {
    bodies(c, sql, [])
}

pub fn one_body<T: DeserializeOwned, P: Params>(
    c: &Connection,
    sql: &str,
    p: P,
) -> Result<Option<T>, StoreError> {
    Ok(bodies(c, sql, p)?.into_iter().next())
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

fn insert(c: &Connection, sql: &str, p: impl Params, what: String) -> Result<(), StoreError> {
    match c.prepare_cached(sql).and_then(|mut s| s.execute(p)) {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists(what)),
        Err(e) => Err(unavailable(e)),
    }
}

fn update_one(c: &Connection, sql: &str, p: impl Params, what: String) -> Result<(), StoreError> {
    let n = c
        .prepare_cached(sql)
        .and_then(|mut s| s.execute(p))
        .map_err(unavailable)?;
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(what))
    }
}

/// Applies one mutation on the writer's connection (inside its savepoint).
pub fn apply(c: &Connection, m: &Mutation) -> Result<(), StoreError> {
    match m {
        Mutation::CreatePrincipal(p) => insert(
            c,
            "INSERT INTO principals (name, body) VALUES (?1, ?2)",
            params![p.name, to_json(p)?],
            format!("principal `{}`", p.name),
        ),
        Mutation::UpdatePrincipal(p) => match update_one(
            c,
            "UPDATE principals SET body = ?2 WHERE name = ?1",
            params![p.name, to_json(p)?],
            String::new(),
        ) {
            Err(StoreError::Conflict(_)) => {
                Err(StoreError::NotFound(format!("principal `{}`", p.name)))
            }
            other => other,
        },
        Mutation::CreateToken(t) => insert(
            c,
            "INSERT INTO tokens (id, principal, body) VALUES (?1, ?2, ?3)",
            params![t.id, t.principal, to_json(t)?],
            format!("token `{}`", t.id),
        ),
        Mutation::UpdateToken(t) => match update_one(
            c,
            "UPDATE tokens SET body = ?2 WHERE id = ?1",
            params![t.id, to_json(t)?],
            String::new(),
        ) {
            Err(StoreError::Conflict(_)) => Err(StoreError::NotFound(format!("token `{}`", t.id))),
            other => other,
        },
        Mutation::CreateApproval(a) => insert(
            c,
            "INSERT INTO approvals
               (id, requester, request_hash, state, created_at, expires_at, version, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                a.id,
                a.request.principal.name,
                a.request_hash.0,
                a.state.as_str(),
                a.created_at.millis(),
                a.expires_at.millis(),
                i64::try_from(a.version).unwrap_or(i64::MAX),
                to_json(a)?
            ],
            format!("approval `{}`", a.id),
        ),
        Mutation::UpdateApproval {
            approval: a,
            expected_version,
        } => update_one(
            c,
            "UPDATE approvals SET state = ?2, version = ?3, body = ?4
             WHERE id = ?1 AND version = ?5",
            params![
                a.id,
                a.state.as_str(),
                i64::try_from(a.version).unwrap_or(i64::MAX),
                to_json(a)?,
                i64::try_from(*expected_version).unwrap_or(i64::MAX)
            ],
            format!("approval `{}`", a.id),
        ),
        Mutation::CreateDecision(d) => insert(
            c,
            "INSERT INTO decisions (id, has_outcome, body) VALUES (?1, 0, ?2)",
            params![d.id, to_json(d)?],
            format!("decision `{}`", d.id),
        ),
        Mutation::CreateChange(ch) => insert(
            c,
            "INSERT INTO changes
               (id, kind, subject, environment, state, created_at, deployed_at, rev, body, policy)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                ch.id,
                ch.kind,
                ch.subject.to_string(),
                ch.environment,
                ch.state.as_str(),
                ch.created_at.millis(),
                ch.deployed_at.map(|t| t.millis()),
                i64::try_from(ch.rev).unwrap_or(i64::MAX),
                change_body(ch)?,
                ch.policy.as_ref().map(to_json).transpose()?
            ],
            format!("change `{}`", ch.id),
        ),
        // The proposed policy set never changes after submission: updates
        // leave its column alone.
        Mutation::UpdateChange {
            change: ch,
            expected_rev,
        } => update_one(
            c,
            "UPDATE changes SET state = ?2, deployed_at = ?3, rev = ?4, body = ?5
             WHERE id = ?1 AND rev = ?6",
            params![
                ch.id,
                ch.state.as_str(),
                ch.deployed_at.map(|t| t.millis()),
                i64::try_from(ch.rev).unwrap_or(i64::MAX),
                change_body(ch)?,
                i64::try_from(*expected_rev).unwrap_or(i64::MAX)
            ],
            format!("change `{}`", ch.id),
        ),
        Mutation::SetOutcome(d) => update_one(
            c,
            "UPDATE decisions SET has_outcome = 1, body = ?2 WHERE id = ?1 AND has_outcome = 0",
            params![d.id, to_json(d)?],
            format!("outcome of decision `{}`", d.id),
        ),
    }
}
