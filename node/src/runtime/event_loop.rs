//! The event loop: a thin driver. One task owns the swarm, the protocol
//! state (roster, chain validator, the author's log, known proofs) and the
//! policy state machines of `policy/`. It turns swarm events, worker
//! results, handle commands and timer ticks into inputs of those machines
//! and of the protocol crate, and carries out what they return: swarm calls,
//! worker jobs, replies. Decisions (whom to dial, strike or fetch from, when
//! to retry, when to refuse for back-pressure) are made in `policy/`.

use super::hazard::{self, Received, ReleaseOut};
use super::policy::peers::{PeerAction, PeerBook, RateBudgets, Strike, roster_peers};
use super::policy::release::{Delivered, DeliveryToken, ReleaseDelivery, ReleaseSend};
use super::policy::sync::{Local, SyncOutput, SyncPlanner, SyncSend, SyncToken};
use super::policy::writes::{Batch, Intake, WriteBacklog};
use super::workers::{
    Ack, EVENT_QUEUE, ReadJob, SharedRoster, StoreReader, StoreWriter, VerifyJob, VerifyPool, WorkerEvent,
    WriteJob,
};
use super::{AuthorStatus, Command, NodeError, NodeStatus, PeerStatus, Refusal, StartError, now_ms};
use crate::config::NodeConfig;
use crate::metrics::Metrics;
use crate::net::{Behaviour, BehaviourEvent, Topics, build_swarm};
use crate::store::{ReleaseState, Store};
use futures::StreamExt;
use libp2p::gossipsub::{self, MessageAcceptance, PublishError};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, Message, OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId, Swarm};
use riskmesh_protocol::body::AccessDecisionBody;
use riskmesh_protocol::chain::Fork;
use riskmesh_protocol::delivery::DeliveryVerdict;
use riskmesh_protocol::entry::Envelope;
use riskmesh_protocol::keys::OrgSecrets;
use riskmesh_protocol::redaction::Redaction;
use riskmesh_protocol::roster::SignedRoster;
use riskmesh_protocol::sync::{Head, SyncRequest, SyncResponse};
use riskmesh_protocol::{
    Body, BulletinBody, ChainValidator, Draft, EntryId, EquivocationProof, Kind, LogWriter, OrgKey, Outcome,
    Roster, Tier, VerifiedEntry,
};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// How often timers drive the policies (redials, gap repair, retries).
const TICK: Duration = Duration::from_millis(250);

/// The protocol state the loop starts from.
pub(super) struct State {
    pub(super) shared_roster: SharedRoster,
    pub(super) chain: ChainValidator,
    pub(super) log: LogWriter,
    pub(super) known_proofs: HashSet<(OrgKey, u64)>,
}

/// The worker threads.
struct Workers {
    verify: VerifyPool,
    writer: StoreWriter,
    reader: StoreReader,
}

pub(super) struct EventLoop {
    swarm: Swarm<Behaviour>,
    topics: Topics,
    peer_id: PeerId,
    listen: Vec<Multiaddr>,
    org: Arc<OrgSecrets>,
    roster: Arc<Roster>,
    shared_roster: SharedRoster,
    chain: ChainValidator,
    log: LogWriter,
    known_proofs: HashSet<(OrgKey, u64)>,
    workers: Workers,
    events: mpsc::Receiver<WorkerEvent>,
    commands: mpsc::Receiver<Command>,
    shutdown: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
    peers: PeerBook,
    budgets: RateBudgets,
    sync: SyncPlanner,
    sync_ids: HashMap<OutboundRequestId, SyncToken>,
    sync_interval: Duration,
    releases: ReleaseDelivery,
    release_ids: HashMap<OutboundRequestId, DeliveryToken>,
    /// Accepted access entries not yet committed: entry id → the request to
    /// re-evaluate once it is. Bounded by the write backlog's admission.
    release_checks: HashMap<EntryId, EntryId>,
    backlog: WriteBacklog<WriteJob>,
    batch: Batch<VerifiedEntry, Ack>,
    fatal: Option<String>,
}

