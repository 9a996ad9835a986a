-- Countersign embedded store, schema version 1.
-- Bodies are the JSON of the core's domain types; columns beside them are
-- only what queries filter or compare-and-swap on.

CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS principals (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS tokens (
    id        TEXT PRIMARY KEY,
    principal TEXT NOT NULL,
    body      TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS approvals (
    id           TEXT PRIMARY KEY,
    requester    TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    state        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    version      INTEGER NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS approvals_open ON approvals (requester, request_hash)
    WHERE state IN ('pending', 'approved');
CREATE INDEX IF NOT EXISTS approvals_due ON approvals (expires_at)
    WHERE state IN ('pending', 'approved');
CREATE INDEX IF NOT EXISTS approvals_by_state ON approvals (state, created_at);

CREATE TABLE IF NOT EXISTS decisions (
    id          TEXT PRIMARY KEY,
    has_outcome INTEGER NOT NULL DEFAULT 0,
    body        TEXT NOT NULL
) WITHOUT ROWID;

-- Change authorization: one row per change (model, prompt, pipeline,
-- policy version into one environment); revisions are compare-and-swap.
CREATE TABLE IF NOT EXISTS changes (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    subject      TEXT NOT NULL,
    environment  TEXT NOT NULL,
    state        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    deployed_at  INTEGER,
    rev          INTEGER NOT NULL,
    body         TEXT NOT NULL,
    -- A policy change's proposed set (JSON), kept out of `body` so lists
    -- and gate checks never read megabytes of Cedar text.
    policy       TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS changes_by_subject ON changes (subject, created_at);
CREATE INDEX IF NOT EXISTS changes_by_state ON changes (state, created_at);

-- The audit log. `seq` is the leaf index in the Merkle tree (from 0);
-- `entry` is the RFC 8785 canonical JSON whose leaf hash is in audit_nodes.
CREATE TABLE IF NOT EXISTS audit_entries (
    seq         INTEGER PRIMARY KEY,
    time        INTEGER NOT NULL,
    type        TEXT NOT NULL,
    principal   TEXT,
    action      TEXT,
    environment TEXT,
    verdict     TEXT,
    entry       BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit_entries (time);
CREATE INDEX IF NOT EXISTS audit_by_principal ON audit_entries (principal, seq);
CREATE INDEX IF NOT EXISTS audit_by_action ON audit_entries (action, seq);

-- Hashes of every complete subtree: level 0 = leaf hashes, level k = the
-- subtree of 2^k leaves starting at leaf idx << k. Proofs read O(log n) rows.
CREATE TABLE IF NOT EXISTS audit_nodes (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;

-- Large payloads (SQL text, tool arguments): entries carry their SHA-256.
CREATE TABLE IF NOT EXISTS audit_payloads (
    hash TEXT PRIMARY KEY,
    body BLOB NOT NULL
) WITHOUT ROWID;

-- Signed checkpoints (C2SP tlog-checkpoint in a signed note).
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    size       INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    note       TEXT NOT NULL
);
