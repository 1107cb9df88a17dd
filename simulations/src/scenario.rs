//! Scenario files: what a simulation runs. A scenario is TOML, read with
//! `deny_unknown_fields` everywhere so that a typo is an error naming its
//! line, then checked for meaning (every node a fault or adversary names
//! exists, windows fit the run, proxied links where link faults need them).
//!
//! `scenarios/reference.toml` documents every field with comments; the
//! scenarios shipped with the crate are embedded in the binary
//! ([`BUILTIN`]), so `riskmesh sim` works from any directory.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

/// The scenarios shipped in `simulations/scenarios/`, by name.
pub const BUILTIN: [(&str, &str); 10] = [
    ("default", include_str!("../scenarios/default.toml")),
    ("reference", include_str!("../scenarios/reference.toml")),
    ("load-50", include_str!("../scenarios/load-50.toml")),
    ("partition-heal", include_str!("../scenarios/partition-heal.toml")),
    ("churn", include_str!("../scenarios/churn.toml")),
    ("byzantine", include_str!("../scenarios/byzantine.toml")),
    ("hostile", include_str!("../scenarios/hostile.toml")),
    ("scaling", include_str!("../scenarios/scaling.toml")),
    ("scaling-2ps", include_str!("../scenarios/scaling-2ps.toml")),
    ("membership", include_str!("../scenarios/membership.toml")),
];

/// A node (organization) name in a fault, adversary or step.
pub type NodeRef = String;

/// A whole scenario.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in the report.
    pub name: String,
    /// What the scenario shows.
    #[serde(default)]
    pub description: String,
    /// Seed for every random decision; `--seed` overrides it, and without
    /// either a seed is drawn from the clock (and printed).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Who runs a node and how nodes reach each other.
    pub network: NetworkSpec,
    /// What the honest nodes publish.
    #[serde(default)]
    pub workload: Workload,
    /// Faults injected by the harness.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Misbehaving peers driven by the harness.
    #[serde(default)]
    pub adversaries: Vec<Adversary>,
    /// Scripted steps at fixed times.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Bounds the run must meet.
    #[serde(default)]
    pub expect: Expect,
    /// Roster changes under traffic; a scenario with this section is played
    /// by [`crate::membership`] instead of the general harness.
    #[serde(default)]
    pub membership: Option<Membership>,
}

/// Roster changes under steady traffic: a member leaves, another rotates
/// its keys, that member's old key is later declared compromised, an
/// observer's node starts late. Each change is optional; the harness
/// proposes every update (signed by every voter), offers it to the
/// proposer's node and waits until every running node applies it before
/// the next step.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Membership {
    /// The member whose node drafts each update from the heads it holds
    /// and is offered it first.
    pub proposer: NodeRef,
    /// The member whose second, roster-listed node relays entries as the
    /// genesis roster judges them (it never applies an update, like an
    /// honest node that missed every update): the removed member's later
    /// entries and the forgeries reach the honest nodes through it.
    pub relay: NodeRef,
    /// A member leaves.
    #[serde(default)]
    pub leave: Option<Leave>,
    /// A member rotates its signing and encryption keys.
    #[serde(default)]
    pub rotate: Option<Rotate>,
    /// The rotated member's old key is declared compromised.
    #[serde(default)]
    pub compromise: Option<Compromise>,
    /// An observer's node starts late and catches up.
    #[serde(default)]
    pub join: Option<Join>,
}

/// A member leaves: an update removes it, retiring its key with its log as
/// the proposer's node holds it once the member's node has stopped. Its
/// planned publications go on, signed with its old key and sent through
/// the relay; every honest node must refuse them.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Leave {
    /// The leaving member.
    pub member: NodeRef,
    /// When, s after the publishing phase starts.
    pub at_s: f64,
}

/// A member rotates its keys: its node stops, an update replaces its keys
/// (the old signing key retired with its log as the proposer holds it),
/// and its node restarts under the new keys once every running node has
/// the update — the operator procedure.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rotate {
    /// The rotating member.
    pub member: NodeRef,
    /// When, s after the publishing phase starts.
    pub at_s: f64,
}

/// The rotated member's old key leaked: an update shrinks its valid prefix
/// to the entries before `from_seq` (before its last valid entry, if that
/// comes first) and marks it compromised; then
/// `forgeries` entries signed with it, continuing its log from there, are
/// sent through the relay. Every honest node must drop the old key's
/// entries from `from_seq` on and refuse the forgeries.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Compromise {
    /// When, s after the publishing phase starts (after the rotation).
    pub at_s: f64,
    /// The first seq of the old key's log that may be forged (at most its
    /// last valid entry: the prefix always shrinks).
    pub from_seq: u64,
    /// Forged entries sent.
    #[serde(default = "default_membership_forgeries")]
    pub forgeries: usize,
}

fn default_membership_forgeries() -> usize {
    6
}

/// An observer's node starts late, once the history is written, and must
/// catch up all of it: every roster version and every entry that stays
/// valid, the removed member's included.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Join {
    /// The observer (on the genesis roster; its node is not started before).
    pub observer: NodeRef,
    /// When its node starts, s after the publishing phase starts.
    pub at_s: f64,
}

/// How links between nodes are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Links {
    /// Every directed link goes through a harness proxy that can block,
    /// delay and cut it (needed by partitions and link faults).
    Proxied,
    /// Nodes dial each other's real addresses (large runs).
    Direct,
}

