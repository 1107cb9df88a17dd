//! Per-author chain validation as a state machine: verified entries go in,
//! in any order, with the current time; accepted entries (in chain order),
//! an outcome and any equivocation come out.
//!
//! Gaps are queued (bounded per author and in total, by count and by bytes)
//! and drained when the missing predecessor arrives. Two different envelopes (different entry
//! ids) with the same author and seq are an equivocation, even when only
//! their signatures differ; the validator reports it with the conflicting
//! entry so the caller can build a transferable [`EquivocationProof`] (the
//! validator keeps only ids of accepted entries, not their bytes, so memory
//! stays small when a node restores millions of entries).

use crate::cbor::{self, CborError};
use crate::ids::{EntryId, OrgKey};
use crate::limits::{
    MAX_CLOCK_SKEW_MS, MAX_GAP_WINDOW, MAX_PENDING_BYTES, MAX_PENDING_BYTES_PER_AUTHOR,
    MAX_PENDING_PER_AUTHOR, MAX_PENDING_TOTAL, MAX_PROOF_BYTES,
};
use crate::roster::Roster;
use crate::validate::{IgnoreReason, Outcome, RejectReason, VerifiedEntry, verify_entry};
use minicbor::{Decode, Encode};
use std::collections::{BTreeMap, HashMap};

/// What happened to one ingested entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestReport {
    /// What gossip should do with the message.
    pub outcome: Outcome,
    /// Entries that joined their author's chain, in order: the ingested one
    /// and any queued successors it unblocked.
    pub accepted: Vec<VerifiedEntry>,
    /// An equivocation the entry revealed.
    pub fork: Option<Fork>,
    /// Queued successors dropped because they no longer link (a branch of a
    /// fork) or their timestamp regressed.
    pub discarded: usize,
}

/// An equivocation found during ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
// Forks are rare; the size difference does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Fork {
    /// Both conflicting entries were in hand; here is the proof.
    Proven(EquivocationProof),
    /// The conflict is with an already accepted entry; fetch its envelope
    /// from storage and call [`EquivocationProof::new`].
    WithAccepted {
        /// Id of the accepted entry at the same seq.
        existing: EntryId,
        /// The conflicting entry.
        incoming: VerifiedEntry,
    },
}

/// Where an unverified entry would land (see [`ChainValidator::position`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// At or below the next seq: it extends the chain, or is a duplicate
    /// or a fork, which only verification can tell.
    Next,
    /// Ahead of the next seq, with room in the gap queue.
    Gap,
    /// Ahead of the next seq with no room (or beyond the gap window): it
    /// would be ignored after verification anyway.
    NoRoom,
}

#[derive(Debug, Default)]
struct AuthorChain {
    /// Ids of accepted entries; index `seq - 1`.
    ids: Vec<EntryId>,
    /// Timestamp of the head.
    last_timestamp_ms: u64,
    /// Out-of-order entries by seq, all beyond the head.
    pending: BTreeMap<u64, VerifiedEntry>,
    /// [`VerifiedEntry::stored_len`] of everything in `pending`.
    pending_bytes: usize,
}

/// The state of every author's chain as seen by one node.
#[derive(Debug, Default)]
pub struct ChainValidator {
    authors: HashMap<OrgKey, AuthorChain>,
    pending_total: usize,
    pending_bytes: usize,
}

impl ChainValidator {
    /// An empty validator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Restores an author's accepted chain from storage: ids in seq order
    /// starting at 1, and the head's timestamp.
    pub fn restore(&mut self, author: OrgKey, ids: Vec<EntryId>, last_timestamp_ms: u64) {
        let chain = self.authors.entry(author).or_default();
        self.pending_total -= chain.pending.len();
        self.pending_bytes -= chain.pending_bytes;
        *chain = AuthorChain {
            ids,
            last_timestamp_ms,
            pending: BTreeMap::new(),
            pending_bytes: 0,
        };
    }

