//! `riskmesh sim --scaling`: the same workload on networks of growing
//! size, each size in a fresh `riskmesh sim` process (so memory figures are
//! not inherited from the previous size), then the table, JSON and plot.

use super::SimArgs;
use anyhow::{Context, Result, bail};
use riskmesh_sim::scaling::{self, Row, write_series};
use serde_json::Value;
use std::process::{Command, Stdio};

/// Runs the series and writes `scaling.md`, `scaling.json` and
/// `scaling.svg` into `--out`.
pub fn run(args: &SimArgs) -> Result<()> {
    let exe = std::env::current_exe().context("locating the riskmesh binary")?;
    let scenario = if args.scenario == "default" {
        "scaling".to_string()
    } else {
        args.scenario.clone()
    };
    let loaded = super::load(&SimArgs {
        nodes: None,
        scenario: scenario.clone(),
        ..args.clone()
    })?;
    let seed = super::seed_for(args, &loaded);
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
        rows.push(Row::from_report(n, &report));
    }
    let table = scaling::table(&rows, !cfg!(debug_assertions));
    print!("{table}");
    if let Some(e) = write_series(&args.out, &rows, &table)? {
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
