//! The event loop: a thin driver. One task owns the swarm, the protocol
//! state (roster, chain validator, the author's log, known proofs) and the
//! policy state machines of `policy/`. It turns swarm events, worker
//! results, handle commands and timer ticks into inputs of those machines
//! and of the protocol crate, and carries out what they return: swarm calls,
//! worker jobs, replies. Decisions (whom to dial, strike or fetch from, when
//! to retry, when to refuse for back-pressure) are made in `policy/`.

use super::hazard::{Received, ReleaseOut};
use super::ledger::{Effect, Ledger};
use super::policy;
use super::policy::peers::{DEMAND_FOR, PeerBook, RateBudgets, Strike, roster_peers};
use super::policy::release::{Delivered, ReleaseDelivery};
use super::policy::storage::{DiskSpace, StorageBudget, StorageRefusal, entry_bytes};
use super::policy::sync::{SyncOutput, SyncPlanner};
use super::policy::writes::{Intake, WriteBacklog};
use super::swarm_io::{SwarmIo, Topic};
use super::workers::{Ack, ReadJob, VerifyJob, WorkerEvent, Workers, WriteJob};
use super::{Command, NodeError, NodeStatus, PeerStatus, Refusal, now_ms};
use crate::config::NodeConfig;
use crate::metrics::Metrics;
use crate::net::BehaviourEvent;
use crate::plaintext::Zeroizing;
use crate::store::ReleaseState;
use libp2p::gossipsub::{self, MessageAcceptance};
use libp2p::request_response::{self, Message, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId};
use riskmesh_protocol::chain::Position;
use riskmesh_protocol::delivery::DeliveryVerdict;
use riskmesh_protocol::entry::Envelope;
use riskmesh_protocol::limits::MAX_ENVELOPE_BYTES;
use riskmesh_protocol::roster::SignedRoster;
use riskmesh_protocol::sync::{SyncRequest, SyncResponse};
use riskmesh_protocol::{EquivocationProof, OrgKey, Roster, VerifiedEntry};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Out-of-order gossip entries waiting to be verified.
const DEFERRED_VERIFY: usize = 512;
/// Verification jobs in flight below which deferred ones are submitted.
const VERIFY_LOW_WATER: usize = 2;
/// Gossip entries up to this size are verified on the loop itself when the
/// pool is idle (a bulletin is a few hundred bytes; the largest entry, 260
/// KiB, always goes to the pool).
const INLINE_VERIFY_BYTES: usize = 16 * 1024;
/// How often free disk space is read.
const DISK_READ_INTERVAL: Duration = Duration::from_secs(5);

pub(super) struct EventLoop {
    io: SwarmIo,
    org: String,
    ledger: Ledger,
    workers: Workers,
    events: mpsc::Receiver<WorkerEvent>,
    commands: mpsc::Receiver<Command>,
    shutdown: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
    peers: PeerBook,
    budgets: RateBudgets,
    storage: StorageBudget,
    data_dir: std::path::PathBuf,
    /// When free disk space was last read.
    disk_read: Option<Instant>,
    sync: SyncPlanner,
    sync_interval: Duration,
    releases: ReleaseDelivery,
    backlog: WriteBacklog<WriteJob>,
    /// Gossiped entries that would wait in the gap queue, verified when the
    /// pool is nearly idle.
    // bounded: DEFERRED_VERIFY (checked before every push).
    deferred: VecDeque<VerifyJob>,
    /// Verification jobs submitted and not yet answered.
    verifying: usize,
    /// When the policies' timers last ran (`on_tick`).
    last_tick: Instant,
    fatal: Option<String>,
}

