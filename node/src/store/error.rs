//! The store's error type: what can go wrong opening, reading or writing the
//! database, with enough detail for an operator to act on.

use rusqlite::ErrorCode;
use std::path::PathBuf;

/// Why a store operation failed.
///
/// Opening never silently resets or recreates a database: every condition
/// that would tempt a reset (missing file, foreign file, newer schema,
/// corruption) is its own variant so the caller can tell the operator what to
/// do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// [`Store::open`](super::Store::open) found no file at the path. Use
    /// [`Store::create`](super::Store::create) (`riskmesh init`) for a new node.
    #[error(
        "database {0} does not exist; create it with `riskmesh init`, or fix the data directory in the config"
    )]
    Missing(PathBuf),
    /// [`Store::create`](super::Store::create) found a file already at the path.
    #[error("database {0} already exists; refusing to overwrite it")]
    AlreadyExists(PathBuf),
    /// The file exists but is empty (for example truncated to zero bytes).
    #[error("database {0} is an empty file; restore it from a backup or move it away")]
    Empty(PathBuf),
    /// The file is not an SQLite database at all, or its header is destroyed.
    #[error("{0} is not an SQLite database (or its header is destroyed); restore it from a backup")]
    NotSqlite(PathBuf),
    /// The file is an SQLite database of some other application: its
    /// `application_id` is not riskmesh's.
    #[error("{path} is an SQLite database but not a riskmesh one (application_id {found:#010x})")]
    NotRiskmesh {
        /// The file.
        path: PathBuf,
        /// The `application_id` found in the file's header.
        found: i32,
    },
    /// The schema version is newer than this build understands (the file was
    /// written by a newer riskmesh).
    #[error(
        "database schema version {found} is newer than this build supports ({supported}); upgrade riskmesh"
    )]
    TooNew {
        /// The file's `user_version`.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A read-only open found an older schema that needs a migration, which
    /// only a read-write open performs.
    #[error(
        "database schema version {found} is older than this build's ({supported}); open it once read-write to migrate"
    )]
    NeedsMigration {
        /// The file's `user_version`.
        found: i64,
        /// The version this build uses.
        supported: i64,
    },
    /// The database is damaged: `PRAGMA quick_check` failed, SQLite reported
    /// corruption, or a stored value does not decode. The message says what.
    #[error("database is corrupt: {0}; restore it from a backup")]
    Corrupt(String),
    /// The file system refused write-ahead logging (for example some
    /// network file systems), so commits could not be made durable as the
    /// node requires.
    #[error("journal_mode stayed `{0}`: WAL is unavailable here; put the data directory on a local disk")]
    NoWal(String),
    /// A roster version is already stored with a different document: two
    /// different rosters claim the same version.
    #[error("a different roster is already stored as version {version}")]
    RosterConflict {
        /// The contested version.
        version: u64,
    },
    /// A value does not fit the database's signed 64-bit integers (for
    /// example a timestamp beyond year 292 million). Nothing was written.
    #[error("{0} is out of the storable range")]
    OutOfRange(&'static str),
    /// A file-system error around the database file (creating it, syncing
    /// its directory).
    #[error("database file: {0}")]
    Io(#[from] std::io::Error),
    /// Any other SQLite error (disk full, locked past the busy timeout, ...).
    #[error("sqlite: {0}")]
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for StoreError {
    /// Corruption reported by SQLite in the middle of any operation becomes
    /// [`StoreError::Corrupt`], so callers need only one check for it; so
    /// does a stored value that no longer decodes as its column's type.
    fn from(error: rusqlite::Error) -> Self {
        match error.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                StoreError::Corrupt(error.to_string())
            }
            _ => match error {
                // Only this module writes the tables, so a value that does
                // not read back as its type was damaged after it was written.
                rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::InvalidColumnType(..)
                | rusqlite::Error::IntegralValueOutOfRange(..) => {
                    StoreError::Corrupt(format!("stored value does not decode: {error}"))
                }
                other => StoreError::Sqlite(other),
            },
        }
    }
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;
