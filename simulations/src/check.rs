//! After the run: read every honest node's database (read-only, nodes
//! stopped), check the invariants, and compute the figures.
//!
//! Invariants fail loudly: each is a named result with the evidence, and
//! the command exits non-zero if any fails.

use crate::content::{CanaryKind, find_canaries};
use crate::hazardous::RETRACTION_RACE;
use crate::measure::{self, percentile};
use crate::run::{CatchUp, RunData};
use riskmesh_node::reverify::reverify_each;
use riskmesh_node::sealed;
use riskmesh_node::store::{Store, StoredEntry};
use riskmesh_protocol::{Body, EntryId, OrgKey, Tier, testkit};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One invariant's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Invariant {
    /// Short name.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// Evidence or what broke.
    pub detail: String,
}

/// Latency percentiles, ms.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    /// Deliveries measured.
    pub count: usize,
    /// Median.
    pub p50_ms: Option<f64>,
    /// 90th percentile.
    pub p90_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
    /// Largest.
    pub max_ms: Option<f64>,
}

impl Latency {
    /// The percentiles of `values` (sorted in place).
    pub(crate) fn of(values: &mut [f64]) -> Latency {
        values.sort_by(f64::total_cmp);
        Latency {
            count: values.len(),
            p50_ms: percentile(values, 0.5),
            p90_ms: percentile(values, 0.9),
            p99_ms: percentile(values, 0.99),
            max_ms: values.last().copied(),
        }
    }
}

/// One honest entry arriving at one honest node.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// Tier of the entry.
    pub tier: &'static str,
    /// Store time minus the author's timestamp, ms.
    pub latency_ms: f64,
    /// When it was stored, s after the phase started.
    pub received_s: f64,
    /// Whether a fault touched the author or the receiver meanwhile.
    pub disturbed: bool,
    /// Published while a flooder was active.
    pub during_flood: bool,
}

/// Traffic figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Bytes {
    /// Gossip payload bytes received by all honest nodes.
    pub gossip_in: u64,
    /// Gossip payload bytes published by all honest nodes (own entries).
    pub gossip_out: u64,
    /// Sync response bytes received.
    pub sync_in: u64,
    /// Sync response bytes sent.
    pub sync_out: u64,
    /// Every byte through the link proxies (TCP payload: Noise, Yamux,
    /// gossipsub control, sync); 0 with direct links.
    pub wire: u64,
    /// (gossip in + sync in) / deliveries: application bytes per delivered entry.
    pub app_per_delivery: Option<f64>,
    /// wire / deliveries: every byte on the links per delivered entry.
    pub wire_per_delivery: Option<f64>,
    /// Mean wire-entry size of the delivered entries.
    pub mean_entry_bytes: Option<f64>,
}

/// The figures of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    /// Honest nodes.
    pub nodes: usize,
    /// Honest publications that succeeded.
    pub published: usize,
    /// Planned publications that failed.
    pub publish_failures: usize,
    /// Publications per tier.
    pub published_by_tier: BTreeMap<String, usize>,
    /// (honest entry, other honest node) pairs.
    pub expected_deliveries: usize,
    /// Of which delivered.
    pub deliveries: usize,
    /// deliveries / expected.
    pub delivery_ratio: f64,
    /// Every delivery.
    pub latency_all: Latency,
    /// Deliveries no fault touched.
    pub latency_undisturbed: Latency,
    /// By tier.
    pub latency_by_tier: BTreeMap<String, Latency>,
    /// Estimated copies of each entry each node received by gossip:
    /// gossip payload bytes in / delivered entry bytes.
    pub copies_per_delivery_gossip: Option<f64>,
    /// Same estimate from every byte on the links (includes all protocol
    /// overhead, so an upper bound).
    pub copies_per_delivery_wire: Option<f64>,
    /// How the duplicate estimates are made.
    pub duplicates_note: String,
    /// Traffic.
    pub bytes: Bytes,
    /// Catch-ups after restarts.
    pub catch_up: Vec<CatchUp>,
    /// Time every node took to agree, s after the phase started.
    pub converged_after_s: Option<f64>,
    /// Process CPU seconds during the run.
    pub cpu_s: Option<f64>,
    /// Process CPU seconds from the start of the publishing phase until
    /// every node agreed (or the settle ended): the network's running cost,
    /// without starting the nodes (creating databases and keys, introducing
    /// addresses) and stopping them, nor the harness's final round of
    /// status queries that confirms the agreement (read before it).
    #[serde(default)]
    pub cpu_phase_s: Option<f64>,
    /// Of `cpu_phase_s`, the CPU seconds of the nodes' store writer threads
    /// (SQLite commits): what storing every entry on every node costs.
    /// Absent for the bare baseline, which stores nothing.
    #[serde(default)]
    pub writer_cpu_phase_s: Option<f64>,
    /// CPU use as a share of one core over the run.
    pub cpu_cores: Option<f64>,
    /// Whole run, s.
    pub wall_s: f64,
    /// Publishing phase, s.
    pub phase_s: f64,
    /// Starting every node, s.
    pub startup_s: f64,
    /// Highest resident memory sampled, MiB.
    pub peak_rss_mib: Option<f64>,
    /// Process peak (VmHWM), MiB.
    pub vm_hwm_mib: Option<f64>,
    /// Resident memory before the nodes started, MiB.
    pub base_rss_mib: Option<f64>,
    /// (peak − base) / nodes, MiB.
    pub rss_per_node_mib: Option<f64>,
    /// Link connections cut by the loss model.
    pub link_cuts: u64,
    /// The honest workload alone, when the scenario ran one first.
    pub baseline: Option<Baseline>,
}

