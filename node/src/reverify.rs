//! Re-verification of a node's database from scratch, for `riskmesh verify`
//! and the simulator's end-of-run checks: every entry's signature and body
//! against the roster (the pinned genesis plus the updates stored beside
//! the entries; each entry judged by the newest version, which keeps every
//! retired key with its valid prefix), every author's chain (seq contiguous from 1, each `prev`
//! the id before it, timestamps never going back), stored columns against
//! the signed header, purges honoured, and every stored equivocation proof.
//!
//! It reads only through the [`Store`] API and trusts nothing the node
//! decided when it stored the entries: a problem is listed, never fatal,
//! so one run reports everything wrong.

use crate::store::{Store, StoredEntry};
use riskmesh_protocol::validate::RejectReason;
use riskmesh_protocol::{EntryId, Hash32, OrgKey, Roster, Tier, VerifiedEntry};
use serde::Serialize;
use std::path::PathBuf;

/// Most problems kept for the report; the count goes on beyond it.
pub const MAX_REPORTED_PROBLEMS: usize = 1000;

/// One thing wrong in the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The entry concerned, hex, if any.
    pub entry: Option<String>,
    /// Its author (org id, or key hex), if known.
    pub author: Option<String>,
    /// Its seq, if known.
    pub seq: Option<u64>,
    /// What is wrong.
    pub message: String,
}

/// What a re-verification checked and found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The database file.
    pub database: PathBuf,
    /// Roster versions applied (genesis = 1).
    pub roster_version: u64,
    /// Entries checked.
    pub entries: u64,
    /// Authors with entries.
    pub authors: u64,
    /// Bodies present and checked against their header.
    pub bodies: u64,
    /// Entries whose body was purged by their author.
    pub purged: u64,
    /// Entries whose body this node never received (not a fault).
    pub bodies_missing: u64,
    /// Restricted entries (ciphertext checked against the header only).
    pub restricted: u64,
    /// Hazardous entries whose redacted body and commitments were checked.
    pub hazardous: u64,
    /// Stored equivocation proofs checked.
    pub equivocations: u64,
    /// Total problems found.
    pub problem_count: u64,
    /// The first [`MAX_REPORTED_PROBLEMS`] problems.
    pub problems: Vec<Problem>,
}

