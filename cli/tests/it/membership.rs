//! Changing the roster of a running consortium with the real binary (issue
//! 10): a member removed by a quorum through `roster propose | sign |
//! status | apply`, its node told and cut off, its history still valid
//! everywhere; a new member joining from the genesis alone; an org's key
//! rotated (its node restarted on the new key) with its old entries still
//! verifying; publishing going on.

use crate::support::{Nodes, OrgDir, cli, consortium, init_org, ok_json, run};
use riskmesh_protocol::keys::OrgSecrets;
use riskmesh_protocol::roster::{Roster, SignedRoster};
use riskmesh_protocol::validate::{RejectReason, verify_wire};
use riskmesh_protocol::{Body, Draft, Hash32, Kind, LogWriter, Tier, WireEntry, testkit};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

/// Polls `check` until it gives a value or `WAIT` passes.
async fn until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn status(org: &OrgDir) -> Value {
    ok_json(org, &["status"])
}

fn publish(org: &OrgDir, title: &str) -> String {
    let out = ok_json(
        org,
        &[
            "publish",
            "--tier",
            "consortium",
            "--title",
            title,
            "--summary",
            "A finding.",
            "--category",
            "other",
            "--severity",
            "low",
        ],
    );
    out["id"].as_str().expect("id").to_string()
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn sign(draft: &Path, org: &OrgDir) {
    run(&[
        "roster",
        "sign",
        &path(draft),
        "--key",
        &path(&org.dir.join("org.key")),
    ]);
}

fn failure(org: &OrgDir, args: &[&str]) -> String {
    let out = cli(org, args);
    assert!(!out.status.success(), "riskmesh {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Whether every node in `orgs` holds roster `version`.
fn all_at(orgs: &[&OrgDir], version: u64) -> Option<()> {
    orgs.iter()
        .all(|o| status(o)["roster_version"] == version)
        .then_some(())
}

fn verify_ok(org: &OrgDir) {
    let out = cli(org, &["verify"]);
    assert!(
        out.status.success(),
        "verify on {}: {}{}",
        org.org,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The roster a node has in force, verified from the genesis through the
/// chain this test applied.
fn verified(genesis: &Path, updates: &[&Path]) -> Roster {
    let read = |p: &Path| SignedRoster::from_bytes(&std::fs::read(p).expect("read roster")).expect("roster");
    let genesis = Roster::genesis(&read(genesis)).expect("genesis");
    let updates: Vec<SignedRoster> = updates.iter().map(|p| read(p)).collect();
    genesis.replay(&updates).expect("chain")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_a_member_add_one_rotate_a_key_with_a_running_consortium() {
    let started = Instant::now();
    let base = tempfile::tempdir().expect("tempdir");
    let orgs = consortium(base.path(), &["amazon", "google", "inflection", "meta"]);
    let [amazon, google, inflection, meta] = [&orgs[0], &orgs[1], &orgs[2], &orgs[3]];
    let genesis = base.path().join("genesis.cbor");
    // The newcomer has only the genesis, on which it is not.
    let newlab = init_org(base.path(), "newlab", None);
    let refused = String::from_utf8_lossy(
        &std::process::Command::new(crate::support::bin())
            .args([
                "roster",
                "install",
                &path(&genesis),
                "--config",
                &newlab.config_str(),
            ])
            .output()
            .expect("run")
            .stderr,
    )
    .into_owned();
    assert!(refused.contains("--join"), "{refused}");
    run(&[
        "roster",
        "install",
        &path(&genesis),
        "--config",
        &newlab.config_str(),
        "--join",
    ]);

    for org in orgs.iter().chain([&newlab]) {
        org.without_disk_floor();
    }
    // Newlab's node runs from the start: joining, refused by every peer.
    let mut nodes = Nodes(orgs.iter().chain([&newlab]).map(OrgDir::start).collect());
    for (org, child) in orgs.iter().chain([&newlab]).zip(nodes.0.iter_mut()) {
        org.wait_ready(child).await;
    }
    let joining = status(&newlab);
    assert_eq!(
        (&joining["membership"], &joining["connected_peers"]),
        (&Value::from("joining"), &Value::from(0)),
        "{joining}"
    );
    let err = failure(
        &newlab,
        &[
            "publish",
            "--title",
            "too early",
            "--summary",
            "s",
            "--category",
            "other",
            "--severity",
            "low",
        ],
    );
    assert!(err.contains("joining") && err.contains("HTTP 409"), "{err}");
    for org in &orgs {
        publish(org, &format!("{}'s first finding", org.org));
    }
    until("every node to hold the four entries", || {
        orgs.iter().all(|o| status(o)["entries"] == 4).then_some(())
    })
    .await;

    // Remove inflection: drafted against amazon's node, which holds
    // inflection's log up to seq 1.
    let v2 = base.path().join("v2.draft");
    let proposal = ok_json(
        amazon,
        &["roster", "propose", "--remove", "inflection", "--out", &path(&v2)],
    );
    assert_eq!(proposal["version"], 2, "{proposal}");
    assert_eq!(
        proposal["removed"],
        serde_json::json!(["inflection"]),
        "{proposal}"
    );
    assert_eq!(proposal["retired"][0]["last_seq"], 1, "{proposal}");
    assert_eq!(proposal["signatures_needed"], 3, "{proposal}");
    // Proposals that cannot be, each refused with what to do.
    let scratch = path(&base.path().join("scratch.draft"));
    for (args, phrase) in [
        (
            vec!["--remove", "inflection", "--out", &path(&v2)],
            "already exists",
        ),
        (vec!["--out", &scratch], "nothing to change"),
        (vec!["--remove", "nobody", "--out", &scratch], "no such org"),
        (vec!["--compromised", "meta:1", "--out", &scratch], "must leave"),
        (
            vec!["--compromised", "meta", "--out", &scratch],
            "must look like ORG:SEQ",
        ),
    ] {
        let mut command = vec!["roster", "propose"];
        command.extend(args);
        let err = failure(amazon, &command);
        assert!(err.contains(phrase), "{command:?}: {err}");
    }
    let junk = base.path().join("junk.draft");
    std::fs::write(&junk, b"not a roster").expect("write");
    let err = failure(amazon, &["roster", "apply", &path(&junk)]);
    assert!(err.contains("not a usable roster file"), "{err}");
    sign(&v2, amazon);
    sign(&v2, google);
    let draft = ok_json(amazon, &["roster", "status", &path(&v2)]);
    assert_eq!(
        (
            &draft["draft"]["have"],
            &draft["draft"]["more"],
            &draft["draft"]["would_apply"]
        ),
        (&Value::from(2), &Value::from(1), &Value::from(false)),
        "{draft}"
    );
    assert_eq!(draft["draft"]["roster_error"], "no_quorum", "{draft}");
    let err = failure(amazon, &["roster", "apply", &path(&v2)]);
    assert!(
        err.contains(
            "2 of 4 member signatures; more than 2/3 are required: need 1 more (missing: inflection, meta)"
        ),
        "{err}"
    );
    sign(&v2, meta);
    let draft = ok_json(amazon, &["roster", "status", &path(&v2)]);
    assert_eq!(draft["draft"]["would_apply"], true, "{draft}");
    let applied = ok_json(amazon, &["roster", "apply", &path(&v2)]);
    assert_eq!(applied["outcome"], "applied", "{applied}");
    until("the remaining nodes to apply version 2", || {
        all_at(&[amazon, google, meta], 2)
    })
    .await;

    // Inflection's node is told (within the grace), then cut off.
    until("inflection's node to know it is retired", || {
        (status(inflection)["membership"] == "retired").then_some(())
    })
    .await;
    let inflection_peer = status(inflection)["peer_id"]
        .as_str()
        .expect("peer id")
        .to_string();
    until("every node to drop inflection's node", || {
        [amazon, google, meta]
            .iter()
            .all(|o| {
                let s = status(o);
                let peers = s["peers"].as_array().cloned().unwrap_or_default();
                !peers.iter().any(|p| p["peer_id"] == inflection_peer.as_str())
            })
            .then_some(())
    })
    .await;
    let err = failure(
        inflection,
        &[
            "publish",
            "--title",
            "after removal",
            "--summary",
            "s",
            "--category",
            "other",
            "--severity",
            "low",
        ],
    );
    assert!(err.contains("retired"), "{err}");
    // What inflection's key signs from now on is rejected under the roster
    // the others hold; its first entry stays valid.
    let v2_roster = verified(&genesis, &[&v2]);
    let secrets =
        OrgSecrets::from_key_file(&std::fs::read_to_string(inflection.dir.join("org.key")).expect("org key"))
            .expect("key file");
    let head = status(amazon)["authors"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["org"] == "inflection").cloned())
        .expect("inflection's log is listed");
    assert_eq!(
        (
            &head["retired"]["reason"],
            &head["retired"]["last_seq"],
            &head["seq"]
        ),
        (&Value::from("removed"), &Value::from(1), &Value::from(1)),
        "{head}"
    );
    let head_id = Hash32::from_hex(head["head_id"].as_str().expect("head id")).expect("hex");
    let genesis_roster = verified(&genesis, &[]);
    let mut log = LogWriter::resume(genesis_roster.network(), 1, head_id, 0);
    let draft = Draft {
        kind: Kind::Bulletin,
        tier: Tier::Consortium,
        body: Body::Bulletin(testkit::sample_bulletin("signed after removal")),
        recipients: None,
    };
    let late = log
        .append(&secrets.signing, &genesis_roster, &draft, 1_800_000_000_000)
        .expect("valid under the genesis");
    assert!(matches!(
        verify_wire(&v2_roster, &late.to_wire()),
        Err(RejectReason::RetiredKey { seq: 2, last_seq: 1 })
    ));
    let export = ok_json(amazon, &["export"]);
    let first = export["entries"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["author"] == "inflection").cloned())
        .expect("inflection's entry is still held");
    let wire = WireEntry::from_bytes(&hex::decode(first["wire"].as_str().expect("wire")).expect("hex"))
        .expect("wire entry");
    assert!(verify_wire(&v2_roster, &wire).is_ok());
    for org in &orgs {
        verify_ok(org);
    }

    // Add newlab, proposed on google; newlab's node, running from the
    // genesis, is let in and fetches the chain and the history.
    let v3 = base.path().join("v3.draft");
    let member = path(&newlab.dir.join("member.json"));
    let proposal = ok_json(
        google,
        &["roster", "propose", "--member", &member, "--out", &path(&v3)],
    );
    assert_eq!(proposal["added"], serde_json::json!(["newlab"]), "{proposal}");
    for org in [amazon, google, meta] {
        sign(&v3, org);
    }
    ok_json(google, &["roster", "apply", &path(&v3)]);
    until("the members to apply version 3", || {
        all_at(&[amazon, google, meta], 3)
    })
    .await;
    until("newlab to fetch the chain and the history", || {
        let s = status(&newlab);
        (s["membership"] == "member" && s["roster_version"] == 3 && s["entries"] == 4).then_some(())
    })
    .await;
    verify_ok(&newlab);

    // Publishing goes on, both ways.
    let from_newlab = publish(&newlab, "newlab's first finding");
    let from_meta = publish(meta, "meta after the changes");
    until("amazon and newlab to hold each other's news", || {
        let holds = |org: &OrgDir, id: &str| cli(org, &["show", id]).status.success();
        (holds(amazon, &from_newlab) && holds(&newlab, &from_meta)).then_some(())
    })
    .await;

    // Rotate google's keys, all three: signing, encryption and node
    // (libp2p) key, as `riskmesh init` made them in a new directory. Its
    // old entries stay valid; its node, on the old keys, is retired, and
    // peers drop the old peer id for the new one.
    let rotated = init_org(base.path(), "google", Some("google-new"));
    let new_member = rotated.dir.join("member.json");
    let old_peer = status(google)["peer_id"].as_str().expect("peer id").to_string();
    let v4 = base.path().join("v4.draft");
    let proposal = ok_json(
        meta,
        &[
            "roster",
            "propose",
            "--member",
            &path(&new_member),
            "--out",
            &path(&v4),
        ],
    );
    assert_eq!(proposal["rekeyed"], serde_json::json!(["google"]), "{proposal}");
    assert_eq!(
        (
            &proposal["retired"][0]["reason"],
            &proposal["retired"][0]["last_seq"]
        ),
        (&Value::from("rotated"), &Value::from(1)),
        "{proposal}"
    );
    for org in [amazon, google, meta] {
        sign(&v4, org);
    }
    ok_json(meta, &["roster", "apply", &path(&v4)]);
    until("every node to apply version 4", || {
        all_at(&[amazon, google, meta, &newlab], 4)
    })
    .await;
    assert_eq!(status(google)["membership"], "retired");
    for org in [amazon, google, meta, &newlab] {
        verify_ok(org);
    }
    // Google's operator points its node at the new keys (and the listen
    // address the new member file advertises) and restarts it: a member
    // again, under a new peer id, publishing a new log everyone accepts.
    let fresh = std::fs::read_to_string(rotated.config()).expect("the new config");
    let listen = fresh
        .lines()
        .find(|line| line.starts_with("listen = "))
        .expect("a listen line")
        .to_string();
    let config = std::fs::read_to_string(google.config()).expect("config");
    let config: String = config
        .lines()
        .map(|line| {
            if line.starts_with("org_key = ") {
                format!("org_key = {:?}\n", path(&rotated.dir.join("org.key")))
            } else if line.starts_with("node_key = ") {
                format!("node_key = {:?}\n", path(&rotated.dir.join("node.key")))
            } else if line.starts_with("listen = ") {
                format!("{listen}\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    std::fs::write(google.config(), config).expect("write config");
    let child = &mut nodes.0[1];
    child.kill().expect("stop google's node");
    child.wait().expect("reap");
    *child = google.start();
    google.wait_ready(child).await;
    assert_eq!(status(google)["membership"], "member");
    let new_peer = status(google)["peer_id"].as_str().expect("peer id").to_string();
    assert_ne!(new_peer, old_peer, "the node key rotated");
    until("amazon to connect to google's new peer id", || {
        let peers = status(amazon)["peers"].clone();
        let listed = peers.as_array().cloned().unwrap_or_default();
        let connected = listed
            .iter()
            .any(|p| p["org"] == "google" && p["peer_id"] == new_peer.as_str() && p["connected"] == true);
        let old_gone = !listed.iter().any(|p| p["peer_id"] == old_peer.as_str());
        (connected && old_gone).then_some(())
    })
    .await;
    let rekeyed = publish(google, "google under its new key");
    until("amazon to hold google's entry under the new key", || {
        cli(amazon, &["show", &rekeyed]).status.success().then_some(())
    })
    .await;
    for org in [amazon, google] {
        verify_ok(org);
    }
    let elapsed = started.elapsed();
    println!("roster changes end to end: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
}
