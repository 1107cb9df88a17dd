//! The running node's core: startup (store, roster, chain state, swarm,
//! workers), the handle the API and tests use, and the typed answers of
//! the event loop. The local HTTP API is started beside it by
//! [`crate::start`]; nothing here knows the API exists.
//!
//! One tokio task runs the event loop in `event_loop.rs`, a thin driver
//! over the sans-IO policies in `policy/` (peers, sync, release delivery,
//! the write pipeline); signatures are verified on a thread pool and the
//! store is written by one thread in group commits (`workers.rs`).

mod event_loop;
pub mod hazard;
mod ledger;
pub mod policy;
mod swarm_io;
pub mod workers;

use crate::config::NodeConfig;
use crate::metrics::Metrics;
use crate::plaintext::{Openings, Wiped};
use crate::store::{Store, StoreError};
use libp2p::{Multiaddr, PeerId};
use riskmesh_protocol::roster::{RosterError, SignedRoster};
use riskmesh_protocol::{ChainValidator, Draft, EntryId, Hash32, LogWriter, OrgKey, Roster, VerifiedEntry};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Capacity of the command channel from handles to the event loop.
pub const COMMAND_QUEUE: usize = 256;
/// Notices of newly stored entries held for each subscriber
/// ([`NodeHandle::subscribe_stored`]); older ones are dropped for a
/// subscriber that lags.
pub const STORED_NOTICES: usize = 256;

/// The node's clock, Unix milliseconds. The protocol takes time as an
/// argument; this is the one place the node reads it.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The database could not be opened.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The genesis roster or a stored roster update is invalid.
    #[error("roster: {0}")]
    Roster(#[from] RosterError),
    /// The network could not be set up.
    #[error("network: {0}")]
    Network(String),
    /// The API token file could not be written or read.
    #[error("api token {path}: {error}")]
    Token {
        /// The file.
        path: String,
        /// What failed.
        error: String,
    },
    /// The local API could not listen.
    #[error("api listen {addr}: {error}")]
    Api {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        error: String,
    },
}

/// Why a handle call failed. The API maps each variant to one HTTP status
/// in one place (`api::ApiError::from`).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeError {
    /// The node is shutting down or has stopped.
    #[error("the node is not running")]
    Stopped,
    /// The node is overloaded (its write backlog is full); nothing was
    /// changed. Try again.
    #[error("the node is busy; try again")]
    Busy,
    /// The request breaks a protocol rule; nothing was changed.
    #[error("{0}")]
    Refused(Refusal),
    /// The node failed (a store read, sealing); nothing was changed.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why the node refused a request.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// This organization's storage budget is spent, or the disk is below
    /// its free-space floor.
    #[error("{0}")]
    Storage(policy::storage::StorageRefusal),
    /// The entry this organization asked to publish breaks an entry rule.
    #[error("{0}")]
    Entry(riskmesh_protocol::RejectReason),
    /// The roster update is not the valid next version.
    #[error("roster update: {0}")]
    Roster(RosterError),
    /// This organization may not publish: its signing key is not a
    /// participant's key on the roster in force here.
    #[error("{}", not_member_message(*membership, *roster_version))]
    NotMember {
        /// Where the organization stands ([`Membership::Joining`] or
        /// [`Membership::Retired`]).
        membership: Membership,
        /// The roster version in force on this node.
        roster_version: u64,
    },
}

fn not_member_message(membership: Membership, version: u64) -> String {
    match membership {
        Membership::Joining => format!(
            "this node's organization is not on the roster in force here (version {version}) yet: the \
             node is joining, and can publish once a roster update that lists its signing key reaches \
             it from the other nodes (see `riskmesh roster status`)"
        ),
        Membership::Retired => format!(
            "this node's organization key was retired from the roster (in force here: version \
             {version}): nothing it signs from now on is valid. If the organization rotated its key, \
             run a node with the new key"
        ),
        Membership::Member => format!("this organization is a participant of roster version {version}"),
    }
}

