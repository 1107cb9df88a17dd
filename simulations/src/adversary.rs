//! Adversaries: raw libp2p swarms built with the node's own network code
//! (`riskmesh_node::net::build_swarm`), driven by the harness to forge,
//! intrude, replay, equivocate and flood. Nothing in the node knows they
//! are adversaries; whatever it does to them it would do to a real peer.

use futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::request_response::{self, Message};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, gossipsub};
use riskmesh_node::net::{Behaviour, BehaviourEvent, Topics, build_swarm};
use riskmesh_node::runtime::now_ms;
use riskmesh_protocol::entry::{HEADER_VERSION, Header, sign_header};
use riskmesh_protocol::sync::{Head, MAX_SYNC_RANGE, SyncRequest, SyncResponse};
use riskmesh_protocol::{
    Body, Draft, EntryId, Hash32, Kind, LogWriter, OrgKey, Roster, Tier, VerifiedEntry, WireEntry, testkit,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::time::Instant;

/// An honest node an adversary may dial.
#[derive(Debug, Clone)]
pub struct Target {
    /// Honest node index.
    pub node: usize,
    /// Its real (unproxied) address, with `/p2p/<peer id>`.
    pub addr: Multiaddr,
    /// Its peer id.
    pub peer: PeerId,
}

/// What every adversary gets from the harness.
#[derive(Debug, Clone)]
pub struct Context {
    /// The roster in force.
    pub roster: Roster,
    /// The honest nodes.
    pub targets: Vec<Target>,
    /// Seed for the adversary's own choices.
    pub seed: u64,
    /// How long it acts.
    pub duration: Duration,
    /// The nodes' per-author rate limit, entries per minute.
    pub rate_limit_per_minute: u32,
}

/// What an adversary did, for the invariants and the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Activity {
    /// Adversary kind.
    pub kind: String,
    /// The org whose keys it held (none for the intruder).
    pub org: Option<String>,
    /// Start, s after the publishing phase began.
    pub start_s: f64,
    /// End.
    pub end_s: f64,
    /// What it did, by name.
    pub counters: BTreeMap<String, u64>,
    /// Ids of forged entries it sent (must be stored nowhere).
    #[serde(skip)]
    pub forged_ids: Vec<EntryId>,
    /// The author and seq it equivocated at.
    #[serde(skip)]
    pub fork: Option<(OrgKey, u64)>,
    /// Its peer id.
    pub peer_id: String,
}

impl Activity {
    pub(crate) fn new(kind: &str, org: Option<&str>, peer: PeerId) -> Self {
        Activity {
            kind: kind.into(),
            org: org.map(str::to_string),
            peer_id: peer.to_string(),
            ..Activity::default()
        }
    }

    pub(crate) fn count(&mut self, what: &str) {
        *self.counters.entry(what.to_string()).or_default() += 1;
    }

    pub(crate) fn add(&mut self, what: &str, n: u64) {
        *self.counters.entry(what.to_string()).or_default() += n;
    }

    /// A counter's value (0 if never counted).
    pub fn get(&self, what: &str) -> u64 {
        self.counters.get(what).copied().unwrap_or(0)
    }
}

/// A swarm that allows every roster node (the allow-list applies to our
/// own dials too).
pub(crate) fn swarm_for(key: &Keypair, roster: &Roster) -> Option<Swarm<Behaviour>> {
    let mut swarm = build_swarm(key, &Topics::new(roster.network())).ok()?;
    for member in &roster.doc().members {
        for node in &member.nodes {
            if let Ok(peer) = PeerId::from_bytes(&node.0) {
                swarm.behaviour_mut().allow.allow_peer(peer);
            }
        }
    }
    Some(swarm)
}

pub(crate) fn dial_all(swarm: &mut Swarm<Behaviour>, ctx: &Context, activity: &mut Activity) {
    for t in &ctx.targets {
        if swarm.dial(t.addr.clone()).is_ok() {
            activity.count("dials");
        }
    }
}

/// What to do with one swarm event; the driver answers sync requests with
/// the returned response.
pub(crate) enum Reaction {
    /// Refuse (or nothing to answer).
    None,
    /// Answer with this.
    Respond(SyncResponse),
}

