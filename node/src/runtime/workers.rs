//! The runtime's worker threads: a pool that verifies signatures off the
//! event loop, one writer that owns the read-write store and commits in
//! groups, and one reader that serves sync ranges from its own connection.
//!
//! Every channel is bounded; the event loop never blocks on a worker (it
//! uses `try_send` and treats a full queue as back-pressure).

use super::NodeError;
use super::hazard::{self, AuditTrail, Received, ReleaseOut};
use super::ledger::noticed_on_commit;
use crate::metrics::Metrics;
use crate::plaintext::Openings;
use crate::store::{Inserted, ReleaseState, Store, StoreError};
use libp2p::request_response::ResponseChannel;
use libp2p::{PeerId, gossipsub::MessageId};
use riskmesh_protocol::delivery::DeliveryVerdict;
use riskmesh_protocol::keys::OrgSecrets;
use riskmesh_protocol::sync::{
    MAX_PROOFS_PER_RESPONSE, MAX_ROSTERS_PER_RESPONSE, MAX_SYNC_RESPONSE_BYTES, SyncResponse,
};
use riskmesh_protocol::validate::{verify_gossip, verify_wire};
use riskmesh_protocol::{EntryId, EquivocationProof, OrgKey, RejectReason, Roster, VerifiedEntry, WireEntry};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use tokio::sync::{broadcast, mpsc, oneshot};

/// Capacity of the verification queue.
pub const VERIFY_QUEUE: usize = 4096;
/// Capacity of the write queue (batches, not entries).
pub const WRITE_QUEUE: usize = 1024;
/// Capacity of the read queue.
pub const READ_QUEUE: usize = 256;
/// Capacity of the channel from workers back to the event loop.
pub const EVENT_QUEUE: usize = 8192;
/// Most write jobs merged into one commit.
pub const MAX_GROUP_COMMIT: usize = 1024;
/// The writer thread's name (the simulator sums its CPU time by this name
/// to show what storing costs).
pub const WRITER_THREAD: &str = "riskmesh-writer";

/// The roster the verifiers use; swapped when a roster update is accepted.
pub type SharedRoster = Arc<RwLock<Arc<Roster>>>;

/// Something to verify.
pub enum VerifyJob {
    /// A gossiped wire entry.
    Gossip {
        /// Encoded wire entry.
        data: Vec<u8>,
        /// Gossip message id.
        message_id: MessageId,
        /// Relaying peer.
        source: PeerId,
    },
    /// Entries from a sync range response.
    Range {
        /// The peer that sent them.
        peer: PeerId,
        /// Requested author.
        author: OrgKey,
        /// Requested first seq.
        from_seq: u64,
        /// The entries.
        entries: Vec<WireEntry>,
    },
}

/// What the event loop must do once a write committed.
pub enum Ack {
    /// Report Accept for a gossip message.
    Gossip {
        /// Message id.
        message_id: MessageId,
        /// Relaying peer.
        source: PeerId,
    },
    /// Answer a local publish and gossip the entry.
    Publish {
        /// The published entry.
        entry: VerifiedEntry,
        /// Where to send the answer.
        reply: oneshot::Sender<Result<VerifiedEntry, NodeError>>,
    },
    /// Answer a release delivered to us, now that what it led to is durable.
    Verdict {
        /// Where to answer.
        channel: ResponseChannel<Vec<u8>>,
        /// The answer.
        verdict: DeliveryVerdict,
    },
    /// Gossip a roster update this node accepted from its own analysts and
    /// answer them with the new version.
    RosterApplied {
        /// The signed update's bytes.
        bytes: Vec<u8>,
        /// The version now in force.
        version: u64,
        /// Where to send the answer.
        reply: oneshot::Sender<Result<u64, NodeError>>,
    },
}

