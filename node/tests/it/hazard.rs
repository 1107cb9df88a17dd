//! The hazardous tier end to end on real nodes: redacted summary
//! everywhere, request, k-of-n approval, release to the requester only,
//! receipt and audit; unauthorized requests release nothing; the canary in
//! the withheld details never rests in plaintext on any disk.

use riskmesh_node::store::{ReleaseState, Store};
use riskmesh_node::testnet::{Cluster, wait_for};
use riskmesh_protocol::body::RetractionBody;
use riskmesh_protocol::redaction::{Redaction, ReleasePolicy, WithheldField};
use riskmesh_protocol::{Body, BulletinBody, Category, Draft, EntryId, Kind, Severity, Tier, testkit};
use std::sync::atomic::Ordering;
use std::time::Duration;

const CANARY: &str = "CANARY-7f3a9c-pathogen-enhancement-protocol";

fn finding() -> BulletinBody {
    let mut full = testkit::sample_bulletin("Model gives uplift for pathogen enhancement");
    full.category = Some(Category::Bio);
    full.severity = Some(Severity::Critical);
    full.details = format!("Step 1 of the recipe: {CANARY}");
    full.references = vec![format!("internal-eval-{CANARY}")];
    full
}

fn policy(cluster: &Cluster, approvers: &[&str], threshold: u64, observers: bool) -> Redaction {
    let approvers = approvers
        .iter()
        .map(|o| cluster.roster.member_by_org(o).expect("member").signing_key)
        .collect();
    Redaction {
        fields: vec![WithheldField::References],
        sanitized_title: None,
        sanitized_summary: None,
        release: ReleasePolicy {
            observers_may_request: observers,
            approvers,
            threshold,
        },
    }
}

async fn everyone_holds(cluster: &Cluster, id: EntryId) {
    wait_for(
        Duration::from_secs(20),
        "every node to hold the entry",
        || async {
            let mut all = true;
            for (i, node) in cluster.nodes.iter().enumerate() {
                if node.is_some() {
                    all &= cluster.handle(i).status().await.is_ok_and(|_| true)
                        && riskmesh_node::store::Store::open_read_only(
                            cluster.data_dir(&cluster.orgs[i]).join("riskmesh.db"),
                        )
                        .ok()
                        .and_then(|s| s.get(&id).ok().flatten())
                        .is_some();
                }
            }
            all
        },
    )
    .await;
}

/// Access entries `node` has evaluated against their release policy after
/// committing them.
fn checks(cluster: &Cluster, node: usize) -> u64 {
    cluster
        .handle(node)
        .metrics
        .release_checks
        .load(Ordering::Relaxed)
}

/// Releases `node` prepared as author.
fn prepared(cluster: &Cluster, node: usize) -> u64 {
    cluster
        .handle(node)
        .metrics
        .releases_prepared
        .load(Ordering::Relaxed)
}