/// Drives `swarm` until `deadline`, calling `on_event` for every event and
/// answering inbound sync requests as it says.
pub(crate) async fn drive(
    swarm: &mut Swarm<Behaviour>,
    deadline: Instant,
    mut on_event: impl FnMut(
        &mut Swarm<Behaviour>,
        &SwarmEvent<BehaviourEvent>,
        Option<(PeerId, SyncRequest)>,
    ) -> Reaction,
) {
    while let Ok(event) = tokio::time::timeout_at(deadline, swarm.select_next_some()).await {
        if let SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
            peer,
            message: Message::Request { request, .. },
            ..
        })) = &event
        {
            let parsed = SyncRequest::from_bytes(request).ok().map(|r| (*peer, r));
            let reaction = on_event(swarm, &event, parsed);
            if let SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
                message: Message::Request { channel, .. },
                ..
            })) = event
            {
                let response = match reaction {
                    Reaction::Respond(r) => r,
                    Reaction::None => SyncResponse::Refused("no".into()),
                };
                let _ = swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response.to_bytes());
            }
            continue;
        }
        on_event(swarm, &event, None);
    }
}

pub(crate) fn is_subscribed(event: &SwarmEvent<BehaviourEvent>) -> bool {
    matches!(
        event,
        SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::Subscribed { .. }))
    )
}

pub(crate) fn bulletin(title: &str) -> Draft {
    Draft {
        kind: Kind::Bulletin,
        tier: Tier::Public,
        body: Body::Bulletin(testkit::sample_bulletin(title)),
        recipients: None,
    }
}

/// Signs an entry by a key that is not on the roster (the protocol's log
/// writer refuses to, since it verifies what it signs).
fn outsider_entry(network: &str, seed: u64, n: usize) -> WireEntry {
    let key = testkit::org_secrets(&format!("outsider-{seed}")).signing;
    let body = Body::Bulletin(testkit::sample_bulletin(&format!("outsider {n}"))).to_bytes();
    let header = Header {
        version: HEADER_VERSION,
        network: network.to_string(),
        author: key.public(),
        seq: 1,
        prev: None,
        timestamp_ms: now_ms(),
        tier: Tier::Public,
        kind: Kind::Bulletin,
        body_hash: Hash32::of(&body),
        body_len: body.len() as u64,
        recipients: None,
    };
    WireEntry {
        envelope: sign_header(&key, &header),
        body: Some(body),
    }
}

fn flip_signature(wire: &WireEntry) -> WireEntry {
    let mut forged = wire.clone();
    if let Some(last) = forged.envelope.last_mut() {
        *last ^= 1;
    }
    forged
}

/// A forger holding `org`'s keys: gossips entries with broken signatures
/// and entries by an author not on the roster, and answers sync with forged
/// entries.
pub async fn forger(ctx: Context, org: String, forgeries: usize) -> Activity {
    let key = riskmesh_node::testnet::node_key(&org);
    let mut activity = Activity::new("forger", Some(&org), key.public().to_peer_id());
    let Some(mut swarm) = swarm_for(&key, &ctx.roster) else {
        activity.count("swarm_failed");
        return activity;
    };
    let topics = Topics::new(ctx.roster.network());
    let _ = swarm.behaviour_mut().gossip.subscribe(&topics.entries);
    dial_all(&mut swarm, &ctx, &mut activity);
    let secrets = testkit::org_secrets(&org);
    let mut log = LogWriter::new(ctx.roster.network());
    let genuine = match log.append(
        &secrets.signing,
        &ctx.roster,
        &bulletin("genuine, never sent"),
        now_ms(),
    ) {
        Ok(e) => e,
        Err(_) => return activity,
    };
    let author = genuine.header().author;
    let forged_for_sync = flip_signature(&genuine.to_wire());
    activity.forged_ids.push(forged_for_sync.id());
    let mut payloads = Vec::new();
    for n in 0..forgeries {
        let wire = if n % 3 == 2 {
            outsider_entry(ctx.roster.network(), ctx.seed, n)
        } else {
            let mut log = LogWriter::new(ctx.roster.network());
            match log.append(
                &secrets.signing,
                &ctx.roster,
                &bulletin(&format!("forged {n}")),
                now_ms(),
            ) {
                Ok(e) => flip_signature(&e.to_wire()),
                Err(_) => continue,
            }
        };
        activity.forged_ids.push(wire.id());
        payloads.push(wire.to_bytes());
    }
    let start = Instant::now();
    let deadline = start + ctx.duration;
    // A quick burst: once the forger is penalized for its sync answers it is
    // banned, and later gossip would only reach nobody.
    let spacing = Duration::from_millis(20);
    let mut next_send = start;
    let mut subscribed = false;
    let mut sent = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        let step_deadline = (Instant::now() + Duration::from_millis(50)).min(deadline);
        drive(&mut swarm, step_deadline, |_, event, request| {
            if is_subscribed(event) {
                subscribed = true;
            }
            match request {
                Some((_, SyncRequest::Heads | SyncRequest::Digest { .. })) => {
                    Reaction::Respond(SyncResponse::Heads {
                        heads: vec![Head {
                            author,
                            seq: 1,
                            id: forged_for_sync.id(),
                        }],
                        roster_version: ctx.roster.version(),
                        proofs: 0,
                    })
                }
                Some((_, SyncRequest::Range { .. })) => {
                    activity.count("forged_sync_responses");
                    Reaction::Respond(SyncResponse::Entries(vec![forged_for_sync.clone()]))
                }
                _ => Reaction::None,
            }
        })
        .await;
        if Instant::now() >= deadline {
            break;
        }
        if subscribed && sent < payloads.len() && Instant::now() >= next_send {
            let payload = payloads[sent].clone();
            match swarm
                .behaviour_mut()
                .gossip
                .publish(topics.entries.clone(), payload)
            {
                Ok(_) => activity.count("forged_gossip_sent"),
                Err(_) => activity.count("forged_gossip_not_sent"),
            }
            sent += 1;
            next_send = Instant::now() + spacing;
        }
        tick.tick().await;
    }
    activity
}

