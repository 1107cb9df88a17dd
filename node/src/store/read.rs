//! Every read: single entries, sync ranges, heads, filtered lists, chain
//! restore, full scans, proofs, rosters and counters.

use super::columns::{
    category_code, get_category, get_id, get_kind, get_opt_id, get_org, get_severity, get_tier, get_u64, int,
    kind_code, limit, severity_code, tier_code,
};
use super::error::{StoreError, StoreResult};
use super::records::{AuthorChain, EntryMeta, Head, ListFilter, StoreStats, StoredEntry, StoredEquivocation};
use super::{ALL_ENTRIES_PAGE, MAX_LIST_BYTES, MAX_LIST_LIMIT, Store};
use riskmesh_protocol::roster::SignedRoster;
use riskmesh_protocol::{EntryId, EquivocationProof, Kind, OrgKey, Tier, WireEntry};
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, params, params_from_iter};
use std::collections::VecDeque;

/// The columns of a [`StoredEntry`], in the order [`stored_from_row`] reads
/// them, over `entries e LEFT JOIN bodies b`.
const ENTRY_COLUMNS: &str = "e.id, e.author, e.seq, e.timestamp_ms, e.tier, e.kind, e.category, e.severity, \
     e.target, e.body_len, e.has_body, e.received_ms, \
     EXISTS (SELECT 1 FROM purges p WHERE p.target = e.id AND p.author = e.author), \
     e.envelope, b.body";
const ENTRY_FROM: &str = "FROM entries e LEFT JOIN bodies b ON b.local_id = e.local_id";

/// Framing allowance per entry in a sync range: the CBOR array and byte
/// string headers of a [`WireEntry`] around the envelope and body.
const WIRE_OVERHEAD: usize = 16;

fn meta_from_row(row: &Row<'_>) -> rusqlite::Result<EntryMeta> {
    Ok(EntryMeta {
        id: get_id(row, 0)?,
        author: get_org(row, 1)?,
        seq: get_u64(row, 2)?,
        timestamp_ms: get_u64(row, 3)?,
        tier: get_tier(row, 4)?,
        kind: get_kind(row, 5)?,
        category: get_category(row, 6)?,
        severity: get_severity(row, 7)?,
        target: get_opt_id(row, 8)?,
        body_len: get_u64(row, 9)?,
        has_body: row.get(10)?,
        received_ms: get_u64(row, 11)?,
        purged: row.get(12)?,
    })
}

fn stored_from_row(row: &Row<'_>) -> rusqlite::Result<StoredEntry> {
    Ok(StoredEntry {
        meta: meta_from_row(row)?,
        envelope: row.get(13)?,
        body: row.get(14)?,
    })
}