/// `author seq N <entry id>: message`, or `database: message` for a
/// problem that concerns no entry.
impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.author, self.seq) {
            (Some(author), Some(seq)) => write!(f, "{author} seq {seq}")?,
            (Some(author), None) => write!(f, "{author}")?,
            _ => write!(f, "database")?,
        }
        if let Some(entry) = &self.entry {
            write!(f, " {entry}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl Report {
    fn problem(&mut self, entry: Option<EntryId>, author: Option<String>, seq: Option<u64>, message: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_REPORTED_PROBLEMS {
            self.problems.push(Problem {
                entry: entry.map(|e| e.to_hex()),
                author,
                seq,
                message,
            });
        }
    }
}

/// Re-verifies everything in `store` against `genesis` and the roster
/// updates stored beside the entries.
pub fn reverify(store: &Store, genesis: Roster) -> Report {
    reverify_each(store, genesis, |_| {})
}

/// [`reverify`], handing each stored entry to `visit` after it is checked,
/// so a caller that needs the entries as well reads the database once.
pub fn reverify_each(store: &Store, genesis: Roster, visit: impl FnMut(StoredEntry)) -> Report {
    let mut report = Report {
        database: store.path().to_path_buf(),
        ..Report::default()
    };
    let rosters = rosters(genesis, store, &mut report);
    check_entries(store, &rosters, &mut report, visit);
    report
}

/// The roster versions in force over the database's history, oldest first:
/// the genesis and every stored update that follows it. An update that does
/// not follow is a problem, and later ones are not applied.
fn rosters(genesis: Roster, store: &Store, report: &mut Report) -> Vec<Roster> {
    let mut chain = vec![genesis];
    let stored = match store.load_rosters() {
        Ok(s) => s,
        Err(e) => {
            report.problem(
                None,
                None,
                None,
                format!("cannot read stored roster versions: {e}"),
            );
            return chain;
        }
    };
    for signed in stored {
        let Some(current) = chain.last() else { break };
        let version = match signed.document() {
            Ok(doc) => doc.version,
            Err(e) => {
                report.problem(
                    None,
                    None,
                    None,
                    format!("a stored roster version does not decode: {e}"),
                );
                break;
            }
        };
        if version <= current.version() {
            if version == current.version() && signed.doc != current.signed().doc {
                report.problem(
                    None,
                    None,
                    None,
                    format!("stored roster version {version} differs from the one in force"),
                );
            }
            continue;
        }
        match current.apply_update(&signed) {
            Ok(next) => chain.push(next),
            Err(e) => {
                report.problem(
                    None,
                    None,
                    None,
                    format!(
                        "stored roster version {version} does not follow version {}: {e}",
                        current.version()
                    ),
                );
                break;
            }
        }
    }
    report.roster_version = chain.last().map_or(0, Roster::version);
    chain
}

/// Verifies an entry against the newest roster version, as a node holding
/// that version judges it. Every key that ever left the roster is kept
/// there as retired with the prefix of its log that stays valid (spec §9.6,
/// kept by every update, §9.5 step 5), so an older version never needs to
/// be asked — and must not be: it would excuse entries past a prefix.
fn verify_newest(rosters: &[Roster], entry: &StoredEntry) -> Result<VerifiedEntry, RejectReason> {
    match rosters.last() {
        Some(roster) => entry.verify(roster),
        None => Err(RejectReason::UnknownAuthor(entry.meta.author)),
    }
}

/// Where an author's chain stands while scanning.
struct ChainPosition {
    author: OrgKey,
    seq: u64,
    id: EntryId,
    timestamp_ms: u64,
}

/// Checks every entry, chain and proof in `store` against `rosters`,
/// handing each entry to `visit` once it is checked.
fn check_entries(store: &Store, rosters: &[Roster], report: &mut Report, mut visit: impl FnMut(StoredEntry)) {
    let org_of = |key: &OrgKey| {
        rosters
            .last()
            .and_then(|r| r.org_of(key))
            .map_or_else(|| key.to_hex(), str::to_string)
    };
    let mut position: Option<ChainPosition> = None;
    for item in store.all_entries() {
        let stored = match item {
            Ok(stored) => stored,
            Err(e) => {
                report.problem(None, None, None, format!("reading the database failed: {e}"));
                return;
            }
        };
        report.entries += 1;
        let meta = &stored.meta;
        let author = org_of(&meta.author);
        let mut found: Vec<String> = Vec::new();
        let mut problem = |message: String| found.push(message);
        if Hash32::of(&stored.envelope) != meta.id {
            problem("the stored id is not the SHA-256 of the stored envelope".into());
        }
        if meta.has_body != stored.body.is_some() {
            problem("the has_body flag disagrees with the stored body".into());
        }
        if meta.purged && stored.body.is_some() {
            problem("the author purged this body, but it is still stored".into());
        }
        let verified = match verify_newest(rosters, &stored) {
            Ok(v) => Some(v),
            Err(reason) => {
                problem(format!("does not verify: {reason}"));
                None
            }
        };
        if let Some(v) = &verified {
            let h = v.header();
            if (h.author, h.seq, h.timestamp_ms, h.tier, h.kind, h.body_len)
                != (
                    meta.author,
                    meta.seq,
                    meta.timestamp_ms,
                    meta.tier,
                    meta.kind,
                    meta.body_len,
                )
            {
                problem("the stored columns disagree with the signed header".into());
            }
        }
        // Chains: entries arrive ordered by author, then seq.
        let mut new_author = false;
        let prev = verified.as_ref().and_then(|v| v.header().prev);
        match &position {
            Some(p) if p.author == meta.author => {
                if meta.seq != p.seq + 1 {
                    problem(format!("chain gap: seq {} follows seq {}", meta.seq, p.seq));
                } else if verified.is_some() && prev != Some(p.id) {
                    problem(format!(
                        "chain broken: prev does not name the entry at seq {}",
                        p.seq
                    ));
                }
                if meta.timestamp_ms < p.timestamp_ms {
                    problem("timestamp earlier than its predecessor's".into());
                }
            }
            _ => {
                new_author = true;
                if meta.seq != 1 {
                    problem(format!(
                        "chain does not start at seq 1 (first stored seq is {})",
                        meta.seq
                    ));
                }
            }
        }
        if new_author {
            report.authors += 1;
        }
        for message in found {
            report.problem(Some(meta.id), Some(author.clone()), Some(meta.seq), message);
        }
        position = Some(ChainPosition {
            author: meta.author,
            seq: meta.seq,
            id: meta.id,
            timestamp_ms: meta.timestamp_ms,
        });
        match (&stored.body, meta.purged) {
            (Some(_), _) => report.bodies += 1,
            (None, true) => report.purged += 1,
            (None, false) => report.bodies_missing += 1,
        }
        match meta.tier {
            Tier::Restricted => report.restricted += 1,
            // The body rules run inside `verify`: a hazardous body must
            // withhold the details, carry ascending commitments starting
            // with `details`, and a valid release policy.
            Tier::Hazardous if stored.body.is_some() => report.hazardous += 1,
            _ => {}
        }
        visit(stored);
    }
    verify_proofs(store, rosters, report, &org_of);
}

fn verify_proofs(store: &Store, rosters: &[Roster], report: &mut Report, org_of: &dyn Fn(&OrgKey) -> String) {
    let proofs = match store.equivocations() {
        Ok(p) => p,
        Err(e) => {
            report.problem(None, None, None, format!("cannot read equivocation proofs: {e}"));
            return;
        }
    };
    for stored in proofs {
        report.equivocations += 1;
        let verdict = rosters
            .iter()
            .rev()
            .map(|r| stored.proof.verify(r))
            .find(Result::is_ok);
        let author = Some(org_of(&stored.author));
        match verdict {
            Some(Ok((who, seq))) if who == stored.author && seq == stored.seq => {}
            Some(Ok((who, seq))) => report.problem(
                None,
                author,
                Some(stored.seq),
                format!(
                    "equivocation proof is filed under the wrong author or seq (it proves {} at seq {seq})",
                    org_of(&who)
                ),
            ),
            _ => report.problem(
                None,
                author,
                Some(stored.seq),
                "equivocation proof does not verify against any roster version".into(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DB_FILE;
    use riskmesh_protocol::{Body, Draft, Kind, LogWriter, testkit};

    const NOW: u64 = 1_700_000_000_000;

    /// `n` public bulletins by `org` titled `{topic} {i}`, signed in a fresh
    /// log of the signatories' network.
    fn bulletins(c: &testkit::Consortium, org: &str, topic: &str, n: usize) -> Vec<VerifiedEntry> {
        let mut log = LogWriter::new(testkit::NETWORK);
        (0..n)
            .map(|i| {
                let draft = Draft {
                    kind: Kind::Bulletin,
                    tier: Tier::Public,
                    body: Body::Bulletin(testkit::sample_bulletin(&format!("{topic} {i}"))),
                    recipients: None,
                };
                log.append(&c.org(org).signing, &c.roster, &draft, NOW + i as u64)
                    .expect("entry")
            })
            .collect()
    }

    /// A database holding `entries`, damaged by `damage`, then reopened
    /// read-only as the tools open it.
    fn store_of(entries: &[VerifiedEntry], damage: impl FnOnce(&mut Store)) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(DB_FILE);
        let mut store = Store::create(&path).expect("create");
        store.insert_entries(entries, NOW).expect("insert");
        damage(&mut store);
        store.close().expect("close");
        let store = Store::open_read_only(&path).expect("open");
        (dir, store)
    }

    #[test]
    fn a_sound_database_verifies_clean() {
        let c = testkit::signatories();
        let (_dir, store) = store_of(&bulletins(&c, "google", "finding", 5), |_| {});
        let mut seen = 0;
        let report = reverify_each(&store, c.roster.clone(), |_| seen += 1);
        assert_eq!(report.problems, vec![]);
        assert_eq!((report.entries, report.authors, report.bodies), (5, 1, 5));
        assert_eq!((seen, report.roster_version), (5, 1));
        assert_eq!(report.database, store.path());
    }

    #[test]
    fn entries_that_do_not_verify_against_the_roster_are_each_listed() {
        // The same keys, but a roster for another network: every signature
        // covers the wrong network id.
        let c = testkit::signatories();
        let (_dir, store) = store_of(&bulletins(&c, "google", "finding", 3), |_| {});
        let other = testkit::consortium("other-network", &testkit::SIGNATORIES, &[]);
        let report = reverify(&store, other.roster);
        assert_eq!(report.problem_count, 3);
        assert!(
            report.problems[0].message.contains("does not verify"),
            "{:?}",
            report.problems
        );
        assert_eq!(report.problems[0].author.as_deref(), Some("google"));
    }

    /// Issue 10 (spec §9.6): a removed member's and a rotated key's entries
    /// within their valid prefixes re-verify clean under the newest roster
    /// version; entries past a prefix (held as if accepted under version 1
    /// and never cut) are listed, not excused by the version they were
    /// valid under.
    #[test]
    fn retired_keys_are_judged_by_their_prefix_in_the_newest_roster() {
        let c = testkit::consortium(testkit::NETWORK, &["amazon", "google", "meta", "openai"], &[]);
        let openai = testkit::bulletins(&c.roster, "openai", 4, NOW);
        let meta = testkit::bulletins(&c.roster, "meta", 3, NOW);
        let at = |e: &VerifiedEntry| Some((e.header().seq, e.id()));
        let removal = testkit::next_roster(
            &c.roster,
            |doc| doc.members.retain(|m| m.org != "openai"),
            &|_| at(&openai[1]),
            &[],
        );
        let v2 = c.roster.apply_update(&removal).expect("removal");
        let new = testkit::rotated_secrets("meta", 1);
        let rotation = testkit::next_roster(
            &v2,
            |doc| {
                for m in doc.members.iter_mut().filter(|m| m.org == "meta") {
                    m.signing_key = new.signing.public();
                    m.encryption_key = new.encryption.public().0;
                }
            },
            &|_| at(&meta[2]),
            &[],
        );
        let v3 = v2.apply_update(&rotation).expect("rotation");
        let (_dir, store) = store_of(&[], |store| {
            store.save_roster(&v2).expect("v2");
            store.save_roster(&v3).expect("v3");
            store.insert_entries(&openai, NOW).expect("openai");
            store.insert_entries(&meta, NOW).expect("meta");
        });
        let report = reverify(&store, c.roster.clone());
        assert_eq!((report.roster_version, report.entries), (3, 7));
        let found: Vec<(Option<&str>, Option<u64>)> = report
            .problems
            .iter()
            .map(|p| (p.author.as_deref(), p.seq))
            .collect();
        assert_eq!(found, vec![(Some("openai"), Some(3)), (Some("openai"), Some(4))]);
        assert!(
            report.problems.iter().all(|p| p.message.contains("retired")),
            "{:?}",
            report.problems
        );
    }

    #[test]
    fn a_lost_entry_and_a_tampered_body_are_each_listed() {
        let c = testkit::signatories();
        let entries = bulletins(&c, "google", "finding", 4);
        let author = entries[0].header().author;
        let tampered = entries[3].id();
        let (_dir, store) = store_of(&entries, |store| {
            store.damage_delete_entry(&author, 2);
            store.damage_replace_body(&tampered, b"not the signed body");
        });
        let report = reverify(&store, c.roster.clone());
        let found: Vec<(Option<u64>, &str)> = report
            .problems
            .iter()
            .map(|p| (p.seq, p.message.as_str()))
            .collect();
        assert_eq!(report.problem_count, 2, "{found:?}");
        assert_eq!(found[0], (Some(3), "chain gap: seq 3 follows seq 1"));
        assert_eq!(found[1].0, Some(4));
        assert!(found[1].1.starts_with("does not verify: "), "{found:?}");
        assert_eq!(
            report.problems[1].to_string(),
            format!("google seq 4 {}: {}", tampered.to_hex(), found[1].1)
        );
        assert_eq!((report.entries, report.authors), (3, 1));
    }
}
