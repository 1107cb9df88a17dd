//! Multi-node simulations of riskmesh on one machine: real nodes (libp2p on
//! loopback, one SQLite file each in a temporary directory) started from a
//! scenario file, with faults injected from outside the nodes (crashes,
//! partitions and slow or lossy links through TCP proxies) and adversaries
//! driven as raw libp2p swarms. At the end every database is read and the
//! invariants are checked; a report with figures and SVG plots is written.
//!
//! - [`scenario`] — the scenario file format and its checks;
//! - [`plan`] — everything decided from the seed;
//! - [`run`] — the harness that plays the plan against real nodes;
//! - [`proxy`], [`adversary`], [`hostile`], [`hazardous`], [`content`] —
//!   its tools;
//! - [`check`] — invariants and figures; [`report`], [`plots`] — output;
//! - [`scaling`] — the same workload on growing networks; [`bare`] — its
//!   baseline, a plain gossipsub network doing the same work;
//! - [`membership`] — roster changes under traffic (a member leaves, keys
//!   rotate, an old key is compromised, an observer joins late), played by
//!   its own driver over the same nodes, links and report.
//! - [`stix`] — each node's STIX export after a run.
//!
//! Argument parsing and the command's flow live in the `riskmesh` binary;
//! this library takes plain values ([`Options`], a loaded scenario).

#![deny(missing_docs)]

pub mod adversary;
pub mod bare;
pub mod check;
pub mod content;
pub mod hazardous;
pub mod hostile;
pub mod measure;
pub mod membership;
pub mod plan;
pub mod plots;
pub mod proxy;
pub mod report;
pub mod report_html;
pub mod rng;
pub mod run;
pub mod scaling;
pub mod scenario;
pub mod stix;

use indicatif::ProgressBar;
use std::path::PathBuf;

/// How to run one simulation from code (the binary and the tests).
#[derive(Debug, Clone)]
pub struct Options {
    /// The seed.
    pub seed: u64,
    /// Where to write the report (none: not written).
    pub out: Option<PathBuf>,
    /// Progress display (use `ProgressBar::hidden()` for none).
    pub progress: ProgressBar,
    /// Where to write each honest node's STIX bundle, `<org>.stix.json`
    /// (none: not written).
    pub stix_out: Option<PathBuf>,
}

/// A finished simulation: its report, and its checks' raw material.
#[derive(Debug)]
pub struct Outcome {
    /// The report (invariants, figures, adversaries, releases).
    pub report: report::Report,
    /// Files written, if any.
    pub written: Vec<PathBuf>,
}

/// Runs a scenario end to end: plan, run, check, report.
pub async fn simulate(
    loaded: &scenario::LoadedScenario,
    options: &Options,
) -> Result<Outcome, run::SimError> {
    if loaded.scenario.membership.is_some() {
        return membership::simulate(loaded, options).await;
    }
    let baseline = match loaded.scenario.expect.latency_p99_vs_baseline {
        Some(_) => {
            // The honest workload alone, same seed, same process: what the
            // adversaries' effect on latency and memory is measured against.
            options
                .progress
                .set_message("baseline: the honest workload without adversaries");
            let logs = tempfile::tempdir()?;
            let honest = loaded.scenario.honest_baseline();
            let data = run::execute(&honest, options.seed, &options.progress, logs.path()).await?;
            Some(check::Baseline::of(&data, &check::check(&data)))
        }
        None => None,
    };
    let logs = tempfile::tempdir()?;
    let mut data = run::execute(&loaded.scenario, options.seed, &options.progress, logs.path()).await?;
    data.baseline = baseline;
    options.progress.set_message("checking invariants");
    let checked = check::check(&data);
    let mut report = report::Report::new(&data, &checked, &loaded.source_name);
    let mut written = match &options.out {
        Some(dir) => report.write(dir, &data, &checked)?,
        None => Vec::new(),
    };
    if let Some(dir) = &options.stix_out {
        options.progress.set_message("writing STIX bundles");
        written.extend(stix::write_bundles(&data, dir)?);
    }
    Ok(Outcome { report, written })
}
