//! The node's protocol state: the roster in force, the chain validator,
//! this organization's log and the equivocation proofs it knows. Sans-IO:
//! every call decides what to accept, what to write and what to report, and
//! leaves [`Effect`]s for the driver; entries arrive verified (`VerifiedEntry`)
//! and time is an argument.

use super::hazard::{self, Received};
use super::policy::storage::entry_bytes;
use super::policy::sync::Local;
use super::policy::writes::Batch;
use super::workers::{Ack, SharedRoster, WriteJob};
use super::{AuthorStatus, Membership, NodeError, Refusal};
use crate::metrics::Metrics;
use crate::store::ReleaseState;
use libp2p::gossipsub::MessageAcceptance;
use riskmesh_protocol::Hash32;
use riskmesh_protocol::body::AccessDecisionBody;
use riskmesh_protocol::chain::{Fork, Position};
use riskmesh_protocol::keys::OrgSecrets;
use riskmesh_protocol::redaction::Redaction;
use riskmesh_protocol::roster::SignedRoster;
use riskmesh_protocol::sync::{Head, SyncResponse, heads_digest};
use riskmesh_protocol::{
    Body, BulletinBody, ChainValidator, Draft, EntryId, EquivocationProof, Kind, LogWriter, OrgKey, Outcome,
    Roster, Tier, VerifiedEntry,
};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::oneshot;

/// What the driver must do after a ledger call.
pub(super) enum Effect {
    /// Hand this job to the writer (through the backlog).
    Write(WriteJob),
    /// Read the accepted entry `existing` to prove a fork with `incoming`.
    ForkEvidence {
        /// The accepted entry's id.
        existing: EntryId,
        /// The conflicting entry.
        incoming: VerifiedEntry,
    },
    /// The roster changed: update the peer set.
    RosterChanged,
    /// Entries of `author` totalling `bytes` were accepted (and will be
    /// stored): count them against its storage budget.
    Stored {
        /// The author.
        author: OrgKey,
        /// Envelope and body bytes.
        bytes: u64,
    },
    /// This node's own log is out of step with its store: stop.
    Fatal(String),
}

/// The protocol state of a running node.
pub(super) struct Ledger {
    roster: Arc<Roster>,
    shared_roster: SharedRoster,
    chain: ChainValidator,
    log: LogWriter,
    org: Arc<OrgSecrets>,
    known_proofs: HashSet<(OrgKey, u64)>,
    /// Accepted access entries not yet committed: entry id → the request to
    /// re-evaluate once it is. Bounded by the write backlog's admission.
    release_checks: HashMap<EntryId, EntryId>,
    /// Accepted retractions not yet committed. Bounded like `release_checks`.
    retractions: HashSet<EntryId>,
    batch: Batch<VerifiedEntry, Ack>,
    metrics: Arc<Metrics>,
    effects: Vec<Effect>,
}

impl Ledger {
    pub(super) fn new(
        shared_roster: SharedRoster,
        chain: ChainValidator,
        log: LogWriter,
        org: Arc<OrgSecrets>,
        known_proofs: HashSet<(OrgKey, u64)>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Ledger {
            roster: super::workers::current(&shared_roster),
            shared_roster,
            chain,
            log,
            org,
            known_proofs,
            release_checks: HashMap::new(),
            retractions: HashSet::new(),
            batch: Batch::new(),
            metrics,
            effects: Vec::new(),
        }
    }

    /// The effects left by the calls so far, in order.
    pub(super) fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    pub(super) fn roster(&self) -> &Arc<Roster> {
        &self.roster
    }

    /// This organization's signing key.
    pub(super) fn own_key(&self) -> OrgKey {
        self.org.signing.public()
    }

    /// Where this organization stands on the roster in force.
    pub(super) fn membership(&self) -> Membership {
        Membership::of(&self.roster, &self.own_key())
    }

