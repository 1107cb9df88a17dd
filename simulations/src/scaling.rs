//! The scaling mode: the same workload on networks of growing size, each
//! size in a fresh process (so memory figures are not inherited from the
//! previous size), and a table of how latency, bytes and memory grow.

use crate::cli::SimArgs;
use crate::plots::{ScalePoint, write_scaling_plot};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
use std::process::{Command, Stdio};

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

/// Runs the series and writes `scaling.md`, `scaling.json` and
/// `scaling.svg` into `--out`.
pub fn run(args: &SimArgs) -> Result<()> {
    let exe = std::env::current_exe().context("locating the riskmesh binary")?;
    let scenario = if args.scenario == "default" {
        "scaling".to_string()
    } else {
        args.scenario.clone()
    };
    let loaded = crate::cli::load(&SimArgs {
        nodes: None,
        scenario: scenario.clone(),
        ..args.clone()
    })?;
    let seed = crate::cli::seed_for(args, &loaded);
    std::fs::create_dir_all(&args.out)?;
    eprintln!(
        "scaling: scenario {scenario}, sizes {:?}, seed {seed}; each size runs in its own process",
        args.sizes
    );
    let mut rows = Vec::new();
    for &n in &args.sizes {
        let out = args.out.join(format!("nodes-{n}"));
        eprintln!("== {n} nodes");
        let mut command = Command::new(&exe);
        command
            .arg("sim")
            .arg(&scenario)
            .args([
                "--nodes",
                &n.to_string(),
                "--seed",
                &seed.to_string(),
                "--json",
                "--no-progress",
                "--out",
            ])
            .arg(&out);
        if let Some(t) = args.time_scale {
            command.args(["--time-scale", &t.to_string()]);
        }
        let child = command
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("running {} sim for {n} nodes", exe.display()))?;
        let report: Value = serde_json::from_slice(&child.stdout).with_context(|| {
            format!(
                "the {n}-node run printed no report (is this the riskmesh binary? exit {:?})",
                child.status.code()
            )
        })?;
        let f = &report["figures"];
        rows.push(Row {
            nodes: n,
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
        });
    }
    let table = table(&rows, !cfg!(debug_assertions));
    print!("{table}");
    std::fs::write(args.out.join("scaling.md"), &table)?;
    std::fs::write(
        args.out.join("scaling.json"),
        serde_json::to_string_pretty(&rows).unwrap_or_default(),
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
    if let Err(e) = write_scaling_plot(&args.out.join("scaling.svg"), &points) {
        eprintln!("warning: scaling plot failed: {e}");
    }
    if rows.iter().any(|r| !r.passed) {
        bail!(
            "an invariant broke at some size; see {}/nodes-N/report.md",
            args.out.display()
        );
    }
    Ok(())
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
