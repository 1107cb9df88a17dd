//! The node's durable storage: one SQLite file holding every accepted entry
//! (exact envelope bytes, body, indexed columns), purge records,
//! equivocation proofs and roster versions.
//!
//! Architecture Invariants:
//! - This module is the only code in the workspace that writes SQL; the
//!   schema and its migrations live in `schema.rs` alone.
//! - Only [`VerifiedEntry`] values are stored; bytes read back are handed
//!   out as [`StoredEntry`], which must be re-verified to be trusted as a
//!   header.
//! - A write has happened when its method returns `Ok`: the database runs in
//!   WAL mode with `synchronous=FULL`, and each write method is one
//!   transaction (except [`Store::insert_relayed_entries`], which commits
//!   without a disk sync: it survives a process crash, not a power loss).
//!   [`Store::insert_entries`] takes a whole batch in one transaction
//!   (group commit), so a node acknowledges a batch after one disk sync.
//! - Opening never resets, recreates or silently repairs a database. A
//!   missing, foreign, newer or damaged file is a typed [`StoreError`].
//! - Every author's stored entries form a contiguous chain from seq 1.
//! - A purged body leaves no byte in any file the store writes: deleted
//!   content is zeroed (`secure_delete`) and the write-ahead log is
//!   checkpointed and truncated after the purge commits.
//!
//! The API is synchronous; the node calls it from a blocking thread.

mod columns;
mod error;
mod hazard;
mod read;
mod records;
mod schema;
mod write;

#[cfg(test)]
mod damage;
#[cfg(test)]
pub(crate) mod fixtures;

pub use error::{StoreError, StoreResult};
pub use hazard::{ReleaseRecord, ReleaseState};
pub use read::AllEntries;
pub use records::{
    AuthorChain, EntryMeta, Head, InsertOutcome, Inserted, ListFilter, StoreStats, StoredEntry,
    StoredEquivocation,
};
pub use schema::{APPLICATION_ID, BUSY_TIMEOUT, SCHEMA_VERSION};

use rusqlite::{Connection, OpenFlags};
use schema::Access;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

#[cfg(doc)]
use riskmesh_protocol::VerifiedEntry;

/// Most entries one [`Store::list`] call returns.
pub const MAX_LIST_LIMIT: usize = 1000;
/// Most envelope and body bytes one [`Store::list`] call returns; a page
/// stops early rather than exceed it (but always holds at least one entry).
pub const MAX_LIST_BYTES: usize = 16 * 1024 * 1024;
/// Entries per page read by [`Store::all_entries`].
pub const ALL_ENTRIES_PAGE: usize = 256;

/// An open riskmesh database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// A purge committed but the write-ahead log could not yet be cleared
    /// of the old page images (a reader held it); the next write retries.
    purge_residue: bool,
}

/// Takes group and other permissions off a database (and its -wal and
/// -shm files) that a version before mode 0600 created, before SQLite opens
/// it, so the journal files it creates inherit the tightened mode.
fn restrict_mode(path: &Path, metadata: &std::fs::Metadata) -> StoreResult<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let tighten = |file: &Path, mode: u32| -> StoreResult<()> {
            if mode & 0o077 != 0 {
                std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode & 0o700))
                    .map_err(StoreError::Io)?;
            }
            Ok(())
        };
        tighten(path, metadata.permissions().mode())?;
        for suffix in ["-wal", "-shm"] {
            let mut journal = path.as_os_str().to_owned();
            journal.push(suffix);
            let journal = PathBuf::from(journal);
            if let Ok(m) = std::fs::symlink_metadata(&journal)
                && m.file_type().is_file()
            {
                tighten(&journal, m.permissions().mode())?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, metadata);
    Ok(())
}

