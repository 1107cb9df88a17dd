//! Who this node talks to: the roster's peers, when to dial them again,
//! strikes and bans, and each author's gossip budget. Sans-IO: time is an
//! argument and the outputs are [`PeerAction`]s the driver carries out.

use super::Picker;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use riskmesh_protocol::{OrgKey, Roster};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Shortest and longest wait between redials of an unreachable peer.
pub const MIN_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait between redials.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Strikes before a peer is banned.
pub const STRIKES_TO_BAN: u32 = 3;
/// How long a ban lasts.
pub const BAN: Duration = Duration::from_secs(600);
/// How long a connected peer that a roster change removed keeps its
/// connection, so that it is sent the version that removes it (gossip, and
/// its sync round) and its node can tell its operator. It is not redialled,
/// and nothing it signs past its valid prefix is accepted meanwhile.
pub const LEAVE_GRACE: Duration = Duration::from_secs(3);
/// Roster peers a node dials by default (its outbound degree). Peers dial
/// each other once per pair (see [`dials_first`]), so a node of a large
/// network holds about twice this many connections; a network of up to
/// about twice this size stays a full mesh.
pub const DIAL_PEERS: usize = 8;
/// Failed dials in a row after which a chosen peer is replaced by another.
pub const REPICK_AFTER: u32 = 3;
/// How long a peer replaced for failing is not chosen again.
pub const REPICK_COOLDOWN: Duration = Duration::from_secs(300);
/// How long a node waits for the pair rule to connect it before it also
/// dials peers that the rule leaves to the other side (which may not know
/// this node's address).
pub const FALLBACK_AFTER: Duration = Duration::from_secs(10);
/// How long a peer dialled on demand (the requester of a release, say) is
/// kept wanted.
pub const DEMAND_FOR: Duration = Duration::from_secs(60);

/// What the driver must do for the peer set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerAction {
    /// Let this peer connect (it is on the roster, or its ban ended).
    Allow(PeerId),
    /// Refuse and drop this peer (banned, or no longer on the roster).
    Disallow(PeerId),
    /// Dial this peer at these addresses.
    Dial {
        /// The peer.
        peer: PeerId,
        /// Its known addresses.
        addrs: Vec<Multiaddr>,
    },
}

/// One roster node: its peer id, organization and advertised addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterPeer {
    /// The node's peer id.
    pub peer: PeerId,
    /// Its organization.
    pub org: String,
    /// Addresses ending in `/p2p/<peer>`.
    pub addrs: Vec<Multiaddr>,
}

/// The roster's nodes other than `local`, with their usable addresses.
/// Addresses naming another peer are dropped; a bare address is completed
/// with the peer id when the member has exactly one node.
pub fn roster_peers(roster: &Roster, local: PeerId) -> Vec<RosterPeer> {
    let mut out = Vec::new();
    for member in &roster.doc().members {
        for node in &member.nodes {
            let Ok(peer) = PeerId::from_bytes(&node.0) else {
                continue;
            };
            if peer == local {
                continue;
            }
            let mut addrs = Vec::new();
            for addr in &member.addrs {
                let Ok(mut addr) = addr.parse::<Multiaddr>() else {
                    continue;
                };
                match addr.iter().last() {
                    Some(Protocol::P2p(p)) if p != peer => continue,
                    Some(Protocol::P2p(_)) => {}
                    _ if member.nodes.len() == 1 => addr.push(Protocol::P2p(peer)),
                    _ => continue,
                }
                if !addrs.contains(&addr) {
                    addrs.push(addr);
                }
            }
            out.push(RosterPeer {
                peer,
                org: member.org.clone(),
                addrs,
            });
        }
    }
    out
}

/// Why an address was not remembered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The address does not end in `/p2p/<peer id>`.
    #[error("address {0} does not end in /p2p/<peer id>")]
    NoPeerId(Multiaddr),
    /// The peer is not on the roster.
    #[error("peer {0} is not on the roster")]
    NotOnRoster(PeerId),
}

/// What a strike led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strike {
    /// Counted; the peer keeps its connection.
    Counted(u32),
    /// The peer is now banned until the given time.
    Banned(Instant),
    /// Not a roster peer (nothing to count).
    Unknown,
}

#[derive(Debug)]
struct Peer {
    org: String,
    addrs: Vec<Multiaddr>,
    connected: bool,
    /// The pair rule gives this node the dial ([`dials_first`]).
    ours: bool,
    /// One of the peers this node keeps dialled (its outbound set).
    chosen: bool,
    /// Always dialled: the operator pinned its organization (`pin`).
    pinned: bool,
    /// Dialled until then: something must reach it (a release).
    demanded_until: Option<Instant>,
    /// Dials since the last connection.
    attempts: u32,
    /// Replaced for failing: not chosen again before then.
    failed_until: Option<Instant>,
    next_dial: Instant,
    backoff: Duration,
    strikes: u32,
    banned_until: Option<Instant>,
    /// No longer on the roster: disallowed at this time (or once it
    /// disconnects, whichever is first).
    leaving_until: Option<Instant>,
}

