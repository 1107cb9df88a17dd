//! The harness: starts one real node per honest organization (libp2p on
//! loopback, SQLite in a temporary directory), wires their links (through
//! proxies or directly), plays the plan — publications, crashes, partitions,
//! link faults, adversaries, hazardous releases — waits for convergence,
//! stops every node and hands the databases to the checks.
//!
//! Faults are injected only from outside: a crash is `RunningNode::shutdown`
//! and a fresh `riskmesh_node::start` on the same directory; a partition blocks
//! proxies; adversaries are separate swarms.

use crate::adversary::{self, Activity, Context, Target};
use crate::content::{self, Canary};
use crate::hazardous::{self, Parties, RaceParties, ReleaseRecord};
use crate::hostile;
use crate::measure;
use crate::plan::{Plan, PubKind, Publication};
use crate::proxy::{LinkEffect, LinkProxy};
use crate::scenario::{Adversary, Links, Scenario, Step};
use indicatif::ProgressBar;
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use riskmesh_node::RunningNode;
use riskmesh_node::metrics::Metrics;
use riskmesh_node::runtime::workers::WRITER_THREAD;
use riskmesh_node::runtime::{NodeHandle, NodeStatus, now_ms};
use riskmesh_node::testnet::{Cluster, ClusterSpec};
use riskmesh_protocol::{EntryId, Tier};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Why a simulation could not run (as opposed to a run whose checks failed).
#[derive(Debug)]
#[non_exhaustive]
pub enum SimError {
    /// A node failed to start.
    NodeStart(String),
    /// A proxy or file could not be set up.
    Io(std::io::Error),
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimError::NodeStart(e) => write!(f, "a node failed to start: {e}"),
            SimError::Io(e) => write!(f, "i/o: {e}"),
        }
    }
}

impl std::error::Error for SimError {}

impl From<std::io::Error> for SimError {
    fn from(e: std::io::Error) -> Self {
        SimError::Io(e)
    }
}

/// A node's counters, summed over its restarts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MetricsSnapshot {
    /// Gossip payload bytes received.
    pub gossip_bytes_in: u64,
    /// Gossip payload bytes published (own entries only).
    pub gossip_bytes_out: u64,
    /// Sync response bytes received.
    pub sync_bytes_in: u64,
    /// Sync response bytes sent.
    pub sync_bytes_out: u64,
    /// Sync requests sent.
    pub sync_requests_out: u64,
    /// Sync requests served.
    pub sync_requests_in: u64,
    /// Penalties applied to peers.
    pub penalties: u64,
    /// Entries accepted into a chain.
    pub accepted: u64,
    /// Rejected messages by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Ignored messages by reason.
    pub ignored: BTreeMap<String, u64>,
}

impl MetricsSnapshot {
    /// Reads a running node's counters.
    pub fn of(m: &Metrics) -> Self {
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let mut out = MetricsSnapshot {
            gossip_bytes_in: get(&m.gossip_bytes_in),
            gossip_bytes_out: get(&m.gossip_bytes_out),
            sync_bytes_in: get(&m.sync_bytes_in),
            sync_bytes_out: get(&m.sync_bytes_out),
            sync_requests_out: get(&m.sync_requests_out),
            sync_requests_in: get(&m.sync_requests_in),
            penalties: get(&m.penalties),
            accepted: get(&m.accepted),
            ..MetricsSnapshot::default()
        };
        // The reason maps are private; their Prometheus rendering is public.
        for line in m.render().lines() {
            for (prefix, map) in [
                ("riskmesh_entries_rejected_total{reason=\"", &mut out.rejected),
                ("riskmesh_entries_ignored_total{reason=\"", &mut out.ignored),
            ] {
                if let Some(rest) = line.strip_prefix(prefix)
                    && let Some((reason, value)) = rest.split_once("\"} ")
                    && let Ok(v) = value.trim().parse::<u64>()
                {
                    map.insert(reason.to_string(), v);
                }
            }
        }
        out
    }

    /// Adds another incarnation's counters.
    pub fn add(&mut self, o: &MetricsSnapshot) {
        self.gossip_bytes_in += o.gossip_bytes_in;
        self.gossip_bytes_out += o.gossip_bytes_out;
        self.sync_bytes_in += o.sync_bytes_in;
        self.sync_bytes_out += o.sync_bytes_out;
        self.sync_requests_out += o.sync_requests_out;
        self.sync_requests_in += o.sync_requests_in;
        self.penalties += o.penalties;
        self.accepted += o.accepted;
        for (k, v) in &o.rejected {
            *self.rejected.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.ignored {
            *self.ignored.entry(k.clone()).or_default() += v;
        }
    }

    /// Rejected messages of every reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// One successful publication.
#[derive(Debug, Clone)]
pub struct PublishedEntry {
    /// Plan index.
    pub index: usize,
    /// Author's honest node.
    pub node: usize,
    /// Entry id.
    pub id: EntryId,
    /// Tier.
    pub tier: Tier,
    /// Kind name.
    pub kind: &'static str,
    /// Author timestamp, Unix ms.
    pub timestamp_ms: u64,
    /// Bytes on the wire (envelope + body, CBOR-framed).
    pub wire_len: usize,
    /// Restricted plaintext.
    pub plaintext: Option<Vec<u8>>,
    /// Restricted recipients (honest node indices).
    pub recipients: Vec<usize>,
    /// Whether a purge retraction targets it (set after the run).
    pub purged_by_plan: bool,
}

impl PublishedEntry {
    /// Publication `index` by node `node` with no restricted material.
    pub(crate) fn of(index: usize, node: usize, entry: &riskmesh_protocol::VerifiedEntry) -> Self {
        let h = entry.header();
        PublishedEntry {
            index,
            node,
            id: entry.id(),
            tier: h.tier,
            kind: h.kind.name(),
            timestamp_ms: h.timestamp_ms,
            wire_len: entry.to_wire().encoded_len(),
            plaintext: None,
            recipients: Vec::new(),
            purged_by_plan: false,
        }
    }
}

/// A node catching up after a restart.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CatchUp {
    /// The org.
    pub org: String,
    /// Restart time, s after the phase started.
    pub restarted_at_s: f64,
    /// Entries it lacked at restart (others' heads minus its own).
    pub behind_at_restart: u64,
    /// Seconds until it held everything others held at restart (absent:
    /// not within the watch).
    pub seconds: Option<f64>,
    /// `(s since restart, entries behind)` samples.
    pub samples: Vec<(f64, u64)>,
}

/// A fault as it actually happened.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRecord {
    /// crash, partition or link.
    pub kind: String,
    /// What it was.
    pub label: String,
    /// Start, s after the phase started.
    pub start_s: f64,
    /// End.
    pub end_s: f64,
}

