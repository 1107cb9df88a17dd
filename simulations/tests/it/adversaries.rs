//! Each adversary alone in a small scenario, with its expected outcome.

use crate::support::{assert_all_passed, assert_invariant, run, serial, small};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forger_is_rejected_and_penalized() {
    let _serial = serial().await;
    let loaded = small(
        "forger",
        8,
        600,
        "[[adversaries]]\nkind = \"forger\"\norg = \"openai\"\nat_s = 1\nfor_s = 5\nforgeries = 12\n",
    );
    let report = run(&loaded, 1, None).await.report;
    assert_all_passed(&report);
    assert_invariant(&report, "forgeries-rejected");
    let bad_signatures: u64 = report
        .nodes
        .iter()
        .map(|n| n.metrics.rejected.get("bad_signature").copied().unwrap_or(0))
        .sum();
    let bad_sync: u64 = report
        .nodes
        .iter()
        .map(|n| n.metrics.rejected.get("bad_sync_entry").copied().unwrap_or(0))
        .sum();
    let penalties: u64 = report.nodes.iter().map(|n| n.metrics.penalties).sum();
    assert!(bad_signatures > 0, "forged gossip was rejected for its signature");
    assert!(
        bad_sync > 0 && penalties > 0,
        "forged sync answers cost the forger"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intruder_is_refused() {
    let _serial = serial().await;
    let loaded = small(
        "intruder",
        6,
        600,
        "[[adversaries]]\nkind = \"intruder\"\nat_s = 1\nfor_s = 4\n",
    );
    let report = run(&loaded, 2, None).await.report;
    assert_all_passed(&report);
    assert_invariant(&report, "intruder-refused");
    let intruder = report
        .adversaries
        .iter()
        .find(|a| a.kind == "intruder")
        .expect("ran");
    assert!(intruder.counters.get("dials").copied().unwrap_or(0) >= 4);
    assert_eq!(intruder.counters.get("sync_responses").copied().unwrap_or(0), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayer_changes_nothing() {
    let _serial = serial().await;
    let loaded = small(
        "replayer",
        8,
        600,
        "[[adversaries]]\nkind = \"replayer\"\norg = \"google\"\nat_s = 3\nfor_s = 5\n",
    );
    let report = run(&loaded, 3, None).await.report;
    assert_all_passed(&report);
    assert_invariant(&report, "replay-harmless");
    // Replays are valid entries: ignored at most, never rejected or penalized.
    for n in &report.nodes {
        assert_eq!(n.metrics.penalties, 0, "{} penalized someone", n.org);
        assert!(
            n.metrics.rejected.is_empty(),
            "{} rejected {:?}",
            n.org,
            n.metrics.rejected
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_equivocation_is_proven_to_every_node() {
    let _serial = serial().await;
    let loaded = small(
        "equivocator",
        8,
        600,
        "[[adversaries]]\nkind = \"equivocator\"\norg = \"meta\"\nat_s = 1\nfor_s = 6\n",
    );
    let report = run(&loaded, 4, None).await.report;
    assert_all_passed(&report);
    assert_invariant(&report, "equivocation-proven");
    for n in &report.nodes {
        assert!(
            n.equivocations.iter().any(|(org, _)| org == "meta"),
            "{} holds no proof against meta",
            n.org
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_at_ten_times_the_rate_limit_leaves_honest_latency_bounded() {
    let _serial = serial().await;
    let loaded = small(
        "flooder",
        10,
        60,
        "[[adversaries]]\nkind = \"flooder\"\norg = \"rogue-lab\"\nat_s = 1\nfor_s = 8\nrate_multiple = 10\n\n[expect]\nlatency_p99_ms = 2500\n",
    );
    let report = run(&loaded, 5, None).await.report;
    assert_all_passed(&report);
    assert_invariant(&report, "flood-contained");
    assert_invariant(&report, "latency-bound");
    let limited: u64 = report
        .nodes
        .iter()
        .map(|n| n.metrics.ignored.get("rate_limited").copied().unwrap_or(0))
        .sum();
    assert!(limited > 0, "the rate limit acted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthorized_request_gets_nothing_even_when_granted() {
    let _serial = serial().await;
    let loaded = small(
        "unauthorized-request",
        8,
        600,
        "[[steps]]\nkind = \"hazardous\"\nauthor = \"anthropic\"\nrequester = \"amazon\"\nat_s = 0.5\n\n[[adversaries]]\nkind = \"unauthorized-request\"\norg = \"safety-institute\"\nat_s = 4\n",
    );
    let report = run(&loaded, 6, None).await.report;
    assert_all_passed(&report);
    assert_invariant(&report, "hazardous-release");
    assert_invariant(&report, "unauthorized-refused");
    assert_invariant(&report, "secrets-stay-put");
    let refused = report
        .releases
        .iter()
        .find(|r| r.kind == "unauthorized-request")
        .expect("the request was made");
    assert_eq!(refused.audit_status, "not-allowed");
    assert!(refused.fields_received.is_empty());
}
