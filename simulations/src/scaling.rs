//! The scaling mode's results: one [`Size`] per network size — the
//! riskmesh [`Row`] read from that size's report and, when it ran, the
//! [`Row`] of the bare-libp2p baseline (`crate::bare`) with the ratios
//! riskmesh ÷ bare marked against issue 13's targets — and the table, JSON
//! and plot of how latency, bytes, memory and CPU grow. (`riskmesh sim
//! --scaling` runs each network in a fresh process, so memory and CPU
//! figures are not inherited from another run.)

use crate::plots::{ScalePoint, write_scaling_plot};
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// One size's figures, as the table shows them.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Honest nodes.
    pub nodes: usize,
    /// Whether every invariant held.
    pub passed: bool,
    /// Entries published.
    pub published: u64,
    /// Delivery ratio.
    pub delivery_ratio: f64,
    /// Latency p50, ms.
    pub p50_ms: f64,
    /// Latency p99, ms.
    pub p99_ms: f64,
    /// Latency max, ms.
    pub max_ms: f64,
    /// Application bytes per delivered entry.
    pub bytes_per_delivery: f64,
    /// Gossip copies per entry per node (estimate).
    pub copies: f64,
    /// Process CPU seconds (the whole run: start, phase, settle, stop).
    pub cpu_s: f64,
    /// Process CPU seconds of the publishing phase and settle only.
    pub cpu_phase_s: f64,
    /// Of `cpu_phase_s`, the store writer threads' seconds (NaN for the
    /// bare baseline, which has none).
    pub writer_cpu_phase_s: f64,
    /// Peak resident memory, MiB.
    pub peak_rss_mib: f64,
    /// Resident memory per node, MiB.
    pub mib_per_node: f64,
    /// Seconds until every node agreed.
    pub converged_s: f64,
    /// Node start-up time, s.
    pub startup_s: f64,
}

fn num(v: &Value, path: &[&str]) -> f64 {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_f64().unwrap_or(f64::NAN)
}

impl Row {
    /// One size's row, read from the `report.json` that `riskmesh sim --json`
    /// printed for it, or from the bare report `riskmesh sim --bare --json`
    /// printed (`bare::BareReport`, the same paths); a figure the report
    /// lacks is NaN (or 0, not passed).
    pub fn from_report(nodes: usize, report: &Value) -> Row {
        let f = &report["figures"];
        Row {
            nodes,
            passed: report["passed"].as_bool().unwrap_or(false),
            published: f["published"].as_u64().unwrap_or(0),
            delivery_ratio: num(f, &["delivery_ratio"]),
            p50_ms: num(f, &["latency_all", "p50_ms"]),
            p99_ms: num(f, &["latency_all", "p99_ms"]),
            max_ms: num(f, &["latency_all", "max_ms"]),
            bytes_per_delivery: num(f, &["bytes", "app_per_delivery"]),
            copies: num(f, &["copies_per_delivery_gossip"]),
            cpu_s: num(f, &["cpu_s"]),
            cpu_phase_s: num(f, &["cpu_phase_s"]),
            writer_cpu_phase_s: num(f, &["writer_cpu_phase_s"]),
            peak_rss_mib: num(f, &["peak_rss_mib"]),
            mib_per_node: num(f, &["rss_per_node_mib"]),
            converged_s: num(f, &["converged_after_s"]),
            startup_s: num(f, &["startup_s"]),
        }
    }
}

/// Issue 13's bound on riskmesh's p99 latency ÷ the bare baseline's.
pub const P99_RATIO_TARGET: f64 = 1.5;
/// Issue 13's bound on riskmesh's process CPU seconds ÷ the bare baseline's,
/// applied to the running network (the publishing phase and settle): the
/// whole-run ratio, which adds creating hundreds of databases and keys in
/// one process, is shown beside it without a target.
pub const CPU_RATIO_TARGET: f64 = 1.3;