/// The honest workload run alone before a hostile run, in the same
/// process and with the same seed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Baseline {
    /// Undisturbed honest deliveries measured.
    pub deliveries: usize,
    /// Their p99 latency, ms.
    pub p99_ms: Option<f64>,
    /// Process RSS before any node started, MiB.
    pub base_rss_mib: Option<f64>,
    /// Highest RSS sampled during the baseline, MiB.
    pub peak_rss_mib: Option<f64>,
    /// (peak − base) / nodes, MiB.
    pub rss_per_node_mib: Option<f64>,
}

impl Baseline {
    /// The baseline figures of a finished, checked run.
    pub fn of(data: &RunData, checked: &Checked) -> Baseline {
        Baseline {
            deliveries: checked.figures.latency_undisturbed.count,
            p99_ms: checked.figures.latency_undisturbed.p99_ms,
            base_rss_mib: data.base_rss_mib,
            peak_rss_mib: data.peak_rss_mib,
            rss_per_node_mib: checked.figures.rss_per_node_mib,
        }
    }
}

/// Everything the checks produce.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// The invariants.
    pub invariants: Vec<Invariant>,
    /// The figures.
    pub figures: Figures,
    /// Every delivery (for plots).
    pub deliveries: Vec<Delivery>,
    /// Honest entries delivered to each honest node.
    pub delivered_to: Vec<usize>,
}

impl Checked {
    /// Only these invariants: the checks could not go on.
    pub(crate) fn only(invariants: Vec<Invariant>) -> Checked {
        Checked {
            invariants,
            ..Checked::default()
        }
    }
}

pub(crate) struct NodeDb {
    pub(crate) entries: HashMap<EntryId, StoredEntry>,
    pub(crate) chain_problems: Vec<String>,
    /// The roster version re-verification reached (genesis = 1).
    pub(crate) roster_version: u64,
    proofs: Vec<(OrgKey, u64)>,
    withheld_rows: HashMap<EntryId, usize>,
}

fn read_db(data: &RunData, i: usize) -> Result<NodeDb, String> {
    let org = &data.plan.nodes[i].org;
    let path = data.cluster.data_dir(org).join("riskmesh.db");
    let store = Store::open_read_only(&path).map_err(|e| format!("{org}: open {}: {e}", path.display()))?;
    let mut out = NodeDb {
        entries: HashMap::new(),
        chain_problems: Vec::new(),
        roster_version: 0,
        proofs: Vec::new(),
        withheld_rows: HashMap::new(),
    };
    // The same re-verification as `riskmesh verify`, keeping the entries.
    let report = reverify_each(&store, data.cluster.roster.clone(), |entry| {
        out.entries.insert(entry.meta.id, entry);
    });
    out.roster_version = report.roster_version;
    out.chain_problems = report
        .problems
        .iter()
        .map(|problem| format!("{org}: {problem}"))
        .collect();
    // A stored proof that does not verify is among those problems already.
    for p in store.equivocations().map_err(|e| format!("{org}: {e}"))? {
        out.proofs.push((p.author, p.seq));
    }
    for (_, target, _) in &data.hazardous {
        let rows = store.withheld(target).map_err(|e| format!("{org}: {e}"))?.len();
        if rows > 0 {
            out.withheld_rows.insert(*target, rows);
        }
    }
    Ok(out)
}

/// Every node's database; `None` after adding the failed
/// `databases-readable` invariant to `inv` if one could not be read.
pub(crate) fn read_dbs(data: &RunData, inv: &mut Vec<Invariant>) -> Option<Vec<NodeDb>> {
    let dbs: Vec<Result<NodeDb, String>> = (0..data.plan.nodes.len()).map(|i| read_db(data, i)).collect();
    let errors: Vec<String> = dbs.iter().filter_map(|d| d.as_ref().err().cloned()).collect();
    if errors.is_empty() {
        Some(dbs.into_iter().flatten().collect())
    } else {
        inv.push(pass("databases-readable", false, errors.join("; ")));
        None
    }
}

/// The `publications` invariant: no planned publication failed (`made`
/// says what was published when none did).
pub(crate) fn publications(data: &RunData, made: String) -> Invariant {
    pass(
        "publications",
        data.failed.is_empty(),
        if data.failed.is_empty() {
            made
        } else {
            let shown: Vec<String> = data
                .failed
                .iter()
                .take(5)
                .map(|(i, e)| format!("#{i}: {e}"))
                .collect();
            format!("{} failed: {}", data.failed.len(), shown.join("; "))
        },
    )
}

