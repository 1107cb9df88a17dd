//! Sync repair, the asking side: which peer to ask for heads, which peer
//! serves which gap, what an answer means and who is at fault. Sans-IO: the
//! driver sends the [`SyncSend`]s it returns and feeds back what arrives,
//! keyed by the [`SyncToken`] the planner issued.

use super::Picker;
use libp2p::PeerId;
use riskmesh_protocol::sync::{MAX_SYNC_RANGE, SyncRequest, SyncResponse, check_response};
use riskmesh_protocol::{ChainValidator, EquivocationProof, Hash32, OrgKey, Roster, WireEntry};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

/// A range request unanswered for this long is given up, and the gap is
/// asked of another peer (no strike: slowness proves nothing).
pub const RANGE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a peer that failed to serve an author's range (empty within its
/// claim, or too slow) is not asked for that author again.
pub const AVOID_FOR: Duration = Duration::from_secs(60);
/// Peers asked per periodic round (chosen at random among the connected).
pub const ROUND_PEERS: usize = 2;
/// The round interval when the driver sets none (the node's default).
pub const DEFAULT_ROUND: Duration = Duration::from_secs(30);

/// Identifies one outstanding sync request of this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SyncToken(pub u64);

/// A request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSend {
    /// Its token; the answer is fed back with it.
    pub token: SyncToken,
    /// To whom.
    pub peer: PeerId,
    /// What.
    pub request: SyncRequest,
}

/// What an answer asks the driver to do.
#[derive(Debug)]
pub enum SyncOutput {
    /// Send another request.
    Send(SyncSend),
    /// Verify these entries of `author` from `from_seq` (then call
    /// [`SyncPlanner::range_done`]).
    Verify {
        /// Who sent them.
        peer: PeerId,
        /// The requested author.
        author: OrgKey,
        /// The requested first seq.
        from_seq: u64,
        /// The entries as received.
        entries: Vec<WireEntry>,
    },
    /// Offer these roster versions, in order.
    Rosters {
        /// Who sent them.
        peer: PeerId,
        /// Encoded signed rosters.
        rosters: Vec<Vec<u8>>,
    },
    /// Check and keep these equivocation proofs.
    Proofs {
        /// Who sent them.
        peer: PeerId,
        /// The proofs.
        proofs: Vec<EquivocationProof>,
    },
    /// `peer` sent something provably wrong.
    Strike {
        /// The peer.
        peer: PeerId,
        /// Why.
        why: String,
    },
}

/// What this node holds, as the planner needs to see it.
#[derive(Debug, Clone, Copy)]
pub struct Local<'a> {
    /// The chain validator (contiguous heads, accepted ids, gaps).
    pub chain: &'a ChainValidator,
    /// The roster version in force.
    pub roster_version: u64,
    /// Equivocation proofs held, by `(author, seq)`.
    pub known_proofs: &'a HashSet<(OrgKey, u64)>,
    /// The roster in force: a retired key's log is wanted only up to the
    /// end of its valid prefix (spec §9.6), whatever a peer announces.
    pub roster: &'a Roster,
}

/// How far `author`'s log is worth fetching when a peer announces `seq`: a
/// retired key's log only up to the end of its valid prefix (spec §9.6),
/// whatever the peer's roster still allows. Applied where announced heads
/// are read, so a roster installed after the announcement counts at once.
fn wanted_seq(roster: &Roster, author: &OrgKey, seq: u64) -> u64 {
    roster.retired(author).map_or(seq, |r| seq.min(r.last_seq))
}

impl Local<'_> {
    fn seq(&self, author: &OrgKey) -> u64 {
        self.chain.head(author).map_or(0, |(seq, _)| seq)
    }
}

#[derive(Debug)]
struct Outstanding {
    peer: PeerId,
    request: SyncRequest,
    sent: Instant,
}

/// The asking side of sync.
#[derive(Debug)]
pub struct SyncPlanner {
    connected: HashSet<PeerId>,
    /// What each connected peer's last heads answer claimed beyond what this
    /// node held when it arrived (claims at or below are not kept: they
    /// cannot lead to a fetch), highest seq per author.
    heads: HashMap<PeerId, HashMap<OrgKey, u64>>,
    /// Authors some peer claimed beyond what this node held: the only
    /// authors [`SyncPlanner::fetch_gaps`] looks at (besides the chain's own
    /// gaps). An author leaves once no claim exceeds what is held.
    needs: BTreeSet<OrgKey>,
    /// Mean interval between periodic rounds; each is jittered.
    interval: Duration,
    /// When the next periodic round is due.
    next_round: Option<Instant>,
    picker: Picker,
    outstanding: HashMap<SyncToken, Outstanding>,
    /// Authors with a range request in flight (one at a time per author).
    fetching: HashSet<OrgKey>,
    /// `(peer, author)` pairs not to ask until the given time: the peer
    /// failed to serve that author's gap. Bounded by peers × authors;
    /// expired pairs are pruned by [`SyncPlanner::expire`].
    avoid: HashMap<(PeerId, OrgKey), Instant>,
    next_token: u64,
}