    /// Why this organization may not publish now (joining or retired), if
    /// it may not: refused before anything is signed.
    fn not_member(&self) -> Option<Refusal> {
        Membership::refusal(&self.roster, &self.own_key())
    }

    pub(super) fn pending_len(&self) -> usize {
        self.chain.pending_len()
    }

    /// Where an unverified entry would land in its author's chain.
    pub(super) fn position(&self, author: &OrgKey, seq: u64, size: usize) -> Position {
        self.chain.position(author, seq, size)
    }

    /// What the sync planner needs to see.
    pub(super) fn local(&self) -> Local<'_> {
        Local {
            chain: &self.chain,
            roster_version: self.roster.version(),
            known_proofs: &self.known_proofs,
            roster: &self.roster,
        }
    }

    /// This node's heads, ascending by author.
    fn head_list(&self) -> Vec<Head> {
        let mut heads: Vec<Head> = self
            .chain
            .heads()
            .map(|(author, seq, id)| Head { author, seq, id })
            .collect();
        heads.sort_by_key(|h| h.author);
        heads
    }

    fn proof_count(&self) -> u64 {
        self.known_proofs.len() as u64
    }

    /// Our answer to a heads request.
    pub(super) fn heads(&self) -> SyncResponse {
        SyncResponse::Heads {
            heads: self.head_list(),
            roster_version: self.roster.version(),
            proofs: self.proof_count(),
        }
    }

    /// Our answer to a digest request: in-sync when the requester's digest
    /// is ours, our heads otherwise (spec §13.1).
    pub(super) fn answer_digest(&self, theirs: &Hash32) -> SyncResponse {
        let heads = self.head_list();
        let (roster_version, proofs) = (self.roster.version(), self.proof_count());
        if heads_digest(&heads, roster_version, proofs) == *theirs {
            SyncResponse::InSync
        } else {
            SyncResponse::Heads {
                heads,
                roster_version,
                proofs,
            }
        }
    }

    /// The digest of what this node holds (spec §13.1).
    pub(super) fn digest(&self) -> Hash32 {
        heads_digest(&self.head_list(), self.roster.version(), self.proof_count())
    }

    /// Applies a roster update if it is the next version with a quorum.
    /// `acks` run once it is committed. Returns the acceptance to report now,
    /// or `None` when it is reported after the commit.
    pub(super) fn offer_roster(
        &mut self,
        signed: &SignedRoster,
        acks: Vec<Ack>,
    ) -> Option<MessageAcceptance> {
        let Ok(doc) = signed.document() else {
            return Some(MessageAcceptance::Reject);
        };
        if doc.version != self.roster.version() + 1 {
            // Known, or later than the next (fetched by sync first).
            return Some(MessageAcceptance::Ignore);
        }
        match self.roster.apply_update(signed) {
            Ok(next) => {
                self.install_roster(next, acks);
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "roster update refused");
                self.metrics.reject("bad_roster");
                Some(MessageAcceptance::Reject)
            }
        }
    }

    /// Offers roster versions a peer served by sync, in order. Stops at the
    /// first that is malformed or invalid and says why (the peer's fault).
    pub(super) fn offer_synced_rosters(&mut self, rosters: &[Vec<u8>]) -> Result<(), &'static str> {
        for bytes in rosters {
            let signed = SignedRoster::from_bytes(bytes).map_err(|_| "malformed roster in sync response")?;
            if self.offer_roster(&signed, Vec::new()) == Some(MessageAcceptance::Reject) {
                return Err("invalid roster in sync response");
            }
        }
        Ok(())
    }

    /// Offers equivocation proofs a peer served by sync. Stops at the first
    /// invalid one and says why (the peer's fault).
    pub(super) fn offer_synced_proofs(&mut self, proofs: Vec<EquivocationProof>) -> Result<(), &'static str> {
        for proof in proofs {
            if self.offer_proof(proof, Vec::new()) == Some(MessageAcceptance::Reject) {
                return Err("invalid equivocation proof in sync response");
            }
        }
        Ok(())
    }

    /// The roster `signed` makes, if it is the valid next version (not yet
    /// in force: see [`Ledger::install_roster`]).
    pub(super) fn verify_roster(&self, signed: &SignedRoster) -> Result<Roster, NodeError> {
        self.roster
            .apply_update(signed)
            .map_err(|e| NodeError::Refused(Refusal::Roster(e)))
    }

    /// Puts a verified next roster in force; `acks` run once it is written.
    pub(super) fn install_roster(&mut self, next: Roster, acks: Vec<Ack>) {
        tracing::info!(version = next.version(), "roster updated");
        for (author, keep, dropped) in self.chain.cut_to_roster(&next) {
            let org = next.org_of(&author).unwrap_or_default();
            tracing::warn!(%org, keep, dropped, "entries past a retired key's valid prefix dropped");
            self.metrics.entries_cut.fetch_add(1, Ordering::Relaxed);
            self.metrics.entries_stored.fetch_sub(dropped, Ordering::Relaxed);
        }
        let next = Arc::new(next);
        self.roster = Arc::clone(&next);
        match self.shared_roster.write() {
            Ok(mut guard) => *guard = Arc::clone(&next),
            Err(p) => *p.into_inner() = Arc::clone(&next),
        }
        self.effects
            .push(Effect::Write(WriteJob::Roster { roster: next, acks }));
        self.effects.push(Effect::RosterChanged);
    }

    /// Keeps a verified equivocation proof; `acks` run once it is committed.
    pub(super) fn offer_proof(
        &mut self,
        proof: EquivocationProof,
        acks: Vec<Ack>,
    ) -> Option<MessageAcceptance> {
        // A copy of a proof already held is ignored before its two
        // signatures are checked (relays resend proofs).
        if proof
            .claimed_position()
            .is_some_and(|position| self.known_proofs.contains(&position))
        {
            return Some(MessageAcceptance::Ignore);
        }
        match proof.verify(&self.roster) {
            Ok((author, seq)) if self.known_proofs.contains(&(author, seq)) => {
                Some(MessageAcceptance::Ignore)
            }
            Ok((author, seq)) => {
                self.store_proof(author, seq, proof, acks);
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "invalid equivocation proof");
                self.metrics.reject("bad_proof");
                Some(MessageAcceptance::Reject)
            }
        }
    }

    fn store_proof(&mut self, author: OrgKey, seq: u64, proof: EquivocationProof, acks: Vec<Ack>) {
        if self.known_proofs.insert((author, seq)) {
            let org = self.roster.org_of(&author).unwrap_or_default().to_string();
            tracing::warn!(%org, seq, "EQUIVOCATION: author signed two different entries at the same seq");
            self.effects.push(Effect::Write(WriteJob::Equivocation {
                author,
                seq,
                proof,
                acks,
            }));
        }
    }

    /// The accepted entry of a fork was read back: prove the fork.
    pub(super) fn fork_evidence(&mut self, existing: Option<Vec<u8>>, incoming: &VerifiedEntry) {
        if let Some(existing) = existing
            && let Ok(existing) = riskmesh_protocol::verify_entry(&self.roster, &existing, None)
            && let Ok(proof) = EquivocationProof::new(&existing, incoming)
        {
            let h = incoming.header();
            self.store_proof(h.author, h.seq, proof, Vec::new());
        }
    }

    /// Runs an entry through the chain validator at `now_ms`; accepted
    /// entries are written with `acks` (gathered into the open batch, if
    /// any). Returns the gossip acceptance to report now, or `None` if it
    /// is reported after the commit.
    pub(super) fn ingest(
        &mut self,
        entry: VerifiedEntry,
        acks: Vec<Ack>,
        now_ms: u64,
    ) -> Option<MessageAcceptance> {
        let report = self.chain.ingest(entry, now_ms);
        match report.fork {
            Some(Fork::Proven(proof)) => {
                if let Ok((author, seq)) = proof.verify(&self.roster) {
                    self.store_proof(author, seq, proof, Vec::new());
                }
            }
            Some(Fork::WithAccepted { existing, incoming }) => {
                self.effects.push(Effect::ForkEvidence { existing, incoming });
            }
            None => {}
        }
        for entry in &report.accepted {
            self.note_access(entry);
            self.effects.push(Effect::Stored {
                author: entry.header().author,
                bytes: entry_bytes(entry),
            });
        }
        self.metrics
            .accepted
            .fetch_add(report.accepted.len() as u64, Ordering::Relaxed);
        match report.outcome {
            Outcome::Accept => {
                if let Some((entries, acks)) = self.batch.add(report.accepted, acks) {
                    self.effects
                        .push(Effect::Write(WriteJob::Entries { entries, acks }));
                }
                None
            }
            Outcome::Ignore(reason) => {
                self.metrics.ignore(reason.name());
                Some(MessageAcceptance::Ignore)
            }
            Outcome::Reject(reason) => {
                self.metrics.reject(reason.name());
                Some(MessageAcceptance::Reject)
            }
        }
    }

    /// Opens a batch: entries accepted until the matching
    /// [`Ledger::end_batch`] become one write job.
    pub(super) fn begin_batch(&mut self) {
        self.batch.begin();
    }

    /// Closes a batch (the outermost close writes what was gathered).
    pub(super) fn end_batch(&mut self) {
        if let Some((entries, acks)) = self.batch.end() {
            self.effects
                .push(Effect::Write(WriteJob::Entries { entries, acks }));
        }
    }

    /// Remembers access entries so the release policy is re-evaluated once
    /// they are committed (the kinds [`noticed_on_commit`] names).
    fn note_access(&mut self, entry: &VerifiedEntry) {
        match entry.header().kind {
            Kind::AccessRequest => {
                self.release_checks.insert(entry.id(), entry.id());
            }
            Kind::AccessDecision => {
                if let Some(Ok(Body::AccessDecision(AccessDecisionBody { request, .. }))) =
                    entry.decode_body()
                {
                    self.release_checks.insert(entry.id(), request);
                }
            }
            // A retraction can revoke a release already queued (of its
            // request, its hazardous entry or one of its decisions).
            Kind::Retraction => {
                self.retractions.insert(entry.id());
            }
            _ => {}
        }
    }

    /// Entries were committed: the requests whose release policy must be
    /// evaluated again, and whether a retraction was among them (then every
    /// queued release must be evaluated again before it goes out).
    pub(super) fn committed(&mut self, ids: impl Iterator<Item = EntryId>) -> (Vec<EntryId>, bool) {
        let mut retraction = false;
        let recheck = ids
            .filter_map(|id| {
                retraction |= self.retractions.remove(&id);
                self.release_checks.remove(&id)
            })
            .collect();
        (recheck, retraction)
    }

    /// Signs and commits a draft of this organization at `now_ms`; the
    /// reply, `extra` acks and the gossip follow the commit.
    pub(super) fn publish(
        &mut self,
        draft: &Draft,
        reply: oneshot::Sender<Result<VerifiedEntry, NodeError>>,
        extra: Vec<Ack>,
        now_ms: u64,
    ) {
        if let Some(refusal) = self.not_member() {
            let _ = reply.send(Err(NodeError::Refused(refusal)));
            return;
        }
        match self.log.append(&self.org.signing, &self.roster, draft, now_ms) {
            Ok(entry) => self.commit_own(entry, reply, extra, now_ms),
            Err(reason) => {
                let _ = reply.send(Err(NodeError::Refused(Refusal::Entry(reason))));
            }
        }
    }

    /// Redacts a finding with `salts`, seals the withheld fields to this
    /// organization, and publishes the redacted entry; the sealed fields are
    /// written before the entry that commits to them.
    pub(super) fn publish_hazardous(
        &mut self,
        full: &BulletinBody,
        redaction: &Redaction,
        salts: &[[u8; 32]; 5],
        reply: oneshot::Sender<Result<VerifiedEntry, NodeError>>,
        now_ms: u64,
    ) {
        if let Some(refusal) = self.not_member() {
            let _ = reply.send(Err(NodeError::Refused(refusal)));
            return;
        }
        let (redacted, reveals) = riskmesh_protocol::redaction::redact(full, redaction, salts);
        let reveals = crate::plaintext::Wiped::new(reveals);
        let draft = Draft {
            kind: if redacted.supersedes.is_some() {
                Kind::Correction
            } else {
                Kind::Bulletin
            },
            tier: Tier::Hazardous,
            body: Body::Bulletin(redacted),
            recipients: None,
        };
        let sealed = match hazard::seal_for_self(&self.org, &reveals) {
            Ok(sealed) => sealed,
            Err(e) => {
                let _ = reply.send(Err(NodeError::Internal(e)));
                return;
            }
        };
        match self.log.append(&self.org.signing, &self.roster, &draft, now_ms) {
            Ok(entry) => {
                self.effects.push(Effect::Write(WriteJob::Withheld {
                    target: entry.id(),
                    sealed,
                }));
                self.commit_own(entry, reply, Vec::new(), now_ms);
            }
            Err(reason) => {
                let _ = reply.send(Err(NodeError::Refused(Refusal::Entry(reason))));
            }
        }
    }

    fn commit_own(
        &mut self,
        entry: VerifiedEntry,
        reply: oneshot::Sender<Result<VerifiedEntry, NodeError>>,
        extra: Vec<Ack>,
        now_ms: u64,
    ) {
        let report = self.chain.ingest(entry.clone(), now_ms);
        if report.outcome != Outcome::Accept {
            let why = format!("own entry not accepted: {:?}", report.outcome);
            let _ = reply.send(Err(NodeError::Internal(why)));
            self.effects
                .push(Effect::Fatal("own log out of step with the store".into()));
            return;
        }
        self.note_access(&entry);
        self.effects.push(Effect::Stored {
            author: entry.header().author,
            bytes: entry_bytes(&entry),
        });
        self.metrics.accepted.fetch_add(1, Ordering::Relaxed);
        let mut acks = vec![Ack::Publish { entry, reply }];
        acks.extend(extra);
        self.effects.push(Effect::Write(WriteJob::Entries {
            entries: report.accepted,
            acks,
        }));
    }

    /// A verified release sent to us (accepted, or a fault): writes what it
    /// leads to, with `answer` riding on the last write so it goes out only
    /// after the commit (the fields, the release record and the receipt).
    /// Refusals are answered by the driver at once and write nothing.
    pub(super) fn release_received(&mut self, received: Received, answer: Ack, now_ms: u64) {
        match received {
            Received::Accepted {
                request,
                target,
                sealed,
                receipt,
            } => {
                tracing::info!(target = %super::short(&target), "released fields verified against the commitments; publishing the receipt");
                let receipt = self.log.append(&self.org.signing, &self.roster, &receipt, now_ms);
                if let Err(reason) = &receipt {
                    tracing::error!(%reason, "our log refused the access receipt; the release is kept without one");
                }
                // The answer rides on the last write: the receipt if there is
                // one, else the release record.
                let (record_acks, receipt_acks) = match receipt {
                    Ok(_) => (Vec::new(), vec![answer]),
                    Err(_) => (vec![answer], Vec::new()),
                };
                self.effects
                    .push(Effect::Write(WriteJob::Withheld { target, sealed }));
                self.effects.push(Effect::Write(WriteJob::Release {
                    request,
                    target,
                    state: ReleaseState::Received,
                    evidence: None,
                    acks: record_acks,
                }));
                if let Ok(entry) = receipt {
                    let (reply, _) = oneshot::channel();
                    self.commit_own(entry, reply, receipt_acks, now_ms);
                }
            }
            Received::Fault {
                request,
                target,
                evidence,
                why,
            } => {
                tracing::error!(target = %super::short(&target), %why, "RELEASE FAULT: the author's signed release does not match its commitments; proof kept, no receipt");
                self.metrics.reject("release_mismatch");
                self.effects.push(Effect::Write(WriteJob::Release {
                    request,
                    target,
                    state: ReleaseState::Fault,
                    evidence: Some(evidence),
                    acks: vec![answer],
                }));
            }
            Received::Refused(_) => {}
        }
    }

    /// Per-author heads against the best seq peers announced: every
    /// current participant's key, then every retired key.
    pub(super) fn authors(&self, best: &HashMap<OrgKey, u64>) -> Vec<AuthorStatus> {
        let doc = self.roster.doc();
        let current = doc.members.iter().map(|m| (m.signing_key, &m.org, None));
        let retired = doc
            .retired_keys()
            .iter()
            .map(|r| (r.key, &r.org, Some((r.reason.name().to_string(), r.last_seq))));
        let mut authors: Vec<AuthorStatus> = current
            .chain(retired)
            .map(|(key, org, retirement)| {
                let head = self.chain.head(&key);
                let seq = head.map_or(0, |(s, _)| s);
                let best_known_seq = best.get(&key).copied().unwrap_or(0).max(seq);
                AuthorStatus {
                    org: org.clone(),
                    author: key.to_hex(),
                    seq,
                    head_id: head.map(|(_, id)| id.to_hex()),
                    best_known_seq,
                    lag: best_known_seq - seq,
                    retirement,
                }
            })
            .collect();
        authors.sort_by(|a, b| {
            (a.retirement.is_some(), &a.org, &a.author).cmp(&(b.retirement.is_some(), &b.org, &b.author))
        });
        authors
    }

    /// Known equivocations as `(org, seq)`, sorted.
    pub(super) fn equivocations(&self) -> Vec<(String, u64)> {
        let org_of = |key: &OrgKey| {
            self.roster
                .org_of(key)
                .map_or_else(|| key.to_hex(), str::to_string)
        };
        let mut out: Vec<(String, u64)> = self.known_proofs.iter().map(|(a, s)| (org_of(a), *s)).collect();
        out.sort();
        out
    }
}