/// A peer not on the roster: dials every node, asks for sync, gossips.
pub async fn intruder(ctx: Context) -> Activity {
    let key = Keypair::ed25519_from_bytes(crate::rng::SimRng::derive(ctx.seed, "intruder").bytes32())
        .unwrap_or_else(|_| Keypair::generate_ed25519());
    let mut activity = Activity::new("intruder", None, key.public().to_peer_id());
    let Some(mut swarm) = swarm_for(&key, &ctx.roster) else {
        activity.count("swarm_failed");
        return activity;
    };
    let topics = Topics::new(ctx.roster.network());
    let _ = swarm.behaviour_mut().gossip.subscribe(&topics.entries);
    let deadline = Instant::now() + ctx.duration;
    let mut next_dial = Instant::now();
    let garbage = outsider_entry(ctx.roster.network(), ctx.seed, 0);
    activity.forged_ids.push(garbage.id());
    while Instant::now() < deadline {
        if Instant::now() >= next_dial {
            dial_all(&mut swarm, &ctx, &mut activity);
            next_dial = Instant::now() + Duration::from_secs(2);
        }
        let step = (Instant::now() + Duration::from_millis(200)).min(deadline);
        let mut established = Vec::new();
        drive(&mut swarm, step, |_, event, _| {
            match event {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    activity.count("connections_established_own_view");
                    established.push(*peer_id);
                }
                SwarmEvent::ConnectionClosed { .. } => activity.count("connections_closed"),
                SwarmEvent::OutgoingConnectionError { .. } => activity.count("dial_errors"),
                SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
                    message: Message::Response { .. },
                    ..
                })) => activity.count("sync_responses"),
                SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::OutboundFailure {
                    ..
                })) => activity.count("sync_failures"),
                _ => {}
            }
            Reaction::None
        })
        .await;
        for peer in established {
            swarm
                .behaviour_mut()
                .sync
                .send_request(&peer, SyncRequest::Heads.to_bytes());
            activity.count("sync_requests");
            if swarm
                .behaviour_mut()
                .gossip
                .publish(topics.entries.clone(), garbage.to_bytes())
                .is_ok()
            {
                activity.count("gossip_sent");
            }
        }
    }
    activity
}

/// The extra node key the roster lists for `org`'s replayer.
pub fn replayer_key(org: &str) -> Keypair {
    riskmesh_node::testnet::node_key(&format!("{org}/replayer"))
}

