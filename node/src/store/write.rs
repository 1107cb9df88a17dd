//! Every write: entry batches (one transaction each), purges, equivocation
//! proofs and roster versions.

use super::Store;
use super::columns::{category_code, int, kind_code, severity_code, tier_code};
use super::error::{StoreError, StoreResult};
use super::records::{InsertOutcome, Inserted};
use riskmesh_protocol::{Body, EntryId, EquivocationProof, OrgKey, Roster, VerifiedEntry};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// An entry's column values, computed before the transaction starts so that
/// a value that cannot be stored fails the batch before anything is written.
struct EntryRow<'a> {
    entry: &'a VerifiedEntry,
    author: [u8; 32],
    seq: i64,
    timestamp_ms: i64,
    body_len: i64,
    derived: Derived,
}

/// The columns that come from the body (absent without one).
#[derive(Default)]
struct Derived {
    category: Option<i64>,
    severity: Option<i64>,
    target: Option<EntryId>,
    /// The target of a retraction that asks for a purge.
    purge: Option<EntryId>,
}

impl Derived {
    fn of(entry: &VerifiedEntry) -> Derived {
        // `verify_entry` already decoded the body once; an error here would
        // mean a protocol-version mismatch, and leaves the columns empty.
        let Some(Ok(body)) = entry.decode_body() else {
            return Derived::default();
        };
        let target = body.target();
        match body {
            Body::Bulletin(b) => Derived {
                category: b.category.map(category_code),
                severity: b.severity.map(severity_code),
                target,
                purge: None,
            },
            Body::Retraction(r) => Derived {
                target,
                purge: r.purge.then_some(r.target),
                ..Derived::default()
            },
            _ => Derived {
                target,
                ..Derived::default()
            },
        }
    }
}

impl<'a> EntryRow<'a> {
    fn new(entry: &'a VerifiedEntry) -> StoreResult<Self> {
        let header = entry.header();
        Ok(EntryRow {
            entry,
            author: header.author.0,
            seq: int(header.seq, "seq")?,
            timestamp_ms: int(header.timestamp_ms, "timestamp_ms")?,
            body_len: int(header.body_len, "body_len")?,
            derived: Derived::of(entry),
        })
    }
}

impl Store {
    /// [`Store::insert_entries`] for entries relayed from other nodes, which
    /// no one waits on: the transaction commits with `synchronous=NORMAL`
    /// (in WAL mode: no disk sync at commit; it survives a crash of the
    /// process once this returns, but not necessarily a power loss or an OS
    /// crash until the next synced commit or checkpoint). Such entries come
    /// back through sync if lost (ARCHITECTURE.md, "Durability"). The
    /// connection is back to `synchronous=FULL` when this returns, whatever
    /// the outcome.
    pub fn insert_relayed_entries(
        &mut self,
        entries: &[VerifiedEntry],
        received_ms: u64,
    ) -> StoreResult<Vec<Inserted>> {
        // Cached statements: this runs once per relayed group, and parsing
        // a pragma each time showed in profiles.
        self.conn
            .prepare_cached("PRAGMA synchronous = NORMAL")?
            .execute([])?;
        let result = self.insert_entries(entries, received_ms);
        let restored = self
            .conn
            .prepare_cached("PRAGMA synchronous = FULL")
            .and_then(|mut s| s.execute([]));
        let inserted = result?;
        restored?;
        Ok(inserted)
    }