    /// The author's head: `(seq, id)` of the last accepted entry.
    pub fn head(&self, author: &OrgKey) -> Option<(u64, EntryId)> {
        let chain = self.authors.get(author)?;
        chain.ids.last().map(|id| (chain.ids.len() as u64, *id))
    }

    /// All heads, in no particular order.
    pub fn heads(&self) -> impl Iterator<Item = (OrgKey, u64, EntryId)> + '_ {
        self.authors
            .iter()
            .filter_map(|(author, chain)| chain.ids.last().map(|id| (*author, chain.ids.len() as u64, *id)))
    }

    /// The id accepted at `(author, seq)`.
    pub fn accepted_id(&self, author: &OrgKey, seq: u64) -> Option<EntryId> {
        let index = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.authors.get(author)?.ids.get(index).copied()
    }

    /// Entries held out of order, across all authors.
    pub fn pending_len(&self) -> usize {
        self.pending_total
    }

    /// Bytes (envelope plus body) of the entries held out of order, across
    /// all authors; at most [`MAX_PENDING_BYTES`].
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Where an entry claiming to be `author`'s `seq`, of `size` encoded
    /// bytes, would land, judged before its signature is checked: a driver
    /// may verify entries that extend a chain before those that wait in
    /// the gap queue, and skip verifying entries the queue has no room for.
    /// The claim is unverified, so the answer may only ever lead to an
    /// IGNORE, never to an accept or a penalty.
    pub fn position(&self, author: &OrgKey, seq: u64, size: usize) -> Position {
        let chain = self.authors.get(author);
        let next = chain.map_or(1, |c| c.ids.len() as u64 + 1);
        if seq <= next {
            return Position::Next;
        }
        let (count, bytes) = chain.map_or((0, 0), |c| (c.pending.len(), c.pending_bytes));
        if seq - next > MAX_GAP_WINDOW
            || !has_room((self.pending_total, self.pending_bytes), (count, bytes), size)
        {
            return Position::NoRoom;
        }
        Position::Gap
    }

    /// Seqs missing before each author's queued entries: `(author, from, to)`
    /// inclusive ranges a sync should fetch.
    pub fn gaps(&self) -> Vec<(OrgKey, u64, u64)> {
        let mut gaps = Vec::new();
        // Nothing held out of order, no gap: the usual case, checked in
        // constant time (the node asks on every tick).
        if self.pending_total == 0 {
            return gaps;
        }
        for (author, chain) in &self.authors {
            let mut next = chain.ids.len() as u64 + 1;
            for &seq in chain.pending.keys() {
                if seq > next {
                    gaps.push((*author, next, seq - 1));
                }
                next = seq + 1;
            }
        }
        gaps
    }

    /// Applies a roster's retired keys (spec §9.6) to the chains held: an
    /// accepted chain that runs past its key's valid prefix is cut back to
    /// it (to `last_seq`, or one before when the entry held there is not
    /// the one the roster names), and queued entries past the prefix are
    /// dropped. Returns `(author, keep, dropped)` for every chain cut: the
    /// driver drops the stored entries after `keep`, `dropped` of them. The timestamp rule for an
    /// entry that links to a cut head is not checked (the head's timestamp
    /// is not kept here); only the entry the roster names can follow it.
    pub fn cut_to_roster(&mut self, roster: &Roster) -> Vec<(OrgKey, u64, u64)> {
        let mut cuts = Vec::new();
        for retired in roster.doc().retired_keys() {
            let Some(chain) = self.authors.get_mut(&retired.key) else {
                continue;
            };
            let held = chain.ids.len() as u64;
            let keep = if retired.last_seq == 0 {
                0
            } else if held < retired.last_seq {
                held
            } else if chain.ids.get(retired.last_seq as usize - 1) == retired.last_id.as_ref() {
                retired.last_seq
            } else {
                retired.last_seq - 1
            };
            let before = (chain.pending.len(), chain.pending_bytes);
            chain
                .pending
                .retain(|seq, entry| retired.covers(*seq, &entry.id()));
            chain.pending_bytes = chain.pending.values().map(VerifiedEntry::stored_len).sum();
            self.pending_total -= before.0 - chain.pending.len();
            self.pending_bytes -= before.1 - chain.pending_bytes;
            if keep < held {
                chain.ids.truncate(keep as usize);
                chain.last_timestamp_ms = 0;
                cuts.push((retired.key, keep, held - keep));
            }
        }
        cuts
    }

    /// Ingests one verified entry at time `now_ms` (the receiver's clock).
    pub fn ingest(&mut self, entry: VerifiedEntry, now_ms: u64) -> IngestReport {
        let header = entry.header();
        if header.timestamp_ms > now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
            return report(Outcome::Ignore(IgnoreReason::FutureTimestamp));
        }
        let author = header.author;
        let seq = header.seq;
        let chain = self.authors.entry(author).or_default();
        let next = chain.ids.len() as u64 + 1;

        if seq < next {
            let existing = chain.ids[(seq - 1) as usize];
            if existing == entry.id() {
                return report(Outcome::Ignore(IgnoreReason::Duplicate));
            }
            let mut r = report(Outcome::Ignore(IgnoreReason::Equivocation));
            r.fork = Some(Fork::WithAccepted {
                existing,
                incoming: entry,
            });
            return r;
        }

        if seq > next {
            if seq - next > MAX_GAP_WINDOW {
                return report(Outcome::Ignore(IgnoreReason::TooFarAhead));
            }
            if let Some(queued) = chain.pending.get(&seq) {
                if queued.id() == entry.id() {
                    return report(Outcome::Ignore(IgnoreReason::Duplicate));
                }
                // Same author and seq, different envelope bytes: `new` cannot
                // refuse the pair, so every fork found here comes with a proof.
                let mut r = report(Outcome::Ignore(IgnoreReason::Equivocation));
                r.fork = EquivocationProof::new(queued, &entry).ok().map(Fork::Proven);
                return r;
            }
            let size = entry.stored_len();
            if !has_room(
                (self.pending_total, self.pending_bytes),
                (chain.pending.len(), chain.pending_bytes),
                size,
            ) {
                return report(Outcome::Ignore(IgnoreReason::QueueFull));
            }
            chain.pending.insert(seq, entry);
            chain.pending_bytes += size;
            self.pending_total += 1;
            self.pending_bytes += size;
            return report(Outcome::Ignore(IgnoreReason::Gap));
        }

        // seq == next: it extends the chain if it links.
        if let Err(outcome) = links(chain, &entry) {
            return report(outcome);
        }
        let mut r = report(Outcome::Accept);
        push(chain, &entry);
        r.accepted.push(entry);
        while let Some(queued) = chain.pending.remove(&(chain.ids.len() as u64 + 1)) {
            let size = queued.stored_len();
            chain.pending_bytes -= size;
            self.pending_total -= 1;
            self.pending_bytes -= size;
            if links(chain, &queued).is_ok() {
                push(chain, &queued);
                r.accepted.push(queued);
            } else {
                r.discarded += 1;
            }
        }
        r
    }
}

