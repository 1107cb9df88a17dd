//! The event loop: one task that owns the swarm and the protocol state
//! (roster, chain validator, the author's log) and reacts to swarm events,
//! worker results, handle commands and timers.

use super::workers::{
    Ack, EVENT_QUEUE, ReadJob, SharedRoster, StoreReader, StoreWriter, VerifyJob, VerifyPool, WorkerEvent,
    WriteJob,
};
use super::{AuthorStatus, Command, NodeStatus, PeerStatus, StartError, now_ms};
use crate::config::NodeConfig;
use crate::metrics::Metrics;
use crate::net::{Behaviour, BehaviourEvent, Topics, build_swarm};
use crate::store::Store;
use futures::StreamExt;
use libp2p::gossipsub::{self, MessageAcceptance, PublishError};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::OutboundRequestId;
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId, Swarm};
use riskmesh_protocol::chain::Fork;
use riskmesh_protocol::entry::Envelope;
use riskmesh_protocol::roster::SignedRoster;
use riskmesh_protocol::sync::SyncRequest;
use riskmesh_protocol::{
    ChainValidator, EquivocationProof, LogWriter, OrgKey, Outcome, Roster, VerifiedEntry,
};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Shortest and longest wait between redials of an unreachable peer.
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How often timers check redials, gaps and rate-limit refills.
const TICK: Duration = Duration::from_millis(250);
/// Writes waiting in the loop beyond which gossip is ignored (sync fetches
/// pause as soon as any wait); peers resend by sync later.
const MAX_BACKLOG_FOR_GOSSIP: usize = 256;
/// Strikes before a peer is banned, and for how long.
const STRIKES_TO_BAN: u32 = 3;
const BAN: Duration = Duration::from_secs(600);

/// What the loop knows about a roster peer.
pub(super) struct PeerState {
    pub org: String,
    pub addrs: Vec<Multiaddr>,
    pub connected: bool,
    pub next_dial: Instant,
    pub backoff: Duration,
    pub strikes: u32,
    pub banned_until: Option<Instant>,
    /// Highest seq per author this peer announced in its last heads.
    pub heads: HashMap<OrgKey, u64>,
}

/// A token bucket per author for entries received by gossip.
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// An outstanding sync request.
pub(super) struct Outstanding {
    pub request: SyncRequest,
}

pub(super) struct EventLoop {
    pub swarm: Swarm<Behaviour>,
    pub topics: Topics,
    pub roster: Arc<Roster>,
    pub shared_roster: SharedRoster,
    pub chain: ChainValidator,
    pub log: LogWriter,
    pub org: Arc<riskmesh_protocol::keys::OrgSecrets>,
    pub verify: VerifyPool,
    pub writer: StoreWriter,
    pub reader: StoreReader,
    pub events: mpsc::Receiver<WorkerEvent>,
    pub commands: mpsc::Receiver<Command>,
    pub shutdown: watch::Receiver<bool>,
    pub metrics: Arc<Metrics>,
    pub peers: HashMap<PeerId, PeerState>,
    pub outstanding: HashMap<OutboundRequestId, Outstanding>,
    /// Authors with a range request in flight.
    pub fetching: HashSet<OrgKey>,
    pub known_proofs: HashSet<(OrgKey, u64)>,
    /// Accepted access entries not yet committed: entry id → request id to
    /// re-evaluate once it is.
    pub release_checks: HashMap<riskmesh_protocol::EntryId, riskmesh_protocol::EntryId>,
    /// Releases granted but not yet delivered, by request id.
    pub pending_releases: HashMap<riskmesh_protocol::EntryId, super::hazard::ReleaseOut>,
    /// Release deliveries in flight.
    pub release_outstanding: HashMap<OutboundRequestId, riskmesh_protocol::EntryId>,
    /// When pending releases were last attempted.
    pub last_release_attempt: Instant,
    /// Writes waiting for room in the writer's queue, in order.
    pub pending_writes: std::collections::VecDeque<WriteJob>,
    /// While a sync batch is ingested, its accepted entries are gathered
    /// here and written as one job.
    pub collecting: Option<(Vec<VerifiedEntry>, Vec<Ack>)>,
    buckets: HashMap<OrgKey, Bucket>,
    rate_per_minute: f64,
    sync_interval: Duration,
    pub listen: Vec<Multiaddr>,
    pub peer_id: PeerId,
    pub fatal: Option<String>,
}

