//! The database schema and its migrations, the file checks made before a
//! database is trusted, and the connection settings every store uses.
//!
//! Architecture Invariant: this module is the only place that defines
//! tables. The schema version is SQLite's `user_version`; `MIGRATIONS[i]`
//! moves a database from version `i` to `i + 1`, inside one transaction
//! together with the new `user_version`, so a crash mid-migration leaves the
//! old version intact. Migrations are append-only: a released step is never
//! edited, a change is a new step.

use super::error::{StoreError, StoreResult};
use rusqlite::{Connection, ErrorCode, TransactionBehavior};
use std::path::Path;
use std::time::Duration;

/// SQLite `application_id` of a riskmesh database: "RMSH" in ASCII. A file
/// with any other id is refused, so the node never writes into a foreign
/// database by mistake.
pub const APPLICATION_ID: i32 = 0x524D_5348;

/// How long a statement waits for another connection's lock (for example a
/// read-only CLI checking the database) before failing with `SQLITE_BUSY`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection; above the number of distinct
/// statements the store issues, so hot paths never re-prepare.
const STATEMENT_CACHE: usize = 128;

/// The schema version this build writes: the number of migrations.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Migration steps; step `i` upgrades version `i` to `i + 1`.
///
/// Version 1, the tables:
/// - `entries`: one row per stored entry. The exact envelope bytes plus the
///   columns queries filter on. `local_id` is the insertion order and the
///   key of the body. `category`, `severity` and `target` are derived from
///   the body and are cleared with it by a purge. Every author's rows form a
///   contiguous chain from seq 1 (enforced on insert).
/// - `bodies`: body bytes, apart from the headers so that scans over
///   `entries` (chain restore, lists) stay small and a purge is a delete.
/// - `purges`: retractions that asked for a purge, by target and author
///   (`retraction` is NULL for a purge the operator ordered); a body
///   arriving later for a purged target is not stored.
/// - `equivocations`: equivocation proofs, one per (author, seq).
/// - `rosters`: every verified roster version, as signed.
///
/// Reserved for the hazardous tier (a later migration, not this one): a
/// `withheld` table holding the withheld details of this node's own
/// hazardous entries, encrypted at rest and keyed by entry id; and the
/// release audit state. Withheld details must never enter `bodies`.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE entries (
    local_id     INTEGER PRIMARY KEY,
    id           BLOB    NOT NULL UNIQUE CHECK (length(id) = 32),
    author       BLOB    NOT NULL CHECK (length(author) = 32),
    seq          INTEGER NOT NULL CHECK (seq >= 1),
    timestamp_ms INTEGER NOT NULL,
    tier         INTEGER NOT NULL,
    kind         INTEGER NOT NULL,
    category     INTEGER,
    severity     INTEGER,
    target       BLOB CHECK (target IS NULL OR length(target) = 32),
    body_len     INTEGER NOT NULL,
    has_body     INTEGER NOT NULL CHECK (has_body IN (0, 1)),
    received_ms  INTEGER NOT NULL,
    envelope     BLOB    NOT NULL,
    UNIQUE (author, seq)
) STRICT;
CREATE INDEX entries_by_time ON entries (timestamp_ms, local_id);
CREATE INDEX entries_by_target ON entries (target) WHERE target IS NOT NULL;

CREATE TABLE bodies (
    local_id INTEGER PRIMARY KEY REFERENCES entries (local_id) ON DELETE CASCADE,
    body     BLOB NOT NULL
) STRICT;

CREATE TABLE purges (
    target     BLOB    NOT NULL CHECK (length(target) = 32),
    author     BLOB    NOT NULL CHECK (length(author) = 32),
    retraction BLOB CHECK (retraction IS NULL OR length(retraction) = 32),
    purged_ms  INTEGER NOT NULL,
    PRIMARY KEY (target, author)
) STRICT, WITHOUT ROWID;

CREATE TABLE equivocations (
    author      BLOB    NOT NULL CHECK (length(author) = 32),
    seq         INTEGER NOT NULL,
    proof       BLOB    NOT NULL,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (author, seq)
) STRICT;

CREATE TABLE rosters (
    version INTEGER PRIMARY KEY,
    hash    BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),
    signed  BLOB NOT NULL
) STRICT;

-- Withheld fields of hazardous entries this organization may read: its own
-- (as author) or released to it. Each is the age ciphertext of a `Reveal`,
-- encrypted to this organization's own key, so plaintext never rests on disk.
CREATE TABLE withheld (
    target BLOB    NOT NULL CHECK (length(target) = 32),
    field  INTEGER NOT NULL,
    sealed BLOB    NOT NULL,
    PRIMARY KEY (target, field)
) STRICT, WITHOUT ROWID;