impl Store {
    /// Creates a new database at `path`. Fails with
    /// [`StoreError::AlreadyExists`] if anything is there: an existing
    /// database is never overwritten. The parent directory must exist.
    pub fn create(path: impl AsRef<Path>) -> StoreResult<Store> {
        let path = path.as_ref();
        // `create_new` is atomic: of two racing creators, one fails here.
        // Mode 0600: the database holds what other members shared with this
        // organization only; SQLite gives its -wal and -shm files the
        // database file's mode.
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(file) => drop(file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StoreError::AlreadyExists(path.to_path_buf()));
            }
            Err(e) => return Err(StoreError::Io(e)),
        }
        let result = Self::initialize_new(path);
        if result.is_err() {
            // The file is ours and holds nothing yet; leaving it would make
            // the next `open` fail with `Empty` for no useful reason.
            let _ = std::fs::remove_file(path);
        }
        result
    }

    fn initialize_new(path: &Path) -> StoreResult<Store> {
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        schema::configure_connection(&conn)?;
        schema::initialize(&conn)?;
        schema::configure_file(&conn, Access::ReadWrite)?;
        schema::migrate(&mut conn, 0)?;
        sync_parent_dir(path);
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            purge_residue: false,
        })
    }

    /// Opens an existing database read-write, migrating an older schema.
    ///
    /// Fails with [`StoreError::Missing`] if there is no file,
    /// [`StoreError::Empty`], [`StoreError::NotSqlite`] or
    /// [`StoreError::NotRiskmesh`] if the file is not a riskmesh database,
    /// [`StoreError::TooNew`] if a newer build wrote it, and
    /// [`StoreError::Corrupt`] if `PRAGMA quick_check` finds damage.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Store> {
        Self::open_with(path.as_ref(), Access::ReadWrite)
    }

    /// Opens an existing database read-only, for offline tools (`verify`,
    /// `export`) that may run beside a live node. Same checks as
    /// [`Store::open`]; an older schema is [`StoreError::NeedsMigration`]
    /// because migrating writes. Write methods fail on such a store.
    pub fn open_read_only(path: impl AsRef<Path>) -> StoreResult<Store> {
        Self::open_with(path.as_ref(), Access::ReadOnly)
    }

    fn open_with(path: &Path, access: Access) -> StoreResult<Store> {
        let metadata = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Missing(path.to_path_buf()));
            }
            Err(e) => return Err(StoreError::Io(e)),
        };
        // SQLite treats an empty file as a new empty database; for us it is
        // a destroyed one.
        if metadata.len() == 0 {
            return Err(StoreError::Empty(path.to_path_buf()));
        }
        if access == Access::ReadWrite {
            restrict_mode(path, &metadata)?;
        }
        let mode = match access {
            Access::ReadWrite => OpenFlags::SQLITE_OPEN_READ_WRITE,
            Access::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY,
        };
        // No SQLITE_OPEN_CREATE: if the file vanished since the check above,
        // opening fails instead of making a fresh database.
        let mut conn = Connection::open_with_flags(path, mode | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        schema::configure_connection(&conn)?;
        let version = schema::check_existing(&conn, path, access)?;
        schema::configure_file(&conn, access)?;
        if access == Access::ReadWrite {
            schema::migrate(&mut conn, version)?;
        }
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            // A crash between a purge's commit and the log's truncation
            // leaves old page images in the log; the first writer clears it.
            purge_residue: access == Access::ReadWrite,
        };
        if store.purge_residue {
            store.erase_purged();
        }
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the database, checkpointing the write-ahead log, and reports
    /// any error (dropping a `Store` closes it too, silently).
    pub fn close(self) -> StoreResult<()> {
        self.conn.close().map_err(|(_, e)| StoreError::from(e))
    }

    /// Writes a consistent copy of the database to `dest` (which must not
    /// exist), while the store stays usable: an online backup.
    pub fn backup_to(&self, dest: impl AsRef<Path>) -> StoreResult<()> {
        let dest = dest.as_ref();
        if dest.exists() {
            return Err(StoreError::AlreadyExists(dest.to_path_buf()));
        }
        let dest_text = dest
            .to_str()
            .ok_or_else(|| StoreError::Io(std::io::Error::other("backup path is not valid UTF-8")))?;
        self.conn.execute("VACUUM INTO ?1", [dest_text])?;
        Ok(())
    }

    /// Runs `PRAGMA quick_check` now (it also runs on every open).
    pub fn check(&self) -> StoreResult<()> {
        schema::quick_check(&self.conn)
    }

    /// Runs the full `PRAGMA integrity_check` (used after crash tests and by
    /// `riskmesh verify`).
    pub fn integrity_check(&self) -> StoreResult<()> {
        schema::integrity_check(&self.conn)
    }
}

