//! The bare-libp2p baseline end to end: a few plain gossipsub swarms on
//! loopback play a tiny workload and every message reaches every node.

use super::support::{parse, serial};
use indicatif::ProgressBar;
use riskmesh_sim::bare::{self, BareOptions};

const TINY: &str = r#"
name = "bare-tiny"
[network]
generated_members = 5
links = "direct"
[workload]
warmup_s = 0.5
duration_s = 1
settle_s = 20
total_entries = 10
tiers = { public = 1, consortium = 1 }
kinds = { bulletin = 1 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_bare_network_delivers_everything() {
    let _serial = serial().await;
    let loaded = parse(TINY);
    let seed = 11;
    println!("bare-tiny seed {seed}");
    // Degree 2 of 5 nodes: a sparse graph, so messages must be relayed.
    let report = bare::run(
        &loaded.scenario,
        BareOptions { seed, degree: 2 },
        &ProgressBar::hidden(),
    )
    .await
    .unwrap_or_else(|e| panic!("the bare network could not run: {e}"));
    print!("{}", report.summary());
    let f = &report.figures;
    assert!(report.connected);
    assert_eq!(f.published, 10);
    assert_eq!(f.expected_deliveries, 40);
    assert_eq!(f.deliveries, 40, "every message at every other node");
    assert_eq!(f.delivery_ratio, 1.0);
    assert_eq!(report.rejected, 0);
    assert!(report.passed);
    assert!(f.converged_after_s.is_some());
    assert!(f.latency_all.p99_ms.is_some_and(|p| p >= 0.0));
    // Messages are as long as riskmesh's wire entries: body plus envelope.
    assert!(
        f.bytes.mean_entry_bytes.is_some_and(|b| b > 500.0),
        "{:?}",
        f.bytes
    );
}