    /// Stores a batch of verified entries in ONE transaction (group commit)
    /// and returns what happened to each, in input order. When this returns
    /// `Ok`, the batch is on disk and may be acknowledged.
    ///
    /// Duplicates, (author, seq) conflicts and entries that do not extend
    /// their author's stored chain are reported per entry, not as errors. A
    /// body is not stored if its entry was purged. A retraction with `purge`
    /// records the purge and drops the target's body in the same
    /// transaction. An error (disk full, value out of range) stores nothing.
    pub fn insert_entries(
        &mut self,
        entries: &[VerifiedEntry],
        received_ms: u64,
    ) -> StoreResult<Vec<Inserted>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let received = int(received_ms, "received_ms")?;
        let rows = entries
            .iter()
            .map(EntryRow::new)
            .collect::<StoreResult<Vec<_>>>()?;
        let results = self.insert_rows(&rows, received);
        match &results {
            Ok(results) if results.iter().any(|r| r.purged.is_some()) => self.erase_purged(),
            Ok(_) if self.purge_residue => self.erase_purged(),
            Ok(_) => {}
            // A rolled-back batch may have spilled uncommitted page images
            // (a body and its purge in one batch) into the log; they stay in
            // the file until the log is truncated.
            Err(_) if rows.iter().any(|r| r.derived.purge.is_some()) => self.purge_residue = true,
            Err(_) => {}
        }
        results
    }

    fn insert_rows(&mut self, rows: &[EntryRow<'_>], received: i64) -> StoreResult<Vec<Inserted>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut results = Vec::with_capacity(rows.len());
        // The head stored last in this batch, so a run of consecutive
        // entries by one author needs no lookup to check its links.
        let mut last: Option<([u8; 32], i64, EntryId)> = None;
        for row in rows {
            let inserted = insert_one(&tx, row, received, &mut last)?;
            results.push(inserted);
        }
        tx.commit()?;
        Ok(results)
    }

    /// Clears the write-ahead log once a purge has committed. Deleted content
    /// is already zeroed in the new page images (`secure_delete`, set on
    /// every connection in `schema.rs`), but the log still holds the older
    /// images of those pages, body included. A TRUNCATE checkpoint copies
    /// the newest images into the database file and truncates the log to
    /// zero bytes. The `-shm` file is the log's index (page and frame
    /// numbers), never page content, so nothing of a body is left there.
    ///
    /// The purge is durable before this runs, so a failure here is not the
    /// write's failure (the node stops on a failed write): when a reader's
    /// snapshot keeps the checkpoint from finishing within the busy timeout,
    /// or it fails, the store remembers it and retries after its next write;
    /// opening read-write and closing the store clear the log as well.
    pub(super) fn erase_purged(&mut self) {
        let busy = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get::<_, i64>(0));
        self.purge_residue = !matches!(busy, Ok(0));
    }

    /// Drops the body of a stored entry on this node's own authority (an
    /// operator's decision, no retraction), keeping its header, and records
    /// the purge so the body is never stored again. Returns whether a body
    /// was dropped. An entry that is not stored is left alone (`false`):
    /// purges by retraction, which [`Store::insert_entries`] applies, are the
    /// way to purge ahead of arrival.
    pub fn purge_body(&mut self, target: EntryId, now_ms: u64) -> StoreResult<bool> {
        let now = int(now_ms, "now_ms")?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let author: Option<[u8; 32]> = tx
            .prepare_cached("SELECT author FROM entries WHERE id = ?1")?
            .query_row([target.0], |row| row.get(0))
            .optional()?;
        let dropped = match author {
            Some(author) => apply_purge(&tx, target, author, None, now)?,
            None => false,
        };
        tx.commit()?;
        if dropped || self.purge_residue {
            self.erase_purged();
        }
        Ok(dropped)
    }

    /// Stores an equivocation proof for `(author, seq)`; returns whether it
    /// is new (one proof per author and seq is kept). The caller verified
    /// the proof, which is where `author` and `seq` come from.
    pub fn insert_equivocation(
        &mut self,
        author: OrgKey,
        seq: u64,
        proof: &EquivocationProof,
        received_ms: u64,
    ) -> StoreResult<bool> {
        let changed = self
            .conn
            .prepare_cached(
                "INSERT INTO equivocations (author, seq, proof, received_ms) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (author, seq) DO NOTHING",
            )?
            .execute(params![
                author.0,
                int(seq, "seq")?,
                proof.to_bytes(),
                int(received_ms, "received_ms")?
            ])?;
        Ok(changed == 1)
    }

    /// Stores a verified roster version; returns whether it is new. A
    /// different roster already stored under the same version is
    /// [`StoreError::RosterConflict`].
    pub fn save_roster(&mut self, roster: &Roster) -> StoreResult<bool> {
        let version = int(roster.version(), "roster version")?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<[u8; 32]> = tx
            .prepare_cached("SELECT hash FROM rosters WHERE version = ?1")?
            .query_row([version], |row| row.get(0))
            .optional()?;
        let new = match existing {
            Some(hash) if hash == roster.hash().0 => false,
            Some(_) => {
                return Err(StoreError::RosterConflict {
                    version: roster.version(),
                });
            }
            None => {
                tx.prepare_cached("INSERT INTO rosters (version, hash, signed) VALUES (?1, ?2, ?3)")?
                    .execute(params![version, roster.hash().0, roster.signed().to_bytes()])?;
                true
            }
        };
        // Entries past a retired key's valid prefix (spec §9.6), accepted
        // while an older roster was in force, go in the same transaction:
        // the chain state the node restores never runs past a prefix.
        for retired in roster.doc().retired_keys() {
            let last_seq = int(retired.last_seq, "retired key last_seq")?;
            let last_id = retired.last_id.map(|id| id.0);
            tx.prepare_cached(
                "DELETE FROM entries WHERE author = ?1 AND (seq > ?2 OR (seq = ?2 AND id IS NOT ?3))",
            )?
            .execute(params![retired.key.0, last_seq, last_id])?;
        }
        tx.commit()?;
        Ok(new)
    }
}

