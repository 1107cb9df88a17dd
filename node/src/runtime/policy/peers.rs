//! Who this node talks to: the roster's peers, when to dial them again,
//! strikes and bans, and each author's gossip budget. Sans-IO: time is an
//! argument and the outputs are [`PeerAction`]s the driver carries out.

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
    next_dial: Instant,
    backoff: Duration,
    strikes: u32,
    banned_until: Option<Instant>,
    /// No longer on the roster: disallowed at this time (or once it
    /// disconnects, whichever is first).
    leaving_until: Option<Instant>,
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

/// The roster's peers and what this node knows of each.
#[derive(Debug, Default)]
pub struct PeerBook {
    peers: HashMap<PeerId, Peer>,
}

impl PeerBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the set of roster peers. New peers are allowed and dialled
    /// soon; peers no longer on the roster are disallowed and forgotten,
    /// a connected one after [`LEAVE_GRACE`] (see [`PeerBook::poll`]).
    /// Known addresses, strikes and bans of remaining peers are kept.
    pub fn set_roster(&mut self, peers: Vec<RosterPeer>, now: Instant) -> Vec<PeerAction> {
        let mut actions = Vec::new();
        let mut keep = HashSet::new();
        for rp in peers {
            keep.insert(rp.peer);
            let state = self.peers.entry(rp.peer).or_insert_with(|| Peer {
                org: rp.org.clone(),
                addrs: Vec::new(),
                connected: false,
                next_dial: now,
                backoff: MIN_BACKOFF,
                strikes: 0,
                banned_until: None,
                leaving_until: None,
            });
            state.org = rp.org;
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

    /// Remembers an address (ending in `/p2p/<peer id>`) of a roster peer
    /// and makes it due for a dial now.
    pub fn remember_address(&mut self, addr: Multiaddr, now: Instant) -> Result<PeerId, AddressError> {
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
        match self.peers.get_mut(&peer) {
            Some(state) => {
                let first = !state.connected;
                state.connected = true;
                state.backoff = MIN_BACKOFF;
                first
            }
            None => false,
        }
    }

    /// The last connection to `peer` closed; it is redialled after its backoff.
    pub fn disconnected(&mut self, peer: PeerId, now: Instant) {
        if let Some(state) = self.peers.get_mut(&peer) {
            state.connected = false;
            state.next_dial = now + state.backoff;
        }
    }

    /// Gives `peer` a strike; at [`STRIKES_TO_BAN`] it is disallowed for [`BAN`].
    pub fn strike(&mut self, peer: PeerId, now: Instant) -> (Strike, Option<PeerAction>) {
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
            if !state.connected
                && state.banned_until.is_none()
                && !state.addrs.is_empty()
                && state.next_dial <= now
            {
                actions.push(PeerAction::Dial {
                    peer: *peer,
                    addrs: state.addrs.clone(),
                });
                state.next_dial = now + state.backoff;
                state.backoff = (state.backoff * 2).min(MAX_BACKOFF);
            }
        }
        actions
    }

    /// When [`PeerBook::poll`] next has something to do.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.peers
            .values()
            .filter_map(|s| match (s.banned_until, s.leaving_until) {
                (Some(until), _) | (None, Some(until)) => Some(until),
                (None, None) if !s.connected && !s.addrs.is_empty() => Some(s.next_dial),
                (None, None) => None,
            })
            .min()
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

    fn peer(n: u8) -> (PeerId, Multiaddr) {
        let key = libp2p::identity::Keypair::ed25519_from_bytes([n; 32]).expect("key");
        let id = key.public().to_peer_id();
        let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{}/p2p/{id}", 4000 + u16::from(n))
            .parse()
            .expect("addr");
        (id, addr)
    }

    fn book(n: u8, now: Instant) -> (PeerBook, Vec<PeerId>) {
        let mut book = PeerBook::new();
        let peers: Vec<(PeerId, Multiaddr)> = (1..=n).map(peer).collect();
        book.set_roster(
            peers
                .iter()
                .map(|(p, a)| RosterPeer {
                    peer: *p,
                    org: format!("org{p}"),
                    addrs: vec![a.clone()],
                })
                .collect(),
            now,
        );
        (book, peers.into_iter().map(|(p, _)| p).collect())
    }

    fn dials(actions: &[PeerAction]) -> usize {
        actions
            .iter()
            .filter(|a| matches!(a, PeerAction::Dial { .. }))
            .count()
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