/// Everything a run leaves for the checks and the report.
#[derive(Debug)]
pub struct RunData {
    /// The scenario.
    pub scenario: Scenario,
    /// The plan.
    pub plan: Plan,
    /// The cluster (its temporary directory holds every database).
    pub cluster: Cluster,
    /// Honest node index → cluster node index.
    pub cluster_index: Vec<usize>,
    /// Wall clock at the start of the publishing phase, Unix ms.
    pub t0_ms: u64,
    /// Publications that succeeded.
    pub published: Vec<PublishedEntry>,
    /// Publications that failed, with why.
    pub failed: Vec<(usize, String)>,
    /// Canaries placed.
    pub canaries: Vec<Canary>,
    /// Hazardous finding publication index → entry id and author node.
    pub hazardous: Vec<(usize, EntryId, usize)>,
    /// Counters per honest node, summed over restarts.
    pub metrics: Vec<MetricsSnapshot>,
    /// Final status per honest node (before the stop).
    pub statuses: Vec<NodeStatus>,
    /// Withheld fields each node's API returns per hazardous finding:
    /// `(publication, node, field names)` for non-empty answers.
    pub released_views: Vec<(usize, usize, Vec<String>)>,
    /// Adversary activity.
    pub activities: Vec<Activity>,
    /// Access requests and their outcomes.
    pub releases: Vec<ReleaseRecord>,
    /// Catch-ups after restarts.
    pub catch_ups: Vec<CatchUp>,
    /// Faults as they happened.
    pub faults: Vec<FaultRecord>,
    /// Bytes through link proxies (0 with direct links).
    pub wire_bytes: u64,
    /// Connections cut by the loss model.
    pub link_cuts: u64,
    /// Whether every honest node agreed before the stop, and when.
    pub converged_after_s: Option<f64>,
    /// Publishing phase length actually taken, s.
    pub phase_s: f64,
    /// Whole run, s (start to stop).
    pub wall_s: f64,
    /// Time to start every node, s.
    pub startup_s: f64,
    /// CPU seconds the process used during the run.
    pub cpu_s: Option<f64>,
    /// CPU seconds from the start of the publishing phase to the end of
    /// the settle (see `check::Figures::cpu_phase_s`).
    pub cpu_phase_s: Option<f64>,
    /// Of `cpu_phase_s`, the seconds the nodes' store writer threads used.
    pub writer_cpu_phase_s: Option<f64>,
    /// Highest resident memory sampled during the run, MiB.
    pub peak_rss_mib: Option<f64>,
    /// Resident memory before the nodes started, MiB.
    pub base_rss_mib: Option<f64>,
    /// Log files written by the nodes during the run.
    pub log_files: Vec<PathBuf>,
    /// The honest workload run alone first, when the scenario asks for
    /// one (`expect.latency_p99_vs_baseline`); set by [`crate::simulate`].
    pub baseline: Option<crate::check::Baseline>,
}

// ---- node logs -----------------------------------------------------------

static LOG_SINK: Mutex<Option<std::fs::File>> = Mutex::new(None);

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match LOG_SINK.lock() {
            Ok(mut sink) => match sink.as_mut() {
                Some(file) => file.write(buf),
                None => Ok(buf.len()),
            },
            Err(_) => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match LOG_SINK.lock() {
            Ok(mut sink) => sink.as_mut().map_or(Ok(()), |f| f.flush()),
            Err(_) => Ok(()),
        }
    }
}

/// Sends the nodes' logs (every node runs in this process) to `path` from
/// now on. The first call installs a global subscriber; if the embedding
/// program installed its own, logs go there instead and are not scanned.
pub(crate) fn capture_logs(path: &std::path::Path) -> std::io::Result<bool> {
    let file = std::fs::File::create(path)?;
    if let Ok(mut sink) = LOG_SINK.lock() {
        *sink = Some(file);
    }
    static INSTALLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ours = *INSTALLED.get_or_init(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_env("RISKMESH_SIM_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("info,libp2p_gossipsub=warn,libp2p_swarm=warn")
        });
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .try_init()
            .is_ok()
    });
    Ok(ours)
}

pub(crate) fn release_logs() {
    if let Ok(mut sink) = LOG_SINK.lock()
        && let Some(mut f) = sink.take()
    {
        let _ = f.flush();
    }
}

// ---- the harness ---------------------------------------------------------

/// Honest handles shared with publishing and watching tasks.
pub(crate) type Handles = Arc<RwLock<Vec<Option<NodeHandle>>>>;

/// Process CPU seconds and the store writer threads' CPU seconds, now.
type CpuReading = (Option<f64>, Option<f64>);

/// A [`CpuReading`] that opens a window. Reading every thread's `/proc`
/// files costs CPU of its own (about 80 ms for 2,500 threads, 500 nodes),
/// so the writers are read before the process here and after it in
/// [`closing_cpu_reading`]: neither reading bills its cost to the window.
fn opening_cpu_reading() -> CpuReading {
    let writers = measure::threads_cpu_seconds(WRITER_THREAD);
    (measure::cpu_seconds(), writers)
}

/// A [`CpuReading`] that closes a window (see [`opening_cpu_reading`]).
fn closing_cpu_reading() -> CpuReading {
    let process = measure::cpu_seconds();
    (process, measure::threads_cpu_seconds(WRITER_THREAD))
}

pub(crate) fn handle_of(handles: &Handles, i: usize) -> Option<NodeHandle> {
    handles.read().ok().and_then(|h| h.get(i).cloned().flatten())
}

/// The honest nodes of a run and the links between them: what the
/// scenario drivers ([`execute`], [`crate::membership`]) start, stop and
/// restart.
pub(crate) struct Harness {
    pub(crate) scenario: Scenario,
    pub(crate) plan: Plan,
    pub(crate) cluster: Cluster,
    pub(crate) cluster_index: Vec<usize>,
    pub(crate) nodes: Vec<Option<RunningNode>>,
    pub(crate) handles: Handles,
    pub(crate) ports: Vec<u16>,
    pub(crate) direct_addrs: Vec<Multiaddr>,
    pub(crate) proxies: HashMap<(usize, usize), LinkProxy>,
    pub(crate) metrics: Vec<MetricsSnapshot>,
    /// Each node's key generation (0: the fixture keys; a rotation takes
    /// the next, see `testkit::rotated_secrets`).
    pub(crate) generation: Vec<u32>,
    pub(crate) t0: Instant,
    pub(crate) t0_ms: u64,
    pub(crate) faults: Vec<FaultRecord>,
    catch_ups: Vec<JoinHandle<CatchUp>>,
}

