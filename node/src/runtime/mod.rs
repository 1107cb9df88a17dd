//! The running node: startup (store, roster, chain state, swarm, workers),
//! the handle the API and tests use, and shutdown.
//!
//! One tokio task owns the swarm and the protocol state and runs the event
//! loop in `event_loop.rs`; signatures are verified on a thread pool and the
//! store is written by one thread in group commits (`workers.rs`).

mod event_loop;
pub mod hazard;
mod release_loop;
mod sync;
pub mod workers;

use crate::config::{NodeConfig, TOKEN_FILE};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};
use libp2p::{Multiaddr, PeerId};
use riskmesh_protocol::roster::RosterError;
use riskmesh_protocol::{ChainValidator, Draft, EntryId, LogWriter, OrgKey, Roster, VerifiedEntry};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Capacity of the command channel from handles to the event loop.
pub const COMMAND_QUEUE: usize = 256;

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
    /// This organization is not on the roster.
    #[error("organization `{0}` (this node's key) is not on the roster")]
    NotOnRoster(String),
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

/// Why a handle call failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeError {
    /// The node is shutting down or has stopped.
    #[error("the node is not running")]
    Stopped,
    /// The node is overloaded; try again.
    #[error("the node is busy; try again")]
    Busy,
    /// The entry was refused; the message says why.
    #[error("{0}")]
    Refused(String),
}