impl Peer {
    /// Whether this node keeps the peer dialled: every peer of an unbounded
    /// book; otherwise a chosen, pinned or demanded one.
    fn wanted(&self, unbounded: bool) -> bool {
        unbounded || self.chosen || self.pinned || self.demanded_until.is_some()
    }
}

/// A peer as the status report shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerView {
    /// The peer.
    pub peer: PeerId,
    /// Its organization.
    pub org: String,
    /// Whether a connection is open.
    pub connected: bool,
    /// First known address.
    pub address: Option<Multiaddr>,
}

/// Whether `local` dials `other` under the pair rule: exactly one side of
/// every pair dials, the side a hash of the two peer ids picks, so two nodes
/// never dial each other at the same moment and every node is the dialling
/// side of about half its pairs.
pub fn dials_first(local: &PeerId, other: &PeerId) -> bool {
    use sha2::{Digest, Sha256};
    let (low, high) = if local < other {
        (local, other)
    } else {
        (other, local)
    };
    let mut hasher = Sha256::new();
    hasher.update(low.to_bytes());
    hasher.update(high.to_bytes());
    let low_dials = hasher.finalize()[0] & 1 == 0;
    (local == low) == low_dials
}

/// The roster's peers and what this node knows of each.
#[derive(Debug)]
pub struct PeerBook {
    peers: HashMap<PeerId, Peer>,
    /// This node, for the pair rule; `None` dials every known peer.
    local: Option<PeerId>,
    /// Outbound degree: how many peers are kept chosen.
    target: usize,
    picker: Picker,
    /// When peers the pair rule leaves to the other side become eligible.
    fallback_at: Option<Instant>,
    /// Organizations whose nodes are always dialled.
    pinned_orgs: Vec<String>,
    /// Something changed since the last poll (a connection, a strike, a
    /// roster, a demand): the next poll looks at every peer.
    dirty: bool,
    /// Otherwise the next poll has nothing to do before this time (`None`:
    /// nothing until something changes). The driver asks for this time
    /// after every event ([`PeerBook::next_poll`]) and a node of a
    /// 500-member roster polls often; most polls need not walk 499 peers.
    due: Option<Instant>,
}

impl Default for PeerBook {
    fn default() -> Self {
        Self::new()
    }
}

impl PeerBook {
    /// A book that dials every roster peer it has an address for (no
    /// bound): small networks and tests of backoff and bans.
    pub fn new() -> Self {
        PeerBook {
            peers: HashMap::new(),
            local: None,
            target: usize::MAX,
            picker: Picker::new(0),
            fallback_at: None,
            pinned_orgs: Vec::new(),
            dirty: true,
            due: None,
        }
    }

    /// A bounded book for node `local`: it keeps `target` peers chosen at
    /// random among those the pair rule gives it, accepts the others'
    /// dials, re-picks a peer that fails [`REPICK_AFTER`] dials in a row,
    /// and dials pinned and demanded peers besides.
    pub fn bounded(local: PeerId, target: usize, seed: u64) -> Self {
        PeerBook {
            local: Some(local),
            target: target.max(1),
            picker: Picker::new(seed),
            ..Self::new()
        }
    }

    /// Pins the nodes of these organizations: always dialled, whatever the
    /// bound. Applies to peers already known and those a roster adds.
    pub fn pin_orgs(&mut self, orgs: &[String]) {
        self.dirty = true;
        for state in self.peers.values_mut() {
            if orgs.contains(&state.org) {
                state.pinned = true;
            }
        }
        self.pinned_orgs = orgs.to_vec();
    }

    /// Keeps `peer` dialled until `until` (a release must reach it).
    pub fn demand(&mut self, peer: PeerId, until: Instant) {
        self.dirty = true;
        if let Some(state) = self.peers.get_mut(&peer) {
            let later = state.demanded_until.map_or(until, |u| u.max(until));
            state.demanded_until = Some(later);
        }
    }

