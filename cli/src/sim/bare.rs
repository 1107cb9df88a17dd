//! `riskmesh sim --bare`: the bare-libp2p baseline alone — plain gossipsub
//! swarms doing the scenario's workload (`riskmesh_sim::bare`) — in this
//! process, so its CPU and memory figures are its own. `--scaling` runs it
//! once per size beside the riskmesh network.

use super::SimArgs;
use anyhow::{Context, Result, bail};
use riskmesh_sim::bare::{self, BareOptions};

/// Runs the baseline for the scenario, seed and size of `args`; writes
/// `bare.json` into `--out`.
pub fn run(args: &SimArgs) -> Result<()> {
    let loaded = super::load(args)?;
    let seed = super::seed_for(args, &loaded);
    if args.degree == 0 {
        bail!("--degree must be at least 1");
    }
    let plan = riskmesh_sim::plan::Plan::new(&loaded.scenario, seed);
    eprintln!(
        "bare baseline of {} ({}): {} nodes dialling at most {} peers each, {} publications; seed {seed}",
        loaded.scenario.name,
        loaded.source_name,
        plan.nodes.len(),
        args.degree,
        plan.publications.len()
    );
    drop(plan);
    let progress = super::progress_bar(args.no_progress);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let options = BareOptions {
        seed,
        degree: args.degree,
    };
    let report = runtime.block_on(bare::run(&loaded.scenario, options, &progress));
    progress.finish_and_clear();
    let report = report.context("the bare network could not run")?;
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(args.out.join("bare.json"), report.to_json())?;
    if args.json {
        eprint!("{}", report.summary());
        println!("{}", report.to_json());
    } else {
        print!("{}", report.summary());
    }
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    if !report.passed {
        bail!(
            "the bare network missed its delivery target or was not connected (seed {seed}; see {})",
            args.out.join("bare.json").display()
        );
    }
    Ok(())
}
