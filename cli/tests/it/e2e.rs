//! The real binary end to end: three organizations stand up a consortium
//! with `init` and `roster`, run `riskmesh node`, an analyst publishes with
//! the CLI on one node and another reads it with the CLI on another; a
//! missing or corrupt database stops `riskmesh node` with a clear error.

use crate::support::{Nodes, OrgDir, cli, consortium, ok_json};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_on_one_node_read_on_another_with_the_cli() {
    let base = tempfile::tempdir().expect("tempdir");
    let orgs = consortium(base.path(), &["amazon", "google", "meta"]);
    let mut nodes = Nodes(orgs.iter().map(OrgDir::start).collect());
    for (org, child) in orgs.iter().zip(nodes.0.iter_mut()) {
        org.wait_ready(child).await;
    }
    let published = ok_json(
        &orgs[0],
        &[
            "publish",
            "--tier",
            "consortium",
            "--title",
            "Evaluation harness detection",
            "--summary",
            "The model behaves differently when it detects an evaluation.",
            "--category",
            "deception-manipulation",
            "--severity",
            "high",
            "--mitigation",
            "Randomize harness layout.",
            "--commitment",
            "1",
        ],
    );
    let id = published["id"].as_str().expect("id").to_string();
    let start = Instant::now();
    let listed = loop {
        let list = ok_json(&orgs[2], &["list"]);
        let entries = list["entries"].as_array().cloned().unwrap_or_default();
        if entries.iter().any(|e| e["id"] == id.as_str()) {
            break entries;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "meta never listed the entry: {list}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(listed.len(), 1);
    let shown = ok_json(&orgs[2], &["show", &id]);
    assert_eq!(shown["author"], "amazon", "{shown}");
    assert_eq!(shown["body"]["title"], "Evaluation harness detection", "{shown}");
    // The human table on the third node names the title too (polled: it may
    // still be syncing).
    let start = Instant::now();
    loop {
        let table = cli(&orgs[1], &["list"]);
        if String::from_utf8_lossy(&table.stdout).contains("Evaluation harness detection") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "google's table never showed the entry"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Offline re-verification of the whole store succeeds on every node.
    for org in &orgs {
        let out = cli(org, &["verify"]);
        assert!(
            out.status.success(),
            "verify on {}: {}",
            org.org,
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // A bad token is refused with a clear message and a non-zero exit.
    std::fs::write(orgs[1].dir.join("data").join("api-token"), "not-the-token").expect("write token");
    let out = cli(&orgs[1], &["status"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .to_lowercase()
            .contains("token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_missing_or_corrupt_database_stops_the_node_with_a_clear_error() {
    let base = tempfile::tempdir().expect("tempdir");
    let orgs = consortium(base.path(), &["solo"]);
    let org = &orgs[0];
    let db = org.dir.join("data").join("riskmesh.db");
    let run_node = || {
        let mut child = org.start();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return (
                    status,
                    std::fs::read_to_string(org.dir.join("node.log")).unwrap_or_default(),
                );
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                panic!("the node kept running on a bad database");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    std::fs::remove_file(&db).expect("remove db");
    let (status, log) = run_node();
    assert!(!status.success());
    assert!(
        log.contains("does not exist") && log.contains("riskmesh init"),
        "{log}"
    );
    assert!(!db.exists(), "the node must not silently create a fresh database");

    std::fs::write(&db, b"this is not a database, it is garbage").expect("write garbage");
    let (status, log) = run_node();
    assert!(!status.success());
    assert!(log.contains("not an SQLite database"), "{log}");
    assert_eq!(
        std::fs::read(&db).expect("read"),
        b"this is not a database, it is garbage",
        "the file was left as it was"
    );
}