/// The organizations, their roles and their links.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Member organizations that run an honest node.
    #[serde(default)]
    pub members: Vec<String>,
    /// Observer organizations that run an honest node.
    #[serde(default)]
    pub observers: Vec<String>,
    /// Additional members named `member-000`, `member-001`, … (load tests).
    #[serde(default)]
    pub generated_members: usize,
    /// Proxied or direct links.
    #[serde(default = "default_links")]
    pub links: Links,
    /// Each node is told the addresses of this many peers, drawn at random
    /// (plus whoever dials it); absent: of every peer.
    #[serde(default)]
    pub degree: Option<usize>,
    /// Interval of each node's periodic sync round, ms.
    #[serde(default = "default_sync_interval_ms")]
    pub sync_interval_ms: u64,
    /// Per-author gossip rate limit of every node, entries per minute.
    #[serde(default = "default_rate_limit")]
    pub rate_limit_per_minute: u32,
}

fn default_links() -> Links {
    Links::Proxied
}
fn default_sync_interval_ms() -> u64 {
    2000
}
fn default_rate_limit() -> u32 {
    600
}

/// Relative weights of the four tiers.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TierWeights {
    /// Public (TLP:CLEAR).
    #[serde(default)]
    pub public: u32,
    /// Consortium (TLP:GREEN).
    #[serde(default)]
    pub consortium: u32,
    /// Restricted to named recipients (TLP:AMBER+STRICT).
    #[serde(default)]
    pub restricted: u32,
    /// Hazardous: redacted summary, withheld details (TLP:RED).
    #[serde(default)]
    pub hazardous: u32,
}

impl Default for TierWeights {
    fn default() -> Self {
        TierWeights {
            public: 3,
            consortium: 4,
            restricted: 2,
            hazardous: 1,
        }
    }
}

/// Relative weights of the entry kinds the workload publishes.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KindWeights {
    /// New bulletins.
    #[serde(default)]
    pub bulletin: u32,
    /// Corrections of the author's own earlier bulletin.
    #[serde(default)]
    pub correction: u32,
    /// Retractions of the author's own earlier entry (some with purge).
    #[serde(default)]
    pub retraction: u32,
    /// Acks of another organization's entry.
    #[serde(default)]
    pub ack: u32,
}

impl Default for KindWeights {
    fn default() -> Self {
        KindWeights {
            bulletin: 10,
            correction: 1,
            retraction: 1,
            ack: 3,
        }
    }
}

/// What the honest nodes publish, and for how long.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Wait after start before publishing (connections, gossip mesh), s.
    #[serde(default = "default_warmup")]
    pub warmup_s: f64,
    /// Length of the publishing phase, s. Fault and adversary times count
    /// from its start.
    #[serde(default = "default_duration")]
    pub duration_s: f64,
    /// Longest wait for every node to converge after the publishing phase.
    #[serde(default = "default_settle")]
    pub settle_s: f64,
    /// Mean seconds between two publications of one node (exponential).
    #[serde(default)]
    pub per_node_interval_s: Option<f64>,
    /// Instead of a per-node rate: this many publications in total, evenly
    /// spread over the phase, authors drawn at random (the scaling mode
    /// runs the same total on every network size).
    #[serde(default)]
    pub total_entries: Option<usize>,
    /// Tier weights (observers publish only public and consortium).
    #[serde(default)]
    pub tiers: TierWeights,
    /// Kind weights.
    #[serde(default)]
    pub kinds: KindWeights,
    /// Fewest and most recipients of a restricted bulletin besides its
    /// author.
    #[serde(default = "default_recipients")]
    pub recipients: [usize; 2],
}

fn default_warmup() -> f64 {
    2.0
}
fn default_duration() -> f64 {
    30.0
}
fn default_settle() -> f64 {
    30.0
}
fn default_recipients() -> [usize; 2] {
    [1, 3]
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            warmup_s: default_warmup(),
            duration_s: default_duration(),
            settle_s: default_settle(),
            per_node_interval_s: None,
            total_entries: None,
            tiers: TierWeights::default(),
            kinds: KindWeights::default(),
            recipients: default_recipients(),
        }
    }
}

impl Workload {
    /// Mean seconds between one node's publications (default 4 s).
    pub fn interval_s(&self) -> f64 {
        self.per_node_interval_s.unwrap_or(4.0)
    }
}

/// A fault injected by the harness (never by a special path in the node).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// Stop a node (clean shutdown; its database survives) and start it
    /// again on the same data directory.
    Crash {
        /// The node.
        node: NodeRef,
        /// When it stops, s after the publishing phase starts.
        at_s: f64,
        /// How long it stays down.
        down_s: f64,
    },
    /// Repeated crashes of nodes drawn at random.
    Churn {
        /// Candidates (empty: every honest node).
        #[serde(default)]
        nodes: Vec<NodeRef>,
        /// First crash.
        from_s: f64,
        /// No crash starts after this.
        until_s: f64,
        /// Seconds between crashes.
        every_s: f64,
        /// How long each crashed node stays down.
        down_s: f64,
    },
    /// Cut every link between groups, then heal.
    Partition {
        /// The groups; nodes not named join the first group. Absent: two
        /// random halves.
        #[serde(default)]
        groups: Vec<Vec<NodeRef>>,
        /// Start.
        at_s: f64,
        /// Length.
        for_s: f64,
    },
    /// Delay and cut the links between two sets of nodes.
    Link {
        /// One end; `"*"` for every node.
        a: NodeRef,
        /// The other end; `"*"` for every node.
        b: NodeRef,
        /// Added one-way delay, ms.
        #[serde(default)]
        delay_ms: u64,
        /// Extra random delay up to this many ms (order is kept).
        #[serde(default)]
        jitter_ms: u64,
        /// "Loss": the chance that a chunk forwarded on the link cuts the
        /// connection instead (TCP retransmits real packet loss, so loss
        /// shows as stalls and resets).
        #[serde(default)]
        cut_probability: f64,
        /// Start.
        #[serde(default)]
        at_s: f64,
        /// Length (absent: until the end of the run).
        #[serde(default)]
        for_s: Option<f64>,
    },
}