fn insert_one(
    conn: &Connection,
    row: &EntryRow<'_>,
    received: i64,
    last: &mut Option<([u8; 32], i64, EntryId)>,
) -> StoreResult<Inserted> {
    let id = row.entry.id();
    let result = |outcome| Inserted {
        id,
        outcome,
        purged: None,
    };
    let held: Option<(EntryId, i64, bool)> = conn
        .prepare_cached("SELECT id, local_id, has_body FROM entries WHERE author = ?1 AND seq = ?2")?
        .query_row(params![row.author, row.seq], |r| {
            Ok((riskmesh_protocol::Hash32(r.get(0)?), r.get(1)?, r.get(2)?))
        })
        .optional()?;
    if let Some((existing, local_id, has_body)) = held {
        if existing != id {
            return Ok(result(InsertOutcome::Conflict { existing }));
        }
        let Some(body) = row.entry.body() else {
            return Ok(result(InsertOutcome::Duplicate));
        };
        if has_body || is_purged_for(conn, id, row.author)? {
            return Ok(result(InsertOutcome::Duplicate));
        }
        // A relay delivered the entry without its body earlier (allowed on
        // the wire); the body was checked against the signed hash, so it
        // completes the entry.
        conn.prepare_cached("INSERT INTO bodies (local_id, body) VALUES (?1, ?2)")?
            .execute(params![local_id, body])?;
        conn.prepare_cached(
            "UPDATE entries SET has_body = 1, category = ?2, severity = ?3, target = ?4 WHERE local_id = ?1",
        )?
        .execute(params![
            local_id,
            row.derived.category,
            row.derived.severity,
            row.derived.target.map(|t| t.0)
        ])?;
        let purged = purge_requested(conn, row, received)?;
        return Ok(Inserted {
            purged,
            ..result(InsertOutcome::BodyAdded)
        });
    }

    if let Some(prev) = row.entry.header().prev {
        let linked = match last {
            Some((author, seq, head)) if *author == row.author && *seq == row.seq - 1 => *head == prev,
            _ => conn
                .prepare_cached("SELECT id FROM entries WHERE author = ?1 AND seq = ?2")?
                .query_row(params![row.author, row.seq - 1], |r| r.get::<_, [u8; 32]>(0))
                .optional()?
                .is_some_and(|held| held == prev.0),
        };
        if !linked {
            return Ok(result(InsertOutcome::NotLinked));
        }
    }

    let body = match row.entry.body() {
        Some(body) if !is_purged_for(conn, id, row.author)? => Some(body),
        _ => None,
    };
    let header = row.entry.header();
    let derived = body.map(|_| &row.derived);
    conn.prepare_cached(
        "INSERT INTO entries (id, author, seq, timestamp_ms, tier, kind, category, severity, target, \
         body_len, has_body, received_ms, envelope) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        id.0,
        row.author,
        row.seq,
        row.timestamp_ms,
        tier_code(header.tier),
        kind_code(header.kind),
        derived.and_then(|d| d.category),
        derived.and_then(|d| d.severity),
        derived.and_then(|d| d.target).map(|t| t.0),
        row.body_len,
        body.is_some(),
        received,
        row.entry.envelope(),
    ])?;
    let local_id = conn.last_insert_rowid();
    if let Some(body) = body {
        conn.prepare_cached("INSERT INTO bodies (local_id, body) VALUES (?1, ?2)")?
            .execute(params![local_id, body])?;
    }
    *last = Some((row.author, row.seq, id));
    let purged = match body {
        Some(_) => purge_requested(conn, row, received)?,
        None => None,
    };
    Ok(Inserted {
        purged,
        ..result(InsertOutcome::Stored {
            body_stored: body.is_some(),
        })
    })
}