pub(crate) fn pass(name: &str, passed: bool, detail: impl Into<String>) -> Invariant {
    Invariant {
        name: name.into(),
        passed,
        detail: detail.into(),
    }
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Checks the run and computes its figures.
pub fn check(data: &RunData) -> Checked {
    let n = data.plan.nodes.len();
    let orgs: Vec<&str> = data.plan.nodes.iter().map(|p| p.org.as_str()).collect();
    let mut inv = Vec::new();
    let rel_s = |ms: u64| (ms as f64 - data.t0_ms as f64) / 1000.0;

    inv.push(pass(
        "converged",
        data.converged_after_s.is_some(),
        match data.converged_after_s {
            Some(s) => format!(
                "every honest node agreed on heads, counts and proofs {s:.1} s after the phase started"
            ),
            None => format!(
                "not within settle_s = {} s; last heads per node: {}",
                data.scenario.workload.settle_s,
                data.statuses
                    .iter()
                    .map(|s| format!("{}={}", s.org, s.entries))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    ));

    inv.push(publications(
        data,
        format!(
            "all {} planned publications were accepted by their nodes",
            data.published.len()
        ),
    ));

    let Some(dbs) = read_dbs(data, &mut inv) else {
        return Checked::only(inv);
    };

    // Chains.
    let problems: Vec<String> = dbs
        .iter()
        .flat_map(|d| d.chain_problems.iter().cloned())
        .collect();
    let total: usize = dbs.iter().map(|d| d.entries.len()).sum();
    inv.push(pass(
        "chains-verify",
        problems.is_empty(),
        if problems.is_empty() {
            format!("{total} stored entries across {n} nodes re-verified; every author's seqs contiguous from 1 and linked")
        } else {
            problems.into_iter().take(5).collect::<Vec<_>>().join("; ")
        },
    ));

    // Same set (forks excluded: an equivocator's entries from the fork on
    // legitimately differ between nodes).
    let forks: Vec<(OrgKey, u64)> = data.activities.iter().filter_map(|a| a.fork).collect();
    let comparable = |d: &NodeDb| -> BTreeSet<EntryId> {
        d.entries
            .values()
            .filter(|e| !forks.iter().any(|(a, s)| e.meta.author == *a && e.meta.seq >= *s))
            .map(|e| e.meta.id)
            .collect()
    };
    let reference = comparable(&dbs[0]);
    let mut differ = Vec::new();
    for (i, d) in dbs.iter().enumerate().skip(1) {
        let set = comparable(d);
        if set != reference {
            differ.push(format!(
                "{} holds {} (missing {}, extra {}) vs {} at {}",
                orgs[i],
                set.len(),
                reference.difference(&set).count(),
                set.difference(&reference).count(),
                reference.len(),
                orgs[0]
            ));
        }
    }
    inv.push(pass(
        "same-entries",
        differ.is_empty(),
        if differ.is_empty() {
            format!(
                "all {n} honest nodes hold the same {} entries{}",
                reference.len(),
                if forks.is_empty() {
                    String::new()
                } else {
                    " (an equivocator's forked entries excluded)".into()
                }
            )
        } else {
            differ.join("; ")
        },
    ));

    // Deliveries and latency.
    let flood_windows: Vec<(f64, f64)> = data
        .activities
        .iter()
        .filter(|a| a.kind == "flooder")
        .map(|a| (a.start_s, a.end_s))
        .collect();
    let mut deliveries = Vec::new();
    let mut delivered_to = vec![0usize; n];
    let mut expected = 0usize;
    let mut delivered_bytes = 0u64;
    for p in &data.published {
        for (i, d) in dbs.iter().enumerate() {
            if i == p.node {
                continue;
            }
            expected += 1;
            if let Some(e) = d.entries.get(&p.id) {
                let latency = e.meta.received_ms as f64 - p.timestamp_ms as f64;
                let from = p.timestamp_ms.saturating_sub(data.t0_ms);
                let to = e.meta.received_ms.saturating_sub(data.t0_ms);
                let published_s = rel_s(p.timestamp_ms);
                deliveries.push(Delivery {
                    tier: p.tier.name(),
                    latency_ms: latency.max(0.0),
                    received_s: rel_s(e.meta.received_ms),
                    disturbed: data.plan.disturbed(p.node, i, from, to),
                    during_flood: flood_windows
                        .iter()
                        .any(|(s, e)| published_s >= *s && published_s <= *e),
                });
                delivered_bytes += p.wire_len as u64;
                delivered_to[i] += 1;
            }
        }
    }
    inv.push(delivery(
        data,
        deliveries.len(),
        expected,
        "(entry, node) deliveries",
    ));

    // Tiers: who may read, can; who may not, cannot.
    let mut unreadable = Vec::new();
    let mut opened = 0usize;
    let mut refused = 0usize;
    let mut leaked = Vec::new();
    for p in &data.published {
        for (i, d) in dbs.iter().enumerate() {
            let Some(e) = d.entries.get(&p.id) else { continue };
            if e.meta.purged || p.purged_by_plan {
                continue;
            }
            let Some(body) = &e.body else {
                unreadable.push(format!("{} lacks the body of #{}", orgs[i], p.index));
                continue;
            };
            match p.tier {
                Tier::Restricted => {
                    let secret = testkit::org_secrets(orgs[i]).encryption;
                    let result = sealed::open(&secret, body);
                    if p.recipients.contains(&i) {
                        match result {
                            Ok(plain) if Some(&*plain) == p.plaintext.as_ref() => opened += 1,
                            Ok(_) => unreadable
                                .push(format!("{} decrypted #{} to different bytes", orgs[i], p.index)),
                            Err(e) => unreadable
                                .push(format!("{} (a recipient) cannot open #{}: {e}", orgs[i], p.index)),
                        }
                    } else if result.is_ok() {
                        leaked.push(format!("{} (not a recipient) opened #{}", orgs[i], p.index));
                    } else {
                        refused += 1;
                    }
                }
                tier => match Body::decode(e.meta.kind, tier, body) {
                    Ok(Body::Bulletin(b)) if tier == Tier::Hazardous && !b.details.is_empty() => {
                        leaked.push(format!("{} holds hazardous #{} with details", orgs[i], p.index));
                    }
                    Ok(_) => {}
                    Err(err) => unreadable.push(format!("{} cannot decode #{}: {err}", orgs[i], p.index)),
                },
            }
        }
    }
    inv.push(pass(
        "tiers-readable",
        unreadable.is_empty(),
        if unreadable.is_empty() {
            format!(
                "every public, consortium and hazardous-summary body decodes on every node; restricted recipients opened {opened} copies"
            )
        } else {
            unreadable.into_iter().take(5).collect::<Vec<_>>().join("; ")
        },
    ));
    inv.push(pass(
        "restricted-confidential",
        leaked.iter().all(|l| !l.contains("not a recipient")),
        if leaked.is_empty() && refused == 0 {
            "no restricted entry had a non-recipient holder in this run".to_string()
        } else if leaked.is_empty() {
            format!("every one of {refused} attempts by non-recipients to open a restricted body failed")
        } else {
            leaked.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
        },
    ));

    // Withheld hazardous fields: only the granted set holds them.
    let mut granted: HashMap<usize, BTreeSet<usize>> = HashMap::new();
    for (publication, _, author) in &data.hazardous {
        granted.entry(*publication).or_default().insert(*author);
    }
    for r in &data.releases {
        if r.kind == "granted-release" && r.passed {
            granted.entry(r.publication).or_default().insert(r.requester_node);
        }
    }
    let mut violations: Vec<String> = leaked.into_iter().filter(|l| l.contains("hazardous")).collect();
    for (publication, target, _) in &data.hazardous {
        let allowed = granted.get(publication).cloned().unwrap_or_default();
        for (i, d) in dbs.iter().enumerate() {
            if d.withheld_rows.contains_key(target) && !allowed.contains(&i) {
                violations.push(format!("{} stores withheld fields of #{publication}", orgs[i]));
            }
        }
    }
    for (publication, node, fields) in &data.released_views {
        if !granted.get(publication).is_some_and(|g| g.contains(node)) {
            violations.push(format!(
                "{}'s API hands out {fields:?} of #{publication}",
                orgs[*node]
            ));
        }
    }
    let mut scanned_bytes = 0u64;
    let mut scanned_files = 0usize;
    let canary_of: HashMap<&str, (&CanaryKind, usize)> = data
        .canaries
        .iter()
        .map(|c| (c.text.as_str(), (&c.kind, c.publication)))
        .collect();
    let mut scan =
        |label: &str, node: Option<usize>, path: &std::path::Path, violations: &mut Vec<String>| {
            let Ok(bytes) = std::fs::read(path) else { return };
            scanned_bytes += bytes.len() as u64;
            scanned_files += 1;
            for found in find_canaries(&bytes) {
                let verdict = match canary_of.get(found.as_str()) {
                    Some((CanaryKind::Hazardous, p)) => {
                        node.is_some_and(|i| granted.get(p).is_some_and(|g| g.contains(&i)))
                    }
                    Some((CanaryKind::Restricted, _)) => false,
                    None => false,
                };
                if !verdict {
                    violations.push(format!("{label}: {} holds {found}", path.display()));
                }
            }
        };
    for (i, org) in orgs.iter().enumerate() {
        for file in files_under(&data.cluster.data_dir(org)) {
            scan(org, Some(i), &file, &mut violations);
        }
    }
    for log in &data.log_files {
        scan("logs", None, log, &mut violations);
    }
    let hazardous_canaries = data
        .canaries
        .iter()
        .filter(|c| c.kind == CanaryKind::Hazardous)
        .count();
    let restricted_canaries = data.canaries.len() - hazardous_canaries;
    inv.push(pass(
        "secrets-stay-put",
        violations.is_empty(),
        if violations.is_empty() {
            format!(
                "{hazardous_canaries} hazardous and {restricted_canaries} restricted canaries: none found in {scanned_files} files ({:.1} MiB of databases, WAL files and logs){}; withheld fields stored and served only by authors and granted requesters",
                scanned_bytes as f64 / 1048576.0,
                if data.log_files.is_empty() { " — node logs went to the embedding program's subscriber and were not scanned" } else { "" }
            )
        } else {
            violations.into_iter().take(5).collect::<Vec<_>>().join("; ")
        },
    ));

    // Equivocation proofs.
    for a in data.activities.iter().filter(|a| a.kind == "equivocator") {
        let org = a.org.clone().unwrap_or_default();
        let Some((author, seq)) = a.fork else {
            inv.push(pass(
                "equivocation-proven",
                false,
                format!("{org}: no fork was made"),
            ));
            continue;
        };
        let shown_both = a.get("fork_a_served") > 0 && a.get("fork_b_served") > 0;
        let missing: Vec<&str> = (0..n)
            .filter(|&i| {
                !dbs[i].proofs.contains(&(author, seq))
                    || !data
                        .statuses
                        .get(i)
                        .is_some_and(|s| s.equivocations.contains(&(org.clone(), seq)))
            })
            .map(|i| orgs[i])
            .collect();
        inv.push(pass(
            "equivocation-proven",
            shown_both && missing.is_empty(),
            if !shown_both {
                format!("{org} did not get both versions of seq {seq} taken (A {}, B {})", a.get("fork_a_served"), a.get("fork_b_served"))
            } else if missing.is_empty() {
                format!("{org} showed two entries at seq {seq} to two halves; all {n} honest nodes hold a verifying proof")
            } else {
                format!("no proof of {org} seq {seq} at: {}", missing.join(", "))
            },
        ));
    }

    let sum = |f: &dyn Fn(&crate::run::MetricsSnapshot) -> u64| -> u64 { data.metrics.iter().map(f).sum() };
    // Forgers and intruders.
    for a in data.activities.iter().filter(|a| a.kind == "forger") {
        let org = a.org.clone().unwrap_or_default();
        let stored: usize = a
            .forged_ids
            .iter()
            .filter(|id| dbs.iter().any(|d| d.entries.contains_key(id)))
            .count();
        let author = crate::content::org_key(&org);
        let by_forger: usize = dbs
            .iter()
            .map(|d| d.entries.values().filter(|e| e.meta.author == author).count())
            .sum();
        let rejected = sum(&|m| {
            m.rejected.get("bad_signature").copied().unwrap_or(0)
                + m.rejected.get("unknown_author").copied().unwrap_or(0)
                + m.rejected.get("bad_sync_entry").copied().unwrap_or(0)
        });
        let penalties = sum(&|m| m.penalties);
        inv.push(pass(
            "forgeries-rejected",
            stored == 0 && by_forger == 0 && rejected > 0 && penalties > 0,
            format!(
                "{org}: sent {} forged gossip messages and {} forged sync responses; {rejected} rejections (bad_signature/unknown_author/bad_sync_entry) and {penalties} penalties across nodes; forged entries stored: {stored}",
                a.get("forged_gossip_sent"),
                a.get("forged_sync_responses")
            ),
        ));
    }
    for a in data.activities.iter().filter(|a| a.kind == "intruder") {
        let listed = data
            .statuses
            .iter()
            .any(|s| s.peers.iter().any(|p| p.peer_id == a.peer_id && p.connected));
        let stored = a
            .forged_ids
            .iter()
            .any(|id| dbs.iter().any(|d| d.entries.contains_key(id)));
        inv.push(pass(
            "intruder-refused",
            a.get("sync_responses") == 0 && !listed && !stored && a.get("dials") > 0,
            format!(
                "{} dials, {} connections seen by the intruder before refusal, {} sync responses received, listed as a peer: {listed}, its entry stored: {stored}",
                a.get("dials"),
                a.get("connections_established_own_view"),
                a.get("sync_responses")
            ),
        ));
    }
    for a in data.activities.iter().filter(|a| a.kind == "replayer") {
        let replayed = a.get("replayed_by_gossip") + a.get("replayed_by_sync") + a.get("replay_not_sent");
        inv.push(pass(
            "replay-harmless",
            a.get("collected") > 0 && replayed > 0 && differ.is_empty(),
            format!(
                "{} valid entries fetched and re-sent ({} by gossip, {} refused locally as duplicates, {} by sync); every node still holds each entry exactly once and the same set",
                a.get("collected"),
                a.get("replayed_by_gossip"),
                a.get("replay_not_sent"),
                a.get("replayed_by_sync")
            ),
        ));
    }

    let figures = figures(data, &deliveries, expected, delivered_bytes);
    let latency_undisturbed = &figures.latency_undisturbed;
    for a in data.activities.iter().filter(|a| a.kind == "flooder") {
        let mut during: Vec<f64> = deliveries
            .iter()
            .filter(|d| d.during_flood && !d.disturbed)
            .map(|d| d.latency_ms)
            .collect();
        let lat = Latency::of(&mut during);
        let bound = data.scenario.expect.latency_p99_ms.unwrap_or(2000.0);
        let limited = sum(&|m| m.ignored.get("rate_limited").copied().unwrap_or(0));
        inv.push(pass(
            "flood-contained",
            lat.count > 0 && lat.p99_ms.is_some_and(|p| p <= bound) && limited > 0,
            format!(
                "{} sent {} entries ({} per minute, 10× is {}); nodes ignored {limited} as rate-limited; honest deliveries during the flood: {} with p99 {:.0} ms (bound {bound:.0} ms)",
                a.org.clone().unwrap_or_default(),
                a.get("flood_sent"),
                a.get("target_per_minute"),
                data.scenario.network.rate_limit_per_minute * 10,
                lat.count,
                lat.p99_ms.unwrap_or(f64::NAN)
            ),
        ));
    }
    if let Some(bound) = data.scenario.expect.latency_p99_ms {
        inv.push(pass(
            "latency-bound",
            latency_undisturbed.p99_ms.is_none_or(|p| p <= bound),
            format!(
                "p99 of {} undisturbed deliveries = {:.0} ms (bound {bound:.0} ms)",
                latency_undisturbed.count,
                latency_undisturbed.p99_ms.unwrap_or(f64::NAN)
            ),
        ));
    }
    for r in data.releases.iter().filter(|r| r.kind != RETRACTION_RACE) {
        let name = if r.kind == "granted-release" {
            "hazardous-release"
        } else {
            "unauthorized-refused"
        };
        inv.push(pass(
            name,
            r.passed,
            match (&r.error, r.kind.as_str()) {
                (Some(e), _) => format!("#{} {} → {}: {e} (audit: {})", r.publication, r.author, r.requester, r.audit_status),
                (None, "granted-release") => format!(
                    "{} asked for #{} by {}, the author granted, the fields {:?} arrived verified after {:.2} s with the canary; receipt on the audit trail",
                    r.requester,
                    r.publication,
                    r.author,
                    r.fields_received,
                    r.released_after_s.unwrap_or(f64::NAN)
                ),
                (None, _) => format!(
                    "{} asked for #{} by {}; even with the author's grant the policy says `{}` and nothing was released",
                    r.requester, r.publication, r.author, r.audit_status
                ),
            },
        ));
    }
    inv.extend(hostile_invariants(data, &dbs, latency_undisturbed));
    for (i, msg) in data.failed.iter().filter(|(i, _)| *i == usize::MAX) {
        inv.push(pass("adversary-ran", false, format!("{i}: {msg}")));
    }

    Checked {
        invariants: inv,
        figures,
        deliveries,
        delivered_to,
    }
}

/// The `delivery` invariant: `delivered` of `expected` `what`, against the
/// scenario's `expect.delivery_ratio`.
pub(crate) fn delivery(data: &RunData, delivered: usize, expected: usize, what: &str) -> Invariant {
    let ratio = if expected == 0 {
        1.0
    } else {
        delivered as f64 / expected as f64
    };
    pass(
        "delivery",
        ratio >= data.scenario.expect.delivery_ratio,
        format!(
            "{delivered} of {expected} {what} = {:.2}% (expected ≥ {:.0}%)",
            ratio * 100.0,
            data.scenario.expect.delivery_ratio * 100.0
        ),
    )
}

/// The figures of a run: `deliveries` are the honest (entry, node) pairs
/// delivered, of `expected`, carrying `delivered_bytes` of entries.
pub(crate) fn figures(
    data: &RunData,
    deliveries: &[Delivery],
    expected: usize,
    delivered_bytes: u64,
) -> Figures {
    let n = data.plan.nodes.len();
    let sum = |f: &dyn Fn(&crate::run::MetricsSnapshot) -> u64| -> u64 { data.metrics.iter().map(f).sum() };
    let ratio = if expected == 0 {
        1.0
    } else {
        deliveries.len() as f64 / expected as f64
    };
    let mut all: Vec<f64> = deliveries.iter().map(|d| d.latency_ms).collect();
    let mut undisturbed: Vec<f64> = deliveries
        .iter()
        .filter(|d| !d.disturbed)
        .map(|d| d.latency_ms)
        .collect();
    let mut by_tier = BTreeMap::new();
    for tier in Tier::ALL {
        let mut v: Vec<f64> = deliveries
            .iter()
            .filter(|d| d.tier == tier.name())
            .map(|d| d.latency_ms)
            .collect();
        if !v.is_empty() {
            by_tier.insert(tier.name().to_string(), Latency::of(&mut v));
        }
    }
    let latency_undisturbed = Latency::of(&mut undisturbed);
    let b_gossip_in = sum(&|m| m.gossip_bytes_in);
    let b_sync_in = sum(&|m| m.sync_bytes_in);
    let delivered = deliveries.len();
    let per = |x: u64| {
        if delivered == 0 {
            None
        } else {
            Some(x as f64 / delivered as f64)
        }
    };
    let mean_entry = if delivered == 0 {
        None
    } else {
        Some(delivered_bytes as f64 / delivered as f64)
    };
    let bytes = Bytes {
        gossip_in: b_gossip_in,
        gossip_out: sum(&|m| m.gossip_bytes_out),
        sync_in: b_sync_in,
        sync_out: sum(&|m| m.sync_bytes_out),
        wire: data.wire_bytes,
        app_per_delivery: per(b_gossip_in + b_sync_in),
        wire_per_delivery: if data.wire_bytes == 0 {
            None
        } else {
            per(data.wire_bytes)
        },
        mean_entry_bytes: mean_entry,
    };
    let mut published_by_tier = BTreeMap::new();
    for p in &data.published {
        *published_by_tier.entry(p.tier.name().to_string()).or_default() += 1;
    }
    let vm_hwm = measure::peak_rss_mib();
    Figures {
        nodes: n,
        published: data.published.len(),
        publish_failures: data.failed.len(),
        published_by_tier,
        expected_deliveries: expected,
        deliveries: delivered,
        delivery_ratio: ratio,
        latency_all: Latency::of(&mut all),
        latency_undisturbed,
        latency_by_tier: by_tier,
        copies_per_delivery_gossip: if delivered_bytes == 0 { None } else { Some(b_gossip_in as f64 / delivered_bytes as f64) },
        copies_per_delivery_wire: if delivered_bytes == 0 || data.wire_bytes == 0 {
            None
        } else {
            Some(data.wire_bytes as f64 / delivered_bytes as f64)
        },
        duplicates_note: "gossipsub does not expose duplicate counts; these are estimates. `gossip` = gossip payload bytes the nodes' applications received / bytes of entries delivered — gossipsub drops duplicates (same message id) before the application sees them, so this stays near 1 and mostly shows sync-vs-gossip split. `wire` = every TCP byte through the link proxies / bytes of entries delivered — it includes Noise, Yamux, IHAVE/IWANT, heartbeats and sync, so it bounds the true duplicate factor from above. Adversaries' traffic (floods, replays, forgeries) counts in the bytes but not in the deliveries.".into(),
        bytes,
        catch_up: data.catch_ups.clone(),
        converged_after_s: data.converged_after_s,
        cpu_s: data.cpu_s,
        cpu_phase_s: data.cpu_phase_s,
        writer_cpu_phase_s: data.writer_cpu_phase_s,
        cpu_cores: data.cpu_s.map(|c| c / data.wall_s.max(1e-9)),
        wall_s: data.wall_s,
        phase_s: data.phase_s,
        startup_s: data.startup_s,
        peak_rss_mib: data.peak_rss_mib,
        vm_hwm_mib: vm_hwm,
        base_rss_mib: data.base_rss_mib,
        rss_per_node_mib: match (data.peak_rss_mib, data.base_rss_mib) {
            (Some(p), Some(b)) if n > 0 => Some((p - b).max(0.0) / n as f64),
            _ => None,
        },
        link_cuts: data.link_cuts,
        baseline: data.baseline.clone(),
    }
}

/// Whether the scenario plays any of the hostile scenario's adversaries.
fn is_hostile(data: &RunData) -> bool {
    use crate::scenario::Adversary;
    data.scenario.adversaries.iter().any(|a| {
        matches!(
            a,
            Adversary::HeadLiar { .. }
                | Adversary::AgeBomb { .. }
                | Adversary::OutOfOrderFlood { .. }
                | Adversary::JunkRoster { .. }
        )
    })
}

/// The peer id of each org's own node (`testnet::node_key`) → the org.
pub(crate) fn peer_orgs(orgs: &[&str]) -> HashMap<String, String> {
    orgs.iter()
        .map(|o| {
            let peer = riskmesh_node::testnet::node_key(o).public().to_peer_id();
            (peer.to_string(), o.to_string())
        })
        .collect()
}

/// Peer ids named by "peer banned" lines of the node logs.
pub(crate) fn banned_peers(logs: &[std::path::PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    for log in logs {
        let Ok(text) = std::fs::read_to_string(log) else {
            continue;
        };
        for line in text.lines().filter(|l| l.contains("peer banned")) {
            if let Some(peer) = line.split_whitespace().find_map(|w| w.strip_prefix("peer=")) {
                out.push(peer.trim_matches('"').to_string());
            }
        }
    }
    out
}

/// The invariants a hostile member and a careless operator must not break:
/// honest convergence, bounded memory, no release after a retraction,
/// honest latency near an undisturbed run's, and no honest peer banned.
/// Each is evaluated when the scenario gives it something to measure.
fn hostile_invariants(data: &RunData, dbs: &[NodeDb], latency: &Latency) -> Vec<Invariant> {
    let mut inv = Vec::new();
    let n = dbs.len();
    let orgs: Vec<&str> = data.plan.nodes.iter().map(|p| p.org.as_str()).collect();
    let hostile = is_hostile(data);

    if hostile {
        let honest: BTreeSet<OrgKey> = orgs.iter().map(|o| crate::content::org_key(o)).collect();
        let by_honest = |d: &NodeDb| -> BTreeSet<EntryId> {
            d.entries
                .values()
                .filter(|e| honest.contains(&e.meta.author))
                .map(|e| e.meta.id)
                .collect()
        };
        let sets: Vec<BTreeSet<EntryId>> = dbs.iter().map(by_honest).collect();
        let union: BTreeSet<EntryId> = sets.iter().flatten().copied().collect();
        let published: BTreeSet<EntryId> = data.published.iter().map(|p| p.id).collect();
        let lost = published.difference(&union).count();
        let behind: Vec<String> = sets
            .iter()
            .enumerate()
            .filter(|(_, s)| s.len() != union.len())
            .map(|(i, s)| format!("{} lacks {}", orgs[i], union.len() - s.len()))
            .collect();
        inv.push(pass(
            "honest-entries-converge",
            behind.is_empty() && lost == 0,
            if behind.is_empty() && lost == 0 {
                format!(
                    "all {n} honest nodes hold the same {} entries by honest authors, every one of the {} planned publications among them",
                    union.len(),
                    published.len()
                )
            } else {
                format!(
                    "{} entries by honest authors held somewhere; {}{}",
                    union.len(),
                    behind.join(", "),
                    if lost > 0 {
                        format!("; {lost} published entries held by no node")
                    } else {
                        String::new()
                    }
                )
            },
        ));
    }

    if let Some(bound) = data.scenario.expect.rss_per_node_mib {
        // Measured from the process's RSS before any node of this
        // invocation started (the baseline's, when one ran), so memory the
        // baseline left with the allocator is not taken as headroom.
        let base = data
            .baseline
            .as_ref()
            .and_then(|b| b.base_rss_mib)
            .or(data.base_rss_mib);
        let per_node = match (data.peak_rss_mib, base) {
            (Some(p), Some(b)) if n > 0 => Some((p - b).max(0.0) / n as f64),
            _ => None,
        };
        let baseline_note = data
            .baseline
            .as_ref()
            .and_then(|b| b.rss_per_node_mib)
            .map(|b| format!("; the honest workload alone: {b:.1} MiB per node"))
            .unwrap_or_default();
        inv.push(pass(
            "memory-bounded",
            per_node.is_some_and(|m| m <= bound),
            match per_node {
                Some(m) => format!(
                    "peak RSS {:.0} MiB − {:.0} MiB before the nodes started = {m:.1} MiB per honest node (bound {bound:.0} MiB){baseline_note}",
                    data.peak_rss_mib.unwrap_or(f64::NAN),
                    base.unwrap_or(f64::NAN)
                ),
                None => "resident memory could not be read (/proc/self/status)".into(),
            },
        ));
    }

    for r in data.releases.iter().filter(|r| r.kind == RETRACTION_RACE) {
        let target = r.race_finding.as_ref().map(|(t, _)| *t);
        let stored = target.is_some_and(|t| {
            dbs.get(r.requester_node)
                .is_some_and(|d| d.withheld_rows.contains_key(&t))
        });
        let served = data
            .released_views
            .iter()
            .any(|(p, node, _)| *p == r.publication && *node == r.requester_node);
        // A race that did not get as far as both approvals proves nothing:
        // its record carries the error and `passed` is false.
        inv.push(pass(
            "nothing-released-after-retraction",
            r.passed && r.race_finding.is_some() && !stored && !served,
            match &r.error {
                Some(e) => format!(
                    "{} asked for #{} by {}: {e} (author's audit: {}; requester stores withheld fields: {stored}; its API serves them: {served})",
                    r.requester, r.publication, r.author, r.audit_status
                ),
                None => format!(
                    "{} asked for #{} by {} (2 of 2 approvals needed); one approval was retracted before the other arrived; nothing released (author's audit: {}; requester stores withheld fields: {stored})",
                    r.requester, r.publication, r.author, r.audit_status
                ),
            },
        ));
    }

    if let Some(factor) = data.scenario.expect.latency_p99_vs_baseline {
        let base = data.baseline.as_ref().and_then(|b| b.p99_ms);
        let bound = base.map(|b| latency_bound(b, factor));
        inv.push(pass(
            "latency-within-baseline",
            match (latency.p99_ms, bound) {
                (Some(p), Some(b)) => p <= b,
                (None, _) => true,
                (Some(_), None) => false,
            },
            format!(
                "honest p99 {:.0} ms over {} undisturbed deliveries; the same workload without adversaries earlier in this process: p99 {:.0} ms over {} (bound {factor}×, at least +{LATENCY_SLACK_MS} ms: {:.0} ms)",
                latency.p99_ms.unwrap_or(f64::NAN),
                latency.count,
                base.unwrap_or(f64::NAN),
                data.baseline.as_ref().map_or(0, |b| b.deliveries),
                bound.unwrap_or(f64::NAN)
            ),
        ));
    }

    if hostile {
        let honest_peers = peer_orgs(&orgs);
        let bans = banned_peers(&data.log_files);
        let wrongly: BTreeSet<&str> = bans
            .iter()
            .filter_map(|p| honest_peers.get(p).map(String::as_str))
            .collect();
        let adversaries: BTreeSet<String> = data
            .activities
            .iter()
            .filter(|a| bans.contains(&a.peer_id))
            .map(|a| a.kind.clone())
            .collect();
        inv.push(pass(
            "no-honest-peer-banned",
            !data.log_files.is_empty() && wrongly.is_empty(),
            if data.log_files.is_empty() {
                "the node logs went to the embedding program's subscriber; bans cannot be read".into()
            } else if wrongly.is_empty() {
                format!(
                    "{} bans logged by honest nodes, none of an honest node (banned: {})",
                    bans.len(),
                    if adversaries.is_empty() {
                        "no adversary".to_string()
                    } else {
                        adversaries.into_iter().collect::<Vec<_>>().join(", ")
                    }
                )
            } else {
                format!(
                    "honest nodes banned honest peers: {}",
                    wrongly.into_iter().collect::<Vec<_>>().join(", ")
                )
            },
        ));
    }
    inv
}

/// Slack allowed on top of a baseline p99 however small it is: on a shared
/// 2-core machine a p99 of a few milliseconds moves by tens of them between
/// runs, so a bound of twice 6 ms measures the scheduler, not the
/// adversaries (`hostile` failed one run in three on that alone once the
/// writer stopped lingering and the baseline fell from 11 to 6 ms).
pub const LATENCY_SLACK_MS: f64 = 20.0;

/// The honest p99 bound for a baseline p99 of `base` ms: `factor` times
/// it, and never less than [`LATENCY_SLACK_MS`] above it.
pub fn latency_bound(base: f64, factor: f64) -> f64 {
    (base * factor).max(base + LATENCY_SLACK_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latency_bound_is_a_multiple_with_a_floor_of_slack() {
        // A baseline of a few ms: the slack decides.
        assert_eq!(latency_bound(6.0, 2.0), 26.0);
        // A large baseline: the multiple decides.
        assert_eq!(latency_bound(100.0, 2.0), 200.0);
    }
}
