//! The local HTTP API against real nodes: publishing and reading across
//! nodes, restricted bodies readable by recipients only, publishing with no
//! peer connected, and every kind of bad request getting a JSON error with
//! a fitting status code.

use reqwest::{Method, StatusCode};
use riskmesh_node::api::views::{BodyView, EntryDetail, EntryList, EquivocationList, PeerList, StatusView};
use riskmesh_node::api::{AccessRequestInput, AuditView, DecisionInput, HeldFields, PublishRequest};
use riskmesh_node::testnet::{Cluster, wait_for};
use riskmesh_protocol::body::AckStatus;
use riskmesh_protocol::{Category, Kind, Severity, Tier};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// A node's API: typed calls, plus raw access for malformed requests.
pub(crate) struct Api {
    pub(crate) client: Client,
    pub(crate) base: String,
    pub(crate) token: String,
    pub(crate) http: reqwest::Client,
}

pub(crate) fn api(cluster: &Cluster, i: usize) -> Api {
    let node = cluster.nodes[i].as_ref().expect("node running");
    let token_file = cluster.data_dir(&cluster.orgs[i]).join("api-token");
    let token = std::fs::read_to_string(&token_file)
        .expect("the node writes its token")
        .trim()
        .to_string();
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("http client");
    let base = format!("http://{}", node.api_addr);
    Api {
        client: Client {
            base: base.clone(),
            token: token.clone(),
            http: http.clone(),
        },
        base,
        token,
        http,
    }
}

/// Typed calls with the API's own request and view types. (The `riskmesh`
/// binary has its own client; these tests check the node's side.) An error
/// is the status and the answer's text.
pub(crate) struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    async fn bytes(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<Vec<u8>, String> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
        }
        Ok(bytes.to_vec())
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, String> {
        let bytes = self.bytes(method, path, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    }

    async fn read<T: DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        self.call(Method::GET, path, None::<&()>).await
    }

    pub(crate) async fn publish(&self, request: &PublishRequest) -> Result<EntryDetail, String> {
        self.call(Method::POST, "/v1/entries", Some(request)).await
    }

    pub(crate) async fn show(&self, id: &str) -> Result<EntryDetail, String> {
        self.read(&format!("/v1/entries/{id}")).await
    }

    pub(crate) async fn status(&self) -> Result<StatusView, String> {
        self.read("/v1/status").await
    }

    pub(crate) async fn peers(&self) -> Result<PeerList, String> {
        self.read("/v1/peers").await
    }

    pub(crate) async fn equivocations(&self) -> Result<EquivocationList, String> {
        self.read("/v1/equivocations").await
    }

    pub(crate) async fn withheld(&self, id: &str) -> Result<HeldFields, String> {
        self.read(&format!("/v1/entries/{id}/withheld")).await
    }

    pub(crate) async fn audit(&self, id: &str) -> Result<AuditView, String> {
        self.read(&format!("/v1/entries/{id}/audit")).await
    }

    pub(crate) async fn request_access(
        &self,
        id: &str,
        input: &AccessRequestInput,
    ) -> Result<EntryDetail, String> {
        self.call(Method::POST, &format!("/v1/entries/{id}/requests"), Some(input))
            .await
    }

    pub(crate) async fn decide(
        &self,
        request: &str,
        grant: bool,
        input: &DecisionInput,
    ) -> Result<EntryDetail, String> {
        let verb = if grant { "approve" } else { "deny" };
        self.call(
            Method::POST,
            &format!("/v1/requests/{request}/{verb}"),
            Some(input),
        )
        .await
    }

    /// `GET /v1/export`, optionally up to `max_tier`.
    pub(crate) async fn export(&self, max_tier: Option<&str>) -> Result<Vec<u8>, String> {
        let query = max_tier.map(|t| format!("?max_tier={t}")).unwrap_or_default();
        self.bytes(Method::GET, &format!("/v1/export{query}"), None::<&()>)
            .await
    }

    /// `GET /v1/export/stix`, optionally up to `max_tier`, parsed.
    pub(crate) async fn export_stix(&self, max_tier: Option<&str>) -> Result<Value, String> {
        let query = max_tier.map(|t| format!("?max_tier={t}")).unwrap_or_default();
        let bytes = self
            .bytes(Method::GET, &format!("/v1/export/stix{query}"), None::<&()>)
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| format!("the STIX export is not JSON: {e}"))
    }
}