impl Store {
    /// The entry with this id.
    pub fn get(&self, id: &EntryId) -> StoreResult<Option<StoredEntry>> {
        let sql = format!("SELECT {ENTRY_COLUMNS} {ENTRY_FROM} WHERE e.id = ?1");
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row([id.0], stored_from_row)
            .optional()?)
    }

    /// Whether an entry with this id is stored.
    pub fn contains(&self, id: &EntryId) -> StoreResult<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM entries WHERE id = ?1")?
            .query_row([id.0], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// The entry at `(author, seq)`.
    pub fn by_author_seq(&self, author: &OrgKey, seq: u64) -> StoreResult<Option<StoredEntry>> {
        let Ok(seq) = int(seq, "seq") else {
            return Ok(None);
        };
        let sql = format!("SELECT {ENTRY_COLUMNS} {ENTRY_FROM} WHERE e.author = ?1 AND e.seq = ?2");
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row(params![author.0, seq], stored_from_row)
            .optional()?)
    }

    /// Entries of `author` from `from_seq` upwards, in seq order, for a sync
    /// response: at most `max_count` entries and at most `max_bytes` of wire
    /// size, except that the first entry is returned whatever its size (so a
    /// sync always makes progress). Empty if none is stored from `from_seq`.
    pub fn range(
        &self,
        author: &OrgKey,
        from_seq: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> StoreResult<Vec<WireEntry>> {
        let Ok(from) = int(from_seq, "seq") else {
            return Ok(Vec::new());
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT e.envelope, b.body FROM entries e LEFT JOIN bodies b ON b.local_id = e.local_id \
             WHERE e.author = ?1 AND e.seq >= ?2 ORDER BY e.seq LIMIT ?3",
        )?;
        let mut rows = stmt.query(params![author.0, from, limit(max_count)])?;
        let mut out = Vec::new();
        let mut total = 0usize;
        while let Some(row) = rows.next()? {
            let entry = WireEntry {
                envelope: row.get(0)?,
                body: row.get(1)?,
            };
            let size = entry.envelope.len() + entry.body.as_ref().map_or(0, Vec::len) + WIRE_OVERHEAD;
            if !out.is_empty() && total + size > max_bytes {
                break;
            }
            total += size;
            out.push(entry);
        }
        Ok(out)
    }

    /// Every author's head (highest stored seq), ascending by author.
    pub fn heads(&self) -> StoreResult<Vec<Head>> {
        // A skip-scan over the (author, seq) index: one probe per author for
        // the next author and one for its highest seq, instead of a scan of
        // every entry. Heads are asked for on every sync round.
        let mut stmt = self.conn.prepare_cached(
            "WITH RECURSIVE authors (author) AS ( \
                 SELECT (SELECT author FROM entries ORDER BY author LIMIT 1) \
                 UNION ALL \
                 SELECT (SELECT e.author FROM entries e WHERE e.author > a.author ORDER BY e.author LIMIT 1) \
                 FROM authors a WHERE a.author IS NOT NULL \
             ) \
             SELECT e.author, e.seq, e.id, e.timestamp_ms FROM authors a JOIN entries e ON e.local_id = \
               (SELECT m.local_id FROM entries m WHERE m.author = a.author ORDER BY m.seq DESC LIMIT 1) \
             ORDER BY e.author",
        )?;
        let heads = stmt
            .query_map([], head_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(heads)
    }

    /// One author's head, for example to resume this node's own `LogWriter`.
    pub fn head(&self, author: &OrgKey) -> StoreResult<Option<Head>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT author, seq, id, timestamp_ms FROM entries WHERE author = ?1 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row([author.0], head_from_row)
            .optional()?)
    }

    /// Number of stored entries.
    pub fn count(&self) -> StoreResult<u64> {
        let n: i64 = self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM entries")?
            .query_row([], |row| row.get(0))?;
        Ok(n.max(0) as u64)
    }

    /// Entries matching `filter`, newest first (by author timestamp, then
    /// arrival), with envelopes and bodies. At most `filter.limit` (capped at
    /// [`MAX_LIST_LIMIT`]) entries and about [`MAX_LIST_BYTES`] bytes; page
    /// on with `filter.after` set to the last id returned. An `after` id
    /// that is not stored gives an empty page.
    pub fn list(&self, filter: &ListFilter) -> StoreResult<Vec<StoredEntry>> {
        let mut sql = format!("SELECT {ENTRY_COLUMNS} {ENTRY_FROM} WHERE 1 = 1");
        let mut args: Vec<Value> = Vec::new();
        let mut clause = |sql_part: &str, value: Value| {
            sql.push_str(sql_part);
            args.push(value);
        };
        if let Some(tier) = filter.tier {
            clause(" AND e.tier = ?", Value::Integer(tier_code(tier)));
        }
        if let Some(kind) = filter.kind {
            clause(" AND e.kind = ?", Value::Integer(kind_code(kind)));
        }
        if let Some(category) = filter.category {
            clause(" AND e.category = ?", Value::Integer(category_code(category)));
        }
        if let Some(severity) = filter.min_severity {
            clause(" AND e.severity >= ?", Value::Integer(severity_code(severity)));
        }
        if let Some(author) = filter.author {
            clause(" AND e.author = ?", Value::Blob(author.0.to_vec()));
        }
        if let Some(since) = filter.since_ms {
            // A bound beyond the storable range matches nothing.
            let since = i64::try_from(since).unwrap_or(i64::MAX);
            clause(" AND e.timestamp_ms >= ?", Value::Integer(since));
        }
        if let Some(after) = filter.after {
            let cursor: Option<(i64, i64)> = self
                .conn
                .prepare_cached("SELECT timestamp_ms, local_id FROM entries WHERE id = ?1")?
                .query_row([after.0], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            let Some((timestamp, local_id)) = cursor else {
                return Ok(Vec::new());
            };
            clause(
                " AND (e.timestamp_ms, e.local_id) < (?",
                Value::Integer(timestamp),
            );
            clause(", ?)", Value::Integer(local_id));
        }
        let max = filter.limit.unwrap_or(MAX_LIST_LIMIT).min(MAX_LIST_LIMIT);
        clause(
            " ORDER BY e.timestamp_ms DESC, e.local_id DESC LIMIT ?",
            Value::Integer(limit(max)),
        );

        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let mut out = Vec::new();
        let mut total = 0usize;
        while let Some(row) = rows.next()? {
            let entry = stored_from_row(row)?;
            let size = entry.envelope.len() + entry.body.as_ref().map_or(0, Vec::len);
            if !out.is_empty() && total + size > MAX_LIST_BYTES {
                break;
            }
            total += size;
            out.push(entry);
        }
        Ok(out)
    }

    /// Indexed fields of the entries that refer to `target` (corrections
    /// superseding it, retractions, acks, access requests and receipts for
    /// it, decisions on it), oldest first, at most [`MAX_LIST_LIMIT`].
    pub fn referencing(&self, target: &EntryId) -> StoreResult<Vec<EntryMeta>> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} {ENTRY_FROM} WHERE e.target = ?1 ORDER BY e.timestamp_ms, e.local_id LIMIT ?2"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let metas = stmt
            .query_map(params![target.0, limit(MAX_LIST_LIMIT)], meta_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(metas)
    }

    /// Whether the body of `id` is purged: a purge by the entry's author is
    /// recorded (or, for an entry not stored, by anyone).
    pub fn is_purged(&self, id: &EntryId) -> StoreResult<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT 1 FROM purges p WHERE p.target = ?1 AND p.author = \
                 COALESCE((SELECT author FROM entries WHERE id = ?1), p.author)",
            )?
            .query_row([id.0], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Every author's accepted chain, ascending by author, to restore a
    /// `ChainValidator` at startup. Reads only the `(author, seq)` index and
    /// three columns. A chain that does not start at seq 1 or has a hole is
    /// [`StoreError::Corrupt`], since inserts keep chains contiguous.
    pub fn chain_state(&self) -> StoreResult<Vec<AuthorChain>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT author, seq, id, timestamp_ms FROM entries ORDER BY author, seq")?;
        let mut rows = stmt.query([])?;
        let mut chains: Vec<AuthorChain> = Vec::new();
        let mut current: Option<AuthorChain> = None;
        while let Some(row) = rows.next()? {
            let author = get_org(row, 0)?;
            let seq = get_u64(row, 1)?;
            if current.as_ref().is_some_and(|c| c.author != author) {
                chains.extend(current.take());
            }
            let chain = current.get_or_insert_with(|| AuthorChain {
                author,
                ids: Vec::new(),
                last_timestamp_ms: 0,
            });
            if seq != chain.ids.len() as u64 + 1 {
                return Err(StoreError::Corrupt(format!(
                    "author {author}: expected seq {}, found seq {seq}",
                    chain.ids.len() + 1
                )));
            }
            chain.ids.push(get_id(row, 2)?);
            chain.last_timestamp_ms = get_u64(row, 3)?;
        }
        chains.extend(current);
        Ok(chains)
    }

    /// Up to `max_count` entries in log order (by author, then seq),
    /// starting after `(author, seq)`, or from the start for `None`. The
    /// paging primitive behind [`Store::all_entries`].
    pub fn entries_after(
        &self,
        after: Option<(OrgKey, u64)>,
        max_count: usize,
    ) -> StoreResult<Vec<StoredEntry>> {
        let (author, seq) = match after {
            Some((author, seq)) => (author.0.to_vec(), i64::try_from(seq).unwrap_or(i64::MAX)),
            None => (Vec::new(), 0),
        };
        // The empty blob sorts before every 32-byte author.
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} {ENTRY_FROM} WHERE (e.author, e.seq) > (?1, ?2) ORDER BY e.author, e.seq LIMIT ?3"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let entries = stmt
            .query_map(params![author, seq, limit(max_count)], stored_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(entries)
    }

    /// Up to `max_count` entries in the order this node stored them, each
    /// with its arrival position (the row's insertion order, which only
    /// grows), starting after position `after` (0: from the start). The
    /// paging primitive of the STIX export and the TAXII collections: an
    /// entry's chain predecessor always comes before it in this order.
    pub fn entries_by_arrival(&self, after: u64, max_count: usize) -> StoreResult<Vec<(u64, StoredEntry)>> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS}, e.local_id {ENTRY_FROM} WHERE e.local_id > ?1 ORDER BY e.local_id LIMIT ?2"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let entries = stmt
            .query_map(
                params![int(after, "arrival position")?, limit(max_count)],
                |row| Ok((get_u64(row, 15)?, stored_from_row(row)?)),
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(entries)
    }

    /// Every stored entry in log order (by author, then seq), read in pages
    /// of [`ALL_ENTRIES_PAGE`] so memory stays bounded: for offline
    /// re-verification and export.
    pub fn all_entries(&self) -> AllEntries<'_> {
        AllEntries {
            store: self,
            after: None,
            // bounded: one page, at most ALL_ENTRIES_PAGE entries
            page: VecDeque::new(),
            done: false,
        }
    }

    /// Every stored equivocation proof, by author and seq.
    pub fn equivocations(&self) -> StoreResult<Vec<StoredEquivocation>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT author, seq, proof, received_ms FROM equivocations ORDER BY author, seq",
        )?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let author = get_org(row, 0)?;
            let seq = get_u64(row, 1)?;
            let bytes: Vec<u8> = row.get(2)?;
            let proof = EquivocationProof::from_bytes(&bytes).map_err(|e| {
                StoreError::Corrupt(format!("equivocation proof for {author} seq {seq}: {e}"))
            })?;
            out.push(StoredEquivocation {
                author,
                seq,
                proof,
                received_ms: get_u64(row, 3)?,
            });
        }
        Ok(out)
    }

    /// Every stored roster version, ascending; the caller re-verifies the
    /// chain (genesis against the pinned hash, then each update).
    pub fn load_rosters(&self) -> StoreResult<Vec<SignedRoster>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT version, signed FROM rosters ORDER BY version")?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let version: i64 = row.get(0)?;
            let bytes: Vec<u8> = row.get(1)?;
            let signed = SignedRoster::from_bytes(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("roster version {version}: {e}")))?;
            out.push(signed);
        }
        Ok(out)
    }

    /// Counters for status and metrics (scans the entry table; see
    /// [`StoreStats`]).
    pub fn stats(&self) -> StoreResult<StoreStats> {
        let mut stats = StoreStats::default();
        {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT tier, kind, COUNT(*) FROM entries GROUP BY tier, kind")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let tier = get_tier(row, 0)?;
                let kind = get_kind(row, 1)?;
                let n = get_u64(row, 2)?;
                stats.entries += n;
                stats.by_tier[position(&Tier::ALL, &tier)] += n;
                stats.by_kind[position(&Kind::ALL, &kind)] += n;
            }
        }
        let scalar = |sql: &str| -> StoreResult<u64> {
            let n: i64 = self.conn.prepare_cached(sql)?.query_row([], |row| row.get(0))?;
            Ok(n.max(0) as u64)
        };
        stats.bodies = scalar("SELECT COUNT(*) FROM bodies")?;
        stats.body_bytes = scalar("SELECT COALESCE(SUM(length(body)), 0) FROM bodies")?;
        stats.authors = scalar("SELECT COUNT(DISTINCT author) FROM entries")?;
        stats.purges = scalar("SELECT COUNT(*) FROM purges")?;
        stats.equivocations = scalar("SELECT COUNT(*) FROM equivocations")?;
        stats.rosters = scalar("SELECT COUNT(*) FROM rosters")?;
        Ok(stats)
    }

    /// Bytes stored per author: envelopes plus the bodies still held (a
    /// purged or never-received body counts nothing), ascending by author.
    /// The storage budgets start from this (`runtime::policy::storage`),
    /// which counts an entry the same way.
    pub fn stored_bytes_by_author(&self) -> StoreResult<Vec<(OrgKey, u64)>> {
        // A stored body's length is the signed `body_len` (checked against
        // its hash before storing), so the bodies table is not read.
        let mut stmt = self.conn.prepare_cached(
            "SELECT author, SUM(length(envelope) + CASE has_body WHEN 1 THEN body_len ELSE 0 END) \
             FROM entries GROUP BY author ORDER BY author",
        )?;
        let rows = stmt
            .query_map([], |row| Ok((get_org(row, 0)?, get_u64(row, 1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

fn position<T: PartialEq>(all: &[T], value: &T) -> usize {
    all.iter().position(|v| v == value).unwrap_or(0)
}

fn head_from_row(row: &Row<'_>) -> rusqlite::Result<Head> {
    Ok(Head {
        author: get_org(row, 0)?,
        seq: get_u64(row, 1)?,
        id: get_id(row, 2)?,
        timestamp_ms: get_u64(row, 3)?,
    })
}

/// Iterator over every stored entry in log order; see [`Store::all_entries`].
/// Each page is its own read, so entries stored while iterating may or may
/// not appear; none is returned twice.
#[derive(Debug)]
pub struct AllEntries<'a> {
    store: &'a Store,
    after: Option<(OrgKey, u64)>,
    // bounded: one page, at most ALL_ENTRIES_PAGE entries
    page: VecDeque<StoredEntry>,
    done: bool,
}

impl Iterator for AllEntries<'_> {
    type Item = StoreResult<StoredEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.page.is_empty() && !self.done {
            match self.store.entries_after(self.after, ALL_ENTRIES_PAGE) {
                Ok(page) => {
                    self.done = page.len() < ALL_ENTRIES_PAGE;
                    self.page = page.into();
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        let entry = self.page.pop_front()?;
        self.after = Some((entry.meta.author, entry.meta.seq));
        Some(Ok(entry))
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{Author, NOW, new_store};
    use super::super::{ALL_ENTRIES_PAGE, ListFilter, MAX_LIST_LIMIT, StoreError};
    use riskmesh_protocol::testkit;
    use riskmesh_protocol::{Category, ChainValidator, EntryId, IgnoreReason, Kind, Outcome, Severity, Tier};

    #[test]
    fn range_stops_at_the_byte_budget_but_returns_at_least_one() {
        let c = testkit::signatories();
        let (_dir, _path, mut store) = new_store();
        let mut google = Author::new(&c, "google");
        let entries = google.bulletins(10);
        store.insert_entries(&entries, NOW).expect("insert");
        let one =
            entries[0].envelope().len() + entries[0].body().map_or(0, <[u8]>::len) + super::WIRE_OVERHEAD;

        let all = store.range(&google.key(), 1, 100, usize::MAX).expect("range");
        assert_eq!(all, entries.iter().map(|e| e.to_wire()).collect::<Vec<_>>());
        let three = store
            .range(&google.key(), 4, 100, one * 3 + one / 2)
            .expect("range");
        assert_eq!(three.len(), 3);
        assert_eq!(three[0], entries[3].to_wire());
        assert_eq!(store.range(&google.key(), 1, 100, 0).expect("range").len(), 1);
        assert_eq!(
            store.range(&google.key(), 1, 2, usize::MAX).expect("range").len(),
            2
        );
        assert_eq!(
            store.range(&google.key(), 1, 0, usize::MAX).expect("range").len(),
            0
        );
        assert!(
            store
                .range(&google.key(), 11, 100, usize::MAX)
                .expect("range")
                .is_empty()
        );
        assert!(
            store
                .range(&google.key(), u64::MAX, 100, usize::MAX)
                .expect("range")
                .is_empty()
        );
        let stranger = Author::new(&c, "meta").key();
        assert!(
            store
                .range(&stranger, 1, 100, usize::MAX)
                .expect("range")
                .is_empty()
        );
    }

    #[test]
    fn list_filters_and_orders_newest_first() {
        let c = testkit::signatories();
        let (_dir, _path, mut store) = new_store();
        let mut google = Author::new(&c, "google");
        let mut meta = Author::new(&c, "meta");
        let g1 = google.bulletin_with(Tier::Public, Category::Bio, Severity::Critical);
        let m1 = meta.bulletin_with(Tier::Consortium, Category::Privacy, Severity::Low);
        let g2 = google.bulletin_with(Tier::Consortium, Category::Bio, Severity::Medium);
        let m2 = meta.retract(m1.id(), false);
        let g3 = google.bulletin_with(Tier::Public, Category::Privacy, Severity::High);
        store
            .insert_entries(&[g1.clone(), g2.clone(), g3.clone(), m1.clone(), m2.clone()], NOW)
            .expect("insert");
        let ids = |filter: ListFilter| -> Vec<EntryId> {
            store
                .list(&filter)
                .expect("list")
                .into_iter()
                .map(|e| e.meta.id)
                .collect()
        };
        // Timestamps: google's and meta's logs both tick one second per entry.
        assert_eq!(
            ids(ListFilter::default()),
            [g3.id(), m2.id(), g2.id(), m1.id(), g1.id()]
        );
        let tier = ListFilter {
            tier: Some(Tier::Public),
            ..ListFilter::default()
        };
        assert_eq!(ids(tier), [g3.id(), g1.id()]);
        let kind = ListFilter {
            kind: Some(Kind::Retraction),
            ..ListFilter::default()
        };
        assert_eq!(ids(kind), [m2.id()]);
        let category = ListFilter {
            category: Some(Category::Bio),
            ..ListFilter::default()
        };
        assert_eq!(ids(category), [g2.id(), g1.id()]);
        let severe = ListFilter {
            min_severity: Some(Severity::High),
            ..ListFilter::default()
        };
        assert_eq!(ids(severe), [g3.id(), g1.id()]);
        let author = ListFilter {
            author: Some(meta.key()),
            ..ListFilter::default()
        };
        assert_eq!(ids(author), [m2.id(), m1.id()]);
        let since = ListFilter {
            since_ms: Some(g2.header().timestamp_ms),
            ..ListFilter::default()
        };
        assert_eq!(ids(since), [g3.id(), m2.id(), g2.id()]);
        let combined = ListFilter {
            author: Some(google.key()),
            category: Some(Category::Privacy),
            ..ListFilter::default()
        };
        assert_eq!(ids(combined), [g3.id()]);
        let beyond = ListFilter {
            since_ms: Some(u64::MAX),
            ..ListFilter::default()
        };
        assert!(ids(beyond).is_empty());

        // Keyset paging visits every entry once.
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = ids(ListFilter {
                limit: Some(2),
                after,
                ..ListFilter::default()
            });
            if page.is_empty() {
                break;
            }
            after = page.last().copied();
            seen.extend(page);
        }
        assert_eq!(seen, ids(ListFilter::default()));
        let unknown = ListFilter {
            after: Some(EntryId::of(b"unknown")),
            ..ListFilter::default()
        };
        assert!(ids(unknown).is_empty());
    }

    #[test]
    fn list_limit_is_capped() {
        let c = testkit::signatories();
        let (_dir, _path, mut store) = new_store();
        store
            .insert_entries(&Author::new(&c, "amazon").bulletins(MAX_LIST_LIMIT + 5), NOW)
            .expect("insert");
        let huge = ListFilter {
            limit: Some(usize::MAX),
            ..ListFilter::default()
        };
        assert_eq!(store.list(&huge).expect("list").len(), MAX_LIST_LIMIT);
        let none = ListFilter {
            limit: Some(0),
            ..ListFilter::default()
        };
        assert!(store.list(&none).expect("list").is_empty());
    }

    #[test]
    fn chain_state_restores_a_validator_with_the_same_heads() {
        let c = testkit::signatories();
        let (_dir, path, mut store) = new_store();
        assert!(store.heads().expect("heads").is_empty());
        assert!(store.chain_state().expect("chains").is_empty());
        let mut authors: Vec<Author> = ["amazon", "google", "openai"]
            .into_iter()
            .map(|o| Author::new(&c, o))
            .collect();
        let mut live = ChainValidator::new();
        for (i, author) in authors.iter_mut().enumerate() {
            let entries = author.bulletins(5 + i * 7);
            for e in &entries {
                assert_eq!(live.ingest(e.clone(), NOW + 1_000_000).outcome, Outcome::Accept);
            }
            store.insert_entries(&entries, NOW).expect("insert");
        }
        store.close().expect("close");
        let store = super::super::Store::open(&path).expect("reopen");

        let mut restored = ChainValidator::new();
        for chain in store.chain_state().expect("chains") {
            restored.restore(chain.author, chain.ids, chain.last_timestamp_ms);
        }
        let mut expected: Vec<_> = live.heads().collect();
        let mut got: Vec<_> = restored.heads().collect();
        expected.sort();
        got.sort();
        assert_eq!(got, expected);
        let heads: Vec<_> = store
            .heads()
            .expect("heads")
            .into_iter()
            .map(|h| (h.author, h.seq, h.id))
            .collect();
        assert_eq!(heads, got);

        // The restored validator continues each chain and knows what it holds.
        let next = authors[1].bulletin("after restart");
        let old = store
            .by_author_seq(&authors[1].key(), 3)
            .expect("get")
            .expect("stored");
        let old = old.verify(&c.roster).expect("verifies");
        assert_eq!(
            restored.ingest(old, NOW + 1_000_000).outcome,
            Outcome::Ignore(IgnoreReason::Duplicate)
        );
        assert_eq!(
            restored.ingest(next.clone(), NOW + 1_000_000).outcome,
            Outcome::Accept
        );
        let head = store.head(&authors[1].key()).expect("head").expect("some");
        assert_eq!(
            (head.seq, head.timestamp_ms + 1000),
            (12, next.header().timestamp_ms)
        );
    }

    #[test]
    fn a_hole_in_a_stored_chain_is_corruption() {
        let c = testkit::signatories();
        let (_dir, _path, mut store) = new_store();
        store
            .insert_entries(&Author::new(&c, "meta").bulletins(3), NOW)
            .expect("insert");
        store
            .conn
            .execute("DELETE FROM entries WHERE seq = 2", [])
            .expect("damage");
        assert!(matches!(store.chain_state(), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn all_entries_pages_through_everything_in_log_order() {
        let c = testkit::signatories();
        let (_dir, _path, mut store) = new_store();
        let mut a = Author::new(&c, "anthropic");
        let mut b = Author::new(&c, "inflection");
        let from_a = a.bulletins(ALL_ENTRIES_PAGE + 3);
        let from_b = b.bulletins(ALL_ENTRIES_PAGE);
        store.insert_entries(&from_b, NOW).expect("insert");
        store.insert_entries(&from_a, NOW).expect("insert");
        let mut expected: Vec<_> = from_a
            .iter()
            .chain(&from_b)
            .map(|e| (e.header().author, e.header().seq, e.id()))
            .collect();
        expected.sort();
        let got: Vec<_> = store
            .all_entries()
            .map(|e| e.map(|e| (e.meta.author, e.meta.seq, e.meta.id)))
            .collect::<Result<_, _>>()
            .expect("scan");
        assert_eq!(got, expected);
        let first = store.entries_after(None, 1).expect("page");
        assert_eq!(first[0].verify(&c.roster).expect("verifies").id(), expected[0].2);
    }

    #[test]
    fn stats_count_by_tier_and_kind() {
        let c = testkit::signatories();
        let (_dir, _path, mut store) = new_store();
        let mut google = Author::new(&c, "google");
        let public = google.bulletin_with(Tier::Public, Category::Bio, Severity::Low);
        let consortium = google.bulletin("consortium");
        let retraction = google.retract(public.id(), true);
        store
            .insert_entries(&[public, consortium, retraction], NOW)
            .expect("insert");
        let stats = store.stats().expect("stats");
        assert_eq!(
            (stats.entries, stats.bodies, stats.authors, stats.purges),
            (3, 2, 1, 1)
        );
        assert_eq!(stats.by_tier, [1, 2, 0, 0]);
        assert_eq!(stats.by_kind, [2, 0, 1, 0, 0, 0, 0]);
        assert!(stats.body_bytes > 0);
        assert_eq!(store.count().expect("count"), 3);
    }

    #[test]
    fn stored_bytes_count_envelopes_and_held_bodies_per_author() {
        let c = testkit::signatories();
        let (_dir, _path, mut store) = new_store();
        assert_eq!(store.stored_bytes_by_author().expect("empty"), []);
        let mut google = Author::new(&c, "google");
        let mut meta = Author::new(&c, "meta");
        let kept = google.bulletin("kept");
        let purged = google.bulletin("purged");
        let retraction = google.retract(purged.id(), true);
        let relayed = meta.bulletin("relayed without its body");
        store
            .insert_entries(
                &[
                    kept.clone(),
                    purged.clone(),
                    retraction.clone(),
                    relayed.without_body(),
                ],
                NOW,
            )
            .expect("insert");
        let size = |e: &riskmesh_protocol::VerifiedEntry| {
            (e.envelope().len() + e.body().map_or(0, <[u8]>::len)) as u64
        };
        let mut expected = vec![
            (
                google.key(),
                size(&kept) + purged.envelope().len() as u64 + size(&retraction),
            ),
            (meta.key(), relayed.envelope().len() as u64),
        ];
        expected.sort();
        assert_eq!(store.stored_bytes_by_author().expect("bytes"), expected);
    }
}