/// Applies the purge a just-stored retraction body asks for; returns the
/// target if a stored body was dropped.
fn purge_requested(conn: &Connection, row: &EntryRow<'_>, received: i64) -> StoreResult<Option<EntryId>> {
    match row.derived.purge {
        Some(target) => {
            let dropped = apply_purge(conn, target, row.author, Some(row.entry.id()), received)?;
            Ok(dropped.then_some(target))
        }
        None => Ok(None),
    }
}

/// Records a purge of `target` by `author` (the retraction's author; a
/// retraction may only purge its own author's entries, so a record by
/// anyone else never matches) and drops the body if it is stored. Returns
/// whether a body was dropped.
fn apply_purge(
    conn: &Connection,
    target: EntryId,
    author: [u8; 32],
    retraction: Option<EntryId>,
    now: i64,
) -> StoreResult<bool> {
    conn.prepare_cached(
        "INSERT INTO purges (target, author, retraction, purged_ms) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (target, author) DO NOTHING",
    )?
    .execute(params![target.0, author, retraction.map(|r| r.0), now])?;
    let stored: Option<i64> = conn
        .prepare_cached("SELECT local_id FROM entries WHERE id = ?1 AND author = ?2 AND has_body = 1")?
        .query_row(params![target.0, author], |r| r.get(0))
        .optional()?;
    let Some(local_id) = stored else {
        return Ok(false);
    };
    conn.prepare_cached("DELETE FROM bodies WHERE local_id = ?1")?
        .execute([local_id])?;
    // The derived columns are body content too, so they go with it.
    conn.prepare_cached(
        "UPDATE entries SET has_body = 0, category = NULL, severity = NULL, target = NULL WHERE local_id = ?1",
    )?
    .execute([local_id])?;
    Ok(true)
}