/// Where this node's organization (its signing key) stands on the roster
/// in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Membership {
    /// A participant's key: the node publishes.
    Member,
    /// On no roster version this node holds: the node runs from the
    /// genesis it was given, fetches the roster updates and history from
    /// the roster's nodes, and publishes once an update that lists its key
    /// is in force.
    Joining,
    /// A retired key (removed, rotated or compromised): its history stays
    /// valid up to the prefix the roster names; it publishes no more.
    Retired,
}

impl Membership {
    /// Where `key` stands on `roster`.
    pub fn of(roster: &Roster, key: &OrgKey) -> Membership {
        match roster.key_status(key) {
            Some((riskmesh_protocol::roster::KeyStatus::Current(_), _)) => Membership::Member,
            Some((riskmesh_protocol::roster::KeyStatus::Retired(_), _)) => Membership::Retired,
            None => Membership::Joining,
        }
    }

    /// The refusal of a publish by an organization that is not a member,
    /// `None` for a member.
    pub fn refusal(roster: &Roster, key: &OrgKey) -> Option<Refusal> {
        match Membership::of(roster, key) {
            Membership::Member => None,
            membership => Some(Refusal::NotMember {
                membership,
                roster_version: roster.version(),
            }),
        }
    }
}

/// A command to the event loop.
pub(crate) enum Command {
    Publish {
        draft: Box<Draft>,
        reply: oneshot::Sender<Result<VerifiedEntry, NodeError>>,
    },
    Status {
        reply: oneshot::Sender<NodeStatus>,
    },
    AddPeer {
        addr: Multiaddr,
    },
    SyncNow,
    PublishHazardous {
        full: Box<Wiped<riskmesh_protocol::BulletinBody>>,
        redaction: Box<riskmesh_protocol::redaction::Redaction>,
        reply: oneshot::Sender<Result<VerifiedEntry, NodeError>>,
    },
    Released {
        target: EntryId,
        reply: oneshot::Sender<Result<Openings, NodeError>>,
    },
    Audit {
        target: EntryId,
        reply: oneshot::Sender<Result<hazard::AuditTrail, NodeError>>,
    },
    OfferRoster {
        signed: Box<riskmesh_protocol::SignedRoster>,
        reply: oneshot::Sender<Result<u64, NodeError>>,
    },
}

/// A peer as the node sees it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PeerStatus {
    /// libp2p peer id.
    pub peer_id: String,
    /// Organization on the roster.
    pub org: String,
    /// Whether a connection is open.
    pub connected: bool,
    /// Last known address.
    pub address: Option<String>,
}

/// One author's log as this node holds it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuthorStatus {
    /// Organization id.
    pub org: String,
    /// Author key, hex.
    pub author: String,
    /// Highest contiguous seq held.
    pub seq: u64,
    /// Id of the entry at `seq`, hex; `None` when `seq` is 0.
    pub head_id: Option<String>,
    /// Highest seq any peer announced.
    pub best_known_seq: u64,
    /// `best_known_seq - seq`.
    pub lag: u64,
    /// For a retired key (spec §9.6): why it was retired and the last seq
    /// of its log that stays valid.
    pub retirement: Option<(String, u64)>,
}

/// A snapshot of the node.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NodeStatus {
    /// This organization.
    pub org: String,
    /// Network id.
    pub network: String,
    /// This node's peer id.
    pub peer_id: String,
    /// Listen addresses.
    pub listen: Vec<String>,
    /// Roster version in force.
    pub roster_version: u64,
    /// Roster hash in force.
    pub roster_hash: String,
    /// Where this organization stands on that roster.
    pub membership: Membership,
    /// Peers on the roster.
    pub peers: Vec<PeerStatus>,
    /// Per-author heads and lag: every current and retired key.
    pub authors: Vec<AuthorStatus>,
    /// Entries stored.
    pub entries: u64,
    /// Entries waiting for a predecessor.
    pub pending: u64,
    /// Equivocations known: `(org, seq)`.
    pub equivocations: Vec<(String, u64)>,
}

