//! The membership scenario's invariants, judged after the run from every
//! node's database (read-only, nodes stopped, re-verified against the
//! roster chain each stored), the nodes' counters and logs, and what the
//! steps did. "Honest nodes at the end" are every node but the one whose
//! organization left.

use super::Record;
use crate::check::{Checked, Delivery, NodeDb, banned_peers, delivery, figures, pass, peer_orgs, read_dbs};
use crate::run::RunData;
use riskmesh_protocol::{EntryId, OrgKey};
use std::collections::{BTreeSet, HashMap};

/// Checks a membership run and computes its figures.
pub fn check(data: &RunData, record: &Record) -> Checked {
    let n = data.plan.nodes.len();
    let orgs: Vec<&str> = data.plan.nodes.iter().map(|p| p.org.as_str()).collect();
    let finals: Vec<usize> = (0..n)
        .filter(|i| record.left.as_ref().is_none_or(|l| l.node != *i))
        .collect();
    let mut inv = vec![updates_applied(record), publications(data, record)];
    inv.push(pass(
        "converged",
        data.converged_after_s.is_some(),
        match data.converged_after_s {
            Some(s) => format!(
                "the {} honest nodes agreed on the roster, every head and the entry count {s:.1} s after the phase started",
                finals.len()
            ),
            None => format!(
                "not within settle_s = {} s; entries per node: {}",
                data.scenario.workload.settle_s,
                data.statuses
                    .iter()
                    .map(|s| format!("{}={} (roster v{})", s.org, s.entries, s.roster_version))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    ));
    let Some(dbs) = read_dbs(data, &mut inv) else {
        return Checked::only(inv);
    };
    let view = View {
        data,
        record,
        dbs: &dbs,
        finals: &finals,
        orgs: &orgs,
    };
    inv.push(view.same_roster());
    inv.push(view.chains_verify());
    inv.push(view.same_entries());
    inv.push(view.no_honest_peer_struck());
    inv.extend(view.left_invariants());
    inv.extend(view.rotation_invariants());
    inv.extend(view.joined_invariant());
    let (deliveries, expected, delivered_bytes, delivered_to) = view.deliveries();
    inv.push(delivery(
        data,
        deliveries.len(),
        expected,
        "(entry, honest node) deliveries of entries that stay valid",
    ));
    Checked {
        invariants: inv,
        figures: figures(data, &deliveries, expected, delivered_bytes),
        deliveries,
        delivered_to,
    }
}

fn updates_applied(record: &Record) -> crate::check::Invariant {
    let changes: Vec<String> = record
        .changes
        .iter()
        .map(|c| match c.applied_s {
            Some(a) => format!(
                "v{} {} {} (valid to seq {}) in force everywhere {:.2} s after the offer",
                c.version,
                c.step,
                c.org,
                c.last_seq,
                a - c.offered_s
            ),
            None => format!(
                "v{} {} {}: NOT in force everywhere within 20 s",
                c.version, c.step, c.org
            ),
        })
        .collect();
    let ok = record.step_errors.is_empty() && record.changes.iter().all(|c| c.applied_s.is_some());
    let mut detail = changes.join("; ");
    if !record.step_errors.is_empty() {
        detail = format!("{detail}; steps that failed: {}", record.step_errors.join("; "));
    }
    pass("updates-applied", ok, detail)
}

fn publications(data: &RunData, record: &Record) -> crate::check::Invariant {
    let skipped: Vec<String> = record
        .skipped
        .iter()
        .map(|(why, k)| format!("{k} because {why}"))
        .collect();
    let departed = record.left.as_ref().map_or(0, |l| l.departed.len());
    crate::check::publications(
        data,
        format!(
            "{} planned publications made by running nodes, {departed} signed with the removed member's key after its removal; not made: {}",
            data.published.len(),
            if skipped.is_empty() {
                "none".into()
            } else {
                skipped.join(", ")
            }
        ),
    )
}

/// What the checks read.
struct View<'a> {
    data: &'a RunData,
    record: &'a Record,
    dbs: &'a [NodeDb],
    finals: &'a [usize],
    orgs: &'a [&'a str],
}

/// Where one key's log stands against its valid prefix on the honest nodes.
struct PrefixCheck {
    /// `node: what is wrong` for nodes missing part of the prefix.
    missing: Vec<String>,
    /// `node: what is wrong` for nodes holding entries past it.
    extra: Vec<String>,
}