/// A misbehaving peer, driven by the harness through a raw libp2p swarm.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Adversary {
    /// Holds a roster org's key and node key; gossips entries with broken
    /// signatures and by an author not on the roster, and answers sync with
    /// forged entries. Expected: all rejected, the forger penalized.
    Forger {
        /// Its organization (on the roster, no honest node).
        org: NodeRef,
        /// Start.
        at_s: f64,
        /// Length.
        #[serde(default = "default_adversary_for")]
        for_s: f64,
        /// Forged entries gossiped.
        #[serde(default = "default_forgeries")]
        forgeries: usize,
    },
    /// A peer not on the roster dials every node, asks for sync and gossips.
    /// Expected: refused by every node.
    Intruder {
        /// Start.
        at_s: f64,
        /// Length.
        #[serde(default = "default_adversary_for")]
        for_s: f64,
    },
    /// A second, roster-listed node of an honest org fetches old valid
    /// entries and re-sends them by gossip and sync. Expected: stored once,
    /// nothing changes.
    Replayer {
        /// The org whose extra node it is (an honest member).
        org: NodeRef,
        /// Start.
        at_s: f64,
        /// Length.
        #[serde(default = "default_adversary_for")]
        for_s: f64,
    },
    /// A member shows one entry to half the network and another with the
    /// same seq to the other half. Expected: every honest node holds the
    /// proof.
    Equivocator {
        /// Its organization (on the roster, no honest node).
        org: NodeRef,
        /// Start.
        at_s: f64,
        /// Length.
        #[serde(default = "default_adversary_for")]
        for_s: f64,
        /// Entries shown identically to everyone before the fork.
        #[serde(default = "default_honest_prefix")]
        honest_prefix: u64,
    },
    /// A member publishing at a multiple of the rate limit. Expected:
    /// honest entries still meet the latency bound.
    Flooder {
        /// Its organization (on the roster, no honest node).
        org: NodeRef,
        /// Start.
        at_s: f64,
        /// Length.
        #[serde(default = "default_adversary_for")]
        for_s: f64,
        /// Publishing rate as a multiple of the rate limit.
        #[serde(default = "default_rate_multiple")]
        rate_multiple: f64,
    },
    /// A second, roster-listed node of an honest org that answers every
    /// sync `Heads` request with fake heads (an honest author at seq
    /// 1 000 000, another beyond `MAX_SEQ`) and every `Range` request with
    /// no entries. Expected: honest nodes still converge, none is banned.
    HeadLiar {
        /// The org whose extra node it is (an honest member or observer).
        org: NodeRef,
        /// Start.
        at_s: f64,
        /// Length.
        #[serde(default = "default_adversary_for")]
        for_s: f64,
    },
    /// A member sending crafted "releases" on the release stream: the age
    /// magic line followed by about `header_kib` KiB of header lines.
    /// Expected: refused without stalling anyone.
    AgeBomb {
        /// Its organization (on the roster, no honest node).
        org: NodeRef,
        /// Start.
        at_s: f64,
        /// Length.
        #[serde(default = "default_adversary_for")]
        for_s: f64,
        /// Bombs sent to each honest node.
        #[serde(default = "default_bombs")]
        bombs_per_node: usize,
        /// Size of each crafted header, KiB.
        #[serde(default = "default_bomb_kib")]
        header_kib: usize,
    },
    /// A member gossiping large entries of its own log out of order (high
    /// seqs first, with gaps, seq 1 never sent) to fill the honest nodes'
    /// pending queues. Expected: memory stays bounded.
    OutOfOrderFlood {
        /// Its organization (on the roster, no honest node).
        org: NodeRef,
        /// Start.
        at_s: f64,
        /// Length.
        #[serde(default = "default_adversary_for")]
        for_s: f64,
        /// Entries gossiped.
        #[serde(default = "default_ooo_entries")]
        entries: usize,
        /// Size of each entry's details, KiB (at most 120).
        #[serde(default = "default_ooo_kib")]
        details_kib: usize,
    },
    /// A member gossiping roster updates carrying many signatures by
    /// organizations not on the roster. Expected: refused cheaply, the
    /// roster unchanged.
    JunkRoster {
        /// Its organization (on the roster, no honest node).
        org: NodeRef,
        /// Start.
        at_s: f64,
        /// Length.
        #[serde(default = "default_adversary_for")]
        for_s: f64,
        /// Updates gossiped.
        #[serde(default = "default_junk_messages")]
        messages: usize,
        /// Stranger signatures on each.
        #[serde(default = "default_junk_signatures")]
        signatures: usize,
    },
    /// An honest node's org asks for hazardous details the release policy
    /// does not allow it. Expected: the details never reach it.
    UnauthorizedRequest {
        /// The requesting org (runs an honest node; typically an observer).
        org: NodeRef,
        /// When it asks.
        at_s: f64,
    },
}