impl EventLoop {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn new(
        config: &NodeConfig,
        state: State,
        store: Store,
        reader: Store,
        metrics: Arc<Metrics>,
        commands: mpsc::Receiver<Command>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(Self, Vec<Multiaddr>), StartError> {
        let roster = super::workers::current(&state.shared_roster);
        let topics = Topics::new(roster.network());
        let network = |e: &dyn std::fmt::Display| StartError::Network(e.to_string());
        let mut swarm = build_swarm(&config.node_key, &topics).map_err(|e| network(&e))?;
        for topic in [&topics.entries, &topics.proofs, &topics.rosters] {
            swarm
                .behaviour_mut()
                .gossip
                .subscribe(topic)
                .map_err(|e| network(&e))?;
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
                    listen.push(address.with(Protocol::P2p(peer_id)))
                }
                Ok(SwarmEvent::ListenerError { error, .. }) => return Err(network(&error)),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        let threads = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
        let workers = Workers {
            verify: VerifyPool::start(threads, Arc::clone(&state.shared_roster), events_tx.clone()),
            writer: StoreWriter::start(store, events_tx.clone()),
            reader: StoreReader::start(
                reader,
                events_tx,
                Arc::clone(&state.shared_roster),
                Arc::clone(&config.org),
                Arc::clone(&metrics),
            ),
        };
        let mut this = EventLoop {
            swarm,
            topics,
            peer_id,
            listen: listen.clone(),
            org: Arc::clone(&config.org),
            roster,
            shared_roster: state.shared_roster,
            chain: state.chain,
            log: state.log,
            known_proofs: state.known_proofs,
            workers,
            events: events_rx,
            commands,
            shutdown,
            metrics,
            peers: PeerBook::new(),
            budgets: RateBudgets::new(config.author_rate_per_minute),
            sync: SyncPlanner::new(),
            sync_ids: HashMap::new(),
            sync_interval: config.sync_interval,
            releases: ReleaseDelivery::new(),
            release_ids: HashMap::new(),
            release_checks: HashMap::new(),
            backlog: WriteBacklog::new(),
            batch: Batch::new(),
            fatal: None,
        };
        this.apply_roster_peers();
        for addr in &config.bootstrap {
            this.remember_address(addr.clone());
        }
        Ok((this, listen))
    }

    pub(super) async fn run(mut self) -> Result<(), String> {
        let mut tick = tokio::time::interval(TICK);
        let mut sync_tick = tokio::time::interval(self.sync_interval);
        sync_tick.tick().await;
        // Requests granted while this node was down are delivered now.
        let _ = self.workers.reader.submit(ReadJob::ScanReleases);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm(event),
                Some(event) = self.events.recv() => self.on_worker(event),
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
                _ = tick.tick() => self.on_tick(Instant::now()),
                _ = sync_tick.tick() => {
                    for send in self.sync.round() {
                        self.send_sync(send);
                    }
                    let _ = self.workers.reader.submit(ReadJob::ScanReleases);
                }
                _ = self.shutdown.changed() => break,
            }
            let writer = &self.workers.writer;
            self.backlog.flush(|job| writer.submit(job).map_err(|b| *b));
            if self.fatal.is_some() {
                break;
            }
        }
        tracing::info!("shutting down: finishing in-flight commits");
        // Hand every waiting write to the writer before it stops.
        for mut job in self.backlog.drain() {
            while let Err(back) = self.workers.writer.submit(job) {
                job = *back;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        self.workers.verify.stop();
        self.workers.writer.stop();
        self.workers.reader.stop();
        self.fatal.map_or(Ok(()), Err)
    }

    // ----- peers -----

    fn do_peer_actions(&mut self, actions: Vec<PeerAction>) {
        for action in actions {
            match action {
                PeerAction::Allow(peer) => {
                    self.swarm.behaviour_mut().allow.allow_peer(peer);
                }
                PeerAction::Disallow(peer) => {
                    self.swarm.behaviour_mut().allow.disallow_peer(peer);
                }
                PeerAction::Dial { peer, addrs } => {
                    if let Err(e) = self.swarm.dial(DialOpts::peer_id(peer).addresses(addrs).build()) {
                        tracing::debug!(%peer, error = %e, "dial failed");
                    }
                }
            }
        }
    }

    /// Allows every roster node but this one and learns their addresses;
    /// nodes no longer on the roster lose their connection.
    fn apply_roster_peers(&mut self) {
        let actions = self
            .peers
            .set_roster(roster_peers(&self.roster, self.peer_id), Instant::now());
        self.do_peer_actions(actions);
    }

    fn remember_address(&mut self, addr: Multiaddr) {
        if let Err(e) = self.peers.remember_address(addr, Instant::now()) {
            tracing::warn!(error = %e, "ignoring peer address");
        }
    }

    /// Gives `peer` a strike; the peer policy decides about a ban.
    fn penalize(&mut self, peer: PeerId, why: &str) {
        self.metrics.penalties.fetch_add(1, Ordering::Relaxed);
        let (strike, action) = self.peers.strike(peer, Instant::now());
        let org = self.peers.org(&peer).unwrap_or("?").to_string();
        match strike {
            Strike::Counted(strikes) => tracing::warn!(%peer, %org, strikes, why, "peer penalized"),
            Strike::Banned(_) => tracing::warn!(%peer, %org, why, "peer banned"),
            Strike::Unknown => {}
        }
        self.do_peer_actions(action.into_iter().collect());
    }

    fn on_tick(&mut self, now: Instant) {
        let actions = self.peers.poll(now);
        self.do_peer_actions(actions);
        self.fetch_gaps();
        let sends = self.releases.poll(now, node_of(&self.roster, &self.peers));
        self.send_releases(sends);
        self.metrics
            .pending
            .store(self.chain.pending_len() as u64, Ordering::Relaxed);
    }

    fn on_swarm(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                if self.peers.connected(peer_id) {
                    let org = self.peers.org(&peer_id).unwrap_or("?");
                    tracing::info!(peer = %peer_id, %org, addr = %endpoint.get_remote_address(), "connected");
                    let ask = self.sync.peer_connected(peer_id);
                    self.send_sync(ask);
                    let sends = self
                        .releases
                        .attempt(Instant::now(), node_of(&self.roster, &self.peers));
                    self.send_releases(sends);
                }
                self.count_peers();
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                if self.peers.is_connected(&peer_id) {
                    tracing::info!(peer = %peer_id, org = self.peers.org(&peer_id).unwrap_or("?"), "disconnected");
                }
                self.peers.disconnected(peer_id, Instant::now());
                self.sync.peer_disconnected(&peer_id);
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

    fn count_peers(&self) {
        let n = self.peers.connected_peers().count();
        self.metrics.peers.store(n as u64, Ordering::Relaxed);
    }

    // ----- gossip -----

    fn report(&mut self, message_id: &gossipsub::MessageId, source: &PeerId, acceptance: MessageAcceptance) {
        self.swarm
            .behaviour_mut()
            .gossip
            .report_message_validation_result(message_id, source, acceptance);
    }

    fn on_gossip(&mut self, event: gossipsub::Event) {
        let gossipsub::Event::Message {
            propagation_source: source,
            message_id,
            message,
        } = event
        else {
            return;
        };
        self.metrics
            .gossip_bytes_in
            .fetch_add(message.data.len() as u64, Ordering::Relaxed);
        let ack = || Ack::Gossip {
            message_id: message_id.clone(),
            source,
        };
        let acceptance = if message.topic == self.topics.entries.hash() {
            // A cheap look at the envelope's kid lets the rate limit act
            // before the expensive signature check.
            let author = riskmesh_protocol::WireEntry::from_bytes(&message.data)
                .ok()
                .and_then(|w| Envelope::parse(&w.envelope).ok().map(|e| e.kid));
            if let Some(author) = author
                && self.roster.member(&author).is_some()
                && !self.budgets.take(author, Instant::now())
            {
                self.metrics.ignore("rate_limited");
                Some(MessageAcceptance::Ignore)
            } else if !self.backlog.admits(Intake::Network) {
                self.metrics.ignore("write_backlog");
                Some(MessageAcceptance::Ignore)
            } else {
                let job = VerifyJob::Gossip {
                    data: message.data,
                    message_id: message_id.clone(),
                    source,
                };
                match self.workers.verify.submit(job) {
                    Ok(()) => None,
                    Err(_) => {
                        self.metrics.ignore("verify_queue_full");
                        Some(MessageAcceptance::Ignore)
                    }
                }
            }
        } else if message.topic == self.topics.proofs.hash() {
            match EquivocationProof::from_bytes(&message.data) {
                Ok(proof) => self.offer_proof(proof, vec![ack()]),
                Err(_) => Some(MessageAcceptance::Reject),
            }
        } else if message.topic == self.topics.rosters.hash() {
            match SignedRoster::from_bytes(&message.data) {
                Ok(signed) => self.offer_roster(&signed, vec![ack()]),
                Err(_) => Some(MessageAcceptance::Reject),
            }
        } else {
            Some(MessageAcceptance::Reject)
        };
        if let Some(acceptance) = acceptance {
            self.report(&message_id, &source, acceptance);
        }
    }

    fn publish_gossip(&mut self, topic: &gossipsub::IdentTopic, bytes: Vec<u8>, what: &str) {
        let len = bytes.len() as u64;
        match self.swarm.behaviour_mut().gossip.publish(topic.clone(), bytes) {
            Ok(_) => {
                self.metrics.gossip_bytes_out.fetch_add(len, Ordering::Relaxed);
            }
            Err(PublishError::NoPeersSubscribedToTopic | PublishError::AllQueuesFull(_)) => {
                tracing::info!(what, "no peers now; it goes out by sync when they return");
            }
            Err(PublishError::Duplicate) => {}
            Err(e) => tracing::warn!(what, error = %e, "gossip publish failed; peers fetch it by sync"),
        }
    }

    // ----- protocol state -----

    /// Applies a roster update if it is the next version with a quorum.
    /// `acks` run once it is committed; returns the acceptance to report
    /// now, or `None` when it is reported after the commit.
    fn offer_roster(&mut self, signed: &SignedRoster, acks: Vec<Ack>) -> Option<MessageAcceptance> {
        let Ok(doc) = signed.document() else {
            return Some(MessageAcceptance::Reject);
        };
        if doc.version != self.roster.version() + 1 {
            // Known, or later than the next (fetched by sync first).
            return Some(MessageAcceptance::Ignore);
        }
        if !self.backlog.admits(Intake::Local) {
            return Some(MessageAcceptance::Ignore);
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
                self.write(WriteJob::Roster { roster: next, acks });
                self.apply_roster_peers();
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "roster update refused");
                self.metrics.reject("bad_roster");
                Some(MessageAcceptance::Reject)
            }
        }
    }