impl Harness {
    /// Prepares the cluster of `plan` (on the roster: the honest members,
    /// the adversaries' own orgs and the observers, plus `extra_nodes`),
    /// starts every honest node but those in `late`, wires the links
    /// (through proxies when the scenario asks for them) and tells every
    /// node its peers' addresses.
    pub(crate) async fn start(
        scenario: &Scenario,
        plan: &Plan,
        seed: u64,
        extra_nodes: Vec<(String, libp2p::identity::Keypair)>,
        late: &[usize],
    ) -> Result<Harness, SimError> {
        let n = plan.nodes.len();
        let mut members: Vec<String> = plan
            .nodes
            .iter()
            .filter(|p| !p.observer)
            .map(|p| p.org.clone())
            .collect();
        members.extend(plan.adversary_orgs.iter().cloned());
        let observers: Vec<String> = plan
            .nodes
            .iter()
            .filter(|p| p.observer)
            .map(|p| p.org.clone())
            .collect();
        let cluster = Cluster::prepare(&ClusterSpec {
            members,
            observers,
            extra_nodes,
            author_rate_per_minute: scenario.network.rate_limit_per_minute,
        });
        let cluster_index: Vec<usize> = plan
            .nodes
            .iter()
            .map(|p| cluster.orgs.iter().position(|o| *o == p.org).unwrap_or(0))
            .collect();
        let mut h = Harness {
            scenario: scenario.clone(),
            plan: plan.clone(),
            cluster,
            cluster_index,
            nodes: (0..n).map(|_| None).collect(),
            handles: Arc::new(RwLock::new(vec![None; n])),
            ports: vec![0; n],
            direct_addrs: vec![Multiaddr::empty(); n],
            proxies: HashMap::new(),
            metrics: vec![MetricsSnapshot::default(); n],
            generation: vec![0; n],
            t0: Instant::now(),
            t0_ms: 0,
            faults: Vec::new(),
            catch_ups: Vec::new(),
        };
        for i in (0..n).filter(|i| !late.contains(i)) {
            h.launch(i, 0).await?;
        }
        if scenario.network.links == Links::Proxied {
            for i in 0..n {
                for &j in &plan.topology[i] {
                    // A late node's proxies are pointed at it once it starts.
                    let target = std::net::SocketAddr::from(([127, 0, 0, 1], h.ports[j]));
                    let proxy = LinkProxy::start(target, seed ^ ((i as u64) << 32) ^ j as u64).await?;
                    h.proxies.insert((i, j), proxy);
                }
            }
        }
        for i in 0..n {
            h.introduce(i).await;
        }
        Ok(h)
    }