/// What a queued entry counts against the byte bounds: its envelope and its
/// body as received (none for an entry relayed without one).
/// Whether the gap queue takes one more entry of `size` bytes, given
/// `(entries, bytes)` queued in all and by its author.
fn has_room(total: (usize, usize), author: (usize, usize), size: usize) -> bool {
    author.0 < MAX_PENDING_PER_AUTHOR
        && total.0 < MAX_PENDING_TOTAL
        && author.1 + size <= MAX_PENDING_BYTES_PER_AUTHOR
        && total.1 + size <= MAX_PENDING_BYTES
}

fn report(outcome: Outcome) -> IngestReport {
    IngestReport {
        outcome,
        accepted: Vec::new(),
        fork: None,
        discarded: 0,
    }
}

fn links(chain: &AuthorChain, entry: &VerifiedEntry) -> Result<(), Outcome> {
    let header = entry.header();
    if header.prev != chain.ids.last().copied() {
        return Err(Outcome::Ignore(IgnoreReason::PrevMismatch));
    }
    if header.timestamp_ms < chain.last_timestamp_ms {
        return Err(Outcome::Reject(RejectReason::TimestampRegressed));
    }
    Ok(())
}

fn push(chain: &mut AuthorChain, entry: &VerifiedEntry) {
    chain.ids.push(entry.id());
    chain.last_timestamp_ms = entry.header().timestamp_ms;
}