/// Something to write.
pub enum WriteJob {
    /// Accepted entries.
    Entries {
        /// Entries in chain order.
        entries: Vec<VerifiedEntry>,
        /// Follow-ups after commit.
        acks: Vec<Ack>,
    },
    /// A verified equivocation proof.
    Equivocation {
        /// Equivocating author.
        author: OrgKey,
        /// Seq.
        seq: u64,
        /// Proof.
        proof: EquivocationProof,
        /// Follow-ups after commit (forwarding a gossiped proof).
        acks: Vec<Ack>,
    },
    /// A verified roster version.
    Roster {
        /// The roster.
        roster: Arc<Roster>,
        /// Follow-ups after commit (forwarding, answering the analyst).
        acks: Vec<Ack>,
    },
    /// Withheld fields sealed to this organization.
    Withheld {
        /// The hazardous entry.
        target: EntryId,
        /// `(field code, age ciphertext)`.
        sealed: Vec<(u8, Vec<u8>)>,
    },
    /// A release record.
    Release {
        /// The request.
        request: EntryId,
        /// The hazardous entry.
        target: EntryId,
        /// What happened.
        state: ReleaseState,
        /// Evidence for a fault.
        evidence: Option<Vec<u8>>,
        /// Follow-ups after commit (the verdict to the author's node).
        acks: Vec<Ack>,
    },
}

/// Something to read.
pub enum ReadJob {
    /// Serve a range request.
    Range {
        /// Where to answer.
        channel: ResponseChannel<Vec<u8>>,
        /// Author.
        author: OrgKey,
        /// First seq.
        from_seq: u64,
        /// Most entries.
        count: u64,
    },
    /// Serve roster versions after a version.
    Rosters {
        /// Where to answer.
        channel: ResponseChannel<Vec<u8>>,
        /// Versions after this one.
        after_version: u64,
    },
    /// Serve proofs.
    Proofs {
        /// Where to answer.
        channel: ResponseChannel<Vec<u8>>,
        /// Skip this many.
        skip: u64,
    },
    /// Check whether a request for one of our hazardous entries is granted.
    PrepareRelease {
        /// The access request.
        request: EntryId,
    },
    /// Re-check every open request for our hazardous entries.
    ScanReleases,
    /// Verify a release sent to us.
    ReceiveRelease {
        /// The sending node's organization (signing key).
        sender: OrgKey,
        /// Where to answer.
        channel: ResponseChannel<Vec<u8>>,
        /// The sealed signed release.
        bytes: Vec<u8>,
    },
    /// Open our withheld fields of an entry.
    Released {
        /// The hazardous entry.
        target: EntryId,
        /// Where to answer.
        reply: oneshot::Sender<Result<Openings, NodeError>>,
    },
    /// Build an audit trail.
    Audit {
        /// The hazardous entry.
        target: EntryId,
        /// Where to answer.
        reply: oneshot::Sender<Result<AuditTrail, NodeError>>,
    },
    /// Fetch an accepted entry's envelope to build an equivocation proof.
    ForkEvidence {
        /// The accepted entry.
        existing: EntryId,
        /// The conflicting entry (boxed: forks are rare, other jobs small).
        incoming: Box<VerifiedEntry>,
    },
}

/// Why a sync range was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// Entry `index` of the range failed verification.
    #[error("entry {index} rejected: {reason}")]
    Rejected {
        /// Position in the response.
        index: usize,
        /// Why.
        reason: RejectReason,
    },
    /// An entry is not the requested author's, or not at the next seq.
    #[error("entry does not match the requested author and seq")]
    Misplaced,
}

impl RangeError {
    /// Whether the relaying peer is provably at fault (see
    /// [`RejectReason::depends_on_roster`]).
    pub fn is_peer_fault(&self) -> bool {
        match self {
            RangeError::Rejected { reason, .. } => !reason.depends_on_roster(),
            RangeError::Misplaced => true,
        }
    }
}