    /// Waits (at most 30 s) until every running node is connected to as
    /// many peers as its planned topology names, not counting `late` nodes,
    /// or to as many as it dials (`DIAL_PEERS`: a node of a large network
    /// keeps a bounded peer set).
    pub(crate) async fn await_connections(&self, late: &[usize]) {
        let n = self.n();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = (0..n)
                .filter(|i| !late.contains(i))
                .all(|i| self.running(i) && self.peers_of(i) >= self.peers_wanted(i, late));
            if ready || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How many peers node `i` should be connected to: those its planned
    /// topology names (not counting `late` nodes), at most as many as a
    /// node dials (`DIAL_PEERS`).
    fn peers_wanted(&self, i: usize, late: &[usize]) -> usize {
        self.plan.topology[i]
            .iter()
            .filter(|j| !late.contains(j))
            .count()
            .min(riskmesh_node::runtime::policy::peers::DIAL_PEERS)
    }

    /// Node `i`'s connected peers now (0 when it is not running).
    fn peers_of(&self, i: usize) -> usize {
        handle_of(&self.handles, i).map_or(0, |hd| hd.metrics.peers.load(Ordering::Relaxed) as usize)
    }

    fn running(&self, i: usize) -> bool {
        handle_of(&self.handles, i).is_some()
    }

    pub(crate) fn n(&self) -> usize {
        self.plan.nodes.len()
    }

    pub(crate) fn since_t0(&self) -> f64 {
        Instant::now().saturating_duration_since(self.t0).as_secs_f64()
    }

    pub(crate) async fn launch(&mut self, i: usize, port: u16) -> Result<(), SimError> {
        let mut config = self.cluster.config(self.cluster_index[i]);
        if self.generation[i] > 0 {
            let org = &self.plan.nodes[i].org;
            config.org = Arc::new(riskmesh_protocol::testkit::rotated_secrets(
                org,
                self.generation[i],
            ));
        }
        config.sync_interval = Duration::from_millis(self.scenario.network.sync_interval_ms);
        config.author_rate_per_minute = self.scenario.network.rate_limit_per_minute;
        let listen = |p: u16| -> Multiaddr {
            Multiaddr::empty()
                .with(Protocol::Ip4(std::net::Ipv4Addr::LOCALHOST))
                .with(Protocol::Tcp(p))
        };
        let mut attempt = 0;
        let node = loop {
            config.listen = vec![listen(port)];
            match riskmesh_node::start(config.clone()).await {
                Ok(node) => break node,
                // The old port may linger for a moment after a restart.
                Err(riskmesh_node::StartError::Runtime(riskmesh_node::runtime::StartError::Network(_)))
                    if port != 0 && attempt < 10 =>
                {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(riskmesh_node::StartError::Runtime(riskmesh_node::runtime::StartError::Network(_)))
                    if port != 0 =>
                {
                    config.listen = vec![listen(0)];
                    break riskmesh_node::start(config.clone())
                        .await
                        .map_err(|e| SimError::NodeStart(format!("{}: {e}", self.plan.nodes[i].org)))?;
                }
                Err(e) => return Err(SimError::NodeStart(format!("{}: {e}", self.plan.nodes[i].org))),
            }
        };
        let addr =
            node.listen_addrs.first().cloned().ok_or_else(|| {
                SimError::NodeStart(format!("{}: no listen address", self.plan.nodes[i].org))
            })?;
        let bound = addr.iter().find_map(|p| match p {
            Protocol::Tcp(p) => Some(p),
            _ => None,
        });
        if let Some(bound) = bound {
            if bound != self.ports[i] {
                // Restarted elsewhere (or started late): re-point the
                // proxies that lead to it.
                for ((_, to), proxy) in &self.proxies {
                    if *to == i {
                        proxy.set_target(std::net::SocketAddr::from(([127, 0, 0, 1], bound)));
                    }
                }
            }
            self.ports[i] = bound;
        }
        let moved = self.direct_addrs[i] != Multiaddr::empty() && self.direct_addrs[i] != addr;
        self.direct_addrs[i] = addr.clone();
        if let Ok(mut h) = self.handles.write() {
            h[i] = Some(node.handle.clone());
        }
        self.nodes[i] = Some(node);
        if moved && self.proxies.is_empty() {
            // Direct links: peers that know this node learn its new address.
            for j in 0..self.n() {
                if self.plan.topology[j].contains(&i)
                    && let Some(peer) = handle_of(&self.handles, j)
                {
                    let _ = peer.add_peer(addr.clone()).await;
                }
            }
        }
        Ok(())
    }

    /// The address node `i` is given for node `j`.
    fn address_for(&self, i: usize, j: usize) -> Multiaddr {
        match self.proxies.get(&(i, j)) {
            Some(proxy) => Multiaddr::empty()
                .with(Protocol::Ip4(std::net::Ipv4Addr::LOCALHOST))
                .with(Protocol::Tcp(proxy.listen.port()))
                .with(Protocol::P2p(libp2p::PeerId::from(
                    riskmesh_node::testnet::node_key(&self.plan.nodes[j].org).public(),
                ))),
            None => self.direct_addrs[j].clone(),
        }
    }

    /// Tells node `i` the addresses of its planned peers.
    pub(crate) async fn introduce(&self, i: usize) {
        self.introduce_except(i, &[]).await;
    }

    /// Tells node `i` the addresses of its planned peers but those in
    /// `except` (nodes that left the roster) and those not started yet.
    pub(crate) async fn introduce_except(&self, i: usize, except: &[usize]) {
        let Some(handle) = handle_of(&self.handles, i) else {
            return;
        };
        for &j in self.plan.topology[i].iter().filter(|j| !except.contains(j)) {
            let addr = self.address_for(i, j);
            if addr != Multiaddr::empty() {
                let _ = handle.add_peer(addr).await;
            }
        }
    }

    pub(crate) async fn stop(&mut self, i: usize) {
        if let Ok(mut h) = self.handles.write() {
            h[i] = None;
        }
        if let Some(node) = self.nodes[i].take() {
            self.metrics[i].add(&MetricsSnapshot::of(&node.handle.metrics));
            if let Err(e) = node.shutdown().await {
                tracing::warn!(org = %self.plan.nodes[i].org, error = %e, "shutdown reported an error");
            }
        }
    }

    fn set_pair_blocked(&self, a: usize, b: usize, blocked: bool) {
        for key in [(a, b), (b, a)] {
            if let Some(p) = self.proxies.get(&key) {
                p.set_blocked(blocked);
            }
        }
    }

    fn set_pair_effect(&self, a: usize, b: usize, effect: LinkEffect) {
        for key in [(a, b), (b, a)] {
            if let Some(p) = self.proxies.get(&key) {
                p.set_effect(effect);
            }
        }
    }

    /// Heads of the honest orgs' keys (hex; an org that rotated has two)
    /// across running nodes other than `except`.
    pub(crate) async fn best_heads(&self, except: usize) -> HashMap<String, u64> {
        let honest: Vec<&str> = self.plan.nodes.iter().map(|n| n.org.as_str()).collect();
        let mut best: HashMap<String, u64> = HashMap::new();
        for j in 0..self.n() {
            if j == except {
                continue;
            }
            let Some(h) = handle_of(&self.handles, j) else {
                continue;
            };
            if let Ok(status) = h.status().await {
                for a in status.authors {
                    if honest.contains(&a.org.as_str()) {
                        let e = best.entry(a.author).or_default();
                        *e = (*e).max(a.seq);
                    }
                }
            }
        }
        best
    }
}

fn behind(status: &NodeStatus, target: &HashMap<String, u64>) -> u64 {
    target
        .iter()
        .map(|(author, &seq)| {
            let ours = status
                .authors
                .iter()
                .find(|a| &a.author == author)
                .map_or(0, |a| a.seq);
            seq.saturating_sub(ours)
        })
        .sum()
}

/// Watches a restarted node until it holds what others held at restart.
pub(crate) fn watch_catch_up(
    handles: Handles,
    i: usize,
    org: String,
    target: HashMap<String, u64>,
    at_s: f64,
) -> JoinHandle<CatchUp> {
    tokio::spawn(async move {
        let start = Instant::now();
        let mut out = CatchUp {
            org,
            restarted_at_s: at_s,
            ..CatchUp::default()
        };
        let mut first = true;
        while start.elapsed() < Duration::from_secs(90) {
            let Some(h) = handle_of(&handles, i) else { break };
            if let Ok(status) = h.status().await {
                let b = behind(&status, &target);
                if first {
                    out.behind_at_restart = b;
                    first = false;
                }
                out.samples.push((start.elapsed().as_secs_f64(), b));
                if b == 0 {
                    out.seconds = Some(start.elapsed().as_secs_f64());
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        out
    })
}

/// What the main loop does at a point in time.
#[derive(Debug, Clone)]
enum Event {
    Publish(usize),
    CrashStart(usize),
    CrashEnd(usize),
    PartitionStart(usize),
    PartitionEnd(usize),
    LinkStart(usize),
    LinkEnd(usize),
    AdversaryStart(usize),
    HazardousRequest(usize),
    UnauthorizedRequest(usize),
    RetractionRace(usize),
}

impl Event {
    /// Ends sort before starts at the same instant.
    fn rank(&self) -> u8 {
        match self {
            Event::CrashEnd(_) | Event::PartitionEnd(_) | Event::LinkEnd(_) => 0,
            Event::CrashStart(_) | Event::PartitionStart(_) | Event::LinkStart(_) => 1,
            _ => 2,
        }
    }
}

fn timeline(scenario: &Scenario, plan: &Plan) -> Vec<(u64, Event)> {
    let ms = |s: f64| (s * 1000.0).round().max(0.0) as u64;
    let mut events: Vec<(u64, Event)> = Vec::new();
    for p in &plan.publications {
        events.push((p.at_ms, Event::Publish(p.index)));
    }
    for (k, c) in plan.crashes.iter().enumerate() {
        events.push((c.start_ms, Event::CrashStart(k)));
        events.push((c.end_ms, Event::CrashEnd(k)));
    }
    for (k, p) in plan.partitions.iter().enumerate() {
        events.push((p.start_ms, Event::PartitionStart(k)));
        events.push((p.end_ms, Event::PartitionEnd(k)));
    }
    for (k, l) in plan.links.iter().enumerate() {
        events.push((l.start_ms, Event::LinkStart(k)));
        if l.end_ms != u64::MAX {
            events.push((l.end_ms, Event::LinkEnd(k)));
        }
    }
    for (k, a) in scenario.adversaries.iter().enumerate() {
        let at = match a {
            Adversary::Forger { at_s, .. }
            | Adversary::Intruder { at_s, .. }
            | Adversary::Replayer { at_s, .. }
            | Adversary::Equivocator { at_s, .. }
            | Adversary::Flooder { at_s, .. }
            | Adversary::HeadLiar { at_s, .. }
            | Adversary::AgeBomb { at_s, .. }
            | Adversary::OutOfOrderFlood { at_s, .. }
            | Adversary::JunkRoster { at_s, .. } => ms(*at_s),
            Adversary::UnauthorizedRequest { at_s, .. } => {
                events.push((ms(*at_s), Event::UnauthorizedRequest(k)));
                continue;
            }
        };
        events.push((at, Event::AdversaryStart(k)));
    }
    for (k, h) in plan.hazardous.iter().enumerate() {
        events.push((h.request_at_ms, Event::HazardousRequest(k)));
    }
    for (k, step) in scenario.steps.iter().enumerate() {
        if let Step::RetractionRace { at_s, .. } = step {
            events.push((ms(*at_s), Event::RetractionRace(k)));
        }
    }
    events.sort_by_key(|(at, e)| (*at, e.rank()));
    events
}

/// The outcome of one publish task.
struct PublishResult {
    index: usize,
    node: usize,
    result: Result<(riskmesh_protocol::VerifiedEntry, content::Material), String>,
}

/// Runs `scenario` with `seed`; `progress` shows how far it got.
pub async fn execute(
    scenario: &Scenario,
    seed: u64,
    progress: &ProgressBar,
    log_dir: &std::path::Path,
) -> Result<RunData, SimError> {
    let run_start = Instant::now();
    let cpu_start = measure::cpu_seconds();
    let base_rss = measure::rss_mib();
    std::fs::create_dir_all(log_dir)?;
    let log_path = log_dir.join("nodes.log");
    let logs_ours = capture_logs(&log_path)?;
    let plan = Plan::new(scenario, seed);
    let n = plan.nodes.len();

    let extra_nodes = scenario
        .adversaries
        .iter()
        .filter_map(|a| match a {
            Adversary::Replayer { org, .. } => Some((org.clone(), adversary::replayer_key(org))),
            Adversary::HeadLiar { org, .. } => Some((org.clone(), hostile::head_liar_key(org))),
            _ => None,
        })
        .collect();
    progress.set_message(format!("starting {n} nodes"));
    let mut h = Harness::start(scenario, &plan, seed, extra_nodes, &[]).await?;
    let startup_s = run_start.elapsed().as_secs_f64();
    progress.set_message("connecting");
    h.await_connections(&[]).await;
    tokio::time::sleep(Duration::from_secs_f64(scenario.workload.warmup_s)).await;

    // ---- the publishing phase -------------------------------------------
    h.t0 = Instant::now();
    let (cpu_phase_start, writer_cpu_start) = opening_cpu_reading();
    h.t0_ms = now_ms();
    let t0 = h.t0;
    progress.set_length(plan.duration_ms.div_ceil(1000).max(1));
    progress.set_position(0);
    progress.set_message("publishing");
    let published_count = Arc::new(AtomicUsize::new(0));
    // The harness, not a node: it holds at most one result per planned
    // publication, so the plan's length bounds it, and a bounded channel
    // could stall publishers while the loop waits for a correction's target.
    #[expect(
        clippy::disallowed_methods,
        reason = "bounded by the plan: one result per planned publication"
    )]
    let (pub_tx, mut pub_rx) = tokio::sync::mpsc::unbounded_channel::<PublishResult>();
    let mut ids: HashMap<usize, EntryId> = HashMap::new();
    let mut published: Vec<PublishedEntry> = Vec::new();
    let mut failed: Vec<(usize, String)> = Vec::new();
    let mut canaries: Vec<Canary> = Vec::new();
    let mut hazardous_ids: Vec<(usize, EntryId, usize)> = Vec::new();
    let mut adversary_tasks: Vec<(usize, f64, JoinHandle<Activity>)> = Vec::new();
    let mut release_tasks: Vec<JoinHandle<ReleaseRecord>> = Vec::new();
    let mut in_flight = 0usize;
    let orgs: Vec<String> = plan.nodes.iter().map(|p| p.org.clone()).collect();
    // (kind, plan index) → index into `h.faults`, to close a record at its end.
    let mut open_faults: HashMap<(&'static str, usize), usize> = HashMap::new();

    // Memory sampler and progress ticker.
    let sampler_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let peak_rss = Arc::new(Mutex::new(measure::rss_mib().unwrap_or(0.0)));
    let sampler = {
        let stop = Arc::clone(&sampler_stop);
        let peak = Arc::clone(&peak_rss);
        let progress = progress.clone();
        let count = Arc::clone(&published_count);
        let handles = Arc::clone(&h.handles);
        let duration = plan.duration_ms;
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Some(rss) = measure::rss_mib()
                    && let Ok(mut p) = peak.lock()
                {
                    *p = p.max(rss);
                }
                let elapsed = t0.elapsed().as_millis() as u64;
                progress.set_position(elapsed.min(duration) / 1000);
                let stored: u64 = handles
                    .read()
                    .map(|hs| {
                        hs.iter()
                            .flatten()
                            .map(|h| h.metrics.entries_stored.load(Ordering::Relaxed))
                            .sum()
                    })
                    .unwrap_or(0);
                if elapsed <= duration {
                    progress.set_message(format!(
                        "publishing: {} published, {stored} entries stored across nodes",
                        count.load(Ordering::Relaxed)
                    ));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    let absorb = |r: PublishResult,
                  ids: &mut HashMap<usize, EntryId>,
                  published: &mut Vec<PublishedEntry>,
                  failed: &mut Vec<(usize, String)>,
                  canaries: &mut Vec<Canary>,
                  hazardous_ids: &mut Vec<(usize, EntryId, usize)>| {
        match r.result {
            Ok((entry, material)) => {
                ids.insert(r.index, entry.id());
                let p = &plan.publications[r.index];
                if let Some(c) = material.canary {
                    canaries.push(c);
                }
                if p.tier == Tier::Hazardous && p.kind == PubKind::Bulletin {
                    hazardous_ids.push((r.index, entry.id(), r.node));
                }
                published.push(PublishedEntry {
                    index: r.index,
                    node: r.node,
                    id: entry.id(),
                    tier: entry.header().tier,
                    kind: entry.header().kind.name(),
                    timestamp_ms: entry.header().timestamp_ms,
                    wire_len: entry.to_wire().encoded_len(),
                    plaintext: material.plaintext,
                    recipients: p.recipients.clone(),
                    purged_by_plan: false,
                });
            }
            Err(e) => failed.push((r.index, e)),
        }
    };

    for (at_ms, event) in timeline(scenario, &plan) {
        let due = t0 + Duration::from_millis(at_ms);
        // Collect results while waiting, so targets of later entries are known.
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(due) => break,
                Some(r) = pub_rx.recv() => {
                    in_flight -= 1;
                    absorb(r, &mut ids, &mut published, &mut failed, &mut canaries, &mut hazardous_ids);
                }
            }
        }
        while let Ok(r) = pub_rx.try_recv() {
            in_flight -= 1;
            absorb(
                r,
                &mut ids,
                &mut published,
                &mut failed,
                &mut canaries,
                &mut hazardous_ids,
            );
        }
        match event {
            Event::Publish(index) => {
                let p: Publication = plan.publications[index].clone();
                let target = match p.kind {
                    PubKind::Bulletin => None,
                    PubKind::Correction { of } | PubKind::Retraction { of, .. } | PubKind::Ack { of } => {
                        // The target may still be in flight (a slow build or a
                        // loaded machine): wait for its result rather than
                        // declare it missing.
                        let wait_until = tokio::time::Instant::now() + Duration::from_secs(30);
                        while !ids.contains_key(&of) && !failed.iter().any(|(i, _)| *i == of) && in_flight > 0
                        {
                            match tokio::time::timeout_at(wait_until, pub_rx.recv()).await {
                                Ok(Some(r)) => {
                                    in_flight -= 1;
                                    absorb(
                                        r,
                                        &mut ids,
                                        &mut published,
                                        &mut failed,
                                        &mut canaries,
                                        &mut hazardous_ids,
                                    );
                                }
                                _ => break,
                            }
                        }
                        match ids.get(&of) {
                            Some(id) => Some(*id),
                            None => {
                                failed.push((index, format!("target #{of} was not published")));
                                continue;
                            }
                        }
                    }
                };
                let Some(handle) = handle_of(&h.handles, p.node) else {
                    failed.push((index, "the author's node is down".into()));
                    continue;
                };
                let tx = pub_tx.clone();
                let orgs = orgs.clone();
                let count = Arc::clone(&published_count);
                in_flight += 1;
                tokio::spawn(async move {
                    let result = match content::material(seed, &p, &orgs, target) {
                        Err(e) => Err(e),
                        Ok(material) => {
                            let outcome = match &material.hazardous {
                                Some(hz) => {
                                    handle
                                        .publish_hazardous(hz.full.clone(), hz.redaction.clone())
                                        .await
                                }
                                None => handle.publish(material.draft.clone()).await,
                            };
                            outcome.map(|e| (e, material)).map_err(|e| e.to_string())
                        }
                    };
                    if result.is_ok() {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = tx.send(PublishResult {
                        index: p.index,
                        node: p.node,
                        result,
                    });
                });
            }
            Event::CrashStart(k) => {
                let c = plan.crashes[k];
                h.stop(c.node).await;
                open_faults.insert(("crash", k), h.faults.len());
                h.faults.push(FaultRecord {
                    kind: "crash".into(),
                    label: format!("{} down", orgs[c.node]),
                    start_s: h.since_t0(),
                    end_s: c.end_ms as f64 / 1000.0,
                });
            }
            Event::CrashEnd(k) => {
                let c = plan.crashes[k];
                let port = h.ports[c.node];
                let target = h.best_heads(c.node).await;
                h.launch(c.node, port).await?;
                h.introduce(c.node).await;
                let at = h.since_t0();
                if let Some(f) = open_faults.get(&("crash", k)).and_then(|&r| h.faults.get_mut(r)) {
                    f.end_s = at;
                }
                let watcher =
                    watch_catch_up(Arc::clone(&h.handles), c.node, orgs[c.node].clone(), target, at);
                h.catch_ups.push(watcher);
            }
            Event::PartitionStart(k) => {
                let groups = plan.partitions[k].groups.clone();
                for (gi, a) in groups.iter().enumerate() {
                    for b in groups.iter().skip(gi + 1) {
                        for &x in a {
                            for &y in b {
                                h.set_pair_blocked(x, y, true);
                            }
                        }
                    }
                }
                let label = groups
                    .iter()
                    .map(|g| g.iter().map(|&i| orgs[i].as_str()).collect::<Vec<_>>().join("+"))
                    .collect::<Vec<_>>()
                    .join(" | ");
                open_faults.insert(("partition", k), h.faults.len());
                h.faults.push(FaultRecord {
                    kind: "partition".into(),
                    label,
                    start_s: h.since_t0(),
                    end_s: plan.partitions[k].end_ms as f64 / 1000.0,
                });
            }
            Event::PartitionEnd(k) => {
                let groups = plan.partitions[k].groups.clone();
                for (gi, a) in groups.iter().enumerate() {
                    for b in groups.iter().skip(gi + 1) {
                        for &x in a {
                            for &y in b {
                                h.set_pair_blocked(x, y, false);
                            }
                        }
                    }
                }
                let at = h.since_t0();
                if let Some(f) = open_faults
                    .get(&("partition", k))
                    .and_then(|&r| h.faults.get_mut(r))
                {
                    f.end_s = at;
                }
            }
            Event::LinkStart(k) => {
                let l = plan.links[k].clone();
                let effect = LinkEffect {
                    delay_ms: l.delay_ms,
                    jitter_ms: l.jitter_ms,
                    cut_probability: l.cut_probability,
                };
                for &(a, b) in &l.pairs {
                    h.set_pair_effect(a, b, effect);
                }
                let end_s = if l.end_ms == u64::MAX {
                    f64::NAN
                } else {
                    l.end_ms as f64 / 1000.0
                };
                open_faults.insert(("link", k), h.faults.len());
                h.faults.push(FaultRecord {
                    kind: "link".into(),
                    label: format!(
                        "{} link(s): +{} ms ±{} ms, cut p={}",
                        l.pairs.len(),
                        l.delay_ms,
                        l.jitter_ms,
                        l.cut_probability
                    ),
                    start_s: h.since_t0(),
                    end_s,
                });
            }
            Event::LinkEnd(k) => {
                for &(a, b) in &plan.links[k].pairs {
                    h.set_pair_effect(a, b, LinkEffect::default());
                }
                let at = h.since_t0();
                if let Some(f) = open_faults.get(&("link", k)).and_then(|&r| h.faults.get_mut(r)) {
                    f.end_s = at;
                }
            }
            Event::AdversaryStart(k) => {
                let targets: Vec<Target> = (0..n)
                    .map(|i| Target {
                        node: i,
                        addr: h.direct_addrs[i].clone(),
                        peer: libp2p::PeerId::from(riskmesh_node::testnet::node_key(&orgs[i]).public()),
                    })
                    .collect();
                let mut ctx = Context {
                    roster: h.cluster.roster.clone(),
                    targets,
                    seed,
                    duration: Duration::from_secs(10),
                    rate_limit_per_minute: scenario.network.rate_limit_per_minute,
                };
                let start_s = h.since_t0();
                let task = match scenario.adversaries[k].clone() {
                    Adversary::Forger {
                        org,
                        for_s,
                        forgeries,
                        ..
                    } => {
                        ctx.duration = Duration::from_secs_f64(for_s);
                        tokio::spawn(adversary::forger(ctx, org, forgeries))
                    }
                    Adversary::Intruder { for_s, .. } => {
                        ctx.duration = Duration::from_secs_f64(for_s);
                        tokio::spawn(adversary::intruder(ctx))
                    }
                    Adversary::Replayer { org, for_s, .. } => {
                        ctx.duration = Duration::from_secs_f64(for_s);
                        tokio::spawn(adversary::replayer(ctx, org))
                    }
                    Adversary::Equivocator {
                        org,
                        for_s,
                        honest_prefix,
                        ..
                    } => {
                        ctx.duration = Duration::from_secs_f64(for_s);
                        tokio::spawn(adversary::equivocator(ctx, org, honest_prefix))
                    }
                    Adversary::Flooder {
                        org,
                        for_s,
                        rate_multiple,
                        ..
                    } => {
                        ctx.duration = Duration::from_secs_f64(for_s);
                        tokio::spawn(adversary::flooder(ctx, org, rate_multiple))
                    }
                    Adversary::HeadLiar { org, for_s, .. } => {
                        ctx.duration = Duration::from_secs_f64(for_s);
                        tokio::spawn(hostile::head_liar(ctx, org))
                    }
                    Adversary::AgeBomb {
                        org,
                        for_s,
                        bombs_per_node,
                        header_kib,
                        ..
                    } => {
                        ctx.duration = Duration::from_secs_f64(for_s);
                        tokio::spawn(hostile::age_bomb(ctx, org, bombs_per_node, header_kib))
                    }
                    Adversary::OutOfOrderFlood {
                        org,
                        for_s,
                        entries,
                        details_kib,
                        ..
                    } => {
                        ctx.duration = Duration::from_secs_f64(for_s);
                        tokio::spawn(hostile::out_of_order_flood(ctx, org, entries, details_kib))
                    }
                    Adversary::JunkRoster {
                        org,
                        for_s,
                        messages,
                        signatures,
                        ..
                    } => {
                        ctx.duration = Duration::from_secs_f64(for_s);
                        tokio::spawn(hostile::junk_roster(ctx, org, messages, signatures))
                    }
                    Adversary::UnauthorizedRequest { .. } => continue,
                };
                adversary_tasks.push((k, start_s, task));
            }
            Event::HazardousRequest(k) => {
                let step = plan.hazardous[k];
                let author_node = plan.publications[step.publication].node;
                let target = hazardous_ids
                    .iter()
                    .find(|(p, _, _)| *p == step.publication)
                    .map(|(_, id, _)| *id);
                let canary = canaries
                    .iter()
                    .find(|c| c.publication == step.publication)
                    .map(|c| c.text.clone());
                match (
                    target,
                    handle_of(&h.handles, author_node),
                    handle_of(&h.handles, step.requester),
                ) {
                    (Some(target), Some(author), Some(requester)) => {
                        let parties = Parties {
                            author,
                            author_org: orgs[author_node].clone(),
                            requester,
                            requester_org: orgs[step.requester].clone(),
                            requester_node: step.requester,
                        };
                        release_tasks.push(tokio::spawn(hazardous::request_and_grant(
                            parties,
                            step.publication,
                            target,
                            canary,
                            t0,
                            true,
                        )));
                    }
                    _ => failed.push((
                        step.publication,
                        "hazardous step: finding not published or a party is down".into(),
                    )),
                }
            }
            Event::RetractionRace(k) => {
                let Step::RetractionRace {
                    author,
                    requester,
                    approvers,
                    ..
                } = &scenario.steps[k]
                else {
                    continue;
                };
                let node_of = |org: &str| orgs.iter().position(|o| o == org);
                let handle = |org: &str| node_of(org).and_then(|i| handle_of(&h.handles, i));
                match (
                    handle(author),
                    handle(requester),
                    handle(&approvers[0]),
                    handle(&approvers[1]),
                ) {
                    (Some(a), Some(r), Some(first), Some(second)) => {
                        let race = RaceParties {
                            parties: Parties {
                                author: a,
                                author_org: author.clone(),
                                requester: r,
                                requester_org: requester.clone(),
                                requester_node: node_of(requester).unwrap_or(0),
                            },
                            retracting: (first, approvers[0].clone()),
                            late: (second, approvers[1].clone()),
                        };
                        // Numbered after the plan's publications, so its
                        // canary is told apart from theirs.
                        let index = plan.publications.len() + k;
                        release_tasks.push(tokio::spawn(hazardous::retraction_race(race, seed, index, t0)));
                    }
                    _ => failed.push((
                        usize::MAX,
                        format!("retraction race: a party of steps[{k}] is down"),
                    )),
                }
            }
            Event::UnauthorizedRequest(k) => {
                let Adversary::UnauthorizedRequest { org, .. } = &scenario.adversaries[k] else {
                    continue;
                };
                let requester_node = orgs.iter().position(|o| o == org).unwrap_or(0);
                // The most recent hazardous finding by someone else.
                let pick = hazardous_ids
                    .iter()
                    .rev()
                    .find(|(_, _, author)| *author != requester_node)
                    .copied();
                let Some((publication, target, author_node)) = pick else {
                    failed.push((
                        usize::MAX,
                        format!(
                            "unauthorized-request by {org}: no hazardous finding published yet",
                            org = org
                        ),
                    ));
                    continue;
                };
                let canary = canaries
                    .iter()
                    .find(|c| c.publication == publication)
                    .map(|c| c.text.clone());
                if let (Some(author), Some(requester)) = (
                    handle_of(&h.handles, author_node),
                    handle_of(&h.handles, requester_node),
                ) {
                    let parties = Parties {
                        author,
                        author_org: orgs[author_node].clone(),
                        requester,
                        requester_org: orgs[requester_node].clone(),
                        requester_node,
                    };
                    release_tasks.push(tokio::spawn(hazardous::request_and_grant(
                        parties,
                        publication,
                        target,
                        canary,
                        t0,
                        false,
                    )));
                }
            }
        }
    }
    // The rest of the phase, then every publication's result.
    let phase_end = t0 + Duration::from_millis(plan.duration_ms);
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(phase_end) => break,
            Some(r) = pub_rx.recv() => {
                in_flight -= 1;
                absorb(r, &mut ids, &mut published, &mut failed, &mut canaries, &mut hazardous_ids);
            }
        }
    }
    while in_flight > 0 {
        match tokio::time::timeout(Duration::from_secs(30), pub_rx.recv()).await {
            Ok(Some(r)) => {
                in_flight -= 1;
                absorb(
                    r,
                    &mut ids,
                    &mut published,
                    &mut failed,
                    &mut canaries,
                    &mut hazardous_ids,
                );
            }
            _ => break,
        }
    }
    let phase_s = t0.elapsed().as_secs_f64();

    // ---- heal, converge, stop -------------------------------------------
    progress.set_message("waiting for adversaries and releases to finish");
    let mut activities = Vec::new();
    for (_, start_s, task) in adversary_tasks {
        if let Ok(mut a) = task.await {
            a.start_s = start_s;
            a.end_s = t0.elapsed().as_secs_f64();
            activities.push(a);
        }
    }
    let mut releases = Vec::new();
    for task in release_tasks {
        if let Ok(r) = task.await {
            // A retraction race's finding is checked like every hazardous
            // finding: only its author may hold the withheld fields.
            if let Some((target, canary)) = &r.race_finding
                && let Some(author) = orgs.iter().position(|o| *o == r.author)
            {
                hazardous_ids.push((r.publication, *target, author));
                canaries.push(canary.clone());
            }
            releases.push(r);
        }
    }
    for proxy in h.proxies.values() {
        proxy.set_blocked(false);
        proxy.set_effect(LinkEffect::default());
    }
    let now_s = h.since_t0();
    for f in &mut h.faults {
        if f.end_s.is_nan() || f.end_s > now_s {
            f.end_s = now_s;
        }
    }
    for i in 0..n {
        if h.nodes[i].is_none() {
            let port = h.ports[i];
            h.launch(i, port).await?;
            h.introduce(i).await;
        }
    }
    progress.set_message("converging");
    let expected_proofs: Vec<(String, u64)> = activities
        .iter()
        .filter_map(|a| {
            let (_, seq) = a.fork?;
            Some((a.org.clone()?, seq))
        })
        .collect();
    let settle_start = Instant::now();
    let settle_deadline = settle_start + Duration::from_secs_f64(scenario.workload.settle_s);
    let mut converged_after_s = None;
    let mut statuses: Vec<NodeStatus> = Vec::new();
    let mut last_nudge = Instant::now();
    // The CPU figures when the network's work was done: read before the
    // status round that confirms agreement, so the harness's own checking
    // (every node's whole status: O(n²) strings) is not billed to the
    // network. The bare baseline's check reads one counter.
    let mut cpu_at_agreement: Option<CpuReading> = None;
    loop {
        // Nodes agree only if they store as many entries: look at that
        // counter first, and ask every node for its whole status (heads of
        // every author: O(n²) at n nodes) only when the counts match, so the
        // harness's polling does not weigh on the CPU figures it reports.
        let counts: Vec<Option<u64>> = (0..n)
            .map(|i| handle_of(&h.handles, i).map(|hd| hd.metrics.entries_stored.load(Ordering::Relaxed)))
            .collect();
        let counts_agree = counts.iter().all(Option::is_some) && counts.windows(2).all(|w| w[0] == w[1]);
        let cpu_before_check = counts_agree.then(closing_cpu_reading);
        statuses.clear();
        for i in (0..n).filter(|_| counts_agree) {
            if let Some(hd) = handle_of(&h.handles, i)
                && let Ok(s) = hd.status().await
            {
                statuses.push(s);
            }
        }
        if statuses.len() == n && agreed(&statuses, &expected_proofs) {
            converged_after_s = Some(t0.elapsed().as_secs_f64());
            cpu_at_agreement = cpu_before_check;
            break;
        }
        if Instant::now() >= settle_deadline {
            break;
        }
        if last_nudge.elapsed() > Duration::from_secs(5) {
            // Re-introduce peers now and then to nodes short of peers: an
            // operator would, and redial backoff after long faults can
            // reach a minute.
            for i in 0..n {
                if h.running(i) && h.peers_of(i) < h.peers_wanted(i, &[]) {
                    h.introduce(i).await;
                }
            }
            last_nudge = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (cpu_end, writer_cpu_end) = cpu_at_agreement.unwrap_or_else(closing_cpu_reading);
    let cpu_phase_s = match (cpu_phase_start, cpu_end) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    // Writers of nodes stopped during the phase are not counted (their
    // threads are gone); the scaling workload stops none.
    let writer_cpu_phase_s = match (writer_cpu_start, writer_cpu_end) {
        (Some(a), Some(b)) => Some((b - a).max(0.0)),
        _ => None,
    };
    let mut catch_ups = Vec::new();
    for task in h.catch_ups.drain(..) {
        if let Ok(c) = task.await {
            catch_ups.push(c);
        }
    }
    // What each node's API hands out for each hazardous finding.
    let mut released_views = Vec::new();
    for &(publication, target, _) in &hazardous_ids {
        for i in 0..n {
            if let Some(hd) = handle_of(&h.handles, i)
                && let Ok(fields) = hd.released(target).await
                && !fields.is_empty()
            {
                released_views.push((
                    publication,
                    i,
                    fields.iter().map(|r| r.field.name().to_string()).collect(),
                ));
            }
        }
    }
    progress.set_message("stopping nodes");
    for i in 0..n {
        h.stop(i).await;
    }
    sampler_stop.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let wire_bytes: u64 = h.proxies.values().map(|p| p.counters().bytes).sum();
    let link_cuts: u64 = h.proxies.values().map(|p| p.counters().cuts).sum();
    h.proxies.clear();
    release_logs();
    let cpu_s = match (cpu_start, measure::cpu_seconds()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let peak = peak_rss.lock().map(|p| *p).ok();
    // Mark entries whose bodies a purge retraction removes.
    for p in &plan.publications {
        if let PubKind::Retraction { of, purge: true } = p.kind
            && ids.contains_key(&p.index)
            && let Some(e) = published.iter_mut().find(|e| e.index == of)
        {
            e.purged_by_plan = true;
        }
    }
    published.sort_by_key(|e| e.index);
    Ok(RunData {
        scenario: scenario.clone(),
        plan,
        cluster: h.cluster,
        cluster_index: h.cluster_index,
        t0_ms: h.t0_ms,
        published,
        failed,
        canaries,
        hazardous: hazardous_ids,
        metrics: h.metrics,
        statuses,
        released_views,
        activities,
        releases,
        catch_ups,
        faults: h.faults,
        wire_bytes,
        link_cuts,
        converged_after_s,
        phase_s,
        wall_s: run_start.elapsed().as_secs_f64(),
        startup_s,
        cpu_s,
        cpu_phase_s,
        writer_cpu_phase_s,
        peak_rss_mib: peak,
        base_rss_mib: base_rss,
        log_files: if logs_ours { vec![log_path] } else { Vec::new() },
        baseline: None,
    })
}

/// Whether every honest node holds the same heads, the same number of
/// entries and every expected equivocation proof.
pub(crate) fn agreed(statuses: &[NodeStatus], expected_proofs: &[(String, u64)]) -> bool {
    let Some(first) = statuses.first() else {
        return false;
    };
    let heads = |s: &NodeStatus| {
        s.authors
            .iter()
            .map(|a| (a.org.clone(), a.seq))
            .collect::<Vec<_>>()
    };
    let reference = heads(first);
    statuses.iter().all(|s| {
        heads(s) == reference
            && s.entries == first.entries
            && expected_proofs.iter().all(|p| s.equivocations.contains(p))
    })
}