impl EventLoop {
    /// A loop over started parts; it dials the roster's nodes and the
    /// configured bootstrap addresses once it runs.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        config: &NodeConfig,
        io: SwarmIo,
        ledger: Ledger,
        storage: StorageBudget,
        workers: Workers,
        events: mpsc::Receiver<WorkerEvent>,
        metrics: Arc<Metrics>,
        commands: mpsc::Receiver<Command>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let local = io.peer_id();
        let mut this = EventLoop {
            io,
            org: config.org.org.clone(),
            ledger,
            workers,
            events,
            commands,
            shutdown,
            metrics,
            peers: {
                let mut book = PeerBook::bounded(local, config.dial_peers, rand::random());
                book.pin_orgs(&config.pinned_orgs);
                book
            },
            budgets: RateBudgets::new(config.author_rate_per_minute),
            storage,
            data_dir: config.data_dir.clone(),
            disk_read: None,
            sync: SyncPlanner::with_rounds(config.sync_interval, rand::random()),
            sync_interval: config.sync_interval,
            releases: ReleaseDelivery::new(),
            backlog: WriteBacklog::new(),
            // bounded: DEFERRED_VERIFY.
            deferred: VecDeque::new(),
            verifying: 0,
            last_tick: Instant::now(),
            fatal: None,
        };
        this.apply_roster_peers();
        for addr in &config.bootstrap {
            this.remember_address(addr.clone());
        }
        this
    }

    pub(super) async fn run(mut self) -> Result<(), String> {
        // The policies' timers: run at once, then when `next_tick` says.
        let tick = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(tick);
        // Periodic sync rounds are the planner's (jittered, on the tick);
        // this interval only looks for granted releases to deliver.
        let mut scan_tick = tokio::time::interval(self.sync_interval);
        scan_tick.tick().await;
        // Requests granted while this node was down are delivered now.
        let _ = self.workers.reader.submit(ReadJob::ScanReleases);
        loop {
            tokio::select! {
                event = self.io.next() => self.on_swarm(event),
                Some(event) = self.events.recv() => self.on_worker(event),
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
                () = &mut tick => {
                    let now = Instant::now();
                    self.on_tick(now);
                    self.last_tick = now;
                }
                _ = scan_tick.tick() => {
                    let _ = self.workers.reader.submit(ReadJob::ScanReleases);
                }
                _ = self.shutdown.changed() => break,
            }
            // Whatever the ledger decided while handling the event.
            self.apply();
            while self.verifying < VERIFY_LOW_WATER
                && let Some(job) = self.deferred.pop_front()
            {
                self.verify(job);
            }
            self.metrics
                .releases_pending
                .store(self.releases.len() as u64, Ordering::Relaxed);
            self.metrics
                .pending
                .store(self.ledger.pending_len() as u64, Ordering::Relaxed);
            let writer = &self.workers.writer;
            self.backlog.flush(|job| writer.submit(job).map_err(|b| *b));
            if self.fatal.is_some() {
                break;
            }
            let next = tokio::time::Instant::from_std(self.next_tick());
            if next != tick.deadline() {
                tick.as_mut().reset(next);
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
        self.workers.stop();
        self.fatal.map_or(Ok(()), Err)
    }

    // ----- peers -----

    /// Allows every roster node but this one and learns their addresses;
    /// nodes no longer on the roster lose their connection.
    fn apply_roster_peers(&mut self) {
        let actions = self.peers.set_roster(
            roster_peers(self.ledger.roster(), self.io.peer_id()),
            Instant::now(),
        );
        self.io.peer_actions(actions);
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
        self.io.peer_actions(action.into_iter().collect());
    }

    /// Why `entry` cannot be stored here (its author's budget, counting
    /// `taken` bytes not yet recorded, or the disk floor), counted in the
    /// metrics; `None` if it can.
    fn no_room(&self, entry: &VerifiedEntry, taken: u64) -> Option<StorageRefusal> {
        let author = entry.header().author;
        let role = self.ledger.roster().role_of(&author)?;
        let refusal = self
            .storage
            .admit(author, role, taken + entry_bytes(entry))
            .err()?;
        let counter = match refusal {
            StorageRefusal::DiskFloor { .. } => &self.metrics.disk_floor_refusals,
            _ => &self.metrics.storage_budget_refusals,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.metrics.ignore(refusal.name());
        Some(refusal)
    }

    /// Reads free disk space now and then, and refreshes the stored-bytes
    /// gauges.
    fn watch_storage(&mut self, now: Instant) {
        if self
            .disk_read
            .is_some_and(|t| now.saturating_duration_since(t) < DISK_READ_INTERVAL)
        {
            return;
        }
        self.disk_read = Some(now);
        match rustix::fs::statvfs(&self.data_dir) {
            Ok(fs) => self.storage.free_disk(DiskSpace {
                available: fs.f_bavail.saturating_mul(fs.f_frsize),
                total: fs.f_blocks.saturating_mul(fs.f_frsize),
            }),
            Err(e) => tracing::warn!(error = %e, "cannot read free disk space"),
        }
        let roster = self.ledger.roster();
        let totals = self.storage.totals_by_role(|k| roster.role_of(k));
        self.metrics
            .stored_bytes_members
            .store(totals.members, Ordering::Relaxed);
        self.metrics
            .stored_bytes_observers
            .store(totals.observers, Ordering::Relaxed);
        self.metrics
            .stored_bytes_former
            .store(totals.former, Ordering::Relaxed);
    }

    /// Whether this organization may store one more entry of its own (an
    /// envelope's worth is assumed; bodies are checked by size at the API).
    fn own_room(&self) -> Result<(), StorageRefusal> {
        let me = self.ledger.own_key();
        match self.ledger.roster().member(&me) {
            Some(m) => self.storage.admit(me, m.role, MAX_ENVELOPE_BYTES as u64),
            None => Ok(()),
        }
    }

    fn on_tick(&mut self, now: Instant) {
        self.watch_storage(now);
        let actions = self.peers.poll(now);
        self.io.peer_actions(actions);
        self.sync.expire(now);
        if self.sync.round_due(now) {
            let digest = self.ledger.digest();
            for send in self.sync.round(digest, now) {
                self.io.send_sync(send);
            }
        }
        self.fetch_gaps();
        // A release must reach its requester's node, which a bounded peer
        // set may not hold: dial one on demand.
        for requester in self.releases.waiting_requesters() {
            let roster = self.ledger.roster();
            let Some(member) = roster.member(&requester) else {
                continue;
            };
            if self.peers.connected_node_of(&member.org).is_none() {
                for node in &member.nodes {
                    if let Ok(peer) = PeerId::from_bytes(&node.0) {
                        self.peers.demand(peer, now + DEMAND_FOR);
                    }
                }
            }
        }
        let sends = self
            .releases
            .poll(now, node_of(self.ledger.roster(), &self.peers));
        self.io.send_releases(sends);
    }

    /// When `on_tick` next runs ([`policy::next_tick`]): soon while a gap,
    /// a held-out entry, a release or a paused fetch waits on it; else at
    /// the peer book's, the sync planner's or the releases' next wake-up.
    fn next_tick(&self) -> Instant {
        let busy = self.sync.repairing()
            || self.ledger.pending_len() > 0
            || self.backlog.fetch_paused()
            || !self.releases.is_empty();
        policy::next_tick(
            self.last_tick,
            busy,
            [
                self.peers.next_poll(Instant::now()),
                self.sync.next_wakeup(),
                self.releases.next_wakeup(),
            ],
        )
    }

    fn on_swarm(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                if self.peers.connected(peer_id) {
                    let org = self.peers.org(&peer_id).unwrap_or("?");
                    tracing::info!(peer = %peer_id, %org, addr = %endpoint.get_remote_address(), "connected");
                    let ask = self
                        .sync
                        .peer_connected(peer_id, self.ledger.digest(), Instant::now());
                    self.io.send_sync(ask);
                    let sends = self
                        .releases
                        .attempt(Instant::now(), node_of(self.ledger.roster(), &self.peers));
                    self.io.send_releases(sends);
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
        let topic = self.io.topic(&message.topic);
        let message_len = message.data.len();
        let acceptance = if topic == Some(Topic::Entries) {
            // A cheap, unverified look at the envelope's kid and header
            // lets the rate limit and the gap queue act before the
            // expensive checks; it can only lead to an IGNORE.
            let claim = claimed_position(&message.data);
            let position =
                claim.map(|(author, seq)| (author, self.ledger.position(&author, seq, message.data.len())));
            if let Some((author, _)) = claim
                && self.ledger.roster().member(&author).is_some()
                && !self.budgets.has(author, Instant::now())
            {
                self.metrics.ignore("rate_limited");
                Some(MessageAcceptance::Ignore)
            } else if !self.backlog.admits(Intake::Network) {
                self.metrics.ignore("write_backlog");
                Some(MessageAcceptance::Ignore)
            } else if matches!(position, Some((_, Position::NoRoom))) {
                self.metrics.ignore("queue_full");
                Some(MessageAcceptance::Ignore)
            } else {
                let job = VerifyJob::Gossip {
                    data: message.data,
                    message_id: message_id.clone(),
                    source,
                };
                // Entries that would wait in the gap queue are verified
                // after those that extend a chain: a flood of large
                // out-of-order entries cannot delay honest ones.
                if matches!(position, Some((_, Position::Gap))) {
                    if self.deferred.len() < DEFERRED_VERIFY {
                        self.deferred.push_back(job);
                        None
                    } else {
                        self.metrics.ignore("verify_queue_full");
                        Some(MessageAcceptance::Ignore)
                    }
                } else if self.verifying == 0
                    && self.deferred.is_empty()
                    && message_len <= INLINE_VERIFY_BYTES
                {
                    // The pool is idle and the entry small: verify it here
                    // (one signature, tens of microseconds) rather than pay
                    // two thread handoffs per hop. Under load, or for large
                    // entries, the pool takes them and the loop stays free.
                    // Counted as a pool job would be: the handler of its
                    // result takes it off again.
                    self.verifying += 1;
                    let event = super::workers::verify_job(job, self.ledger.roster());
                    self.on_worker(event);
                    None
                } else {
                    // Reported after verification (or as ignored at once if
                    // the pool is full).
                    self.verify(job);
                    None
                }
            }
        } else if topic == Some(Topic::Proofs) {
            match EquivocationProof::from_bytes(&message.data) {
                Ok(proof) => self.ledger.offer_proof(proof, vec![ack()]),
                Err(_) => Some(MessageAcceptance::Reject),
            }
        } else if topic == Some(Topic::Rosters) {
            match SignedRoster::from_bytes(&message.data) {
                Ok(signed) if self.backlog.admits(Intake::Local) => {
                    self.ledger.offer_roster(&signed, vec![ack()])
                }
                Ok(_) => Some(MessageAcceptance::Ignore),
                Err(_) => Some(MessageAcceptance::Reject),
            }
        } else {
            Some(MessageAcceptance::Reject)
        };
        if let Some(acceptance) = acceptance {
            self.io.report(&message_id, &source, acceptance);
        }
    }

    // ----- protocol state -----

    /// Carries out what the ledger decided.
    fn apply(&mut self) {
        for effect in self.ledger.take_effects() {
            match effect {
                Effect::Write(job) => self.write(job),
                Effect::ForkEvidence { existing, incoming } => {
                    let _ = self.workers.reader.submit(ReadJob::ForkEvidence {
                        existing,
                        incoming: Box::new(incoming),
                    });
                }
                Effect::RosterChanged => {
                    self.apply_roster_peers();
                    // A queued release is sealed to its requester's
                    // encryption key, which the new roster may have
                    // rotated, and was granted under the old roster: take
                    // every one back and prepare it again under the new.
                    for request in self.releases.take_all() {
                        let _ = self.workers.reader.submit(ReadJob::PrepareRelease { request });
                    }
                }
                Effect::Stored { author, bytes } => self.storage.record(author, bytes),
                Effect::Fatal(why) => self.fatal = Some(why),
            }
        }
    }

    fn write(&mut self, job: WriteJob) {
        let writer = &self.workers.writer;
        self.backlog.push(job, |job| writer.submit(job).map_err(|b| *b));
    }

    /// Ingests many entries as one write job.
    fn ingest_batch(&mut self, f: impl FnOnce(&mut Self)) {
        self.ledger.begin_batch();
        f(self);
        self.ledger.end_batch();
        self.apply();
    }

    // ----- workers -----

    fn on_worker(&mut self, event: WorkerEvent) {
        match event {
            WorkerEvent::GossipVerified {
                result,
                message_id,
                source,
            } => {
                self.verifying = self.verifying.saturating_sub(1);
                let acceptance = match result {
                    // Not forwarded either way; no penalty when the relay may
                    // have judged it under another roster version.
                    Err(reason) if reason.depends_on_roster() => {
                        self.metrics.ignore(reason.name());
                        Some(MessageAcceptance::Ignore)
                    }
                    Err(reason) => {
                        tracing::debug!(%source, reason = %reason, "gossip entry rejected");
                        self.metrics.reject(reason.name());
                        Some(MessageAcceptance::Reject)
                    }
                    Ok(_) if !self.backlog.admits(Intake::Network) => {
                        self.metrics.ignore("write_backlog");
                        Some(MessageAcceptance::Ignore)
                    }
                    // No room for this author here: not the relay's fault.
                    Ok(entry) if self.no_room(&entry, 0).is_some() => Some(MessageAcceptance::Ignore),
                    Ok(entry) => {
                        let author = entry.header().author;
                        // Forwarded before its commit: it is verified and
                        // fits its chain, and the writer commits it in a
                        // batch. A crash before the commit loses it here
                        // only; sync fetches it back (ARCHITECTURE.md,
                        // "Durability").
                        let acceptance = self.ledger.ingest(entry, Vec::new(), now_ms());
                        if acceptance.is_none() {
                            // Accepted and new: only these spend the budget.
                            self.budgets.charge(author, Instant::now());
                        }
                        // Count the stored bytes now, so the next entry of a
                        // verifier's batch meets the new total.
                        self.apply();
                        Some(acceptance.unwrap_or(MessageAcceptance::Accept))
                    }
                };
                if let Some(acceptance) = acceptance {
                    self.io.report(&message_id, &source, acceptance);
                }
            }
            WorkerEvent::RangeVerified {
                peer, author, result, ..
            } => {
                self.verifying = self.verifying.saturating_sub(1);
                self.sync.range_done(&author);
                match result {
                    Err(e) if e.is_peer_fault() => {
                        self.metrics.reject("bad_sync_entry");
                        self.penalize(peer, &format!("range response: {e}"));
                        // Ask others for this author meanwhile, rather than
                        // the same peer again at once.
                        self.sync.avoid(peer, author, Instant::now());
                    }
                    // Valid under the roster the peer knew (a member removed,
                    // a key rotated): not its fault; ask elsewhere for a while.
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "range not valid under our roster; no strike");
                        self.metrics.ignore("roster_mismatch");
                        self.sync.avoid(peer, author, Instant::now());
                    }
                    // The writer is behind: fetch the range again later.
                    Ok(_) if !self.backlog.admits(Intake::Network) => self.metrics.ignore("write_backlog"),
                    Ok(entries) => self.ingest_batch(|this| {
                        let mut taken = 0;
                        for entry in entries {
                            if this.no_room(&entry, taken).is_some() {
                                // Ask others later; nobody is at fault.
                                this.sync.avoid(peer, author, Instant::now());
                                break;
                            }
                            taken += entry_bytes(&entry);
                            let _ = this.ledger.ingest(entry, Vec::new(), now_ms());
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
            WorkerEvent::Respond { channel, bytes } => self.io.respond_sync(channel, bytes),
            WorkerEvent::ForkEvidence { existing, incoming } => {
                self.ledger.fork_evidence(existing, &incoming)
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

    /// After a commit the writer reports (one with acknowledgements, a new
    /// proof or an entry `noticed_on_commit`; the writer itself counts new
    /// entries and tells subscribers): acknowledgements go out, requests
    /// whose access entries just landed are re-evaluated, a new proof is
    /// gossiped.
    fn on_written(
        &mut self,
        inserted: &[crate::store::Inserted],
        acks: Vec<Ack>,
        new_equivocation: Option<(OrgKey, u64, EquivocationProof)>,
    ) {
        let (mut recheck, retraction) = self.ledger.committed(inserted.iter().map(|i| i.id));
        if retraction {
            // The log changed under the queued releases: take them back and
            // evaluate each again from the log as it stands now.
            recheck.extend(self.releases.take_all());
        }
        for request in recheck {
            let _ = self.workers.reader.submit(ReadJob::PrepareRelease { request });
        }
        for ack in acks {
            match ack {
                Ack::Gossip { message_id, source } => {
                    self.io.report(&message_id, &source, MessageAcceptance::Accept)
                }
                Ack::Publish { entry, reply } => {
                    self.metrics.published.fetch_add(1, Ordering::Relaxed);
                    self.io.publish(Topic::Entries, entry.to_wire().to_bytes());
                    let _ = reply.send(Ok(entry));
                }
                Ack::Verdict { channel, verdict } => self.io.send_verdict(channel, &verdict),
                Ack::RosterApplied {
                    bytes,
                    version,
                    reply,
                } => {
                    self.io.publish(Topic::Rosters, bytes);
                    let _ = reply.send(Ok(version));
                }
            }
        }
        if let Some((_, _, proof)) = new_equivocation {
            self.metrics.equivocations.fetch_add(1, Ordering::Relaxed);
            self.io.publish(Topic::Proofs, proof.to_bytes());
        }
    }

    // ----- sync -----

    /// Submits a verification job; when the pool's queue is full a gossip
    /// message is ignored and a range released for another try.
    fn verify(&mut self, job: VerifyJob) {
        match self.workers.verify.submit(job) {
            Ok(()) => self.verifying += 1,
            Err(job) => match *job {
                VerifyJob::Gossip {
                    message_id, source, ..
                } => {
                    self.metrics.ignore("verify_queue_full");
                    self.io.report(&message_id, &source, MessageAcceptance::Ignore);
                }
                VerifyJob::Range { author, .. } => self.sync.range_done(&author),
            },
        }
    }

    fn fetch_gaps(&mut self) {
        let (sends, lag) =
            self.sync
                .fetch_gaps(self.ledger.local(), self.backlog.fetch_paused(), Instant::now());
        self.metrics.sync_lag.store(lag, Ordering::Relaxed);
        for send in sends {
            self.io.send_sync(send);
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
                        .io
                        .respond_sync(channel, SyncResponse::Refused("empty request".into()).to_bytes());
                }
                match SyncRequest::from_bytes(&request) {
                    Ok(request) => self.serve(request, channel),
                    Err(e) => {
                        self.penalize(peer, "malformed sync request");
                        self.io
                            .respond_sync(channel, SyncResponse::Refused(e.to_string()).to_bytes());
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
                let Some(token) = self.io.sync_token(&request_id) else {
                    return;
                };
                let outputs = self
                    .sync
                    .on_response(token, &response, self.ledger.local(), Instant::now());
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
                if let Some(token) = self.io.sync_token(&request_id) {
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
                SyncOutput::Send(send) => self.io.send_sync(send),
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
                    self.verify(job);
                }
                SyncOutput::Rosters { peer, rosters } => {
                    if let Err(why) = self.ledger.offer_synced_rosters(&rosters) {
                        self.penalize(peer, why);
                    }
                }
                SyncOutput::Proofs { peer, proofs } => {
                    if let Err(why) = self.ledger.offer_synced_proofs(proofs) {
                        self.penalize(peer, why);
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
            SyncRequest::Heads => return self.io.respond_sync(channel, self.ledger.heads().to_bytes()),
            SyncRequest::Digest { digest } => {
                return self
                    .io
                    .respond_sync(channel, self.ledger.answer_digest(&digest).to_bytes());
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
            self.io
                .respond_sync(channel, SyncResponse::Refused("busy".into()).to_bytes());
        }
    }

    // ----- hazardous releases -----

    fn release_ready(&mut self, out: ReleaseOut) {
        let request = out.request;
        if self.releases.ready(out) {
            tracing::info!(request = %super::short(&request), "release granted; delivering to the requester's node");
            let sends = self
                .releases
                .attempt(Instant::now(), node_of(self.ledger.roster(), &self.peers));
            self.io.send_releases(sends);
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
                let sender = self
                    .peers
                    .org(&peer)
                    .and_then(|org| self.ledger.roster().member_by_org(org))
                    .map(|m| m.signing_key);
                let Some(sender) = sender else {
                    let refusal = DeliveryVerdict::Refused("not a roster node".into());
                    return self.io.send_verdict(channel, &refusal);
                };
                let job = ReadJob::ReceiveRelease {
                    sender,
                    channel,
                    bytes: request,
                };
                if let Err(job) = self.workers.receiver.submit(job)
                    && let ReadJob::ReceiveRelease { channel, .. } = *job
                {
                    self.io
                        .send_verdict(channel, &DeliveryVerdict::Refused("busy".into()));
                }
            }
            request_response::Event::Message {
                message: Message::Response { request_id, response },
                ..
            } => {
                let Some(token) = self.io.release_token(&request_id) else {
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
                if let Some(token) = self.io.release_token(&request_id) {
                    self.releases.on_failure(token);
                }
            }
            _ => {}
        }
    }

    /// A release sent to us was checked: store and answer. A refusal is
    /// answered at once; `ok` and `mismatch` only after what they
    /// acknowledge is committed.
    fn release_received(&mut self, channel: ResponseChannel<Vec<u8>>, received: Received) {
        let verdict = match &received {
            Received::Refused(why) => {
                tracing::debug!(%why, "release refused");
                return self
                    .io
                    .send_verdict(channel, &DeliveryVerdict::Refused(why.clone()));
            }
            _ if !self.backlog.admits(Intake::Local) => {
                return self
                    .io
                    .send_verdict(channel, &DeliveryVerdict::Refused("busy".into()));
            }
            Received::Fault { .. } => DeliveryVerdict::Mismatch,
            Received::Accepted { .. } => DeliveryVerdict::Accepted,
        };
        self.ledger
            .release_received(received, Ack::Verdict { channel, verdict }, now_ms());
        self.apply();
    }

    // ----- commands -----

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { reply, .. } | Command::PublishHazardous { reply, .. }
                if !self.backlog.admits(Intake::Local) =>
            {
                let _ = reply.send(Err(NodeError::Busy));
            }
            Command::Publish { reply, .. } | Command::PublishHazardous { reply, .. }
                if let Err(refusal) = self.own_room() =>
            {
                let _ = reply.send(Err(NodeError::Refused(Refusal::Storage(refusal))));
            }
            Command::Publish { draft, reply } => self.ledger.publish(&draft, reply, Vec::new(), now_ms()),
            Command::PublishHazardous {
                full,
                redaction,
                reply,
            } => {
                let salts = Zeroizing::new(rand::random::<[[u8; 32]; 5]>());
                self.ledger
                    .publish_hazardous(&full, &redaction, &salts, reply, now_ms());
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
                let next = self.ledger.verify_roster(&signed).and_then(|next| {
                    if self.backlog.admits(Intake::Local) {
                        Ok(next)
                    } else {
                        Err(NodeError::Busy)
                    }
                });
                match next {
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                    // The valid next version, with room to write: in force
                    // now, gossiped and answered after the commit.
                    Ok(next) => {
                        let ack = Ack::RosterApplied {
                            bytes: signed.to_bytes(),
                            version: next.version(),
                            reply,
                        };
                        self.ledger.install_roster(next, vec![ack]);
                    }
                }
            }
            Command::SyncNow => {
                for send in self.sync.round_all(self.ledger.digest(), Instant::now()) {
                    self.io.send_sync(send);
                }
            }
        }
        self.apply();
    }

    fn status(&self) -> NodeStatus {
        let roster = self.ledger.roster();
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
        NodeStatus {
            org: self.org.clone(),
            network: roster.network().to_string(),
            peer_id: self.io.peer_id().to_string(),
            listen: self.io.listen().iter().map(ToString::to_string).collect(),
            roster_version: roster.version(),
            roster_hash: roster.hash().to_hex(),
            membership: self.ledger.membership(),
            peers,
            authors: self.ledger.authors(&self.sync.best_known(self.ledger.roster())),
            entries: self.metrics.entries_stored.load(Ordering::Relaxed),
            pending: self.ledger.pending_len() as u64,
            equivocations: self.ledger.equivocations(),
        }
    }
}

/// A connected node of the organization with signing key `requester`.
fn node_of<'a>(roster: &'a Roster, peers: &'a PeerBook) -> impl Fn(&OrgKey) -> Option<PeerId> + 'a {
    move |requester| peers.connected_node_of(&roster.member(requester)?.org)
}

/// The `(author, seq)` a gossiped wire entry claims, unverified.
fn claimed_position(data: &[u8]) -> Option<(OrgKey, u64)> {
    let wire = riskmesh_protocol::WireEntry::from_bytes(data).ok()?;
    let envelope = Envelope::parse(&wire.envelope).ok()?;
    let header: riskmesh_protocol::Header = riskmesh_protocol::cbor::decode_canonical(
        envelope.payload,
        riskmesh_protocol::limits::MAX_HEADER_BYTES,
    )
    .ok()?;
    Some((envelope.kid, header.seq))
}
