//! The report of a run: `report.json` (machine-readable), `report.md`
//! (for people), `report.html` (the same as one page, plots inline, see
//! [`crate::report_html`]), the SVG plots, and the summary table printed at the end.

use crate::adversary::Activity;
use crate::check::{Checked, Figures, Invariant, Latency};
use crate::hazardous::ReleaseRecord;
use crate::run::{FaultRecord, MetricsSnapshot, RunData};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One honest node in the report.
#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    /// Organization.
    pub org: String,
    /// member or observer.
    pub role: &'static str,
    /// Entries held at the end.
    pub entries: u64,
    /// Honest entries delivered to it.
    pub delivered: usize,
    /// Equivocations it knows.
    pub equivocations: Vec<(String, u64)>,
    /// Its counters, summed over restarts.
    pub metrics: MetricsSnapshot,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Its description.
    pub description: String,
    /// Where it came from.
    pub source: String,
    /// The seed used.
    pub seed: u64,
    /// Whether every invariant held.
    pub passed: bool,
    /// The invariants.
    pub invariants: Vec<Invariant>,
    /// The figures.
    pub figures: Figures,
    /// Faults as they happened.
    pub faults: Vec<FaultRecord>,
    /// Adversary activity.
    pub adversaries: Vec<Activity>,
    /// Access requests and releases.
    pub releases: Vec<ReleaseRecord>,
    /// Per node.
    pub nodes: Vec<NodeReport>,
    /// Planned publications that failed.
    pub publish_failures: Vec<String>,
    /// Plot files, relative to the report directory.
    pub plots: Vec<String>,
    /// Whether this was a release (optimized) build.
    pub release_build: bool,
}

impl Report {
    /// Builds the report from a run and its checks.
    pub fn new(data: &RunData, checked: &Checked, source: &str) -> Report {
        let n = data.plan.nodes.len();
        let delivered = &checked.delivered_to;
        // By org: a node that left the roster reports no final status.
        let status = |i: usize| data.statuses.iter().find(|s| s.org == data.plan.nodes[i].org);
        let nodes = (0..n)
            .map(|i| NodeReport {
                org: data.plan.nodes[i].org.clone(),
                role: if data.plan.nodes[i].observer {
                    "observer"
                } else {
                    "member"
                },
                entries: status(i).map_or(0, |s| s.entries),
                delivered: delivered.get(i).copied().unwrap_or(0),
                equivocations: status(i).map(|s| s.equivocations.clone()).unwrap_or_default(),
                metrics: data.metrics[i].clone(),
            })
            .collect();
        Report {
            scenario: data.scenario.name.clone(),
            description: data.scenario.description.clone(),
            source: source.to_string(),
            seed: data.plan.seed,
            passed: checked.invariants.iter().all(|i| i.passed),
            invariants: checked.invariants.clone(),
            figures: checked.figures.clone(),
            faults: data.faults.clone(),
            adversaries: data.activities.clone(),
            releases: data.releases.clone(),
            nodes,
            publish_failures: data.failed.iter().map(|(i, e)| format!("#{i}: {e}")).collect(),
            plots: Vec::new(),
            release_build: !cfg!(debug_assertions),
        }
    }

    /// Writes report.json, report.md, report.html (the plots inline) and
    /// the plots into `dir`.
    pub fn write(&mut self, dir: &Path, data: &RunData, checked: &Checked) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let orgs: Vec<String> = data.plan.nodes.iter().map(|p| p.org.clone()).collect();
        let delivered: Vec<usize> = self.nodes.iter().map(|n| n.delivered).collect();
        let plots = crate::plots::write_run_plots(
            dir,
            &checked.deliveries,
            &data.faults,
            &checked.figures,
            &orgs,
            &data.metrics,
            &delivered,
        );
        self.plots = plots
            .iter()
            .filter_map(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
            .collect();
        let mut written = plots;
        let json = dir.join("report.json");
        std::fs::write(&json, self.to_json())?;
        written.push(json);
        let md = dir.join("report.md");
        let markdown = self.to_markdown();
        std::fs::write(&md, &markdown)?;
        written.push(md);
        // The same report as one page with the plots inline.
        let html = dir.join("report.html");
        let plot = |file: &str| {
            // Only the plots this run wrote, by file name: never a path.
            self.plots
                .iter()
                .any(|p| p == file)
                .then(|| std::fs::read_to_string(dir.join(file)).ok())
                .flatten()
        };
        let title = format!("Simulation report: {}", self.scenario);
        std::fs::write(&html, crate::report_html::to_html(&title, &markdown, &plot))?;
        written.push(html);
        for log in &data.log_files {
            let dest = dir.join("nodes.log");
            if std::fs::copy(log, &dest).is_ok() {
                written.push(dest);
            }
        }
        Ok(written)
    }