/// A cheap, cloneable handle to a running node.
#[derive(Clone, Debug)]
pub struct NodeHandle {
    commands: mpsc::Sender<Command>,
    /// Shared counters.
    pub metrics: Arc<Metrics>,
    /// This node's peer id.
    pub peer_id: PeerId,
    /// This organization's key.
    pub org_key: OrgKey,
    /// The roster in force (updated by the event loop).
    pub roster: Arc<RwLock<Arc<Roster>>>,
    /// Ids of entries newly stored, sent by the event loop after each
    /// commit (see [`NodeHandle::subscribe_stored`]). The handle keeps a
    /// receiver, not a sender, so subscribers see the channel close when
    /// the event loop stops (and the console's live feeds end with it).
    stored: Arc<broadcast::Receiver<EntryId>>,
}

impl NodeHandle {
    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| NodeError::Stopped)?;
        rx.await.map_err(|_| NodeError::Stopped)
    }

    /// Signs, stores and gossips a new entry of this organization. Returns
    /// once the entry is durably committed.
    pub async fn publish(&self, draft: Draft) -> Result<VerifiedEntry, NodeError> {
        self.call(|reply| Command::Publish {
            draft: Box::new(draft),
            reply,
        })
        .await?
    }

    /// A status snapshot.
    pub async fn status(&self) -> Result<NodeStatus, NodeError> {
        self.call(|reply| Command::Status { reply }).await
    }

    /// Remembers an address (ending in `/p2p/<peer id>`) and dials it now
    /// and after disconnections.
    pub async fn add_peer(&self, addr: Multiaddr) -> Result<(), NodeError> {
        self.commands
            .send(Command::AddPeer { addr })
            .await
            .map_err(|_| NodeError::Stopped)
    }

    /// Publishes a hazardous finding: gossips the redacted summary with one
    /// salted commitment per withheld field (details always withheld) and
    /// keeps the withheld fields on this node, encrypted at rest to this
    /// organization's own key. Returns once both are durably committed.
    /// The full finding is wiped from memory once redacted (see
    /// `plaintext`).
    pub async fn publish_hazardous(
        &self,
        full: impl Into<Wiped<riskmesh_protocol::BulletinBody>>,
        redaction: riskmesh_protocol::redaction::Redaction,
    ) -> Result<VerifiedEntry, NodeError> {
        self.call(|reply| Command::PublishHazardous {
            full: Box::new(full.into()),
            redaction: Box::new(redaction),
            reply,
        })
        .await?
    }

    /// Publishes an access request for withheld fields of a hazardous entry.
    pub async fn request_access(
        &self,
        target: EntryId,
        fields: Vec<riskmesh_protocol::redaction::WithheldField>,
        reason: String,
    ) -> Result<VerifiedEntry, NodeError> {
        let mut fields = fields;
        fields.sort();
        fields.dedup();
        self.publish(Draft {
            kind: riskmesh_protocol::Kind::AccessRequest,
            tier: riskmesh_protocol::Tier::Consortium,
            body: riskmesh_protocol::Body::AccessRequest(riskmesh_protocol::body::AccessRequestBody {
                target,
                reason,
                fields,
            }),
            recipients: None,
        })
        .await
    }

    /// Publishes this organization's decision on an access request. Once
    /// the entry's policy is satisfied, the author's node releases the
    /// fields to the requester's node by itself.
    pub async fn decide_access(
        &self,
        request: EntryId,
        grant: bool,
        reason: String,
    ) -> Result<VerifiedEntry, NodeError> {
        self.publish(Draft {
            kind: riskmesh_protocol::Kind::AccessDecision,
            tier: riskmesh_protocol::Tier::Consortium,
            body: riskmesh_protocol::Body::AccessDecision(riskmesh_protocol::body::AccessDecisionBody {
                request,
                grant,
                reason,
            }),
            recipients: None,
        })
        .await
    }

    /// The withheld fields of `target` this organization holds: its own as
    /// author, or released to it (empty otherwise). For its own analysts only;
    /// wiped from memory when dropped.
    pub async fn released(&self, target: EntryId) -> Result<Openings, NodeError> {
        self.call(|reply| Command::Released { target, reply }).await?
    }

    /// Who asked for a hazardous entry's details, why, who approved or
    /// denied, who received them and when.
    pub async fn audit(&self, target: EntryId) -> Result<hazard::AuditTrail, NodeError> {
        self.call(|reply| Command::Audit { target, reply }).await?
    }

    /// Offers a signed roster update (the next version, with a quorum of the
    /// current version's members). On success the node switches to it,
    /// stores it and gossips it; returns the new version.
    pub async fn offer_roster(&self, signed: riskmesh_protocol::SignedRoster) -> Result<u64, NodeError> {
        self.call(|reply| Command::OfferRoster {
            signed: Box::new(signed),
            reply,
        })
        .await?
    }

    /// Starts a sync round with every connected peer now.
    pub async fn sync_now(&self) -> Result<(), NodeError> {
        self.commands
            .send(Command::SyncNow)
            .await
            .map_err(|_| NodeError::Stopped)
    }

    /// Ids of the entries this node stores from now on, as each commit
    /// lands (the web console's live feed). The channel holds
    /// [`STORED_NOTICES`] ids; a receiver that falls further behind gets
    /// `RecvError::Lagged` and should read the store again.
    pub fn subscribe_stored(&self) -> broadcast::Receiver<EntryId> {
        self.stored.resubscribe()
    }

    /// The roster in force.
    pub fn current_roster(&self) -> Arc<Roster> {
        match self.roster.read() {
            Ok(r) => Arc::clone(&r),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }
}

