//! The node's configuration: what a running node needs, resolved once from
//! the config file and flags (see `config_file`) or built directly by tests
//! and simulations.

use libp2p::Multiaddr;
use libp2p::identity::Keypair;
use riskmesh_protocol::Hash32;
use riskmesh_protocol::keys::OrgSecrets;
use riskmesh_protocol::roster::SignedRoster;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Default TCP port for libp2p.
pub const DEFAULT_P2P_PORT: u16 = 4610;
/// Default port for the local HTTP API (bound to 127.0.0.1 only).
pub const DEFAULT_API_PORT: u16 = 4620;
/// Default interval between periodic sync rounds with every connected peer.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(30);
/// Default per-author rate limit, in entries per minute, applied to
/// entries received from the network (an author's own node is not limited).
pub const DEFAULT_AUTHOR_RATE_PER_MINUTE: u32 = 600;
/// Database file name inside the data directory.
pub const DB_FILE: &str = "riskmesh.db";
/// API bearer-token file name inside the data directory.
pub const TOKEN_FILE: &str = "api-token";
/// The local API's Unix socket inside the data directory: the analysts'
/// CLI talks to it by default (see `SECURITY.md`, "The local analyst
/// channel").
pub const API_SOCKET_FILE: &str = "api.sock";
/// The lock file a running node holds in its data directory (it records
/// the node's process id).
pub const LOCK_FILE: &str = "node.lock";

/// Everything a node needs to run, already loaded and checked.
#[derive(Clone)]
pub struct NodeConfig {
    /// Directory holding the database and the API token.
    pub data_dir: PathBuf,
    /// This organization's secret keys.
    pub org: Arc<OrgSecrets>,
    /// This node's libp2p identity.
    pub node_key: Keypair,
    /// The signed genesis roster (its hash must equal `genesis_hash`).
    pub genesis: SignedRoster,
    /// The genesis hash this node pins.
    pub genesis_hash: Hash32,
    /// libp2p listen addresses (`/ip4/127.0.0.1/tcp/0` picks a free port).
    pub listen: Vec<Multiaddr>,
    /// Local HTTP API address (port 0 picks a free port).
    pub api_listen: SocketAddr,
    /// Extra peers to dial besides the roster's bootstrap addresses
    /// (multiaddrs ending in `/p2p/<peer id>`).
    pub bootstrap: Vec<Multiaddr>,
    /// Interval between periodic sync rounds.
    pub sync_interval: Duration,
    /// Per-author rate limit for entries received from the network.
    pub author_rate_per_minute: u32,
    /// Roster peers this node dials (its outbound degree; see
    /// `runtime::policy::peers::DIAL_PEERS`).
    pub dial_peers: usize,
    /// Organizations whose nodes this node always dials, whatever the bound.
    pub pinned_orgs: Vec<String>,
    /// Per-author storage budgets and the free-disk floor.
    pub storage: crate::runtime::policy::storage::StorageLimits,
}

impl std::fmt::Debug for NodeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeConfig")
            .field("data_dir", &self.data_dir)
            .field("org", &self.org.org)
            .field("peer_id", &self.node_key.public().to_peer_id())
            .field("genesis_hash", &self.genesis_hash)
            .field("listen", &self.listen)
            .field("api_listen", &self.api_listen)
            .field("bootstrap", &self.bootstrap)
            .field("sync_interval", &self.sync_interval)
            .field("author_rate_per_minute", &self.author_rate_per_minute)
            .field("dial_peers", &self.dial_peers)
            .field("pinned_orgs", &self.pinned_orgs)
            .finish()
    }
}

impl NodeConfig {
    /// Path of the database file.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join(DB_FILE)
    }

    /// Path of the API token file.
    pub fn token_path(&self) -> PathBuf {
        self.data_dir.join(TOKEN_FILE)
    }

    /// Path of the API's Unix socket.
    pub fn api_socket_path(&self) -> PathBuf {
        self.data_dir.join(API_SOCKET_FILE)
    }
}