/// What workers report to the event loop.
pub enum WorkerEvent {
    /// A gossip entry was verified (or not).
    GossipVerified {
        /// Result.
        result: Result<VerifiedEntry, RejectReason>,
        /// Message id.
        message_id: MessageId,
        /// Relaying peer.
        source: PeerId,
    },
    /// A range response was verified (or not).
    RangeVerified {
        /// Sender.
        peer: PeerId,
        /// Requested author.
        author: OrgKey,
        /// Requested first seq.
        from_seq: u64,
        /// Entries, or why the batch is bad.
        result: Result<Vec<VerifiedEntry>, RangeError>,
    },
    /// A write committed.
    Written {
        /// Per-entry outcomes.
        inserted: Vec<Inserted>,
        /// Follow-ups.
        acks: Vec<Ack>,
        /// A new equivocation was stored.
        new_equivocation: Option<(OrgKey, u64, EquivocationProof)>,
    },
    /// A response is ready to send.
    Respond {
        /// Where.
        channel: ResponseChannel<Vec<u8>>,
        /// Encoded response.
        bytes: Vec<u8>,
    },
    /// Evidence for a fork was read.
    ForkEvidence {
        /// The accepted entry's envelope, if still stored.
        existing: Option<Vec<u8>>,
        /// The conflicting entry.
        incoming: VerifiedEntry,
    },
    /// Several events at once (a verifier's batch), to spare wakeups.
    Many(Vec<WorkerEvent>),
    /// A release is ready to send to the requester.
    ReleaseReady(Box<ReleaseOut>),
    /// A received release was checked.
    ReleaseReceived {
        /// Where to answer.
        channel: ResponseChannel<Vec<u8>>,
        /// The verdict.
        received: Received,
    },
    /// The store failed; the node must stop.
    StoreFailed(String),
}

/// Worker threads fed by one bounded queue of jobs `J`.
pub struct Worker<J> {
    /// Jobs travel boxed: std's bounded channel allocates (and touches)
    /// every slot when it is created, so a queue of 4096 unboxed jobs cost
    /// each node over half a MiB before its first job.
    jobs: SyncSender<Box<J>>,
    threads: Vec<JoinHandle<()>>,
}

impl<J> Worker<J> {
    /// Queues a job; hands it back if the queue is full (or the workers
    /// stopped), so the caller decides what back-pressure means.
    pub fn submit(&self, job: J) -> Result<(), Box<J>> {
        match self.jobs.try_send(Box::new(job)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => Err(job),
        }
    }

    /// Closes the queue and waits for the workers to finish what is queued
    /// (for the writer: to commit it and close the store).
    pub fn stop(self) {
        drop(self.jobs);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

impl<J> std::fmt::Debug for Worker<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Worker<{}>({} threads)",
            std::any::type_name::<J>(),
            self.threads.len()
        )
    }
}

/// The runtime's worker threads.
#[derive(Debug)]
pub struct Workers {
    /// Signature verification (one thread per core).
    pub verify: VerifyPool,
    /// The single writer (group commit).
    pub writer: StoreWriter,
    /// Sync ranges, rosters, proofs, release preparation, audit.
    pub reader: StoreReader,
    /// Releases sent to this node (decryption of peer-supplied data): a
    /// thread of its own, so a costly release never delays sync serving or
    /// the API.
    pub receiver: StoreReader,
}

/// The store connections the workers own: read-write for the writer,
/// read-only for the two readers.
#[derive(Debug)]
pub struct WorkerStores {
    /// The writer's read-write connection.
    pub write: Store,
    /// The reader's connection.
    pub read: Store,
    /// The receiver's connection.
    pub receive: Store,
}

impl Workers {
    /// Starts every worker; they report on the returned channel
    /// ([`EVENT_QUEUE`] events).
    pub fn start(
        stores: WorkerStores,
        roster: &SharedRoster,
        org: &Arc<OrgSecrets>,
        metrics: &Arc<Metrics>,
        stored: broadcast::Sender<EntryId>,
    ) -> (Self, mpsc::Receiver<WorkerEvent>) {
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        let threads = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
        let reader = |name, store, events| {
            StoreReader::start(
                name,
                store,
                events,
                Arc::clone(roster),
                Arc::clone(org),
                Arc::clone(metrics),
            )
        };
        let workers = Workers {
            verify: VerifyPool::start(threads, Arc::clone(roster), events_tx.clone()),
            writer: StoreWriter::start(
                stores.write,
                WriteReports {
                    events: events_tx.clone(),
                    stored,
                    metrics: Arc::clone(metrics),
                },
            ),
            reader: reader("reader", stores.read, events_tx.clone()),
            receiver: reader("receiver", stores.receive, events_tx),
        };
        (workers, events_rx)
    }