fn default_adversary_for() -> f64 {
    10.0
}
fn default_forgeries() -> usize {
    20
}
fn default_honest_prefix() -> u64 {
    2
}
fn default_rate_multiple() -> f64 {
    10.0
}
fn default_bombs() -> usize {
    3
}
fn default_bomb_kib() -> usize {
    1024
}
fn default_ooo_entries() -> usize {
    400
}
fn default_ooo_kib() -> usize {
    100
}
fn default_junk_messages() -> usize {
    20
}
fn default_junk_signatures() -> usize {
    1000
}

/// A scripted step.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Step {
    /// One consortium bulletin from a node.
    Publish {
        /// The author's node.
        node: NodeRef,
        /// When.
        at_s: f64,
        /// Its title.
        title: String,
    },
    /// A hazardous finding with a canary in its withheld details; one
    /// member requests the details and the release policy's approver
    /// approves. Expected: the requester gets the released fields and no
    /// other node ever holds the canary.
    Hazardous {
        /// The author (a member).
        author: NodeRef,
        /// The requester (a member).
        requester: NodeRef,
        /// When the finding is published; the request follows.
        at_s: f64,
    },
    /// A hazardous finding whose policy needs both of two approvers: the
    /// first approves and then retracts its approval, and only then does
    /// the second approve. Expected: the requester never receives the
    /// withheld fields.
    RetractionRace {
        /// The author (a member).
        author: NodeRef,
        /// The requester (a member).
        requester: NodeRef,
        /// The two approvers (members, neither the author nor the
        /// requester): the first retracts, the second approves last.
        approvers: [NodeRef; 2],
        /// When the finding is published; the rest follows at once.
        at_s: f64,
    },
}

/// Bounds the run must meet besides the invariants.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Lowest acceptable delivery ratio of honest entries to honest nodes.
    #[serde(default = "default_delivery")]
    pub delivery_ratio: f64,
    /// p99 bound on the latency of honest deliveries that no fault touched,
    /// ms (absent: not checked).
    #[serde(default)]
    pub latency_p99_ms: Option<f64>,
    /// Bound on resident memory per honest node, MiB: (peak RSS − RSS
    /// before any node started) / nodes (absent: not checked).
    #[serde(default)]
    pub rss_per_node_mib: Option<f64>,
    /// Run the honest workload alone first (no adversaries, no retraction
    /// race, same seed) and require the undisturbed p99 latency to stay
    /// within this multiple of that baseline's, and never less than
    /// [`crate::check::LATENCY_SLACK_MS`] above it (absent: no baseline run).
    #[serde(default)]
    pub latency_p99_vs_baseline: Option<f64>,
}

fn default_delivery() -> f64 {
    1.0
}

impl Default for Expect {
    fn default() -> Self {
        Expect {
            delivery_ratio: default_delivery(),
            latency_p99_ms: None,
            rss_per_node_mib: None,
            latency_p99_vs_baseline: None,
        }
    }
}

/// A scenario that cannot be used, with where and why.
#[derive(Debug)]
pub struct ScenarioError {
    /// The file (or builtin name).
    pub source_name: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.source_name, self.message),
            None => write!(f, "{}: {}", self.source_name, self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

/// A parsed and checked scenario with the text it came from.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    /// The scenario.
    pub scenario: Scenario,
    /// Where it came from (a path or `builtin:NAME`).
    pub source_name: String,
}

/// Reads a scenario: a builtin name (`default`, `load-50`, …) or a path.
pub fn load(name_or_path: &str) -> Result<LoadedScenario, ScenarioError> {
    if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
        return parse(text, &format!("builtin:{name}"));
    }
    let path = Path::new(name_or_path);
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        source_name: name_or_path.to_string(),
        line: None,
        message: format!(
            "cannot read the scenario file: {e} (builtin scenarios: {})",
            BUILTIN.map(|(n, _)| n).join(", ")
        ),
    })?;
    parse(&text, &path.display().to_string())
}

