//! Delivering granted releases to the requester's node: one delivery in
//! flight per request, retries while the requester is offline or refuses,
//! and a clear end (delivered, fault reported, or given up). Sans-IO: the
//! driver sends the [`ReleaseSend`]s and feeds back verdicts by token.

use crate::runtime::hazard::ReleaseOut;
use libp2p::PeerId;
use riskmesh_protocol::delivery::DeliveryVerdict;
use riskmesh_protocol::{EntryId, OrgKey};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How often undelivered releases are retried.
pub const RELEASE_RETRY: Duration = Duration::from_secs(2);
/// Refusals after which a release is given up (the requester's node keeps
/// refusing it, for example because the request was retracted or its key
/// rotated). Offline time does not count: nothing is sent then.
pub const MAX_RELEASE_REFUSALS: u32 = 50;
/// Releases waiting for delivery at once; more wait for a later scan of the
/// store, which finds every granted, unsent request again.
pub const MAX_PENDING_RELEASES: usize = 256;

/// Identifies one delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeliveryToken(pub u64);

/// A delivery to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseSend {
    /// Its token; the verdict is fed back with it.
    pub token: DeliveryToken,
    /// A connected node of the requester.
    pub peer: PeerId,
    /// The sealed signed release.
    pub sealed: Vec<u8>,
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// The requester holds the release (or already did): record it as sent.
    Sent {
        /// The request.
        request: EntryId,
        /// The hazardous entry.
        target: EntryId,
    },
    /// The requester reports that the release does not match our
    /// commitments: record it as sent, and say so loudly.
    Mismatch {
        /// The request.
        request: EntryId,
        /// The hazardous entry.
        target: EntryId,
    },
    /// Refused [`MAX_RELEASE_REFUSALS`] times: stop trying.
    GaveUp {
        /// The request.
        request: EntryId,
        /// The last refusal.
        why: String,
    },
}

#[derive(Debug)]
struct Pending {
    out: ReleaseOut,
    refusals: u32,
    in_flight: Option<DeliveryToken>,
}

/// Releases granted and not yet delivered.
#[derive(Debug, Default)]
pub struct ReleaseDelivery {
    pending: HashMap<EntryId, Pending>,
    tokens: HashMap<DeliveryToken, EntryId>,
    next_token: u64,
    last_attempt: Option<Instant>,
}

impl ReleaseDelivery {
    /// Nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Releases waiting.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// A release was granted and prepared. Returns false if this request is
    /// already pending (a second preparation is dropped) or the queue is full.
    pub fn ready(&mut self, out: ReleaseOut) -> bool {
        if self.pending.contains_key(&out.request) || self.pending.len() >= MAX_PENDING_RELEASES {
            return false;
        }
        self.pending.insert(
            out.request,
            Pending {
                out,
                refusals: 0,
                in_flight: None,
            },
        );
        true
    }

    /// Sends every pending release that has no delivery in flight to a
    /// connected node of its requester (`node_of`).
    pub fn attempt(&mut self, now: Instant, node_of: impl Fn(&OrgKey) -> Option<PeerId>) -> Vec<ReleaseSend> {
        self.last_attempt = Some(now);
        let mut sends = Vec::new();
        let mut requests: Vec<&EntryId> = self.pending.keys().collect();
        requests.sort();
        let requests: Vec<EntryId> = requests.into_iter().copied().collect();
        for request in requests {
            let Some(p) = self.pending.get_mut(&request) else {
                continue;
            };
            if p.in_flight.is_some() {
                continue;
            }
            let Some(peer) = node_of(&p.out.requester) else {
                continue;
            };
            let token = DeliveryToken(self.next_token);
            self.next_token += 1;
            p.in_flight = Some(token);
            self.tokens.insert(token, request);
            sends.push(ReleaseSend {
                token,
                peer,
                sealed: p.out.sealed.clone(),
            });
        }
        sends
    }

