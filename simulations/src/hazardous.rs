//! The hazardous tier's release flow in a simulation, driven through the
//! node's own API: a member asks for a finding's withheld fields
//! (`request_access`), the release policy's approver grants
//! (`decide_access`), the author's node releases to the requester's node,
//! which verifies and stores them; and the unauthorized case, where an
//! organization the policy does not allow asks and even a grant must not
//! release anything.

use crate::content::{Canary, find_canaries};
use riskmesh_node::runtime::NodeHandle;
use riskmesh_protocol::body::RetractionBody;
use riskmesh_protocol::redaction::{ReleasePolicy, WithheldField};
use riskmesh_protocol::{Body, Draft, EntryId, Kind, Tier};
use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;

/// How long the harness waits for a granted release to arrive.
pub const RELEASE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the harness watches an unauthorized request for a (wrong)
/// release before concluding none came.
pub const REFUSAL_WATCH: Duration = Duration::from_secs(6);
/// How long the harness watches a retraction race's requester for a
/// (wrong) release after the last approval.
pub const RACE_WATCH: Duration = Duration::from_secs(8);
/// The release record kind of a retraction race.
pub const RETRACTION_RACE: &str = "retraction-race";

/// What happened to one access request.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReleaseRecord {
    /// `granted-release` (the scripted step), `unauthorized-request` or
    /// `retraction-race`.
    pub kind: String,
    /// Publication index of the hazardous finding.
    pub publication: usize,
    /// The finding's author org.
    pub author: String,
    /// The requesting org.
    pub requester: String,
    /// The finding's entry id, hex.
    pub target: String,
    /// When the request was published, s after the phase started.
    pub requested_at_s: f64,
    /// Seconds from the request until the requester held verified fields
    /// (absent: it never did).
    pub released_after_s: Option<f64>,
    /// Fields the requester holds.
    pub fields_received: Vec<String>,
    /// Whether the requester's released `details` holds the finding's canary.
    pub canary_received: bool,
    /// The author node's audit status of the request.
    pub audit_status: String,
    /// Whether the requester published a receipt (per the audit trail).
    pub receipt_seen: bool,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// Whether the outcome is the expected one.
    pub passed: bool,
    /// Honest node index of the requester (for the canary scan).
    #[serde(skip)]
    pub requester_node: usize,
    /// A retraction race's own finding and its canary (the race publishes
    /// its finding itself, outside the plan).
    #[serde(skip)]
    pub race_finding: Option<(EntryId, Canary)>,
}

/// The fields a request asks for.
fn requested_fields() -> Vec<WithheldField> {
    vec![WithheldField::Details, WithheldField::References]
}

async fn audit_of(author: &NodeHandle, target: EntryId, request: EntryId) -> (String, bool) {
    match author.audit(target).await {
        Ok(trail) => trail
            .requests
            .iter()
            .find(|r| r.request == request.to_hex())
            .map(|r| (r.status.clone(), r.received_at_ms.is_some()))
            .unwrap_or_else(|| ("request not seen by the author".into(), false)),
        Err(e) => (format!("audit failed: {e}"), false),
    }
}

