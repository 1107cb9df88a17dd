//! Shared helpers: serialized runs, scenario text, assertions.

use indicatif::ProgressBar;
use riskmesh_sim::report::Report;
use riskmesh_sim::scenario::{self, LoadedScenario};
use riskmesh_sim::{Options, Outcome, simulate};
use std::path::PathBuf;
use std::time::Instant;
use tokio::sync::{Mutex, MutexGuard};

static SERIAL: Mutex<()> = Mutex::const_new(());

/// Holds the lock that keeps simulations from running side by side.
pub async fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().await
}

/// Parses scenario text, failing the test with the scenario error.
pub fn parse(text: &str) -> LoadedScenario {
    scenario::parse(text, "test").unwrap_or_else(|e| panic!("scenario: {e}"))
}

/// Runs a scenario (seed printed), optionally writing the report to `out`.
pub async fn run(loaded: &LoadedScenario, seed: u64, out: Option<PathBuf>) -> Outcome {
    println!("scenario {} seed {seed}", loaded.scenario.name);
    let start = Instant::now();
    let outcome = simulate(
        loaded,
        &Options {
            seed,
            out,
            progress: ProgressBar::hidden(),
            stix_out: None,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("the simulation could not run: {e}"));
    println!("{}", outcome.report.summary());
    println!("took {:.1} s", start.elapsed().as_secs_f64());
    outcome
}

/// Asserts that invariant `name` was checked and held.
pub fn assert_invariant(report: &Report, name: &str) {
    let found: Vec<_> = report.invariants.iter().filter(|i| i.name == name).collect();
    assert!(
        !found.is_empty(),
        "invariant {name} was not checked:\n{}",
        report.summary()
    );
    for i in found {
        assert!(
            i.passed,
            "invariant {name} broke: {}\n{}",
            i.detail,
            report.summary()
        );
    }
}

/// Asserts that every invariant held.
pub fn assert_all_passed(report: &Report) {
    for i in &report.invariants {
        assert!(
            i.passed,
            "invariant {} broke: {}\n{}",
            i.name,
            i.detail,
            report.summary()
        );
    }
}

/// A small network of three members and an observer, publishing every
/// 1.5 s for `duration` seconds, plus `extra` TOML (adversaries, steps).
pub fn small(name: &str, duration: u32, rate_limit: u32, extra: &str) -> LoadedScenario {
    parse(&format!(
        r#"
name = "{name}"
description = "CI: {name}"

[network]
members = ["amazon", "anthropic", "google"]
observers = ["safety-institute"]
links = "proxied"
sync_interval_ms = 1000
rate_limit_per_minute = {rate_limit}

[workload]
warmup_s = 1
duration_s = {duration}
settle_s = 25
per_node_interval_s = 1.5
tiers = {{ public = 2, consortium = 2, restricted = 1, hazardous = 1 }}

{extra}
"#
    ))
}