impl Api {
    /// Sends a raw request; returns the status and the body parsed as JSON
    /// (`Value::Null` if it is not JSON).
    pub(crate) async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.raw(Method::GET, path, Some(&self.token.clone()), None).await
    }

    pub(crate) async fn post(&self, body: &Value) -> (StatusCode, Value) {
        let bytes = serde_json::to_vec(body).expect("json");
        self.raw(
            Method::POST,
            "/v1/entries",
            Some(&self.token.clone()),
            Some(bytes),
        )
        .await
    }

    async fn list(&self, query: &str) -> EntryList {
        let (status, body) = self.get(&format!("/v1/entries{query}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body).expect("an entry list")
    }

    pub(crate) async fn has(&self, id: &str) -> bool {
        let (status, _) = self.get(&format!("/v1/entries/{id}")).await;
        status == StatusCode::OK
    }
}

/// Asserts an error answer: the status, a JSON `error` message containing `phrase`.
#[track_caller]
pub(crate) fn assert_error((status, body): (StatusCode, Value), expected: StatusCode, phrase: &str) {
    assert_eq!(status, expected, "{body}");
    let message = body
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("expected a JSON error, got {body}"));
    assert!(message.contains(phrase), "`{message}` should contain `{phrase}`");
}

fn bulletin(title: &str) -> PublishRequest {
    PublishRequest {
        title: Some(title.into()),
        summary: Some("Agentic scaffold finds and exploits a known CVE class unaided.".into()),
        category: Some(Category::CyberOffense),
        severity: Some(Severity::High),
        affected: Some(vec!["agent-v2".into()]),
        details: Some("Step 1 … step 7.".into()),
        mitigations: Some(vec!["Sandbox network egress.".into()]),
        commitments: Some(vec![2, 1]),
        ..PublishRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_list_show_correct_ack_and_retract_across_two_nodes() {
    let cluster = Cluster::start(&["google", "openai"]).await;
    let (google, openai) = (api(&cluster, 0), api(&cluster, 1));

    let published = google
        .client
        .publish(&bulletin("Autonomous exploitation"))
        .await
        .expect("publish");
    let id = published.entry.id.clone();
    assert_eq!(
        (
            published.entry.author.as_str(),
            published.entry.seq,
            published.entry.kind
        ),
        ("google", 1, Kind::Bulletin)
    );
    assert_eq!(
        (published.entry.tier, published.entry.tlp.as_str()),
        (Tier::Consortium, "TLP:GREEN")
    );
    let Some(BodyView::Bulletin(body)) = &published.body else {
        panic!("bulletin body expected: {published:?}");
    };
    assert_eq!(
        body.commitments,
        vec![1, 2],
        "commitments are sorted for the analyst"
    );

    wait_for(WAIT, "openai to receive the bulletin", || openai.has(&id)).await;
    let shown = openai.client.show(&id).await.expect("show");
    assert_eq!(shown.entry.title.as_deref(), Some("Autonomous exploitation"));
    assert!(shown.entry.readable && shown.entry.has_body);
    assert!(matches!(&shown.body, Some(BodyView::Bulletin(b)) if b.details == "Step 1 … step 7."));

    // Filters.
    let ids = |list: EntryList| list.entries.into_iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(
        ids(openai.list("?author=google&kind=bulletin").await),
        vec![id.clone()]
    );
    assert_eq!(
        ids(openai.list("?category=cyber-offense&severity=high").await),
        vec![id.clone()]
    );
    assert!(openai.list("?severity=critical").await.entries.is_empty());
    assert!(openai.list("?tier=public").await.entries.is_empty());
    assert!(openai.list("?author=openai").await.entries.is_empty());
    let future = published.entry.timestamp_ms + 3_600_000;
    assert!(openai.list(&format!("?since={future}")).await.entries.is_empty());

    // openai acknowledges; google corrects, then retracts the original with purge.
    let ack = openai
        .client
        .publish(&PublishRequest {
            kind: Some(Kind::Ack),
            target: Some(id.clone()),
            status: Some(AckStatus::Reproduced),
            note: Some("Reproduced on our agent stack.".into()),
            ..PublishRequest::default()
        })
        .await
        .expect("ack");
    assert_eq!((ack.entry.kind, ack.entry.tier), (Kind::Ack, Tier::Consortium));
    assert_eq!(ack.entry.target.as_deref(), Some(id.as_str()));

    let correction = google
        .client
        .publish(&PublishRequest {
            kind: Some(Kind::Correction),
            supersedes: Some(id.clone()),
            severity: Some(Severity::Critical),
            ..bulletin("Autonomous exploitation (revised)")
        })
        .await
        .expect("correction");
    assert_eq!(
        (correction.entry.kind, correction.entry.seq),
        (Kind::Correction, 2)
    );
    let retraction = google
        .client
        .publish(&PublishRequest {
            kind: Some(Kind::Retraction),
            target: Some(id.clone()),
            reason: Some("Superseded; the original overstated reach.".into()),
            purge: Some(true),
            ..PublishRequest::default()
        })
        .await
        .expect("retraction");
    assert_eq!(retraction.entry.seq, 3);

    wait_for(WAIT, "openai to apply the purge", || async {
        openai.client.show(&id).await.is_ok_and(|d| d.entry.purged)
    })
    .await;
    let purged = openai.client.show(&id).await.expect("show purged");
    assert_eq!(purged.body, None);
    assert!(
        purged.body_note.as_deref().is_some_and(|n| n.contains("purged")),
        "{purged:?}"
    );
    let kinds: Vec<Kind> = purged.referenced_by.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, vec![Kind::Ack, Kind::Correction, Kind::Retraction]);

    // Paging: newest first, `next` continues.
    wait_for(WAIT, "google to hold all four entries", || async {
        google.list("").await.entries.len() == 4
    })
    .await;
    let first = google.list("?limit=3").await;
    assert_eq!(first.entries.len(), 3);
    let next = first.next.expect("a full page has a successor");
    let rest = google.list(&format!("?limit=3&after={next}")).await;
    assert_eq!(rest.entries.len(), 1);
    assert_eq!(rest.next, None);

    // Status, peers, equivocations, metrics and export.
    let status: StatusView = google.client.status().await.expect("status");
    assert_eq!(status.org, "google");
    assert_eq!(status.entries, 4);
    assert!(status.authors.iter().any(|a| a.org == "openai" && a.seq == 1));
    wait_for(WAIT, "the peers to show as connected", || async {
        google
            .client
            .peers()
            .await
            .is_ok_and(|p| p.peers.iter().any(|p| p.org == "openai" && p.connected))
    })
    .await;
    let proofs: EquivocationList = google.client.equivocations().await.expect("equivocations");
    assert!(proofs.equivocations.is_empty());
    let metrics = google
        .http
        .get(format!("{}/metrics", google.base))
        .send()
        .await
        .expect("metrics");
    assert_eq!(metrics.status(), StatusCode::OK);
    let metrics = metrics.text().await.expect("text");
    assert!(
        metrics.contains("# TYPE riskmesh_entries_stored gauge"),
        "{metrics}"
    );

    let exported = google.client.export(None).await.expect("export");
    let doc: Value = serde_json::from_slice(&exported).expect("export is one JSON document");
    let entries = doc["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 4);
    assert_eq!(doc["org"], "google");
    for entry in entries {
        assert_eq!(entry["tlp"], "TLP:GREEN");
        assert!(entry["wire"].as_str().is_some_and(|w| w.len() > 200));
    }
    let public_only = google.client.export(Some("public")).await.expect("export");
    let doc: Value = serde_json::from_slice(&public_only).expect("json");
    assert_eq!(doc["entries"].as_array().map(Vec::len), Some(0));

    // The same entries as STIX: the bulletin's report in the versions still
    // readable (the original was purged: corrected, then revoked), the ack a
    // sighting of it.
    let bundle = google.client.export_stix(None).await.expect("STIX export");
    assert_eq!(bundle["type"], "bundle");
    let objects = bundle["objects"].as_array().cloned().unwrap_or_default();
    let of_type = |t: &str| {
        objects
            .iter()
            .filter(|o| o["type"] == t)
            .cloned()
            .collect::<Vec<_>>()
    };
    let reports = of_type("report");
    assert_eq!(reports.len(), 2, "{reports:#?}");
    assert!(reports.iter().all(|r| r["id"] == reports[0]["id"]));
    assert!(
        reports
            .windows(2)
            .all(|w| w[0]["modified"].as_str() < w[1]["modified"].as_str())
    );
    assert_eq!(reports[0]["name"], "Autonomous exploitation (revised)");
    assert_eq!(reports[1]["revoked"], true);
    let sightings = of_type("sighting");
    assert_eq!(sightings.len(), 1);
    assert_eq!(sightings[0]["sighting_of_ref"], reports[0]["id"]);
    assert_eq!(
        of_type("marking-definition").first().map(|m| m["name"].clone()),
        Some(Value::from("TLP:GREEN"))
    );
    let ids = |b: &Value| -> Vec<String> {
        let mut ids: Vec<String> = b["objects"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| format!("{} {}", o["id"], o["modified"]))
            .collect();
        ids.sort();
        ids
    };
    let again = openai.client.export_stix(None).await.expect("STIX export");
    assert_eq!(
        ids(&bundle),
        ids(&again),
        "another node exports the same objects under the same ids"
    );
    let public_only = google
        .client
        .export_stix(Some("public"))
        .await
        .expect("STIX export");
    assert_eq!(public_only["objects"].as_array().map(Vec::len), Some(0));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restricted_bulletin_is_readable_by_its_recipients_only() {
    const CANARY: &str = "CANARY-restricted-detail";
    let cluster = Cluster::start(&["anthropic", "google", "meta"]).await;
    let (anthropic, google, meta) = (api(&cluster, 0), api(&cluster, 1), api(&cluster, 2));
    let published = anthropic
        .client
        .publish(&PublishRequest {
            tier: Some(Tier::Restricted),
            recipients: Some(vec!["google".into()]),
            details: Some(CANARY.into()),
            ..bulletin("Weights exfiltration path")
        })
        .await
        .expect("publish restricted");
    let id = published.entry.id.clone();
    assert_eq!(published.entry.tlp, "TLP:AMBER+STRICT");
    assert_eq!(
        published.entry.recipients,
        Some(vec!["anthropic".to_string(), "google".to_string()]),
        "the author is always a recipient"
    );
    assert!(published.entry.readable);

    wait_for(WAIT, "both peers to receive it", || async {
        google.has(&id).await && meta.has(&id).await
    })
    .await;
    let at_google = google.client.show(&id).await.expect("show");
    assert!(matches!(&at_google.body, Some(BodyView::Bulletin(b)) if b.details == CANARY));
    assert_eq!(
        at_google.entry.title.as_deref(),
        Some("Weights exfiltration path")
    );

    let at_meta = meta.client.show(&id).await.expect("show");
    assert_eq!(at_meta.body, None);
    assert!(!at_meta.entry.readable && at_meta.entry.has_body);
    assert_eq!(at_meta.entry.title, None);
    assert!(
        at_meta
            .body_note
            .as_deref()
            .is_some_and(|n| n.contains("not a recipient")),
        "{at_meta:?}"
    );
    let listed = meta.list("").await;
    assert_eq!(listed.entries[0].title, None);

    // A correction without a tier keeps the restricted tier and its readers.
    let correction = anthropic
        .client
        .publish(&PublishRequest {
            kind: Some(Kind::Correction),
            supersedes: Some(id.clone()),
            details: Some(format!("{CANARY} (revised)")),
            ..bulletin("Weights exfiltration path (revised)")
        })
        .await
        .expect("correction");
    assert_eq!(correction.entry.tier, Tier::Restricted);
    assert_eq!(correction.entry.recipients, published.entry.recipients);
    wait_for(WAIT, "meta to receive the correction", || {
        meta.has(&correction.entry.id)
    })
    .await;

    let exported = meta.client.export(None).await.expect("export");
    let text = String::from_utf8(exported).expect("utf-8");
    assert!(
        !text.contains("CANARY"),
        "restricted plaintext leaked into a non-recipient's export"
    );
    assert!(!text.contains("Weights exfiltration"), "restricted title leaked");
    let stix = meta
        .client
        .export_stix(None)
        .await
        .expect("STIX export")
        .to_string();
    assert!(
        !stix.contains("CANARY"),
        "restricted plaintext leaked into a non-recipient's STIX"
    );
    assert!(
        !stix.contains("\"report\""),
        "a non-recipient exported a restricted report"
    );
    let exported = google.client.export(None).await.expect("export");
    assert!(String::from_utf8(exported).expect("utf-8").contains(CANARY));
    let stix = google.client.export_stix(None).await.expect("STIX export");
    let reports: Vec<&Value> = stix["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["type"] == "report")
        .collect();
    assert_eq!(
        reports.len(),
        2,
        "the recipient exports the bulletin and its correction"
    );
    assert!(reports.iter().all(|r| r["object_marking_refs"]
        == serde_json::json!(["marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"])));
    assert!(stix.to_string().contains(CANARY));
    cluster.shutdown().await;
}

/// Issue 9, medium 5: every read route decrypts restricted bodies after
/// releasing the API's store lock, so a costly ciphertext never holds up
/// other reads. The reader refuses to decrypt on a thread that holds the
/// lock (unit test `a_restricted_body_is_not_decrypted_while_the_store_lock_is_held`),
/// so a route that decrypted under it would answer "not decrypted" here
/// instead of the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restricted_bodies_are_decrypted_outside_the_store_lock() {
    const N: usize = 8;
    let details = |i: usize| format!("CANARY-off-lock-{i}");
    let cluster = Cluster::start(&["anthropic", "google"]).await;
    let (anthropic, google) = (api(&cluster, 0), api(&cluster, 1));
    let mut ids = Vec::new();
    for i in 0..N {
        let published = anthropic
            .client
            .publish(&PublishRequest {
                tier: Some(Tier::Restricted),
                recipients: Some(vec!["google".into()]),
                details: Some(details(i)),
                ..bulletin(&format!("Restricted finding {i}"))
            })
            .await
            .expect("publish restricted");
        // The publish answer opens the new entry for its author.
        assert!(
            matches!(&published.body, Some(BodyView::Bulletin(b)) if b.details == details(i)),
            "{:?}",
            published.body_note
        );
        ids.push(published.entry.id);
    }
    wait_for(WAIT, "the recipient to receive them all", || async {
        for id in &ids {
            if !google.has(id).await {
                return false;
            }
        }
        true
    })
    .await;

    let listed = google.list("?tier=restricted").await;
    assert_eq!(listed.entries.len(), N);
    for entry in &listed.entries {
        assert!(entry.readable, "listed unreadable: {entry:?}");
        assert!(
            entry
                .title
                .as_deref()
                .is_some_and(|t| t.starts_with("Restricted finding"))
        );
    }
    for (i, id) in ids.iter().enumerate() {
        let shown = google.client.show(id).await.expect("show");
        assert!(
            matches!(&shown.body, Some(BodyView::Bulletin(b)) if b.details == details(i)),
            "{:?}",
            shown.body_note
        );
    }
    let exported = String::from_utf8(google.client.export(None).await.expect("export")).expect("utf-8");
    for i in 0..N {
        assert!(exported.contains(&details(i)), "export lacks restricted body {i}");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_works_with_no_peer_connected() {
    let cluster = Cluster::start_some(&["amazon", "microsoft"], 1, &[]).await;
    let amazon = api(&cluster, 0);
    let status = amazon.client.status().await.expect("status");
    assert_eq!(status.connected_peers, 0);
    let published = amazon
        .client
        .publish(&bulletin("Alone but durable"))
        .await
        .expect("publish");
    assert_eq!(amazon.list("").await.entries[0].id, published.entry.id);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors_with_fitting_status_codes() {
    let cluster = Cluster::start(&["google", "meta"]).await;
    let (google, meta) = (api(&cluster, 0), api(&cluster, 1));
    let theirs = meta
        .client
        .publish(&bulletin("Meta's finding"))
        .await
        .expect("publish")
        .entry
        .id;
    let ours = google
        .client
        .publish(&bulletin("Google's finding"))
        .await
        .expect("publish")
        .entry
        .id;
    wait_for(WAIT, "google to receive meta's entry", || google.has(&theirs)).await;
    let zeros = "0".repeat(64);

    // Tokens: checked before anything else, the body included.
    assert_error(
        google.raw(Method::GET, "/v1/entries", None, None).await,
        StatusCode::UNAUTHORIZED,
        "missing `Authorization: Bearer",
    );
    assert_error(
        google
            .raw(Method::GET, "/v1/status", Some("not-the-token"), None)
            .await,
        StatusCode::UNAUTHORIZED,
        "bad token",
    );
    // The token is checked before the body is read. (A small body: with a
    // large one the server's early answer can race the client's upload and
    // surface as a connection reset, which says nothing about the API.)
    assert_error(
        google
            .raw(Method::POST, "/v1/entries", None, Some(vec![b'x'; 1024]))
            .await,
        StatusCode::UNAUTHORIZED,
        "missing",
    );

    // Malformed and oversized requests.
    let token = google.token.clone();
    assert_error(
        google
            .raw(
                Method::POST,
                "/v1/entries",
                Some(&token),
                Some(b"{not json".to_vec()),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "not a valid publish request",
    );
    assert_error(
        google.post(&json!({"titel": "typo"})).await,
        StatusCode::BAD_REQUEST,
        "unknown field `titel`",
    );
    assert_error(
        google.post(&json!({"title": "x", "severity": 5})).await,
        StatusCode::BAD_REQUEST,
        "invalid type",
    );
    assert_error(
        google.post(&json!({"title": "x", "tier": "secret"})).await,
        StatusCode::BAD_REQUEST,
        "unknown tier `secret`",
    );
    // Just over the limit, so the server has read nearly everything when it
    // answers 413 and the answer cannot race the upload.
    let huge = json!({"title": "big", "details": "x".repeat(512 * 1024)});
    assert_error(
        google.post(&huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "over the limit of 512 KiB",
    );

    // Unknown ids and routes.
    assert_error(
        google.get(&format!("/v1/entries/{zeros}")).await,
        StatusCode::NOT_FOUND,
        "no entry",
    );
    assert_error(
        google.get("/v1/entries/xyz").await,
        StatusCode::BAD_REQUEST,
        "not an entry id",
    );
    assert_error(
        google.get("/v1/nothing-here").await,
        StatusCode::NOT_FOUND,
        "no such route",
    );
    assert_error(
        google
            .raw(Method::DELETE, "/v1/entries", Some(&token), None)
            .await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed",
    );

    // Bad filters.
    for (query, phrase) in [
        ("tier=secret", "unknown tier `secret`"),
        ("kind=memo", "unknown kind `memo`"),
        ("category=weather", "unknown category `weather`"),
        ("severity=apocalyptic", "unknown severity"),
        ("since=yesterday", "since `yesterday` is not a time"),
        ("limit=0", "limit `0`"),
        ("limit=5000", "limit `5000`"),
        ("author=nobody", "author `nobody` is not on the roster"),
        ("after=abc", "not an entry id"),
        (&format!("after={zeros}"), "no such entry"),
        ("colour=red", "unknown field `colour`"),
    ] {
        assert_error(
            google.get(&format!("/v1/entries?{query}")).await,
            StatusCode::BAD_REQUEST,
            phrase,
        );
    }
    assert_error(
        google.get("/v1/export?max_tier=top").await,
        StatusCode::BAD_REQUEST,
        "unknown tier",
    );

    // Requests the node must refuse.
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let full = |extra: Value| {
        let mut body = json!({"title": "t", "category": "privacy", "severity": "low"});
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        body
    };
    for (body, phrase) in [
        (
            full(json!({"tier": "hazardous"})),
            "a hazardous bulletin needs `details`",
        ),
        (
            json!({"kind": "access-request", "target": ours}),
            "not published through /v1/entries",
        ),
        (
            json!({"category": "privacy", "severity": "low"}),
            "needs a `title`",
        ),
        (json!({"title": "t"}), "needs a `category`"),
        (full(json!({"commitments": [9]})), "commitments must be"),
        (full(json!({"recipients": ["meta"]})), "only for tier restricted"),
        (full(json!({"tier": "restricted"})), "needs `recipients`"),
        (
            full(json!({"tier": "restricted", "recipients": ["nobody"]})),
            "unknown recipient `nobody`",
        ),
        (full(json!({"kind": "correction"})), "needs `supersedes`"),
        (
            full(json!({"kind": "correction", "supersedes": theirs})),
            "published by `meta`",
        ),
        (
            full(json!({"kind": "correction", "supersedes": zeros})),
            "no such entry",
        ),
        (
            json!({"kind": "retraction", "target": zeros, "reason": "r"}),
            "no such entry",
        ),
        (
            json!({"kind": "retraction", "target": theirs, "reason": "r"}),
            "published by `meta`",
        ),
        (json!({"kind": "retraction", "target": ours}), "needs a `reason`"),
        (
            json!({"kind": "ack", "target": zeros, "status": "mitigated"}),
            "no such entry",
        ),
        (json!({"kind": "ack", "target": theirs}), "needs a `status`"),
        (
            json!({"kind": "ack", "target": theirs, "status": "mitigated", "title": "x"}),
            "`title` does not apply",
        ),
        (
            json!({"kind": "ack", "target": theirs, "status": "mitigated", "tier": "restricted"}),
            "public or consortium",
        ),
    ] {
        assert_error(google.post(&body).await, unprocessable, phrase);
    }

    // Retracting twice is a conflict, unless the second one adds a purge.
    let retract =
        |purge: bool| json!({"kind": "retraction", "target": ours, "reason": "wrong", "purge": purge});
    assert_eq!(google.post(&retract(false)).await.0, StatusCode::CREATED);
    assert_error(
        google.post(&retract(false)).await,
        StatusCode::CONFLICT,
        "already retracted",
    );
    assert_eq!(google.post(&retract(true)).await.0, StatusCode::CREATED);
    assert_error(
        google.post(&retract(true)).await,
        StatusCode::CONFLICT,
        "already retracted",
    );

    // None of the refused requests published anything.
    let (_, status) = google.get("/v1/status").await;
    let status: StatusView = serde_json::from_value(status).expect("status");
    let own = status
        .authors
        .iter()
        .find(|a| a.org == "google")
        .expect("google's log");
    assert_eq!(own.seq, 3, "one bulletin and two retractions");
    let shown: EntryDetail = google.client.show(&ours).await.expect("show");
    assert!(shown.entry.purged);
    cluster.shutdown().await;
}