/// Whether the ledger must hear of the commit of an entry of `kind`
/// ([`Ledger::committed`]): access requests and decisions re-evaluate a
/// release, retractions revoke queued ones. The writer tells the event loop
/// of a commit of relayed entries only when one of them is of such a kind.
pub(super) fn noticed_on_commit(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::AccessRequest | Kind::AccessDecision | Kind::Retraction
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use riskmesh_protocol::testkit;
    use std::sync::RwLock;

    const NOW: u64 = 1_700_000_000_000;

    fn ledger(org: &str) -> (Ledger, testkit::Consortium) {
        let c = testkit::signatories();
        let shared = Arc::new(RwLock::new(Arc::new(c.roster.clone())));
        let l = Ledger::new(
            shared,
            ChainValidator::new(),
            LogWriter::new(c.roster.network()),
            Arc::new(testkit::org_secrets(org)),
            HashSet::new(),
            Arc::new(Metrics::default()),
        );
        (l, c)
    }

    fn entries(c: &testkit::Consortium, org: &str, n: usize) -> Vec<VerifiedEntry> {
        testkit::bulletins(&c.roster, org, n, NOW)
    }

    fn written(effects: &[Effect]) -> Vec<usize> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Write(WriteJob::Entries { entries, .. }) => Some(entries.len()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_batch_of_accepted_entries_is_one_write_and_a_gap_is_ignored() {
        let (mut l, c) = ledger("anthropic");
        let log = entries(&c, "google", 4);
        l.begin_batch();
        assert_eq!(l.ingest(log[0].clone(), Vec::new(), NOW), None);
        assert_eq!(l.ingest(log[1].clone(), Vec::new(), NOW), None);
        // A nested batch (a sync batch inside a verifier's batch).
        l.begin_batch();
        assert_eq!(l.ingest(log[2].clone(), Vec::new(), NOW), None);
        l.end_batch();
        assert!(written(&l.take_effects()).is_empty());
        l.end_batch();
        assert_eq!(written(&l.take_effects()), vec![3]);
        // Outside a batch each accepted entry is written at once; a
        // duplicate is ignored and writes nothing.
        assert_eq!(
            l.ingest(log[2].clone(), Vec::new(), NOW),
            Some(MessageAcceptance::Ignore)
        );
        assert_eq!(l.ingest(log[3].clone(), Vec::new(), NOW), None);
        assert_eq!(written(&l.take_effects()), vec![1]);
    }

    #[test]
    fn own_publish_is_written_with_its_reply_and_refusals_are_typed() {
        let (mut l, _) = ledger("anthropic");
        let draft = Draft {
            kind: Kind::Bulletin,
            tier: Tier::Consortium,
            body: Body::Bulletin(testkit::sample_bulletin("ours")),
            recipients: None,
        };
        let (reply, _rx) = oneshot::channel();
        l.publish(&draft, reply, Vec::new(), NOW);
        let effects = l.take_effects();
        assert!(matches!(
            &effects[..],
            [Effect::Stored { bytes, .. }, Effect::Write(WriteJob::Entries { acks, .. })]
                if *bytes > 0 && matches!(acks[..], [Ack::Publish { .. }])
        ));
        // A draft that breaks a rule: refused, nothing written.
        let mut bad = draft;
        bad.tier = Tier::Restricted;
        let (reply, mut rx) = oneshot::channel();
        l.publish(&bad, reply, Vec::new(), NOW);
        assert!(l.take_effects().is_empty());
        assert!(matches!(
            rx.try_recv(),
            Ok(Err(NodeError::Refused(Refusal::Entry(_))))
        ));
    }

    #[test]
    fn stale_and_future_roster_versions_are_ignored_and_junk_rejected() {
        let (mut l, c) = ledger("anthropic");
        let mut signed_current = SignedRoster::new(c.roster.doc());
        signed_current.sign(&c.org("anthropic").signing);
        assert_eq!(
            l.offer_roster(&signed_current, Vec::new()),
            Some(MessageAcceptance::Ignore)
        );
        let mut next = c.roster.doc().clone();
        next.version = 2;
        next.prev = Some(c.roster.hash());
        let unsigned = SignedRoster::new(&next);
        assert_eq!(
            l.offer_roster(&unsigned, Vec::new()),
            Some(MessageAcceptance::Reject)
        );
        assert!(l.verify_roster(&unsigned).is_err());
        assert!(l.take_effects().is_empty());
    }

    /// Issue 9 (low), regression: gossiped equivocation proofs were verified
    /// (two signatures) before checking whether they were already known.
    /// A copy of a known proof is now ignored unverified: this one's
    /// signatures are broken, yet it is ignored, not rejected.
    #[test]
    fn a_proof_for_a_known_position_is_ignored_before_verification() {
        let (mut l, c) = ledger("anthropic");
        let a = entries(&c, "google", 1).remove(0);
        let mut b_log = LogWriter::new(c.roster.network());
        let other = Draft {
            kind: Kind::Bulletin,
            tier: Tier::Consortium,
            body: Body::Bulletin(testkit::sample_bulletin("the other version")),
            recipients: None,
        };
        let b = b_log
            .append(&c.org("google").signing, &c.roster, &other, NOW)
            .expect("entry");
        let proof = EquivocationProof::new(&a, &b).expect("proof");
        assert_eq!(
            l.offer_proof(proof.clone(), Vec::new()),
            None,
            "a new proof is kept"
        );
        let mut broken = proof;
        let last = broken.second.len() - 1;
        broken.second[last] ^= 1;
        assert_eq!(l.offer_proof(broken, Vec::new()), Some(MessageAcceptance::Ignore));
    }
}
