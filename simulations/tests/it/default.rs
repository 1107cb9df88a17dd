//! The default scenario (seven signatories, two observers, every tier, a
//! crash and restart, a slow link, a hazardous release) at half time: the
//! same network, faults and steps in a 20 s publishing phase, so the debug
//! build stays well under a minute.

use crate::support::{assert_all_passed, assert_invariant, run, serial};
use riskmesh_sim::scenario;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_scenario_at_half_time_holds_every_invariant() {
    let _serial = serial().await;
    let mut loaded = scenario::load("default").expect("the default scenario is built in");
    loaded.scenario.scale_time(0.5);
    let out = tempfile::tempdir().expect("tempdir");
    let outcome = run(&loaded, 2023, Some(out.path().to_path_buf())).await;
    let report = &outcome.report;
    assert_all_passed(report);
    for name in [
        "converged",
        "publications",
        "chains-verify",
        "same-entries",
        "delivery",
        "tiers-readable",
        "restricted-confidential",
        "secrets-stay-put",
        "latency-bound",
        "hazardous-release",
    ] {
        assert_invariant(report, name);
    }
    let f = &report.figures;
    assert_eq!(f.nodes, 9);
    assert_eq!(
        f.published_by_tier.len(),
        4,
        "every tier was published: {:?}",
        f.published_by_tier
    );
    assert!((f.delivery_ratio - 1.0).abs() < f64::EPSILON);
    assert_eq!(f.catch_up.len(), 1, "meta restarted once");
    assert!(
        f.catch_up[0].seconds.is_some(),
        "meta caught up: {:?}",
        f.catch_up[0]
    );
    assert!(
        report
            .releases
            .iter()
            .any(|r| r.kind == "granted-release" && r.passed && r.canary_received)
    );
    // The report and its plots are on disk, and report.json is JSON.
    for file in [
        "report.json",
        "report.md",
        "report.html",
        "latency_cdf.svg",
        "deliveries_over_time.svg",
        "bytes_per_entry.svg",
        "catch_up.svg",
    ] {
        let path = out.path().join(file);
        let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(meta.len() > 200, "{file} is not empty");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).expect("read"))
            .expect("report.json parses");
    assert_eq!(json["passed"], serde_json::Value::Bool(true));
    assert_eq!(json["seed"], 2023);
    // report.html stands alone: every plot inline, nothing linked.
    let html = std::fs::read_to_string(out.path().join("report.html")).expect("report.html");
    assert_eq!(
        html.matches("<svg").count(),
        report.plots.len(),
        "one inline SVG per plot"
    );
    assert!(!html.contains("src=\""), "report.html links a file");
}