/// riskmesh ÷ bare at one size (NaN where either figure is missing).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Ratios {
    /// Latency p99.
    pub p99: f64,
    /// Process CPU seconds, whole run.
    pub cpu: f64,
    /// Process CPU seconds, publishing phase and settle.
    pub cpu_phase: f64,
    /// The same less riskmesh's store writer threads: what the rest of the
    /// node costs against a network that stores nothing (no target; shown
    /// so the storage share of `cpu_phase` is visible).
    pub cpu_phase_less_writers: f64,
    /// Resident memory per node (no ratio target; the issue bounds it at
    /// 4 MiB absolute).
    pub mib_per_node: f64,
    /// `p99` ≤ [`P99_RATIO_TARGET`].
    pub p99_within_target: bool,
    /// `cpu_phase` ≤ [`CPU_RATIO_TARGET`].
    pub cpu_within_target: bool,
}

impl Ratios {
    /// The ratios of `riskmesh` to `bare`.
    pub fn of(riskmesh: &Row, bare: &Row) -> Ratios {
        let p99 = riskmesh.p99_ms / bare.p99_ms;
        let cpu = riskmesh.cpu_s / bare.cpu_s;
        let cpu_phase = riskmesh.cpu_phase_s / bare.cpu_phase_s;
        Ratios {
            p99,
            cpu,
            cpu_phase,
            cpu_phase_less_writers: (riskmesh.cpu_phase_s - riskmesh.writer_cpu_phase_s) / bare.cpu_phase_s,
            mib_per_node: riskmesh.mib_per_node / bare.mib_per_node,
            p99_within_target: p99 <= P99_RATIO_TARGET,
            cpu_within_target: cpu_phase <= CPU_RATIO_TARGET,
        }
    }
}

/// One network size: riskmesh's figures and the bare baseline's, either
/// absent when its run printed no report (or was not asked for).
#[derive(Debug, Clone, Serialize)]
pub struct Size {
    /// Nodes.
    pub nodes: usize,
    /// The riskmesh network.
    pub riskmesh: Option<Row>,
    /// The bare-libp2p baseline.
    pub bare: Option<Row>,
    /// riskmesh ÷ bare, when both ran.
    pub ratios: Option<Ratios>,
}

impl Size {
    /// A size from its runs' rows.
    pub fn new(nodes: usize, riskmesh: Option<Row>, bare: Option<Row>) -> Size {
        let ratios = match (&riskmesh, &bare) {
            (Some(r), Some(b)) => Some(Ratios::of(r, b)),
            _ => None,
        };
        Size {
            nodes,
            riskmesh,
            bare,
            ratios,
        }
    }

    /// Whether every run at this size passed and every ratio is within its
    /// target.
    pub fn passed(&self) -> bool {
        self.riskmesh.as_ref().is_none_or(|r| r.passed)
            && self.bare.as_ref().is_none_or(|b| b.passed)
            && self
                .ratios
                .is_none_or(|r| r.p99_within_target && r.cpu_within_target)
    }
}

/// A ratio with its verdict against `target`: `1.23× ok`, `1.80× OVER
/// 1.5×`, `0.90×` (no target), `—` (not measured).
pub fn mark(ratio: f64, target: Option<f64>) -> String {
    if !ratio.is_finite() {
        return "—".into();
    }
    match target {
        Some(t) if ratio <= t => format!("{ratio:.2}× ok"),
        Some(t) => format!("{ratio:.2}× OVER {t}×"),
        None => format!("{ratio:.2}×"),
    }
}

