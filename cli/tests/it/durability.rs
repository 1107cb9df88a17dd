//! `kill -9` while a node ingests: after every kill the database passes
//! `PRAGMA integrity_check` and holds every entry the API acknowledged.

use crate::support::consortium;
use riskmesh_node::store::Store;
use riskmesh_protocol::Hash32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Kills per run; each kill lands at a random moment of a publishing burst.
const ROUNDS: usize = 25;

fn seed() -> u64 {
    std::env::var("RISKMESH_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_acknowledged() {
    let seed = seed();
    println!("seed {seed} (set RISKMESH_TEST_SEED to repeat)");
    let mut rng = seed;
    let mut next = move |n: u64| {
        // xorshift64*: deterministic from the printed seed.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let base = tempfile::tempdir().expect("tempdir");
    let orgs = consortium(base.path(), &["solo"]);
    let org = &orgs[0];
    let acked: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    for round in 0..ROUNDS {
        let mut child = org.start();
        org.wait_ready(&mut child).await;
        let token = org.token();
        let url = org.api("/v1/entries");
        let sink = Arc::clone(&acked);
        let publisher = tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0.. {
                let body = serde_json::json!({
                    "kind": "bulletin",
                    "tier": "consortium",
                    "title": format!("round {round} entry {i}"),
                    "summary": "durability test",
                    "category": "other",
                    "severity": "low",
                });
                let Ok(response) = client.post(&url).bearer_auth(&token).json(&body).send().await else {
                    break;
                };
                if response.status().as_u16() != 201 {
                    break;
                }
                let Ok(view) = response.json::<serde_json::Value>().await else {
                    break;
                };
                let id = view["id"].as_str().expect("id in the response").to_string();
                sink.lock().expect("lock").push(id);
            }
        });
        tokio::time::sleep(Duration::from_millis(30 + next(400))).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let _ = publisher.await;
        let store = Store::open(org.dir.join("data").join("riskmesh.db")).expect("reopens after kill -9");
        store.integrity_check().expect("integrity_check ok");
        let ids = acked.lock().expect("lock").clone();
        for id in &ids {
            let hash = Hash32::from_hex(id).expect("hex id");
            assert!(
                store.get(&hash).expect("read").is_some(),
                "round {round}: acknowledged entry {id} lost"
            );
        }
        // A kill between commit and response leaves at most one committed,
        // unacknowledged entry per round.
        let count = store.count().expect("count") as usize;
        assert!(
            count >= ids.len() && count <= ids.len() + round + 1,
            "round {round}: {count} stored for {} acknowledged",
            ids.len()
        );
        store.close().expect("close");
    }
    let total = acked.lock().expect("lock").len();
    assert!(
        total > ROUNDS,
        "too few entries acknowledged ({total}) to mean anything"
    );
    println!("{total} acknowledged entries survived {ROUNDS} kill -9s");
}