/// Parses and checks scenario text.
pub fn parse(text: &str, source_name: &str) -> Result<LoadedScenario, ScenarioError> {
    let scenario: Scenario = toml::from_str(text).map_err(|e| ScenarioError {
        source_name: source_name.to_string(),
        line: e.span().map(|s| line_of(text, s.start)),
        message: e.message().to_string(),
    })?;
    check(&scenario).map_err(|(path, message)| ScenarioError {
        source_name: source_name.to_string(),
        line: path
            .and_then(|p| locate(text, &p))
            .map(|offset| line_of(text, offset)),
        message,
    })?;
    Ok(LoadedScenario {
        scenario,
        source_name: source_name.to_string(),
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A step of a path into the scenario document.
#[derive(Debug, Clone, Copy)]
enum Seg {
    Key(&'static str),
    Idx(usize),
}

/// Where a value is: a path into the document.
type Loc = Vec<Seg>;

type CheckError = (Option<Loc>, String);

/// The byte offset of the value at `path` (serde loses spans inside tagged
/// enums, so semantic errors find their line by walking the raw document).
fn locate(text: &str, path: &[Seg]) -> Option<usize> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let root = toml::de::DeValue::Table(doc.into_inner());
    let mut cur = &root;
    let mut span = None;
    for seg in path {
        let next = match seg {
            Seg::Key(k) => cur.get(*k)?,
            Seg::Idx(i) => cur.get(*i)?,
        };
        span = Some(next.span().start);
        cur = next.get_ref();
    }
    span
}

impl Scenario {
    /// Honest organizations in node order: members, generated members,
    /// observers.
    pub fn honest_orgs(&self) -> Vec<String> {
        let mut out = self.network.members.clone();
        out.extend((0..self.network.generated_members).map(|i| format!("member-{i:03}")));
        out.extend(self.network.observers.iter().cloned());
        out
    }

    /// Organizations that are on the roster as members but run no honest
    /// node: the forgers', equivocators' and flooders' own.
    pub fn adversary_orgs(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for a in &self.adversaries {
            if let Adversary::Forger { org, .. }
            | Adversary::Equivocator { org, .. }
            | Adversary::Flooder { org, .. }
            | Adversary::AgeBomb { org, .. }
            | Adversary::OutOfOrderFlood { org, .. }
            | Adversary::JunkRoster { org, .. } = a
                && !out.contains(org)
            {
                out.push(org.clone());
            }
        }
        out
    }

    /// Multiplies every time of the scenario (phase length, settle time,
    /// fault, adversary and step times) by `factor`; rates stay as they
    /// are. `--time-scale 0.5` runs a scenario in half the time.
    pub fn scale_time(&mut self, factor: f64) {
        let w = &mut self.workload;
        w.duration_s *= factor;
        w.settle_s = (w.settle_s * factor).max(10.0);
        for f in &mut self.faults {
            match f {
                Fault::Crash { at_s, down_s, .. } => {
                    *at_s *= factor;
                    *down_s *= factor;
                }
                Fault::Churn {
                    from_s,
                    until_s,
                    every_s,
                    down_s,
                    ..
                } => {
                    *from_s *= factor;
                    *until_s *= factor;
                    *every_s *= factor;
                    *down_s *= factor;
                }
                Fault::Partition { at_s, for_s, .. } => {
                    *at_s *= factor;
                    *for_s *= factor;
                }
                Fault::Link { at_s, for_s, .. } => {
                    *at_s *= factor;
                    if let Some(f) = for_s {
                        *f *= factor;
                    }
                }
            }
        }
        for a in &mut self.adversaries {
            match a {
                Adversary::Forger { at_s, for_s, .. }
                | Adversary::Intruder { at_s, for_s }
                | Adversary::Replayer { at_s, for_s, .. }
                | Adversary::Equivocator { at_s, for_s, .. }
                | Adversary::Flooder { at_s, for_s, .. }
                | Adversary::HeadLiar { at_s, for_s, .. }
                | Adversary::AgeBomb { at_s, for_s, .. }
                | Adversary::OutOfOrderFlood { at_s, for_s, .. }
                | Adversary::JunkRoster { at_s, for_s, .. } => {
                    *at_s *= factor;
                    *for_s *= factor;
                }
                Adversary::UnauthorizedRequest { at_s, .. } => *at_s *= factor,
            }
        }
        if let Some(m) = &mut self.membership {
            for at_s in [
                m.leave.as_mut().map(|x| &mut x.at_s),
                m.rotate.as_mut().map(|x| &mut x.at_s),
                m.compromise.as_mut().map(|x| &mut x.at_s),
                m.join.as_mut().map(|x| &mut x.at_s),
            ]
            .into_iter()
            .flatten()
            {
                *at_s *= factor;
            }
        }
        for step in &mut self.steps {
            match step {
                Step::Publish { at_s, .. }
                | Step::Hazardous { at_s, .. }
                | Step::RetractionRace { at_s, .. } => *at_s *= factor,
            }
        }
    }

    /// The same network and honest workload with no adversaries and no
    /// retraction race: the baseline `expect.latency_p99_vs_baseline`
    /// compares against.
    pub fn honest_baseline(&self) -> Scenario {
        let mut out = self.clone();
        out.name = format!("{} (baseline)", self.name);
        out.adversaries.clear();
        out.steps.retain(|s| !matches!(s, Step::RetractionRace { .. }));
        out.expect.latency_p99_vs_baseline = None;
        out
    }

    /// Whether `org` runs an honest observer node.
    pub fn is_observer(&self, org: &str) -> bool {
        self.network.observers.iter().any(|o| o == org)
    }
}

fn check(s: &Scenario) -> Result<(), CheckError> {
    let honest = s.honest_orgs();
    let mut seen = BTreeSet::new();
    for org in &honest {
        if !seen.insert(org.as_str()) {
            return Err((None, format!("network: `{org}` is listed twice")));
        }
        if org.is_empty()
            || org.len() > 32
            || !org
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err((
                None,
                format!("network: `{org}` is not an org id (lowercase letters, digits, `-`; at most 32)"),
            ));
        }
    }
    if honest.len() < 2 {
        return Err((None, "network: at least two honest nodes are needed".into()));
    }
    if s.network.members.len() + s.network.generated_members == 0 {
        return Err((None, "network: at least one member is needed".into()));
    }
    let w = &s.workload;
    for (name, v) in [
        ("warmup_s", w.warmup_s),
        ("duration_s", w.duration_s),
        ("settle_s", w.settle_s),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err((None, format!("workload.{name} must be a non-negative number")));
        }
    }
    if w.per_node_interval_s.is_some() && w.total_entries.is_some() {
        return Err((
            None,
            "workload: give per_node_interval_s or total_entries, not both".into(),
        ));
    }
    if let Some(i) = w.per_node_interval_s
        && !(i.is_finite() && i > 0.0)
    {
        return Err((None, "workload.per_node_interval_s must be positive".into()));
    }
    if w.recipients[0] > w.recipients[1] {
        return Err((None, "workload.recipients must be [fewest, most]".into()));
    }
    let total = w.tiers.public + w.tiers.consortium + w.tiers.restricted + w.tiers.hazardous;
    if total == 0 {
        return Err((
            None,
            "workload.tiers: at least one weight must be positive".into(),
        ));
    }
    if w.kinds.bulletin == 0 {
        return Err((
            None,
            "workload.kinds.bulletin must be positive (other kinds refer to bulletins)".into(),
        ));
    }
    if let Some(d) = s.network.degree
        && d == 0
    {
        return Err((None, "network.degree must be at least 1".into()));
    }
    if s.network.rate_limit_per_minute == 0 {
        return Err((None, "network.rate_limit_per_minute must be positive".into()));
    }
    let horizon = w.duration_s;
    let node = |r: &NodeRef, wildcard: bool, loc: Loc| -> Result<(), CheckError> {
        if (wildcard && r == "*") || honest.contains(r) {
            Ok(())
        } else {
            Err((
                Some(loc),
                format!(
                    "`{r}` is not an honest node of this scenario (nodes: {})",
                    honest.join(", ")
                ),
            ))
        }
    };
    let window = |at: f64, len: f64, what: &str, loc: Loc| -> Result<(), CheckError> {
        if !(at.is_finite() && len.is_finite() && at >= 0.0 && len >= 0.0) {
            return Err((Some(loc), format!("{what}: times must be non-negative numbers")));
        }
        if at > horizon {
            return Err((
                Some(loc),
                format!("{what}: starts at {at} s, after the publishing phase ({horizon} s)"),
            ));
        }
        Ok(())
    };
    let member = |r: &NodeRef, loc: Loc| -> Result<(), CheckError> {
        node(r, false, loc.clone())?;
        if s.is_observer(r) {
            return Err((Some(loc), format!("`{r}` is an observer; this needs a member")));
        }
        Ok(())
    };
    use Seg::{Idx, Key};
    for (i, f) in s.faults.iter().enumerate() {
        let what = format!("faults[{i}]");
        let at = |k: &'static str| vec![Key("faults"), Idx(i), Key(k)];
        match f {
            Fault::Crash {
                node: n,
                at_s,
                down_s,
            } => {
                node(n, false, at("node"))?;
                window(*at_s, *down_s, &what, at("at_s"))?;
            }
            Fault::Churn {
                nodes,
                from_s,
                until_s,
                every_s,
                down_s,
            } => {
                for (k, n) in nodes.iter().enumerate() {
                    node(n, false, vec![Key("faults"), Idx(i), Key("nodes"), Idx(k)])?;
                }
                window(*from_s, *down_s, &what, at("from_s"))?;
                if !(until_s >= from_s && *every_s > 0.0) {
                    return Err((
                        Some(at("every_s")),
                        format!("{what}: needs until_s >= from_s and every_s > 0"),
                    ));
                }
            }
            Fault::Partition { groups, at_s, for_s } => {
                for (g, group) in groups.iter().enumerate() {
                    for (k, n) in group.iter().enumerate() {
                        node(
                            n,
                            false,
                            vec![Key("faults"), Idx(i), Key("groups"), Idx(g), Idx(k)],
                        )?;
                    }
                }
                if groups.len() == 1 {
                    return Err((
                        Some(at("groups")),
                        format!("{what}: a partition needs two or more groups (or none: random halves)"),
                    ));
                }
                window(*at_s, *for_s, &what, at("at_s"))?;
                if s.network.links == Links::Direct {
                    return Err((
                        Some(at("kind")),
                        format!("{what}: partitions need network.links = \"proxied\""),
                    ));
                }
            }
            Fault::Link {
                a,
                b,
                cut_probability,
                at_s,
                for_s,
                ..
            } => {
                node(a, true, at("a"))?;
                node(b, true, at("b"))?;
                window(*at_s, for_s.unwrap_or(0.0), &what, at("kind"))?;
                if !(0.0..=1.0).contains(cut_probability) {
                    return Err((
                        Some(at("cut_probability")),
                        format!("{what}: cut_probability must be between 0 and 1"),
                    ));
                }
                if s.network.links == Links::Direct {
                    return Err((
                        Some(at("kind")),
                        format!("{what}: link faults need network.links = \"proxied\""),
                    ));
                }
            }
        }
    }
    let mut adversary_orgs: Vec<&str> = Vec::new();
    for (i, a) in s.adversaries.iter().enumerate() {
        let what = format!("adversaries[{i}]");
        let at = |k: &'static str| vec![Key("adversaries"), Idx(i), Key(k)];
        match a {
            Adversary::Forger { org, at_s, for_s, .. }
            | Adversary::Equivocator { org, at_s, for_s, .. }
            | Adversary::Flooder { org, at_s, for_s, .. }
            | Adversary::AgeBomb { org, at_s, for_s, .. }
            | Adversary::OutOfOrderFlood { org, at_s, for_s, .. }
            | Adversary::JunkRoster { org, at_s, for_s, .. } => {
                if honest.contains(org) {
                    return Err((
                        Some(at("org")),
                        format!("`{org}` runs an honest node; this adversary needs an org of its own"),
                    ));
                }
                if adversary_orgs.contains(&org.as_str()) {
                    return Err((Some(at("org")), format!("`{org}` is used by two adversaries")));
                }
                adversary_orgs.push(org);
                window(*at_s, *for_s, &what, at("kind"))?;
                if let Adversary::Flooder { rate_multiple, .. } = a
                    && !(rate_multiple.is_finite() && *rate_multiple > 0.0)
                {
                    return Err((
                        Some(at("rate_multiple")),
                        format!("{what}: rate_multiple must be positive"),
                    ));
                }
                if let Adversary::OutOfOrderFlood {
                    entries, details_kib, ..
                } = a
                    && (*details_kib > 120 || *entries == 0 || *entries > 2000)
                {
                    return Err((
                        Some(at("entries")),
                        format!("{what}: needs 1..=2000 entries of at most 120 KiB of details"),
                    ));
                }
            }
            Adversary::Intruder { at_s, for_s } => window(*at_s, *for_s, &what, at("kind"))?,
            Adversary::Replayer { org, at_s, for_s } | Adversary::HeadLiar { org, at_s, for_s } => {
                node(org, false, at("org"))?;
                window(*at_s, *for_s, &what, at("kind"))?;
            }
            Adversary::UnauthorizedRequest { org, at_s } => {
                node(org, false, at("org"))?;
                window(*at_s, 0.0, &what, at("at_s"))?;
            }
        }
    }
    for (i, step) in s.steps.iter().enumerate() {
        let what = format!("steps[{i}]");
        let at = |k: &'static str| vec![Key("steps"), Idx(i), Key(k)];
        match step {
            Step::Publish { node: n, at_s, .. } => {
                node(n, false, at("node"))?;
                window(*at_s, 0.0, &what, at("at_s"))?;
            }
            Step::Hazardous {
                author,
                requester,
                at_s,
            } => {
                member(author, at("author"))?;
                member(requester, at("requester"))?;
                if author == requester {
                    return Err((
                        Some(at("requester")),
                        "the requester must differ from the author".into(),
                    ));
                }
                window(*at_s, 0.0, &what, at("at_s"))?;
            }
            Step::RetractionRace {
                author,
                requester,
                approvers,
                at_s,
            } => {
                member(author, at("author"))?;
                member(requester, at("requester"))?;
                for approver in approvers {
                    member(approver, at("approvers"))?;
                }
                let mut parties = BTreeSet::from([author, requester]);
                if author == requester || !approvers.iter().all(|a| parties.insert(a)) {
                    return Err((
                        Some(at("approvers")),
                        "author, requester and the two approvers must be four different members".into(),
                    ));
                }
                window(*at_s, 0.0, &what, at("at_s"))?;
            }
        }
    }
    if let Some(f) = s.expect.latency_p99_vs_baseline
        && !(f.is_finite() && f >= 1.0)
    {
        return Err((None, "expect.latency_p99_vs_baseline must be at least 1".into()));
    }
    if let Some(m) = s.expect.rss_per_node_mib
        && !(m.is_finite() && m > 0.0)
    {
        return Err((None, "expect.rss_per_node_mib must be positive".into()));
    }
    if !(0.0..=1.0).contains(&s.expect.delivery_ratio) {
        return Err((None, "expect.delivery_ratio must be between 0 and 1".into()));
    }
    if let Some(m) = &s.membership {
        check_membership(s, m, &member, &window)?;
    }
    Ok(())
}

/// Checks that a node reference names a member of the scenario.
type MemberCheck<'a> = &'a dyn Fn(&NodeRef, Loc) -> Result<(), CheckError>;
/// Checks a time window: start, length, what it is, where.
type WindowCheck<'a> = &'a dyn Fn(f64, f64, &str, Loc) -> Result<(), CheckError>;

/// The `[membership]` section: who plays which part, and when.
fn check_membership(
    s: &Scenario,
    m: &Membership,
    member: MemberCheck<'_>,
    window: WindowCheck<'_>,
) -> Result<(), CheckError> {
    use Seg::Key;
    let at = |k: &'static str, f: &'static str| vec![Key("membership"), Key(k), Key(f)];
    if !(s.faults.is_empty() && s.adversaries.is_empty() && s.steps.is_empty()) {
        return Err((
            Some(vec![Key("membership")]),
            "a membership scenario plays its own steps: faults, adversaries and steps are not supported with it".into(),
        ));
    }
    let t = &s.workload.tiers;
    if t.restricted > 0 || t.hazardous > 0 {
        return Err((
            Some(vec![Key("workload"), Key("tiers")]),
            "a membership scenario publishes public and consortium entries only (restricted bodies are sealed to keys a rotation replaces; releases are not part of it)".into(),
        ));
    }
    member(&m.proposer, vec![Key("membership"), Key("proposer")])?;
    member(&m.relay, vec![Key("membership"), Key("relay")])?;
    if let Some(l) = &m.leave {
        member(&l.member, at("leave", "member"))?;
        window(l.at_s, 0.0, "membership.leave", at("leave", "at_s"))?;
        if l.member == m.proposer || l.member == m.relay {
            return Err((
                Some(at("leave", "member")),
                "the leaving member cannot be the proposer or the relay's org".into(),
            ));
        }
    }
    if let Some(r) = &m.rotate {
        member(&r.member, at("rotate", "member"))?;
        window(r.at_s, 0.0, "membership.rotate", at("rotate", "at_s"))?;
        if r.member == m.proposer || m.leave.as_ref().is_some_and(|l| l.member == r.member) {
            return Err((
                Some(at("rotate", "member")),
                "the rotating member cannot be the proposer or the leaving member".into(),
            ));
        }
    }
    if let Some(c) = &m.compromise {
        window(c.at_s, 0.0, "membership.compromise", at("compromise", "at_s"))?;
        let Some(r) = &m.rotate else {
            return Err((
                Some(at("compromise", "at_s")),
                "a compromise needs a rotation: the rotated member's old key is the one compromised".into(),
            ));
        };
        if c.at_s <= r.at_s {
            return Err((
                Some(at("compromise", "at_s")),
                "the compromise must come after the rotation".into(),
            ));
        }
        if c.from_seq == 0 || c.forgeries == 0 || c.forgeries > 100 {
            return Err((
                Some(at("compromise", "from_seq")),
                "a compromise needs from_seq >= 1 and 1..=100 forgeries".into(),
            ));
        }
    }
    if let Some(j) = &m.join {
        window(j.at_s, 0.0, "membership.join", at("join", "at_s"))?;
        if !s.is_observer(&j.observer) {
            return Err((
                Some(at("join", "observer")),
                format!("`{}` is not an observer of this scenario", j.observer),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_and_checks() {
        for (name, text) in BUILTIN {
            if let Err(e) = parse(text, name) {
                panic!("builtin {name}: {e}");
            }
        }
    }

    #[test]
    fn a_typo_names_its_line() {
        let text = "name = \"t\"\n[network]\nmembers = [\"a\", \"b\"]\nsync_intervall_ms = 5\n";
        let e = parse(text, "t.toml").expect_err("typo");
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("sync_intervall_ms"), "{e}");
    }

    #[test]
    fn an_unknown_node_names_its_line() {
        let text = "name = \"t\"\n[network]\nmembers = [\"a\", \"b\"]\n\n[[faults]]\nkind = \"crash\"\nnode = \"c\"\nat_s = 1\ndown_s = 1\n";
        let e = parse(text, "t.toml").expect_err("unknown node");
        assert_eq!(e.line, Some(7), "{e}");
        assert!(
            e.to_string().starts_with("t.toml:7: `c` is not an honest node"),
            "{e}"
        );
    }

    #[test]
    fn a_retraction_race_needs_four_different_members() {
        let text = "name = \"t\"\n[network]\nmembers = [\"a\", \"b\", \"c\", \"d\"]\n\n[[steps]]\nkind = \"retraction-race\"\nauthor = \"a\"\nrequester = \"b\"\napprovers = [\"c\", \"b\"]\nat_s = 1\n";
        let e = parse(text, "t.toml").expect_err("requester approves");
        assert!(e.message.contains("four different members"), "{e}");
        let ok = text.replace("[\"c\", \"b\"]", "[\"c\", \"d\"]");
        assert!(parse(&ok, "t.toml").is_ok());
    }

    #[test]
    fn the_hostile_baseline_keeps_the_honest_workload_only() {
        let loaded = load("hostile").expect("builtin");
        let s = &loaded.scenario;
        assert!(!s.adversaries.is_empty());
        assert!(s.expect.latency_p99_vs_baseline.is_some());
        let b = s.honest_baseline();
        assert!(b.adversaries.is_empty());
        assert!(!b.steps.iter().any(|st| matches!(st, Step::RetractionRace { .. })));
        assert!(b.expect.latency_p99_vs_baseline.is_none());
        assert_eq!(b.network.members, s.network.members);
        assert_eq!(b.workload.duration_s, s.workload.duration_s);
    }

    #[test]
    fn a_membership_section_is_checked_for_parts_and_order() {
        let base = "name = \"t\"\n[network]\nmembers = [\"a\", \"b\", \"c\"]\nobservers = [\"o\"]\n[workload]\ntiers = { public = 1, consortium = 1, restricted = 0, hazardous = 0 }\n[membership]\nproposer = \"a\"\nrelay = \"b\"\n";
        let ok = format!(
            "{base}leave = {{ member = \"c\", at_s = 1 }}\nrotate = {{ member = \"b\", at_s = 2 }}\ncompromise = {{ at_s = 3, from_seq = 2 }}\njoin = {{ observer = \"o\", at_s = 4 }}\n"
        );
        let loaded = parse(&ok, "t.toml").expect("a valid membership scenario");
        let m = loaded.scenario.membership.expect("section");
        assert_eq!(m.compromise.map(|c| c.forgeries), Some(6));
        let refused = [
            (
                format!("{base}compromise = {{ at_s = 3, from_seq = 2 }}\n"),
                "needs a rotation",
            ),
            (
                format!(
                    "{base}rotate = {{ member = \"c\", at_s = 5 }}\ncompromise = {{ at_s = 3, from_seq = 2 }}\n"
                ),
                "after the rotation",
            ),
            (
                format!("{base}leave = {{ member = \"a\", at_s = 1 }}\n"),
                "cannot be the proposer",
            ),
            (
                format!("{base}join = {{ observer = \"c\", at_s = 1 }}\n"),
                "not an observer",
            ),
            (
                ok.replace("restricted = 0", "restricted = 1"),
                "public and consortium",
            ),
            (
                format!("{ok}[[faults]]\nkind = \"crash\"\nnode = \"a\"\nat_s = 1\ndown_s = 1\n"),
                "not supported",
            ),
        ];
        for (text, why) in refused {
            let e = parse(&text, "t.toml").expect_err(why);
            assert!(e.message.contains(why), "{why}: {e}");
        }
    }

    #[test]
    fn an_unknown_fault_kind_is_refused() {
        let text =
            "name = \"t\"\n[network]\nmembers = [\"a\", \"b\"]\n\n[[faults]]\nkind = \"meteor\"\nat_s = 1\n";
        let e = parse(text, "t.toml").expect_err("unknown kind");
        assert!(e.line.is_some(), "{e}");
        assert!(e.message.contains("meteor"), "{e}");
    }
}