/// A second, roster-listed node of an honest org: fetches valid entries by
/// sync, then re-sends them by gossip and offers them by sync.
pub async fn replayer(ctx: Context, org: String) -> Activity {
    let key = replayer_key(&org);
    let mut activity = Activity::new("replayer", Some(&org), key.public().to_peer_id());
    let Some(mut swarm) = swarm_for(&key, &ctx.roster) else {
        activity.count("swarm_failed");
        return activity;
    };
    let topics = Topics::new(ctx.roster.network());
    dial_all(&mut swarm, &ctx, &mut activity);
    let deadline = Instant::now() + ctx.duration;
    let collect_until = Instant::now() + ctx.duration / 3;
    let mut collected: BTreeMap<(OrgKey, u64), WireEntry> = BTreeMap::new();
    let mut asked_heads = false;
    let mut replayed = false;
    while Instant::now() < deadline {
        let step = (Instant::now() + Duration::from_millis(100)).min(deadline);
        let mut responses: Vec<(PeerId, Vec<u8>)> = Vec::new();
        let mut connected: Vec<PeerId> = Vec::new();
        // Honest heads: per author (ascending, as the protocol requires),
        // the highest seq held contiguously from 1.
        let mut heads: Vec<Head> = Vec::new();
        for ((author, seq), wire) in &collected {
            match heads.last_mut() {
                Some(h) if h.author == *author && *seq == h.seq + 1 => {
                    h.seq = *seq;
                    h.id = wire.id();
                }
                Some(h) if h.author == *author => {}
                _ if *seq == 1 => heads.push(Head {
                    author: *author,
                    seq: 1,
                    id: wire.id(),
                }),
                _ => {}
            }
        }
        let snapshot = collected.clone();
        drive(&mut swarm, step, |_, event, request| {
            match event {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => connected.push(*peer_id),
                SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
                    peer,
                    message: Message::Response { response, .. },
                    ..
                })) => responses.push((*peer, response.clone())),
                _ => {}
            }
            match request {
                Some((_, SyncRequest::Heads | SyncRequest::Digest { .. })) => {
                    Reaction::Respond(SyncResponse::Heads {
                        heads: heads.clone(),
                        roster_version: ctx.roster.version(),
                        proofs: 0,
                    })
                }
                Some((
                    _,
                    SyncRequest::Range {
                        author,
                        from_seq,
                        count,
                    },
                )) => {
                    let top = heads.iter().find(|h| h.author == author).map_or(0, |h| h.seq);
                    let entries: Vec<WireEntry> = snapshot
                        .range((author, from_seq)..(author, from_seq.saturating_add(count).min(top + 1)))
                        .map(|(_, w)| w.clone())
                        .collect();
                    activity.add("replayed_by_sync", entries.len() as u64);
                    Reaction::Respond(SyncResponse::Entries(entries))
                }
                _ => Reaction::None,
            }
        })
        .await;
        if !asked_heads && let Some(peer) = connected.first() {
            swarm
                .behaviour_mut()
                .sync
                .send_request(peer, SyncRequest::Heads.to_bytes());
            asked_heads = true;
        }
        for (peer, bytes) in responses {
            match SyncResponse::from_bytes(&bytes) {
                Ok(SyncResponse::Heads { heads, .. }) => {
                    for h in heads {
                        let request = SyncRequest::Range {
                            author: h.author,
                            from_seq: 1,
                            count: h.seq.min(MAX_SYNC_RANGE),
                        };
                        swarm.behaviour_mut().sync.send_request(&peer, request.to_bytes());
                    }
                }
                Ok(SyncResponse::Entries(entries)) => {
                    for wire in entries {
                        if let Ok(entry) = riskmesh_protocol::validate::verify_wire(&ctx.roster, &wire) {
                            let h = entry.header();
                            collected.insert((h.author, h.seq), wire);
                        }
                    }
                }
                _ => {}
            }
        }
        if !replayed && Instant::now() >= collect_until && !collected.is_empty() {
            replayed = true;
            activity.add("collected", collected.len() as u64);
            for wire in collected.values() {
                if wire.body.is_none() {
                    continue;
                }
                match swarm
                    .behaviour_mut()
                    .gossip
                    .publish(topics.entries.clone(), wire.to_bytes())
                {
                    Ok(_) => activity.count("replayed_by_gossip"),
                    Err(_) => activity.count("replay_not_sent"),
                }
            }
        }
    }
    activity
}

