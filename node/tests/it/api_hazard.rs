//! The hazardous tier through the local HTTP API: publishing a finding with
//! withheld fields, requesting, approving and denying, the audit trail, and
//! the one place withheld values appear (`GET …/withheld`, for the author's
//! and — after an approved release — the requester's analysts). A canary in
//! the withheld fields is searched for in every other answer and export of
//! every node. Bad inputs get clear errors with fitting status codes.

use super::api::{Api, api, assert_error};
use reqwest::{Method, StatusCode};
use riskmesh_node::api::access::HeldValue;
use riskmesh_node::api::views::{BodyView, EntryDetail};
use riskmesh_node::api::{AccessRequestInput, DecisionInput, HeldFields};
use riskmesh_node::testnet::{Cluster, wait_for};
use riskmesh_protocol::Tier;
use riskmesh_protocol::redaction::WithheldField;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const CANARY: &str = "CANARY-91d2e7-enhancement-protocol";

/// A hazardous publish request: the canary in details and references.
fn finding(extra: Value) -> Value {
    let mut body = json!({
        "tier": "hazardous",
        "title": "Model gives uplift for pathogen enhancement",
        "summary": "Evaluation shows meaningful uplift on a wet-lab protocol task.",
        "category": "bio",
        "severity": "critical",
        "affected": ["frontier-model-x"],
        "details": format!("Step 1 of the recipe: {CANARY}"),
        "mitigations": ["Refusal training on the protocol class."],
        "references": [format!("internal-eval-{CANARY}")],
    });
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    body
}

impl Api {
    async fn post_to(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let bytes = serde_json::to_vec(body).expect("json");
        self.raw(Method::POST, path, Some(&self.token.clone()), Some(bytes))
            .await
    }

    async fn request(&self, entry: &str, body: &Value) -> (StatusCode, Value) {
        self.post_to(&format!("/v1/entries/{entry}/requests"), body).await
    }

    async fn decide(&self, request: &str, verb: &str, body: &Value) -> (StatusCode, Value) {
        self.post_to(&format!("/v1/requests/{request}/{verb}"), body)
            .await
    }

    async fn held(&self, entry: &str) -> (StatusCode, Value) {
        self.get(&format!("/v1/entries/{entry}/withheld")).await
    }

    /// Every answer a reader gets about every entry: the list, each entry
    /// shown, each audit trail, and the export.
    async fn everything_readable(&self) -> String {
        let (status, list) = self.get("/v1/entries?limit=1000").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let mut text = list.to_string();
        for entry in list["entries"].as_array().expect("entries") {
            let id = entry["id"].as_str().expect("id");
            text.push_str(&self.get(&format!("/v1/entries/{id}")).await.1.to_string());
            text.push_str(&self.get(&format!("/v1/entries/{id}/audit")).await.1.to_string());
        }
        let exported = self.client.export(None).await.expect("export");
        text.push_str(&String::from_utf8(exported).expect("utf-8"));
        text
    }
}

/// Asserts a 201 answer and returns the entry it describes.
#[track_caller]
fn created((status, body): (StatusCode, Value)) -> EntryDetail {
    assert_eq!(status, StatusCode::CREATED, "{body}");
    serde_json::from_value(body).expect("an entry detail")
}