    /// Keeps a verified equivocation proof; `acks` run once it is committed.
    fn offer_proof(&mut self, proof: EquivocationProof, acks: Vec<Ack>) -> Option<MessageAcceptance> {
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
            let org = self
                .roster
                .member(&author)
                .map(|m| m.org.clone())
                .unwrap_or_default();
            tracing::warn!(%org, seq, "EQUIVOCATION: author signed two different entries at the same seq");
            self.write(WriteJob::Equivocation {
                author,
                seq,
                proof,
                acks,
            });
        }
    }

    /// Runs an entry through the chain validator; accepted entries go to the
    /// writer with `acks`. Returns the gossip acceptance to report now, or
    /// `None` if it is reported after the commit.
    fn ingest(&mut self, entry: VerifiedEntry, acks: Vec<Ack>) -> Option<MessageAcceptance> {
        let report = self.chain.ingest(entry, now_ms());
        match report.fork {
            Some(Fork::Proven(proof)) => {
                if let Ok((author, seq)) = proof.verify(&self.roster) {
                    self.store_proof(author, seq, proof, Vec::new());
                }
            }
            Some(Fork::WithAccepted { existing, incoming }) => {
                let _ = self.workers.reader.submit(ReadJob::ForkEvidence {
                    existing,
                    incoming: Box::new(incoming),
                });
            }
            None => {}
        }
        for entry in &report.accepted {
            self.note_access(entry);
        }
        self.metrics
            .accepted
            .fetch_add(report.accepted.len() as u64, Ordering::Relaxed);
        match report.outcome {
            Outcome::Accept => {
                if let Some((entries, acks)) = self.batch.add(report.accepted, acks) {
                    self.write(WriteJob::Entries { entries, acks });
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

    /// Ingests many entries as one write job.
    fn ingest_batch(&mut self, f: impl FnOnce(&mut Self)) {
        self.batch.begin();
        f(self);
        if let Some((entries, acks)) = self.batch.end() {
            self.write(WriteJob::Entries { entries, acks });
        }
    }

    fn write(&mut self, job: WriteJob) {
        let writer = &self.workers.writer;
        self.backlog.push(job, |job| writer.submit(job).map_err(|b| *b));
    }

    /// Remembers access entries so the release policy is re-evaluated once
    /// they are committed.
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
            _ => {}
        }
    }

    // ----- workers -----

    fn on_worker(&mut self, event: WorkerEvent) {
        match event {
            WorkerEvent::GossipVerified {
                result,
                message_id,
                source,
            } => {
                let acceptance = match result {
                    Err(reason) => {
                        tracing::debug!(%source, reason = %reason, "gossip entry rejected");
                        self.metrics.reject(reason.name());
                        Some(MessageAcceptance::Reject)
                    }
                    Ok(_) if !self.backlog.admits(Intake::Network) => {
                        self.metrics.ignore("write_backlog");
                        Some(MessageAcceptance::Ignore)
                    }
                    Ok(entry) => {
                        let acks = vec![Ack::Gossip {
                            message_id: message_id.clone(),
                            source,
                        }];
                        self.ingest(entry, acks)
                    }
                };
                if let Some(acceptance) = acceptance {
                    self.report(&message_id, &source, acceptance);
                }
            }
            WorkerEvent::RangeVerified {
                peer, author, result, ..
            } => {
                self.sync.range_done(&author);
                match result {
                    Err(why) => {
                        self.metrics.reject("bad_sync_entry");
                        self.penalize(peer, &format!("range response: {why}"));
                    }
                    // The writer is behind: fetch the range again later.
                    Ok(_) if !self.backlog.admits(Intake::Network) => self.metrics.ignore("write_backlog"),
                    Ok(entries) => self.ingest_batch(|this| {
                        for entry in entries {
                            let _ = this.ingest(entry, Vec::new());
                        }
                    }),
                }
                self.fetch_gaps();
            }
            WorkerEvent::Written {
                inserted,
                acks,
                new_equivocation,
            } => self.on_written(&inserted, acks, new_equivocation),
            WorkerEvent::Respond { channel, bytes } => self.respond_sync(channel, bytes),
            WorkerEvent::ForkEvidence { existing, incoming } => {
                if let Some(existing) = existing
                    && let Ok(existing) = riskmesh_protocol::verify_entry(&self.roster, &existing, None)
                    && let Ok(proof) = EquivocationProof::new(&existing, &incoming)
                {
                    let h = incoming.header();
                    self.store_proof(h.author, h.seq, proof, Vec::new());
                }
            }
            // One write job for everything the batch accepts.
            WorkerEvent::Many(events) => self.ingest_batch(|this| {
                for event in events {
                    this.on_worker(event);
                }
            }),
            WorkerEvent::ReleaseReady(out) => self.release_ready(*out),
            WorkerEvent::ReleaseReceived { channel, received } => self.release_received(channel, received),
            WorkerEvent::StoreFailed(error) => {
                tracing::error!(%error, "store failed; stopping the node");
                self.fatal = Some(format!("store failed: {error}"));
            }
        }
    }

    /// After a commit: acknowledgements go out, requests whose access
    /// entries just landed are re-evaluated, a new proof is gossiped.
    fn on_written(
        &mut self,
        inserted: &[crate::store::Inserted],
        acks: Vec<Ack>,
        new_equivocation: Option<(OrgKey, u64, EquivocationProof)>,
    ) {
        let new = inserted.iter().filter(|i| i.is_new()).count() as u64;
        self.metrics.entries_stored.fetch_add(new, Ordering::Relaxed);
        for i in inserted {
            if let Some(request) = self.release_checks.remove(&i.id) {
                let _ = self.workers.reader.submit(ReadJob::PrepareRelease { request });
            }
        }
        for ack in acks {
            match ack {
                Ack::Gossip { message_id, source } => {
                    self.report(&message_id, &source, MessageAcceptance::Accept)
                }
                Ack::Publish { entry, reply } => {
                    self.metrics.published.fetch_add(1, Ordering::Relaxed);
                    let topic = self.topics.entries.clone();
                    self.publish_gossip(&topic, entry.to_wire().to_bytes(), "entry");
                    let _ = reply.send(Ok(entry));
                }
                Ack::Verdict { channel, verdict } => {
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .release
                        .send_response(channel, verdict.to_bytes());
                }
                Ack::RosterApplied {
                    bytes,
                    version,
                    reply,
                } => {
                    let topic = self.topics.rosters.clone();
                    self.publish_gossip(&topic, bytes, "roster update");
                    let _ = reply.send(Ok(version));
                }
            }
        }
        if let Some((_, _, proof)) = new_equivocation {
            self.metrics.equivocations.fetch_add(1, Ordering::Relaxed);
            let topic = self.topics.proofs.clone();
            self.publish_gossip(&topic, proof.to_bytes(), "equivocation proof");
        }
    }

    // ----- sync -----

    fn send_sync(&mut self, send: SyncSend) {
        let SyncSend { token, peer, request } = send;
        let id = self
            .swarm
            .behaviour_mut()
            .sync
            .send_request(&peer, request.to_bytes());
        self.metrics.sync_requests_out.fetch_add(1, Ordering::Relaxed);
        self.sync_ids.insert(id, token);
    }

    fn respond_sync(&mut self, channel: ResponseChannel<Vec<u8>>, bytes: Vec<u8>) {
        self.metrics
            .sync_bytes_out
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let _ = self.swarm.behaviour_mut().sync.send_response(channel, bytes);
    }

    fn fetch_gaps(&mut self) {
        let local = Local {
            chain: &self.chain,
            roster_version: self.roster.version(),
            known_proofs: &self.known_proofs,
        };
        let (sends, lag) = self.sync.fetch_gaps(local, self.backlog.fetch_paused());
        self.metrics.sync_lag.store(lag, Ordering::Relaxed);
        for send in sends {
            self.send_sync(send);
        }
    }

    fn on_sync(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        match event {
            request_response::Event::Message {
                peer,
                message: Message::Request { request, channel, .. },
                ..
            } => {
                self.metrics.sync_requests_in.fetch_add(1, Ordering::Relaxed);
                // An empty request is a stream the sender abandoned (a
                // timeout under load), not a malformed message: no strike.
                if request.is_empty() {
                    return self
                        .respond_sync(channel, SyncResponse::Refused("empty request".into()).to_bytes());
                }
                match SyncRequest::from_bytes(&request) {
                    Ok(request) => self.serve(request, channel),
                    Err(e) => {
                        self.penalize(peer, "malformed sync request");
                        self.respond_sync(channel, SyncResponse::Refused(e.to_string()).to_bytes());
                    }
                }
            }
            request_response::Event::Message {
                message: Message::Response { request_id, response },
                ..
            } => {
                self.metrics
                    .sync_bytes_in
                    .fetch_add(response.len() as u64, Ordering::Relaxed);
                let Some(token) = self.sync_ids.remove(&request_id) else {
                    return;
                };
                let local = Local {
                    chain: &self.chain,
                    roster_version: self.roster.version(),
                    known_proofs: &self.known_proofs,
                };
                let outputs = self.sync.on_response(token, &response, local);
                self.on_sync_outputs(outputs);
                self.fetch_gaps();
            }
            request_response::Event::OutboundFailure {
                request_id,
                peer,
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "sync request failed");
                if let Some(token) = self.sync_ids.remove(&request_id) {
                    self.sync.failed(token);
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "serving a sync request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn on_sync_outputs(&mut self, outputs: Vec<SyncOutput>) {
        for output in outputs {
            match output {
                SyncOutput::Send(send) => self.send_sync(send),
                SyncOutput::Verify {
                    peer,
                    author,
                    from_seq,
                    entries,
                } => {
                    let job = VerifyJob::Range {
                        peer,
                        author,
                        from_seq,
                        entries,
                    };
                    if self.workers.verify.submit(job).is_err() {
                        self.sync.range_done(&author);
                    }
                }
                SyncOutput::Rosters { peer, rosters } => {
                    for bytes in rosters {
                        let refused = match SignedRoster::from_bytes(&bytes) {
                            Ok(signed) => {
                                self.offer_roster(&signed, Vec::new()) == Some(MessageAcceptance::Reject)
                            }
                            Err(_) => true,
                        };
                        if refused {
                            self.penalize(peer, "invalid roster in sync response");
                            break;
                        }
                    }
                }
                SyncOutput::Proofs { peer, proofs } => {
                    for proof in proofs {
                        if self.offer_proof(proof, Vec::new()) == Some(MessageAcceptance::Reject) {
                            self.penalize(peer, "invalid equivocation proof in sync response");
                            break;
                        }
                    }
                }
                SyncOutput::Strike { peer, why } => {
                    self.metrics.reject("bad_sync_response");
                    self.penalize(peer, &why);
                }
            }
        }
    }

    fn serve(&mut self, request: SyncRequest, channel: ResponseChannel<Vec<u8>>) {
        let job = match request {
            SyncRequest::Heads => {
                let mut heads: Vec<Head> = self
                    .chain
                    .heads()
                    .map(|(author, seq, id)| Head { author, seq, id })
                    .collect();
                heads.sort_by_key(|h| h.author);
                let response = SyncResponse::Heads {
                    heads,
                    roster_version: self.roster.version(),
                    proofs: self.known_proofs.len() as u64,
                };
                return self.respond_sync(channel, response.to_bytes());
            }
            SyncRequest::Range {
                author,
                from_seq,
                count,
            } => ReadJob::Range {
                channel,
                author,
                from_seq,
                count,
            },
            SyncRequest::Rosters { after_version } => ReadJob::Rosters {
                channel,
                after_version,
            },
            SyncRequest::Proofs { skip } => ReadJob::Proofs { channel, skip },
        };
        if let Err(job) = self.workers.reader.submit(job)
            && let ReadJob::Range { channel, .. }
            | ReadJob::Rosters { channel, .. }
            | ReadJob::Proofs { channel, .. } = *job
        {
            // Overloaded: answer with a refusal rather than queue without bound.
            self.respond_sync(channel, SyncResponse::Refused("busy".into()).to_bytes());
        }
    }

    // ----- hazardous releases -----

    fn send_releases(&mut self, sends: Vec<ReleaseSend>) {
        for ReleaseSend { token, peer, sealed } in sends {
            let id = self.swarm.behaviour_mut().release.send_request(&peer, sealed);
            self.release_ids.insert(id, token);
        }
    }

    fn release_ready(&mut self, out: ReleaseOut) {
        let request = out.request;
        if self.releases.ready(out) {
            tracing::info!(request = %super::short(&request), "release granted; delivering to the requester's node");
            let sends = self
                .releases
                .attempt(Instant::now(), node_of(&self.roster, &self.peers));
            self.send_releases(sends);
        }
    }

    fn on_release(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        match event {
            request_response::Event::Message {
                peer,
                message: Message::Request { request, channel, .. },
                ..
            } => {
                tracing::info!(%peer, "release received; verifying against the commitments");
                let job = ReadJob::ReceiveRelease {
                    channel,
                    bytes: request,
                };
                if let Err(job) = self.workers.reader.submit(job)
                    && let ReadJob::ReceiveRelease { channel, .. } = *job
                {
                    let busy = DeliveryVerdict::Refused("busy".into());
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .release
                        .send_response(channel, busy.to_bytes());
                }
            }
            request_response::Event::Message {
                message: Message::Response { request_id, response },
                ..
            } => {
                let Some(token) = self.release_ids.remove(&request_id) else {
                    return;
                };
                let verdict = DeliveryVerdict::from_bytes(&response);
                let (request, target, fault) = match self.releases.on_verdict(token, verdict.clone()) {
                    None => {
                        tracing::debug!(?verdict, "release refused; will retry");
                        return;
                    }
                    Some(Delivered::GaveUp { request, why }) => {
                        tracing::error!(request = %super::short(&request), %why, "release given up: the requester's node keeps refusing it");
                        self.metrics.ignore("release_given_up");
                        return;
                    }
                    Some(Delivered::Sent { request, target }) => (request, target, false),
                    Some(Delivered::Mismatch { request, target }) => (request, target, true),
                };
                if fault {
                    tracing::error!(request = %super::short(&request), "the requester reports our release does not match our commitments");
                }
                self.write(WriteJob::Release {
                    request,
                    target,
                    state: ReleaseState::Sent,
                    evidence: None,
                    acks: Vec::new(),
                });
            }
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                tracing::debug!(%error, "release delivery failed; will retry");
                if let Some(token) = self.release_ids.remove(&request_id) {
                    self.releases.on_failure(token);
                }
            }
            _ => {}
        }
    }

    /// A release sent to us was checked: store and answer. The verdict is
    /// sent only after what it acknowledges is committed.
    fn release_received(&mut self, channel: ResponseChannel<Vec<u8>>, received: Received) {
        let refuse = |this: &mut Self, channel, why: String| {
            let verdict = DeliveryVerdict::Refused(why).to_bytes();
            let _ = this.swarm.behaviour_mut().release.send_response(channel, verdict);
        };
        if !matches!(received, Received::Refused(_)) && !self.backlog.admits(Intake::Local) {
            return refuse(self, channel, "busy".into());
        }
        match received {
            Received::Accepted {
                request,
                target,
                sealed,
                receipt,
            } => {
                tracing::info!(target = %super::short(&target), "released fields verified against the commitments; publishing the receipt");
                let verdict = Ack::Verdict {
                    channel,
                    verdict: DeliveryVerdict::Accepted,
                };
                let receipt = self
                    .log
                    .append(&self.org.signing, &self.roster, &receipt, now_ms());
                if let Err(reason) = &receipt {
                    tracing::error!(%reason, "our log refused the access receipt; the release is kept without one");
                }
                // The verdict rides on the last write: the receipt if there
                // is one, else the release record.
                let (record_acks, receipt_acks) = match receipt {
                    Ok(_) => (Vec::new(), vec![verdict]),
                    Err(_) => (vec![verdict], Vec::new()),
                };
                self.write(WriteJob::Withheld { target, sealed });
                self.write(WriteJob::Release {
                    request,
                    target,
                    state: ReleaseState::Received,
                    evidence: None,
                    acks: record_acks,
                });
                if let Ok(entry) = receipt {
                    let (reply, _) = oneshot::channel();
                    self.commit_own(entry, reply, receipt_acks);
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
                self.write(WriteJob::Release {
                    request,
                    target,
                    state: ReleaseState::Fault,
                    evidence: Some(evidence),
                    acks: vec![Ack::Verdict {
                        channel,
                        verdict: DeliveryVerdict::Mismatch,
                    }],
                });
            }
            Received::Refused(why) => {
                tracing::debug!(%why, "release refused");
                refuse(self, channel, why);
            }
        }
    }

    // ----- commands -----

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { draft, reply } => {
                if !self.backlog.admits(Intake::Local) {
                    let _ = reply.send(Err(NodeError::Busy));
                } else {
                    self.publish_draft(&draft, reply);
                }
            }
            Command::PublishHazardous {
                full,
                redaction,
                reply,
            } => {
                if !self.backlog.admits(Intake::Local) {
                    let _ = reply.send(Err(NodeError::Busy));
                } else {
                    self.publish_hazardous(&full, &redaction, reply);
                }
            }
            Command::Released { target, reply } => {
                if let Err(job) = self.workers.reader.submit(ReadJob::Released { target, reply })
                    && let ReadJob::Released { reply, .. } = *job
                {
                    let _ = reply.send(Err(NodeError::Busy));
                }
            }
            Command::Audit { target, reply } => {
                if let Err(job) = self.workers.reader.submit(ReadJob::Audit { target, reply })
                    && let ReadJob::Audit { reply, .. } = *job
                {
                    let _ = reply.send(Err(NodeError::Busy));
                }
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::AddPeer { addr } => self.remember_address(addr),
            Command::OfferRoster { signed, reply } => {
                if let Err(e) = self.roster.apply_update(&signed) {
                    let _ = reply.send(Err(NodeError::Refused(Refusal::Roster(e))));
                    return;
                }
                if !self.backlog.admits(Intake::Local) {
                    let _ = reply.send(Err(NodeError::Busy));
                    return;
                }
                let ack = Ack::RosterApplied {
                    bytes: signed.to_bytes(),
                    version: self.roster.version() + 1,
                    reply,
                };
                // A valid next version with room to write: applied, and
                // answered after the commit.
                let _ = self.offer_roster(&signed, vec![ack]);
            }
            Command::SyncNow => {
                for send in self.sync.round() {
                    self.send_sync(send);
                }
            }
        }
    }

    /// Redacts a finding, seals the withheld fields to ourselves, publishes
    /// the redacted entry; the writer commits the sealed fields first.
    fn publish_hazardous(
        &mut self,
        full: &BulletinBody,
        redaction: &Redaction,
        reply: oneshot::Sender<Result<VerifiedEntry, NodeError>>,
    ) {
        let salts: [[u8; 32]; 5] = rand::random();
        let (redacted, reveals) = riskmesh_protocol::redaction::redact(full, redaction, &salts);
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
        match self.log.append(&self.org.signing, &self.roster, &draft, now_ms()) {
            Ok(entry) => {
                self.write(WriteJob::Withheld {
                    target: entry.id(),
                    sealed,
                });
                self.commit_own(entry, reply, Vec::new());
            }
            Err(reason) => {
                let _ = reply.send(Err(NodeError::Refused(Refusal::Entry(reason))));
            }
        }
    }

    /// Signs and commits a draft of this organization (API, receipts); the
    /// reply, `extra` acks and the gossip follow the commit.
    fn publish_draft(&mut self, draft: &Draft, reply: oneshot::Sender<Result<VerifiedEntry, NodeError>>) {
        match self.log.append(&self.org.signing, &self.roster, draft, now_ms()) {
            Ok(entry) => self.commit_own(entry, reply, Vec::new()),
            Err(reason) => {
                let _ = reply.send(Err(NodeError::Refused(Refusal::Entry(reason))));
            }
        }
    }

    /// Runs an own, freshly signed entry through the chain and the writer;
    /// the reply and the gossip happen after the commit.
    fn commit_own(
        &mut self,
        entry: VerifiedEntry,
        reply: oneshot::Sender<Result<VerifiedEntry, NodeError>>,
        extra: Vec<Ack>,
    ) {
        let report = self.chain.ingest(entry.clone(), now_ms());
        if report.outcome != Outcome::Accept {
            let why = format!("own entry not accepted: {:?}", report.outcome);
            let _ = reply.send(Err(NodeError::Internal(why)));
            self.fatal = Some("own log out of step with the store".into());
            return;
        }
        self.note_access(&entry);
        self.metrics.accepted.fetch_add(1, Ordering::Relaxed);
        let mut acks = vec![Ack::Publish { entry, reply }];
        acks.extend(extra);
        self.write(WriteJob::Entries {
            entries: report.accepted,
            acks,
        });
    }

    fn status(&self) -> NodeStatus {
        let best = self.sync.best_known();
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
        let peers = self
            .peers
            .view()
            .into_iter()
            .map(|p| PeerStatus {
                peer_id: p.peer.to_string(),
                org: p.org,
                connected: p.connected,
                address: p.address.map(|a| a.to_string()),
            })
            .collect();
        let org_of = |key: &OrgKey| {
            self.roster
                .member(key)
                .map_or_else(|| key.to_hex(), |m| m.org.clone())
        };
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

/// A connected node of the organization with signing key `requester`.
fn node_of<'a>(roster: &'a Roster, peers: &'a PeerBook) -> impl Fn(&OrgKey) -> Option<PeerId> + 'a {
    move |requester| peers.connected_node_of(&roster.member(requester)?.org)
}