    /// Replaces the set of roster peers. New peers are allowed and dialled
    /// soon; peers no longer on the roster are disallowed and forgotten,
    /// a connected one after [`LEAVE_GRACE`] (see [`PeerBook::poll`]).
    /// Known addresses, strikes and bans of remaining peers are kept.
    pub fn set_roster(&mut self, peers: Vec<RosterPeer>, now: Instant) -> Vec<PeerAction> {
        self.dirty = true;
        let mut actions = Vec::new();
        let mut keep = HashSet::new();
        self.fallback_at.get_or_insert(now + FALLBACK_AFTER);
        for rp in peers {
            keep.insert(rp.peer);
            let ours = self.local.is_none_or(|local| dials_first(&local, &rp.peer));
            let state = self.peers.entry(rp.peer).or_insert_with(|| Peer {
                org: rp.org.clone(),
                addrs: Vec::new(),
                connected: false,
                ours,
                chosen: false,
                pinned: false,
                demanded_until: None,
                attempts: 0,
                failed_until: None,
                next_dial: now,
                backoff: MIN_BACKOFF,
                strikes: 0,
                banned_until: None,
                leaving_until: None,
            });
            state.org = rp.org;
            state.pinned |= self.pinned_orgs.contains(&state.org);
            state.leaving_until = None;
            for addr in rp.addrs {
                if !state.addrs.contains(&addr) {
                    state.addrs.push(addr);
                }
            }
            if state.banned_until.is_none() {
                actions.push(PeerAction::Allow(rp.peer));
            }
        }
        let removed: Vec<PeerId> = self.peers.keys().filter(|p| !keep.contains(p)).copied().collect();
        for peer in removed {
            match self.peers.get_mut(&peer) {
                Some(state) if state.connected && state.banned_until.is_none() => {
                    state.leaving_until.get_or_insert(now + LEAVE_GRACE);
                }
                _ => {
                    self.peers.remove(&peer);
                    actions.push(PeerAction::Disallow(peer));
                }
            }
        }
        actions
    }

    /// Remembers an address (ending in `/p2p/<peer id>`) of a roster peer;
    /// if the peer is one this node dials, it is due for a dial now. An
    /// address does not make a peer wanted: the bounded book still chooses
    /// among the peers it knows how to reach.
    pub fn remember_address(&mut self, addr: Multiaddr, now: Instant) -> Result<PeerId, AddressError> {
        self.dirty = true;
        let Some(Protocol::P2p(peer)) = addr.iter().last() else {
            return Err(AddressError::NoPeerId(addr));
        };
        let state = self.peers.get_mut(&peer).ok_or(AddressError::NotOnRoster(peer))?;
        if !state.addrs.contains(&addr) {
            state.addrs.push(addr);
        }
        state.next_dial = now;
        Ok(peer)
    }

    /// A connection to `peer` opened. Returns whether it is the first (the
    /// peer was not connected before) and the peer is on the roster.
    pub fn connected(&mut self, peer: PeerId) -> bool {
        self.dirty = true;
        match self.peers.get_mut(&peer) {
            Some(state) => {
                let first = !state.connected;
                state.connected = true;
                state.backoff = MIN_BACKOFF;
                state.attempts = 0;
                first
            }
            None => false,
        }
    }

    /// The last connection to `peer` closed; it is redialled after its backoff.
    pub fn disconnected(&mut self, peer: PeerId, now: Instant) {
        self.dirty = true;
        if let Some(state) = self.peers.get_mut(&peer) {
            state.connected = false;
            state.next_dial = now + state.backoff;
        }
    }

    /// Gives `peer` a strike; at [`STRIKES_TO_BAN`] it is disallowed for [`BAN`].
    pub fn strike(&mut self, peer: PeerId, now: Instant) -> (Strike, Option<PeerAction>) {
        self.dirty = true;
        let Some(state) = self.peers.get_mut(&peer) else {
            return (Strike::Unknown, None);
        };
        state.strikes += 1;
        if state.strikes >= STRIKES_TO_BAN && state.banned_until.is_none() {
            let until = now + BAN;
            state.banned_until = Some(until);
            return (Strike::Banned(until), Some(PeerAction::Disallow(peer)));
        }
        (Strike::Counted(state.strikes), None)
    }