impl EventLoop {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn new(
        config: &NodeConfig,
        shared_roster: SharedRoster,
        chain: ChainValidator,
        log: LogWriter,
        store: Store,
        reader: Store,
        known_proofs: HashSet<(OrgKey, u64)>,
        metrics: Arc<Metrics>,
        commands: mpsc::Receiver<Command>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(Self, Vec<Multiaddr>), StartError> {
        let roster = super::workers::current(&shared_roster);
        let topics = Topics::new(roster.network());
        let mut swarm =
            build_swarm(&config.node_key, &topics).map_err(|e| StartError::Network(e.to_string()))?;
        for topic in [&topics.entries, &topics.proofs, &topics.rosters] {
            swarm
                .behaviour_mut()
                .gossip
                .subscribe(topic)
                .map_err(|e| StartError::Network(e.to_string()))?;
        }
        for addr in &config.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| StartError::Network(format!("listen on {addr}: {e}")))?;
        }
        // Wait for the listeners to be bound so callers learn real ports.
        let mut listen = Vec::new();
        let peer_id = *swarm.local_peer_id();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while listen.len() < config.listen.len() {
            match tokio::time::timeout_at(deadline, swarm.select_next_some()).await {
                Ok(SwarmEvent::NewListenAddr { address, .. }) => {
                    listen.push(address.with(Protocol::P2p(peer_id)));
                }
                Ok(SwarmEvent::ListenerError { error, .. }) => {
                    return Err(StartError::Network(error.to_string()));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        let threads = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
        let verify = VerifyPool::start(threads, Arc::clone(&shared_roster), events_tx.clone());
        let writer = StoreWriter::start(store, events_tx.clone());
        let reader = StoreReader::start(
            reader,
            events_tx,
            Arc::clone(&shared_roster),
            Arc::clone(&config.org),
        );
        let mut this = EventLoop {
            swarm,
            topics,
            roster: Arc::clone(&roster),
            shared_roster,
            chain,
            log,
            org: Arc::clone(&config.org),
            verify,
            writer,
            reader,
            events: events_rx,
            commands,
            shutdown,
            metrics,
            peers: HashMap::new(),
            outstanding: HashMap::new(),
            fetching: HashSet::new(),
            known_proofs,
            release_checks: HashMap::new(),
            pending_releases: HashMap::new(),
            release_outstanding: HashMap::new(),
            last_release_attempt: Instant::now(),
            pending_writes: std::collections::VecDeque::new(),
            collecting: None,
            buckets: HashMap::new(),
            rate_per_minute: f64::from(config.author_rate_per_minute.max(1)),
            sync_interval: config.sync_interval,
            listen: listen.clone(),
            peer_id,
            fatal: None,
        };
        this.apply_roster_peers();
        for addr in &config.bootstrap {
            this.remember_address(addr.clone());
        }
        Ok((this, listen))
    }

    /// Allows every roster node (but this one) and learns their addresses.
    pub fn apply_roster_peers(&mut self) {
        let mut allowed = HashSet::new();
        for member in &self.roster.doc().members {
            for node in &member.nodes {
                let Ok(peer) = PeerId::from_bytes(&node.0) else {
                    continue;
                };
                if peer == self.peer_id {
                    continue;
                }
                allowed.insert(peer);
                self.swarm.behaviour_mut().allow.allow_peer(peer);
                let state = self.peers.entry(peer).or_insert_with(|| PeerState {
                    org: member.org.clone(),
                    addrs: Vec::new(),
                    connected: false,
                    next_dial: Instant::now(),
                    backoff: MIN_BACKOFF,
                    strikes: 0,
                    banned_until: None,
                    heads: HashMap::new(),
                });
                state.org = member.org.clone();
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
                    if !state.addrs.contains(&addr) {
                        state.addrs.push(addr);
                    }
                }
            }
        }
        // Peers removed from the roster lose their connection.
        let removed: Vec<PeerId> = self
            .peers
            .keys()
            .filter(|p| !allowed.contains(p))
            .copied()
            .collect();
        for peer in removed {
            self.peers.remove(&peer);
            self.swarm.behaviour_mut().allow.disallow_peer(peer);
        }
    }

    fn remember_address(&mut self, addr: Multiaddr) {
        let Some(Protocol::P2p(peer)) = addr.iter().last() else {
            tracing::warn!(%addr, "ignoring peer address without /p2p/<peer id>");
            return;
        };
        match self.peers.get_mut(&peer) {
            Some(state) => {
                if !state.addrs.contains(&addr) {
                    state.addrs.push(addr);
                }
                state.next_dial = Instant::now();
            }
            None => tracing::warn!(%peer, "ignoring address of a peer that is not on the roster"),
        }
    }

    pub(super) async fn run(mut self) -> Result<(), String> {
        let mut tick = tokio::time::interval(TICK);
        let mut sync_tick = tokio::time::interval(self.sync_interval);
        sync_tick.tick().await;
        // Requests granted while this node was down are delivered now.
        self.scan_releases();
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm(event),
                Some(event) = self.events.recv() => self.on_worker(event),
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
                _ = tick.tick() => self.on_tick(),
                _ = sync_tick.tick() => {
                    self.sync_all();
                    self.scan_releases();
                }
                _ = self.shutdown.changed() => break,
            }
            self.flush_writes();
            if self.fatal.is_some() {
                break;
            }
        }
        tracing::info!("shutting down: finishing in-flight commits");
        // Hand every waiting write to the writer before it stops.
        while let Some(job) = self.pending_writes.pop_front() {
            let mut job = job;
            loop {
                match self.writer.submit(job) {
                    Ok(()) => break,
                    Err(back) => {
                        job = *back;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
        }
        self.verify.stop();
        self.writer.stop();
        self.reader.stop();
        match self.fatal {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        let mut dials = Vec::new();
        for (peer, state) in &mut self.peers {
            if let Some(until) = state.banned_until
                && until <= now
            {
                state.banned_until = None;
                state.strikes = 0;
                self.swarm.behaviour_mut().allow.allow_peer(*peer);
            }
            if !state.connected
                && state.banned_until.is_none()
                && !state.addrs.is_empty()
                && state.next_dial <= now
            {
                dials.push((*peer, state.addrs.clone()));
                state.next_dial = now + state.backoff;
                state.backoff = (state.backoff * 2).min(MAX_BACKOFF);
            }
        }
        for (peer, addrs) in dials {
            let opts = DialOpts::peer_id(peer).addresses(addrs).build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, error = %e, "dial failed");
            }
        }
        self.fetch_gaps();
        self.retry_releases();
        self.metrics
            .pending
            .store(self.chain.pending_len() as u64, Ordering::Relaxed);
    }

    fn on_swarm(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                if let Some(state) = self.peers.get_mut(&peer_id) {
                    let first = !state.connected;
                    state.connected = true;
                    state.backoff = MIN_BACKOFF;
                    tracing::info!(peer = %peer_id, org = %state.org, addr = %endpoint.get_remote_address(), "connected");
                    if first {
                        self.request_heads(peer_id);
                        self.attempt_releases();
                    }
                }
                self.count_peers();
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => {
                if num_established == 0
                    && let Some(state) = self.peers.get_mut(&peer_id)
                {
                    state.connected = false;
                    state.next_dial = Instant::now() + state.backoff;
                    tracing::info!(peer = %peer_id, org = %state.org, "disconnected");
                }
                self.count_peers();
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                let address = address.with(Protocol::P2p(self.peer_id));
                if !self.listen.contains(&address) {
                    self.listen.push(address);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(event)) => self.on_gossip(event),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync(event),
            SwarmEvent::Behaviour(BehaviourEvent::Release(event)) => self.on_release(event),
            SwarmEvent::IncomingConnectionError { error, .. } => {
                tracing::debug!(error = %error, "incoming connection refused");
            }
            _ => {}
        }
    }

    /// Queues a write for the writer thread. When its queue is full the job
    /// waits here, in order, and the loop slows intake (no new sync fetches,
    /// gossip ignored) until the writer catches up; nothing accepted is lost.
    pub(super) fn submit_write(&mut self, job: WriteJob) {
        if !self.pending_writes.is_empty() {
            self.pending_writes.push_back(job);
            return;
        }
        if let Err(job) = self.writer.submit(job) {
            self.pending_writes.push_back(*job);
        }
    }

    fn flush_writes(&mut self) {
        while let Some(job) = self.pending_writes.pop_front() {
            if let Err(job) = self.writer.submit(job) {
                self.pending_writes.push_front(*job);
                break;
            }
        }
    }

    /// Runs `f` with accepted entries gathered into one write job. Nested
    /// calls (a sync batch inside a verifier's batch) join the outer batch:
    /// only the outermost call writes, so nothing gathered is dropped.
    pub(super) fn batched(&mut self, f: impl FnOnce(&mut Self)) {
        let outermost = self.collecting.is_none();
        if outermost {
            self.collecting = Some((Vec::new(), Vec::new()));
        }
        f(self);
        if outermost {
            self.flush_collected();
        }
    }

    /// Writes what was gathered while a batch was being ingested.
    fn flush_collected(&mut self) {
        if let Some((entries, acks)) = self.collecting.take()
            && (!entries.is_empty() || !acks.is_empty())
        {
            self.submit_write(WriteJob::Entries { entries, acks });
        }
    }

    /// Whether the writer is behind (writes are waiting in the loop).
    pub(super) fn writes_backlogged(&self) -> bool {
        !self.pending_writes.is_empty()
    }

    fn count_peers(&self) {
        let n = self.peers.values().filter(|p| p.connected).count();
        self.metrics.peers.store(n as u64, Ordering::Relaxed);
    }

    /// Gives `peer` a strike; at [`STRIKES_TO_BAN`] it is disconnected and
    /// refused for [`BAN`].
    pub(super) fn penalize(&mut self, peer: PeerId, why: &str) {
        self.metrics.penalties.fetch_add(1, Ordering::Relaxed);
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        state.strikes += 1;
        tracing::warn!(%peer, org = %state.org, strikes = state.strikes, why, "peer penalized");
        if state.strikes >= STRIKES_TO_BAN && state.banned_until.is_none() {
            state.banned_until = Some(Instant::now() + BAN);
            self.swarm.behaviour_mut().allow.disallow_peer(peer);
            tracing::warn!(%peer, "peer banned for {} s", BAN.as_secs());
        }
    }

    fn rate_allows(&mut self, author: OrgKey) -> bool {
        let capacity = self.rate_per_minute;
        let now = Instant::now();
        let bucket = self.buckets.entry(author).or_insert(Bucket {
            tokens: capacity,
            last: now,
        });
        let refill = now.duration_since(bucket.last).as_secs_f64() * capacity / 60.0;
        bucket.tokens = (bucket.tokens + refill).min(capacity);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn report(&mut self, message_id: &gossipsub::MessageId, source: &PeerId, acceptance: MessageAcceptance) {
        self.swarm
            .behaviour_mut()
            .gossip
            .report_message_validation_result(message_id, source, acceptance);
    }

    fn on_gossip(&mut self, event: gossipsub::Event) {
        let gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        } = event
        else {
            return;
        };
        self.metrics
            .gossip_bytes_in
            .fetch_add(message.data.len() as u64, Ordering::Relaxed);
        let topic = message.topic.clone();
        if topic == self.topics.entries.hash() {
            // A cheap look at the envelope's kid lets the rate limit act
            // before the expensive signature check.
            let author = riskmesh_protocol::WireEntry::from_bytes(&message.data)
                .ok()
                .and_then(|w| Envelope::parse(&w.envelope).ok().map(|e| e.kid));
            if let Some(author) = author
                && self.roster.member(&author).is_some()
                && !self.rate_allows(author)
            {
                self.metrics.ignore("rate_limited");
                self.report(&message_id, &propagation_source, MessageAcceptance::Ignore);
                return;
            }
            if self.pending_writes.len() > MAX_BACKLOG_FOR_GOSSIP {
                self.metrics.ignore("write_backlog");
                self.report(&message_id, &propagation_source, MessageAcceptance::Ignore);
                return;
            }
            let job = VerifyJob::Gossip {
                data: message.data,
                message_id: message_id.clone(),
                source: propagation_source,
            };
            if self.verify.submit(job).is_err() {
                self.metrics.ignore("verify_queue_full");
                self.report(&message_id, &propagation_source, MessageAcceptance::Ignore);
            }
        } else if topic == self.topics.proofs.hash() {
            let acceptance = match EquivocationProof::from_bytes(&message.data).and_then(|p| {
                let (author, seq) = p.verify(&self.roster)?;
                Ok((author, seq, p))
            }) {
                Ok((author, seq, proof)) => {
                    if self.known_proofs.contains(&(author, seq)) {
                        MessageAcceptance::Ignore
                    } else {
                        self.store_proof(author, seq, proof);
                        MessageAcceptance::Accept
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "invalid equivocation proof");
                    self.metrics.reject("bad_proof");
                    MessageAcceptance::Reject
                }
            };
            self.report(&message_id, &propagation_source, acceptance);
        } else if topic == self.topics.rosters.hash() {
            let acceptance = match SignedRoster::from_bytes(&message.data) {
                Ok(signed) => self.offer_roster(&signed),
                Err(_) => MessageAcceptance::Reject,
            };
            self.report(&message_id, &propagation_source, acceptance);
        } else {
            self.report(&message_id, &propagation_source, MessageAcceptance::Reject);
        }
    }

    /// Applies a roster update if it is the next version with a quorum.
    pub(super) fn offer_roster(&mut self, signed: &SignedRoster) -> MessageAcceptance {
        let Ok(doc) = signed.document() else {
            return MessageAcceptance::Reject;
        };
        if doc.version <= self.roster.version() {
            return MessageAcceptance::Ignore;
        }
        if doc.version > self.roster.version() + 1 {
            // A later version: fetch the missing ones by sync first.
            return MessageAcceptance::Ignore;
        }
        match self.roster.apply_update(signed) {
            Ok(next) => {
                tracing::info!(version = next.version(), "roster updated");
                let next = Arc::new(next);
                self.roster = Arc::clone(&next);
                match self.shared_roster.write() {
                    Ok(mut guard) => *guard = Arc::clone(&next),
                    Err(p) => *p.into_inner() = Arc::clone(&next),
                }
                self.submit_write(WriteJob::Roster(next));
                self.apply_roster_peers();
                MessageAcceptance::Accept
            }
            Err(e) => {
                tracing::warn!(error = %e, "roster update refused");
                self.metrics.reject("bad_roster");
                MessageAcceptance::Reject
            }
        }
    }

    pub(super) fn store_proof(&mut self, author: OrgKey, seq: u64, proof: EquivocationProof) {
        if self.known_proofs.insert((author, seq)) {
            let org = self
                .roster
                .member(&author)
                .map(|m| m.org.clone())
                .unwrap_or_default();
            tracing::warn!(%org, seq, "EQUIVOCATION: author signed two different entries at the same seq");
            self.submit_write(WriteJob::Equivocation { author, seq, proof });
        }
    }

    fn on_worker(&mut self, event: WorkerEvent) {
        match event {
            WorkerEvent::GossipVerified {
                result,
                message_id,
                source,
            } => match result {
                Err(reason) => {
                    tracing::debug!(%source, reason = %reason, "gossip entry rejected");
                    self.metrics.reject(reason.name());
                    self.report(&message_id, &source, MessageAcceptance::Reject);
                }
                Ok(entry) => {
                    let acks = vec![Ack::Gossip {
                        message_id: message_id.clone(),
                        source,
                    }];
                    if let Some(acceptance) = self.ingest(entry, acks) {
                        self.report(&message_id, &source, acceptance);
                    }
                }
            },
            WorkerEvent::RangeVerified {
                peer,
                author,
                from_seq,
                result,
            } => self.on_range_verified(peer, author, from_seq, result),
            WorkerEvent::Written {
                inserted,
                acks,
                new_equivocation,
            } => {
                let new = inserted.iter().filter(|i| i.is_new()).count() as u64;
                if !self.release_checks.is_empty() {
                    self.after_commit(inserted.iter().map(|i| i.id));
                }
                self.metrics.entries_stored.fetch_add(new, Ordering::Relaxed);
                for ack in acks {
                    match ack {
                        Ack::Gossip { message_id, source } => {
                            self.report(&message_id, &source, MessageAcceptance::Accept);
                        }
                        Ack::Publish { entry, reply } => {
                            self.metrics.published.fetch_add(1, Ordering::Relaxed);
                            self.gossip_entry(&entry);
                            let _ = reply.send(Ok(entry));
                        }
                    }
                }
                if let Some((author, seq, proof)) = new_equivocation {
                    self.metrics.equivocations.fetch_add(1, Ordering::Relaxed);
                    let bytes = proof.to_bytes();
                    let _ = author;
                    let _ = seq;
                    if let Err(e) = self
                        .swarm
                        .behaviour_mut()
                        .gossip
                        .publish(self.topics.proofs.clone(), bytes)
                    {
                        tracing::debug!(error = %e, "proof not gossiped now; peers fetch it by sync");
                    }
                }
            }
            WorkerEvent::Respond { channel, bytes } => {
                self.metrics
                    .sync_bytes_out
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                let _ = self.swarm.behaviour_mut().sync.send_response(channel, bytes);
            }
            WorkerEvent::ForkEvidence { existing, incoming } => {
                if let Some(existing) = existing
                    && let Ok(existing) = riskmesh_protocol::verify_entry(&self.roster, &existing, None)
                    && let Ok(proof) = EquivocationProof::new(&existing, &incoming)
                {
                    let h = incoming.header();
                    self.store_proof(h.author, h.seq, proof);
                }
            }
            WorkerEvent::Many(events) => {
                // One write job for everything the batch accepts.
                self.batched(|this| {
                    for event in events {
                        this.on_worker(event);
                    }
                });
            }
            WorkerEvent::ReleaseReady(out) => self.release_ready(*out),
            WorkerEvent::ReleaseReceived { channel, received } => self.release_received(channel, received),
            WorkerEvent::StoreFailed(error) => {
                tracing::error!(%error, "store failed; stopping the node");
                self.fatal = Some(format!("store failed: {error}"));
            }
        }
    }

    fn gossip_entry(&mut self, entry: &VerifiedEntry) {
        let bytes = entry.to_wire().to_bytes();
        let len = bytes.len() as u64;
        match self
            .swarm
            .behaviour_mut()
            .gossip
            .publish(self.topics.entries.clone(), bytes)
        {
            Ok(_) => {
                self.metrics.gossip_bytes_out.fetch_add(len, Ordering::Relaxed);
            }
            Err(PublishError::NoPeersSubscribedToTopic | PublishError::AllQueuesFull(_)) => {
                tracing::info!(id = %super::short(&entry.id()), "no peers now; the entry goes out by sync when they return");
            }
            Err(e) => tracing::warn!(error = %e, "gossip publish failed; peers fetch the entry by sync"),
        }
    }

    /// Runs an entry through the chain validator; accepted entries are sent
    /// to the writer with `acks`. Returns the gossip acceptance to report now,
    /// or `None` if it is reported after the commit.
    pub(super) fn ingest(&mut self, entry: VerifiedEntry, acks: Vec<Ack>) -> Option<MessageAcceptance> {
        let report = self.chain.ingest(entry, now_ms());
        if let Some(fork) = report.fork {
            match fork {
                Fork::Proven(proof) => {
                    if let Ok((author, seq)) = proof.verify(&self.roster) {
                        self.store_proof(author, seq, proof);
                    }
                }
                Fork::WithAccepted { existing, incoming } => {
                    let _ = self.reader.submit(ReadJob::ForkEvidence {
                        existing,
                        incoming: Box::new(incoming),
                    });
                }
            }
        }
        for entry in &report.accepted {
            self.note_access(entry);
        }
        let accepted = report.accepted.len() as u64;
        self.metrics.accepted.fetch_add(accepted, Ordering::Relaxed);
        match report.outcome {
            Outcome::Accept => {
                match self.collecting.as_mut() {
                    Some((entries, pending_acks)) => {
                        entries.extend(report.accepted);
                        pending_acks.extend(acks);
                    }
                    None => self.submit_write(WriteJob::Entries {
                        entries: report.accepted,
                        acks,
                    }),
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

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { draft, reply } => self.publish_draft(&draft, reply),
            Command::PublishHazardous {
                full,
                redaction,
                reply,
            } => self.publish_hazardous(&full, &redaction, reply),
            Command::Released { target, reply } => {
                if let Err(job) = self.reader.submit(ReadJob::Released { target, reply })
                    && let ReadJob::Released { reply, .. } = *job
                {
                    let _ = reply.send(Err("the node is busy; try again".into()));
                }
            }
            Command::Audit { target, reply } => {
                if let Err(job) = self.reader.submit(ReadJob::Audit { target, reply })
                    && let ReadJob::Audit { reply, .. } = *job
                {
                    let _ = reply.send(Err("the node is busy; try again".into()));
                }
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::AddPeer { addr } => self.remember_address(addr),
            Command::OfferRoster { signed, reply } => {
                let result = match self.roster.apply_update(&signed) {
                    Err(e) => Err(e.to_string()),
                    Ok(_) => {
                        self.offer_roster(&signed);
                        if let Err(e) = self
                            .swarm
                            .behaviour_mut()
                            .gossip
                            .publish(self.topics.rosters.clone(), signed.to_bytes())
                        {
                            tracing::info!(error = %e, "roster update not gossiped now; peers fetch it by sync");
                        }
                        Ok(self.roster.version())
                    }
                };
                let _ = reply.send(result);
            }
            Command::SyncNow => self.sync_all(),
        }
    }

    fn status(&self) -> NodeStatus {
        let org_of = |key: &OrgKey| {
            self.roster
                .member(key)
                .map(|m| m.org.clone())
                .unwrap_or_else(|| key.to_hex())
        };
        let mut best: HashMap<OrgKey, u64> = HashMap::new();
        for state in self.peers.values() {
            for (author, seq) in &state.heads {
                let b = best.entry(*author).or_default();
                *b = (*b).max(*seq);
            }
        }
        let mut authors: Vec<AuthorStatus> = self
            .roster
            .doc()
            .members
            .iter()
            .map(|m| {
                let seq = self.chain.head(&m.signing_key).map_or(0, |(s, _)| s);
                let best_known_seq = best.get(&m.signing_key).copied().unwrap_or(0).max(seq);
                AuthorStatus {
                    org: m.org.clone(),
                    author: m.signing_key.to_hex(),
                    seq,
                    best_known_seq,
                    lag: best_known_seq - seq,
                }
            })
            .collect();
        authors.sort_by(|a, b| a.org.cmp(&b.org));
        let mut peers: Vec<PeerStatus> = self
            .peers
            .iter()
            .map(|(peer, state)| PeerStatus {
                peer_id: peer.to_string(),
                org: state.org.clone(),
                connected: state.connected,
                address: state.addrs.first().map(ToString::to_string),
            })
            .collect();
        peers.sort_by(|a, b| a.org.cmp(&b.org).then(a.peer_id.cmp(&b.peer_id)));
        let mut equivocations: Vec<(String, u64)> =
            self.known_proofs.iter().map(|(a, s)| (org_of(a), *s)).collect();
        equivocations.sort();
        NodeStatus {
            org: self.org.org.clone(),
            network: self.roster.network().to_string(),
            peer_id: self.peer_id.to_string(),
            listen: self.listen.iter().map(ToString::to_string).collect(),
            roster_version: self.roster.version(),
            roster_hash: self.roster.hash().to_hex(),
            peers,
            authors,
            entries: self.metrics.entries_stored.load(Ordering::Relaxed),
            pending: self.chain.pending_len() as u64,
            equivocations,
        }
    }
}