/// The core of a started node: its handle, its bound addresses and the
/// event loop's task. [`crate::start`] wraps it with the API.
#[derive(Debug)]
pub struct Runtime {
    /// Handle for commands.
    pub handle: NodeHandle,
    /// libp2p listen addresses actually bound (with `/p2p/<peer id>`).
    pub listen_addrs: Vec<Multiaddr>,
    /// The event loop; it ends with the node (`Err` names a fatal failure).
    pub task: JoinHandle<Result<(), String>>,
}

/// The roster in force after applying every stored update to the genesis.
fn load_roster(config: &NodeConfig, store: &Store) -> Result<Arc<Roster>, StartError> {
    let genesis = verified_genesis(&config.genesis, &config.genesis_hash)?;
    let updates = store.load_rosters()?;
    if updates
        .iter()
        .all(|u| u.document().is_ok_and(|d| d.version <= genesis.version()))
    {
        // Nothing to apply: share the verified genesis (a 500-member roster
        // is a few hundred KiB; the simulator runs 500 nodes on one).
        return Ok(genesis);
    }
    Ok(Arc::new(Roster::clone(&genesis).replay(&updates)?))
}

/// Genesis rosters this process has verified, by the hash of their signed
/// bytes, so many nodes in one process (the simulator: 500 nodes of a
/// 500-founder roster would check 250,000 signatures at start) verify each
/// genesis once. The same bytes always verify the same way, so a hit is as
/// good as a check; a real node runs alone and gains nothing, loses nothing.
fn verified_genesis(signed: &SignedRoster, pinned: &Hash32) -> Result<Arc<Roster>, RosterError> {
    use std::sync::{Mutex, OnceLock};
    /// Distinct genesis rosters kept (tests start many networks).
    const KEPT: usize = 8;
    /// Verified genesis rosters by the hash of their signed bytes.
    type Kept = Mutex<Vec<(Hash32, Arc<Roster>)>>;
    static VERIFIED: OnceLock<Kept> = OnceLock::new();
    let key = Hash32::of(&signed.to_bytes());
    let cache = VERIFIED.get_or_init(|| Mutex::new(Vec::new()));
    if let Ok(kept) = cache.lock()
        && let Some((_, roster)) = kept.iter().find(|(k, _)| *k == key)
        && roster.hash() == *pinned
    {
        return Ok(Arc::clone(roster));
    }
    let roster = Arc::new(Roster::genesis_pinned(signed, pinned)?);
    if let Ok(mut kept) = cache.lock() {
        if kept.len() >= KEPT {
            kept.remove(0);
        }
        kept.push((key, Arc::clone(&roster)));
    }
    Ok(roster)
}