    /// Ends expired bans, drops leaving peers whose grace is over or who
    /// disconnected, and dials peers whose backoff has passed.
    pub fn poll(&mut self, now: Instant) -> Vec<PeerAction> {
        if !self.dirty && self.due.is_none_or(|due| now < due) {
            return Vec::new();
        }
        let mut actions = Vec::new();
        let left: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, s)| s.leaving_until.is_some_and(|until| until <= now || !s.connected))
            .map(|(p, _)| *p)
            .collect();
        for peer in left {
            self.peers.remove(&peer);
            actions.push(PeerAction::Disallow(peer));
        }
        for (peer, state) in &mut self.peers {
            if let Some(until) = state.banned_until
                && until <= now
            {
                state.banned_until = None;
                state.strikes = 0;
                actions.push(PeerAction::Allow(*peer));
            }
            if state.demanded_until.is_some_and(|until| until <= now) {
                state.demanded_until = None;
            }
        }
        self.choose(now);
        let unbounded = self.local.is_none();
        for (peer, state) in &mut self.peers {
            if state.wanted(unbounded)
                && !state.connected
                && state.banned_until.is_none()
                && state.leaving_until.is_none()
                && !state.addrs.is_empty()
                && state.next_dial <= now
            {
                actions.push(PeerAction::Dial {
                    peer: *peer,
                    addrs: state.addrs.clone(),
                });
                state.attempts = state.attempts.saturating_add(1);
                state.next_dial = now + state.backoff;
                state.backoff = (state.backoff * 2).min(MAX_BACKOFF);
            }
        }
        self.dirty = false;
        self.due = self.wakeups().filter(|t| *t > now).min();
        actions
    }

    /// The times at which a poll could act without anything changing
    /// meanwhile: a ban, a leave grace, a demand ending; a wanted peer's
    /// redial; while the outbound set is short, any unconnected peer's
    /// backoff or cool-down ending, or the fallback starting. Conservative:
    /// a poll at one of them may find nothing to do.
    fn wakeups(&self) -> impl Iterator<Item = Instant> + '_ {
        let short = self.local.is_some() && self.peers.values().filter(|s| s.chosen).count() < self.target;
        let unbounded = self.local.is_none();
        let peers = self.peers.values().flat_map(move |s| {
            let redial = !s.connected
                && !s.addrs.is_empty()
                && s.banned_until.is_none()
                && s.leaving_until.is_none()
                && (short || s.wanted(unbounded));
            [
                s.banned_until,
                s.leaving_until,
                s.demanded_until,
                redial.then_some(s.next_dial),
                s.failed_until.filter(|_| short),
            ]
            .into_iter()
            .flatten()
        });
        peers.chain(self.fallback_at.filter(|_| short))
    }

    /// Keeps the outbound set at its target: drops chosen peers that are
    /// banned, leaving or failed [`REPICK_AFTER`] dials in a row, then
    /// picks at random among the eligible ones (peers the pair rule gives
    /// this node, with an address, not banned, not waiting out a backoff;
    /// after [`FALLBACK_AFTER`] with fewer connections than the target,
    /// also the peers the rule leaves to the other side).
    fn choose(&mut self, now: Instant) {
        if self.local.is_none() {
            return;
        }
        for state in self.peers.values_mut() {
            let failing = !state.connected && state.attempts >= REPICK_AFTER;
            if state.chosen && (state.banned_until.is_some() || state.leaving_until.is_some() || failing) {
                state.chosen = false;
                if failing {
                    state.failed_until = Some(now + REPICK_COOLDOWN);
                }
            }
        }
        let chosen = self.peers.values().filter(|s| s.chosen).count();
        if chosen >= self.target {
            return;
        }
        let connected = self.peers.values().filter(|s| s.connected).count();
        let reachable = self.peers.values().filter(|s| !s.addrs.is_empty()).count();
        let fallback = self.fallback_at.is_some_and(|at| at <= now) && connected < self.target.min(reachable);
        let eligible = |cooled: bool| {
            let mut peers: Vec<PeerId> = self
                .peers
                .iter()
                .filter(|(_, s)| {
                    !s.chosen
                        && (s.ours || fallback)
                        && !s.addrs.is_empty()
                        && s.banned_until.is_none()
                        && s.leaving_until.is_none()
                        && s.failed_until.is_none_or(|until| until <= now) == cooled
                        && (s.connected || s.next_dial <= now)
                })
                .map(|(p, _)| *p)
                .collect();
            // HashMap order is arbitrary; sort so a seed gives one choice.
            peers.sort();
            peers
        };
        // Peers that have not failed first; peers replaced for failing only
        // when nothing else is left (a small network, a partition), so they
        // are still dialled, on their backoff, and a healed link reconnects.
        let mut fresh = eligible(true);
        let mut failed = eligible(false);
        let mut picked = chosen;
        while picked < self.target {
            let pool = if fresh.is_empty() { &mut failed } else { &mut fresh };
            if pool.is_empty() {
                break;
            }
            let peer = pool.swap_remove(self.picker.below(pool.len()));
            if let Some(state) = self.peers.get_mut(&peer) {
                state.chosen = true;
                state.attempts = 0;
            }
            picked += 1;
        }
    }

    /// Peers this node keeps dialled (its outbound set).
    pub fn chosen(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.peers.iter().filter(|(_, s)| s.chosen).map(|(p, _)| *p)
    }

    /// When [`PeerBook::poll`] next has something to do: the earliest of
    /// the times the poll's own cache waits for.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.wakeups().min()
    }

    /// When the driver should next call [`PeerBook::poll`]: `now` if
    /// something changed since the last poll, else the time that poll found
    /// (cheap: no pass over the peers).
    pub fn next_poll(&self, now: Instant) -> Option<Instant> {
        if self.dirty { Some(now) } else { self.due }
    }

    /// Whether `peer` has an open connection.
    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.peers.get(peer).is_some_and(|s| s.connected)
    }

    /// Whether `peer` is banned now.
    pub fn is_banned(&self, peer: &PeerId) -> bool {
        self.peers.get(peer).is_some_and(|s| s.banned_until.is_some())
    }

    /// Strikes `peer` holds.
    pub fn strikes(&self, peer: &PeerId) -> u32 {
        self.peers.get(peer).map_or(0, |s| s.strikes)
    }

    /// The organization of a roster peer.
    pub fn org(&self, peer: &PeerId) -> Option<&str> {
        self.peers.get(peer).map(|s| s.org.as_str())
    }

    /// Connected peers.
    pub fn connected_peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.peers.iter().filter(|(_, s)| s.connected).map(|(p, _)| *p)
    }

    /// A connected node of organization `org`, if any.
    pub fn connected_node_of(&self, org: &str) -> Option<PeerId> {
        self.peers
            .iter()
            .filter(|(_, s)| s.connected && s.org == org)
            .map(|(p, _)| *p)
            .min()
    }

    /// Every roster peer, sorted by organization then peer id.
    pub fn view(&self) -> Vec<PeerView> {
        let mut out: Vec<PeerView> = self
            .peers
            .iter()
            .map(|(peer, s)| PeerView {
                peer: *peer,
                org: s.org.clone(),
                connected: s.connected,
                address: s.addrs.first().cloned(),
            })
            .collect();
        out.sort_by(|a, b| a.org.cmp(&b.org).then(a.peer.cmp(&b.peer)));
        out
    }
}