/// Writes `scaling.md` (the `table`) and `scaling.json` (the sizes) into
/// `dir`, then `scaling.svg`; a plot that cannot be drawn is returned as a
/// warning rather than an error, since the table is the result.
pub fn write_series(dir: &Path, sizes: &[Size], table: &str) -> io::Result<Option<String>> {
    std::fs::write(dir.join("scaling.md"), table)?;
    std::fs::write(
        dir.join("scaling.json"),
        serde_json::to_string_pretty(sizes).unwrap_or_default(),
    )?;
    let figure = |row: &Option<Row>, f: fn(&Row) -> f64| row.as_ref().map_or(f64::NAN, f);
    let points: Vec<ScalePoint> = sizes
        .iter()
        .map(|s| ScalePoint {
            nodes: s.nodes,
            p50_ms: figure(&s.riskmesh, |r| r.p50_ms),
            p99_ms: figure(&s.riskmesh, |r| r.p99_ms),
            bytes_per_delivery: figure(&s.riskmesh, |r| r.bytes_per_delivery),
            mib_per_node: figure(&s.riskmesh, |r| r.mib_per_node),
            cpu_s: figure(&s.riskmesh, |r| r.cpu_s),
            bare_p99_ms: figure(&s.bare, |r| r.p99_ms),
            bare_mib_per_node: figure(&s.bare, |r| r.mib_per_node),
            bare_cpu_s: figure(&s.bare, |r| r.cpu_s),
        })
        .collect();
    Ok(write_scaling_plot(&dir.join("scaling.svg"), &points)
        .err()
        .map(|e| e.to_string()))
}

/// One run's figure, or `—` where the run or the figure is missing.
fn one(row: Option<&Row>, f: fn(&Row) -> f64, digits: usize) -> String {
    row.map(f)
        .filter(|v| v.is_finite())
        .map_or_else(|| "—".to_string(), |v| format!("{v:.digits$}"))
}

fn pair(riskmesh: Option<&Row>, bare: Option<&Row>, f: fn(&Row) -> f64, digits: usize) -> String {
    format!("{} / {}", one(riskmesh, f, digits), one(bare, f, digits))
}