impl View<'_> {
    fn by_key<'b>(&'b self, i: usize, key: &'b OrgKey) -> impl Iterator<Item = (u64, EntryId)> + 'b {
        self.dbs[i]
            .entries
            .values()
            .filter(move |e| e.meta.author == *key)
            .map(|e| (e.meta.seq, e.meta.id))
    }

    /// Whether every honest node holds exactly seqs 1..=`last.0` of `key`
    /// (the last one being `last.1`) and nothing past them.
    fn prefix(&self, key: &OrgKey, last: (u64, Option<EntryId>)) -> PrefixCheck {
        let mut out = PrefixCheck {
            missing: Vec::new(),
            extra: Vec::new(),
        };
        for &i in self.finals {
            let held: Vec<(u64, EntryId)> = self.by_key(i, key).collect();
            let within = held.iter().filter(|(s, _)| *s <= last.0).count() as u64;
            let past = held.iter().filter(|(s, _)| *s > last.0).count();
            let boundary_ok = last.0 == 0 || held.iter().any(|(s, id)| *s == last.0 && Some(*id) == last.1);
            if within != last.0 || !boundary_ok {
                out.missing.push(format!(
                    "{} holds {within} of {} (boundary entry held: {boundary_ok})",
                    self.orgs[i], last.0
                ));
            }
            if past > 0 {
                out.extra
                    .push(format!("{} holds {past} past seq {}", self.orgs[i], last.0));
            }
        }
        out
    }

    fn same_roster(&self) -> crate::check::Invariant {
        let want = (self.record.roster.version(), self.record.roster.hash().to_hex());
        let mut wrong = Vec::new();
        for &i in self.finals {
            let org = self.orgs[i];
            let status = self.data.statuses.iter().find(|s| s.org == org);
            let live = status.map(|s| (s.roster_version, s.roster_hash.clone()));
            if live.as_ref() != Some(&want) || self.dbs[i].roster_version != want.0 {
                wrong.push(format!(
                    "{org}: in force v{}, stored chain reaches v{}",
                    live.map_or(0, |l| l.0),
                    self.dbs[i].roster_version
                ));
            }
        }
        pass(
            "same-roster",
            wrong.is_empty(),
            if wrong.is_empty() {
                format!(
                    "all {} honest nodes end on roster version {} ({}…), and each stores the chain up to it",
                    self.finals.len(),
                    want.0,
                    &want.1[..16]
                )
            } else {
                format!("expected version {}: {}", want.0, wrong.join("; "))
            },
        )
    }

    fn chains_verify(&self) -> crate::check::Invariant {
        let problems: Vec<String> = self
            .dbs
            .iter()
            .flat_map(|d| d.chain_problems.iter().cloned())
            .collect();
        let total: usize = self.dbs.iter().map(|d| d.entries.len()).sum();
        pass(
            "chains-verify",
            problems.is_empty(),
            if problems.is_empty() {
                format!(
                    "{total} stored entries across all {} databases (the removed member's included) re-verified against each one's roster chain, every entry judged by the newest version; every chain contiguous from 1 and linked",
                    self.dbs.len()
                )
            } else {
                problems.into_iter().take(5).collect::<Vec<_>>().join("; ")
            },
        )
    }

    fn set(&self, i: usize) -> BTreeSet<EntryId> {
        self.dbs[i].entries.keys().copied().collect()
    }

    fn same_entries(&self) -> crate::check::Invariant {
        let Some(&first) = self.finals.first() else {
            return pass("same-entries", false, "no honest node at the end");
        };
        let reference = self.set(first);
        let differ: Vec<String> = self.finals[1..]
            .iter()
            .filter_map(|&i| {
                let set = self.set(i);
                (set != reference).then(|| {
                    format!(
                        "{} holds {} (missing {}, extra {}) vs {} at {}",
                        self.orgs[i],
                        set.len(),
                        reference.difference(&set).count(),
                        set.difference(&reference).count(),
                        reference.len(),
                        self.orgs[first]
                    )
                })
            })
            .collect();
        pass(
            "same-entries",
            differ.is_empty(),
            if differ.is_empty() {
                format!(
                    "all {} honest nodes hold the same {} entries",
                    self.finals.len(),
                    reference.len()
                )
            } else {
                differ.join("; ")
            },
        )
    }

    fn no_honest_peer_struck(&self) -> crate::check::Invariant {
        let struck: Vec<String> = self
            .data
            .metrics
            .iter()
            .enumerate()
            .filter(|(_, m)| m.penalties > 0)
            .map(|(i, m)| format!("{} struck peers {} times", self.orgs[i], m.penalties))
            .collect();
        let mut honest = peer_orgs(self.orgs);
        for a in &self.data.activities {
            honest.insert(
                a.peer_id.clone(),
                format!("{} (the stale relay)", a.org.clone().unwrap_or_default()),
            );
        }
        let bans = banned_peers(&self.data.log_files);
        let banned: BTreeSet<&str> = bans
            .iter()
            .filter_map(|p| honest.get(p).map(String::as_str))
            .collect();
        let ignored: u64 = self
            .data
            .metrics
            .iter()
            .map(|m| {
                m.ignored.get("retired_key").copied().unwrap_or(0)
                    + m.ignored.get("roster_mismatch").copied().unwrap_or(0)
            })
            .sum();
        let logs = !self.data.log_files.is_empty();
        pass(
            "no-honest-peer-struck",
            logs && struck.is_empty() && banned.is_empty(),
            if !logs {
                "the node logs went to the embedding program's subscriber; bans cannot be read".into()
            } else if struck.is_empty() && banned.is_empty() {
                format!(
                    "no node struck or banned anyone (penalties 0 on all {} nodes, no \"peer banned\" line); {ignored} entries refused as valid only under an older roster (retired_key, roster_mismatch) cost their relays nothing",
                    self.orgs.len()
                )
            } else {
                format!(
                    "{}{}",
                    struck.join("; "),
                    if banned.is_empty() {
                        String::new()
                    } else {
                        format!("; banned: {}", banned.into_iter().collect::<Vec<_>>().join(", "))
                    }
                )
            },
        )
    }

    fn relay_count(&self, what: &str) -> u64 {
        self.data.activities.iter().map(|a| a.get(what)).sum()
    }

    fn ignored(&self, reason: &str) -> Vec<String> {
        self.finals
            .iter()
            .map(|&i| {
                let k = self.data.metrics[i].ignored.get(reason).copied().unwrap_or(0);
                format!("{} {k}", self.orgs[i])
            })
            .collect()
    }

    fn left_invariants(&self) -> Vec<crate::check::Invariant> {
        let Some(l) = &self.record.left else {
            return Vec::new();
        };
        let check = self.prefix(&l.key, l.last);
        let sent = self.relay_count("departed_sent");
        let held_departed: usize = l
            .departed
            .iter()
            .filter(|(_, id)| self.finals.iter().any(|&i| self.dbs[i].entries.contains_key(id)))
            .count();
        vec![
            pass(
                "removed-history-kept",
                check.missing.is_empty() && l.last.0 > 0,
                if l.last.0 == 0 {
                    format!("{} had published nothing before it left: nothing to keep", l.org)
                } else if check.missing.is_empty() {
                    format!(
                        "every honest node holds {}'s {} entries from before its removal (its key retired `removed` at seq {})",
                        l.org, l.last.0, l.last.0
                    )
                } else {
                    check.missing.join("; ")
                },
            ),
            pass(
                "removed-entries-refused",
                check.extra.is_empty() && held_departed == 0 && sent > 0,
                if check.extra.is_empty() && held_departed == 0 {
                    format!(
                        "{}'s key signed {} entries after its removal, {sent} gossiped by the stale relay: no honest node holds any entry of that key past seq {}; retired_key refusals per node (with the forgeries, if any): {}",
                        l.org,
                        l.departed.len(),
                        l.last.0,
                        self.ignored("retired_key").join(", ")
                    )
                } else {
                    format!(
                        "{}; {held_departed} of its post-removal entries held somewhere",
                        check.extra.join("; ")
                    )
                },
            ),
        ]
    }

    fn rotation_invariants(&self) -> Vec<crate::check::Invariant> {
        let Some(r) = &self.record.rotated else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let new_ids: Vec<EntryId> = self
            .record
            .positions
            .iter()
            .filter(|(_, (author, _))| *author == r.new)
            .map(|(id, _)| *id)
            .collect();
        let lacking: Vec<String> = self
            .finals
            .iter()
            .filter_map(|&i| {
                let held = new_ids
                    .iter()
                    .filter(|id| self.dbs[i].entries.contains_key(id))
                    .count();
                (held != new_ids.len()).then(|| format!("{} holds {held} of {}", self.orgs[i], new_ids.len()))
            })
            .collect();
        out.push(pass(
            "rotated-key-continues",
            !new_ids.is_empty() && lacking.is_empty(),
            if new_ids.is_empty() {
                format!("{} published nothing under its new key", r.org)
            } else if lacking.is_empty() {
                format!(
                    "{}'s node was down {:.1} s for the rotation, then published {} entries under its new key; every honest node holds them",
                    r.org,
                    r.down.1 - r.down.0,
                    new_ids.len()
                )
            } else {
                lacking.join("; ")
            },
        ));
        let retired = self.record.roster.retired(&r.old);
        let last = retired.map_or((0, None), |k| (k.last_seq, k.last_id));
        let check = self.prefix(&r.old, last);
        let Some(c) = &self.record.compromised else {
            let mut problems = check.missing;
            problems.extend(check.extra);
            out.push(pass(
                "rotated-history-kept",
                problems.is_empty(),
                if problems.is_empty() {
                    format!(
                        "every honest node holds {}'s {} entries under its old key and none past them",
                        r.org, last.0
                    )
                } else {
                    problems.join("; ")
                },
            ));
            return out;
        };
        let cut = self
            .record
            .positions
            .values()
            .filter(|(author, seq)| *author == r.old && *seq > c.last_seq.1)
            .count();
        let mut problems = check.missing;
        problems.extend(check.extra);
        out.push(pass(
            "compromised-prefix-cut",
            problems.is_empty() && c.last_seq.1 < c.last_seq.0,
            if problems.is_empty() {
                format!(
                    "{}'s old key, valid to seq {} once rotated, declared compromised from seq {}: every honest node holds its first {} entries and none after ({cut} published entries past the point dropped everywhere)",
                    c.org,
                    c.last_seq.0,
                    c.last_seq.1 + 1,
                    c.last_seq.1
                )
            } else {
                problems.join("; ")
            },
        ));
        let sent = self.relay_count("forged_sent");
        let held: usize = c
            .forged
            .iter()
            .filter(|(_, id)| self.finals.iter().any(|&i| self.dbs[i].entries.contains_key(id)))
            .count();
        out.push(pass(
            "forgeries-refused",
            held == 0 && sent > 0,
            format!(
                "{} entries forged with {}'s compromised key from seq {}, {sent} gossiped by the stale relay; held by {held} honest nodes; retired_key refusals per node (the removed member's entries and the forgeries together): {}",
                c.forged.len(),
                c.org,
                c.last_seq.1 + 1,
                self.ignored("retired_key").join(", ")
            ),
        ));
        out
    }

    fn joined_invariant(&self) -> Option<crate::check::Invariant> {
        let j = self.record.joined.as_ref()?;
        let others: Vec<usize> = self.finals.iter().copied().filter(|&i| i != j.node).collect();
        let reference = others.first().map(|&i| self.set(i)).unwrap_or_default();
        let own = self.set(j.node);
        let catch_up = self.data.catch_ups.iter().find(|c| c.org == j.org);
        let seconds = catch_up.and_then(|c| c.seconds);
        let history = |key: Option<&OrgKey>| key.map_or(0, |k| self.by_key(j.node, k).count());
        let left = history(self.record.left.as_ref().map(|l| &l.key));
        let old = history(self.record.rotated.as_ref().map(|r| &r.old));
        Some(pass(
            "late-joiner-caught-up",
            own == reference && seconds.is_some(),
            format!(
                "{}'s node started {:.1} s into the phase on the genesis roster; it held what the others held then {} later; at the end it holds {} entries ({} at the others), among them {left} by the removed member and {old} under the rotated member's old key",
                j.org,
                j.at_s,
                seconds.map_or("NOT".into(), |s| format!("{s:.2} s")),
                own.len(),
                reference.len()
            ),
        ))
    }

    /// Deliveries of every published entry that stays valid to every honest
    /// node at the end but its author's: the deliveries, how many were
    /// expected, their bytes, and how many each node received.
    fn deliveries(&self) -> (Vec<Delivery>, usize, u64, Vec<usize>) {
        let data = self.data;
        let rel_s = |ms: u64| (ms as f64 - data.t0_ms as f64) / 1000.0;
        let mut down: HashMap<usize, Vec<(f64, f64)>> = HashMap::new();
        if let Some(j) = &self.record.joined {
            down.entry(j.node).or_default().push((0.0, j.at_s));
        }
        if let Some(r) = &self.record.rotated {
            down.entry(r.node).or_default().push(r.down);
        }
        let disturbed = |node: usize, from: f64, to: f64| {
            down.get(&node)
                .is_some_and(|w| w.iter().any(|(a, b)| *a <= to && from <= *b))
        };
        let mut out = Vec::new();
        let mut expected = 0;
        let mut bytes = 0u64;
        let mut delivered_to = vec![0usize; data.plan.nodes.len()];
        for p in &data.published {
            let valid = self.record.positions.get(&p.id).is_some_and(|(author, seq)| {
                self.record
                    .roster
                    .retired(author)
                    .is_none_or(|r| r.covers(*seq, &p.id))
            });
            if !valid {
                continue;
            }
            for &i in self.finals.iter().filter(|&&i| i != p.node) {
                expected += 1;
                let Some(e) = self.dbs[i].entries.get(&p.id) else {
                    continue;
                };
                let (from, to) = (rel_s(p.timestamp_ms), rel_s(e.meta.received_ms));
                out.push(Delivery {
                    tier: p.tier.name(),
                    latency_ms: (e.meta.received_ms as f64 - p.timestamp_ms as f64).max(0.0),
                    received_s: to,
                    disturbed: disturbed(p.node, from, to) || disturbed(i, from, to),
                    during_flood: false,
                });
                bytes += p.wire_len as u64;
                delivered_to[i] += 1;
            }
        }
        (out, expected, bytes, delivered_to)
    }
}