/// A token bucket per author for entries received by gossip.
#[derive(Debug)]
pub struct RateBudgets {
    per_minute: f64,
    buckets: HashMap<OrgKey, (f64, Instant)>,
}

impl RateBudgets {
    /// Budgets of `per_minute` entries per author (at least 1), bursting to
    /// a minute's worth.
    pub fn new(per_minute: u32) -> Self {
        RateBudgets {
            per_minute: f64::from(per_minute.max(1)),
            buckets: HashMap::new(),
        }
    }

    fn refill(&mut self, author: OrgKey, now: Instant) -> &mut f64 {
        let capacity = self.per_minute;
        let (tokens, last) = self.buckets.entry(author).or_insert((capacity, now));
        let refill = now.saturating_duration_since(*last).as_secs_f64() * capacity / 60.0;
        *tokens = (*tokens + refill).min(capacity);
        *last = now;
        tokens
    }

    /// Whether `author` has budget left for one more entry. Checked before
    /// the signature is verified; nothing is charged, so replays of the
    /// author's genuine old entries (duplicates) cannot drain it.
    pub fn has(&mut self, author: OrgKey, now: Instant) -> bool {
        *self.refill(author, now) >= 1.0
    }

    /// Charges one new, valid entry of `author` (accepted into its chain).
    pub fn charge(&mut self, author: OrgKey, now: Instant) {
        let tokens = self.refill(author, now);
        *tokens = (*tokens - 1.0).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed origin for virtual time (instants are only compared).
    fn t0() -> Instant {
        use std::sync::OnceLock;
        static T0: OnceLock<Instant> = OnceLock::new();
        *T0.get_or_init(Instant::now)
    }

    fn peer(n: u8) -> (PeerId, Multiaddr) {
        let key = libp2p::identity::Keypair::ed25519_from_bytes([n; 32]).expect("key");
        let id = key.public().to_peer_id();
        let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{}/p2p/{id}", 4000 + u16::from(n))
            .parse()
            .expect("addr");
        (id, addr)
    }

    /// Roster entries for the fixture peers `ns` (each with its address).
    fn roster_of(ns: impl IntoIterator<Item = u8>) -> Vec<RosterPeer> {
        ns.into_iter()
            .map(|n| {
                let (p, a) = peer(n);
                RosterPeer {
                    peer: p,
                    org: format!("org{p}"),
                    addrs: vec![a],
                }
            })
            .collect()
    }

    /// An unbounded book of peers 1..=n.
    fn book(n: u8, now: Instant) -> (PeerBook, Vec<PeerId>) {
        let mut book = PeerBook::new();
        let roster = roster_of(1..=n);
        let peers = roster.iter().map(|r| r.peer).collect();
        book.set_roster(roster, now);
        (book, peers)
    }

    fn dialled(actions: &[PeerAction]) -> Vec<PeerId> {
        actions
            .iter()
            .filter_map(|a| match a {
                PeerAction::Dial { peer, .. } => Some(*peer),
                _ => None,
            })
            .collect()
    }

    fn dials(actions: &[PeerAction]) -> usize {
        dialled(actions).len()
    }

    #[test]
    fn unreachable_peer_is_redialled_with_doubling_backoff_up_to_the_cap() {
        let t0 = Instant::now();
        let (mut book, _) = book(1, t0);
        let mut waits = Vec::new();
        let mut last = None;
        for _ in 0..12 {
            // Jump to the next wake-up instead of sleeping.
            let now = book.next_wakeup().expect("a dial is due");
            assert_eq!(dials(&book.poll(now)), 1);
            if let Some(prev) = last {
                waits.push(now - prev);
            }
            last = Some(now);
        }
        assert_eq!(waits[0], MIN_BACKOFF);
        assert_eq!(waits[1], MIN_BACKOFF * 2);
        assert_eq!(*waits.last().expect("waits"), MAX_BACKOFF);
        assert!(waits.windows(2).all(|w| w[1] >= w[0]));
    }

    #[test]
    fn connection_resets_backoff_and_stops_dialling() {
        let t0 = Instant::now();
        let (mut book, peers) = book(1, t0);
        for i in 0..5 {
            book.poll(t0 + MAX_BACKOFF * i);
        }
        assert!(book.connected(peers[0]));
        assert!(!book.connected(peers[0]), "second connection is not the first");
        assert_eq!(dials(&book.poll(t0 + MAX_BACKOFF * 10)), 0);
        assert_eq!(book.next_wakeup(), None);
        let t1 = t0 + MAX_BACKOFF * 10;
        book.disconnected(peers[0], t1);
        assert_eq!(book.next_wakeup(), Some(t1 + MIN_BACKOFF));
    }

    #[test]
    fn third_strike_bans_for_ban_duration_then_allows_again() {
        let t0 = Instant::now();
        let (mut book, peers) = book(2, t0);
        let p = peers[0];
        book.connected(p);
        assert_eq!(book.strike(p, t0), (Strike::Counted(1), None));
        assert_eq!(book.strike(p, t0), (Strike::Counted(2), None));
        let (strike, action) = book.strike(p, t0);
        assert_eq!(strike, Strike::Banned(t0 + BAN));
        assert_eq!(action, Some(PeerAction::Disallow(p)));
        book.disconnected(p, t0);
        assert!(book.is_banned(&p));
        // A banned peer is never dialled before the ban ends.
        assert_eq!(
            book.poll(t0 + BAN - Duration::from_millis(1))
                .iter()
                .filter(|a| matches!(a, PeerAction::Dial { peer, .. } if *peer == p))
                .count(),
            0
        );
        let actions = book.poll(t0 + BAN);
        assert!(actions.contains(&PeerAction::Allow(p)));
        assert_eq!(book.strikes(&p), 0);
        assert!(!book.is_banned(&p));
        // The other peer was never affected.
        assert_eq!(book.strikes(&peers[1]), 0);
    }

    #[test]
    fn strikes_against_unknown_peers_change_nothing() {
        let t0 = Instant::now();
        let (mut book, _) = book(1, t0);
        let (stranger, _) = peer(99);
        assert_eq!(book.strike(stranger, t0), (Strike::Unknown, None));
    }

    #[test]
    fn roster_change_disallows_removed_peers_and_keeps_others_state() {
        let t0 = Instant::now();
        let (mut book, peers) = book(3, t0);
        book.strike(peers[1], t0);
        let keep: Vec<RosterPeer> = [peers[1], peers[2]]
            .iter()
            .map(|p| RosterPeer {
                peer: *p,
                org: format!("org{p}"),
                addrs: Vec::new(),
            })
            .collect();
        let actions = book.set_roster(keep.clone(), t0);
        assert!(actions.contains(&PeerAction::Disallow(peers[0])));
        assert_eq!(book.strikes(&peers[1]), 1);
        assert!(book.org(&peers[0]).is_none());

        // A connected peer that leaves keeps its connection for the grace
        // (to be sent the roster that removes it), is never redialled, and
        // is disallowed once the grace is over.
        book.connected(peers[2]);
        let keep_one = keep[..1].to_vec();
        let actions = book.set_roster(keep_one.clone(), t0);
        assert!(!actions.contains(&PeerAction::Disallow(peers[2])));
        assert!(book.is_connected(&peers[2]));
        assert!(
            book.poll(t0 + LEAVE_GRACE / 2)
                .iter()
                .all(|a| !matches!(a, PeerAction::Disallow(_)))
        );
        assert!(
            book.poll(t0 + LEAVE_GRACE)
                .contains(&PeerAction::Disallow(peers[2]))
        );
        assert!(book.org(&peers[2]).is_none());
        // One that disconnects during its grace goes at once.
        book.set_roster(keep, t0);
        book.connected(peers[2]);
        book.set_roster(keep_one, t0);
        book.disconnected(peers[2], t0);
        assert!(book.poll(t0).contains(&PeerAction::Disallow(peers[2])));
    }

    #[test]
    fn addresses_must_name_a_roster_peer() {
        let t0 = Instant::now();
        let (mut book, peers) = book(1, t0);
        let bare: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().expect("addr");
        assert!(matches!(
            book.remember_address(bare, t0),
            Err(AddressError::NoPeerId(_))
        ));
        let (stranger, addr) = peer(77);
        assert_eq!(
            book.remember_address(addr, t0),
            Err(AddressError::NotOnRoster(stranger))
        );
        let (_, own) = peer(1);
        assert_eq!(book.remember_address(own, t0), Ok(peers[0]));
    }

    /// What the driver does for an entry that turns out new and valid.
    /// `n` roster peers (1..=n) seen from peer 0, in a bounded book.
    fn bounded_book(n: u8, target: usize, now: Instant) -> (PeerBook, PeerId, Vec<PeerId>) {
        let local = peer(0).0;
        let mut book = PeerBook::bounded(local, target, 7);
        let roster = roster_of(1..=n);
        let peers = roster.iter().map(|r| r.peer).collect();
        book.set_roster(roster, now);
        (book, local, peers)
    }

    /// Issue 13: every node dialled every roster member, and both ends of a
    /// pair dialled each other at once. Now exactly one side of each pair
    /// dials, and about half the pairs fall to each side.
    #[test]
    fn exactly_one_side_of_every_pair_dials() {
        let ids: Vec<PeerId> = (0..60).map(|n| peer(n).0).collect();
        let mut ours = 0;
        for a in &ids {
            for b in ids.iter().filter(|b| *b != a) {
                assert_ne!(dials_first(a, b), dials_first(b, a), "{a} and {b}");
                ours += usize::from(dials_first(a, b));
            }
        }
        let pairs = ids.len() * (ids.len() - 1);
        assert_eq!(ours * 2, pairs);
        // Each node's share is near half (no node dials everyone or no one).
        for a in &ids {
            let share = ids.iter().filter(|b| *b != a && dials_first(a, b)).count();
            assert!((10..=50).contains(&share), "{a} dials {share} of 59");
        }
    }

    #[test]
    fn a_bounded_book_dials_at_most_its_target_and_only_its_side_of_each_pair() {
        let now = t0();
        let (mut book, local, _) = bounded_book(100, 8, now);
        let first = dialled(&book.poll(now));
        assert_eq!(first.len(), 8, "{first:?}");
        assert!(first.iter().all(|p| dials_first(&local, p)));
        assert_eq!(book.chosen().count(), 8);
        // Connected peers are not dialled again; nothing more is dialled.
        for p in &first {
            book.connected(*p);
        }
        assert!(dialled(&book.poll(now + Duration::from_secs(120))).is_empty());
        // A peer that dialled us (the other side of the rule) is accepted
        // and counted, but never redialled after it leaves.
        let inbound = peer(50).0;
        assert!(!first.contains(&inbound));
        assert!(book.connected(inbound));
        book.disconnected(inbound, now);
        assert!(!dialled(&book.poll(now + Duration::from_secs(300))).contains(&inbound));
    }

    #[test]
    fn a_small_network_stays_a_full_mesh() {
        // Nine nodes: every node dials every peer the pair rule gives it
        // (fewer than the target), so every pair is dialled once.
        let ids: Vec<u8> = (0..9).collect();
        let now = t0();
        let mut edges = HashSet::new();
        for &me in &ids {
            let local = peer(me).0;
            let mut book = PeerBook::bounded(local, 8, u64::from(me));
            book.set_roster(roster_of(ids.iter().copied().filter(|n| *n != me)), now);
            for p in dialled(&book.poll(now)) {
                let (a, b) = if local < p { (local, p) } else { (p, local) };
                assert!(edges.insert((a, b)), "pair dialled twice");
            }
        }
        assert_eq!(edges.len(), 9 * 8 / 2);
    }

    #[test]
    fn a_chosen_peer_that_keeps_failing_is_replaced() {
        let mut now = t0();
        let (mut book, _, _) = bounded_book(100, 8, now);
        let first = dialled(&book.poll(now));
        // Seven answer; one never does.
        let dead = first[0];
        for p in &first[1..] {
            book.connected(*p);
        }
        let mut dials_of_dead = 1;
        let mut replacement = None;
        for _ in 0..20 {
            now += MAX_BACKOFF;
            let d = dialled(&book.poll(now));
            dials_of_dead += d.iter().filter(|p| **p == dead).count();
            if let Some(p) = d.iter().find(|p| !first.contains(p)) {
                replacement = Some(*p);
                break;
            }
        }
        assert_eq!(dials_of_dead as u32, REPICK_AFTER);
        let replacement = replacement.expect("a replacement is dialled");
        assert!(book.chosen().any(|p| p == replacement));
        assert!(!book.chosen().any(|p| p == dead));
        assert_eq!(book.chosen().count(), 8);
    }

    /// A partition cuts a small network's node off from every peer it
    /// dials: with nobody to replace them, the failing peers stay wanted and
    /// are redialled on their backoff, so the healed link reconnects (the
    /// partition-heal scenario caught a version that gave up on them).
    #[test]
    fn with_no_one_to_replace_them_failing_peers_are_still_redialled() {
        let start = t0();
        let (mut book, local, peers) = bounded_book(5, 8, start);
        let ours: Vec<PeerId> = peers.iter().copied().filter(|p| dials_first(&local, p)).collect();
        assert!(!ours.is_empty());
        let mut counts: HashMap<PeerId, u32> = HashMap::new();
        let mut now = start;
        while now < start + Duration::from_secs(290) {
            for p in dialled(&book.poll(now)) {
                *counts.entry(p).or_default() += 1;
            }
            now += Duration::from_millis(250);
        }
        for p in &ours {
            assert!(
                counts.get(p).copied().unwrap_or(0) > REPICK_AFTER + 3,
                "{counts:?}"
            );
        }
        // The link heals: the next dial connects, and the backoff resets.
        assert!(book.connected(ours[0]));
        assert!(book.chosen().any(|p| p == ours[0]));
    }

    #[test]
    fn pinned_and_demanded_peers_are_dialled_beyond_the_bound() {
        let now = t0();
        let (mut book, local, peers) = bounded_book(100, 8, now);
        let first = dialled(&book.poll(now));
        let outside: Vec<PeerId> = peers
            .iter()
            .copied()
            .filter(|p| !first.contains(p) && !dials_first(&local, p))
            .take(2)
            .collect();
        book.pin_orgs(&[format!("org{}", outside[0])]);
        book.demand(outside[1], now + DEMAND_FOR);
        let next = dialled(&book.poll(now + Duration::from_secs(1)));
        assert!(
            next.contains(&outside[0]) && next.contains(&outside[1]),
            "{next:?}"
        );
        // The demand ends; the pin does not.
        book.disconnected(outside[0], now);
        book.disconnected(outside[1], now);
        let later = dialled(&book.poll(now + DEMAND_FOR + MAX_BACKOFF));
        assert!(later.contains(&outside[0]));
        assert!(!later.contains(&outside[1]));
    }

    #[test]
    fn without_connections_the_book_falls_back_to_the_other_side_of_the_rule() {
        // The sim's sparse topologies (and a real roster with stale
        // addresses) can leave the rule's dialler without our address.
        let now = t0();
        let (mut book, local, _) = bounded_book(100, 8, now);
        let first = dialled(&book.poll(now));
        assert!(first.iter().all(|p| dials_first(&local, p)));
        let mut later = now;
        let mut others = Vec::new();
        while later < now + FALLBACK_AFTER + MAX_BACKOFF * 6 && others.is_empty() {
            later += Duration::from_secs(1);
            others = dialled(&book.poll(later))
                .into_iter()
                .filter(|p| !dials_first(&local, p))
                .collect();
        }
        assert!(later >= now + FALLBACK_AFTER, "fell back too early");
        assert!(!others.is_empty(), "never fell back");
    }

    fn take(budgets: &mut RateBudgets, author: OrgKey, now: Instant) -> bool {
        let has = budgets.has(author, now);
        if has {
            budgets.charge(author, now);
        }
        has
    }

    #[test]
    fn rate_budget_bursts_a_minute_then_refills_over_time() {
        let t0 = Instant::now();
        let mut budgets = RateBudgets::new(60);
        let author = OrgKey([7; 32]);
        assert_eq!((0..100).filter(|_| take(&mut budgets, author, t0)).count(), 60);
        assert!(!take(&mut budgets, author, t0 + Duration::from_millis(500)));
        assert!(take(&mut budgets, author, t0 + Duration::from_millis(1500)));
        // Another author has its own budget.
        assert!(take(&mut budgets, OrgKey([8; 32]), t0));
    }

    /// Issue 9 (low): the budget was charged before verification, so
    /// replaying an author's genuine old entries drained it and delayed its
    /// new ones. Only accepted new entries are charged now.
    #[test]
    fn looking_at_the_budget_never_drains_it() {
        let t0 = Instant::now();
        let mut budgets = RateBudgets::new(30);
        let author = OrgKey([9; 32]);
        for _ in 0..1000 {
            assert!(budgets.has(author, t0), "a replay (checked, not charged)");
        }
        for _ in 0..30 {
            budgets.charge(author, t0);
        }
        assert!(!budgets.has(author, t0), "30 new entries spend a minute's budget");
    }
}