/// Starts a node's core: opens its database (which must exist, see
/// [`Store::create`]), restores chain state, listens, and spawns the event
/// loop, which stops when `shutdown` turns true.
pub async fn launch(config: &NodeConfig, shutdown: watch::Receiver<bool>) -> Result<Runtime, StartError> {
    let store = Store::open(config.db_path())?;
    let roster = load_roster(config, &store)?;
    let org_key = config.org.signing.public();
    match Membership::of(&roster, &org_key) {
        Membership::Member => {}
        Membership::Joining => tracing::warn!(
            org = %config.org.org,
            roster_version = roster.version(),
            "this organization's key is on no roster version this node holds: joining. The node \
             connects to the roster's nodes, fetches the roster updates and the history, and can \
             publish once an update that lists its key is in force"
        ),
        Membership::Retired => tracing::warn!(
            org = %config.org.org,
            roster_version = roster.version(),
            "this organization's key is retired on the roster in force: the node keeps and serves \
             the history but can publish nothing"
        ),
    }
    let mut chain = ChainValidator::new();
    for author in store.chain_state()? {
        chain.restore(author.author, author.ids, author.last_timestamp_ms);
    }
    let mut budget = policy::storage::StorageBudget::new(config.storage);
    for (author, bytes) in store.stored_bytes_by_author()? {
        budget.restore(author, bytes);
    }
    let log = match store.head(&org_key)? {
        Some(head) => LogWriter::resume(roster.network(), head.seq, head.id, head.timestamp_ms),
        None => LogWriter::new(roster.network()),
    };
    let entries = store.count()?;
    let proofs = store.equivocations()?;
    let reader = Store::open_read_only(config.db_path())?;
    let receiver = Store::open_read_only(config.db_path())?;

    let metrics = Arc::new(Metrics::default());
    metrics
        .entries_stored
        .store(entries, std::sync::atomic::Ordering::Relaxed);
    metrics
        .equivocations
        .store(proofs.len() as u64, std::sync::atomic::Ordering::Relaxed);
    let shared_roster = Arc::new(RwLock::new(roster));
    let (command_tx, command_rx) = mpsc::channel(COMMAND_QUEUE);
    let (stored_tx, stored_rx) = broadcast::channel(STORED_NOTICES);
    let peer_id = config.node_key.public().to_peer_id();
    let handle = NodeHandle {
        commands: command_tx,
        metrics: Arc::clone(&metrics),
        peer_id,
        org_key,
        roster: Arc::clone(&shared_roster),
        stored: Arc::new(stored_rx),
    };
    let known_proofs = proofs.iter().map(|p| (p.author, p.seq)).collect();
    let network = workers::current(&shared_roster).network().to_string();
    let io = swarm_io::SwarmIo::start(config, &network, Arc::clone(&metrics)).await?;
    let listen_addrs = io.listen().to_vec();
    let stores = workers::WorkerStores {
        write: store,
        read: reader,
        receive: receiver,
    };
    let (workers, events) = workers::Workers::start(stores, &shared_roster, &config.org, &metrics, stored_tx);
    let ledger = ledger::Ledger::new(
        shared_roster,
        chain,
        log,
        Arc::clone(&config.org),
        known_proofs,
        Arc::clone(&metrics),
    );
    let event_loop = event_loop::EventLoop::new(
        config, io, ledger, budget, workers, events, metrics, command_rx, shutdown,
    );
    let task = tokio::spawn(event_loop.run());
    Ok(Runtime {
        handle,
        listen_addrs,
        task,
    })
}

/// Entry ids are shown as hex everywhere outside the protocol.
pub fn short(id: &EntryId) -> String {
    id.to_hex()[..16].to_string()
}

#[cfg(test)]
mod genesis_tests {
    use super::*;
    use riskmesh_protocol::testkit;

    #[test]
    fn a_cached_genesis_still_answers_to_its_pin() {
        let c = testkit::signatories();
        let signed = c.roster.signed().clone();
        let first = verified_genesis(&signed, &c.roster.hash()).expect("verifies");
        let again = verified_genesis(&signed, &c.roster.hash()).expect("cached");
        assert_eq!(first, again);
        // Cached or not, another pin is refused.
        assert!(matches!(
            verified_genesis(&signed, &Hash32([7; 32])),
            Err(RosterError::WrongGenesis { .. })
        ));
        // A tampered signature is not a cache hit: it is verified, and fails.
        let mut bad = signed.clone();
        bad.signatures[0].signature[3] ^= 1;
        assert!(verified_genesis(&bad, &c.roster.hash()).is_err());
    }
}