/// Two different, validly signed envelopes by one author with the same seq:
/// proof, checkable by anyone holding the roster, that the author showed
/// different histories. The headers may differ, or be identical with two
/// different signatures: authors must sign deterministically (RFC 8032
/// §5.1.6), so even that shows an author that can hand different peers
/// different entry ids for one position. CBOR `{0: bstr, 1: bstr}` with the
/// first envelope bytewise smaller, so a proof has one encoding.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct EquivocationProof {
    /// The bytewise smaller envelope.
    #[n(0)]
    #[cbor(with = "minicbor::bytes")]
    pub first: Vec<u8>,
    /// The bytewise larger envelope.
    #[n(1)]
    #[cbor(with = "minicbor::bytes")]
    pub second: Vec<u8>,
}

/// Why two envelopes are not an equivocation proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// Not canonical CBOR of the proof structure.
    #[error("proof encoding: {0}")]
    Encoding(#[from] CborError),
    /// One of the envelopes does not verify.
    #[error("an envelope does not verify: {0}")]
    Invalid(RejectReason),
    /// The envelopes differ in author or seq, or are the same bytes.
    #[error("the envelopes are not two different entries for one author and seq")]
    NotConflicting,
    /// The envelopes are not in ascending byte order.
    #[error("envelopes must be in ascending byte order")]
    Order,
}

impl ProofError {
    /// Stable name for metrics, logs and test vectors.
    pub fn name(&self) -> &'static str {
        match self {
            ProofError::Encoding(_) => "encoding",
            ProofError::Invalid(_) => "invalid",
            ProofError::NotConflicting => "not_conflicting",
            ProofError::Order => "order",
        }
    }
}

/// Whether two verified headers are at one position of one author's log.
/// Together with different envelope bytes, that is an equivocation.
fn same_position(a: &VerifiedEntry, b: &VerifiedEntry) -> bool {
    let (ha, hb) = (a.header(), b.header());
    ha.author == hb.author && ha.seq == hb.seq
}

