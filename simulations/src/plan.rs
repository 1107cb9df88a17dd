//! The plan: everything a scenario leaves to chance, decided up front from
//! the seed — who publishes what and when, which nodes crash when, how the
//! network splits, which peers each node is told about. Running the same
//! scenario with the same seed follows the same plan; only real-time effects
//! (scheduling, socket timing) differ between runs.

use crate::rng::SimRng;
use crate::scenario::{Fault, Scenario, Step};
use riskmesh_protocol::Tier;

/// An honest node of the plan.
#[derive(Debug, Clone)]
pub struct PlannedNode {
    /// Its organization.
    pub org: String,
    /// Whether it is an observer (publishes only public and consortium).
    pub observer: bool,
}

/// What a publication is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PubKind {
    /// A new bulletin.
    Bulletin,
    /// A correction of publication `of` (the author's own bulletin).
    Correction {
        /// Index of the corrected publication.
        of: usize,
    },
    /// A retraction of publication `of` (the author's own).
    Retraction {
        /// Index of the retracted publication.
        of: usize,
        /// Whether every node should drop its body.
        purge: bool,
    },
    /// An ack of publication `of` (another org's).
    Ack {
        /// Index of the acknowledged publication.
        of: usize,
    },
}

/// One planned publication.
#[derive(Debug, Clone)]
pub struct Publication {
    /// Index in [`Plan::publications`].
    pub index: usize,
    /// When, ms after the publishing phase starts.
    pub at_ms: u64,
    /// The author's honest node.
    pub node: usize,
    /// Tier.
    pub tier: Tier,
    /// Kind and target.
    pub kind: PubKind,
    /// Recipients of a restricted bulletin (honest node indices, the author
    /// included).
    pub recipients: Vec<usize>,
    /// Title.
    pub title: String,
    /// Whether it is the scripted hazardous step's finding.
    pub scripted_hazardous: bool,
}

/// A node down for a while.
#[derive(Debug, Clone, Copy)]
pub struct CrashWindow {
    /// The honest node.
    pub node: usize,
    /// Stop, ms after the phase starts.
    pub start_ms: u64,
    /// Restart.
    pub end_ms: u64,
}

/// A partition for a while.
#[derive(Debug, Clone)]
pub struct PartitionWindow {
    /// The groups (honest node indices).
    pub groups: Vec<Vec<usize>>,
    /// Start, ms after the phase starts.
    pub start_ms: u64,
    /// Heal.
    pub end_ms: u64,
}

/// Delay or loss on some links for a while.
#[derive(Debug, Clone)]
pub struct LinkWindow {
    /// Undirected pairs of honest nodes (both directions are affected).
    pub pairs: Vec<(usize, usize)>,
    /// Added delay, ms.
    pub delay_ms: u64,
    /// Random extra delay, ms.
    pub jitter_ms: u64,
    /// Chance per chunk of cutting the connection.
    pub cut_probability: f64,
    /// Start, ms after the phase starts.
    pub start_ms: u64,
    /// End.
    pub end_ms: u64,
}

/// The hazardous release step.
#[derive(Debug, Clone, Copy)]
pub struct HazardousStep {
    /// The finding's publication index.
    pub publication: usize,
    /// The requesting honest node.
    pub requester: usize,
    /// When the request is made, ms after the phase starts.
    pub request_at_ms: u64,
}

/// Everything decided from the seed.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The seed.
    pub seed: u64,
    /// Honest nodes, in node order.
    pub nodes: Vec<PlannedNode>,
    /// Roster members that run no honest node (adversaries' orgs).
    pub adversary_orgs: Vec<String>,
    /// Publications, by time.
    pub publications: Vec<Publication>,
    /// Crashes (from `crash` and `churn` faults), by start.
    pub crashes: Vec<CrashWindow>,
    /// Partitions.
    pub partitions: Vec<PartitionWindow>,
    /// Link delay and loss.
    pub links: Vec<LinkWindow>,
    /// For each node, the peers whose addresses it is given.
    pub topology: Vec<Vec<usize>>,
    /// Scripted hazardous steps.
    pub hazardous: Vec<HazardousStep>,
    /// Length of the publishing phase, ms.
    pub duration_ms: u64,
}