impl Default for SyncPlanner {
    fn default() -> Self {
        Self::new()
    }
}

impl SyncPlanner {
    /// A planner with no peers, rounds every [`DEFAULT_ROUND`] on average.
    pub fn new() -> Self {
        Self::with_rounds(DEFAULT_ROUND, 0)
    }

    /// A planner whose periodic rounds come every `interval` on average,
    /// each jittered to between half and one and a half times it (so the
    /// rounds of nodes started together drift apart), with random choices
    /// seeded by `seed`.
    pub fn with_rounds(interval: Duration, seed: u64) -> Self {
        SyncPlanner {
            connected: HashSet::new(),
            heads: HashMap::new(),
            needs: BTreeSet::new(),
            interval,
            next_round: None,
            picker: Picker::new(seed),
            outstanding: HashMap::new(),
            fetching: HashSet::new(),
            avoid: HashMap::new(),
            next_token: 0,
        }
    }

    fn send(&mut self, peer: PeerId, request: SyncRequest, now: Instant) -> SyncSend {
        let token = SyncToken(self.next_token);
        self.next_token += 1;
        if let SyncRequest::Range { author, .. } = &request {
            self.fetching.insert(*author);
        }
        self.outstanding.insert(
            token,
            Outstanding {
                peer,
                request: request.clone(),
                sent: now,
            },
        );
        SyncSend { token, peer, request }
    }

    /// A peer connected: send it our digest (it answers with its heads if
    /// they differ).
    pub fn peer_connected(&mut self, peer: PeerId, digest: Hash32, now: Instant) -> SyncSend {
        self.connected.insert(peer);
        self.send(peer, SyncRequest::Digest { digest }, now)
    }

    /// A peer disconnected: forget what it announced.
    pub fn peer_disconnected(&mut self, peer: &PeerId) {
        self.connected.remove(peer);
        self.heads.remove(peer);
    }

    /// Whether a periodic round is due. The first call only schedules the
    /// first round (a jittered interval from now): peers are asked when
    /// they connect.
    pub fn round_due(&mut self, now: Instant) -> bool {
        match self.next_round {
            Some(at) => at <= now,
            None => {
                self.next_round = Some(now + self.picker.jitter(self.interval));
                false
            }
        }
    }

    /// A periodic round: send our digest to [`ROUND_PEERS`] connected peers
    /// chosen at random, and schedule the next round a jittered interval
    /// from now.
    pub fn round(&mut self, digest: Hash32, now: Instant) -> Vec<SyncSend> {
        self.next_round = Some(now + self.picker.jitter(self.interval));
        let mut peers: Vec<PeerId> = self.connected.iter().copied().collect();
        peers.sort();
        let mut asked = Vec::new();
        while asked.len() < ROUND_PEERS && !peers.is_empty() {
            let peer = peers.swap_remove(self.picker.below(peers.len()));
            asked.push(self.send(peer, SyncRequest::Digest { digest }, now));
        }
        asked
    }

    /// A round with every connected peer (an operator's `sync_now`).
    pub fn round_all(&mut self, digest: Hash32, now: Instant) -> Vec<SyncSend> {
        let mut peers: Vec<PeerId> = self.connected.iter().copied().collect();
        peers.sort();
        peers
            .into_iter()
            .map(|p| self.send(p, SyncRequest::Digest { digest }, now))
            .collect()
    }

    /// Gives up range requests older than [`RANGE_TIMEOUT`] (their peers are
    /// avoided for the author, so the next fetch asks another) and forgets
    /// expired avoidances. Late answers to given-up requests are dropped.
    pub fn expire(&mut self, now: Instant) {
        let late: Vec<SyncToken> = self
            .outstanding
            .iter()
            .filter(|(_, o)| {
                matches!(o.request, SyncRequest::Range { .. })
                    && now.saturating_duration_since(o.sent) >= RANGE_TIMEOUT
            })
            .map(|(t, _)| *t)
            .collect();
        for token in late {
            if let Some(Outstanding {
                peer,
                request: SyncRequest::Range { author, .. },
                ..
            }) = self.outstanding.remove(&token)
            {
                self.fetching.remove(&author);
                self.avoid.insert((peer, author), now + AVOID_FOR);
            }
        }
        self.avoid.retain(|_, until| *until > now);
    }