    /// Stops every worker; the writer commits what is queued first.
    pub fn stop(self) {
        self.verify.stop();
        self.writer.stop();
        self.reader.stop();
        self.receiver.stop();
    }
}

/// The verification pool.
pub type VerifyPool = Worker<VerifyJob>;
/// The writer thread (the only read-write store connection).
pub type StoreWriter = Worker<WriteJob>;
/// The reader thread.
pub type StoreReader = Worker<ReadJob>;

impl Worker<VerifyJob> {
    /// Starts `threads` verifiers.
    pub fn start(threads: usize, roster: SharedRoster, events: mpsc::Sender<WorkerEvent>) -> Self {
        let (tx, rx) = sync_channel::<Box<VerifyJob>>(VERIFY_QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let threads = (0..threads.max(1))
            .map(|i| {
                let rx = Arc::clone(&rx);
                let roster = Arc::clone(&roster);
                let events = events.clone();
                std::thread::Builder::new()
                    .name(format!("riskmesh-verify-{i}"))
                    .spawn(move || verify_worker(&rx, &roster, &events))
                    .expect("spawning a verifier thread")
            })
            .collect();
        Worker { jobs: tx, threads }
    }
}

/// The roster in force.
pub fn current(roster: &SharedRoster) -> Arc<Roster> {
    match roster.read() {
        Ok(guard) => Arc::clone(&guard),
        Err(poisoned) => Arc::clone(&poisoned.into_inner()),
    }
}

/// Most queued jobs a verifier takes at once.
const VERIFY_BATCH: usize = 32;

fn verify_worker(
    rx: &Mutex<Receiver<Box<VerifyJob>>>,
    roster: &SharedRoster,
    events: &mpsc::Sender<WorkerEvent>,
) {
    loop {
        // Take one job, waiting if need be, and whatever else is already
        // queued (up to a bound): one wakeup of the event loop per batch.
        let jobs = match rx.lock() {
            Ok(guard) => match guard.recv() {
                Ok(first) => {
                    let mut jobs = vec![first];
                    while jobs.len() < VERIFY_BATCH {
                        match guard.try_recv() {
                            Ok(job) => jobs.push(job),
                            Err(_) => break,
                        }
                    }
                    jobs
                }
                Err(_) => return,
            },
            Err(_) => return,
        };
        let roster = current(roster);
        let mut out: Vec<WorkerEvent> = jobs.into_iter().map(|job| verify_job(*job, &roster)).collect();
        let event = if out.len() == 1 {
            out.remove(0)
        } else {
            WorkerEvent::Many(out)
        };
        if events.blocking_send(event).is_err() {
            return;
        }
    }
}

pub(super) fn verify_job(job: VerifyJob, roster: &Roster) -> WorkerEvent {
    match job {
        VerifyJob::Gossip {
            data,
            message_id,
            source,
        } => {
            // Gossip carries new entries, which always have a body; only
            // sync may deliver a header whose body was purged.
            let result = WireEntry::from_bytes(&data)
                .map_err(RejectReason::Encoding)
                .and_then(|wire| verify_gossip(roster, &wire));
            WorkerEvent::GossipVerified {
                result,
                message_id,
                source,
            }
        }
        VerifyJob::Range {
            peer,
            author,
            from_seq,
            entries,
        } => {
            let mut verified = Vec::with_capacity(entries.len());
            let mut error = None;
            for (i, wire) in entries.iter().enumerate() {
                match verify_wire(roster, wire) {
                    Ok(entry) => {
                        let h = entry.header();
                        if h.author != author || from_seq.checked_add(i as u64) != Some(h.seq) {
                            error = Some(RangeError::Misplaced);
                            break;
                        }
                        verified.push(entry);
                    }
                    Err(reason) => {
                        error = Some(RangeError::Rejected { index: i, reason });
                        break;
                    }
                }
            }
            WorkerEvent::RangeVerified {
                peer,
                author,
                from_seq,
                result: match error {
                    Some(e) => Err(e),
                    None => Ok(verified),
                },
            }
        }
    }
}

/// Where the writer reports what it stored: the event loop when it has
/// something to do about a commit, subscribers and the metrics always.
#[derive(Debug)]
pub struct WriteReports {
    /// The event loop.
    pub events: mpsc::Sender<WorkerEvent>,
    /// Ids of newly stored entries ([`crate::runtime::NodeHandle::subscribe_stored`]).
    pub stored: broadcast::Sender<EntryId>,
    /// The node's counters (`entries_stored`).
    pub metrics: Arc<Metrics>,
}

impl Worker<WriteJob> {
    /// Starts the writer on an open read-write store.
    pub fn start(store: Store, reports: WriteReports) -> Self {
        let (tx, rx) = sync_channel::<Box<WriteJob>>(WRITE_QUEUE);
        let thread = std::thread::Builder::new()
            .name(WRITER_THREAD.into())
            .spawn(move || write_worker(store, &rx, &reports))
            .expect("spawning the writer thread");
        Worker {
            jobs: tx,
            threads: vec![thread],
        }
    }
}

fn now_ms() -> u64 {
    super::now_ms()
}

fn write_worker(mut store: Store, rx: &Receiver<Box<WriteJob>>, reports: &WriteReports) {
    let events = &reports.events;
    while let Ok(first) = rx.recv() {
        // Group commit: take everything already queued (up to a bound) and
        // write the entries in one transaction. No waiting for more: a
        // relayed entry's commit is not synced to disk, so a group saves
        // little, and whatever arrives during this commit is the next group.
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP_COMMIT {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let mut entries = Vec::new();
        let mut acks = Vec::new();
        let mut others = Vec::new();
        for job in jobs {
            match *job {
                WriteJob::Entries { entries: e, acks: a } => {
                    entries.extend(e);
                    acks.extend(a);
                }
                other => others.push(other),
            }
        }
        // Someone waits on this group's commit unless it holds only relayed
        // entries (no acknowledgements, no other job).
        let awaited = !acks.is_empty() || !others.is_empty();
        // Non-entry jobs first: withheld fields must be durable before the
        // hazardous entry that commits to them is acknowledged.
        for job in others {
            // Each job reports its follow-ups once it is committed.
            let written = |acks: Vec<Ack>, new_equivocation: Option<(OrgKey, u64, EquivocationProof)>| {
                (!acks.is_empty() || new_equivocation.is_some()).then(|| WorkerEvent::Written {
                    inserted: Vec::new(),
                    acks,
                    new_equivocation,
                })
            };
            let result: Result<Option<WorkerEvent>, StoreError> = match job {
                WriteJob::Equivocation {
                    author,
                    seq,
                    proof,
                    acks,
                } => store
                    .insert_equivocation(author, seq, &proof, now_ms())
                    .map(|new| written(acks, new.then_some((author, seq, proof)))),
                WriteJob::Roster { roster, acks } => store.save_roster(&roster).map(|_| written(acks, None)),
                WriteJob::Withheld { target, sealed } => {
                    store.insert_withheld(&target, &sealed).map(|()| None)
                }
                WriteJob::Release {
                    request,
                    target,
                    state,
                    evidence,
                    acks,
                } => store
                    .record_release(&request, &target, state, evidence.as_deref(), now_ms())
                    .map(|_| written(acks, None)),
                WriteJob::Entries { .. } => Ok(None),
            };
            match result {
                Ok(Some(event)) => {
                    if events.blocking_send(event).is_err() {
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    let _ = events.blocking_send(WorkerEvent::StoreFailed(e.to_string()));
                    return;
                }
            }
        }
        if entries.is_empty() {
            continue;
        }
        // Relayed entries only (nobody waits on them): commit without a
        // disk sync. Anything awaited in the group syncs the whole group.
        let inserted = if awaited {
            store.insert_entries(&entries, now_ms())
        } else {
            store.insert_relayed_entries(&entries, now_ms())
        };
        let inserted = match inserted {
            Ok(inserted) => inserted,
            Err(e) => {
                let _ = events.blocking_send(WorkerEvent::StoreFailed(e.to_string()));
                return;
            }
        };
        let new = inserted.iter().filter(|i| i.is_new()).count() as u64;
        reports.metrics.entries_stored.fetch_add(new, Ordering::Relaxed);
        for stored in inserted.iter().filter(|i| i.is_new()) {
            // No subscriber is not an error: nobody has the console open.
            let _ = reports.stored.send(stored.id);
        }
        // Relayed entries the ledger does not wait on need no turn of the
        // event loop (one wake-up fewer per entry and node).
        let noticed = entries.iter().any(|e| noticed_on_commit(e.header().kind));
        if acks.is_empty() && !noticed {
            continue;
        }
        let written = WorkerEvent::Written {
            inserted,
            acks,
            new_equivocation: None,
        };
        if events.blocking_send(written).is_err() {
            return;
        }
    }
    let _ = store.close();
}

impl Worker<ReadJob> {
    /// Starts the reader on a read-only connection. It holds the
    /// organization's secrets to open withheld fields for releases.
    pub fn start(
        name: &str,
        store: Store,
        events: mpsc::Sender<WorkerEvent>,
        roster: SharedRoster,
        org: Arc<OrgSecrets>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (tx, rx) = sync_channel::<Box<ReadJob>>(READ_QUEUE);
        let thread = std::thread::Builder::new()
            .name(format!("riskmesh-{name}"))
            .spawn(move || read_worker(&store, &rx, &events, &roster, &org, &metrics))
            .expect("spawning the reader thread");
        Worker {
            jobs: tx,
            threads: vec![thread],
        }
    }
}

/// Bytes kept free in a range response for framing.
const RESPONSE_MARGIN: usize = 1024;

fn read_worker(
    store: &Store,
    rx: &Receiver<Box<ReadJob>>,
    events: &mpsc::Sender<WorkerEvent>,
    roster: &SharedRoster,
    org: &OrgSecrets,
    metrics: &Metrics,
) {
    let count = |counter: &std::sync::atomic::AtomicU64| {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };
    while let Ok(job) = rx.recv() {
        let event = match *job {
            ReadJob::PrepareRelease { request } => {
                let prepared = hazard::prepare_release(store, &current(roster), org, &request);
                count(&metrics.release_checks);
                match prepared {
                    Ok(Some(out)) => {
                        count(&metrics.releases_prepared);
                        WorkerEvent::ReleaseReady(Box::new(out))
                    }
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::warn!(request = %request, error = %e, "cannot prepare release");
                        continue;
                    }
                }
            }
            ReadJob::ScanReleases => {
                let roster = current(roster);
                for request in hazard::open_requests(store, org) {
                    if let Ok(Some(out)) = hazard::prepare_release(store, &roster, org, &request) {
                        count(&metrics.releases_prepared);
                        if events
                            .blocking_send(WorkerEvent::ReleaseReady(Box::new(out)))
                            .is_err()
                        {
                            return;
                        }
                    }
                }
                continue;
            }
            ReadJob::ReceiveRelease {
                sender,
                channel,
                bytes,
            } => WorkerEvent::ReleaseReceived {
                channel,
                received: hazard::receive_release(store, org, &sender, &bytes),
            },
            ReadJob::Released { target, reply } => {
                let _ = reply.send(hazard::released(store, org, &target).map_err(NodeError::Internal));
                continue;
            }
            ReadJob::Audit { target, reply } => {
                let _ =
                    reply.send(hazard::audit(store, &current(roster), &target).map_err(NodeError::Internal));
                continue;
            }
            ReadJob::Range {
                channel,
                author,
                from_seq,
                count,
            } => {
                let response = match store.range(
                    &author,
                    from_seq,
                    count as usize,
                    MAX_SYNC_RESPONSE_BYTES - RESPONSE_MARGIN,
                ) {
                    Ok(entries) => SyncResponse::Entries(entries),
                    Err(e) => SyncResponse::Refused(format!("store error: {e}")),
                };
                WorkerEvent::Respond {
                    channel,
                    bytes: response.to_bytes(),
                }
            }
            ReadJob::Rosters {
                channel,
                after_version,
            } => {
                let response = match store.load_rosters() {
                    Ok(rosters) => SyncResponse::Rosters(
                        rosters
                            .iter()
                            .filter(|r| r.document().map(|d| d.version > after_version).unwrap_or(false))
                            .take(MAX_ROSTERS_PER_RESPONSE)
                            .map(|r| r.to_bytes().into())
                            .collect(),
                    ),
                    Err(e) => SyncResponse::Refused(format!("store error: {e}")),
                };
                WorkerEvent::Respond {
                    channel,
                    bytes: response.to_bytes(),
                }
            }
            ReadJob::Proofs { channel, skip } => {
                let response = match store.equivocations() {
                    Ok(proofs) => SyncResponse::Proofs(
                        proofs
                            .into_iter()
                            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
                            .take(MAX_PROOFS_PER_RESPONSE)
                            .map(|p| p.proof)
                            .collect(),
                    ),
                    Err(e) => SyncResponse::Refused(format!("store error: {e}")),
                };
                WorkerEvent::Respond {
                    channel,
                    bytes: response.to_bytes(),
                }
            }
            ReadJob::ForkEvidence { existing, incoming } => WorkerEvent::ForkEvidence {
                existing: store.get(&existing).ok().flatten().map(|e| e.envelope),
                incoming: *incoming,
            },
        };
        if events.blocking_send(event).is_err() {
            return;
        }
    }
}

/// Worker types hold channels, threads and libp2p handles whose contents are
/// not useful to print; their names are.
macro_rules! opaque_debug {
    ($($t:ty),*) => {
        $(impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($t))
            }
        })*
    };
}