/// Waits until the author's node has evaluated `n` access entries more than
/// `before`: the event after which "nothing was released" can be asserted
/// without sleeping for a guessed time.
async fn evaluated(cluster: &Cluster, author: usize, before: u64, n: u64) {
    wait_for(
        Duration::from_secs(20),
        "the author's node to evaluate the access entries",
        || async { checks(cluster, author) >= before + n },
    )
    .await;
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every byte of every file in every node's data directory.
fn canary_on_disk(cluster: &Cluster) -> Vec<String> {
    let mut found = Vec::new();
    for org in &cluster.orgs {
        let dir = cluster.data_dir(org);
        for entry in std::fs::read_dir(&dir).expect("data dir").flatten() {
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            if contains(&bytes, CANARY.as_bytes()) {
                found.push(entry.path().display().to_string());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k_of_n_release_reaches_only_the_requester() {
    let mut cluster = Cluster::start(&["amazon", "anthropic", "google", "meta"]).await;
    let (amazon, anthropic, google, meta) = (0, 1, 2, 3);
    let redaction = policy(&cluster, &["amazon", "anthropic"], 2, false);
    let entry = cluster
        .handle(meta)
        .publish_hazardous(finding(), redaction)
        .await
        .expect("publish");
    let target = entry.id();
    everyone_holds(&cluster, target).await;

    let request = cluster
        .handle(google)
        .request_access(
            target,
            vec![WithheldField::Details],
            "Need the recipe to build a classifier".into(),
        )
        .await
        .expect("request");
    everyone_holds(&cluster, request.id()).await;
    let before = checks(&cluster, meta);
    cluster
        .handle(anthropic)
        .decide_access(request.id(), true, "Justified".into())
        .await
        .expect("approve");
    // One of two approvals: the author evaluates it and releases nothing.
    evaluated(&cluster, meta, before, 1).await;
    assert_eq!(
        prepared(&cluster, meta),
        0,
        "a release prepared after 1 of 2 approvals"
    );
    assert!(
        cluster
            .handle(google)
            .released(target)
            .await
            .expect("released")
            .is_empty(),
        "released after 1 of 2 approvals"
    );
    let audit = cluster.handle(amazon).audit(target).await.expect("audit");
    assert!(audit.requests[0].status.starts_with("pending"), "{audit:?}");

    cluster
        .handle(amazon)
        .decide_access(request.id(), true, "Agreed".into())
        .await
        .expect("approve");
    wait_for(
        Duration::from_secs(20),
        "google to receive the details",
        || async {
            !cluster
                .handle(google)
                .released(target)
                .await
                .unwrap_or_default()
                .is_empty()
        },
    )
    .await;
    let reveals = cluster.handle(google).released(target).await.expect("released");
    assert_eq!(reveals.len(), 1, "only the requested field");
    assert_eq!(reveals[0].field, WithheldField::Details);
    assert!(contains(&reveals[0].value, CANARY.as_bytes()));
    // Nobody else received anything.
    for org in [amazon, anthropic] {
        assert!(
            cluster
                .handle(org)
                .released(target)
                .await
                .expect("released")
                .is_empty()
        );
    }
    // The receipt reaches everyone; the audit trail shows the whole story.
    wait_for(Duration::from_secs(20), "the receipt to reach amazon", || async {
        cluster
            .handle(amazon)
            .audit(target)
            .await
            .is_ok_and(|a| a.requests[0].received_at_ms.is_some())
    })
    .await;
    let audit = cluster.handle(amazon).audit(target).await.expect("audit");
    let r = &audit.requests[0];
    assert_eq!((r.org.as_str(), r.status.as_str()), ("google", "granted"));
    assert_eq!(
        r.decisions.iter().map(|d| d.org.as_str()).collect::<Vec<_>>(),
        ["anthropic", "amazon"]
    );
    assert_eq!(audit.withheld, ["details", "references"]);

    for i in 0..4 {
        cluster.stop(i).await;
    }
    assert_eq!(
        canary_on_disk(&cluster),
        Vec::<String>::new(),
        "withheld details rest in plaintext"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_requests_release_nothing() {
    let cluster = Cluster::start_with_observers(&["amazon", "google", "meta"], &["academic-lab"]).await;
    let (amazon, google, meta, lab) = (0, 1, 2, 3);
    // Approval by the author alone (no named approvers); observers may not ask.
    let redaction = policy(&cluster, &[], 1, false);
    let entry = cluster
        .handle(meta)
        .publish_hazardous(finding(), redaction)
        .await
        .expect("publish");
    let target = entry.id();
    everyone_holds(&cluster, target).await;

    // An observer asks, and the author even approves: not allowed by policy.
    let observer_request = cluster
        .handle(lab)
        .request_access(target, vec![WithheldField::Details], "curious".into())
        .await
        .expect("an observer may publish a request entry");
    // A member asks; an organization the policy does not name grants.
    let member_request = cluster
        .handle(google)
        .request_access(target, vec![WithheldField::Details], "mitigation work".into())
        .await
        .expect("request");
    everyone_holds(&cluster, member_request.id()).await;
    everyone_holds(&cluster, observer_request.id()).await;
    let before = checks(&cluster, meta);
    cluster
        .handle(meta)
        .decide_access(observer_request.id(), true, "oops".into())
        .await
        .expect("decision");
    cluster
        .handle(amazon)
        .decide_access(member_request.id(), true, "not my call".into())
        .await
        .expect("decision");
    // The author's node evaluates both decisions and prepares nothing.
    evaluated(&cluster, meta, before, 2).await;
    assert_eq!(
        prepared(&cluster, meta),
        0,
        "a release prepared for an unauthorized request"
    );
    assert!(
        cluster
            .handle(lab)
            .released(target)
            .await
            .expect("released")
            .is_empty()
    );
    assert!(
        cluster
            .handle(google)
            .released(target)
            .await
            .expect("released")
            .is_empty()
    );
    let audit = cluster.handle(meta).audit(target).await.expect("audit");
    let status: Vec<(&str, &str)> = audit
        .requests
        .iter()
        .map(|r| (r.org.as_str(), r.status.as_str()))
        .collect();
    assert!(status.contains(&("academic-lab", "not-allowed")), "{status:?}");
    assert!(
        status
            .iter()
            .any(|(o, s)| *o == "google" && s.starts_with("pending")),
        "{status:?}"
    );

    // The author denies: still nothing; then grants: released.
    let before = checks(&cluster, meta);
    cluster
        .handle(meta)
        .decide_access(member_request.id(), false, "not yet".into())
        .await
        .expect("deny");
    evaluated(&cluster, meta, before, 1).await;
    assert_eq!(prepared(&cluster, meta), 0, "a release prepared after a denial");
    assert!(
        cluster
            .handle(google)
            .released(target)
            .await
            .expect("released")
            .is_empty()
    );
    cluster
        .handle(meta)
        .decide_access(member_request.id(), true, "now justified".into())
        .await
        .expect("grant");
    wait_for(
        Duration::from_secs(20),
        "google to receive the details",
        || async {
            !cluster
                .handle(google)
                .released(target)
                .await
                .unwrap_or_default()
                .is_empty()
        },
    )
    .await;
    assert!(
        cluster
            .handle(lab)
            .released(target)
            .await
            .expect("released")
            .is_empty()
    );
    cluster.shutdown().await;
}

/// `author` publishes the finding, approved by the author alone, and
/// `requester` asks for its details; returns the entry and the request
/// once every running node holds both.
async fn published_and_requested(cluster: &Cluster, author: usize, requester: usize) -> (EntryId, EntryId) {
    let target = cluster
        .handle(author)
        .publish_hazardous(finding(), policy(cluster, &[], 1, false))
        .await
        .expect("publish")
        .id();
    everyone_holds(cluster, target).await;
    let request = cluster
        .handle(requester)
        .request_access(target, vec![WithheldField::Details], "need it".into())
        .await
        .expect("request")
        .id();
    everyone_holds(cluster, request).await;
    (target, request)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_to_an_offline_requester_completes_when_it_returns() {
    let mut cluster = Cluster::start(&["amazon", "google", "meta"]).await;
    let (google, meta) = (1, 2);
    let (target, request) = published_and_requested(&cluster, meta, google).await;
    // The requester goes offline; the author approves meanwhile and
    // prepares the release while the requester is away.
    cluster.stop(google).await;
    cluster
        .handle(meta)
        .decide_access(request, true, "granted".into())
        .await
        .expect("approve");
    wait_for(
        Duration::from_secs(20),
        "the author to prepare the release",
        || async { prepared(&cluster, meta) >= 1 },
    )
    .await;
    cluster.restart(google).await;
    wait_for(
        Duration::from_secs(30),
        "the returning requester to receive the details",
        || async {
            !cluster
                .handle(google)
                .released(target)
                .await
                .unwrap_or_default()
                .is_empty()
        },
    )
    .await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_granted_while_the_author_is_offline_goes_out_when_it_returns() {
    let mut cluster = Cluster::start(&["amazon", "google", "meta"]).await;
    let (amazon, google, meta) = (0, 1, 2);
    let redaction = policy(&cluster, &["amazon"], 1, false);
    let target = cluster
        .handle(meta)
        .publish_hazardous(finding(), redaction)
        .await
        .expect("publish")
        .id();
    everyone_holds(&cluster, target).await;
    cluster.stop(meta).await;
    let request = cluster
        .handle(google)
        .request_access(target, vec![WithheldField::Details], "need it".into())
        .await
        .expect("request");
    let approval = cluster
        .handle(amazon)
        .decide_access(request.id(), true, "granted".into())
        .await
        .expect("approve");
    // The running nodes hold the approval; with the author away nothing
    // can have been released.
    everyone_holds(&cluster, approval.id()).await;
    assert!(
        cluster
            .handle(google)
            .released(target)
            .await
            .expect("released")
            .is_empty()
    );
    // The author's node returns, syncs the request and the approval, and releases.
    cluster.restart(meta).await;
    wait_for(
        Duration::from_secs(60),
        "the release after the author returns",
        || async {
            !cluster
                .handle(google)
                .released(target)
                .await
                .unwrap_or_default()
                .is_empty()
        },
    )
    .await;
    cluster.shutdown().await;
}

/// `approver` approves `request`, then waits until the author's node has
/// evaluated the approval.
async fn approve_and_evaluate(cluster: &Cluster, approver: usize, author: usize, request: EntryId) {
    let before = checks(cluster, author);
    cluster
        .handle(approver)
        .decide_access(request, true, "approved".into())
        .await
        .expect("approve");
    evaluated(cluster, author, before, 1).await;
}

/// Whether `org` holds no released field of `target`.
async fn holds_nothing(cluster: &Cluster, org: usize, target: EntryId) -> bool {
    cluster
        .handle(org)
        .released(target)
        .await
        .expect("released")
        .is_empty()
}

/// Publishes `org`'s retraction (without purge) of `target` and waits until
/// every node holds it.
async fn retract(cluster: &Cluster, org: usize, target: EntryId, reason: &str) -> EntryId {
    let retraction = cluster
        .handle(org)
        .publish(Draft {
            kind: Kind::Retraction,
            tier: Tier::Consortium,
            body: Body::Retraction(RetractionBody {
                target,
                reason: reason.into(),
                purge: false,
            }),
            recipients: None,
        })
        .await
        .expect("retract");
    everyone_holds(cluster, retraction.id()).await;
    retraction.id()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retracted_approval_does_not_count_toward_a_release() {
    let cluster = Cluster::start(&["amazon", "anthropic", "google", "meta"]).await;
    let (amazon, anthropic, google, meta) = (0, 1, 2, 3);
    let entry = cluster
        .handle(meta)
        .publish_hazardous(finding(), policy(&cluster, &["amazon", "anthropic"], 2, false))
        .await
        .expect("publish");
    let target = entry.id();
    everyone_holds(&cluster, target).await;
    let request = cluster
        .handle(google)
        .request_access(target, vec![WithheldField::Details], "classifier".into())
        .await
        .expect("request");
    everyone_holds(&cluster, request.id()).await;

    // anthropic approves, then retracts its approval; amazon approves.
    let approval = cluster
        .handle(anthropic)
        .decide_access(request.id(), true, "Justified".into())
        .await
        .expect("approve");
    everyone_holds(&cluster, approval.id()).await;
    retract(&cluster, anthropic, approval.id(), "approved in error").await;
    approve_and_evaluate(&cluster, amazon, meta, request.id()).await;
    assert_eq!(
        prepared(&cluster, meta),
        0,
        "a release prepared with a retracted approval counted"
    );
    assert!(holds_nothing(&cluster, google, target).await);
    // The audit trail shows the retraction, does not count it, and puts
    // each decision in log order with this node's receive time.
    let audit = cluster.handle(amazon).audit(target).await.expect("audit");
    let r = &audit.requests[0];
    assert_eq!(r.status, "pending (1 of 2 approvals)", "{audit:?}");
    let retracted: Vec<(&str, bool)> = r
        .decisions
        .iter()
        .map(|d| (d.org.as_str(), d.retraction.is_some()))
        .collect();
    assert_eq!(retracted, [("anthropic", true), ("amazon", false)]);
    let first = &r.decisions[0];
    assert_eq!(first.logged.entry, approval.id().to_hex());
    assert!(first.logged.seq >= 1 && first.logged.received_ms >= r.logged.received_ms);
    let retraction = first.retraction.as_ref().expect("retraction");
    assert!(retraction.logged.seq > first.logged.seq);
    assert_eq!(retraction.reason, "approved in error");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retracted_request_or_hazardous_entry_is_not_released_after_approval() {
    let cluster = Cluster::start(&["amazon", "google", "meta"]).await;
    let (amazon, google, meta) = (0, 1, 2);
    // The author alone approves.
    let entry = cluster
        .handle(meta)
        .publish_hazardous(finding(), policy(&cluster, &[], 1, false))
        .await
        .expect("publish");
    let target = entry.id();
    everyone_holds(&cluster, target).await;
    let google_request = cluster
        .handle(google)
        .request_access(target, vec![WithheldField::Details], "classifier".into())
        .await
        .expect("request");
    let amazon_request = cluster
        .handle(amazon)
        .request_access(target, vec![WithheldField::Details], "mitigation".into())
        .await
        .expect("request");
    everyone_holds(&cluster, google_request.id()).await;
    everyone_holds(&cluster, amazon_request.id()).await;

    // google retracts its request; the author then approves it.
    retract(&cluster, google, google_request.id(), "no longer needed").await;
    approve_and_evaluate(&cluster, meta, meta, google_request.id()).await;
    assert_eq!(prepared(&cluster, meta), 0, "a retracted request was released");

    // The author retracts the hazardous entry (no purge), then approves
    // amazon's request.
    retract(&cluster, meta, target, "finding withdrawn").await;
    approve_and_evaluate(&cluster, meta, meta, amazon_request.id()).await;
    assert_eq!(prepared(&cluster, meta), 0, "a retracted entry was released");
    for org in [google, amazon] {
        assert!(holds_nothing(&cluster, org, target).await);
    }
    let audit = cluster.handle(google).audit(target).await.expect("audit");
    assert!(audit.retraction.is_some(), "{audit:?}");
    for r in &audit.requests {
        assert_eq!(r.status, "revoked", "{audit:?}");
        assert!(r.why.as_deref().is_some_and(|w| w.contains("retracted")), "{r:?}");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_says_why_a_sole_approvers_own_request_can_never_be_granted() {
    let cluster = Cluster::start(&["google", "meta"]).await;
    let (google, meta) = (0, 1);
    let entry = cluster
        .handle(meta)
        .publish_hazardous(finding(), policy(&cluster, &["google"], 1, false))
        .await
        .expect("publish");
    let target = entry.id();
    everyone_holds(&cluster, target).await;
    // The node handle publishes what the API would refuse, as a request
    // arriving from another implementation could be.
    let request = cluster
        .handle(google)
        .request_access(target, vec![WithheldField::Details], "mine".into())
        .await
        .expect("request");
    everyone_holds(&cluster, request.id()).await;
    let audit = cluster.handle(meta).audit(target).await.expect("audit");
    let r = &audit.requests[0];
    assert_eq!(r.status, "never-grantable", "{audit:?}");
    assert!(
        r.why
            .as_deref()
            .is_some_and(|w| w.contains("own decisions never count")),
        "{r:?}"
    );
    cluster.shutdown().await;
}

fn pending(cluster: &Cluster, node: usize) -> u64 {
    cluster
        .handle(node)
        .metrics
        .releases_pending
        .load(Ordering::Relaxed)
}

/// Issue 9, item 1 (retraction race, regression): a release granted while
/// its requester is offline waits in the author's delivery queue; when the
/// approval is retracted meanwhile, the queued release is taken back and
/// evaluated again from the log as it stands, so it never goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_release_is_withdrawn_when_its_approval_is_retracted() {
    let mut cluster = Cluster::start(&["amazon", "google", "meta"]).await;
    let (amazon, google, meta) = (0, 1, 2);
    let target = cluster
        .handle(meta)
        .publish_hazardous(finding(), policy(&cluster, &["amazon"], 1, false))
        .await
        .expect("publish")
        .id();
    everyone_holds(&cluster, target).await;
    let request = cluster
        .handle(google)
        .request_access(target, vec![WithheldField::Details], "need it".into())
        .await
        .expect("request");
    everyone_holds(&cluster, request.id()).await;
    // The requester goes offline; amazon approves; the release is queued.
    cluster.stop(google).await;
    let approval = cluster
        .handle(amazon)
        .decide_access(request.id(), true, "granted".into())
        .await
        .expect("approve");
    wait_for(Duration::from_secs(20), "the release to be queued", || async {
        pending(&cluster, meta) == 1
    })
    .await;
    // amazon retracts its approval before the requester returns.
    let before = checks(&cluster, meta);
    retract(&cluster, amazon, approval.id(), "approved in error").await;
    evaluated(&cluster, meta, before, 1).await;
    assert_eq!(
        pending(&cluster, meta),
        0,
        "the queued release survived the retraction"
    );
    cluster.restart(google).await;
    everyone_holds(&cluster, approval.id()).await;
    // Nothing is queued, so nothing can reach google.
    assert_eq!(pending(&cluster, meta), 0);
    assert!(holds_nothing(&cluster, google, target).await);
    cluster.shutdown().await;
}

/// Whether `node` has an open connection to `org`'s node.
async fn connected(cluster: &Cluster, node: usize, org: &str) -> bool {
    cluster
        .status(node)
        .await
        .peers
        .iter()
        .any(|p| p.org == org && p.connected)
}

/// Issue 9 (the requester's acknowledgement): the requester answers `ok`
/// to a release only once the fields, the release record and the receipt
/// are committed. Here its release record fails to commit: the requester's
/// node stops on the store failure without answering, the author hears no
/// `ok` and keeps the release, and delivers it again once the requester's
/// node is back with a working database. An `ok` sent before the commit
/// would have made the author record the release as sent and never deliver
/// it again, leaving the requester without its record and receipt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_is_acknowledged_only_after_the_requester_commits_it() {
    let mut cluster = Cluster::start(&["amazon", "google", "meta"]).await;
    let (google, meta) = (1, 2);
    let [google_db, meta_db] = [google, meta].map(|i| cluster.data_dir(&cluster.orgs[i]).join("riskmesh.db"));
    let (target, request) = published_and_requested(&cluster, meta, google).await;

    // From now on the requester's database refuses release records.
    Store::open(&google_db)
        .expect("open the requester's database")
        .fail_release_records(true)
        .expect("inject the failure");
    cluster
        .handle(meta)
        .decide_access(request, true, "granted".into())
        .await
        .expect("approve");
    // The requester verifies the release, fails to commit its record and
    // stops on the store failure.
    let requester = cluster.nodes[google].take().expect("running");
    let stopped = tokio::time::timeout(
        Duration::from_secs(30),
        requester.run_until(std::future::pending()),
    )
    .await
    .expect("the requester's node stops on the failed commit");
    assert!(
        stopped
            .as_ref()
            .is_err_and(|e| e.contains("release records fail to commit")),
        "{stopped:?}"
    );
    // Once the author sees the requester gone, it has handled everything
    // the requester sent: no `ok` among it.
    wait_for(
        Duration::from_secs(20),
        "the author to see the requester gone",
        || async { !connected(&cluster, meta, "google").await },
    )
    .await;
    let author_store = Store::open_read_only(&meta_db).expect("the author's database");
    assert_eq!(
        author_store.release(&request).expect("read"),
        None,
        "the author recorded a release the requester never committed"
    );
    assert_eq!(pending(&cluster, meta), 1, "the author dropped the release");
    let requester_store = Store::open_read_only(&google_db).expect("the requester's database");
    assert_eq!(requester_store.release(&request).expect("read"), None);
    drop(requester_store);

    // Back with a working database, the requester receives the release again,
    // commits it and acknowledges it.
    Store::open(&google_db)
        .expect("open the requester's database")
        .fail_release_records(false)
        .expect("lift the failure");
    cluster.restart(google).await;
    wait_for(
        Duration::from_secs(60),
        "the author to record the release as delivered",
        || async {
            author_store
                .release(&request)
                .is_ok_and(|r| r.is_some_and(|r| r.state == ReleaseState::Sent))
        },
    )
    .await;
    let requester_store = Store::open_read_only(&google_db).expect("the requester's database");
    let record = requester_store.release(&request).expect("read");
    assert_eq!(record.map(|r| r.state), Some(ReleaseState::Received));
    assert!(
        !cluster
            .handle(google)
            .released(target)
            .await
            .expect("released")
            .is_empty()
    );
    cluster.shutdown().await;
}

/// Issue 10 (key rotation): a release waits for its offline requester,
/// sealed to the requester's encryption key, and the requester's
/// organization rotates that key by a roster update before it returns.
/// The author's node takes the queued release back when the roster changes
/// and prepares it again for the new key, so the requester, back on its new
/// key, receives it. Before, the release stayed sealed to the old key: the
/// requester could not decrypt it, refused it until the author gave up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_release_follows_the_requesters_rotated_encryption_key() {
    use riskmesh_protocol::{EncryptionSecret, OrgSecrets};
    use std::sync::Arc;
    let mut cluster = Cluster::start(&["amazon", "google", "meta"]).await;
    let (amazon, google, meta) = (0, 1, 2);
    let (target, request) = published_and_requested(&cluster, meta, google).await;
    cluster.stop(google).await;
    cluster
        .handle(meta)
        .decide_access(request, true, "granted".into())
        .await
        .expect("approve");
    wait_for(
        Duration::from_secs(20),
        "the author to prepare the release",
        || async { prepared(&cluster, meta) >= 1 },
    )
    .await;
    // google's encryption key rotates; its signing key stays.
    let rotated = OrgSecrets {
        org: "google".into(),
        signing: testkit::org_secrets("google").signing,
        encryption: EncryptionSecret::from_seed(testkit::seed("google/encrypt/1")),
    };
    let update = testkit::next_roster(
        &cluster.roster,
        |doc| {
            for m in doc.members.iter_mut().filter(|m| m.org == "google") {
                m.encryption_key = rotated.encryption.public().0;
            }
        },
        &|_| None,
        &[],
    );
    assert_eq!(cluster.handle(amazon).offer_roster(update).await, Ok(2));
    wait_for(Duration::from_secs(20), "meta to apply version 2", || async {
        cluster.status(meta).await.roster_version == 2
    })
    .await;
    // The requester returns with its new key (and learns version 2 by sync).
    let mut config = cluster.config(google);
    config.org = Arc::new(rotated);
    cluster.nodes[google] = Some(riskmesh_node::start(config).await.expect("google starts"));
    cluster.connect_all().await;
    wait_for(
        Duration::from_secs(40),
        "the requester, on its new key, to receive the details",
        || async {
            !cluster
                .handle(google)
                .released(target)
                .await
                .unwrap_or_default()
                .is_empty()
        },
    )
    .await;
    cluster.shutdown().await;
}