/// Polls `requester.released(target)` until fields arrive or `timeout`.
async fn wait_released(
    requester: &NodeHandle,
    target: EntryId,
    timeout: Duration,
) -> Option<riskmesh_node::plaintext::Openings> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(fields) = requester.released(target).await
            && !fields.is_empty()
        {
            return Some(fields);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Waits until `handle` holds entry `id` (the author must see a request
/// before its decision refers to it).
async fn wait_holds(handle: &NodeHandle, author_org: &str, seq: u64, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(status) = handle.status().await
            && status.authors.iter().any(|a| a.org == author_org && a.seq >= seq)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The parties of one request.
#[derive(Debug, Clone)]
pub struct Parties {
    /// The finding's author.
    pub author: NodeHandle,
    /// The author's org.
    pub author_org: String,
    /// The requester.
    pub requester: NodeHandle,
    /// The requester's org.
    pub requester_org: String,
    /// The requester's honest node index.
    pub requester_node: usize,
}

/// Runs one request: the requester asks, the author (the default policy's
/// approver) grants, and the harness waits for the release. With
/// `expect_release` false the requester is not allowed by the policy, so
/// nothing may arrive even though the author grants.
pub async fn request_and_grant(
    parties: Parties,
    publication: usize,
    target: EntryId,
    canary: Option<String>,
    t0: Instant,
    expect_release: bool,
) -> ReleaseRecord {
    let mut record = ReleaseRecord {
        kind: if expect_release {
            "granted-release"
        } else {
            "unauthorized-request"
        }
        .into(),
        publication,
        author: parties.author_org.clone(),
        requester: parties.requester_org.clone(),
        target: target.to_hex(),
        requester_node: parties.requester_node,
        ..ReleaseRecord::default()
    };
    let requested = Instant::now();
    record.requested_at_s = requested.duration_since(t0).as_secs_f64();
    let reason = if expect_release {
        "Need-to-know: we run the same model family and must verify our mitigation."
    } else {
        "Research interest (observer; the policy does not allow observers)."
    };
    let request = match parties
        .requester
        .request_access(target, requested_fields(), reason.into())
        .await
    {
        Ok(entry) => entry,
        Err(e) => {
            record.error = Some(format!("request refused by the requester's node: {e}"));
            // A node refusing to even publish an unauthorized request also
            // keeps the details away from it.
            record.passed = !expect_release;
            record.audit_status = "request not published".into();
            return record;
        }
    };
    let seq = request.header().seq;
    if !wait_holds(
        &parties.author,
        &parties.requester_org,
        seq,
        Duration::from_secs(20),
    )
    .await
    {
        record.error = Some("the author's node never received the request".into());
        return record;
    }
    let grant = parties
        .author
        .decide_access(
            request.id(),
            true,
            "Approved by the author's release policy owner.".into(),
        )
        .await;
    if let Err(e) = grant {
        record.error = Some(format!("the approver could not publish its decision: {e}"));
        return record;
    }
    let wait = if expect_release {
        RELEASE_TIMEOUT
    } else {
        REFUSAL_WATCH
    };
    let fields = wait_released(&parties.requester, target, wait).await;
    if let Some(fields) = &fields {
        record.released_after_s = Some(requested.elapsed().as_secs_f64());
        record.fields_received = fields.iter().map(|r| r.field.name().to_string()).collect();
        if let Some(canary) = &canary {
            record.canary_received = fields
                .iter()
                .filter(|r| r.field == WithheldField::Details)
                .any(|r| find_canaries(&r.value).iter().any(|c| c == canary));
        }
    }
    // Give the receipt a moment to reach the author before reading the trail.
    if expect_release && fields.is_some() {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, receipt) = audit_of(&parties.author, target, request.id()).await;
            record.audit_status = status;
            record.receipt_seen = receipt;
            if receipt || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    } else {
        let (status, receipt) = audit_of(&parties.author, target, request.id()).await;
        record.audit_status = status;
        record.receipt_seen = receipt;
    }
    record.passed = if expect_release {
        fields.is_some() && record.canary_received && record.receipt_seen
    } else {
        fields.is_none() && record.audit_status == "not-allowed"
    };
    if !record.passed && record.error.is_none() {
        record.error = Some(if expect_release {
            "the granted release did not complete (fields, canary or receipt missing)".into()
        } else {
            "an unauthorized requester received withheld fields or the policy did not say not-allowed".into()
        });
    }
    record
}

/// The parties of a retraction race.
#[derive(Debug, Clone)]
pub struct RaceParties {
    /// The finding's author, the requester and the index of the requester's node.
    pub parties: Parties,
    /// The approver that approves and then retracts, with its org.
    pub retracting: (NodeHandle, String),
    /// The approver whose approval comes last, with its org.
    pub late: (NodeHandle, String),
}

/// A retraction race: the author publishes a finding whose policy needs
/// both approvers; the requester asks; the first approver approves, then
/// retracts that approval; as soon as the author's node holds the
/// retraction, the second approver approves. Without the retracted
/// approval the threshold is not met, so nothing may be released. The
/// returned record's `race_finding` lets the checks scan for its canary.
pub async fn retraction_race(race: RaceParties, seed: u64, index: usize, t0: Instant) -> ReleaseRecord {
    let RaceParties {
        parties,
        retracting,
        late,
    } = race;
    let mut record = ReleaseRecord {
        kind: RETRACTION_RACE.into(),
        publication: index,
        author: parties.author_org.clone(),
        requester: parties.requester_org.clone(),
        requester_node: parties.requester_node,
        ..ReleaseRecord::default()
    };
    let mut approvers = vec![
        crate::content::org_key(&retracting.1),
        crate::content::org_key(&late.1),
    ];
    approvers.sort();
    let policy = ReleasePolicy {
        observers_may_request: false,
        approvers,
        threshold: 2,
    };
    let mut rng = crate::rng::SimRng::derive(seed, &format!("retraction-race/{index}"));
    let (_, material, canary) = crate::content::hazardous_finding(
        &mut rng,
        seed,
        index,
        "Hazardous finding (retraction race)",
        policy,
    );
    let finding = match parties
        .author
        .publish_hazardous(material.full, material.redaction)
        .await
    {
        Ok(e) => e,
        Err(e) => {
            record.error = Some(format!("the author could not publish the finding: {e}"));
            return record;
        }
    };
    let target = finding.id();
    record.target = target.to_hex();
    record.race_finding = Some((target, canary));
    let fail = |mut record: ReleaseRecord, why: String| {
        record.error = Some(why);
        record
    };
    let hold = Duration::from_secs(20);
    if !wait_holds(
        &parties.requester,
        &parties.author_org,
        finding.header().seq,
        hold,
    )
    .await
    {
        return fail(record, "the requester never received the finding".into());
    }
    let requested = Instant::now();
    record.requested_at_s = requested.duration_since(t0).as_secs_f64();
    let request = match parties
        .requester
        .request_access(
            target,
            requested_fields(),
            "Need-to-know; two approvals required.".into(),
        )
        .await
    {
        Ok(r) => r,
        Err(e) => return fail(record, format!("request refused by the requester's node: {e}")),
    };
    for (handle, _) in [&retracting, &late] {
        if !wait_holds(handle, &parties.requester_org, request.header().seq, hold).await {
            return fail(record, "an approver never received the request".into());
        }
    }
    let approval = match retracting
        .0
        .decide_access(request.id(), true, "Approved.".into())
        .await
    {
        Ok(d) => d,
        Err(e) => return fail(record, format!("the first approval could not be published: {e}")),
    };
    if !wait_holds(&parties.author, &retracting.1, approval.header().seq, hold).await {
        return fail(record, "the author never received the first approval".into());
    }
    let retraction = retracting
        .0
        .publish(Draft {
            kind: Kind::Retraction,
            tier: Tier::Consortium,
            body: Body::Retraction(RetractionBody {
                target: approval.id(),
                reason: "Approval withdrawn: granted in error.".into(),
                purge: false,
            }),
            recipients: None,
        })
        .await;
    let retraction = match retraction {
        Ok(r) => r,
        Err(e) => return fail(record, format!("the retraction could not be published: {e}")),
    };
    if !wait_holds(&parties.author, &retracting.1, retraction.header().seq, hold).await {
        return fail(record, "the author never received the retraction".into());
    }
    if let Err(e) = late.0.decide_access(request.id(), true, "Approved.".into()).await {
        return fail(record, format!("the second approval could not be published: {e}"));
    }
    // Long enough for the second approval to reach the author, a release
    // to be prepared and delivered, and a sync-interval scan to run.
    let fields = wait_released(&parties.requester, target, RACE_WATCH).await;
    if let Some(fields) = &fields {
        record.released_after_s = Some(requested.elapsed().as_secs_f64());
        record.fields_received = fields.iter().map(|r| r.field.name().to_string()).collect();
        record.canary_received = record
            .race_finding
            .as_ref()
            .is_some_and(|(_, c)| fields.iter().any(|r| find_canaries(&r.value).contains(&c.text)));
    }
    let (status, receipt) = audit_of(&parties.author, target, request.id()).await;
    record.audit_status = status;
    record.receipt_seen = receipt;
    record.passed = fields.is_none();
    if !record.passed {
        record.error = Some(format!(
            "the requester received {:?} although one of the two approvals was retracted before the other arrived",
            record.fields_received
        ));
    }
    record
}