opaque_debug!(VerifyJob, Ack, WriteJob, ReadJob, WorkerEvent);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fixtures::{Author, new_store};
    use riskmesh_protocol::testkit;

    /// Relayed bulletins are counted and announced by the writer without a
    /// turn of the event loop; a relayed retraction (which the ledger waits
    /// on to revoke queued releases) still reports its commit.
    #[test]
    fn the_writer_wakes_the_event_loop_only_for_commits_it_must_hear_of() {
        let consortium = testkit::consortium(testkit::NETWORK, &["a", "b"], &[]);
        let mut author = Author::new(&consortium, "a");
        let (_dir, _path, store) = new_store();
        let (events_tx, mut events) = mpsc::channel(16);
        let (stored_tx, mut stored) = broadcast::channel(16);
        let metrics = Arc::new(Metrics::default());
        let writer = StoreWriter::start(
            store,
            WriteReports {
                events: events_tx,
                stored: stored_tx,
                metrics: Arc::clone(&metrics),
            },
        );
        let bulletins = author.bulletins(2);
        let relayed = |entries: Vec<VerifiedEntry>| WriteJob::Entries {
            entries,
            acks: Vec::new(),
        };
        assert!(writer.submit(relayed(bulletins.clone())).is_ok());
        for bulletin in &bulletins {
            assert_eq!(stored.blocking_recv().expect("a notice"), bulletin.id());
        }
        let retraction = author.retract(bulletins[0].id(), false);
        assert!(writer.submit(relayed(vec![retraction.clone()])).is_ok());
        // The first event is the retraction's: the bulletins' commit sent none.
        match events.blocking_recv() {
            Some(WorkerEvent::Written { inserted, acks, .. }) => {
                assert_eq!(
                    inserted.iter().map(|i| i.id).collect::<Vec<_>>(),
                    vec![retraction.id()]
                );
                assert!(acks.is_empty());
            }
            _ => panic!("expected the retraction's commit"),
        }
        assert_eq!(stored.blocking_recv().expect("a notice"), retraction.id());
        assert_eq!(metrics.entries_stored.load(Ordering::Relaxed), 3);
        writer.stop();
    }
}