/// An equivocating member: shows `honest_prefix` identical entries to
/// everyone, then one entry at the next seq to the even-indexed nodes and a
/// different one to the odd-indexed nodes, by sync.
pub async fn equivocator(ctx: Context, org: String, honest_prefix: u64) -> Activity {
    let key = riskmesh_node::testnet::node_key(&org);
    let mut activity = Activity::new("equivocator", Some(&org), key.public().to_peer_id());
    let Some(mut swarm) = swarm_for(&key, &ctx.roster) else {
        activity.count("swarm_failed");
        return activity;
    };
    let secrets = testkit::org_secrets(&org);
    let mut log = LogWriter::new(ctx.roster.network());
    let mut common: Vec<VerifiedEntry> = Vec::new();
    for i in 0..honest_prefix {
        match log.append(
            &secrets.signing,
            &ctx.roster,
            &bulletin(&format!("{org} honest {i}")),
            now_ms(),
        ) {
            Ok(e) => common.push(e),
            Err(_) => return activity,
        }
    }
    let mut fork_b = log.clone();
    let (Ok(a), Ok(b)) = (
        log.append(
            &secrets.signing,
            &ctx.roster,
            &bulletin(&format!("{org}: version shown to half A")),
            now_ms(),
        ),
        fork_b.append(
            &secrets.signing,
            &ctx.roster,
            &bulletin(&format!("{org}: version shown to half B")),
            now_ms(),
        ),
    ) else {
        return activity;
    };
    let author = a.header().author;
    let fork_seq = a.header().seq;
    activity.fork = Some((author, fork_seq));
    let half_a: HashMap<PeerId, bool> = ctx.targets.iter().map(|t| (t.peer, t.node % 2 == 0)).collect();
    dial_all(&mut swarm, &ctx, &mut activity);
    let deadline = Instant::now() + ctx.duration;
    drive(&mut swarm, deadline, |_, _, request| {
        let Some((peer, request)) = request else {
            return Reaction::None;
        };
        let in_a = half_a.get(&peer).copied().unwrap_or(true);
        let shown = if in_a { &a } else { &b };
        match request {
            SyncRequest::Heads | SyncRequest::Digest { .. } => Reaction::Respond(SyncResponse::Heads {
                heads: vec![Head {
                    author,
                    seq: fork_seq,
                    id: shown.id(),
                }],
                roster_version: ctx.roster.version(),
                proofs: 0,
            }),
            SyncRequest::Range {
                author: who,
                from_seq,
                count,
            } if who == author => {
                let chain: Vec<WireEntry> = common
                    .iter()
                    .chain(std::iter::once(shown))
                    .filter(|e| e.header().seq >= from_seq && e.header().seq < from_seq.saturating_add(count))
                    .map(VerifiedEntry::to_wire)
                    .collect();
                if chain.iter().any(|w| w.id() == shown.id()) {
                    activity.count(if in_a { "fork_a_served" } else { "fork_b_served" });
                }
                Reaction::Respond(SyncResponse::Entries(chain))
            }
            _ => Reaction::None,
        }
    })
    .await;
    activity
}

/// A member publishing valid entries at `rate_multiple` times the nodes'
/// rate limit; it refuses every sync request.
pub async fn flooder(ctx: Context, org: String, rate_multiple: f64) -> Activity {
    let key = riskmesh_node::testnet::node_key(&org);
    let mut activity = Activity::new("flooder", Some(&org), key.public().to_peer_id());
    let Some(mut swarm) = swarm_for(&key, &ctx.roster) else {
        activity.count("swarm_failed");
        return activity;
    };
    let topics = Topics::new(ctx.roster.network());
    let _ = swarm.behaviour_mut().gossip.subscribe(&topics.entries);
    dial_all(&mut swarm, &ctx, &mut activity);
    let secrets = testkit::org_secrets(&org);
    let mut log = LogWriter::new(ctx.roster.network());
    let per_second = f64::from(ctx.rate_limit_per_minute) / 60.0 * rate_multiple;
    let interval = Duration::from_secs_f64(1.0 / per_second.max(0.001));
    activity.add("target_per_minute", (per_second * 60.0) as u64);
    let start = Instant::now();
    let deadline = start + ctx.duration;
    let mut subscribed = false;
    let mut next = start;
    let mut n = 0u64;
    while Instant::now() < deadline {
        let step = (Instant::now() + Duration::from_millis(20)).min(deadline);
        drive(&mut swarm, step, |_, event, _| {
            if is_subscribed(event) {
                subscribed = true;
            }
            Reaction::None
        })
        .await;
        // Catch up on every send the last step was due, but only once peers
        // listen (a publish with nobody subscribed is dropped locally).
        while subscribed && Instant::now() >= next && Instant::now() < deadline {
            n += 1;
            let draft = bulletin(&format!("flood {n}"));
            match log.append(&secrets.signing, &ctx.roster, &draft, now_ms()) {
                Ok(entry) => match swarm
                    .behaviour_mut()
                    .gossip
                    .publish(topics.entries.clone(), entry.to_wire().to_bytes())
                {
                    Ok(_) => activity.count("flood_sent"),
                    Err(_) => activity.count("flood_not_sent"),
                },
                Err(_) => activity.count("flood_not_signed"),
            }
            next += interval;
        }
    }
    activity
}
