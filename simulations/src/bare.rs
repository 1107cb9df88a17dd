//! The bare-libp2p baseline of the scaling benchmark: N plain gossipsub
//! swarms in this process on 127.0.0.1 doing the work a riskmesh network
//! does for the same plan — the same transport (TCP + Noise + Yamux), the
//! node's gossipsub configuration and peer scoring (`net::gossip_config`,
//! `net::score_params`), application validation with an Ed25519
//! `verify_strict` per received message, messages as long as riskmesh's wire
//! entries ([`payload`]), the plan's authors and times — and nothing else: no
//! SQLite, no sync, no request-response. Each node dials
//! `degree` random peers among those a pair rule gives it, as the node
//! does ([`DialPlan`]).
//!
//! It measures what the riskmesh run measures, the same way (`run.rs`,
//! `check::figures`): delivery ratio, latency from publish to acceptance at
//! every other node, process CPU seconds, sampled peak RSS minus the RSS
//! before start per node, start-up time. CPU and memory are process-wide,
//! so run it in a fresh process (`riskmesh sim --bare`), as `riskmesh sim
//! --scaling` does.

mod dials;
pub mod payload;
mod report;
mod swarm;

pub use dials::{DialPlan, MAX_DRAWS};
pub use report::BareReport;

use crate::check::{Bytes, Figures, Latency};
use crate::measure::{self, PeakRssSampler};
use crate::plan::Plan;
use crate::run::SimError;
use crate::scenario::Scenario;
use ed25519_dalek::{SigningKey, VerifyingKey};
use indicatif::ProgressBar;
use libp2p::identity::Keypair;
use riskmesh_node::net::Topics;
use riskmesh_protocol::testkit;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use swarm::{COMMAND_CAPACITY, Command, Live, NodeOutcome};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Peers each node dials unless told otherwise (the bound for
/// riskmesh members).
pub const DEFAULT_DEGREE: usize = 8;
/// The longest wait for every planned connection, as in the riskmesh run.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the harness looks at connections and deliveries.
const CONNECT_POLL: Duration = Duration::from_millis(50);
const SETTLE_POLL: Duration = Duration::from_millis(200);
/// How often memory is sampled (as in the riskmesh run).
const RSS_SAMPLE: Duration = Duration::from_millis(200);

/// How to run a bare network.
#[derive(Debug, Clone, Copy)]
pub struct BareOptions {
    /// The plan's seed (the same as the riskmesh run it is compared with).
    pub seed: u64,
    /// Peers each node dials.
    pub degree: usize,
}

struct Node {
    commands: mpsc::Sender<Command>,
    live: Arc<Live>,
    task: JoinHandle<NodeOutcome>,
}

/// Plays `scenario`'s plan for `options.seed` on a bare network and
/// measures it. Faults, adversaries and scripted steps of the scenario are
/// not played: the baseline is the honest workload only.
pub async fn run(
    scenario: &Scenario,
    options: BareOptions,
    progress: &ProgressBar,
) -> Result<BareReport, SimError> {
    let plan = Plan::new(scenario, options.seed);
    let n = plan.nodes.len();
    let bodies = payload::bodies(&plan);
    let dial_plan = DialPlan::new(n, options.degree, options.seed);
    let neighbours = dial_plan.neighbours();
    let keys: Vec<SigningKey> = (0..n).map(payload::signing_key).collect();
    let authors: Arc<Vec<VerifyingKey>> = Arc::new(keys.iter().map(SigningKey::verifying_key).collect());
    let topics = Topics::new(testkit::NETWORK);

    // ---- start, as `run::execute` measures it ---------------------------
    let run_start = Instant::now();
    let cpu_start = measure::cpu_seconds();
    let base_rss = measure::rss_mib();
    let sampler = PeakRssSampler::start(RSS_SAMPLE);
    let delivered = Arc::new(AtomicU64::new(0));
    progress.set_message(format!("starting {n} bare swarms"));
    let mut nodes = Vec::with_capacity(n);
    let mut addrs = Vec::with_capacity(n);
    for i in 0..n {
        let key = Keypair::ed25519_from_bytes(testkit::seed(&format!("bare/{i}/node")))
            .map_err(|e| SimError::NodeStart(e.to_string()))?;
        let (swarm, addr) = swarm::start(key, &topics).await?;
        let (tx, rx) = mpsc::channel(COMMAND_CAPACITY);
        let live = Arc::new(Live::default());
        let task = tokio::spawn(swarm::drive(
            swarm,
            topics.entries.clone(),
            Arc::clone(&authors),
            plan.publications.len(),
            Arc::clone(&live),
            Arc::clone(&delivered),
            rx,
        ));
        nodes.push(Node {
            commands: tx,
            live,
            task,
        });
        addrs.push(addr);
    }
    for (i, dials) in dial_plan.dials.iter().enumerate() {
        for &j in dials {
            let _ = nodes[i].commands.send(Command::Dial(addrs[j].clone())).await;
        }
    }
    let startup_s = run_start.elapsed().as_secs_f64();

    // ---- warm-up: every planned connection up and subscribed ------------
    progress.set_message("connecting");
    let connect_deadline = Instant::now() + CONNECT_TIMEOUT;
    while Instant::now() < connect_deadline
        && !nodes.iter().zip(&neighbours).all(|(node, &want)| {
            node.live.connected.load(Ordering::Relaxed) >= want
                && node.live.subscribed.load(Ordering::Relaxed) >= want
        })
    {
        tokio::time::sleep(CONNECT_POLL).await;
    }
    tokio::time::sleep(Duration::from_secs_f64(scenario.workload.warmup_s)).await;

    // ---- the publishing phase -------------------------------------------
    let t0 = Instant::now();
    let cpu_phase_start = measure::cpu_seconds();
    progress.set_length(plan.duration_ms.div_ceil(1000).max(1));
    progress.set_position(0);
    progress.set_message("publishing");
    let mut published_at: Vec<Instant> = Vec::with_capacity(plan.publications.len());
    let mut published_bytes = 0u64;
    for p in &plan.publications {
        tokio::time::sleep_until(t0 + Duration::from_millis(p.at_ms)).await;
        progress.set_position(p.at_ms / 1000);
        let (body, len) = &bodies[p.index];
        let message = payload::sign(&keys[p.node], p.index as u32, p.node as u32, body, *len);
        published_at.push(Instant::now());
        published_bytes += message.len() as u64;
        let _ = nodes[p.node].commands.send(Command::Publish(message)).await;
    }
    tokio::time::sleep_until(t0 + Duration::from_millis(plan.duration_ms)).await;
    let phase_s = t0.elapsed().as_secs_f64();

    // ---- settle: until every node has every message ---------------------
    progress.set_message("converging");
    let expected = plan.publications.len() * n.saturating_sub(1);
    let settle_deadline = Instant::now() + Duration::from_secs_f64(scenario.workload.settle_s);
    let mut converged_after_s = None;
    loop {
        if delivered.load(Ordering::Relaxed) as usize >= expected {
            converged_after_s = Some(t0.elapsed().as_secs_f64());
            break;
        }
        if Instant::now() >= settle_deadline {
            break;
        }
        tokio::time::sleep(SETTLE_POLL).await;
    }

    let cpu_phase_s = match (cpu_phase_start, measure::cpu_seconds()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };

    // ---- stop and measure -----------------------------------------------
    progress.set_message("stopping swarms");
    let mut outcomes = Vec::with_capacity(n);
    for node in nodes {
        drop(node.commands);
        outcomes.push(node.task.await.unwrap_or_default());
    }
    let peak_rss_mib = sampler.stop().await;
    let cpu_s = match (cpu_start, measure::cpu_seconds()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let wall_s = run_start.elapsed().as_secs_f64();

    let mut latencies: Vec<f64> = Vec::with_capacity(expected);
    let mut bytes_in = 0;
    for o in &outcomes {
        bytes_in += o.bytes_in;
        for &(p, at) in &o.receipts {
            if let Some(&sent) = published_at.get(p as usize) {
                latencies.push(at.saturating_duration_since(sent).as_secs_f64() * 1000.0);
            }
        }
    }
    let deliveries = latencies.len();
    let per_delivery = (deliveries > 0).then(|| bytes_in as f64 / deliveries as f64);
    let delivery_ratio = if expected == 0 {
        1.0
    } else {
        deliveries as f64 / expected as f64
    };
    let latency_all = Latency::of(&mut latencies);
    let mut published_by_tier = std::collections::BTreeMap::new();
    for p in &plan.publications {
        *published_by_tier.entry(p.tier.name().to_string()).or_default() += 1;
    }
    let figures = Figures {
        nodes: n,
        published: published_at.len(),
        publish_failures: outcomes.iter().map(|o| o.unsent).sum(),
        published_by_tier,
        expected_deliveries: expected,
        deliveries,
        delivery_ratio,
        // No faults: every delivery is undisturbed.
        latency_undisturbed: latency_all.clone(),
        latency_all,
        // Gossipsub hands each message to the application once.
        copies_per_delivery_gossip: per_delivery.map(|_| 1.0),
        duplicates_note: "bare network: gossipsub drops duplicates before the application, so each delivery is one message; no link proxies, so no wire estimate.".into(),
        bytes: Bytes {
            gossip_in: bytes_in,
            gossip_out: published_bytes,
            app_per_delivery: per_delivery,
            mean_entry_bytes: per_delivery,
            ..Bytes::default()
        },
        converged_after_s,
        cpu_s,
        cpu_phase_s,
        cpu_cores: cpu_s.map(|c| c / wall_s.max(1e-9)),
        wall_s,
        phase_s,
        startup_s,
        peak_rss_mib,
        vm_hwm_mib: measure::peak_rss_mib(),
        base_rss_mib: base_rss,
        rss_per_node_mib: match (peak_rss_mib, base_rss) {
            (Some(p), Some(b)) if n > 0 => Some((p - b).max(0.0) / n as f64),
            _ => None,
        },
        ..Figures::default()
    };
    Ok(BareReport {
        kind: "bare".into(),
        scenario: scenario.name.clone(),
        seed: options.seed,
        passed: dial_plan.connected && delivery_ratio >= scenario.expect.delivery_ratio,
        connected: dial_plan.connected,
        degree: options.degree,
        connections: dial_plan.total(),
        rejected: outcomes.iter().map(|o| o.rejected).sum(),
        figures,
        release_build: !cfg!(debug_assertions),
    })
}