/// Makes the new file's directory entry durable, so a crash right after
/// `create` cannot lose the database file itself.
fn sync_parent_dir(path: &Path) {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Directories cannot be opened for syncing on every platform; where they
    // cannot, there is nothing more to do.
    if let Ok(dir) = File::open(parent) {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{Author, NOW, new_store};
    use super::*;
    use riskmesh_protocol::EquivocationProof;
    use riskmesh_protocol::LogWriter;
    use riskmesh_protocol::testkit;
    use std::io::Write;
    use tempfile::TempDir;

    /// Byte 18 of an SQLite header: 1 for a rollback journal, 2 for WAL.
    fn journal_byte(path: &Path) -> u8 {
        std::fs::read(path).expect("read db")[18]
    }

    /// Relayed entries commit without a disk sync; the connection is back
    /// to `synchronous=FULL` afterwards, also when the insert fails, so an
    /// own publication committed next is synced.
    #[test]
    fn relayed_entries_commit_and_the_connection_returns_to_full_sync() {
        let (_dir, _path, mut store) = new_store();
        let consortium = testkit::signatories();
        let mut author = Author::new(&consortium, "anthropic");
        let entries = author.bulletins(3);
        let sync = |store: &Store| -> i64 {
            store
                .conn
                .pragma_query_value(None, "synchronous", |r| r.get(0))
                .expect("sync")
        };
        let inserted = store.insert_relayed_entries(&entries, NOW).expect("insert");
        assert!(inserted.iter().all(|i| i.is_new()));
        assert_eq!(store.count().expect("count"), 3);
        assert_eq!(sync(&store), 2);
        // A value out of range fails the insert; FULL is restored anyway.
        assert!(
            store
                .insert_relayed_entries(&author.bulletins(1), u64::MAX)
                .is_err()
        );
        assert_eq!(sync(&store), 2);
        assert_eq!(store.count().expect("count"), 3);
    }

    #[test]
    fn create_sets_application_id_wal_and_schema_version() {
        let (_dir, path, store) = new_store();
        let conn = &store.conn;
        let app: i32 = conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .expect("app id");
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .expect("mode");
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .expect("sync");
        let fk: i64 = conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .expect("fk");
        assert_eq!(
            (app, version, mode.as_str(), sync, fk),
            (APPLICATION_ID, SCHEMA_VERSION, "wal", 2, 1)
        );
        store.close().expect("close");
        assert_eq!(journal_byte(&path), 2);
    }

    #[test]
    fn reopen_after_close_keeps_everything() {
        let c = testkit::signatories();
        let (_dir, path, mut store) = new_store();
        let mut google = Author::new(&c, "google");
        let entries = google.bulletins(3);
        let retraction = google.retract(entries[0].id(), true);
        store.insert_entries(&entries, NOW).expect("insert");
        store
            .insert_entries(std::slice::from_ref(&retraction), NOW)
            .expect("insert");
        let mut fork = LogWriter::new(testkit::NETWORK);
        let forked = fork
            .append(
                &c.org("google").signing,
                &c.roster,
                &riskmesh_protocol::Draft {
                    kind: riskmesh_protocol::Kind::Bulletin,
                    tier: riskmesh_protocol::Tier::Public,
                    body: riskmesh_protocol::Body::Bulletin(testkit::sample_bulletin("other history")),
                    recipients: None,
                },
                NOW,
            )
            .expect("fork");
        let proof = EquivocationProof::new(&entries[0], &forked).expect("proof");
        assert!(
            store
                .insert_equivocation(google.key(), 1, &proof, NOW)
                .expect("proof stored")
        );
        assert!(store.save_roster(&c.roster).expect("roster"));
        let before = (
            store.stats().expect("stats"),
            store.chain_state().expect("chains"),
            store.get(&entries[1].id()).expect("get"),
        );
        store.close().expect("close");

        let store = Store::open(&path).expect("reopen");
        let after = (
            store.stats().expect("stats"),
            store.chain_state().expect("chains"),
            store.get(&entries[1].id()).expect("get"),
        );
        assert_eq!(before, after);
        assert_eq!(after.0.entries, 4);
        assert!(store.is_purged(&entries[0].id()).expect("purged"));
        assert_eq!(store.equivocations().expect("proofs")[0].proof, proof);
        assert_eq!(
            store.load_rosters().expect("rosters"),
            vec![c.roster.signed().clone()]
        );
    }

    #[test]
    fn committed_entries_survive_an_unclean_stop() {
        // Copying the database and its WAL while the store is still open is
        // what a `kill -9` leaves behind: committed frames not yet
        // checkpointed into the main file.
        let c = testkit::signatories();
        let (dir, path, mut store) = new_store();
        let entries = Author::new(&c, "openai").bulletins(50);
        store.insert_entries(&entries, NOW).expect("insert");
        let wal = path.with_extension("db-wal");
        assert!(std::fs::metadata(&wal).expect("wal").len() > 0);
        let crashed = dir.path().join("crashed");
        std::fs::create_dir(&crashed).expect("dir");
        std::fs::copy(&path, crashed.join("node.db")).expect("copy db");
        std::fs::copy(&wal, crashed.join("node.db-wal")).expect("copy wal");
        drop(store);

        let recovered = Store::open(crashed.join("node.db")).expect("open after crash");
        assert_eq!(recovered.count().expect("count"), 50);
        let last = recovered.get(&entries[49].id()).expect("get").expect("stored");
        assert_eq!(last.body.as_deref(), entries[49].body());
    }

    #[test]
    fn open_of_a_missing_file_is_missing_and_creates_nothing() {
        let dir = TempDir::new().expect("dir");
        let path = dir.path().join("absent.db");
        assert!(matches!(Store::open(&path), Err(StoreError::Missing(p)) if p == path));
        assert!(matches!(
            Store::open_read_only(&path),
            Err(StoreError::Missing(_))
        ));
        assert!(!path.exists());
    }

    #[test]
    fn create_over_an_existing_file_fails_and_leaves_it_alone() {
        let dir = TempDir::new().expect("dir");
        let path = dir.path().join("node.db");
        std::fs::write(&path, b"precious").expect("write");
        assert!(matches!(Store::create(&path), Err(StoreError::AlreadyExists(_))));
        assert_eq!(std::fs::read(&path).expect("read"), b"precious");
        let (_dir, path, store) = new_store();
        drop(store);
        assert!(matches!(Store::create(&path), Err(StoreError::AlreadyExists(_))));
        Store::open(&path).expect("still a good database");
    }

    #[test]
    fn create_in_a_missing_directory_is_an_io_error() {
        let dir = TempDir::new().expect("dir");
        let path = dir.path().join("no/such/dir/node.db");
        assert!(matches!(Store::create(&path), Err(StoreError::Io(_))));
    }

    #[test]
    fn garbage_bytes_are_not_sqlite_and_stay_untouched() {
        let dir = TempDir::new().expect("dir");
        let path = dir.path().join("node.db");
        let garbage: Vec<u8> = (0..16_384u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        std::fs::write(&path, &garbage).expect("write");
        assert!(matches!(Store::open(&path), Err(StoreError::NotSqlite(p)) if p == path));
        assert!(matches!(
            Store::open_read_only(&path),
            Err(StoreError::NotSqlite(_))
        ));
        assert_eq!(std::fs::read(&path).expect("read"), garbage);
    }

    #[test]
    fn an_empty_file_is_refused_not_initialized() {
        let dir = TempDir::new().expect("dir");
        let path = dir.path().join("node.db");
        std::fs::File::create(&path).expect("touch");
        assert!(matches!(Store::open(&path), Err(StoreError::Empty(_))));
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), 0);
    }

    #[test]
    fn a_foreign_sqlite_database_is_refused_and_not_converted_to_wal() {
        let dir = TempDir::new().expect("dir");
        let path = dir.path().join("other.db");
        {
            let conn = rusqlite::Connection::open(&path).expect("open");
            conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hello');")
                .expect("foreign schema");
        }
        let before = std::fs::read(&path).expect("read");
        match Store::open(&path) {
            Err(StoreError::NotRiskmesh { found, .. }) => assert_eq!(found, 0),
            other => panic!("expected NotRiskmesh, got {other:?}"),
        }
        assert_eq!(journal_byte(&path), 1);
        assert_eq!(std::fs::read(&path).expect("read"), before);
    }

    #[test]
    fn a_newer_schema_version_is_too_new() {
        let (_dir, path, store) = new_store();
        store.close().expect("close");
        {
            let conn = rusqlite::Connection::open(&path).expect("open");
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
                .expect("bump");
        }
        match Store::open(&path) {
            Err(StoreError::TooNew { found, supported }) => {
                assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            }
            other => panic!("expected TooNew, got {other:?}"),
        }
    }

    /// A database with enough entries to span many pages, closed cleanly.
    fn populated(entries: usize) -> (TempDir, PathBuf) {
        let c = testkit::signatories();
        let (dir, path, mut store) = new_store();
        let mut meta = Author::new(&c, "meta");
        store
            .insert_entries(&meta.bulletins(entries), NOW)
            .expect("insert");
        store.close().expect("close");
        (dir, path)
    }

    #[test]
    fn a_truncated_database_is_corrupt() {
        let (_dir, path) = populated(200);
        let len = std::fs::metadata(&path).expect("meta").len();
        assert!(len > 64 * 1024, "fixture too small: {len}");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(len / 2))
            .expect("truncate");
        match Store::open(&path) {
            Err(StoreError::Corrupt(message)) => assert!(!message.is_empty()),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn overwritten_pages_are_corrupt() {
        let (_dir, path) = populated(200);
        let mut bytes = std::fs::read(&path).expect("read");
        // Leave the header page intact, damage b-tree pages in the middle.
        let middle = bytes.len() / 2;
        bytes[middle..middle + 8192].fill(0xA5);
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(&bytes))
            .expect("rewrite");
        assert!(matches!(Store::open(&path), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn read_only_open_reads_and_refuses_old_schema() {
        let (_dir, path) = populated(5);
        let store = Store::open_read_only(&path).expect("read-only");
        assert_eq!(store.count().expect("count"), 5);
        drop(store);
        {
            let conn = rusqlite::Connection::open(&path).expect("open");
            conn.pragma_update(None, "user_version", 0).expect("downgrade");
        }
        assert!(matches!(
            Store::open_read_only(&path),
            Err(StoreError::NeedsMigration { found: 0, .. })
        ));
    }

    #[test]
    fn backup_is_a_complete_database() {
        let (dir, path) = populated(20);
        let store = Store::open(&path).expect("open");
        let copy = dir.path().join("backup.db");
        store.backup_to(&copy).expect("backup");
        assert!(matches!(
            store.backup_to(&copy),
            Err(StoreError::AlreadyExists(_))
        ));
        let restored = Store::open(&copy).expect("open backup");
        assert_eq!(
            restored.chain_state().expect("chains"),
            store.chain_state().expect("chains")
        );
        store.check().expect("quick_check");
    }
}