    /// The JSON text of report.json.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The summary printed at the end of a run.
    pub fn summary(&self) -> String {
        let f = &self.figures;
        let mut s = String::new();
        let verdict = if self.passed { "PASSED" } else { "FAILED" };
        let _ = writeln!(
            s,
            "riskmesh sim — {} (seed {}): {verdict}{}",
            self.scenario,
            self.seed,
            if self.release_build {
                ""
            } else {
                "  [debug build: figures are slower than release]"
            }
        );
        let tiers: Vec<String> = f
            .published_by_tier
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect();
        let rows: Vec<(&str, String)> = vec![
            ("nodes", format!("{}", f.nodes)),
            ("published", format!("{} ({})", f.published, tiers.join(", "))),
            (
                "delivery",
                format!(
                    "{:.2} % ({} of {} entry×node pairs)",
                    f.delivery_ratio * 100.0,
                    f.deliveries,
                    f.expected_deliveries
                ),
            ),
            ("latency, all", latency_line(&f.latency_all)),
            ("latency, undisturbed", latency_line(&f.latency_undisturbed)),
            (
                "bytes / delivered entry",
                format!(
                    "{} app (gossip+sync in){}; entries average {} B",
                    opt(f.bytes.app_per_delivery, 0),
                    f.bytes
                        .wire_per_delivery
                        .map_or(String::new(), |w| format!(", {w:.0} on the wire")),
                    opt(f.bytes.mean_entry_bytes, 0)
                ),
            ),
            (
                "copies / entry / node",
                format!(
                    "≈{} from gossip bytes{} (estimates, see report)",
                    opt(f.copies_per_delivery_gossip, 2),
                    f.copies_per_delivery_wire
                        .map_or(String::new(), |w| format!(", ≤{w:.1} from wire bytes"))
                ),
            ),
            (
                "catch-up after restart",
                if f.catch_up.is_empty() {
                    "no restarts".into()
                } else {
                    f.catch_up
                        .iter()
                        .map(|c| {
                            format!(
                                "{} {} ({} behind)",
                                c.org,
                                c.seconds
                                    .map_or("not caught up".to_string(), |s| format!("{s:.2} s")),
                                c.behind_at_restart
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            ),
            (
                "converged",
                f.converged_after_s
                    .map_or("NO".to_string(), |s| format!("{s:.1} s after the phase started")),
            ),
            (
                "time",
                format!(
                    "{:.1} s wall ({:.1} s startup, {:.1} s publishing)",
                    f.wall_s, f.startup_s, f.phase_s
                ),
            ),
            (
                "CPU",
                format!("{} s ({} cores on average)", opt(f.cpu_s, 1), opt(f.cpu_cores, 2)),
            ),
            (
                "memory",
                format!(
                    "peak RSS {} MiB (VmHWM {} MiB), ≈{} MiB per node",
                    opt(f.peak_rss_mib, 0),
                    opt(f.vm_hwm_mib, 0),
                    opt(f.rss_per_node_mib, 1)
                ),
            ),
        ];
        for (k, v) in rows {
            let _ = writeln!(s, "  {k:<24} {v}");
        }
        let _ = writeln!(s, "  invariants:");
        for i in &self.invariants {
            let _ = writeln!(
                s,
                "    {} {:<24} {}",
                if i.passed { "ok  " } else { "FAIL" },
                i.name,
                i.detail
            );
        }
        s
    }

    /// The text of report.md.
    pub fn to_markdown(&self) -> String {
        let f = &self.figures;
        let mut s = String::new();
        let _ = writeln!(s, "# Simulation report: {}\n", self.scenario);
        let _ = writeln!(s, "{}\n", self.description);
        let _ = writeln!(
            s,
            "Scenario `{}`, seed **{}** (replay with `riskmesh sim {} --seed {}`), {} build. Verdict: **{}**.\n",
            self.source,
            self.seed,
            self.source.strip_prefix("builtin:").unwrap_or(&self.source),
            self.seed,
            if self.release_build { "release" } else { "debug" },
            if self.passed { "PASSED" } else { "FAILED" }
        );
        let _ = writeln!(s, "## Invariants\n\n| | invariant | evidence |\n|---|---|---|");
        for i in &self.invariants {
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                if i.passed { "✅" } else { "❌" },
                i.name,
                i.detail.replace('|', "\\|")
            );
        }
        let _ = writeln!(s, "\n## Figures\n\n| figure | value |\n|---|---|");
        let _ = writeln!(s, "| honest nodes | {} |", f.nodes);
        let _ = writeln!(
            s,
            "| entries published | {} ({:?}) |",
            f.published, f.published_by_tier
        );
        let _ = writeln!(
            s,
            "| delivery ratio | {:.2} % ({} of {}) |",
            f.delivery_ratio * 100.0,
            f.deliveries,
            f.expected_deliveries
        );
        let _ = writeln!(
            s,
            "| latency, all deliveries | {} |",
            latency_line(&f.latency_all)
        );
        let _ = writeln!(
            s,
            "| latency, undisturbed deliveries | {} |",
            latency_line(&f.latency_undisturbed)
        );
        for (tier, l) in &f.latency_by_tier {
            let _ = writeln!(s, "| latency, {tier} | {} |", latency_line(l));
        }
        let _ = writeln!(
            s,
            "| application bytes per delivered entry | {} (gossip in {} B, sync in {} B) |",
            opt(f.bytes.app_per_delivery, 0),
            f.bytes.gossip_in,
            f.bytes.sync_in
        );
        let _ = writeln!(
            s,
            "| wire bytes per delivered entry | {} (all TCP bytes through the link proxies: {} B) |",
            opt(f.bytes.wire_per_delivery, 0),
            f.bytes.wire
        );
        let _ = writeln!(
            s,
            "| mean entry size on the wire | {} B |",
            opt(f.bytes.mean_entry_bytes, 0)
        );
        let _ = writeln!(
            s,
            "| copies received per entry per node (estimate) | gossip ≈ {}, wire ≤ {} |",
            opt(f.copies_per_delivery_gossip, 2),
            opt(f.copies_per_delivery_wire, 1)
        );
        let _ = writeln!(
            s,
            "| converged | {} |",
            f.converged_after_s
                .map_or("no".into(), |x| format!("{x:.1} s after the phase started"))
        );
        let _ = writeln!(
            s,
            "| CPU | {} s over {:.1} s wall = {} cores |",
            opt(f.cpu_s, 1),
            f.wall_s,
            opt(f.cpu_cores, 2)
        );
        let _ = writeln!(
            s,
            "| memory | peak RSS {} MiB (VmHWM {}), base {} MiB, ≈{} MiB per node |",
            opt(f.peak_rss_mib, 0),
            opt(f.vm_hwm_mib, 0),
            opt(f.base_rss_mib, 0),
            opt(f.rss_per_node_mib, 1)
        );
        let _ = writeln!(s, "| link connections cut by the loss model | {} |", f.link_cuts);
        let _ = writeln!(s, "\n*Duplicates:* {}\n", f.duplicates_note);
        if !f.catch_up.is_empty() {
            let _ = writeln!(
                s,
                "## Catch-up after restarts\n\n| node | restarted at | behind | caught up after |\n|---|---|---|---|"
            );
            for c in &f.catch_up {
                let _ = writeln!(
                    s,
                    "| {} | {:.1} s | {} | {} |",
                    c.org,
                    c.restarted_at_s,
                    c.behind_at_restart,
                    c.seconds
                        .map_or("not within 90 s".into(), |x| format!("{x:.2} s"))
                );
            }
        }
        if !self.faults.is_empty() {
            let _ = writeln!(s, "\n## Faults\n\n| kind | what | from | to |\n|---|---|---|---|");
            for x in &self.faults {
                let _ = writeln!(
                    s,
                    "| {} | {} | {:.1} s | {:.1} s |",
                    x.kind, x.label, x.start_s, x.end_s
                );
            }
        }
        if !self.adversaries.is_empty() {
            let _ = writeln!(
                s,
                "\n## Adversaries\n\n| kind | org | window | activity |\n|---|---|---|---|"
            );
            for a in &self.adversaries {
                let _ = writeln!(
                    s,
                    "| {} | {} | {:.1}–{:.1} s | {} |",
                    a.kind,
                    a.org.clone().unwrap_or_else(|| "(not on the roster)".into()),
                    a.start_s,
                    a.end_s,
                    a.counters
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        if !self.releases.is_empty() {
            let _ = writeln!(
                s,
                "\n## Hazardous-tier requests\n\n| kind | finding | author → requester | audit status | released after | fields | passed |\n|---|---|---|---|---|---|---|"
            );
            for r in &self.releases {
                let _ = writeln!(
                    s,
                    "| {} | #{} | {} → {} | {} | {} | {:?} | {} |",
                    r.kind,
                    r.publication,
                    r.author,
                    r.requester,
                    r.audit_status,
                    r.released_after_s.map_or("—".into(), |x| format!("{x:.2} s")),
                    r.fields_received,
                    if r.passed { "yes" } else { "NO" }
                );
            }
        }
        let _ = writeln!(
            s,
            "\n## Nodes\n\n| org | role | entries | delivered | gossip in | sync in | penalties | rejected | ignored |\n|---|---|---|---|---|---|---|---|---|"
        );
        for n in &self.nodes {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {:?} | {:?} |",
                n.org,
                n.role,
                n.entries,
                n.delivered,
                n.metrics.gossip_bytes_in,
                n.metrics.sync_bytes_in,
                n.metrics.penalties,
                n.metrics.rejected,
                n.metrics.ignored
            );
        }
        if !self.publish_failures.is_empty() {
            let _ = writeln!(s, "\n## Publication failures\n");
            for p in &self.publish_failures {
                let _ = writeln!(s, "- {p}");
            }
        }
        let _ = writeln!(s, "\n## Plots\n");
        for p in &self.plots {
            let _ = writeln!(s, "![{p}]({p})\n");
        }
        s
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("—".into(), |x| format!("{x:.digits$}"))
}

fn latency_line(l: &Latency) -> String {
    if l.count == 0 {
        return "no deliveries".into();
    }
    format!(
        "p50 {} ms, p90 {} ms, p99 {} ms, max {} ms ({} deliveries)",
        opt(l.p50_ms, 0),
        opt(l.p90_ms, 0),
        opt(l.p99_ms, 0),
        opt(l.max_ms, 0),
        l.count
    )
}
