//! `ChainValidator::ingest` fed entries from a fixed pool (main chains, a
//! fork, a timestamp regression, orphans, a future entry) in a
//! fuzzer-chosen order with repeats. Each input byte is one delivery: the
//! low 7 bits pick the entry, the high bit picks the receiver clock (before
//! or after the future entries' timestamps).
//!
//! Invariants, checked against a model after every delivery: accepted
//! entries of each author form one contiguous chain from seq 1 (each links
//! to the previous, timestamps never decrease) and match `head` and
//! `accepted_id`; the pending count matches what was queued and drained and
//! stays within its bound; outcomes agree with what was accepted; every
//! reported equivocation carries evidence and every proof verifies.

#![no_main]

use libfuzzer_sys::fuzz_target;
use riskmesh_protocol::chain::{ChainValidator, Fork};
use riskmesh_protocol::limits::MAX_PENDING_TOTAL;
use riskmesh_protocol::validate::{IgnoreReason, Outcome};
use riskmesh_protocol::{EntryId, OrgKey};
use riskmesh_protocol_fuzz::{POOL_AUTHORS, chain_pool, consortium, roster};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

/// What the model knows of one author's accepted chain: (id, timestamp).
type ModelChain = Vec<(EntryId, u64)>;

thread_local! {
    /// Encodings of equivocation proofs already verified.
    static VERIFIED_PROOFS: RefCell<HashSet<Vec<u8>>> = RefCell::new(HashSet::new());
}

fuzz_target!(|data: &[u8]| {
    let pool = chain_pool();
    let authors: Vec<OrgKey> = POOL_AUTHORS
        .iter()
        .map(|org| consortium().org(org).signing.public())
        .collect();
    let mut validator = ChainValidator::new();
    let mut model: HashMap<OrgKey, ModelChain> = HashMap::new();
    let mut pending = 0usize;

    for &op in data.iter().take(1024) {
        let entry = &pool.entries[usize::from(op & 0x7f) % pool.entries.len()];
        let now = if op & 0x80 == 0 {
            pool.now_ms
        } else {
            pool.late_now_ms
        };
        let header = entry.header().clone();
        let head_before = model.get(&header.author).map_or(0, Vec::len) as u64;
        let report = validator.ingest(entry.clone(), now);

        match &report.outcome {
            Outcome::Accept => {
                assert_eq!(header.seq, head_before + 1, "accepted an entry not at next");
                assert_eq!(report.accepted.first().map(|e| e.id()), Some(entry.id()));
                let drained = report.accepted.len() - 1 + report.discarded;
                pending = pending
                    .checked_sub(drained)
                    .expect("drained more entries than were queued");
            }
            other => {
                assert!(report.accepted.is_empty(), "{other:?} with accepted entries");
                assert_eq!(report.discarded, 0, "{other:?} with discarded entries");
                if *other == Outcome::Ignore(IgnoreReason::Gap) {
                    assert!(header.seq > head_before + 1, "queued an entry that is not ahead");
                    pending += 1;
                }
                if *other == Outcome::Ignore(IgnoreReason::Equivocation) {
                    assert!(report.fork.is_some(), "equivocation without evidence");
                }
                if *other == Outcome::Ignore(IgnoreReason::Duplicate) && header.seq <= head_before {
                    assert_eq!(
                        validator.accepted_id(&header.author, header.seq),
                        Some(entry.id())
                    );
                }
            }
        }

        for accepted in &report.accepted {
            let h = accepted.header();
            let chain = model.entry(h.author).or_default();
            assert_eq!(h.seq, chain.len() as u64 + 1, "accepted entries skip a seq");
            assert_eq!(
                h.prev,
                chain.last().map(|(id, _)| *id),
                "accepted entry does not link"
            );
            if let Some(&(_, ts)) = chain.last() {
                assert!(h.timestamp_ms >= ts, "accepted a regressing timestamp");
            }
            chain.push((accepted.id(), h.timestamp_ms));
        }

        match &report.fork {
            None => {}
            Some(Fork::Proven(proof)) => {
                // The pool yields few distinct proofs; verify each once so
                // the fuzzer spends its time on delivery orders.
                let bytes = proof.to_bytes();
                if !VERIFIED_PROOFS.with_borrow(|seen| seen.contains(&bytes)) {
                    let proven = proof.verify(roster()).expect("reported proof verifies");
                    assert_eq!(proven, (header.author, header.seq));
                    VERIFIED_PROOFS.with_borrow_mut(|seen| seen.insert(bytes));
                }
            }
            Some(Fork::WithAccepted { existing, incoming }) => {
                let chain = &model[&header.author];
                assert_eq!(
                    Some(existing),
                    chain.get(header.seq as usize - 1).map(|(id, _)| id)
                );
                assert_ne!(*existing, incoming.id());
            }
        }

        assert_eq!(validator.pending_len(), pending, "pending count drifted");
        assert!(pending <= MAX_PENDING_TOTAL);
        for author in &authors {
            let chain = model.get(author).map(Vec::as_slice).unwrap_or_default();
            let head = validator.head(author);
            assert_eq!(head.map(|(seq, _)| seq).unwrap_or(0), chain.len() as u64);
            assert_eq!(head.map(|(_, id)| id), chain.last().map(|(id, _)| *id));
            for (i, (id, _)) in chain.iter().enumerate() {
                assert_eq!(validator.accepted_id(author, i as u64 + 1), Some(*id));
            }
            assert_eq!(validator.accepted_id(author, chain.len() as u64 + 1), None);
        }
        for (author, from, to) in validator.gaps() {
            let head = model.get(&author).map_or(0, Vec::len) as u64;
            assert!(head < from && from <= to, "gap {from}..={to} behind head {head}");
        }
    }
});
