//! The membership scenario on a small network: four members and a late
//! observer in a 14 s publishing phase (the builtin runs nine nodes for
//! 32 s). A member leaves and keeps signing, a member rotates its keys, its
//! old key is declared compromised and forged with, the observer joins
//! last; every membership invariant must hold.

use crate::support::{assert_all_passed, assert_invariant, parse, run, serial};

const SMALL: &str = r#"
name = "membership-small"
description = "CI: membership"

[network]
members = ["amazon", "google", "meta", "openai"]
observers = ["safety-institute"]
links = "direct"
sync_interval_ms = 1000

[workload]
warmup_s = 1
duration_s = 14
settle_s = 25
per_node_interval_s = 1.0
tiers = { public = 1, consortium = 2, restricted = 0, hazardous = 0 }
kinds = { bulletin = 8, correction = 1, retraction = 0, ack = 3 }

[membership]
proposer = "amazon"
relay = "google"
leave = { member = "openai", at_s = 3 }
rotate = { member = "meta", at_s = 5 }
compromise = { at_s = 8.5, from_seq = 2, forgeries = 4 }
join = { observer = "safety-institute", at_s = 11 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_leave_rotate_and_join_without_anyone_struck() {
    let _serial = serial().await;
    let report = run(&parse(SMALL), 10, None).await.report;
    assert_all_passed(&report);
    for name in [
        "updates-applied",
        "publications",
        "converged",
        "same-roster",
        "chains-verify",
        "same-entries",
        "no-honest-peer-struck",
        "removed-history-kept",
        "removed-entries-refused",
        "rotated-key-continues",
        "compromised-prefix-cut",
        "forgeries-refused",
        "late-joiner-caught-up",
        "delivery",
    ] {
        assert_invariant(&report, name);
    }
    let relay = report
        .adversaries
        .iter()
        .find(|a| a.kind == "stale-relay")
        .expect("the relay ran");
    assert_eq!(relay.get("forged_sent"), 4, "{:?}", relay.counters);
    let refused: u64 = report
        .nodes
        .iter()
        .map(|n| n.metrics.ignored.get("retired_key").copied().unwrap_or(0))
        .sum();
    assert!(
        refused > 0,
        "the relayed entries reached the honest nodes and were refused"
    );
}