/// Whether `author` purged `target`.
pub(super) fn is_purged_for(conn: &Connection, target: EntryId, author: [u8; 32]) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM purges WHERE target = ?1 AND author = ?2")?
        .query_row(params![target.0, author], |_| Ok(()))
        .optional()?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{Author, NOW, new_store};
    use super::super::{InsertOutcome, StoreError};
    use riskmesh_protocol::body::AckBody;
    use riskmesh_protocol::testkit;
    use riskmesh_protocol::{Body, Category, Draft, Kind, LogWriter, Severity, Tier};

    fn outcomes(results: &[super::Inserted]) -> Vec<InsertOutcome> {
        results.iter().map(|r| r.outcome).collect()
    }

    #[test]
    fn round_trip_keeps_exact_bytes_and_indexed_fields() {
        let c = testkit::signatories();
        let (_dir, _path, mut store) = new_store();
        let mut openai = Author::new(&c, "openai");
        let entry = openai.bulletin_with(Tier::Public, Category::CyberOffense, Severity::Critical);
        let results = store
            .insert_entries(std::slice::from_ref(&entry), NOW + 5)
            .expect("insert");
        assert_eq!(outcomes(&results), [InsertOutcome::Stored { body_stored: true }]);
        assert!(results[0].is_new());

        let stored = store.get(&entry.id()).expect("get").expect("stored");
        assert_eq!(stored.envelope, entry.envelope());
        assert_eq!(stored.body.as_deref(), entry.body());
        let m = &stored.meta;
        assert_eq!((m.id, m.author, m.seq), (entry.id(), openai.key(), 1));
        assert_eq!((m.tier, m.kind), (Tier::Public, Kind::Bulletin));
        assert_eq!(
            (m.category, m.severity),
            (Some(Category::CyberOffense), Some(Severity::Critical))
        );
        assert_eq!(
            (m.timestamp_ms, m.received_ms),
            (entry.header().timestamp_ms, NOW + 5)
        );
        assert_eq!(m.body_len, entry.header().body_len);
        assert!(m.has_body && !m.purged && m.target.is_none());
        assert_eq!(stored.verify(&c.roster).expect("re-verifies"), entry);
        assert_eq!(
            store.by_author_seq(&openai.key(), 1).expect("by seq"),
            Some(stored)
        );
        assert_eq!(store.by_author_seq(&openai.key(), 2).expect("by seq"), None);
        assert!(store.contains(&entry.id()).expect("contains"));
    }

    #[test]
    fn duplicates_in_and_across_batches_are_reported() {
        let c = testkit::signatories();
        let (_dir, _path, mut store) = new_store();
        let e = Author::new(&c, "amazon").bulletins(3);
        let first = store
            .insert_entries(&[e[0].clone(), e[1].clone(), e[0].clone()], NOW)
            .expect("insert");
        let stored = InsertOutcome::Stored { body_stored: true };
        assert_eq!(outcomes(&first), [stored, stored, InsertOutcome::Duplicate]);
        let second = store
            .insert_entries(&[e[1].clone(), e[2].clone()], NOW)
            .expect("insert");
        assert_eq!(outcomes(&second), [InsertOutcome::Duplicate, stored]);
        assert_eq!(second[1].id, e[2].id());
        assert_eq!(store.count().expect("count"), 3);
    }

    #[test]
    fn same_author_and_seq_with_other_content_is_a_conflict() {
        let c = testkit::signatories();
        let (_dir, _path, mut store) = new_store();
        let honest = Author::new(&c, "meta").bulletins(2);
        // The same organization signing a second, different history.
        let other = Author::new(&c, "meta").bulletin("the other story");
        store.insert_entries(&honest, NOW).expect("insert");
        let results = store
            .insert_entries(std::slice::from_ref(&other), NOW)
            .expect("insert");
        assert_eq!(
            outcomes(&results),
            [InsertOutcome::Conflict {
                existing: honest[0].id()
            }]
        );
        assert_eq!(store.get(&other.id()).expect("get"), None);
    }

    #[test]
    fn entries_that_do_not_extend_the_stored_chain_are_not_linked() {
        let c = testkit::signatories();
        let (_dir, _path, mut store) = new_store();
        let e = Author::new(&c, "google").bulletins(3);
        let results = store.insert_entries(&[e[1].clone()], NOW).expect("insert");
        assert_eq!(outcomes(&results), [InsertOutcome::NotLinked]);
        // Seq 2 of a fork does not link to the honest seq 1.
        let mut forker = Author::new(&c, "google");
        let fork = [forker.bulletin("fork 0"), forker.bulletin("fork 1")];
        store.insert_entries(&e[..1], NOW).expect("insert");
        let results = store
            .insert_entries(&[fork[1].clone(), e[1].clone()], NOW)
            .expect("insert");
        assert_eq!(
            outcomes(&results),
            [
                InsertOutcome::NotLinked,
                InsertOutcome::Stored { body_stored: true }
            ]
        );
        assert_eq!(store.count().expect("count"), 2);
    }

    #[test]
    fn purging_retraction_drops_the_body_keeps_the_header_and_refuses_it_later() {
        let c = testkit::signatories();
        let (_dir, _path, mut store) = new_store();
        let mut anthropic = Author::new(&c, "anthropic");
        let target = anthropic.bulletin("shared by mistake");
        let retraction = anthropic.retract(target.id(), true);
        store
            .insert_entries(std::slice::from_ref(&target), NOW)
            .expect("insert");
        let results = store
            .insert_entries(std::slice::from_ref(&retraction), NOW)
            .expect("insert");
        assert_eq!(results[0].purged, Some(target.id()));

        let stored = store.get(&target.id()).expect("get").expect("header kept");
        assert_eq!(stored.envelope, target.envelope());
        assert_eq!(stored.body, None);
        assert!(!stored.meta.has_body && stored.meta.purged);
        assert_eq!((stored.meta.category, stored.meta.severity), (None, None));
        assert_eq!(
            stored.verify(&c.roster).expect("header still verifies"),
            target.without_body()
        );
        assert!(store.is_purged(&target.id()).expect("purged"));

        let again = store
            .insert_entries(std::slice::from_ref(&target), NOW)
            .expect("insert");
        assert_eq!(outcomes(&again), [InsertOutcome::Duplicate]);
        assert_eq!(store.get(&target.id()).expect("get").expect("kept").body, None);
        let retraction_meta = store.get(&retraction.id()).expect("get").expect("stored").meta;
        assert_eq!(retraction_meta.target, Some(target.id()));
        assert_eq!(store.stats().expect("stats").bodies, 1);
    }

    #[test]
    fn a_body_arriving_after_its_purge_is_not_stored() {
        let c = testkit::signatories();
        let (_dir, _path, mut store) = new_store();
        let mut anthropic = Author::new(&c, "anthropic");
        let target = anthropic.bulletin("shared by mistake");
        let retraction = anthropic.retract(target.id(), true);
        // A peer that had already purged relays the header alone; the
        // retraction follows in the same batch; then someone offers the body.
        let results = store
            .insert_entries(&[target.without_body(), retraction], NOW)
            .expect("insert");
        assert_eq!(results[0].outcome, InsertOutcome::Stored { body_stored: false });
        assert_eq!(results[1].purged, None);
        let late = store
            .insert_entries(std::slice::from_ref(&target), NOW)
            .expect("insert");
        assert_eq!(outcomes(&late), [InsertOutcome::Duplicate]);
        assert_eq!(store.get(&target.id()).expect("get").expect("kept").body, None);
    }

    #[test]
    fn a_missing_body_is_added_when_it_arrives_and_a_plain_retraction_keeps_it() {
        let c = testkit::signatories();
        let (_dir, _path, mut store) = new_store();
        let mut microsoft = Author::new(&c, "microsoft");
        let entry = microsoft.bulletin("relayed without body");
        let first = store
            .insert_entries(&[entry.without_body()], NOW)
            .expect("insert");
        assert_eq!(outcomes(&first), [InsertOutcome::Stored { body_stored: false }]);
        assert_eq!(
            store
                .get(&entry.id())
                .expect("get")
                .expect("stored")
                .meta
                .category,
            None
        );
        let second = store
            .insert_entries(std::slice::from_ref(&entry), NOW)
            .expect("insert");
        assert_eq!(outcomes(&second), [InsertOutcome::BodyAdded]);
        let stored = store.get(&entry.id()).expect("get").expect("stored");
        assert_eq!(stored.body.as_deref(), entry.body());
        assert_eq!(stored.meta.category, Some(Category::MisuseJailbreak));

        let retraction = microsoft.retract(entry.id(), false);
        let results = store.insert_entries(&[retraction], NOW).expect("insert");
        assert_eq!(results[0].purged, None);
        assert!(
            store
                .get(&entry.id())
                .expect("get")
                .expect("stored")
                .body
                .is_some()
        );
        assert!(!store.is_purged(&entry.id()).expect("purged"));
    }

    #[test]
    fn a_retraction_cannot_purge_another_authors_entry() {
        let c = testkit::signatories();
        let (_dir, _path, mut store) = new_store();
        let victim = Author::new(&c, "inflection").bulletin("not yours to purge");
        let hostile = Author::new(&c, "meta").retract(victim.id(), true);
        store
            .insert_entries(&[victim.clone(), hostile], NOW)
            .expect("insert");
        let stored = store.get(&victim.id()).expect("get").expect("stored");
        assert!(stored.body.is_some() && !stored.meta.purged);
        assert!(!store.is_purged(&victim.id()).expect("purged"));
    }

    #[test]
    fn local_purge_drops_a_stored_body() {
        let c = testkit::signatories();
        let (_dir, _path, mut store) = new_store();
        let entry = Author::new(&c, "amazon").bulletin("operator removes");
        assert!(!store.purge_body(entry.id(), NOW).expect("absent target"));
        store
            .insert_entries(std::slice::from_ref(&entry), NOW)
            .expect("insert");
        assert!(store.purge_body(entry.id(), NOW).expect("purge"));
        assert!(!store.purge_body(entry.id(), NOW).expect("second purge"));
        assert!(store.is_purged(&entry.id()).expect("purged"));
        assert_eq!(
            outcomes(&store.insert_entries(&[entry], NOW).expect("insert")),
            [InsertOutcome::Duplicate]
        );
    }

    /// Text no other part of a database holds, to look for after a purge.
    const CANARY: &str = "CANARY-7d41-this-body-must-be-erased";

    /// A bulletin whose body carries [`CANARY`] in its title (inside the
    /// table's leaf page) and many times in its details (overflow pages).
    fn canary_bulletin(author: &mut Author<'_>) -> riskmesh_protocol::VerifiedEntry {
        let body = riskmesh_protocol::BulletinBody {
            details: CANARY.repeat(1000),
            ..testkit::sample_bulletin(CANARY)
        };
        author.post(Kind::Bulletin, Tier::Consortium, Body::Bulletin(body))
    }

    /// The files of the store's directory (database, `-wal`, `-shm`) that
    /// contain [`CANARY`].
    fn files_holding_the_canary(dir: &std::path::Path) -> Vec<String> {
        let mut found = Vec::new();
        for file in std::fs::read_dir(dir).expect("list dir") {
            let path = file.expect("dir entry").path();
            let bytes = std::fs::read(&path).expect("read file");
            if bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()) {
                found.push(path.display().to_string());
            }
        }
        found
    }

    #[test]
    fn a_purged_body_leaves_no_byte_in_the_database_wal_or_shm() {
        let c = testkit::signatories();
        let (dir, path, mut store) = new_store();
        // A second connection, as the node's readers keep one open: the log
        // is not removed at close while it lives, so only the purge clears it.
        let reader = super::super::Store::open_read_only(&path).expect("reader");
        let mut anthropic = Author::new(&c, "anthropic");
        let target = canary_bulletin(&mut anthropic);
        store
            .insert_entries(std::slice::from_ref(&target), NOW)
            .expect("insert");
        assert_eq!(
            reader
                .get(&target.id())
                .expect("read")
                .expect("stored")
                .body
                .as_deref(),
            target.body()
        );
        assert!(
            !files_holding_the_canary(dir.path()).is_empty(),
            "the fixture must hold the canary"
        );

        let retraction = anthropic.retract(target.id(), true);
        let results = store.insert_entries(&[retraction], NOW).expect("purge");
        assert_eq!(results[0].purged, Some(target.id()));
        assert_eq!(files_holding_the_canary(dir.path()), Vec::<String>::new());
        assert_eq!(reader.get(&target.id()).expect("read").expect("kept").body, None);
    }

    #[test]
    fn an_operator_purge_leaves_no_byte_of_the_body_on_disk() {
        let c = testkit::signatories();
        let (dir, path, mut store) = new_store();
        let _reader = super::super::Store::open_read_only(&path).expect("reader");
        let target = canary_bulletin(&mut Author::new(&c, "amazon"));
        store
            .insert_entries(std::slice::from_ref(&target), NOW)
            .expect("insert");
        assert!(store.purge_body(target.id(), NOW).expect("purge"));
        assert_eq!(files_holding_the_canary(dir.path()), Vec::<String>::new());
        store.check().expect("still intact");
    }

    #[test]
    fn control_entries_index_their_target() {
        let c = testkit::signatories();
        let (_dir, _path, mut store) = new_store();
        let bulletin = Author::new(&c, "openai").bulletin("seen elsewhere");
        let ack = Author::new(&c, "google").post(
            Kind::Ack,
            Tier::Consortium,
            Body::Ack(AckBody {
                target: bulletin.id(),
                status: riskmesh_protocol::body::AckStatus::Reproduced,
                note: "reproduced on our models".into(),
            }),
        );
        store
            .insert_entries(&[bulletin.clone(), ack.clone()], NOW)
            .expect("insert");
        let refs = store.referencing(&bulletin.id()).expect("referencing");
        assert_eq!(refs.iter().map(|m| m.id).collect::<Vec<_>>(), [ack.id()]);
        assert_eq!(refs[0].kind, Kind::Ack);
    }

    #[test]
    fn timestamps_beyond_sqlite_integers_never_reach_the_store() {
        // The protocol caps timestamps at 2^53 - 1 (MAX_TIMESTAMP_MS), far
        // below i64::MAX, so the store's OutOfRange guard is a second line
        // of defence that verified entries cannot trigger.
        let c = testkit::signatories();
        let mut log = LogWriter::new(testkit::NETWORK);
        let draft = Draft {
            kind: Kind::Bulletin,
            tier: Tier::Consortium,
            body: Body::Bulletin(testkit::sample_bulletin("from the far future")),
            recipients: None,
        };
        let refused = log
            .append(&c.org("google").signing, &c.roster, &draft, u64::MAX)
            .expect_err("the protocol refuses the timestamp");
        assert_eq!(refused.name(), "out_of_range");
    }

    #[test]
    fn equivocation_proofs_are_kept_once_per_author_and_seq() {
        let c = testkit::signatories();
        let (_dir, _path, mut store) = new_store();
        let mut author = Author::new(&c, "meta");
        let a = author.bulletin("one story");
        let b = Author::new(&c, "meta").bulletin("another story");
        let proof = riskmesh_protocol::EquivocationProof::new(&a, &b).expect("proof");
        assert!(
            store
                .insert_equivocation(author.key(), 1, &proof, NOW)
                .expect("new")
        );
        assert!(
            !store
                .insert_equivocation(author.key(), 1, &proof, NOW + 1)
                .expect("again")
        );
        let stored = store.equivocations().expect("list");
        assert_eq!(stored.len(), 1);
        assert_eq!(
            (stored[0].author, stored[0].seq, stored[0].received_ms),
            (author.key(), 1, NOW)
        );
        assert_eq!(
            stored[0].proof.verify(&c.roster).expect("verifies"),
            (author.key(), 1)
        );
    }

    #[test]
    fn roster_versions_are_saved_once_and_conflicts_refused() {
        let c = testkit::signatories();
        let (_dir, _path, mut store) = new_store();
        assert!(store.save_roster(&c.roster).expect("save"));
        assert!(!store.save_roster(&c.roster).expect("again"));
        let other = testkit::consortium(testkit::NETWORK, &["amazon", "google"], &[]);
        assert!(matches!(
            store.save_roster(&other.roster),
            Err(StoreError::RosterConflict { version: 1 })
        ));
        assert_eq!(
            store.load_rosters().expect("load"),
            vec![c.roster.signed().clone()]
        );
    }
}
