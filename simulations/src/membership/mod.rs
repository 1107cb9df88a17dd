//! The membership scenario (issue 10, spec §9.5–§9.6): roster changes
//! under steady traffic, played against real nodes. A member leaves and
//! its key keeps signing; a member rotates its keys by the operator
//! procedure (stop the node, the update, restart under the new key); the
//! rotated member's old key is declared compromised and forged with; an
//! observer's node starts late and catches up the whole history. The
//! removed member's later entries and the forgeries reach the honest nodes
//! through a stale relay ([`relay`]). At the end every database is read and
//! [`check`] judges it.
//!
//! It reuses the general harness's nodes, links and report; the plan's
//! publications are the traffic ([`traffic`]); the updates are drafted in
//! [`updates`].

pub mod check;
mod relay;
mod traffic;
mod updates;

use crate::check::Checked;
use crate::run::{self, FaultRecord, Harness, PublishedEntry, RunData, SimError, handle_of};
use crate::scenario::{LoadedScenario, Membership, Scenario};
use crate::{Options, Outcome, measure, report};
use relay::{RELAY_QUEUE, RelayCommand};
use riskmesh_node::config::DB_FILE;
use riskmesh_node::runtime::{NodeStatus, now_ms};
use riskmesh_node::store::Head;
use riskmesh_protocol::{Draft, EntryId, LogWriter, OrgKey, OrgSecrets, Roster, SignedRoster, testkit};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use traffic::{Departed, DepartedSlot, PublishGate, TrafficContext};

/// Longest wait for every running node to apply an update.
const APPLY_WAIT: Duration = Duration::from_secs(20);
/// Longest wait for the proposer to hold a stopped member's last entry.
const HEAD_WAIT: Duration = Duration::from_secs(10);
/// How long the relay may take to send what it still holds at the end.
const RELAY_LINGER: Duration = Duration::from_secs(3);

/// One roster update the harness made.
#[derive(Debug, Clone, Serialize)]
pub struct RosterChange {
    /// The version it made.
    pub version: u64,
    /// `leave`, `rotate` or `compromise`.
    pub step: &'static str,
    /// The organization concerned.
    pub org: String,
    /// The last valid seq of the key it retires (or shrinks).
    pub last_seq: u64,
    /// When it was offered, s after the phase started.
    pub offered_s: f64,
    /// When every running node had it in force (absent: not within 20 s).
    pub applied_s: Option<f64>,
}

/// The member that left.
#[derive(Debug, Clone)]
pub struct Left {
    /// Its honest node index.
    pub node: usize,
    /// Its organization.
    pub org: String,
    /// Its retired key.
    pub key: OrgKey,
    /// The valid prefix: last seq and id (0 and none: nothing stays).
    pub last: (u64, Option<EntryId>),
    /// `(seq, id)` of the entries its key signed after the removal.
    pub departed: Vec<(u64, EntryId)>,
}

/// The member that rotated its keys.
#[derive(Debug, Clone)]
pub struct Rotated {
    /// Its honest node index.
    pub node: usize,
    /// Its organization.
    pub org: String,
    /// The retired key.
    pub old: OrgKey,
    /// The new key.
    pub new: OrgKey,
    /// When its node stopped and when it restarted, s after the phase
    /// started.
    pub down: (f64, f64),
}

/// The old key declared compromised.
#[derive(Debug, Clone)]
pub struct Compromised {
    /// Its organization.
    pub org: String,
    /// The key.
    pub key: OrgKey,
    /// Its valid prefix before the update, and after.
    pub last_seq: (u64, u64),
    /// `(seq, id)` of the entries forged with it.
    pub forged: Vec<(u64, EntryId)>,
}

/// The observer whose node started late.
#[derive(Debug, Clone)]
pub struct Joined {
    /// Its honest node index.
    pub node: usize,
    /// Its organization.
    pub org: String,
    /// When its node started, s after the phase started.
    pub at_s: f64,
}

