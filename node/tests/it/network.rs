//! Multi-node behaviour over real sockets: convergence, catch-up after
//! downtime, partitions healing.

use riskmesh_node::testnet::{Cluster, counts, publish, wait_for};
use std::time::Duration;

/// Every node's (org, seq) heads.
async fn heads(cluster: &Cluster, i: usize) -> Vec<(String, u64)> {
    cluster
        .status(i)
        .await
        .authors
        .into_iter()
        .map(|a| (a.org, a.seq))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_nodes_converge() {
    let cluster = Cluster::start(&["amazon", "anthropic", "google", "meta"]).await;
    for round in 0..5 {
        for i in 0..4 {
            publish(&cluster.handle(i), &format!("node {i} round {round}")).await;
        }
    }
    wait_for(
        Duration::from_secs(30),
        "all 4 nodes to hold 20 entries",
        || async { counts(&cluster).await.iter().all(|&n| n == 20) },
    )
    .await;
    let expected: Vec<(String, u64)> = ["amazon", "anthropic", "google", "meta"]
        .iter()
        .map(|o| (o.to_string(), 5))
        .collect();
    for i in 0..4 {
        assert_eq!(heads(&cluster, i).await, expected, "node {i}");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_node_catches_up_on_a_thousand_entries() {
    let mut cluster = Cluster::start(&["google", "meta", "openai"]).await;
    cluster.stop(2).await;
    for i in 0..1000 {
        publish(&cluster.handle(i % 2), &format!("while openai was down {i}")).await;
    }
    wait_for(
        Duration::from_secs(30),
        "both online nodes to hold 1000",
        || async { counts(&cluster).await.iter().all(|&n| n == 1000) },
    )
    .await;
    cluster.restart(2).await;
    wait_for(
        Duration::from_secs(60),
        "the restarted node to catch up",
        || async { cluster.status(2).await.entries == 1000 },
    )
    .await;
    let expected = heads(&cluster, 0).await;
    assert_eq!(heads(&cluster, 2).await, expected);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_pair_heals() {
    // Two halves that cannot reach each other publish independently, then
    // learn each other's addresses.
    let mut cluster = Cluster::start(&["amazon", "microsoft"]).await;
    cluster.stop(1).await;
    for i in 0..10 {
        publish(&cluster.handle(0), &format!("left {i}")).await;
    }
    let right = cluster.launch(1).await;
    for i in 0..7 {
        publish(&right.handle, &format!("right {i}")).await;
    }
    assert_eq!(right.handle.status().await.expect("status").entries, 7);
    cluster.nodes[1] = Some(right);
    cluster.connect_all().await;
    wait_for(Duration::from_secs(30), "both sides to hold 17", || async {
        counts(&cluster).await.iter().all(|&n| n == 17)
    })
    .await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roster_update_reaches_every_node() {
    use riskmesh_protocol::roster::SignedRoster;
    use riskmesh_protocol::testkit;
    let cluster = Cluster::start(&["amazon", "google", "meta"]).await;
    let mut doc = cluster.roster.doc().clone();
    doc.version = 2;
    doc.prev = Some(cluster.roster.hash());
    let newcomer = testkit::genesis_doc(testkit::NETWORK, &["openai"], &[], 0)
        .members
        .remove(0);
    doc.members.push(newcomer);
    doc.members.sort_by(|a, b| a.org.cmp(&b.org));
    let mut update = SignedRoster::new(&doc);
    update.sign(&testkit::org_secrets("amazon").signing);
    update.sign(&testkit::org_secrets("google").signing);
    // Two of three is not more than two thirds: refused, nothing changes.
    let refused = cluster.handle(0).offer_roster(update.clone()).await;
    assert!(refused.is_err(), "{refused:?}");
    update.sign(&testkit::org_secrets("meta").signing);
    assert_eq!(cluster.handle(0).offer_roster(update).await, Ok(2));
    wait_for(
        Duration::from_secs(30),
        "every node to use roster version 2",
        || async {
            let mut all = true;
            for i in 0..3 {
                all &= cluster.status(i).await.roster_version == 2;
            }
            all
        },
    )
    .await;
    cluster.shutdown().await;
}

/// Regression: catching up on many authors at once used to queue one write
/// job per entry, overflow the writer's queue and stop the node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catching_up_thousands_of_entries_across_authors_does_not_stop_the_node() {
    use riskmesh_node::store::Store;
    use riskmesh_protocol::{Body, Draft, Kind, LogWriter, Tier, testkit};
    let names: Vec<String> = (0..10).map(|i| format!("author-{i:02}")).collect();
    let orgs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut cluster = Cluster::start_some(&orgs, 0, &[]).await;
    let mut entries = Vec::new();
    for name in &names {
        let key = testkit::org_secrets(name);
        let mut log = LogWriter::new(cluster.roster.network());
        for i in 0..400 {
            let draft = Draft {
                kind: Kind::Bulletin,
                tier: Tier::Public,
                body: Body::Bulletin(testkit::sample_bulletin(&format!("{name} {i}"))),
                recipients: None,
            };
            entries.push(
                log.append(&key.signing, &cluster.roster, &draft, 1_700_000_000_000 + i)
                    .expect("entry"),
            );
        }
    }
    let mut store = Store::open(cluster.data_dir(&names[0]).join("riskmesh.db")).expect("open");
    store.insert_entries(&entries, 1_700_000_000_000).expect("insert");
    store.close().expect("close");
    cluster.nodes[0] = Some(cluster.launch(0).await);
    cluster.nodes[1] = Some(cluster.launch(1).await);
    cluster.connect_all().await;
    wait_for(
        Duration::from_secs(120),
        "the fresh node to hold all 4000 entries",
        || async { cluster.handle(1).status().await.map(|s| s.entries).unwrap_or(0) == 4000 },
    )
    .await;
    cluster.shutdown().await;
}

/// Issue 9, item 4 (regression): after a valid roster update that removed a
/// member, a lagging node struck the honest peers that served the removed
/// member's history (`unknown_author` under its new roster) and banned them
/// within seconds. Now no honest peer is struck for relaying what was valid
/// under the roster it knew (`retired_key`, like `unknown_author`, is
/// roster-dependent), and since issue 10 the removed member's history up
/// to the boundary the update names stays valid and is caught up, while
/// nothing past it is asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roster_change_never_gets_honest_peers_struck() {
    use riskmesh_protocol::testkit;
    use std::sync::atomic::Ordering;
    let mut cluster = Cluster::start(&["amazon", "google", "meta", "openai"]).await;
    let (amazon, google, meta, openai) = (0, 1, 2, 3);
    // meta is down while openai publishes.
    cluster.stop(meta).await;
    for i in 0..5 {
        publish(&cluster.handle(openai), &format!("openai {i}")).await;
    }
    wait_for(
        Duration::from_secs(30),
        "amazon and google to hold openai's log",
        || async {
            let mut all = true;
            for i in [amazon, google] {
                all &= heads(&cluster, i).await.contains(&("openai".to_string(), 5));
            }
            all
        },
    )
    .await;
    // Three of four members remove openai, keeping its first three entries
    // (spec §9.6): the last two are invalid under version 2, valid under 1.
    let kept = {
        let store =
            riskmesh_node::store::Store::open_read_only(cluster.data_dir("amazon").join("riskmesh.db"))
                .expect("db");
        let author = testkit::org_secrets("openai").signing.public();
        store
            .by_author_seq(&author, 3)
            .expect("read")
            .expect("openai's third entry")
            .meta
            .id
    };
    let update = testkit::next_roster(
        &cluster.roster,
        |doc| doc.members.retain(|m| m.org != "openai"),
        &|_| Some((3, kept)),
        &[
            &testkit::org_secrets("amazon"),
            &testkit::org_secrets("google"),
            &testkit::org_secrets("meta"),
        ],
    );
    assert_eq!(cluster.handle(amazon).offer_roster(update.clone()).await, Ok(2));
    // meta learns the new roster while down (as if from a peer before it
    // caught up), so it judges openai's history under version 2.
    {
        let v2 = cluster.roster.apply_update(&update).expect("valid update");
        let mut store =
            riskmesh_node::store::Store::open(cluster.data_dir("meta").join("riskmesh.db")).expect("db");
        store.save_roster(&v2).expect("save roster");
    }
    cluster.restart(meta).await;
    assert_eq!(cluster.status(meta).await.roster_version, 2);
    let metrics = cluster.handle(meta).metrics;
    wait_for(
        Duration::from_secs(30),
        "meta to catch up openai's history up to its boundary",
        || async { heads(&cluster, meta).await.contains(&("openai".to_string(), 3)) },
    )
    .await;
    assert_eq!(
        metrics.penalties.load(Ordering::Relaxed),
        0,
        "an honest peer was struck"
    );
    // meta keeps (or makes) its connections to both honest peers: nobody
    // was banned. Connections form in their own time: wait, then check
    // again that nobody was struck meanwhile.
    wait_for(
        Duration::from_secs(30),
        "meta to be connected to amazon and google",
        || async {
            let status = cluster.status(meta).await;
            ["amazon", "google"]
                .iter()
                .all(|org| status.peers.iter().any(|p| p.org == *org && p.connected))
        },
    )
    .await;
    assert_eq!(
        metrics.penalties.load(Ordering::Relaxed),
        0,
        "an honest peer was struck"
    );
    cluster.shutdown().await;
}

/// Issue 10 (history across roster versions, spec §9.6): openai publishes
/// five entries, then a quorum removes it, keeping its first three. On every
/// node (including one that was down and learns the roster on its return)
/// openai's first three entries stay held and valid, the two after the
/// boundary are dropped, its later entries are refused, and nobody is
/// struck or banned on the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_members_history_stays_and_its_entries_past_the_boundary_go() {
    use riskmesh_protocol::testkit;
    use std::sync::atomic::Ordering;
    let mut cluster = Cluster::start(&["amazon", "google", "meta", "openai"]).await;
    let (amazon, google, meta, openai) = (0, 1, 2, 3);
    let mut kept = Vec::new();
    for i in 0..5 {
        kept.push(publish(&cluster.handle(openai), &format!("openai {i}")).await);
    }
    wait_for(
        Duration::from_secs(30),
        "every node to hold openai's five entries",
        || async { counts(&cluster).await.iter().all(|&n| n == 5) },
    )
    .await;
    cluster.stop(meta).await;
    let boundary = &kept[2];
    let update = testkit::next_roster(
        &cluster.roster,
        |doc| doc.members.retain(|m| m.org != "openai"),
        &|_| Some((boundary.header().seq, boundary.id())),
        &[],
    );
    assert_eq!(cluster.handle(amazon).offer_roster(update.clone()).await, Ok(2));
    wait_for(Duration::from_secs(30), "google to apply version 2", || async {
        cluster.status(google).await.roster_version == 2
    })
    .await;
    cluster.restart(meta).await;
    for i in [amazon, google, meta] {
        wait_for(
            Duration::from_secs(30),
            "the roster and the cut to reach every node",
            || async {
                let status = cluster.status(i).await;
                status.roster_version == 2 && status.entries == 3
            },
        )
        .await;
        assert!(
            heads(&cluster, i).await.contains(&("openai".to_string(), 3)),
            "node {i} keeps openai's history up to the boundary"
        );
        let metrics = &cluster.handle(i).metrics;
        assert_eq!(
            metrics.penalties.load(Ordering::Relaxed),
            0,
            "node {i} struck a peer"
        );
    }
    // openai's node learns of its removal (peers keep it for a short grace
    // so that it does) and refuses to publish under its retired key; the
    // others drop it. An entry signed past the boundary anyway is
    // `retired_key` (protocol test
    // `a_removed_members_past_entries_stay_valid_and_its_later_ones_are_rejected`).
    wait_for(
        Duration::from_secs(30),
        "openai's node to learn of its removal",
        || async { cluster.status(openai).await.roster_version == 2 },
    )
    .await;
    let draft = riskmesh_protocol::Draft {
        kind: riskmesh_protocol::Kind::Bulletin,
        tier: riskmesh_protocol::Tier::Consortium,
        body: riskmesh_protocol::Body::Bulletin(testkit::sample_bulletin("openai after its removal")),
        recipients: None,
    };
    assert!(
        cluster.handle(openai).publish(draft).await.is_err(),
        "a removed member published"
    );
    wait_for(
        Duration::from_secs(30),
        "every node to drop the removed member",
        || async {
            let mut dropped = true;
            for i in [amazon, google, meta] {
                dropped &= !cluster
                    .status(i)
                    .await
                    .peers
                    .iter()
                    .any(|p| p.org == "openai" && p.connected);
            }
            dropped
        },
    )
    .await;
    for i in [amazon, google, meta] {
        assert_eq!(cluster.status(i).await.entries, 3, "node {i}");
    }
    cluster.shutdown().await;
}
