//! A local consortium on loopback: deterministic organizations, one real
//! node each, a genesis roster naming their node peer ids, data directories
//! in a temporary folder. Used by the integration tests, the benchmarks and
//! the simulations. The keys come from `riskmesh_protocol::testkit` and are
//! public knowledge: never use this for a real network.

use crate::RunningNode;
use crate::config::NodeConfig;
use crate::runtime::policy::storage::StorageLimits;
use crate::runtime::{NodeHandle, NodeStatus};
use crate::store::Store;
use libp2p::identity::Keypair;
use riskmesh_protocol::roster::{PeerIdBytes, Roster, SignedRoster};
use riskmesh_protocol::testkit;
use riskmesh_protocol::{Body, Draft, Kind, Tier, VerifiedEntry};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A node's libp2p key, derived from a label so restarts keep the peer id.
pub fn node_key(label: &str) -> Keypair {
    let mut seed = testkit::seed(&format!("{label}/node"));
    Keypair::ed25519_from_bytes(&mut seed).expect("32-byte seed")
}

/// A running local consortium.
#[derive(Debug)]
pub struct Cluster {
    /// Holds every node's data directory; removed on drop.
    pub dir: TempDir,
    /// Organization ids, in node order.
    pub orgs: Vec<String>,
    /// The signed genesis roster.
    pub genesis: SignedRoster,
    /// The verified genesis roster.
    pub roster: Roster,
    /// Running nodes (`None` for stopped ones).
    pub nodes: Vec<Option<RunningNode>>,
    /// Per-author gossip rate limit given to every node (default: high
    /// enough not to interfere).
    pub author_rate_per_minute: u32,
    /// Storage budgets given to every node (default: the defaults, with no
    /// free-disk floor, so tests do not depend on the machine's free space).
    pub storage: StorageLimits,
}

impl Cluster {
    /// Builds the roster for `orgs` (all members), creates their databases,
    /// and starts every node, connected in a full mesh.
    pub async fn start(orgs: &[&str]) -> Cluster {
        let extra: &[(&str, Keypair)] = &[];
        Self::start_with(orgs, extra).await
    }

    /// Like [`start`], and registers extra node keys for some orgs (for
    /// adversaries that hold an org's key and a roster-listed peer id).
    pub async fn start_with(orgs: &[&str], extra_nodes: &[(&str, Keypair)]) -> Cluster {
        Self::start_some(orgs, orgs.len(), extra_nodes).await
    }

    /// Puts every org of `orgs` on the roster but starts only the first
    /// `running`; the others exist for adversaries to impersonate.
    pub async fn start_some(orgs: &[&str], running: usize, extra_nodes: &[(&str, Keypair)]) -> Cluster {
        Self::start_rate_limited(orgs, running, extra_nodes, 100_000).await
    }

    /// Members and observers, every node running, connected.
    pub async fn start_with_observers(members: &[&str], observers: &[&str]) -> Cluster {
        let all = members.len() + observers.len();
        Self::start_full(members, observers, all, &[], 100_000).await
    }

    /// Like [`Cluster::start_some`], with a per-author gossip rate limit.
    pub async fn start_rate_limited(
        orgs: &[&str],
        running: usize,
        extra_nodes: &[(&str, Keypair)],
        author_rate_per_minute: u32,
    ) -> Cluster {
        Self::start_full(orgs, &[], running, extra_nodes, author_rate_per_minute).await
    }

    /// The general form: `members` then `observers` (in that node order),
    /// the first `running` started, extra node keys listed for some orgs.
    pub async fn start_full(
        members: &[&str],
        observers: &[&str],
        running: usize,
        extra_nodes: &[(&str, Keypair)],
        author_rate_per_minute: u32,
    ) -> Cluster {
        let orgs: Vec<&str> = members.iter().chain(observers).copied().collect();
        let orgs = orgs.as_slice();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut doc = testkit::genesis_doc(testkit::NETWORK, members, observers, 1_690_000_000_000);
        for member in &mut doc.members {
            let peer = node_key(&member.org).public().to_peer_id();
            member.nodes.push(PeerIdBytes(peer.to_bytes().into()));
            for (org, key) in extra_nodes {
                if *org == member.org {
                    member
                        .nodes
                        .push(PeerIdBytes(key.public().to_peer_id().to_bytes().into()));
                }
            }
        }
        let mut genesis = SignedRoster::new(&doc);
        for org in members {
            genesis.sign(&testkit::org_secrets(org).signing);
        }
        let roster = Roster::genesis(&genesis).expect("genesis");
        let mut cluster = Cluster {
            dir,
            orgs: orgs.iter().map(|s| s.to_string()).collect(),
            genesis,
            roster,
            nodes: Vec::new(),
            author_rate_per_minute,
            storage: no_disk_floor(),
        };
        for org in orgs {
            let data = cluster.data_dir(org);
            std::fs::create_dir_all(&data).expect("data dir");
            Store::create(data.join("riskmesh.db"))
                .expect("create db")
                .close()
                .expect("close");
        }
        for i in 0..orgs.len() {
            if i < running {
                let node = cluster.launch(i).await;
                cluster.nodes.push(Some(node));
            } else {
                cluster.nodes.push(None);
            }
        }
        cluster.connect_all().await;
        cluster
    }