/// What the membership steps did, for the checks.
#[derive(Debug, Clone)]
pub struct Record {
    /// The updates, in order.
    pub changes: Vec<RosterChange>,
    /// The roster the harness ended with.
    pub roster: Roster,
    /// The member that left.
    pub left: Option<Left>,
    /// The member that rotated.
    pub rotated: Option<Rotated>,
    /// The compromised key.
    pub compromised: Option<Compromised>,
    /// The late observer.
    pub joined: Option<Joined>,
    /// Author key and seq of every honest publication.
    pub positions: HashMap<EntryId, (OrgKey, u64)>,
    /// Publications not made, by reason.
    pub skipped: BTreeMap<String, usize>,
    /// Steps that could not be carried out, with why.
    pub step_errors: Vec<String>,
}

/// Runs a membership scenario end to end: run, check, report.
pub async fn simulate(loaded: &LoadedScenario, options: &Options) -> Result<Outcome, SimError> {
    let logs = tempfile::tempdir()?;
    let (data, record) = execute(&loaded.scenario, options.seed, &options.progress, logs.path()).await?;
    options.progress.set_message("checking invariants");
    let checked: Checked = check::check(&data, &record);
    let mut report = report::Report::new(&data, &checked, &loaded.source_name);
    let written = match &options.out {
        Some(dir) => report.write(dir, &data, &checked)?,
        None => Vec::new(),
    };
    Ok(Outcome { report, written })
}

/// The state the steps share.
struct Driver {
    h: Harness,
    t0: Instant,
    genesis: Roster,
    /// Every version after the genesis, in order.
    chain: Vec<Roster>,
    proposer: usize,
    relay: mpsc::Sender<RelayCommand>,
    departed: DepartedSlot,
    gate: PublishGate,
    changes: Vec<RosterChange>,
    left: Option<Left>,
    rotated: Option<Rotated>,
    compromised: Option<Compromised>,
    joined: Option<Joined>,
    catch_up: Option<tokio::task::JoinHandle<run::CatchUp>>,
    /// Entries the steps published (the operators' announcements).
    announcements: Vec<PublishedEntry>,
    /// Their author keys and seqs.
    positions: HashMap<EntryId, (OrgKey, u64)>,
    step_errors: Vec<String>,
}

impl Driver {
    fn roster(&self) -> &Roster {
        self.chain.last().unwrap_or(&self.genesis)
    }

    fn index(&self, org: &str) -> usize {
        self.h.plan.nodes.iter().position(|n| n.org == org).unwrap_or(0)
    }

    fn db(&self, i: usize) -> PathBuf {
        self.h.cluster.data_dir(&self.h.plan.nodes[i].org).join(DB_FILE)
    }

    fn secrets(&self, i: usize) -> OrgSecrets {
        testkit::rotated_secrets(&self.h.plan.nodes[i].org, self.h.generation[i])
    }

    fn voters(&self) -> Vec<OrgSecrets> {
        let generation = |org: &str| {
            let i = self.h.plan.nodes.iter().position(|n| n.org == org);
            i.map_or(0, |i| self.h.generation[i])
        };
        updates::voter_keys(self.roster(), &generation)
    }

    async fn statuses(&self) -> Vec<NodeStatus> {
        let mut out = Vec::new();
        for i in 0..self.h.n() {
            if let Some(handle) = handle_of(&self.h.handles, i)
                && let Ok(status) = handle.status().await
            {
                out.push(status);
            }
        }
        out
    }

    /// Publishes `title` from node `i` — what an operator announces
    /// before it stops a node for good or for a new key — and stops the
    /// node once the proposer holds the announcement (an entry gossiped
    /// by a node that stops at once may reach no one).
    async fn announce_and_stop(&mut self, i: usize, title: &str) -> Result<(), String> {
        let _gate = Arc::clone(&self.gate).lock_owned().await;
        if let Some(handle) = handle_of(&self.h.handles, i) {
            let entry = handle
                .publish(crate::adversary::bulletin(title))
                .await
                .map_err(|e| format!("`{title}` was not published: {e}"))?;
            let h = entry.header();
            self.positions.insert(entry.id(), (h.author, h.seq));
            let index = self.h.plan.publications.len() + self.announcements.len();
            self.announcements.push(PublishedEntry::of(index, i, &entry));
            self.proposer_holds(&h.author, h.seq).await?;
        }
        self.h.stop(i).await;
        Ok(())
    }