/// A command to the event loop.
pub(crate) enum Command {
    Publish {
        draft: Box<Draft>,
        reply: oneshot::Sender<Result<VerifiedEntry, String>>,
    },
    Status {
        reply: oneshot::Sender<NodeStatus>,
    },
    AddPeer {
        addr: Multiaddr,
    },
    SyncNow,
    PublishHazardous {
        full: Box<riskmesh_protocol::BulletinBody>,
        redaction: Box<riskmesh_protocol::redaction::Redaction>,
        reply: oneshot::Sender<Result<VerifiedEntry, String>>,
    },
    Released {
        target: EntryId,
        reply: oneshot::Sender<Result<Vec<riskmesh_protocol::redaction::Reveal>, String>>,
    },
    Audit {
        target: EntryId,
        reply: oneshot::Sender<Result<hazard::AuditTrail, String>>,
    },
    OfferRoster {
        signed: Box<riskmesh_protocol::SignedRoster>,
        reply: oneshot::Sender<Result<u64, String>>,
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
    /// Highest seq any peer announced.
    pub best_known_seq: u64,
    /// `best_known_seq - seq`.
    pub lag: u64,
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
    /// Peers on the roster.
    pub peers: Vec<PeerStatus>,
    /// Per-author heads and lag.
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
        .map_err(NodeError::Refused)
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
    pub async fn publish_hazardous(
        &self,
        full: riskmesh_protocol::BulletinBody,
        redaction: riskmesh_protocol::redaction::Redaction,
    ) -> Result<VerifiedEntry, NodeError> {
        self.call(|reply| Command::PublishHazardous {
            full: Box::new(full),
            redaction: Box::new(redaction),
            reply,
        })
        .await?
        .map_err(NodeError::Refused)
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
    /// author, or released to it (empty otherwise). For its own analysts only.
    pub async fn released(
        &self,
        target: EntryId,
    ) -> Result<Vec<riskmesh_protocol::redaction::Reveal>, NodeError> {
        self.call(|reply| Command::Released { target, reply })
            .await?
            .map_err(NodeError::Refused)
    }

    /// Who asked for a hazardous entry's details, why, who approved or
    /// denied, who received them and when.
    pub async fn audit(&self, target: EntryId) -> Result<hazard::AuditTrail, NodeError> {
        self.call(|reply| Command::Audit { target, reply })
            .await?
            .map_err(NodeError::Refused)
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
        .map_err(NodeError::Refused)
    }

    /// Starts a sync round with every connected peer now.
    pub async fn sync_now(&self) -> Result<(), NodeError> {
        self.commands
            .send(Command::SyncNow)
            .await
            .map_err(|_| NodeError::Stopped)
    }

    /// The roster in force.
    pub fn current_roster(&self) -> Arc<Roster> {
        match self.roster.read() {
            Ok(r) => Arc::clone(&r),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }
}

/// A started node.
#[derive(Debug)]
pub struct RunningNode {
    /// Handle for commands.
    pub handle: NodeHandle,
    /// libp2p listen addresses actually bound (with `/p2p/<peer id>`).
    pub listen_addrs: Vec<Multiaddr>,
    /// The local API's bound address.
    pub api_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<Result<(), String>>,
}

impl RunningNode {
    /// Stops the node: finishes in-flight commits, closes the store.
    pub async fn shutdown(self) -> Result<(), String> {
        let _ = self.shutdown.send(true);
        self.task.await.map_err(|e| e.to_string())?
    }

    /// Waits until the node stops by itself (fatal store error) or `signal`
    /// resolves, then shuts down.
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) -> Result<(), String> {
        let shutdown = self.shutdown;
        let mut task = self.task;
        tokio::select! {
            result = &mut task => return result.map_err(|e| e.to_string())?,
            () = signal => {}
        }
        let _ = shutdown.send(true);
        task.await.map_err(|e| e.to_string())?
    }
}

/// Reads the API token, creating a random one (mode 0600) if missing.
pub fn ensure_token(data_dir: &Path) -> Result<String, StartError> {
    let path = data_dir.join(TOKEN_FILE);
    let err = |e: std::io::Error| StartError::Token {
        path: path.display().to_string(),
        error: e.to_string(),
    };
    match std::fs::read_to_string(&path) {
        Ok(token) => Ok(token.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = hex::encode(rand::random::<[u8; 32]>());
            write_private(&path, token.as_bytes()).map_err(err)?;
            Ok(token)
        }
        Err(e) => Err(err(e)),
    }
}

/// Writes a file readable only by its owner.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The roster in force after applying every stored update to the genesis.
fn load_roster(config: &NodeConfig, store: &Store) -> Result<Roster, StartError> {
    let mut roster = Roster::genesis_pinned(&config.genesis, &config.genesis_hash)?;
    for signed in store.load_rosters()? {
        let version = signed.document()?.version;
        if version <= roster.version() {
            continue;
        }
        roster = roster.apply_update(&signed)?;
    }
    Ok(roster)
}

/// Starts a node: opens its database (which must exist, see
/// [`Store::create`]), restores chain state, listens, starts the API and
/// the event loop.
pub async fn start(config: NodeConfig) -> Result<RunningNode, StartError> {
    let store = Store::open(config.db_path())?;
    let roster = load_roster(&config, &store)?;
    let org_key = config.org.signing.public();
    if roster.member(&org_key).is_none() {
        return Err(StartError::NotOnRoster(config.org.org.clone()));
    }
    let mut chain = ChainValidator::new();
    for author in store.chain_state()? {
        chain.restore(author.author, author.ids, author.last_timestamp_ms);
    }
    let log = match store.head(&org_key)? {
        Some(head) => LogWriter::resume(roster.network(), head.seq, head.id, head.timestamp_ms),
        None => LogWriter::new(roster.network()),
    };
    let entries = store.count()?;
    let proofs = store.equivocations()?;
    let reader = Store::open_read_only(config.db_path())?;
    let api_store = Store::open_read_only(config.db_path())?;
    let token = ensure_token(&config.data_dir)?;

    let metrics = Arc::new(Metrics::default());
    metrics
        .entries_stored
        .store(entries, std::sync::atomic::Ordering::Relaxed);
    metrics
        .equivocations
        .store(proofs.len() as u64, std::sync::atomic::Ordering::Relaxed);
    let shared_roster = Arc::new(RwLock::new(Arc::new(roster)));
    let (command_tx, command_rx) = mpsc::channel(COMMAND_QUEUE);
    let peer_id = config.node_key.public().to_peer_id();
    let handle = NodeHandle {
        commands: command_tx,
        metrics: Arc::clone(&metrics),
        peer_id,
        org_key,
        roster: Arc::clone(&shared_roster),
    };

    let listener = tokio::net::TcpListener::bind(config.api_listen)
        .await
        .map_err(|e| StartError::Api {
            addr: config.api_listen,
            error: e.to_string(),
        })?;
    let api_addr = listener.local_addr().map_err(|e| StartError::Api {
        addr: config.api_listen,
        error: e.to_string(),
    })?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let api = crate::api::serve(
        listener,
        crate::api::ApiState::new(handle.clone(), api_store, token, config.org.clone()),
        shutdown_rx.clone(),
    );

    let known_proofs = proofs.iter().map(|p| (p.author, p.seq)).collect();
    let (event_loop, listen_addrs) = event_loop::EventLoop::new(
        &config,
        shared_roster,
        chain,
        log,
        store,
        reader,
        known_proofs,
        Arc::clone(&metrics),
        command_rx,
        shutdown_rx,
    )
    .await?;
    let task = tokio::spawn(async move {
        let api_task = tokio::spawn(api);
        let result = event_loop.run().await;
        let _ = api_task.await;
        result
    });
    Ok(RunningNode {
        handle,
        listen_addrs,
        api_addr,
        shutdown: shutdown_tx,
        task,
    })
}

/// Entry ids are shown as hex everywhere outside the protocol.
pub fn short(id: &EntryId) -> String {
    id.to_hex()[..16].to_string()
}