-- The release side of access requests this node took part in: sent (as the
-- author), received and verified (as the requester), or a fault (openings
-- that do not match the commitments; `evidence` is the signed release).
CREATE TABLE releases (
    request  BLOB    PRIMARY KEY CHECK (length(request) = 32),
    target   BLOB    NOT NULL CHECK (length(target) = 32),
    state    INTEGER NOT NULL,
    evidence BLOB,
    at_ms    INTEGER NOT NULL
) STRICT;
"#];

/// Whether a connection may write (and so migrate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    ReadWrite,
    ReadOnly,
}

/// Settings that belong to the connection rather than the file; safe to
/// apply before the file is known to be ours because they write nothing.
///
/// `secure_delete=ON` makes SQLite overwrite deleted records and freed pages
/// with zeros instead of leaving them in the file's free space: a purged body
/// must not survive in the database file (the write-ahead log is cleared
/// after a purge too, see `Store::erase_purged`). It costs extra writes only
/// where data is deleted, which the node does rarely.
pub(super) fn configure_connection(conn: &Connection) -> StoreResult<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    Ok(())
}

/// Settings that write to the file (WAL mode is recorded in its header), so
/// they run only once the file is known to be a riskmesh database.
///
/// `synchronous=FULL` in WAL mode syncs the log on every commit: a commit
/// that returned survives power loss, which is what lets the node
/// acknowledge an entry as soon as `insert_entries` returns.
pub(super) fn configure_file(conn: &Connection, access: Access) -> StoreResult<()> {
    if access == Access::ReadWrite {
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::NoWal(mode));
        }
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(())
}

/// Checks that an existing file is an intact riskmesh database this build
/// can use. Reads only; the caller applies file settings and migrations
/// afterwards.
pub(super) fn check_existing(conn: &Connection, path: &Path, access: Access) -> StoreResult<i64> {
    let application_id: i32 = conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(|e| classify_first_read(e, path))?;
    if application_id != APPLICATION_ID {
        return Err(StoreError::NotRiskmesh {
            path: path.to_path_buf(),
            found: application_id,
        });
    }
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| classify_first_read(e, path))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if access == Access::ReadOnly && version < SCHEMA_VERSION {
        return Err(StoreError::NeedsMigration {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    quick_check(conn)?;
    Ok(version)
}

/// The first read of a file tells whether it is SQLite at all.
fn classify_first_read(error: rusqlite::Error, path: &Path) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StoreError::NotSqlite(path.to_path_buf()),
        _ => StoreError::from(error),
    }
}

/// Runs `PRAGMA quick_check` (structure and constraints, without the full
/// index cross-check of `integrity_check`, so opening stays fast) and turns
/// any finding into [`StoreError::Corrupt`].
pub(super) fn quick_check(conn: &Connection) -> StoreResult<()> {
    run_check(conn, "quick_check")
}

/// Runs `PRAGMA integrity_check`: slower than `quick_check`, it also
/// verifies that every index matches its table.
pub(super) fn integrity_check(conn: &Connection) -> StoreResult<()> {
    run_check(conn, "integrity_check")
}

fn run_check(conn: &Connection, pragma: &str) -> StoreResult<()> {
    let mut findings = Vec::new();
    let result = conn.pragma_query(None, pragma, |row| {
        let line: String = row.get(0)?;
        if findings.len() < 5 {
            findings.push(line);
        }
        Ok(())
    });
    match result {
        Ok(()) if findings.len() == 1 && findings[0] == "ok" => Ok(()),
        Ok(()) => Err(StoreError::Corrupt(format!("{pragma}: {}", findings.join("; ")))),
        Err(e) => Err(StoreError::Corrupt(format!("{pragma}: {e}"))),
    }
}

/// Brings a riskmesh database from `from` to [`SCHEMA_VERSION`], one step
/// per transaction.
pub(super) fn migrate(conn: &mut Connection, from: i64) -> StoreResult<()> {
    for (index, step) in MIGRATIONS.iter().enumerate().skip(from.max(0) as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Stamps a brand-new, empty file as a riskmesh database.
pub(super) fn initialize(conn: &Connection) -> StoreResult<()> {
    conn.pragma_update(None, "application_id", APPLICATION_ID)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_id_spells_rmsh() {
        assert_eq!(&APPLICATION_ID.to_be_bytes(), b"RMSH");
    }

    #[test]
    fn every_migration_applies_to_an_empty_database() {
        let mut conn = Connection::open_in_memory().expect("memory db");
        migrate(&mut conn, 0).expect("migrate");
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("user_version");
        assert_eq!(version, SCHEMA_VERSION);
        // A second run is a no-op rather than a "table exists" error.
        migrate(&mut conn, version).expect("idempotent");
    }
}