    /// Waits until the proposer's node holds `key`'s log up to `seq` (at
    /// most [`HEAD_WAIT`]).
    async fn proposer_holds(&self, key: &OrgKey, seq: u64) -> Result<(), String> {
        let hex = key.to_hex();
        let deadline = Instant::now() + HEAD_WAIT;
        while Instant::now() < deadline {
            let handle =
                handle_of(&self.h.handles, self.proposer).ok_or("the proposer's node is not running")?;
            let held = handle
                .status()
                .await
                .ok()
                .and_then(|s| s.authors.iter().find(|a| a.author == hex).map(|a| a.seq));
            if held.unwrap_or(0) >= seq {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// The head of `key`'s log as the proposer's node holds it, once it
    /// holds `seq` (or after [`HEAD_WAIT`], whatever it holds then).
    async fn proposer_head(&self, key: &OrgKey, seq: u64) -> Result<Option<Head>, String> {
        self.proposer_holds(key, seq).await?;
        // The node's status counts entries it accepted; a relayed entry is
        // committed a moment later. The draft is made from the
        // database, so wait for the commit too.
        let deadline = Instant::now() + HEAD_WAIT;
        loop {
            let head = updates::head_in(&self.db(self.proposer), key)?;
            if head.as_ref().map_or(0, |h| h.seq) >= seq || Instant::now() >= deadline {
                return Ok(head);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Verifies `signed` as the next version, offers it to the proposer's
    /// node and waits until every running node has it in force.
    async fn propose(
        &mut self,
        step: &'static str,
        org: &str,
        last_seq: u64,
        signed: SignedRoster,
    ) -> Result<(), String> {
        let next = self
            .roster()
            .apply_update(&signed)
            .map_err(|e| format!("{step}: the drafted update does not verify: {e}"))?;
        let version = next.version();
        self.chain.push(next);
        let offered_s = self.h.since_t0();
        let handle = handle_of(&self.h.handles, self.proposer).ok_or("the proposer's node is not running")?;
        handle
            .offer_roster(signed)
            .await
            .map_err(|e| format!("{step}: the proposer's node refused version {version}: {e}"))?;
        let deadline = Instant::now() + APPLY_WAIT;
        let mut applied_s = None;
        while Instant::now() < deadline {
            if self.statuses().await.iter().all(|s| s.roster_version >= version) {
                applied_s = Some(self.h.since_t0());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.h.faults.push(FaultRecord {
            kind: "roster".into(),
            label: format!("v{version}: {step} {org} (retired key valid to seq {last_seq})"),
            start_s: offered_s,
            end_s: applied_s.unwrap_or_else(|| self.h.since_t0()),
        });
        self.changes.push(RosterChange {
            version,
            step,
            org: org.to_string(),
            last_seq,
            offered_s,
            applied_s,
        });
        Ok(())
    }

    /// A member leaves: its node stops, the proposer drafts its removal
    /// from the head it holds, and once every node has the update its key
    /// goes on signing through the traffic.
    async fn leave(&mut self, org: &str) -> Result<(), String> {
        let i = self.index(org);
        let secrets = self.secrets(i);
        let key = secrets.signing.public();
        let down_s = self.h.since_t0();
        self.announce_and_stop(i, &format!("{org} leaves the consortium"))
            .await?;
        self.h.faults.push(FaultRecord {
            kind: "crash".into(),
            label: format!("{org} left (node stopped)"),
            start_s: down_s,
            end_s: f64::NAN,
        });
        let own = updates::head_in(&self.db(i), &key)?;
        let held = self
            .proposer_head(&key, own.as_ref().map_or(0, |h| h.seq))
            .await?;
        let prefix = held.as_ref().map(|h| (h.seq, h.id));
        let signed = updates::leave(self.roster(), org, prefix, &self.voters());
        self.propose("leave", org, prefix.map_or(0, |p| p.0), signed)
            .await?;
        let log = match &own {
            Some(h) => LogWriter::resume(self.genesis.network(), h.seq, h.id, h.timestamp_ms),
            None => LogWriter::new(self.genesis.network()),
        };
        if let Ok(mut slot) = self.departed.lock() {
            *slot = Some(Departed {
                node: i,
                secrets,
                log,
                genesis: self.genesis.clone(),
                entries: Vec::new(),
            });
        }
        self.left = Some(Left {
            node: i,
            org: org.to_string(),
            key,
            last: (prefix.map_or(0, |p| p.0), prefix.map(|p| p.1)),
            departed: Vec::new(),
        });
        Ok(())
    }

    /// A member rotates its keys by the operator procedure: stop its node,
    /// the update (its old key retired at the head the proposer holds),
    /// then its node restarts under the new keys with the new roster in
    /// its store, starting a new log.
    async fn rotate(&mut self, org: &str) -> Result<(), String> {
        let i = self.index(org);
        let old = self.secrets(i).signing.public();
        let new = testkit::rotated_secrets(org, self.h.generation[i] + 1);
        let down_s = self.h.since_t0();
        self.announce_and_stop(
            i,
            &format!("{org} rotates its keys: the last entry under the old key"),
        )
        .await?;
        let own = updates::head_in(&self.db(i), &old)?;
        let held = self
            .proposer_head(&old, own.as_ref().map_or(0, |h| h.seq))
            .await?;
        let prefix = held.as_ref().map(|h| (h.seq, h.id));
        let signed = updates::rotate(self.roster(), &new, prefix, &self.voters());
        self.propose("rotate", org, prefix.map_or(0, |p| p.0), signed)
            .await?;
        updates::store_rosters(&self.db(i), &self.chain)?;
        self.h.generation[i] += 1;
        let port = self.h.ports[i];
        self.h
            .launch(i, port)
            .await
            .map_err(|e| format!("rotate: {org}'s node did not restart under its new key: {e}"))?;
        self.introduce_everyone(i).await;
        let up_s = self.h.since_t0();
        self.h.faults.push(FaultRecord {
            kind: "crash".into(),
            label: format!("{org} restarting under a new key"),
            start_s: down_s,
            end_s: up_s,
        });
        self.rotated = Some(Rotated {
            node: i,
            org: org.to_string(),
            old,
            new: new.signing.public(),
            down: (down_s, up_s),
        });
        Ok(())
    }

    /// The rotated member's old key is declared compromised from
    /// `from_seq` (at the latest from its last valid entry): its prefix
    /// shrinks to the entries before, then
    /// `forgeries` entries signed with it from there go to the relay.
    async fn compromise(&mut self, from_seq: u64, forgeries: usize) -> Result<(), String> {
        let Some(rotated) = self.rotated.clone() else {
            return Err("compromise: no key was rotated".into());
        };
        let before = self
            .roster()
            .retired(&rotated.old)
            .map(|r| (r.last_seq, r.last_id))
            .ok_or("compromise: the old key is not retired")?;
        // Dated to `from_seq`, or to the key's last valid entry if it
        // signed fewer: the prefix always shrinks when there is one.
        let last_seq = before.0.saturating_sub(1).min(from_seq - 1);
        let (prefix, last_ts) = if last_seq == 0 {
            (None, 0)
        } else {
            let (id, ts) = updates::entry_in(&self.db(self.proposer), &rotated.old, last_seq)?
                .ok_or_else(|| format!("compromise: the proposer lacks the old key's seq {last_seq}"))?;
            (Some((last_seq, id)), ts)
        };
        let signed = updates::compromise(self.roster(), &rotated.old, prefix, &self.voters())
            .ok_or("compromise: the old key is not retired")?;
        self.propose("compromise", &rotated.org, last_seq, signed).await?;
        let secrets = testkit::rotated_secrets(&rotated.org, self.h.generation[rotated.node] - 1);
        let mut log = match prefix {
            Some((seq, id)) => LogWriter::resume(self.genesis.network(), seq, id, last_ts),
            None => LogWriter::new(self.genesis.network()),
        };
        let mut forged = Vec::new();
        for n in 0..forgeries {
            let draft = Draft {
                body: riskmesh_protocol::Body::Bulletin(testkit::sample_bulletin(&format!(
                    "forged with {}'s leaked key, {n}",
                    rotated.org
                ))),
                ..crate::adversary::bulletin("")
            };
            let entry = log
                .append(&secrets.signing, &self.genesis, &draft, now_ms())
                .map_err(|e| format!("compromise: forging failed: {e}"))?;
            forged.push((entry.header().seq, entry.id()));
            let payload = entry.to_wire().to_bytes();
            let _ = self
                .relay
                .send(RelayCommand::Gossip {
                    payload,
                    what: "forged",
                })
                .await;
        }
        self.compromised = Some(Compromised {
            org: rotated.org,
            key: rotated.old,
            last_seq: (before.0, last_seq),
            forged,
        });
        Ok(())
    }

    /// An observer's node starts (late): it learns every roster version
    /// and the history from its peers.
    async fn join(&mut self, org: &str) -> Result<(), String> {
        let i = self.index(org);
        self.h
            .launch(i, 0)
            .await
            .map_err(|e| format!("join: {org}'s node did not start: {e}"))?;
        self.introduce_everyone(i).await;
        let at_s = self.h.since_t0();
        let target = self.h.best_heads(i).await;
        self.catch_up = Some(run::watch_catch_up(
            Arc::clone(&self.h.handles),
            i,
            org.to_string(),
            target,
            at_s,
        ));
        self.h.faults.push(FaultRecord {
            kind: "crash".into(),
            label: format!("{org} not started yet"),
            start_s: 0.0,
            end_s: at_s,
        });
        self.joined = Some(Joined {
            node: i,
            org: org.to_string(),
            at_s,
        });
        Ok(())
    }

    /// After node `i` (re)started: it learns its peers, they learn it (a
    /// node that left is no longer introduced), the relay dials it.
    async fn introduce_everyone(&self, i: usize) {
        let gone: Vec<usize> = self.left.iter().map(|l| l.node).collect();
        for j in 0..self.h.n() {
            self.h.introduce_except(j, &gone).await;
        }
        let _ = self
            .relay
            .send(RelayCommand::Dial(self.h.direct_addrs[i].clone()))
            .await;
    }
}

/// A membership step, by time.
enum StepKind {
    Leave(String),
    Rotate(String),
    Compromise { from_seq: u64, forgeries: usize },
    Join(String),
}

fn steps(m: &Membership) -> Vec<(f64, StepKind)> {
    let mut out = Vec::new();
    if let Some(l) = &m.leave {
        out.push((l.at_s, StepKind::Leave(l.member.clone())));
    }
    if let Some(r) = &m.rotate {
        out.push((r.at_s, StepKind::Rotate(r.member.clone())));
    }
    if let Some(c) = &m.compromise {
        let step = StepKind::Compromise {
            from_seq: c.from_seq,
            forgeries: c.forgeries,
        };
        out.push((c.at_s, step));
    }
    if let Some(j) = &m.join {
        out.push((j.at_s, StepKind::Join(j.observer.clone())));
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// Runs a membership scenario with `seed` and hands the databases and what
/// the steps did to the checks.
pub async fn execute(
    scenario: &Scenario,
    seed: u64,
    progress: &indicatif::ProgressBar,
    log_dir: &std::path::Path,
) -> Result<(RunData, Record), SimError> {
    let Some(m) = scenario.membership.clone() else {
        return Err(SimError::NodeStart("not a membership scenario".into()));
    };
    let run_start = Instant::now();
    let cpu_start = measure::cpu_seconds();
    let base_rss = measure::rss_mib();
    std::fs::create_dir_all(log_dir)?;
    let log_path = log_dir.join("nodes.log");
    let logs_ours = run::capture_logs(&log_path)?;
    let plan = crate::plan::Plan::new(scenario, seed);
    let n = plan.nodes.len();
    let index = |org: &str| plan.nodes.iter().position(|p| p.org == org).unwrap_or(0);
    let late: Vec<usize> = m.join.iter().map(|j| index(&j.observer)).collect();

    progress.set_message(format!("starting {} nodes", n - late.len()));
    let extra = vec![(m.relay.clone(), relay::relay_key(&m.relay))];
    let mut h = Harness::start(scenario, &plan, seed, extra, &late).await?;
    let startup_s = run_start.elapsed().as_secs_f64();
    progress.set_message("connecting");
    h.await_connections(&late).await;
    tokio::time::sleep(Duration::from_secs_f64(scenario.workload.warmup_s)).await;

    h.t0 = Instant::now();
    h.t0_ms = now_ms();
    let t0 = h.t0;
    progress.set_length(plan.duration_ms.div_ceil(1000).max(1));
    progress.set_message("publishing; membership steps");
    let genesis = h.cluster.roster.clone();
    let (relay_tx, relay_rx) = mpsc::channel(RELAY_QUEUE);
    let targets = (0..n)
        .filter(|i| !late.contains(i))
        .map(|i| h.direct_addrs[i].clone())
        .collect();
    let relay_task = tokio::spawn(relay::stale_relay(
        m.relay.clone(),
        genesis.clone(),
        targets,
        relay_rx,
        RELAY_LINGER,
    ));
    let departed: DepartedSlot = Arc::new(Mutex::new(None));
    let gate: PublishGate = Arc::new(tokio::sync::Mutex::new(()));
    let traffic_task = tokio::spawn(traffic::publish_plan(TrafficContext {
        plan: plan.clone(),
        seed,
        t0,
        handles: Arc::clone(&h.handles),
        departed: Arc::clone(&departed),
        gate: Arc::clone(&gate),
        relay: relay_tx.clone(),
    }));
    let proposer = index(&m.proposer);
    let mut d = Driver {
        h,
        t0,
        genesis,
        chain: Vec::new(),
        proposer,
        relay: relay_tx,
        departed: Arc::clone(&departed),
        gate,
        changes: Vec::new(),
        left: None,
        rotated: None,
        compromised: None,
        joined: None,
        catch_up: None,
        announcements: Vec::new(),
        positions: HashMap::new(),
        step_errors: Vec::new(),
    };

    for (at_s, step) in steps(&m) {
        tokio::time::sleep_until(d.t0 + Duration::from_secs_f64(at_s)).await;
        progress.set_position(d.t0.elapsed().as_secs().min(plan.duration_ms / 1000));
        let result = match &step {
            StepKind::Leave(org) => d.leave(org).await,
            StepKind::Rotate(org) => d.rotate(org).await,
            StepKind::Compromise { from_seq, forgeries } => d.compromise(*from_seq, *forgeries).await,
            StepKind::Join(org) => d.join(org).await,
        };
        if let Err(e) = result {
            d.step_errors.push(e);
        }
    }
    let traffic = traffic_task.await.unwrap_or_default();
    let phase_s = t0.elapsed().as_secs_f64();
    progress.set_position(plan.duration_ms / 1000);

    // The relay sends what it holds, then stops.
    progress.set_message("converging");
    let Driver {
        mut h,
        chain,
        genesis,
        changes,
        mut left,
        rotated,
        compromised,
        joined,
        catch_up,
        announcements,
        positions,
        step_errors,
        relay,
        ..
    } = d;
    drop(relay);
    let mut relay_activity = relay_task.await.unwrap_or_default();
    relay_activity.start_s = 0.0;
    relay_activity.end_s = t0.elapsed().as_secs_f64();
    if let (Some(l), Ok(mut slot)) = (left.as_mut(), departed.lock())
        && let Some(dep) = slot.take()
    {
        l.departed = dep.entries;
    }
    let gone: Vec<usize> = left.iter().map(|l| l.node).collect();
    let (converged_after_s, statuses) = settle(&h, &gone, scenario.workload.settle_s, t0).await;
    let mut catch_ups = Vec::new();
    if let Some(task) = catch_up
        && let Ok(c) = task.await
    {
        catch_ups.push(c);
    }

    progress.set_message("stopping nodes");
    for i in 0..n {
        h.stop(i).await;
    }
    run::release_logs();
    let cpu_s = match (cpu_start, measure::cpu_seconds()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let now_s = t0.elapsed().as_secs_f64();
    for f in &mut h.faults {
        if f.end_s.is_nan() {
            f.end_s = now_s;
        }
    }
    let wire_bytes: u64 = h.proxies.values().map(|p| p.counters().bytes).sum();
    let link_cuts: u64 = h.proxies.values().map(|p| p.counters().cuts).sum();
    h.proxies.clear();
    let mut published = traffic.published;
    published.extend(announcements);
    published.sort_by_key(|e| e.timestamp_ms);
    let mut all_positions = traffic.positions;
    all_positions.extend(positions);
    let record = Record {
        changes,
        roster: chain.last().cloned().unwrap_or(genesis),
        left,
        rotated,
        compromised,
        joined,
        positions: all_positions,
        skipped: traffic.skipped,
        step_errors,
    };
    let data = RunData {
        scenario: scenario.clone(),
        plan,
        cluster: h.cluster,
        cluster_index: h.cluster_index,
        t0_ms: h.t0_ms,
        published,
        failed: traffic.failed,
        canaries: Vec::new(),
        hazardous: Vec::new(),
        metrics: h.metrics,
        statuses,
        released_views: Vec::new(),
        activities: vec![relay_activity],
        releases: Vec::new(),
        catch_ups,
        faults: h.faults,
        wire_bytes,
        link_cuts,
        converged_after_s,
        phase_s,
        wall_s: run_start.elapsed().as_secs_f64(),
        startup_s,
        cpu_s,
        cpu_phase_s: None,
        writer_cpu_phase_s: None,
        peak_rss_mib: measure::peak_rss_mib(),
        base_rss_mib: base_rss,
        log_files: if logs_ours { vec![log_path] } else { Vec::new() },
        baseline: None,
    };
    Ok((data, record))
}

/// Waits (at most `settle_s`) until every running node but those `gone`
/// has the same roster version, heads and entry count. Returns when they
/// agreed (s after the phase started) and their last statuses, in node
/// order.
async fn settle(h: &Harness, gone: &[usize], settle_s: f64, t0: Instant) -> (Option<f64>, Vec<NodeStatus>) {
    let deadline = Instant::now() + Duration::from_secs_f64(settle_s);
    let mut last_nudge = Instant::now();
    loop {
        let mut statuses = Vec::new();
        for i in (0..h.n()).filter(|i| !gone.contains(i)) {
            if let Some(handle) = handle_of(&h.handles, i)
                && let Ok(s) = handle.status().await
            {
                statuses.push(s);
            }
        }
        let versions_agree = statuses
            .windows(2)
            .all(|w| (w[0].roster_version, &w[0].roster_hash) == (w[1].roster_version, &w[1].roster_hash));
        if statuses.len() == h.n() - gone.len() && versions_agree && run::agreed(&statuses, &[]) {
            return (Some(t0.elapsed().as_secs_f64()), statuses);
        }
        if Instant::now() >= deadline {
            return (None, statuses);
        }
        if last_nudge.elapsed() > Duration::from_secs(5) {
            for i in 0..h.n() {
                h.introduce_except(i, gone).await;
            }
            last_nudge = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