fn ms(s: f64) -> u64 {
    (s * 1000.0).round().max(0.0) as u64
}

/// A publication this close to a crash (before its start or after its
/// end) is not planned, so it neither races the shutdown nor the restart.
const CRASH_MARGIN_BEFORE_MS: u64 = 300;
const CRASH_MARGIN_AFTER_MS: u64 = 1500;

const TITLES: [&str; 12] = [
    "Multi-turn role-play bypasses refusal training",
    "Prompt injection through retrieved web pages",
    "Model weights exposed by a misconfigured bucket",
    "Agent acquires cloud credentials in evaluation",
    "Sycophancy under evaluator pressure",
    "Training-data extraction with repeated tokens",
    "Tool-use agent escalates file-system permissions",
    "Capability jump on an offensive-cyber benchmark",
    "Evaluation awareness changes refusal rates",
    "Bias in hiring-screen summarisation",
    "Jailbreak transfers across model families",
    "Unlearning fails under fine-tuning",
];

impl Plan {
    /// Decides everything for `scenario` with `seed`.
    pub fn new(scenario: &Scenario, seed: u64) -> Plan {
        let orgs = scenario.honest_orgs();
        let nodes: Vec<PlannedNode> = orgs
            .iter()
            .map(|org| PlannedNode {
                org: org.clone(),
                observer: scenario.is_observer(org),
            })
            .collect();
        let index = |name: &str| orgs.iter().position(|o| o == name).unwrap_or(0);
        let duration_ms = ms(scenario.workload.duration_s);

        let mut crashes = Vec::new();
        let mut partitions = Vec::new();
        let mut links = Vec::new();
        let mut fault_rng = SimRng::derive(seed, "faults");
        for fault in &scenario.faults {
            match fault {
                Fault::Crash { node, at_s, down_s } => crashes.push(CrashWindow {
                    node: index(node),
                    start_ms: ms(*at_s),
                    end_ms: ms(at_s + down_s),
                }),
                Fault::Churn {
                    nodes: candidates,
                    from_s,
                    until_s,
                    every_s,
                    down_s,
                } => {
                    let pool: Vec<usize> = if candidates.is_empty() {
                        (0..nodes.len()).collect()
                    } else {
                        candidates.iter().map(|n| index(n)).collect()
                    };
                    let mut t = *from_s;
                    while t <= *until_s {
                        let start = ms(t);
                        let end = ms(t + down_s);
                        let free: Vec<usize> = pool
                            .iter()
                            .copied()
                            .filter(|&n| {
                                !crashes.iter().any(|c: &CrashWindow| {
                                    c.node == n
                                        && c.start_ms < end + CRASH_MARGIN_AFTER_MS
                                        && start < c.end_ms + CRASH_MARGIN_AFTER_MS
                                })
                            })
                            .collect();
                        if !free.is_empty() {
                            let node = free[fault_rng.below(free.len())];
                            crashes.push(CrashWindow {
                                node,
                                start_ms: start,
                                end_ms: end,
                            });
                        }
                        t += every_s;
                    }
                }
                Fault::Partition { groups, at_s, for_s } => {
                    let groups: Vec<Vec<usize>> = if groups.is_empty() {
                        let mut all: Vec<usize> = (0..nodes.len()).collect();
                        fault_rng.shuffle(&mut all);
                        let half = all.len() / 2;
                        let mut a = all[..half].to_vec();
                        let mut b = all[half..].to_vec();
                        a.sort_unstable();
                        b.sort_unstable();
                        vec![a, b]
                    } else {
                        let mut gs: Vec<Vec<usize>> = groups
                            .iter()
                            .map(|g| g.iter().map(|n| index(n)).collect())
                            .collect();
                        for n in 0..nodes.len() {
                            if !gs.iter().any(|g| g.contains(&n)) {
                                gs[0].push(n);
                            }
                        }
                        gs
                    };
                    partitions.push(PartitionWindow {
                        groups,
                        start_ms: ms(*at_s),
                        end_ms: ms(at_s + for_s),
                    });
                }
                Fault::Link {
                    a,
                    b,
                    delay_ms,
                    jitter_ms,
                    cut_probability,
                    at_s,
                    for_s,
                } => {
                    let side = |r: &str| -> Vec<usize> {
                        if r == "*" {
                            (0..nodes.len()).collect()
                        } else {
                            vec![index(r)]
                        }
                    };
                    let mut pairs = Vec::new();
                    for &x in &side(a) {
                        for &y in &side(b) {
                            let pair = (x.min(y), x.max(y));
                            if x != y && !pairs.contains(&pair) {
                                pairs.push(pair);
                            }
                        }
                    }
                    let end = for_s.map_or(u64::MAX, |f| ms(at_s + f));
                    links.push(LinkWindow {
                        pairs,
                        delay_ms: *delay_ms,
                        jitter_ms: *jitter_ms,
                        cut_probability: *cut_probability,
                        start_ms: ms(*at_s),
                        end_ms: end,
                    });
                }
            }
        }
        crashes.sort_by_key(|c| c.start_ms);

        let down = |node: usize, at: u64| {
            crashes.iter().any(|c| {
                c.node == node
                    && at + CRASH_MARGIN_BEFORE_MS >= c.start_ms
                    && at <= c.end_ms + CRASH_MARGIN_AFTER_MS
            })
        };

        // Publication times and authors.
        let mut work_rng = SimRng::derive(seed, "workload");
        let w = &scenario.workload;
        let mut slots: Vec<(u64, usize)> = Vec::new();
        match w.total_entries {
            Some(total) => {
                for k in 0..total {
                    let at = (k as f64 + 0.5) * duration_ms as f64 / total.max(1) as f64;
                    let node = work_rng.below(nodes.len());
                    slots.push((at as u64, node));
                }
            }
            None => {
                let mean = w.interval_s();
                for node in 0..nodes.len() {
                    let mut t = work_rng.exponential(mean) * 1000.0;
                    while (t as u64) < duration_ms {
                        slots.push((t as u64, node));
                        t += work_rng.exponential(mean) * 1000.0;
                    }
                }
            }
        }
        let mut scripted: Vec<(u64, usize, String, Option<usize>)> = Vec::new();
        for step in &scenario.steps {
            match step {
                Step::Publish { node, at_s, title } => {
                    scripted.push((ms(*at_s), index(node), title.clone(), None));
                }
                Step::Hazardous {
                    author,
                    requester,
                    at_s,
                } => scripted.push((
                    ms(*at_s),
                    index(author),
                    "Hazardous finding (scripted release)".into(),
                    Some(index(requester)),
                )),
                // Played by the harness at run time (it publishes its own
                // finding with a two-approver policy).
                Step::RetractionRace { .. } => {}
            }
        }
        slots.sort_unstable();

        let mut publications: Vec<Publication> = Vec::new();
        let mut hazardous = Vec::new();
        let tier_weights = [
            w.tiers.public,
            w.tiers.consortium,
            w.tiers.restricted,
            w.tiers.hazardous,
        ];
        let observer_weights = [w.tiers.public, w.tiers.consortium, 0, 0];
        let kind_weights = [
            w.kinds.bulletin,
            w.kinds.correction,
            w.kinds.retraction,
            w.kinds.ack,
        ];
        let mut retracted: Vec<usize> = Vec::new();
        let mut scripted_iter = scripted.into_iter().peekable();
        let mut slot_iter = slots.into_iter().peekable();
        loop {
            // Merge scripted steps and random slots by time.
            let take_scripted = match (scripted_iter.peek(), slot_iter.peek()) {
                (Some(s), Some(r)) => s.0 <= r.0,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let index = publications.len();
            if take_scripted {
                let Some((at_ms, node, title, requester)) = scripted_iter.next() else {
                    break;
                };
                let tier = if requester.is_some() {
                    Tier::Hazardous
                } else {
                    Tier::Consortium
                };
                publications.push(Publication {
                    index,
                    at_ms,
                    node,
                    tier,
                    kind: PubKind::Bulletin,
                    recipients: Vec::new(),
                    title,
                    scripted_hazardous: requester.is_some(),
                });
                if let Some(requester) = requester {
                    hazardous.push(HazardousStep {
                        publication: index,
                        requester,
                        request_at_ms: at_ms + 2000,
                    });
                }
                continue;
            }
            let Some((at_ms, node)) = slot_iter.next() else {
                break;
            };
            // Draws happen whether or not the node is down, so a crash does
            // not shift the rest of the workload.
            let observer = nodes[node].observer;
            let tier = Tier::ALL[work_rng.weighted(if observer {
                &observer_weights
            } else {
                &tier_weights
            })];
            let tier = if observer && !matches!(tier, Tier::Public | Tier::Consortium) {
                Tier::Consortium
            } else {
                tier
            };
            let kind_pick = work_rng.weighted(&kind_weights);
            let title_pick = work_rng.below(TITLES.len());
            let purge = work_rng.chance(0.3);
            let target_draw = work_rng.unit();
            let recipients_draw = work_rng.next_u64();
            if down(node, at_ms) {
                continue;
            }
            let own: Vec<usize> = publications
                .iter()
                .filter(|p| p.node == node && p.kind == PubKind::Bulletin && !p.scripted_hazardous)
                .map(|p| p.index)
                .collect();
            let pick = |list: &[usize]| -> Option<usize> {
                if list.is_empty() {
                    None
                } else {
                    Some(list[((target_draw * list.len() as f64) as usize).min(list.len() - 1)])
                }
            };
            let kind = match kind_pick {
                1 => {
                    let correctable: Vec<usize> = own
                        .iter()
                        .copied()
                        .filter(|&i| matches!(publications[i].tier, Tier::Public | Tier::Consortium))
                        .filter(|i| !retracted.contains(i))
                        .collect();
                    pick(&correctable).map(|of| PubKind::Correction { of })
                }
                2 => {
                    let retractable: Vec<usize> =
                        own.iter().copied().filter(|i| !retracted.contains(i)).collect();
                    pick(&retractable).map(|of| {
                        retracted.push(of);
                        PubKind::Retraction { of, purge }
                    })
                }
                3 => {
                    let others: Vec<usize> = publications
                        .iter()
                        .filter(|p| p.node != node && p.kind == PubKind::Bulletin)
                        .map(|p| p.index)
                        .collect();
                    pick(&others).map(|of| PubKind::Ack { of })
                }
                _ => None,
            }
            .unwrap_or(PubKind::Bulletin);
            let tier = match kind {
                PubKind::Bulletin => tier,
                PubKind::Correction { of } => publications[of].tier,
                // Control entries are public or consortium.
                _ => Tier::Consortium,
            };
            let mut recipients = Vec::new();
            if tier == Tier::Restricted {
                let mut rr = SimRng::new(recipients_draw);
                let mut others: Vec<usize> = (0..nodes.len()).filter(|&n| n != node).collect();
                rr.shuffle(&mut others);
                let k = rr
                    .range_inclusive(w.recipients[0], w.recipients[1])
                    .min(others.len());
                recipients.push(node);
                recipients.extend(&others[..k]);
                recipients.sort_unstable();
            }
            let title = match kind {
                PubKind::Bulletin => format!("{} #{index}", TITLES[title_pick]),
                PubKind::Correction { of } => format!("Correction of #{of}"),
                PubKind::Retraction { of, .. } => format!("Retraction of #{of}"),
                PubKind::Ack { of } => format!("Ack of #{of}"),
            };
            publications.push(Publication {
                index,
                at_ms,
                node,
                tier,
                kind,
                recipients,
                title,
                scripted_hazardous: false,
            });
        }

        // Topology: a ring (so the graph is connected) plus random peers.
        let n = nodes.len();
        let mut topo_rng = SimRng::derive(seed, "topology");
        let topology = (0..n)
            .map(|i| match scenario.network.degree {
                Some(d) if d + 1 < n => {
                    let mut peers = vec![(i + 1) % n];
                    let mut others: Vec<usize> = (0..n).filter(|&j| j != i && j != (i + 1) % n).collect();
                    topo_rng.shuffle(&mut others);
                    peers.extend(others.into_iter().take(d.saturating_sub(1)));
                    peers.sort_unstable();
                    peers
                }
                _ => (0..n).filter(|&j| j != i).collect(),
            })
            .collect();

        let mut plan = Plan {
            seed,
            nodes,
            adversary_orgs: scenario.adversary_orgs(),
            publications,
            crashes,
            partitions,
            links,
            topology,
            hazardous,
            duration_ms,
        };
        // Requests from nodes that will be down are moved after the restart.
        for step in &mut plan.hazardous {
            while plan.crashes.iter().any(|c| {
                c.node == step.requester
                    && step.request_at_ms + CRASH_MARGIN_BEFORE_MS >= c.start_ms
                    && step.request_at_ms <= c.end_ms + CRASH_MARGIN_AFTER_MS
            }) {
                step.request_at_ms += 1000;
            }
        }
        plan
    }

    /// Whether honest node `node` is down (crashed) at `at_ms`.
    pub fn is_down(&self, node: usize, at_ms: u64) -> bool {
        self.crashes
            .iter()
            .any(|c| c.node == node && at_ms >= c.start_ms && at_ms < c.end_ms)
    }

    /// Whether a fault touched the delivery of an entry from `author` to
    /// `receiver` during `[from_ms, to_ms]`: either was down, a partition
    /// was in force, or the link between the two was delayed or lossy.
    pub fn disturbed(&self, author: usize, receiver: usize, from_ms: u64, to_ms: u64) -> bool {
        let overlaps = |s: u64, e: u64| s <= to_ms && from_ms <= e;
        let pair = (author.min(receiver), author.max(receiver));
        self.crashes.iter().any(|c| {
            (c.node == author || c.node == receiver) && overlaps(c.start_ms, c.end_ms + CRASH_MARGIN_AFTER_MS)
        }) || self.partitions.iter().any(|p| overlaps(p.start_ms, p.end_ms))
            || self
                .links
                .iter()
                .any(|l| l.pairs.contains(&pair) && overlaps(l.start_ms, l.end_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario;

    #[test]
    fn the_same_seed_gives_the_same_plan() {
        let s = scenario::load("default").expect("default").scenario;
        let a = Plan::new(&s, 11);
        let b = Plan::new(&s, 11);
        let c = Plan::new(&s, 12);
        let key = |p: &Plan| -> Vec<(u64, usize, String)> {
            p.publications
                .iter()
                .map(|x| (x.at_ms, x.node, x.title.clone()))
                .collect()
        };
        assert_eq!(key(&a), key(&b));
        assert_ne!(key(&a), key(&c));
        assert!(a.publications.len() > 20, "{}", a.publications.len());
        for p in &a.publications {
            assert!(!a.is_down(p.node, p.at_ms), "no publication from a down node");
            if a.nodes[p.node].observer {
                assert!(matches!(p.tier, Tier::Public | Tier::Consortium));
            }
            match p.kind {
                PubKind::Correction { of } | PubKind::Retraction { of, .. } => {
                    assert!(of < p.index);
                    assert_eq!(a.publications[of].node, p.node);
                }
                PubKind::Ack { of } => assert_ne!(a.publications[of].node, p.node),
                PubKind::Bulletin => {}
            }
        }
        let tiers: std::collections::BTreeSet<&str> = a.publications.iter().map(|p| p.tier.name()).collect();
        assert_eq!(tiers.len(), 4, "every tier appears: {tiers:?}");
    }
}