    /// Requesters with a release waiting and none in flight: the driver
    /// dials one of their nodes if none is connected (a bounded peer set
    /// need not hold a connection to every requester).
    pub fn waiting_requesters(&self) -> Vec<OrgKey> {
        let mut out: Vec<OrgKey> = self
            .pending
            .values()
            .filter(|p| p.in_flight.is_none())
            .map(|p| p.out.requester)
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Retries when [`RELEASE_RETRY`] has passed since the last attempt.
    pub fn poll(&mut self, now: Instant, node_of: impl Fn(&OrgKey) -> Option<PeerId>) -> Vec<ReleaseSend> {
        match self.last_attempt {
            _ if self.pending.is_empty() => Vec::new(),
            Some(last) if now.saturating_duration_since(last) < RELEASE_RETRY => Vec::new(),
            _ => self.attempt(now, node_of),
        }
    }

    /// When [`ReleaseDelivery::poll`] next has something to do.
    pub fn next_wakeup(&self) -> Option<Instant> {
        if self.pending.is_empty() {
            return None;
        }
        // Before any attempt the driver attempts at once (see `attempt`).
        self.last_attempt.map(|t| t + RELEASE_RETRY)
    }

    /// The requester answered a delivery.
    pub fn on_verdict(&mut self, token: DeliveryToken, verdict: DeliveryVerdict) -> Option<Delivered> {
        let request = self.tokens.remove(&token)?;
        let p = self.pending.get_mut(&request)?;
        p.in_flight = None;
        match verdict {
            DeliveryVerdict::Accepted | DeliveryVerdict::AlreadyReceived => {
                let p = self.pending.remove(&request)?;
                Some(Delivered::Sent {
                    request,
                    target: p.out.target,
                })
            }
            DeliveryVerdict::Mismatch => {
                let p = self.pending.remove(&request)?;
                Some(Delivered::Mismatch {
                    request,
                    target: p.out.target,
                })
            }
            DeliveryVerdict::Refused(why) => {
                p.refusals += 1;
                if p.refusals >= MAX_RELEASE_REFUSALS {
                    self.pending.remove(&request);
                    return Some(Delivered::GaveUp { request, why });
                }
                None
            }
        }
    }

    /// A delivery failed in transport; it is retried later.
    pub fn on_failure(&mut self, token: DeliveryToken) {
        if let Some(request) = self.tokens.remove(&token)
            && let Some(p) = self.pending.get_mut(&request)
        {
            p.in_flight = None;
        }
    }

    /// Takes every pending release back (a retraction was committed: each
    /// must be evaluated again before it may go out). Deliveries in flight
    /// are forgotten; their verdicts are dropped when they arrive.
    pub fn take_all(&mut self) -> Vec<EntryId> {
        self.tokens.clear();
        let mut requests: Vec<EntryId> = self.pending.drain().map(|(r, _)| r).collect();
        requests.sort();
        requests
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use riskmesh_protocol::Hash32;

    fn out(n: u8) -> ReleaseOut {
        ReleaseOut {
            request: Hash32([n; 32]),
            target: Hash32([100 + n; 32]),
            requester: OrgKey([n; 32]),
            sealed: vec![n; 8],
        }
    }

    fn peer() -> PeerId {
        libp2p::identity::Keypair::ed25519_from_bytes([1; 32])
            .expect("key")
            .public()
            .to_peer_id()
    }

    #[test]
    fn requester_offline_means_no_send_and_no_give_up() {
        let t0 = Instant::now();
        let mut d = ReleaseDelivery::new();
        assert!(d.ready(out(1)));
        let mut now = t0;
        // Days of virtual time with the requester offline.
        for _ in 0..100_000 {
            assert!(d.poll(now, |_| None).is_empty());
            now = d.next_wakeup().expect("pending");
        }
        assert_eq!(d.len(), 1);
        // It comes back: delivered at the next attempt.
        let sends = d.poll(now, |_| Some(peer()));
        assert_eq!(sends.len(), 1);
        assert_eq!(
            d.on_verdict(sends[0].token, DeliveryVerdict::Accepted),
            Some(Delivered::Sent {
                request: Hash32([1; 32]),
                target: Hash32([101; 32])
            })
        );
        assert!(d.is_empty());
    }

    #[test]
    fn one_delivery_in_flight_per_request_and_duplicates_are_dropped() {
        let t0 = Instant::now();
        let mut d = ReleaseDelivery::new();
        assert!(d.ready(out(1)));
        assert!(!d.ready(out(1)));
        assert_eq!(d.attempt(t0, |_| Some(peer())).len(), 1);
        assert!(d.attempt(t0 + RELEASE_RETRY * 3, |_| Some(peer())).is_empty());
    }

    #[test]
    fn transport_failure_and_refusal_are_retried_after_the_interval() {
        let t0 = Instant::now();
        let mut d = ReleaseDelivery::new();
        d.ready(out(2));
        let s = d.attempt(t0, |_| Some(peer())).remove(0);
        d.on_failure(s.token);
        assert!(d.poll(t0 + RELEASE_RETRY / 2, |_| Some(peer())).is_empty());
        let s = d.poll(t0 + RELEASE_RETRY, |_| Some(peer())).remove(0);
        assert_eq!(
            d.on_verdict(s.token, DeliveryVerdict::Refused("not synced".into())),
            None
        );
        assert_eq!(d.poll(t0 + RELEASE_RETRY * 2, |_| Some(peer())).len(), 1);
    }

    #[test]
    fn a_requester_that_keeps_refusing_is_given_up_with_a_reason() {
        let mut now = Instant::now();
        let mut d = ReleaseDelivery::new();
        d.ready(out(3));
        let mut end = None;
        for _ in 0..MAX_RELEASE_REFUSALS {
            let s = d.poll(now, |_| Some(peer())).remove(0);
            end = d.on_verdict(s.token, DeliveryVerdict::Refused("key rotated".into()));
            now += RELEASE_RETRY;
        }
        assert_eq!(
            end,
            Some(Delivered::GaveUp {
                request: Hash32([3; 32]),
                why: "key rotated".into()
            })
        );
        assert!(d.is_empty());
        assert_eq!(d.next_wakeup(), None);
    }

    #[test]
    fn lost_ok_then_already_received_ends_delivery_and_late_verdicts_are_ignored() {
        let t0 = Instant::now();
        let mut d = ReleaseDelivery::new();
        d.ready(out(4));
        let first = d.attempt(t0, |_| Some(peer())).remove(0);
        d.on_failure(first.token);
        let second = d.attempt(t0 + RELEASE_RETRY, |_| Some(peer())).remove(0);
        assert!(matches!(
            d.on_verdict(second.token, DeliveryVerdict::AlreadyReceived),
            Some(Delivered::Sent { .. })
        ));
        assert_eq!(d.on_verdict(first.token, DeliveryVerdict::Accepted), None);
    }

    #[test]
    fn mismatch_ends_delivery_as_a_reported_fault() {
        let t0 = Instant::now();
        let mut d = ReleaseDelivery::new();
        d.ready(out(5));
        let s = d.attempt(t0, |_| Some(peer())).remove(0);
        assert!(matches!(
            d.on_verdict(s.token, DeliveryVerdict::Mismatch),
            Some(Delivered::Mismatch { .. })
        ));
    }

    #[test]
    fn the_release_queue_is_bounded() {
        let mut d = ReleaseDelivery::new();
        for i in 0..MAX_PENDING_RELEASES + 10 {
            let mut o = out(7);
            o.request = Hash32::of(&i.to_le_bytes());
            d.ready(o);
        }
        assert_eq!(d.len(), MAX_PENDING_RELEASES);
    }

    #[test]
    fn take_all_empties_the_queue_and_late_verdicts_are_dropped() {
        let t0 = Instant::now();
        let mut d = ReleaseDelivery::new();
        d.ready(out(8));
        d.ready(out(9));
        let sent = d.attempt(t0, |_| Some(peer()));
        assert_eq!(d.take_all(), vec![Hash32([8; 32]), Hash32([9; 32])]);
        assert!(d.is_empty());
        assert_eq!(d.on_verdict(sent[0].token, DeliveryVerdict::Accepted), None);
    }
}
