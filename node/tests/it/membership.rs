//! Membership over time against real nodes (issue 10): the roster API
//! (`GET /v1/roster`, `POST /v1/roster`, `GET /v1/logs/{author}/{seq}`)
//! and its refusals, a removed member's node refused when it publishes, a
//! new member's node joining from the genesis alone, and a node whose key
//! is on no roster version staying out.

use crate::api::{Api, api, assert_error};
use reqwest::{Method, StatusCode};
use riskmesh_node::api::RosterView;
use riskmesh_node::api::views::{EntryDetail, Membership};
use riskmesh_node::runtime::{NodeError, Refusal};
use riskmesh_node::store::Store;
use riskmesh_node::testnet::{Cluster, node_key, publish, wait_for};
use riskmesh_node::{RunningNode, start};
use riskmesh_protocol::limits::MAX_ROSTER_BYTES;
use riskmesh_protocol::roster::{PeerIdBytes, Role, Roster, SignedRoster};
use riskmesh_protocol::{Hash32, testkit};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

async fn offer(api: &Api, signed: &SignedRoster, dry_run: bool) -> (StatusCode, Value) {
    let body = json!({ "signed": hex::encode(signed.to_bytes()), "dry_run": dry_run });
    raw_offer(api, serde_json::to_vec(&body).expect("json")).await
}

async fn raw_offer(api: &Api, body: Vec<u8>) -> (StatusCode, Value) {
    api.raw(Method::POST, "/v1/roster", Some(&api.token.clone()), Some(body))
        .await
}

async fn roster_view(api: &Api) -> RosterView {
    let (status, body) = api.get("/v1/roster").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body).expect("a roster view")
}