    /// Builds the roster described by `spec` (members and observers, every
    /// org's own node key plus `spec.extra_nodes`; the genesis signed by every
    /// member) and creates every database, but starts no node and connects
    /// nothing: the caller launches nodes with [`Cluster::launch`] (or
    /// `riskmesh_node::start` with an adjusted [`Cluster::config`]) and tells them
    /// whichever addresses it likes. Simulations use this to route links
    /// through proxies. Node `i` belongs to `orgs[i]`: members first, then
    /// observers, each in the order given.
    pub fn prepare(spec: &ClusterSpec) -> Cluster {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let members: Vec<&str> = spec.members.iter().map(String::as_str).collect();
        let observers: Vec<&str> = spec.observers.iter().map(String::as_str).collect();
        let mut doc = testkit::genesis_doc(testkit::NETWORK, &members, &observers, 1_690_000_000_000);
        for member in &mut doc.members {
            let peer = node_key(&member.org).public().to_peer_id();
            member.nodes.push(PeerIdBytes(peer.to_bytes().into()));
            for (org, key) in &spec.extra_nodes {
                if *org == member.org {
                    member
                        .nodes
                        .push(PeerIdBytes(key.public().to_peer_id().to_bytes().into()));
                }
            }
        }
        let mut genesis = SignedRoster::new(&doc);
        for org in &members {
            genesis.sign(&testkit::org_secrets(org).signing);
        }
        let roster = Roster::genesis(&genesis).expect("genesis");
        let orgs: Vec<String> = spec.members.iter().chain(&spec.observers).cloned().collect();
        let cluster = Cluster {
            dir,
            nodes: orgs.iter().map(|_| None).collect(),
            orgs,
            genesis,
            roster,
            author_rate_per_minute: spec.author_rate_per_minute,
            storage: no_disk_floor(),
        };
        for org in &cluster.orgs {
            let data = cluster.data_dir(org);
            std::fs::create_dir_all(&data).expect("data dir");
            Store::create(data.join("riskmesh.db"))
                .expect("create db")
                .close()
                .expect("close");
        }
        cluster
    }

    /// A node's data directory.
    pub fn data_dir(&self, org: &str) -> PathBuf {
        self.dir.path().join(org)
    }

    /// The configuration of node `i`.
    pub fn config(&self, i: usize) -> NodeConfig {
        let org = &self.orgs[i];
        NodeConfig {
            data_dir: self.data_dir(org),
            org: Arc::new(testkit::org_secrets(org)),
            node_key: node_key(org),
            genesis: self.genesis.clone(),
            genesis_hash: self.roster.hash(),
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("multiaddr")],
            api_listen: "127.0.0.1:0".parse().expect("socket addr"),
            bootstrap: Vec::new(),
            sync_interval: Duration::from_secs(2),
            author_rate_per_minute: self.author_rate_per_minute,
            dial_peers: crate::runtime::policy::peers::DIAL_PEERS,
            pinned_orgs: Vec::new(),
            storage: self.storage,
        }
    }

    /// Starts node `i` (its database must exist).
    pub async fn launch(&self, i: usize) -> RunningNode {
        crate::start(self.config(i)).await.expect("node starts")
    }

    /// The handle of running node `i`.
    pub fn handle(&self, i: usize) -> NodeHandle {
        self.nodes[i].as_ref().expect("node running").handle.clone()
    }

    /// Tells every running node every other running node's address.
    pub async fn connect_all(&self) {
        for (i, a) in self.nodes.iter().enumerate() {
            let Some(a) = a else { continue };
            for (j, b) in self.nodes.iter().enumerate() {
                let Some(b) = b else { continue };
                if i != j {
                    for addr in &b.listen_addrs {
                        a.handle.add_peer(addr.clone()).await.expect("add peer");
                    }
                }
            }
        }
    }

    /// Stops node `i` cleanly.
    pub async fn stop(&mut self, i: usize) {
        if let Some(node) = self.nodes[i].take() {
            node.shutdown().await.expect("clean shutdown");
        }
    }

    /// Starts node `i` again on its data directory and reconnects everyone.
    pub async fn restart(&mut self, i: usize) {
        let node = self.launch(i).await;
        self.nodes[i] = Some(node);
        self.connect_all().await;
    }

    /// Status of running node `i`.
    pub async fn status(&self, i: usize) -> NodeStatus {
        self.handle(i).status().await.expect("status")
    }

    /// Stops every node.
    pub async fn shutdown(mut self) {
        for i in 0..self.nodes.len() {
            self.stop(i).await;
        }
    }
}

/// Who is on a [`Cluster`]'s roster, for [`Cluster::prepare`].
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Member organizations (they sign the genesis).
    pub members: Vec<String>,
    /// Observer organizations.
    pub observers: Vec<String>,
    /// Extra roster-listed node keys for some orgs (for adversaries).
    pub extra_nodes: Vec<(String, Keypair)>,
    /// Per-author gossip rate limit given to every node.
    pub author_rate_per_minute: u32,
}

/// The default storage limits without a free-disk floor.
pub fn no_disk_floor() -> StorageLimits {
    StorageLimits {
        free_disk_floor_bytes: 0,
        free_disk_floor_percent: 0,
        ..StorageLimits::default()
    }
}

/// Publishes a consortium bulletin from node `handle`.
pub async fn publish(handle: &NodeHandle, title: &str) -> VerifiedEntry {
    let draft = Draft {
        kind: Kind::Bulletin,
        tier: Tier::Consortium,
        body: Body::Bulletin(testkit::sample_bulletin(title)),
        recipients: None,
    };
    handle.publish(draft).await.expect("publish")
}

/// Polls `check` until it holds or `timeout` passes; panics with `what`.
pub async fn wait_for<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// Entries stored, per node.
pub async fn counts(cluster: &Cluster) -> Vec<u64> {
    let mut out = Vec::new();
    for (i, node) in cluster.nodes.iter().enumerate() {
        if node.is_some() {
            out.push(cluster.status(i).await.entries);
        }
    }
    out
}
