//! `riskmesh sim`: argument parsing and the command's flow — load and check
//! the scenario, pick and print the seed, run with a progress bar, write the
//! report, print the summary, fail if an invariant broke. The simulation
//! itself is the `riskmesh-sim` library; `--scaling` is in [`scaling`],
//! `--bare` (the bare-libp2p baseline) in [`bare`].

mod bare;
mod scaling;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use riskmesh_sim::scenario::{self, BUILTIN, LoadedScenario};
use riskmesh_sim::{Options, simulate};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// Run a local multi-node simulation: real nodes on loopback, faults and
/// adversaries injected from outside, invariants checked at the end, a
/// report with figures and SVG plots written. Exits non-zero if any
/// invariant breaks.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// A scenario file (TOML; see simulations/scenarios/reference.toml) or a
    /// builtin name: default, reference, load-50, partition-heal, churn,
    /// byzantine, hostile, scaling, scaling-2ps, membership.
    #[arg(default_value = "default")]
    pub scenario: String,
    /// Seed for every random decision (default: the scenario's `seed`, else
    /// drawn from the clock). Always printed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print report.json to stdout (the summary then goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Directory for report.json, report.md and the plots.
    #[arg(long, default_value = "sim-report")]
    pub out: PathBuf,
    /// Total honest nodes: fills the scenario with generated members
    /// (`member-000`, …) up to this many.
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Multiply every time in the scenario by this factor (0.5 runs it in
    /// half the time at the same publishing rates).
    #[arg(long)]
    pub time_scale: Option<f64>,
    /// Run the scenario (default: the builtin `scaling` workload) on each of
    /// --sizes nodes and write a table of how latency, bytes and memory grow.
    #[arg(long)]
    pub scaling: bool,
    /// Network sizes for --scaling.
    #[arg(long, value_delimiter = ',', default_value = "7,25,50,100")]
    pub sizes: Vec<usize>,
    /// With --scaling: do not run the bare-libp2p baseline beside each size
    /// (by default it runs, and the table shows riskmesh ÷ bare).
    #[arg(long)]
    pub no_bare: bool,
    /// Advanced: run only the bare-libp2p baseline for this scenario, seed
    /// and size — plain gossipsub swarms with the node's transport and
    /// settings, `verify_strict` per message, no storage or sync — and print
    /// its figures (`--json`: the report; also written to OUT/bare.json).
    #[arg(long)]
    pub bare: bool,
    /// Peers each bare-baseline node dials (one side per pair).
    #[arg(long, default_value_t = riskmesh_sim::bare::DEFAULT_DEGREE)]
    pub degree: usize,
    /// After the run, write each honest node's STIX 2.1 bundle (what
    /// `riskmesh export --stix` gives its analysts) to DIR/<org>.stix.json.
    #[arg(long, value_name = "DIR")]
    pub stix_out: Option<PathBuf>,
    /// Do not draw the progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// List the builtin scenarios and exit.
    #[arg(long)]
    pub list: bool,
    /// Check the scenario and print its plan's size, without running it.
    #[arg(long)]
    pub check: bool,
}

/// Loads the scenario named by `args`, applying `--nodes`.
pub fn load(args: &SimArgs) -> Result<LoadedScenario> {
    let mut loaded = scenario::load(&args.scenario)?;
    if let Some(n) = args.nodes {
        let s = &mut loaded.scenario;
        let named = s.network.members.len() + s.network.observers.len();
        if n < named.max(2) {
            bail!("--nodes {n}: the scenario already names {named} nodes (and at least 2 are needed)");
        }
        s.network.generated_members = n - named;
    }
    if let Some(factor) = args.time_scale {
        if !(factor.is_finite() && factor > 0.0) {
            bail!("--time-scale must be a positive number");
        }
        loaded.scenario.scale_time(factor);
    }
    Ok(loaded)
}

/// The seed: `--seed`, else the scenario's, else the clock.
pub fn seed_for(args: &SimArgs, loaded: &LoadedScenario) -> u64 {
    args.seed.or(loaded.scenario.seed).unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            % 1_000_000_007
    })
}

/// The run's progress bar (hidden with `--no-progress`).
fn progress_bar(hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(1);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} s  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Runs `riskmesh sim`.
pub fn run(args: &SimArgs) -> Result<()> {
    if args.list {
        for (name, text) in BUILTIN {
            let description = scenario::parse(text, name)
                .map(|l| l.scenario.description)
                .unwrap_or_default();
            println!("{name:<16} {description}");
        }
        return Ok(());
    }
    if args.scaling {
        return scaling::run(args);
    }
    if args.bare {
        return bare::run(args);
    }
    let loaded = load(args)?;
    let seed = seed_for(args, &loaded);
    let plan = riskmesh_sim::plan::Plan::new(&loaded.scenario, seed);
    eprintln!(
        "scenario {} ({}): {} nodes, {} publications planned, {} crash(es), {} partition(s), {} adversar{}; seed {seed} (replay: --seed {seed})",
        loaded.scenario.name,
        loaded.source_name,
        plan.nodes.len(),
        plan.publications.len(),
        plan.crashes.len(),
        plan.partitions.len(),
        loaded.scenario.adversaries.len(),
        if loaded.scenario.adversaries.len() == 1 {
            "y"
        } else {
            "ies"
        }
    );
    if args.check {
        println!("{}: ok", loaded.source_name);
        return Ok(());
    }
    let progress = progress_bar(args.no_progress);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let options = Options {
        seed,
        out: Some(args.out.clone()),
        progress: progress.clone(),
        stix_out: args.stix_out.clone(),
    };
    let outcome = runtime.block_on(simulate(&loaded, &options));
    progress.finish_and_clear();
    let outcome = outcome.context("the simulation could not run")?;
    let summary = outcome.report.summary();
    if args.json {
        eprint!("{summary}");
        println!("{}", outcome.report.to_json());
    } else {
        print!("{summary}");
    }
    eprintln!("report: {}", args.out.join("report.md").display());
    // Nodes' background tasks end with the runtime.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    let failed: Vec<&str> = outcome
        .report
        .invariants
        .iter()
        .filter(|i| !i.passed)
        .map(|i| i.name.as_str())
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} invariant(s) broke: {} (seed {seed}; see {})",
            failed.len(),
            failed.join(", "),
            args.out.join("report.md").display()
        );
    }
    Ok(())
}
