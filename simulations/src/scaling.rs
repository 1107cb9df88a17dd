//! The scaling mode's results: one [`Row`] per network size, read from
//! that size's report, and the table, JSON and plot of how latency, bytes
//! and memory grow. (`riskmesh sim --scaling` runs each size in a fresh
//! process, so memory figures are not inherited from the previous size.)

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
    /// Process CPU seconds.
    pub cpu_s: f64,
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
    /// printed for it; a figure the report lacks is NaN (or 0, not passed).
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
            peak_rss_mib: num(f, &["peak_rss_mib"]),
            mib_per_node: num(f, &["rss_per_node_mib"]),
            converged_s: num(f, &["converged_after_s"]),
            startup_s: num(f, &["startup_s"]),
        }
    }
}

/// Writes `scaling.md` (the `table`) and `scaling.json` (the rows) into
/// `dir`, then `scaling.svg`; a plot that cannot be drawn is returned as a
/// warning rather than an error, since the table is the result.
pub fn write_series(dir: &Path, rows: &[Row], table: &str) -> io::Result<Option<String>> {
    std::fs::write(dir.join("scaling.md"), table)?;
    std::fs::write(
        dir.join("scaling.json"),
        serde_json::to_string_pretty(rows).unwrap_or_default(),
    )?;
    let points: Vec<ScalePoint> = rows
        .iter()
        .map(|r| ScalePoint {
            nodes: r.nodes,
            p50_ms: r.p50_ms,
            p99_ms: r.p99_ms,
            bytes_per_delivery: r.bytes_per_delivery,
            mib_per_node: r.mib_per_node,
        })
        .collect();
    Ok(write_scaling_plot(&dir.join("scaling.svg"), &points)
        .err()
        .map(|e| e.to_string()))
}

/// The table in Markdown.
pub fn table(rows: &[Row], release: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| nodes | passed | entries | delivery | p50 ms | p99 ms | max ms | app bytes/delivery | copies/entry/node | CPU s | peak RSS MiB | MiB/node | converged s | startup s |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
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
    let _ = writeln!(
        s,
        "\n{} build; every size runs the same plan seed in a fresh process on this machine.",
        if release { "Release" } else { "Debug" }
    );
    s
}
