//! `riskmesh sim --scaling`: the same workload on networks of growing
//! size, each network in a fresh `riskmesh sim` process (so memory and CPU
//! figures are not inherited from another run) — for each size the riskmesh
//! network and, unless `--no-bare`, the bare-libp2p baseline — then the
//! table, JSON and plot.

use super::SimArgs;
use anyhow::{Context, Result, bail};
use riskmesh_sim::scaling::{self, Row, Size, write_series};
use serde_json::Value;
use std::path::Path;
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
        "scaling: scenario {scenario}, sizes {:?}, seed {seed}; {}each network runs in its own process",
        args.sizes,
        if args.no_bare {
            String::new()
        } else {
            format!(
                "beside the bare-libp2p baseline (each node dials {} peers); ",
                args.degree
            )
        }
    );
    let mut sizes = Vec::new();
    for &n in &args.sizes {
        let out = args.out.join(format!("nodes-{n}"));
        eprintln!("== {n} nodes: riskmesh");
        let riskmesh = child(&exe, args, &scenario, n, seed, &out, &[])?;
        let bare = if args.no_bare {
            None
        } else {
            eprintln!("== {n} nodes: bare libp2p");
            child(
                &exe,
                args,
                &scenario,
                n,
                seed,
                &out,
                &["--bare", "--degree", &args.degree.to_string()],
            )?
        };
        sizes.push(Size::new(
            n,
            riskmesh.map(|r| Row::from_report(n, &r)),
            bare.map(|b| Row::from_report(n, &b)),
        ));
    }
    let table = scaling::table(&sizes, !cfg!(debug_assertions));
    print!("{table}");
    if let Some(e) = write_series(&args.out, &sizes, &table)? {
        eprintln!("warning: scaling plot failed: {e}");
    }
    let failed: Vec<String> = sizes
        .iter()
        .filter(|s| s.riskmesh.is_none() || !s.passed())
        .map(|s| s.nodes.to_string())
        .collect();
    if !failed.is_empty() {
        bail!(
            "at {} nodes a run failed, printed no report or missed a ratio target; see {}/scaling.md and nodes-N/",
            failed.join(", "),
            args.out.display()
        );
    }
    Ok(())
}

/// Runs one network in a fresh `riskmesh sim` process and returns the
/// report it printed, or `None` (with a warning) if it printed none.
fn child(
    exe: &Path,
    args: &SimArgs,
    scenario: &str,
    n: usize,
    seed: u64,
    out: &Path,
    extra: &[&str],
) -> Result<Option<Value>> {
    let mut command = Command::new(exe);
    command
        .arg("sim")
        .arg(scenario)
        .args([
            "--nodes",
            &n.to_string(),
            "--seed",
            &seed.to_string(),
            "--json",
            "--no-progress",
            "--out",
        ])
        .arg(out)
        .args(extra);
    if let Some(t) = args.time_scale {
        command.args(["--time-scale", &t.to_string()]);
    }
    let child = command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {} sim for {n} nodes", exe.display()))?;
    match serde_json::from_slice(&child.stdout) {
        Ok(report) => Ok(Some(report)),
        Err(_) => {
            eprintln!(
                "warning: the {n}-node run{} printed no report (exit {:?}); its columns stay empty",
                if extra.is_empty() { "" } else { " (bare)" },
                child.status.code()
            );
            Ok(None)
        }
    }
}