/// `from`'s successor with `edit` applied, the keys that leave retired at
/// the heads `view` reports, signed by `signers` only.
fn next(
    from: &Roster,
    view: &RosterView,
    edit: impl FnOnce(&mut riskmesh_protocol::roster::RosterDoc),
    signers: &[&str],
) -> SignedRoster {
    let head = |key: &riskmesh_protocol::OrgKey| {
        let held = view.heads.iter().find(|h| h.key == key.to_hex())?;
        Some((held.seq, Hash32::from_hex(held.id.as_deref()?)?))
    };
    let mut signed = testkit::next_roster(from, edit, &head, &[]);
    let keep: Vec<_> = signers
        .iter()
        .map(|org| testkit::org_secrets(org).signing.public())
        .collect();
    signed.signatures.retain(|s| keep.contains(&s.signer));
    signed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_roster_api_serves_heads_checks_offers_and_a_removed_member_is_refused() {
    let cluster = Cluster::start(&["amazon", "google", "meta", "openai"]).await;
    let (amazon, meta) = (api(&cluster, 0), api(&cluster, 2));
    publish(&cluster.handle(2), "meta one").await;
    let last = publish(&cluster.handle(2), "meta two").await;
    let last_hex = last.id().to_hex();
    wait_for(WAIT, "amazon to hold meta's two entries", || {
        amazon.has(&last_hex)
    })
    .await;

    let view = roster_view(&amazon).await;
    assert_eq!((view.version, view.participants.len()), (1, 4));
    assert_eq!((view.signatures_needed, view.voters.len()), (3, 4));
    assert_eq!(view.membership, Membership::Member);
    let signed = SignedRoster::from_bytes(&hex::decode(&view.signed).expect("hex")).expect("decodes");
    assert_eq!(signed, cluster.genesis);
    let meta_key = testkit::org_secrets("meta").signing.public().to_hex();
    let head = view
        .heads
        .iter()
        .find(|h| h.key == meta_key)
        .expect("meta's head");
    assert_eq!((head.seq, head.id.clone()), (2, Some(last.id().to_hex())));

    // Bad input: each a clear error, nothing changed.
    assert_error(
        raw_offer(&amazon, b"{not json".to_vec()).await,
        StatusCode::BAD_REQUEST,
        "not a roster offer",
    );
    assert_error(
        raw_offer(&amazon, br#"{"signed": "00", "sign": 1}"#.to_vec()).await,
        StatusCode::BAD_REQUEST,
        "unknown field `sign`",
    );
    assert_error(
        raw_offer(&amazon, br#"{"signed": "not hex"}"#.to_vec()).await,
        StatusCode::BAD_REQUEST,
        "not hex",
    );
    let (status, body) = raw_offer(&amazon, br#"{"signed": "a1b2c3"}"#.to_vec()).await;
    assert_eq!(
        (status, &body["roster_error"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("encoding")),
        "{body}"
    );
    let decoded_too_big = json!({ "signed": "ab".repeat(MAX_ROSTER_BYTES + 1) });
    assert_error(
        raw_offer(&amazon, serde_json::to_vec(&decoded_too_big).expect("json")).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "at most 262144 bytes",
    );
    let body_too_big = json!({ "signed": "ab".repeat(MAX_ROSTER_BYTES + 2100) });
    assert_error(
        raw_offer(&amazon, serde_json::to_vec(&body_too_big).expect("json")).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "a signed roster is at most 256 KiB",
    );
    assert_error(
        amazon
            .raw(Method::POST, "/v1/roster", None, Some(b"{}".to_vec()))
            .await,
        StatusCode::UNAUTHORIZED,
        "missing",
    );
    let (status, body) = offer(&amazon, &cluster.genesis, false).await;
    assert_eq!(
        (status, &body["outcome"]),
        (StatusCode::OK, &json!("already_in_force")),
        "{body}"
    );

    // Meta removed, its key retired at the head amazon holds.
    let without_meta =
        |doc: &mut riskmesh_protocol::roster::RosterDoc| doc.members.retain(|m| m.org != "meta");
    let two = next(&cluster.roster, &view, without_meta, &["amazon", "google"]);
    let (status, body) = offer(&amazon, &two, false).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        (
            &body["roster_error"],
            &body["have"],
            &body["needed"],
            &body["more"]
        ),
        (&json!("no_quorum"), &json!(2), &json!(3), &json!(1)),
        "{body}"
    );
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .contains("2 of 4 member signatures"),
        "{body}"
    );
    let mut stranger = two.clone();
    stranger.sign(&testkit::org_secrets("mallory").signing);
    let (status, body) = offer(&amazon, &stranger, true).await;
    assert_eq!(
        (status, &body["roster_error"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("unknown_signer")),
        "{body}"
    );
    let mut forged = two.clone();
    forged.sign(&testkit::org_secrets("meta").signing);
    forged.signatures[0].signature[0] ^= 1;
    let (status, body) = offer(&amazon, &forged, true).await;
    assert_eq!(
        (status, &body["roster_error"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("bad_signature")),
        "{body}"
    );

    let two = next(
        &cluster.roster,
        &view,
        without_meta,
        &["amazon", "google", "meta"],
    );
    let (status, body) = offer(&amazon, &two, true).await;
    assert_eq!(
        (status, &body["outcome"]),
        (StatusCode::OK, &json!("would_apply")),
        "{body}"
    );
    assert_eq!(roster_view(&amazon).await.version, 1, "a dry run changes nothing");
    // A version that skips one does not follow.
    let v2 = cluster.roster.apply_update(&two).expect("valid");
    let three = next(&v2, &view, |_| {}, &["amazon", "google", "openai"]);
    let (status, body) = offer(&amazon, &three, false).await;
    assert_eq!(
        (status, &body["roster_error"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("not_successor")),
        "{body}"
    );

    let (status, body) = offer(&amazon, &two, false).await;
    assert_eq!(
        (status, &body["outcome"], &body["version"]),
        (StatusCode::OK, &json!("applied"), &json!(2)),
        "{body}"
    );
    wait_for(WAIT, "every node to use roster version 2", || async {
        let mut all = true;
        for i in 0..4 {
            all &= cluster.status(i).await.roster_version == 2;
        }
        all
    })
    .await;
    // An offer drafted from version 1 is now stale.
    let other = next(
        &cluster.roster,
        &view,
        |doc| doc.members.retain(|m| m.org != "openai"),
        &["amazon", "google", "meta"],
    );
    assert_error(
        offer(&amazon, &other, false).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "already in force",
    );

    // Meta's history stays: by its (retired) org id or key, at each seq.
    let view = roster_view(&amazon).await;
    assert_eq!(view.retired.len(), 1);
    assert_eq!(
        (view.retired[0].org.as_str(), view.retired[0].last_seq),
        ("meta", 2)
    );
    let (status, body) = amazon.get("/v1/logs/meta/2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let at: EntryDetail = serde_json::from_value(body).expect("an entry");
    assert_eq!(at.entry.id, last.id().to_hex());
    assert!(amazon.get(&format!("/v1/logs/{meta_key}/1")).await.0.is_success());
    assert_error(
        amazon.get("/v1/logs/meta/3").await,
        StatusCode::NOT_FOUND,
        "holds up to seq 2",
    );
    assert_error(
        amazon.get("/v1/logs/meta/0").await,
        StatusCode::BAD_REQUEST,
        "from 1",
    );
    assert_error(
        amazon.get("/v1/logs/nobody/1").await,
        StatusCode::BAD_REQUEST,
        "not on the roster",
    );

    // Meta's node knows it is retired and refuses to publish, clearly.
    let status = meta.client.status().await.expect("status");
    assert_eq!(status.membership, Membership::Retired);
    assert_error(
        meta.post(&json!({"title": "after removal", "summary": "s", "category": "other", "severity": "low"}))
            .await,
        StatusCode::CONFLICT,
        "retired",
    );
    cluster.shutdown().await;
}

/// A node outside the cluster: `org`'s keys, this node key, the cluster's
/// genesis, bootstrapped from the cluster's running nodes.
async fn outsider(cluster: &Cluster, org: &str) -> RunningNode {
    let mut config = cluster.config(0);
    config.data_dir = cluster.data_dir(org);
    config.org = Arc::new(testkit::org_secrets(org));
    config.node_key = node_key(org);
    config.bootstrap = cluster
        .nodes
        .iter()
        .flatten()
        .flat_map(|n| n.listen_addrs.clone())
        .collect();
    std::fs::create_dir_all(&config.data_dir).expect("data dir");
    Store::create(config.data_dir.join("riskmesh.db"))
        .expect("create db")
        .close()
        .expect("close");
    start(config).await.expect("a node not on the genesis starts")
}

/// Issue 10: a new member's node starts from the genesis it is given (on
/// which it is not), connects to the genesis nodes (which run the version
/// that lists it), fetches the roster chain and then the history, and
/// publishes. A node whose key is on no roster version the others know
/// starts too, but stays out: refused by every peer, it cannot publish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_member_joins_from_the_genesis_and_a_stranger_stays_out() {
    let cluster = Cluster::start(&["amazon", "google", "meta"]).await;
    for i in 0..3 {
        publish(&cluster.handle(i), &format!("history {i}")).await;
    }
    let amazon = api(&cluster, 0);
    let view = roster_view(&amazon).await;
    let newcomer_peer = node_key("newcomer").public().to_peer_id();
    let two = next(
        &cluster.roster,
        &view,
        |doc| {
            let mut member = testkit::member_of(&testkit::org_secrets("newcomer"), Role::Member);
            member.nodes.push(PeerIdBytes(newcomer_peer.to_bytes().into()));
            doc.members.push(member);
            doc.members.sort_by(|a, b| a.org.cmp(&b.org));
        },
        &["amazon", "google", "meta"],
    );
    assert_eq!(cluster.handle(0).offer_roster(two).await, Ok(2));

    let stranger = outsider(&cluster, "mallory").await;
    let newcomer = outsider(&cluster, "newcomer").await;
    let joining = newcomer.handle.status().await.expect("status");
    assert!(
        joining.roster_version == 2 || joining.membership == Membership::Joining,
        "{joining:?}"
    );
    wait_for(
        WAIT,
        "the newcomer to apply version 2 and hold the history",
        || async {
            let s = newcomer.handle.status().await.expect("status");
            s.roster_version == 2 && s.membership == Membership::Member && s.entries == 3
        },
    )
    .await;
    let entry = publish(&newcomer.handle, "the newcomer's first").await;
    let entry_hex = entry.id().to_hex();
    wait_for(WAIT, "amazon to hold the newcomer's entry", || {
        amazon.has(&entry_hex)
    })
    .await;

    // The stranger had as long as the newcomer: every peer refused it.
    let s = stranger.handle.status().await.expect("status");
    assert_eq!(
        (s.membership, s.roster_version, s.entries),
        (Membership::Joining, 1, 0),
        "{s:?}"
    );
    assert!(s.peers.iter().all(|p| !p.connected), "{:?}", s.peers);
    let refused = publish_refusal(&stranger).await;
    assert!(
        matches!(
            refused,
            NodeError::Refused(Refusal::NotMember {
                membership: Membership::Joining,
                roster_version: 1
            })
        ),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("joining"), "{refused}");
    let stranger_peer = node_key("mallory").public().to_peer_id().to_string();
    for i in 0..3 {
        let s = cluster.status(i).await;
        assert!(
            s.peers.iter().all(|p| p.peer_id != stranger_peer),
            "{:?}",
            s.peers
        );
    }
    stranger.shutdown().await.expect("stops");
    newcomer.shutdown().await.expect("stops");
    cluster.shutdown().await;
}

async fn publish_refusal(node: &RunningNode) -> NodeError {
    let draft = riskmesh_protocol::Draft {
        kind: riskmesh_protocol::Kind::Bulletin,
        tier: riskmesh_protocol::Tier::Consortium,
        body: riskmesh_protocol::Body::Bulletin(testkit::sample_bulletin("not yet")),
        recipients: None,
    };
    node.handle.publish(draft).await.expect_err("refused")
}

/// Issue 10, revocation after compromise: meta's key leaked after its
/// second entry. A roster update rotates meta to a new key and declares the
/// old one compromised from there on. Every node drops meta's third entry,
/// keeps the first two, and shows analysts a notice on them. (A node going
/// on under a rotated key is the e2e test's part:
/// `remove_a_member_add_one_rotate_a_key_with_a_running_consortium`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compromised_key_is_cut_back_and_its_kept_entries_carry_a_notice() {
    let cluster = Cluster::start(&["amazon", "google", "meta"]).await;
    let amazon = api(&cluster, 0);
    let mut entries = Vec::new();
    for i in 0..3 {
        entries.push(publish(&cluster.handle(2), &format!("meta {i}")).await);
    }
    let third = entries[2].id().to_hex();
    wait_for(WAIT, "amazon to hold meta's three entries", || amazon.has(&third)).await;
    let fresh = testkit::rotated_secrets("meta", 1);
    let old_key = testkit::org_secrets("meta").signing.public();
    let kept = entries[1].id();
    let mut update = testkit::next_roster(
        &cluster.roster,
        |doc| {
            doc.members.retain(|m| m.org != "meta");
            doc.members.push(testkit::member_of(&fresh, Role::Member));
        },
        &|_| Some((2, kept)),
        &[],
    );
    // The rotation record says `rotated`; the organization knows the key
    // leaked, so it says `compromised`.
    let mut doc = update.document().expect("doc");
    for r in doc.retired.iter_mut().flatten().filter(|r| r.key == old_key) {
        r.reason = riskmesh_protocol::roster::RetireReason::Compromised;
    }
    update = SignedRoster::new(&doc);
    for org in ["amazon", "google", "meta"] {
        update.sign(&testkit::org_secrets(org).signing);
    }
    let (status, body) = offer(&amazon, &update, false).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cluster_ref = &cluster;
    for i in 0..2 {
        wait_for(
            WAIT,
            "the update and the cut to reach amazon and google",
            || async move {
                let status = cluster_ref.status(i).await;
                status.roster_version == 2 && status.entries == 2
            },
        )
        .await;
    }
    let (status, body) = amazon
        .get(&format!("/v1/entries/{}", entries[1].id().to_hex()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let detail: EntryDetail = serde_json::from_value(body).expect("detail");
    let notice = detail
        .entry
        .key_notice
        .expect("a notice on an entry of a compromised key");
    assert!(
        notice.contains("COMPROMISED") && notice.contains("up to seq 2"),
        "{notice}"
    );
    assert_eq!(
        detail.entry.author_retired.map(|r| (r.reason, r.last_seq)),
        Some(("compromised".to_string(), 2))
    );
    let (status, _) = amazon.get(&format!("/v1/entries/{third}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the entry past the point is gone");
    cluster.shutdown().await;
}