impl EquivocationProof {
    /// Builds a proof from two verified entries with the same author and seq
    /// and different envelope bytes, in either order.
    pub fn new(a: &VerifiedEntry, b: &VerifiedEntry) -> Result<Self, ProofError> {
        if !same_position(a, b) || a.envelope() == b.envelope() {
            return Err(ProofError::NotConflicting);
        }
        let (first, second) = if a.envelope() < b.envelope() {
            (a, b)
        } else {
            (b, a)
        };
        Ok(EquivocationProof {
            first: first.envelope().to_vec(),
            second: second.envelope().to_vec(),
        })
    }

    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        cbor::encode(self)
    }

    /// Decodes (canonical form and size only).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProofError> {
        Ok(cbor::decode_canonical(bytes, MAX_PROOF_BYTES)?)
    }

    /// The `(author, seq)` the proof claims, read from its first envelope
    /// without verifying anything: a cheap key to skip proofs already held
    /// before paying for two signature checks. Never a substitute for
    /// [`EquivocationProof::verify`].
    pub fn claimed_position(&self) -> Option<(OrgKey, u64)> {
        let envelope = crate::entry::Envelope::parse(&self.first).ok()?;
        let header: crate::entry::Header =
            cbor::decode_canonical(envelope.payload, crate::limits::MAX_HEADER_BYTES).ok()?;
        Some((header.author, header.seq))
    }

    /// Verifies the proof; returns the equivocating author and seq. The
    /// strict byte order also guarantees the two envelopes differ.
    pub fn verify(&self, roster: &Roster) -> Result<(OrgKey, u64), ProofError> {
        if self.first >= self.second {
            return Err(ProofError::Order);
        }
        let a = verify_entry(roster, &self.first, None).map_err(ProofError::Invalid)?;
        let b = verify_entry(roster, &self.second, None).map_err(ProofError::Invalid)?;
        if !same_position(&a, &b) {
            return Err(ProofError::NotConflicting);
        }
        Ok((a.header().author, a.header().seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{MAX_DETAILS_BYTES, MAX_WIRE_ENTRY_BYTES};
    use crate::testkit::{self, Consortium};
    use crate::{Body, BulletinBody, Draft, Kind, LogWriter, Tier};

    const NOW: u64 = 1_700_000_000_000;

    /// `n` linked entries by `org`, each with a body of about 130 KiB.
    fn large_log(c: &Consortium, org: &str, n: u64) -> Vec<VerifiedEntry> {
        let mut log = LogWriter::new(testkit::NETWORK);
        (0..n)
            .map(|i| {
                let body = BulletinBody {
                    details: "x".repeat(MAX_DETAILS_BYTES),
                    ..testkit::sample_bulletin(&format!("large entry {i}"))
                };
                let draft = Draft {
                    kind: Kind::Bulletin,
                    tier: Tier::Consortium,
                    body: Body::Bulletin(body),
                    recipients: None,
                };
                log.append(&c.org(org).signing, &c.roster, &draft, NOW + i)
                    .expect("fixture entry verifies")
            })
            .collect()
    }

    /// The unverified pre-check agrees with what ingest then does: next
    /// entries are `Next`, queued ones `Gap`, and once an author's byte
    /// bound is reached its further out-of-order entries are `NoRoom` (and
    /// ingest would answer `queue_full`).
    #[test]
    fn position_predicts_where_an_entry_would_land() {
        let c = testkit::signatories();
        let log = large_log(&c, "google", 70);
        let author = log[0].header().author;
        let mut validator = ChainValidator::new();
        assert_eq!(validator.position(&author, 1, 10), Position::Next);
        for entry in &log[1..] {
            let seq = entry.header().seq;
            let size = entry.stored_len();
            let position = validator.position(&author, seq, size);
            let outcome = validator.ingest(entry.clone(), NOW).outcome;
            match position {
                Position::Gap => assert_eq!(outcome, Outcome::Ignore(IgnoreReason::Gap)),
                Position::NoRoom => assert_eq!(outcome, Outcome::Ignore(IgnoreReason::QueueFull)),
                Position::Next => panic!("seq {seq} is ahead of the chain"),
            }
        }
        assert_eq!(
            validator.position(&author, 1_000, log[1].stored_len()),
            Position::NoRoom,
            "the queue is full"
        );
        assert_eq!(validator.position(&author, 1, 1), Position::Next);
    }

    #[test]
    fn a_flood_of_large_out_of_order_entries_stays_within_the_pending_byte_bounds() {
        let c = testkit::signatories();
        // Every author's entry 1 is withheld, so everything else waits; 66
        // entries of 130 KiB are more than one author's byte bound, and nine
        // authors' worth is more than the total one, while the count bounds
        // (1024 per author) are never reached.
        let logs: Vec<(&str, Vec<VerifiedEntry>)> = c
            .orgs
            .iter()
            .map(|o| (o.org.as_str(), large_log(&c, &o.org, 66)))
            .collect();
        let mut validator = ChainValidator::new();
        let mut queued_per_author = Vec::new();
        let mut refused_under_own_bound = 0;
        for (_, log) in &logs {
            let mut queued = 0;
            let mut refused = 0;
            for entry in &log[1..] {
                let size = entry.stored_len();
                let outcome = validator.ingest(entry.clone(), NOW).outcome;
                match outcome {
                    Outcome::Ignore(IgnoreReason::Gap) => queued += size,
                    Outcome::Ignore(IgnoreReason::QueueFull) => {
                        refused += 1;
                        if queued + size <= MAX_PENDING_BYTES_PER_AUTHOR {
                            refused_under_own_bound += 1;
                        }
                    }
                    other => panic!("unexpected outcome {other:?}"),
                }
                assert!(queued <= MAX_PENDING_BYTES_PER_AUTHOR);
                assert!(validator.pending_bytes() <= MAX_PENDING_BYTES);
            }
            assert!(refused > 0, "each author overflows its byte bound");
            queued_per_author.push(queued);
        }
        assert_eq!(validator.pending_bytes(), queued_per_author.iter().sum::<usize>());
        assert!(validator.pending_len() < MAX_PENDING_TOTAL);
        assert!(
            refused_under_own_bound > 0,
            "the last authors meet the total bound before their own"
        );
        assert!(validator.pending_bytes() > MAX_PENDING_BYTES - MAX_WIRE_ENTRY_BYTES);

        // The first author's entry 1 drains its queue and frees its bytes.
        let (_, first) = &logs[0];
        let report = validator.ingest(first[0].clone(), NOW);
        assert_eq!(report.outcome, Outcome::Accept);
        assert_eq!(
            validator.pending_bytes(),
            queued_per_author[1..].iter().sum::<usize>()
        );
        // Nothing of that author is left in the queue, and restoring an
        // author forgets its bytes too.
        let (last_org, _) = logs[logs.len() - 1];
        let last_key = c.org(last_org).signing.public();
        validator.restore(last_key, Vec::new(), 0);
        assert_eq!(
            validator.pending_bytes(),
            queued_per_author[1..queued_per_author.len() - 1]
                .iter()
                .sum::<usize>()
        );
    }

    /// Issue 10, spec §9.6: entries a node accepted past a key's valid
    /// prefix before it learned of the retirement are cut back when the
    /// roster arrives: past `last_seq`, a different entry at `last_seq`, and
    /// queued entries past the prefix.
    #[test]
    fn a_retirement_cuts_held_chains_back_to_the_valid_prefix() {
        let c = crate::testkit::signatories();
        let meta = crate::testkit::bulletins(&c.roster, "meta", 6, 1_000);
        let openai = crate::testkit::bulletins(&c.roster, "openai", 3, 1_000);
        let mut chain = ChainValidator::new();
        for e in meta[..4].iter().chain(&openai) {
            assert!(chain.ingest(e.clone(), 0).accepted.len() == 1);
        }
        chain.ingest(meta[5].clone(), 0);
        assert_eq!(chain.pending_len(), 1);
        let fork = crate::testkit::bulletins(&c.roster, "openai", 2, 5_000);
        let v2 = c
            .roster
            .apply_update(&crate::testkit::next_roster(
                &c.roster,
                |doc| doc.members.retain(|m| m.org != "meta" && m.org != "openai"),
                &|key| {
                    if *key == meta[0].header().author {
                        Some((2, meta[1].id()))
                    } else {
                        Some((2, fork[1].id()))
                    }
                },
                &[],
            ))
            .expect("v2");
        let mut cuts = chain.cut_to_roster(&v2);
        cuts.sort();
        let mut want = vec![(meta[0].header().author, 2, 2), (openai[0].header().author, 1, 2)];
        want.sort();
        assert_eq!(cuts, want);
        assert_eq!(chain.head(&meta[0].header().author), Some((2, meta[1].id())));
        assert_eq!(chain.pending_len(), 0);
        assert_eq!(chain.pending_bytes(), 0);
        assert!(
            chain.cut_to_roster(&v2).is_empty(),
            "cutting again changes nothing"
        );
    }
}