fn held_text(held: &HeldFields, field: &str) -> String {
    match &held
        .fields
        .iter()
        .find(|f| f.field == field)
        .expect("field held")
        .value
    {
        HeldValue::Text(text) => text.clone(),
        HeldValue::List(items) => items.join("\n"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_hazardous_details_reach_only_the_author_and_the_approved_requester() {
    let cluster = Cluster::start_with_observers(&["anthropic", "google", "meta"], &["academic-lab"]).await;
    let nodes: Vec<Api> = (0..4).map(|i| api(&cluster, i)).collect();
    let (anthropic, google, meta, lab) = (&nodes[0], &nodes[1], &nodes[2], &nodes[3]);

    // meta publishes: details and references withheld, 2 of 2 named approvers.
    let answer = meta
        .post(&finding(json!({
            "withhold": ["references"],
            "release": {"approvers": ["meta", "anthropic"], "threshold": 2},
        })))
        .await;
    assert!(
        !answer.1.to_string().contains(CANARY),
        "the publish answer echoes withheld values"
    );
    let published = created(answer);
    let id = published.entry.id.clone();
    assert_eq!(
        (published.entry.tier, published.entry.tlp.as_str()),
        (Tier::Hazardous, "TLP:RED")
    );
    let Some(BodyView::Bulletin(summary)) = &published.body else {
        panic!("the redacted summary is shown: {published:?}");
    };
    assert_eq!(summary.details, "");
    assert!(summary.references.is_empty());
    assert_eq!(summary.affected, ["frontier-model-x"], "fields not withheld stay");
    let withheld = summary.withheld.as_ref().expect("withheld fields listed");
    assert_eq!(
        withheld.iter().map(|w| w.field.as_str()).collect::<Vec<_>>(),
        ["details", "references"]
    );
    assert!(withheld.iter().all(|w| w.commitment.len() == 64));
    let release = summary.release.as_ref().expect("release policy shown");
    assert_eq!(
        (
            release.approvers.clone(),
            release.threshold,
            release.observers_may_request
        ),
        (vec!["anthropic".to_string(), "meta".to_string()], 2, false)
    );

    wait_for(WAIT, "every node to hold the summary", || async {
        for node in &nodes {
            if !node.has(&id).await {
                return false;
            }
        }
        true
    })
    .await;
    for node in &nodes {
        let (status, shown) = node.get(&format!("/v1/entries/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!shown.to_string().contains(CANARY), "{shown}");
        assert_eq!(shown["body"]["withheld"][0]["field"], "details");
    }

    // The author's analysts read the withheld fields; nobody else yet.
    let (status, held) = meta.held(&id).await;
    assert_eq!(status, StatusCode::OK, "{held}");
    let held: HeldFields = serde_json::from_value(held).expect("held fields");
    assert_eq!(held.held_as, "author");
    assert!(held_text(&held, "details").contains(CANARY));
    assert!(held_text(&held, "references").contains(CANARY));
    assert_error(
        google.held(&id).await,
        StatusCode::NOT_FOUND,
        "holds no withheld fields",
    );

    // An observer may not ask under this policy.
    assert_error(
        lab.request(&id, &json!({"fields": ["details"], "reason": "research"}))
            .await,
        StatusCode::FORBIDDEN,
        "does not let observers request",
    );

    // Through the typed calls, as the CLI makes them.
    let request = google
        .client
        .request_access(
            &id,
            &AccessRequestInput {
                fields: Some(vec![WithheldField::Details]),
                reason: "Building a classifier to block this uplift".into(),
            },
        )
        .await
        .expect("request");
    let request_id = request.entry.id.clone();
    assert!(
        matches!(&request.body, Some(BodyView::AccessRequest(r)) if r.fields == ["details"]),
        "{request:?}"
    );
    assert_eq!(request.entry.target.as_deref(), Some(id.as_str()));
    wait_for(WAIT, "the approvers to hold the request", || async {
        anthropic.has(&request_id).await && meta.has(&request_id).await && lab.has(&request_id).await
    })
    .await;

    // Organizations the policy does not name cannot decide.
    for outsider in [google, lab] {
        assert_error(
            outsider.decide(&request_id, "approve", &json!({})).await,
            StatusCode::FORBIDDEN,
            "your organization is not an approver for this entry",
        );
    }
    created(
        anthropic
            .decide(
                &request_id,
                "approve",
                &json!({"reason": "Justified defensive use"}),
            )
            .await,
    );
    assert_error(
        anthropic.decide(&request_id, "approve", &json!({})).await,
        StatusCode::CONFLICT,
        "already approved",
    );
    // One approval of two releases nothing.
    let (_, audit) = anthropic.get(&format!("/v1/entries/{id}/audit")).await;
    assert_eq!(
        audit["requests"][0]["status"], "pending (1 of 2 approvals)",
        "{audit}"
    );
    assert_error(
        google.held(&id).await,
        StatusCode::NOT_FOUND,
        "holds no withheld fields",
    );

    wait_for(WAIT, "meta to hold anthropic's approval", || async {
        let (_, audit) = meta.get(&format!("/v1/entries/{id}/audit")).await;
        audit["requests"][0]["decisions"]
            .as_array()
            .is_some_and(|d| d.len() == 1)
    })
    .await;
    let decision = meta
        .client
        .decide(
            &request_id,
            true,
            &DecisionInput {
                reason: Some("Agreed".into()),
            },
        )
        .await
        .expect("approve");
    assert!(matches!(&decision.body, Some(BodyView::AccessDecision(d)) if d.grant));
    wait_for(WAIT, "google to receive the details", || async {
        google.held(&id).await.0 == StatusCode::OK
    })
    .await;
    let held = google.client.withheld(&id).await.expect("held fields");
    assert_eq!(
        (held.held_as.as_str(), held.author.as_str()),
        ("released", "meta")
    );
    assert_eq!(
        held.fields.iter().map(|f| f.field.as_str()).collect::<Vec<_>>(),
        ["details"],
        "only the requested field"
    );
    assert!(held_text(&held, "details").contains(CANARY));
    assert_error(
        google
            .request(&id, &json!({"fields": ["details"], "reason": "again"}))
            .await,
        StatusCode::CONFLICT,
        "already holds details",
    );

    // The audit trail, as every node sees it once the receipt arrives.
    wait_for(WAIT, "the receipt to reach anthropic", || async {
        let (_, audit) = anthropic.get(&format!("/v1/entries/{id}/audit")).await;
        audit["requests"][0]["received_at_ms"].is_u64()
    })
    .await;
    let typed = anthropic.client.audit(&id).await.expect("audit");
    assert_eq!(typed.requests[0].decisions.len(), 2);
    let (status, audit) = anthropic.get(&format!("/v1/entries/{id}/audit")).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    assert_eq!(audit["author"], "meta");
    assert_eq!(audit["withheld"], json!(["details", "references"]));
    assert_eq!(audit["approvers"], json!(["anthropic", "meta"]));
    let trail = &audit["requests"][0];
    assert_eq!(trail["request"], request_id.as_str());
    assert_eq!(trail["org"], "google");
    assert_eq!(trail["reason"], "Building a classifier to block this uplift");
    assert_eq!(trail["fields"], json!(["details"]));
    assert_eq!(trail["status"], "granted");
    let decisions: Vec<(&str, bool, &str)> = trail["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .map(|d| {
            (
                d["org"].as_str().expect("org"),
                d["grant"].as_bool().expect("grant"),
                d["reason"].as_str().expect("reason"),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("anthropic", true, "Justified defensive use"),
            ("meta", true, "Agreed")
        ]
    );

    // anthropic is one of the two approvers the policy needs, and its own
    // decisions never count: its request could never be granted, so the
    // API refuses it and says why.
    assert_error(
        anthropic
            .request(
                &id,
                &json!({"fields": ["references"], "reason": "Cross-check sources"}),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "could never be granted",
    );

    // A denial is recorded with its reason and settles the request.
    let second = created(
        google
            .request(
                &id,
                &json!({"fields": ["references"], "reason": "Cross-check sources"}),
            )
            .await,
    );
    wait_for(WAIT, "meta to hold the second request", || {
        meta.has(&second.entry.id)
    })
    .await;
    assert_error(
        meta.decide(&second.entry.id, "deny", &json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "needs a `reason`",
    );
    created(
        meta.decide(
            &second.entry.id,
            "deny",
            &json!({"reason": "Sources identify the lab"}),
        )
        .await,
    );
    let (_, audit) = meta.get(&format!("/v1/entries/{id}/audit")).await;
    let denied = audit["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .find(|r| r["request"] == second.entry.id.as_str())
        .expect("the second request");
    assert_eq!(denied["status"], "denied", "{audit}");
    assert_eq!(denied["decisions"][0]["reason"], "Sources identify the lab");

    // Withheld values appear nowhere else on any node.
    for node in [anthropic, lab] {
        assert_error(
            node.held(&id).await,
            StatusCode::NOT_FOUND,
            "holds no withheld fields",
        );
    }
    for (node, org) in nodes.iter().zip(&cluster.orgs) {
        let text = node.everything_readable().await;
        assert!(
            !text.contains(CANARY),
            "withheld values in an answer or export of {org}"
        );
        assert!(text.contains(&id), "{org}'s answers cover the hazardous entry");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_bad_hazardous_requests_get_clear_errors() {
    let cluster = Cluster::start_with_observers(&["google", "meta"], &["academic-lab"]).await;
    let (google, meta, lab) = (api(&cluster, 0), api(&cluster, 1), api(&cluster, 2));
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let ordinary = created(
        google
            .post(&json!({"title": "Ordinary", "category": "privacy", "severity": "low"}))
            .await,
    )
    .entry
    .id;
    // A title and affected systems can be withheld too; a sanitized title
    // replaces the title everyone sees.
    let answer = meta
        .post(&finding(json!({
            "title": format!("Title naming {CANARY}"),
            "withhold": ["title", "affected"],
            "sanitized_title": "Bio uplift finding",
            "references": ["internal-eval-7"],
        })))
        .await;
    assert!(!answer.1.to_string().contains(CANARY), "{}", answer.1);
    let hazardous = created(answer);
    assert_eq!(hazardous.entry.title.as_deref(), Some("Bio uplift finding"));
    let Some(BodyView::Bulletin(summary)) = &hazardous.body else {
        panic!("summary expected");
    };
    assert!(summary.affected.is_empty());
    let names: Vec<&str> = summary
        .withheld
        .iter()
        .flatten()
        .map(|w| w.field.as_str())
        .collect();
    assert_eq!(names, ["details", "title", "affected"]);
    assert_eq!(
        summary.release.as_ref().map(|r| r.approvers.len()),
        Some(0),
        "default policy: the author alone"
    );
    let hazardous = hazardous.entry.id;
    let (_, held) = meta.held(&hazardous).await;
    let held: HeldFields = serde_json::from_value(held).expect("held");
    assert!(held_text(&held, "title").contains(CANARY));
    assert_eq!(held_text(&held, "affected"), "frontier-model-x");
    wait_for(WAIT, "google and the lab to hold both entries", || async {
        google.has(&hazardous).await && lab.has(&hazardous).await && meta.has(&ordinary).await
    })
    .await;

    // Publishing.
    for (body, status, phrase) in [
        (
            finding(json!({"withhold": ["recipe"]})),
            StatusCode::BAD_REQUEST,
            "unknown withheld field `recipe`",
        ),
        (
            finding(json!({"release": {"approverz": ["meta"]}})),
            StatusCode::BAD_REQUEST,
            "unknown field `approverz`",
        ),
        (
            finding(json!({"tier": "consortium", "withhold": ["title"]})),
            unprocessable,
            "only apply to tier hazardous",
        ),
        (
            finding(json!({"release": {"approvers": ["nobody"]}})),
            unprocessable,
            "unknown approver `nobody`",
        ),
        (
            finding(json!({"release": {"approvers": ["academic-lab"]}})),
            unprocessable,
            "is an observer",
        ),
        (
            finding(json!({"release": {"approvers": ["google", "meta"], "threshold": 3}})),
            unprocessable,
            "must be between 1 and 2",
        ),
        (
            finding(json!({"release": {"approvers": ["google"], "threshold": 0}})),
            unprocessable,
            "out of range",
        ),
        (
            finding(json!({"release": {"threshold": 2}})),
            unprocessable,
            "the author alone approves",
        ),
        (
            finding(json!({"sanitized_title": "x"})),
            unprocessable,
            "only applies when the title is withheld",
        ),
        (
            finding(json!({"recipients": ["meta"]})),
            unprocessable,
            "only for tier restricted",
        ),
        (finding(json!({"details": " "})), unprocessable, "needs `details`"),
        (
            finding(json!({"kind": "correction", "supersedes": ordinary})),
            unprocessable,
            "cannot be published at the hazardous tier",
        ),
    ] {
        assert_error(google.post(&body).await, status, phrase);
    }
    assert_error(
        lab.post(&finding(json!({}))).await,
        unprocessable,
        "observers publish at tiers public and consortium",
    );

    // Requesting.
    let zeros = "0".repeat(64);
    let reason = json!({"reason": "mitigation work"});
    assert_error(
        google.request(&zeros, &reason).await,
        StatusCode::NOT_FOUND,
        "no entry",
    );
    assert_error(
        google.request("xyz", &reason).await,
        StatusCode::BAD_REQUEST,
        "not an entry id",
    );
    assert_error(
        google.request(&ordinary, &reason).await,
        unprocessable,
        "not a hazardous bulletin",
    );
    for (body, status, phrase) in [
        (
            json!({"fields": ["recipe"], "reason": "r"}),
            StatusCode::BAD_REQUEST,
            "unknown withheld field `recipe`",
        ),
        (
            json!({"fields": ["references"], "reason": "r"}),
            unprocessable,
            "field `references` is not withheld",
        ),
        (
            json!({"fields": [], "reason": "r"}),
            unprocessable,
            "`fields` is empty",
        ),
        (json!({"fields": ["details"]}), unprocessable, "needs a `reason`"),
        (
            json!({"reason": "r", "urgency": "high"}),
            StatusCode::BAD_REQUEST,
            "unknown field `urgency`",
        ),
    ] {
        assert_error(google.request(&hazardous, &body).await, status, phrase);
    }
    assert_error(
        google
            .raw(
                Method::POST,
                &format!("/v1/entries/{hazardous}/requests"),
                Some(&google.token.clone()),
                Some(b"{not json".to_vec()),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "not a valid access request",
    );
    assert_error(
        meta.request(&hazardous, &reason).await,
        unprocessable,
        "your organization published",
    );

    // Deciding.
    let request = created(google.request(&hazardous, &reason).await).entry.id;
    assert_error(
        google.decide(&zeros, "approve", &json!({})).await,
        StatusCode::NOT_FOUND,
        "no access request",
    );
    wait_for(WAIT, "meta to hold the request", || meta.has(&request)).await;
    assert_error(
        meta.decide(&hazardous, "approve", &json!({})).await,
        unprocessable,
        "not an access request",
    );
    assert_error(
        google.decide(&request, "approve", &json!({})).await,
        StatusCode::FORBIDDEN,
        "your organization is not an approver for this entry",
    );
    assert_error(
        google.decide(&request, "deny", &json!({"reason": "no"})).await,
        StatusCode::FORBIDDEN,
        "not an approver",
    );
    assert_error(
        meta.decide(&request, "approve", &json!({"verdict": "yes"})).await,
        StatusCode::BAD_REQUEST,
        "unknown field `verdict`",
    );
    assert_error(
        meta.raw(
            Method::GET,
            &format!("/v1/requests/{request}/approve"),
            Some(&meta.token.clone()),
            None,
        )
        .await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed",
    );

    // Audit and withheld fields of entries that have none.
    for path in ["audit", "withheld"] {
        assert_error(
            google.get(&format!("/v1/entries/{zeros}/{path}")).await,
            StatusCode::NOT_FOUND,
            "no entry",
        );
        assert_error(
            google.get(&format!("/v1/entries/{ordinary}/{path}")).await,
            unprocessable,
            "not a hazardous bulletin",
        );
    }
    let (status, audit) = google.get(&format!("/v1/entries/{hazardous}/audit")).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    assert_eq!(audit["title"], "Bio uplift finding");
    assert_eq!(audit["requests"][0]["status"], "pending (0 of 1 approvals)");
    for node in [&google, &lab] {
        assert!(!node.everything_readable().await.contains(CANARY));
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_refuses_a_request_by_the_sole_approver_that_could_never_be_granted() {
    let cluster = Cluster::start(&["google", "meta"]).await;
    let (google, meta) = (api(&cluster, 0), api(&cluster, 1));
    let hazardous = created(
        meta.post(&finding(
            json!({"release": {"approvers": ["google"], "threshold": 1}}),
        ))
        .await,
    )
    .entry
    .id;
    wait_for(WAIT, "google to hold the entry", || async {
        google.has(&hazardous).await
    })
    .await;
    let answer = google
        .request(&hazardous, &json!({"reason": "our own classifier work"}))
        .await;
    assert_error(
        answer.clone(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "could never be granted",
    );
    assert_error(
        answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "decisions on its own request never count",
    );
    cluster.shutdown().await;
}