    /// When [`SyncPlanner::expire`] next has something to do, or the next
    /// periodic round is due.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let timeouts = self
            .outstanding
            .values()
            .filter(|o| matches!(o.request, SyncRequest::Range { .. }))
            .map(|o| o.sent + RANGE_TIMEOUT);
        timeouts
            .chain(self.avoid.values().copied())
            .chain(self.next_round)
            .min()
    }

    /// Whether a peer announced entries this node does not hold yet
    /// ([`SyncPlanner::fetch_gaps`] has work until they arrive).
    pub fn repairing(&self) -> bool {
        !self.needs.is_empty()
    }

    /// Does not ask `peer` for `author`'s entries for [`AVOID_FOR`] (what it
    /// serves is not usable here, through no provable fault of its own).
    pub fn avoid(&mut self, peer: PeerId, author: OrgKey, now: Instant) {
        self.avoid.insert((peer, author), now + AVOID_FOR);
    }

    fn avoided(&self, peer: PeerId, author: OrgKey, now: Instant) -> bool {
        self.avoid.get(&(peer, author)).is_some_and(|until| *until > now)
    }

    /// Requests in flight.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// The highest seq any connected peer announced for each author, as
    /// far as `roster` lets it be fetched ([`wanted_seq`]).
    pub fn best_known(&self, roster: &Roster) -> HashMap<OrgKey, u64> {
        let mut best: HashMap<OrgKey, u64> = HashMap::new();
        for heads in self.heads.values() {
            for (author, seq) in heads {
                let b = best.entry(*author).or_default();
                *b = (*b).max(wanted_seq(roster, author, *seq));
            }
        }
        best
    }

    /// A request failed in transport (timeout, connection closed) or its
    /// stream was abandoned (an empty answer): not a lie, no strike.
    pub fn failed(&mut self, token: SyncToken) {
        if let Some(o) = self.outstanding.remove(&token)
            && let SyncRequest::Range { author, .. } = o.request
        {
            self.fetching.remove(&author);
        }
    }

    /// A range's entries were verified and ingested, or turned out bad
    /// (the driver strikes the peer): the author may be fetched again.
    pub fn range_done(&mut self, author: &OrgKey) {
        self.fetching.remove(author);
    }

    /// An answer arrived for `token`. Unknown tokens (late answers) are
    /// dropped.
    pub fn on_response(
        &mut self,
        token: SyncToken,
        bytes: &[u8],
        local: Local<'_>,
        now: Instant,
    ) -> Vec<SyncOutput> {
        let Some(Outstanding { peer, request, .. }) = self.outstanding.remove(&token) else {
            return Vec::new();
        };
        if bytes.is_empty() {
            // The responder abandoned the stream (overload, shutdown): a
            // failed request, not a lie.
            self.release(&request);
            return Vec::new();
        }
        let response = match SyncResponse::from_bytes(bytes).and_then(|r| {
            check_response(&request, &r)?;
            Ok(r)
        }) {
            Ok(r) => r,
            Err(e) => {
                self.release(&request);
                return vec![SyncOutput::Strike {
                    peer,
                    why: format!("bad sync response: {e}"),
                }];
            }
        };
        let mut out = Vec::new();
        match (request, response) {
            (request, SyncResponse::Refused(_)) => self.release(&request),
            // The peer holds what we hold: it claims nothing beyond.
            (SyncRequest::Digest { .. }, SyncResponse::InSync) => {
                self.heads.remove(&peer);
            }
            (
                SyncRequest::Heads | SyncRequest::Digest { .. },
                SyncResponse::Heads {
                    heads,
                    roster_version,
                    proofs,
                },
            ) => {
                if self.connected.contains(&peer) {
                    let claims: HashMap<OrgKey, u64> = heads
                        .iter()
                        .filter(|h| wanted_seq(local.roster, &h.author, h.seq) > local.seq(&h.author))
                        .map(|h| (h.author, h.seq))
                        .collect();
                    self.needs.extend(claims.keys().copied());
                    self.heads.insert(peer, claims);
                }
                // A head at a seq we hold with a different id means the
                // author showed us and this peer different entries: fetch
                // the peer's version so the chain validator can prove it.
                for head in &heads {
                    if let Some(ours) = local.chain.accepted_id(&head.author, head.seq)
                        && ours != head.id
                        && !self.fetching.contains(&head.author)
                        && !local.known_proofs.contains(&(head.author, head.seq))
                    {
                        out.push(SyncOutput::Send(self.send(
                            peer,
                            SyncRequest::Range {
                                author: head.author,
                                from_seq: head.seq,
                                count: 1,
                            },
                            now,
                        )));
                    }
                }
                if roster_version > local.roster_version {
                    out.push(SyncOutput::Send(self.send(
                        peer,
                        SyncRequest::Rosters {
                            after_version: local.roster_version,
                        },
                        now,
                    )));
                }
                if proofs > local.known_proofs.len() as u64 {
                    out.push(SyncOutput::Send(self.send(
                        peer,
                        SyncRequest::Proofs { skip: 0 },
                        now,
                    )));
                }
            }
            (SyncRequest::Range { author, from_seq, .. }, SyncResponse::Entries(entries)) => {
                if entries.is_empty() {
                    // An unserved claim (or a gossip gap it cannot fill):
                    // the peer loses standing for this author and the gap
                    // falls back to the next peer. No strike: an honest
                    // node's heads may run ahead of what it has committed,
                    // so an empty answer alone proves no lie.
                    self.fetching.remove(&author);
                    self.avoid.insert((peer, author), now + AVOID_FOR);
                } else {
                    out.push(SyncOutput::Verify {
                        peer,
                        author,
                        from_seq,
                        entries,
                    });
                }
            }
            (SyncRequest::Rosters { .. }, SyncResponse::Rosters(rosters)) => out.push(SyncOutput::Rosters {
                peer,
                rosters: rosters.into_iter().map(Vec::from).collect(),
            }),
            (SyncRequest::Proofs { .. }, SyncResponse::Proofs(proofs)) => {
                out.push(SyncOutput::Proofs { peer, proofs });
            }
            // `check_response` refuses every other pairing.
            (request, _) => {
                self.release(&request);
                out.push(SyncOutput::Strike {
                    peer,
                    why: "response type does not answer the request".into(),
                });
            }
        }
        out
    }

    fn release(&mut self, request: &SyncRequest) {
        if let SyncRequest::Range { author, .. } = request {
            self.fetching.remove(author);
        }
    }

    /// Range requests for authors where a connected peer announced more than
    /// we hold, or where gossip left a gap; one fetch per author at a time,
    /// from the peer with the highest claim among those not avoided for
    /// that author (so a peer that failed to serve is passed over and the
    /// gap falls back to the next). Returns the requests and the total lag
    /// (announced minus held). `paused` (the writer is behind) sends nothing.
    pub fn fetch_gaps(&mut self, local: Local<'_>, paused: bool, now: Instant) -> (Vec<SyncSend>, u64) {
        let mut wanted: Vec<(OrgKey, u64, PeerId)> = Vec::new();
        let mut lag = 0u64;
        let mut peers: Vec<&PeerId> = self.heads.keys().collect();
        peers.sort();
        let mut satisfied = Vec::new();
        // Only authors some peer claimed beyond what we held: incremental,
        // so a synced node does no work here however many authors it has.
        for author in &self.needs {
            let held = local.seq(author);
            let mut best = 0;
            let mut from: Option<(u64, PeerId)> = None;
            for peer in &peers {
                let Some(&announced) = self.heads[*peer].get(author) else {
                    continue;
                };
                let seq = wanted_seq(local.roster, author, announced);
                if seq <= held {
                    continue;
                }
                best = best.max(seq);
                if !self.avoided(**peer, *author, now) && from.is_none_or(|(s, _)| s < seq) {
                    from = Some((seq, **peer));
                }
            }
            if best <= held {
                satisfied.push(*author);
                continue;
            }
            lag = lag.saturating_add(best - held);
            if let Some((seq, peer)) = from {
                wanted.push((*author, seq, peer));
            }
        }
        for author in satisfied {
            self.needs.remove(&author);
        }
        if paused {
            return (Vec::new(), lag);
        }
        // Gaps seen by gossip from authors no usable peer announced: ask a
        // connected peer not avoided for that author.
        let mut connected: Vec<PeerId> = Vec::new();
        for (author, _, to) in local.chain.gaps() {
            if wanted.iter().any(|(a, _, _)| *a == author) {
                continue;
            }
            if connected.is_empty() {
                connected = self.connected.iter().copied().collect();
                connected.sort();
            }
            if let Some(peer) = connected.iter().find(|p| !self.avoided(**p, author, now)) {
                wanted.push((author, to, *peer));
            }
        }
        let mut sends = Vec::new();
        for (author, target, peer) in wanted {
            if self.fetching.contains(&author) {
                continue;
            }
            let from_seq = local.seq(&author) + 1;
            let count = (target + 1).saturating_sub(from_seq).clamp(1, MAX_SYNC_RANGE);
            sends.push(self.send(
                peer,
                SyncRequest::Range {
                    author,
                    from_seq,
                    count,
                },
                now,
            ));
        }
        (sends, lag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use riskmesh_protocol::sync::Head;
    use riskmesh_protocol::{Roster, VerifiedEntry, testkit};

    const NOW: u64 = 1_700_000_000_000;
    /// A digest no fixture's heads have: every peer answers with its heads.
    const DIGEST: Hash32 = Hash32([0xd1; 32]);

    /// A fixed origin for virtual time (instants are only compared).
    fn t0() -> Instant {
        use std::sync::OnceLock;
        static T0: OnceLock<Instant> = OnceLock::new();
        *T0.get_or_init(Instant::now)
    }

    fn peer(n: u8) -> PeerId {
        libp2p::identity::Keypair::ed25519_from_bytes([n; 32])
            .expect("key")
            .public()
            .to_peer_id()
    }

    fn entries(roster: &Roster, org: &str, n: usize) -> Vec<VerifiedEntry> {
        testkit::bulletins(roster, org, n, NOW)
    }

    fn heads_bytes(heads: Vec<Head>) -> Vec<u8> {
        SyncResponse::Heads {
            heads,
            roster_version: 1,
            proofs: 0,
        }
        .to_bytes()
    }

    struct Fixture {
        roster: Roster,
        chain: ChainValidator,
        proofs: HashSet<(OrgKey, u64)>,
    }

    impl Fixture {
        fn new() -> Self {
            Fixture {
                roster: testkit::signatories().roster,
                chain: ChainValidator::new(),
                proofs: HashSet::new(),
            }
        }
        fn local(&self) -> Local<'_> {
            Local {
                chain: &self.chain,
                roster_version: 1,
                known_proofs: &self.proofs,
                roster: &self.roster,
            }
        }
    }

    fn only_send(outputs: Vec<SyncOutput>) -> Vec<SyncSend> {
        outputs
            .into_iter()
            .map(|o| match o {
                SyncOutput::Send(s) => s,
                other => panic!("unexpected output {other:?}"),
            })
            .collect()
    }

    #[test]
    fn connect_asks_heads_then_fetches_the_announced_gap() {
        let f = Fixture::new();
        let log = entries(&f.roster, "anthropic", 3);
        let author = log[0].header().author;
        let mut planner = SyncPlanner::new();
        let p = peer(1);
        let ask = planner.peer_connected(p, DIGEST, t0());
        assert_eq!(ask.request, SyncRequest::Digest { digest: DIGEST });
        let head = Head {
            author,
            seq: 3,
            id: log[2].id(),
        };
        assert!(
            only_send(planner.on_response(ask.token, &heads_bytes(vec![head]), f.local(), t0())).is_empty()
        );
        let (sends, lag) = planner.fetch_gaps(f.local(), false, t0());
        assert_eq!(lag, 3);
        assert_eq!(
            sends[0].request,
            SyncRequest::Range {
                author,
                from_seq: 1,
                count: 3
            }
        );
        // One fetch per author at a time.
        assert!(planner.fetch_gaps(f.local(), false, t0()).0.is_empty());
        // Paused: nothing is sent, lag still reported.
        planner.range_done(&author);
        let (sends, lag) = planner.fetch_gaps(f.local(), true, t0());
        assert!(sends.is_empty());
        assert_eq!(lag, 3);
    }

    /// Issue 10 (spec §9.6): a peer still under an older roster announces a
    /// removed member's head past the prefix the roster keeps. Only the
    /// prefix is fetched, and no lag is reported for the rest (which no
    /// honest peer can serve under this roster), also when the roster that
    /// retires the key arrives after the announcement.
    #[test]
    fn a_retired_keys_log_is_fetched_only_up_to_its_valid_prefix() {
        let mut f = Fixture::new();
        let log = entries(&f.roster, "anthropic", 5);
        let author = log[0].header().author;
        let mut planner = SyncPlanner::new();
        let ask = planner.peer_connected(peer(1), DIGEST, t0());
        let head = Head {
            author,
            seq: 5,
            id: log[4].id(),
        };
        // Announced under the genesis; the roster retiring the key arrives
        // afterwards, and counts at once.
        assert!(
            only_send(planner.on_response(ask.token, &heads_bytes(vec![head]), f.local(), t0())).is_empty()
        );
        f.roster = f
            .roster
            .apply_update(&testkit::next_roster(
                &f.roster,
                |doc| doc.members.retain(|m| m.org != "anthropic"),
                &|_| Some((2, log[1].id())),
                &[],
            ))
            .expect("v2");
        assert_eq!(planner.best_known(&f.roster).get(&author), Some(&2));
        let (sends, lag) = planner.fetch_gaps(f.local(), false, t0());
        assert_eq!(lag, 2);
        assert_eq!(
            sends[0].request,
            SyncRequest::Range {
                author,
                from_seq: 1,
                count: 2
            }
        );
    }

    #[test]
    fn malformed_or_mismatched_answers_are_struck_empty_ones_are_not() {
        let f = Fixture::new();
        let mut planner = SyncPlanner::new();
        let p = peer(1);
        let ask = planner.peer_connected(p, DIGEST, t0());
        let out = planner.on_response(ask.token, b"\xff\x00junk", f.local(), t0());
        assert!(matches!(&out[..], [SyncOutput::Strike { peer, .. }] if *peer == p));
        // A proofs answer to a heads request.
        let ask = planner.round_all(DIGEST, t0()).remove(0);
        let out = planner.on_response(
            ask.token,
            &SyncResponse::Proofs(Vec::new()).to_bytes(),
            f.local(),
            t0(),
        );
        assert!(matches!(&out[..], [SyncOutput::Strike { .. }]));
        // An abandoned stream.
        let ask = planner.round_all(DIGEST, t0()).remove(0);
        assert!(planner.on_response(ask.token, b"", f.local(), t0()).is_empty());
        assert_eq!(planner.outstanding(), 0);
        // A late answer to a forgotten token.
        assert!(
            planner
                .on_response(ask.token, b"junk", f.local(), t0())
                .is_empty()
        );
    }

    /// Issue 13: every node asked every connected peer for its heads every
    /// 30 s, all at the same moment. A round now sends a digest to
    /// [`ROUND_PEERS`] random peers, at an interval jittered to between half
    /// and one and a half times the mean.
    #[test]
    fn a_round_sends_a_digest_to_two_random_peers_at_a_jittered_interval() {
        let interval = Duration::from_secs(30);
        let mut planner = SyncPlanner::with_rounds(interval, 42);
        let mut now = t0();
        for n in 1..=20 {
            let _ = planner.peer_connected(peer(n), DIGEST, now);
        }
        assert!(!planner.round_due(now), "the first call only schedules");
        let mut asked = HashSet::new();
        let mut gaps = Vec::new();
        let mut last = now;
        for _ in 0..40 {
            // Find the next due time on a 250 ms tick.
            while !planner.round_due(now) {
                now += Duration::from_millis(250);
            }
            gaps.push(now - last);
            last = now;
            let sends = planner.round(DIGEST, now);
            assert_eq!(sends.len(), ROUND_PEERS);
            assert_ne!(sends[0].peer, sends[1].peer);
            for send in sends {
                assert_eq!(send.request, SyncRequest::Digest { digest: DIGEST });
                asked.insert(send.peer);
                planner.failed(send.token);
            }
        }
        // Never sooner than half the interval, never later than 1.5 times
        // (plus a tick), and not all the same.
        let tick = Duration::from_millis(250);
        assert!(
            gaps[1..]
                .iter()
                .all(|g| *g >= interval / 2 && *g <= interval * 3 / 2 + tick),
            "{gaps:?}"
        );
        assert!(gaps[1..].windows(2).any(|w| w[0] != w[1]), "no jitter: {gaps:?}");
        // Over 40 rounds most peers were asked; nobody all the time.
        assert!(asked.len() >= 15, "only {} peers asked", asked.len());
    }

    /// The driver no longer ticks four times a second when idle: it sleeps
    /// until the planner's next wake-up, which must include the next round.
    #[test]
    fn the_next_round_is_a_wakeup_and_an_announced_gap_keeps_the_driver_busy() {
        let mut f = Fixture::new();
        let mut planner = SyncPlanner::with_rounds(Duration::from_secs(30), 7);
        let now = t0();
        let _ = planner.peer_connected(peer(1), DIGEST, now);
        assert!(!planner.round_due(now));
        let due = planner.next_wakeup().expect("the first round is scheduled");
        assert!(!planner.round_due(due - Duration::from_millis(1)));
        assert!(planner.round_due(due));
        let _ = planner.round(DIGEST, due);
        assert!(planner.next_wakeup().expect("the next round") > due);
        // A peer announces an entry this node lacks: gap repair needs ticks
        // until it is held.
        assert!(!planner.repairing());
        let log = entries(&f.roster, "meta", 1);
        let head = Head {
            author: log[0].header().author,
            seq: 1,
            id: log[0].id(),
        };
        announce(&mut planner, &f, peer(1), vec![head], due);
        assert!(planner.repairing());
        // Until it is held: then the next gap pass lets the driver idle.
        let _ = planner.fetch_gaps(f.local(), false, due);
        assert!(planner.repairing(), "not held yet");
        f.chain.ingest(log[0].clone(), NOW);
        let _ = planner.fetch_gaps(f.local(), false, due);
        assert!(!planner.repairing());
    }

    #[test]
    fn an_in_sync_answer_fetches_nothing_and_forgets_the_peers_claims() {
        let f = Fixture::new();
        let log = entries(&f.roster, "anthropic", 2);
        let author = log[0].header().author;
        let mut planner = SyncPlanner::new();
        let p = peer(1);
        let head = Head {
            author,
            seq: 2,
            id: log[1].id(),
        };
        let _ = announce(&mut planner, &f, p, vec![head.clone()], t0());
        assert_eq!(planner.best_known(&f.roster).get(&author), Some(&2));
        let ask = planner.round_all(DIGEST, t0()).remove(0);
        let out = planner.on_response(ask.token, &SyncResponse::InSync.to_bytes(), f.local(), t0());
        assert!(out.is_empty());
        assert!(planner.best_known(&f.roster).is_empty());
        assert_eq!(planner.fetch_gaps(f.local(), false, t0()), (Vec::new(), 0));
        // In-sync answers only a digest: to a range request it is a fault.
        let ask = planner.round_all(DIGEST, t0()).remove(0);
        let _ = planner.on_response(ask.token, &heads_bytes(vec![head]), f.local(), t0());
        let (sends, _) = planner.fetch_gaps(f.local(), false, t0());
        let out = planner.on_response(sends[0].token, &SyncResponse::InSync.to_bytes(), f.local(), t0());
        assert!(matches!(&out[..], [SyncOutput::Strike { peer, .. }] if *peer == p));
    }

    /// Issue 13: `fetch_gaps` rescanned peers × authors on every answer and
    /// tick. Only authors some peer claimed beyond what we hold are looked
    /// at; a heads answer equal to ours leaves nothing to plan.
    #[test]
    fn gaps_are_planned_only_for_authors_a_peer_claimed_beyond_ours() {
        let mut f = Fixture::new();
        let orgs = ["amazon", "anthropic", "google", "meta"];
        let mut heads = Vec::new();
        for org in orgs {
            let log = entries(&f.roster, org, 2);
            for e in &log {
                f.chain.ingest(e.clone(), NOW);
            }
            heads.push(Head {
                author: log[1].header().author,
                seq: 2,
                id: log[1].id(),
            });
        }
        heads.sort_by_key(|h| h.author);
        let mut planner = SyncPlanner::new();
        let ask = planner.peer_connected(peer(1), DIGEST, t0());
        let _ = planner.on_response(ask.token, &heads_bytes(heads.clone()), f.local(), t0());
        assert!(planner.needs.is_empty());
        assert_eq!(planner.fetch_gaps(f.local(), false, t0()), (Vec::new(), 0));
        // One author ahead at another peer: exactly that author is planned.
        heads[2].seq = 5;
        let ask = planner.peer_connected(peer(2), DIGEST, t0());
        let _ = planner.on_response(ask.token, &heads_bytes(heads.clone()), f.local(), t0());
        assert_eq!(planner.needs.len(), 1);
        let (sends, lag) = planner.fetch_gaps(f.local(), false, t0());
        assert_eq!(lag, 3);
        assert_eq!(sends.len(), 1);
        assert_eq!(sends[0].peer, peer(2));
        assert_eq!(
            sends[0].request,
            SyncRequest::Range {
                author: heads[2].author,
                from_seq: 3,
                count: 3
            }
        );
    }

    #[test]
    fn divergent_head_id_fetches_the_peers_version() {
        let mut f = Fixture::new();
        let log = entries(&f.roster, "anthropic", 2);
        let author = log[0].header().author;
        for e in &log {
            f.chain.ingest(e.clone(), NOW);
        }
        let mut planner = SyncPlanner::new();
        let ask = planner.peer_connected(peer(2), DIGEST, t0());
        let forged = Head {
            author,
            seq: 2,
            id: riskmesh_protocol::ids::Hash32([9; 32]),
        };
        let sends = only_send(planner.on_response(ask.token, &heads_bytes(vec![forged]), f.local(), t0()));
        assert_eq!(
            sends[0].request,
            SyncRequest::Range {
                author,
                from_seq: 2,
                count: 1
            }
        );
    }

    #[test]
    fn newer_roster_and_more_proofs_are_fetched() {
        let f = Fixture::new();
        let mut planner = SyncPlanner::new();
        let ask = planner.peer_connected(peer(3), DIGEST, t0());
        let bytes = SyncResponse::Heads {
            heads: Vec::new(),
            roster_version: 4,
            proofs: 2,
        }
        .to_bytes();
        let requests: Vec<SyncRequest> = only_send(planner.on_response(ask.token, &bytes, f.local(), t0()))
            .into_iter()
            .map(|s| s.request)
            .collect();
        assert_eq!(
            requests,
            vec![
                SyncRequest::Rosters { after_version: 1 },
                SyncRequest::Proofs { skip: 0 }
            ]
        );
    }

    #[test]
    fn transport_failure_frees_the_author_for_the_same_peer() {
        let f = Fixture::new();
        let log = entries(&f.roster, "google", 1);
        let author = log[0].header().author;
        let mut planner = SyncPlanner::new();
        let ask = planner.peer_connected(peer(4), DIGEST, t0());
        let head = Head {
            author,
            seq: 1,
            id: log[0].id(),
        };
        planner.on_response(ask.token, &heads_bytes(vec![head]), f.local(), t0());
        let fetch = planner.fetch_gaps(f.local(), false, t0()).0.remove(0);
        planner.failed(fetch.token);
        assert_eq!(planner.fetch_gaps(f.local(), false, t0()).0[0].peer, peer(4));
    }

    /// Announces `heads` from `p` (a heads answer to a fresh heads request).
    fn announce(
        planner: &mut SyncPlanner,
        f: &Fixture,
        p: PeerId,
        heads: Vec<Head>,
        now: Instant,
    ) -> Vec<SyncOutput> {
        let ask = planner.peer_connected(p, DIGEST, now);
        planner.on_response(ask.token, &heads_bytes(heads), f.local(), now)
    }

    fn strikes(outputs: &[SyncOutput], p: PeerId) -> usize {
        outputs
            .iter()
            .filter(|o| matches!(o, SyncOutput::Strike { peer, .. } if *peer == p))
            .count()
    }

    /// Issue 9, item 3 (sync eclipse): one participant announcing heads it
    /// cannot serve kept a node at 3 of 1,103 entries, because gaps were
    /// always fetched from the peer announcing the highest head and an empty
    /// answer cost nothing. Now the liar is passed over for that author
    /// (without a strike: an empty answer alone proves nothing) and the
    /// honest peer serves the whole log.
    #[test]
    fn one_liar_among_peers_cannot_stall_catch_up() {
        let mut f = Fixture::new();
        let log = entries(&f.roster, "anthropic", 1103);
        let author = log[0].header().author;
        let (honest, liar) = (peer(10), peer(11));
        let mut planner = SyncPlanner::new();
        let now = t0();
        let real = Head {
            author,
            seq: 1103,
            id: log[1102].id(),
        };
        let fake = Head {
            author,
            seq: 1_000_000,
            id: riskmesh_protocol::ids::Hash32([7; 32]),
        };
        announce(&mut planner, &f, honest, vec![real], now);
        announce(&mut planner, &f, liar, vec![fake.clone()], now);
        let mut asked_liar = 0;
        let mut fetches = 0;
        while f.chain.head(&author).map_or(0, |(s, _)| s) < 1103 {
            fetches += 1;
            assert!(
                fetches <= 10,
                "stalled at {:?} after {fetches} fetches",
                f.chain.head(&author)
            );
            let (sends, _) = planner.fetch_gaps(f.local(), false, now);
            assert_eq!(sends.len(), 1, "one fetch per author");
            let send = &sends[0];
            let SyncRequest::Range { from_seq, count, .. } = send.request else {
                panic!("not a range request");
            };
            asked_liar += usize::from(send.peer == liar);
            let served: Vec<WireEntry> = if send.peer == honest {
                let from = usize::try_from(from_seq).expect("seq") - 1;
                let to = (from + usize::try_from(count).expect("count")).min(log.len());
                log[from..to].iter().map(VerifiedEntry::to_wire).collect()
            } else {
                Vec::new()
            };
            let outputs = planner.on_response(
                send.token,
                &SyncResponse::Entries(served).to_bytes(),
                f.local(),
                now,
            );
            assert_eq!(strikes(&outputs, honest), 0, "the honest peer is never struck");
            for output in outputs {
                if let SyncOutput::Verify { entries, .. } = output {
                    for wire in entries {
                        let entry =
                            riskmesh_protocol::validate::verify_wire(&f.roster, &wire).expect("valid");
                        f.chain.ingest(entry, NOW + 10_000);
                    }
                    planner.range_done(&author);
                }
            }
            // The liar re-announces its fake head every round: still passed over.
            announce(&mut planner, &f, liar, vec![fake.clone()], now);
        }
        assert_eq!(asked_liar, 1, "the liar is asked once, then passed over");
        assert!(fetches <= 4, "{fetches} fetches for 1,103 entries");
    }

    #[test]
    fn heads_beyond_max_seq_are_struck_and_not_believed() {
        let f = Fixture::new();
        let mut planner = SyncPlanner::new();
        let liar = peer(12);
        let head = Head {
            author: OrgKey([3; 32]),
            seq: u64::MAX,
            id: riskmesh_protocol::ids::Hash32([7; 32]),
        };
        let out = announce(&mut planner, &f, liar, vec![head], t0());
        assert_eq!(strikes(&out, liar), 1);
        assert_eq!(planner.fetch_gaps(f.local(), false, t0()), (Vec::new(), 0));
    }

    #[test]
    fn a_silent_peer_is_given_up_after_the_timeout_and_another_asked_without_strike() {
        let f = Fixture::new();
        let log = entries(&f.roster, "meta", 2);
        let author = log[0].header().author;
        let head = Head {
            author,
            seq: 2,
            id: log[1].id(),
        };
        let (slow, other) = (peer(13), peer(14));
        let mut planner = SyncPlanner::new();
        let now = t0();
        announce(&mut planner, &f, slow, vec![head.clone()], now);
        announce(&mut planner, &f, other, vec![head], now);
        let first = planner.fetch_gaps(f.local(), false, now).0.remove(0);
        // Virtual time: jump to the planner's next wake-up.
        let later = planner.next_wakeup().expect("a timeout is pending");
        assert_eq!(later, now + RANGE_TIMEOUT);
        planner.expire(later);
        let second = planner.fetch_gaps(f.local(), false, later).0.remove(0);
        assert_ne!(second.peer, first.peer, "the gap falls back to the other peer");
        // The late answer of the given-up request is dropped.
        assert!(
            planner
                .on_response(
                    first.token,
                    &SyncResponse::Entries(Vec::new()).to_bytes(),
                    f.local(),
                    later
                )
                .is_empty()
        );
        // After AVOID_FOR the first peer may be asked again.
        planner.range_done(&author);
        planner.failed(second.token);
        planner.expire(later + AVOID_FOR);
        assert_eq!(planner.avoid.len(), 0);
    }

    #[test]
    fn disconnect_forgets_announced_heads() {
        let f = Fixture::new();
        let log = entries(&f.roster, "meta", 1);
        let author = log[0].header().author;
        let mut planner = SyncPlanner::new();
        let p = peer(5);
        let ask = planner.peer_connected(p, DIGEST, t0());
        let head = Head {
            author,
            seq: 1,
            id: log[0].id(),
        };
        planner.on_response(ask.token, &heads_bytes(vec![head]), f.local(), t0());
        planner.peer_disconnected(&p);
        assert_eq!(planner.fetch_gaps(f.local(), false, t0()), (Vec::new(), 0));
        assert!(planner.best_known(&f.roster).is_empty());
    }
}
