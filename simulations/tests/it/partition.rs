//! Partition and heal: two groups publish apart, then heal and converge.

use crate::support::{assert_all_passed, run, serial};
use riskmesh_sim::scenario;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_heals_and_every_node_converges() {
    let _serial = serial().await;
    let loaded = scenario::load("partition-heal").expect("builtin");
    let outcome = run(&loaded, 7, None).await;
    let report = &outcome.report;
    assert_all_passed(report);
    let partition = report
        .faults
        .iter()
        .find(|f| f.kind == "partition")
        .expect("the partition happened");
    assert!(partition.end_s - partition.start_s >= 7.5, "{partition:?}");
    // Entries published on one side during the split reached the other
    // only after the heal: the partition really cut the links.
    let max = report.figures.latency_all.max_ms.expect("deliveries");
    assert!(max > 2000.0, "no delivery waited for the heal (max {max} ms)");
    assert!(report.figures.bytes.wire > 0, "traffic went through the proxies");
}