/// The tables in Markdown: riskmesh's figures per size, then (when the bare
/// baseline ran) riskmesh beside bare with the ratios marked.
pub fn table(sizes: &[Size], release: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| nodes | passed | entries | delivery | p50 ms | p99 ms | max ms | app bytes/delivery | copies/entry/node | CPU s | peak RSS MiB | MiB/node | converged s | startup s |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for size in sizes {
        let Some(r) = &size.riskmesh else {
            let _ = writeln!(s, "| {} | no report | | | | | | | | | | | | |", size.nodes);
            continue;
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.2}% | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.1} | {:.0} | {:.1} | {:.1} | {:.1} |",
            r.nodes,
            if r.passed { "yes" } else { "NO" },
            r.published,
            r.delivery_ratio * 100.0,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.bytes_per_delivery,
            r.copies,
            r.cpu_s,
            r.peak_rss_mib,
            r.mib_per_node,
            r.converged_s,
            r.startup_s
        );
    }
    if sizes.iter().any(|size| size.bare.is_some()) {
        let _ = writeln!(
            s,
            "\nriskmesh / bare libp2p, and riskmesh ÷ bare (targets: p99 ≤ {P99_RATIO_TARGET}×, CPU ≤ {CPU_RATIO_TARGET}×):\n"
        );
        let _ = writeln!(
            s,
            "| nodes | delivery % | p99 ms | p99 ÷ bare | CPU s, running | CPU ÷ bare, running | of it, store writers s | CPU less writers ÷ bare | CPU s, whole run | CPU ÷ bare, whole run | MiB/node | MiB ÷ bare | startup s | verdict |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for size in sizes {
            let (r, b) = (size.riskmesh.as_ref(), size.bare.as_ref());
            let ratio = |f: fn(&Ratios) -> f64| size.ratios.as_ref().map_or(f64::NAN, f);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                size.nodes,
                pair(r, b, |x| x.delivery_ratio * 100.0, 2),
                pair(r, b, |x| x.p99_ms, 0),
                mark(ratio(|x| x.p99), Some(P99_RATIO_TARGET)),
                pair(r, b, |x| x.cpu_phase_s, 1),
                mark(ratio(|x| x.cpu_phase), Some(CPU_RATIO_TARGET)),
                one(r, |x| x.writer_cpu_phase_s, 1),
                mark(ratio(|x| x.cpu_phase_less_writers), None),
                pair(r, b, |x| x.cpu_s, 1),
                mark(ratio(|x| x.cpu), None),
                pair(r, b, |x| x.mib_per_node, 2),
                mark(ratio(|x| x.mib_per_node), None),
                pair(r, b, |x| x.startup_s, 1),
                match (size.ratios.is_some(), size.passed()) {
                    (_, false) => "FAIL",
                    (true, true) => "pass",
                    (false, true) => "—",
                }
            );
        }
        let _ = writeln!(
            s,
            "\nCPU, running: process CPU seconds from the start of the publishing phase until every node holds everything (the targets apply here); of it, store writers: the CPU seconds of the nodes' writer threads (SQLite commits of every entry on every node, which the bare network does not do), and CPU less writers ÷ bare: the rest of the node against bare (no target; the writers' wake-ups, paid on the event loop, stay in it); whole run: from before the first node starts until the last stops, which for riskmesh includes creating a database, keys and a token per node and introducing every node to every other.\n\nThe bare network: plain rust-libp2p gossipsub swarms with the node's transport, gossipsub settings and peer scoring, `verify_strict` per message, the same plan (authors, times, message sizes); each node dials at most the given number of random peers, one side per pair; no storage, sync or request-response."
        );
    }
    let _ = writeln!(
        s,
        "\n{} build; every size runs the same plan seed, each network in a fresh process on this machine.",
        if release { "Release" } else { "Debug" }
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(nodes: usize, p99_ms: f64, cpu_s: f64, mib_per_node: f64) -> Row {
        Row::from_report(
            nodes,
            &json!({
                "passed": true,
                "figures": {
                    "published": 40, "delivery_ratio": 1.0,
                    "latency_all": {"p50_ms": 10.0, "p99_ms": p99_ms, "max_ms": p99_ms},
                    "cpu_s": cpu_s * 2.0, "cpu_phase_s": cpu_s, "rss_per_node_mib": mib_per_node,
                }
            }),
        )
    }

    #[test]
    fn ratios_are_marked_against_the_issue_targets() {
        let mut riskmesh = row(100, 140.0, 12.0, 3.0);
        riskmesh.writer_cpu_phase_s = 3.5;
        let within = Size::new(100, Some(riskmesh), Some(row(100, 100.0, 10.0, 1.5)));
        let r = within.ratios.expect("both ran");
        assert!((r.p99 - 1.4).abs() < 1e-9 && r.p99_within_target);
        assert!((r.cpu - 1.2).abs() < 1e-9 && r.cpu_within_target);
        assert!((r.mib_per_node - 2.0).abs() < 1e-9);
        // (12 - 3.5) / 10, shown without a target; a report without the
        // writers' figure shows a dash.
        assert!((r.cpu_phase_less_writers - 0.85).abs() < 1e-9);
        assert!(within.passed());
        let over = Size::new(
            100,
            Some(row(100, 160.0, 14.0, 3.0)),
            Some(row(100, 100.0, 10.0, 1.5)),
        );
        assert!(!over.passed());
        let t = table(&[within, over], true);
        assert!(t.contains("| 1.40× ok |"), "{t}");
        assert!(t.contains("| 1.20× ok |"), "{t}");
        assert!(t.contains("| 1.60× OVER 1.5× |"), "{t}");
        assert!(t.contains("| 1.40× OVER 1.3× |"), "{t}");
        assert!(t.contains("| 2.00× |"), "{t}");
        assert!(t.contains("| 3.5 | 0.85× |"), "{t}");
        assert!(t.contains("| — | — |"), "{t}");
        assert!(t.contains("| FAIL |") && t.contains("| pass |"), "{t}");
    }

    #[test]
    fn a_missing_run_shows_dashes_not_a_verdict() {
        let only_bare = Size::new(500, None, Some(row(500, 300.0, 50.0, 0.8)));
        assert!(only_bare.ratios.is_none());
        let t = table(&[only_bare], true);
        assert!(t.contains("| 500 | no report |"), "{t}");
        assert!(t.contains("| — / 300 | — |"), "{t}");
        assert_eq!(mark(f64::NAN, Some(1.5)), "—");
        // Without the baseline the table is the old one.
        let old = table(&[Size::new(7, Some(row(7, 50.0, 1.0, 1.0)), None)], false);
        assert!(!old.contains("÷ bare"), "{old}");
    }
}
