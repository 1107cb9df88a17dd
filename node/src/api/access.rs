//! The hazardous tier's release flow for analysts: asking for withheld
//! fields (`POST /v1/entries/{id}/requests`), approving or denying a request
//! (`POST /v1/requests/{id}/approve|deny`), the audit trail
//! (`GET /v1/entries/{id}/audit`) and the withheld fields this organization
//! holds (`GET /v1/entries/{id}/withheld`).
//!
//! The checks here exist for analysts' sake: a request or decision the
//! policy does not allow gets a clear refusal instead of an entry that
//! silently changes nothing. The real guard is the release policy, evaluated
//! by the author's node before it releases anything. Withheld values leave
//! this module only in the answer of `…/withheld`, to this organization's
//! own analysts (the bearer token), and only if this organization is the
//! author or received them through an approved release.

use super::entries::{bad_request, created};
use super::names::named_list;
use super::publish::{parse_id, unprocessable};
use super::views::EntryDetail;
use super::{ApiError, ApiState, with_store};
use crate::plaintext::{Wipe, Wiped};
use crate::runtime::hazard::{AuditRetraction, AuditTrail, LogPosition};
use crate::store::{Store, StoredEntry};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use riskmesh_protocol::body::AccessRequestBody;
use riskmesh_protocol::cbor;
use riskmesh_protocol::limits::MAX_BODY_BYTES;
use riskmesh_protocol::redaction::{Reveal, WithheldField};
use riskmesh_protocol::release::{self, Ineligible, Verdict};
use riskmesh_protocol::{Body, BulletinBody, EntryId, Kind, OrgKey, Roster, Tier};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

/// The body of `POST /v1/entries/{id}/requests`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRequestInput {
    /// Withheld fields asked for (default: `details`).
    #[serde(default, with = "named_list", skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<WithheldField>>,
    /// Why this organization needs them (required; every member sees it).
    #[serde(default)]
    pub reason: String,
}

/// The body of `POST /v1/requests/{id}/approve` and `…/deny`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    /// Why (required to deny; every member sees it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where an entry of an audit trail stands in the log. `at_ms` elsewhere
/// is its author's claim; `seq` (signed, chained) and `received_ms` (this
/// node's clock) are what the claim can be checked against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPositionView {
    /// The entry's id, hex.
    pub entry: String,
    /// Its position in its author's log.
    pub seq: u64,
    /// When this node stored it (this node's clock), Unix ms.
    pub received_ms: u64,
}

impl From<&LogPosition> for LogPositionView {
    fn from(p: &LogPosition) -> Self {
        LogPositionView {
            entry: p.entry.clone(),
            seq: p.seq,
            received_ms: p.received_ms,
        }
    }
}

/// A retraction in an audit trail, by the retracted entry's own author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRetractionView {
    /// Why, as the retracting organization wrote it.
    pub reason: String,
    /// Whether it also purged the retracted entry's body.
    pub purge: bool,
    /// When (the retracting organization's clock), Unix ms.
    pub at_ms: u64,
    /// The retraction entry in the log.
    pub logged: LogPositionView,
}

impl From<&AuditRetraction> for AuditRetractionView {
    fn from(r: &AuditRetraction) -> Self {
        AuditRetractionView {
            reason: r.reason.clone(),
            purge: r.purge,
            at_ms: r.logged.at_ms,
            logged: LogPositionView::from(&r.logged),
        }
    }
}

/// One decision in an audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditDecisionView {
    /// Deciding organization.
    pub org: String,
    /// Approved (true) or denied.
    pub grant: bool,
    /// Why.
    pub reason: String,
    /// When (the decider's clock: a claim), Unix ms.
    pub at_ms: u64,
    /// The decision entry in the log: the decider's seq and this node's
    /// receive time.
    pub logged: LogPositionView,
    /// Its retraction by the decider, if any: a retracted decision never
    /// counts toward a grant.
    #[serde(default)]
    pub retraction: Option<AuditRetractionView>,
}

/// One access request in an audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRequestView {
    /// The access request's id, hex (what `approve` and `deny` take).
    pub request: String,
    /// Requesting organization.
    pub org: String,
    /// Its justification.
    pub reason: String,
    /// Fields asked for.
    pub fields: Vec<String>,
    /// When (the requester's clock: a claim), Unix ms.
    pub at_ms: u64,
    /// The request entry in the log: the requester's seq and this node's
    /// receive time.
    pub logged: LogPositionView,
    /// Decisions, in log order.
    pub decisions: Vec<AuditDecisionView>,
    /// The policy's verdict now: `revoked`, `not-allowed`,
    /// `never-grantable`, `pending (g of k approvals)`, `granted` or
    /// `denied`.
    pub status: String,
    /// Why, for `revoked`, `not-allowed` and `never-grantable`.
    #[serde(default)]
    pub why: Option<String>,
    /// Its retraction by the requester, if any.
    #[serde(default)]
    pub retraction: Option<AuditRetractionView>,
    /// When the requester published its receipt, if it did.
    pub received_at_ms: Option<u64>,
}

/// The answer of `GET /v1/entries/{id}/audit`: who asked, why, who
/// approved or denied, who received, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditView {
    /// The hazardous entry, hex.
    pub entry: String,
    /// Its (gossiped, possibly sanitized) title.
    pub title: Option<String>,
    /// Its author organization.
    pub author: String,
    /// Withheld field names.
    pub withheld: Vec<String>,
    /// Approving organizations, by org id (empty: the author alone).
    pub approvers: Vec<String>,
    /// Approvals needed.
    pub threshold: u64,
    /// Whether observers may request.
    pub observers_may_request: bool,
    /// Its retraction by its author, if any: nothing is released after it.
    #[serde(default)]
    pub retraction: Option<AuditRetractionView>,
    /// Requests, oldest first.
    pub requests: Vec<AuditRequestView>,
}

impl From<AuditTrail> for AuditView {
    fn from(t: AuditTrail) -> Self {
        let mut approvers = t.approvers;
        approvers.sort();
        AuditView {
            entry: t.entry,
            title: None,
            author: t.author,
            withheld: t.withheld,
            approvers,
            threshold: t.threshold,
            observers_may_request: t.observers_may_request,
            retraction: t.retraction.as_ref().map(AuditRetractionView::from),
            requests: t
                .requests
                .into_iter()
                .map(|r| AuditRequestView {
                    logged: LogPositionView::from(&r.logged),
                    retraction: r.retraction.as_ref().map(AuditRetractionView::from),
                    request: r.request,
                    org: r.org,
                    reason: r.reason,
                    fields: r.fields,
                    at_ms: r.at_ms,
                    decisions: r
                        .decisions
                        .into_iter()
                        .map(|d| AuditDecisionView {
                            logged: LogPositionView::from(&d.logged),
                            retraction: d.retraction.as_ref().map(AuditRetractionView::from),
                            org: d.org,
                            grant: d.grant,
                            reason: d.reason,
                            at_ms: d.at_ms,
                        })
                        .collect(),
                    status: r.status,
                    why: r.why,
                    received_at_ms: r.received_at_ms,
                })
                .collect(),
        }
    }
}

/// The value of a withheld field: text (details, title, summary) or a list
/// (affected, references).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HeldValue {
    /// Details, title or summary.
    Text(String),
    /// Affected systems or references.
    List(Vec<String>),
}

/// One withheld field this organization holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldField {
    /// Field name.
    pub field: String,
    /// Its commitment in the gossiped entry, hex (the value opens it).
    pub commitment: String,
    /// The value.
    pub value: HeldValue,
}

/// The answer of `GET /v1/entries/{id}/withheld`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldFields {
    /// The hazardous entry, hex.
    pub entry: String,
    /// Its author organization.
    pub author: String,
    /// `author` (this organization published it) or `released` (received
    /// through an approved request).
    pub held_as: String,
    /// The fields, in wire order.
    pub fields: Vec<HeldField>,
    /// How the values may be handled.
    pub notice: String,
}

impl Wipe for HeldField {
    fn wipe(&mut self) {
        match &mut self.value {
            HeldValue::Text(text) => text.zeroize(),
            HeldValue::List(items) => items.zeroize(),
        }
    }
}

impl Wipe for HeldFields {
    fn wipe(&mut self) {
        self.fields.wipe();
    }
}

/// Handling notice sent with withheld values.
pub const HELD_NOTICE: &str = "TLP:RED hazardous details, for your organization's need-to-know only: \
    do not copy them into other systems, tickets or exports.";

/// A hazardous entry as held here: its stored form and redacted body.
struct Hazard {
    entry: StoredEntry,
    redacted: BulletinBody,
}

impl Hazard {
    fn withheld(&self) -> Vec<WithheldField> {
        self.redacted.withheld.iter().flatten().map(|w| w.field).collect()
    }
}

fn names(fields: &[WithheldField]) -> String {
    fields.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, message)
}

fn org_of(roster: &Roster, key: &OrgKey) -> String {
    roster.org_of(key).map_or_else(|| key.to_hex(), str::to_string)
}

/// Reads an optional JSON body; an empty body is the default value.
fn json_body<T: DeserializeOwned + Default>(
    body: Result<Bytes, BytesRejection>,
    what: &str,
) -> Result<T, ApiError> {
    let bytes = body.map_err(ApiError::body_rejection)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| bad_request(format!("the request is not a valid {what}: {e}")))
}

fn path_id(id: Result<Path<String>, PathRejection>) -> Result<EntryId, ApiError> {
    let Path(text) = id.map_err(|e| bad_request(e.body_text()))?;
    parse_id("path", &text)
}

/// The hazardous entry `id` as held by this node, or an error that says why not.
fn hazardous_entry(store: &Store, id: &EntryId) -> Result<Hazard, ApiError> {
    let Some(entry) = store.get(id).map_err(ApiError::store)? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "no entry {id} on this node; list hazardous entries with `riskmesh list --tier hazardous` \
                 (an entry published elsewhere may not have arrived yet)"
            ),
        ));
    };
    if entry.meta.tier != Tier::Hazardous || !entry.meta.kind.carries_bulletin() {
        return Err(unprocessable(format!(
            "entry {id} is a {} {}, not a hazardous bulletin: only hazardous entries have withheld fields",
            entry.meta.tier.name(),
            entry.meta.kind.name()
        )));
    }
    let Some(bytes) = &entry.body else {
        return Err(unprocessable(format!(
            "the summary of hazardous entry {id} is not held here (purged by its author, or not received yet)"
        )));
    };
    match Body::decode(entry.meta.kind, entry.meta.tier, bytes) {
        Ok(Body::Bulletin(redacted)) => Ok(Hazard { entry, redacted }),
        _ => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the stored summary of hazardous entry {id} does not decode; run `riskmesh verify`"),
        )),
    }
}

/// Checks an access request for `target` by this organization; returns
/// the fields to ask for, ascending.
fn check_request(
    store: &Store,
    roster: &Roster,
    me: OrgKey,
    target: &EntryId,
    input: &AccessRequestInput,
) -> Result<Vec<WithheldField>, ApiError> {
    let hazard = hazardous_entry(store, target)?;
    let author = hazard.entry.meta.author;
    let policy = hazard.redacted.release.clone().unwrap_or_default();
    // The same rule the author's node applies before it releases anything.
    match release::may_request(roster, &author, &policy, &me) {
        Ok(()) => {}
        Err(Ineligible::Author) => {
            return Err(unprocessable(format!(
                "your organization published entry {target}: its analysts read the withheld fields with \
                 `riskmesh show {target} --withheld` (GET /v1/entries/{target}/withheld), no request needed"
            )));
        }
        Err(Ineligible::Observer) => {
            return Err(forbidden(format!(
                "the release policy of entry {target} does not let observers request its withheld fields; \
                 only member organizations may ask (its author is `{}`)",
                org_of(roster, &author)
            )));
        }
        Err(Ineligible::NotOnRoster) => {
            return Err(forbidden(format!(
                "your organization is not on the roster in force on this node, so it may not request the \
                 withheld fields of entry {target}; wait for the roster update that adds it to arrive"
            )));
        }
        Err(other) => {
            return Err(forbidden(format!(
                "your organization may not request the withheld fields of entry {target}: {other}"
            )));
        }
    }
    // A request that no decision can ever grant would sit on the record as
    // `never-grantable`; refuse it here, by the author's node's own rule.
    let none_yet = release::RequestLog {
        entry: *target,
        request: *target,
        requester: me,
        decisions: &[],
        retractions: &[],
    };
    if let Verdict::NeverGrantable { approvers, needed } =
        release::evaluate(roster, &author, &policy, &none_yet)
    {
        let why = if policy.approvers.contains(&me) {
            format!(
                "your organization is one of its named approvers, and an organization's decisions on its own \
                 request never count, which leaves {approvers} approver(s) for the {needed} approval(s) it needs"
            )
        } else {
            format!(
                "only {approvers} of its named approvers are member organizations on the roster in force, fewer \
                 than the {needed} approval(s) it needs"
            )
        };
        return Err(unprocessable(format!(
            "a request for entry {target} could never be granted under its release policy: {why}; ask its author \
             `{}` to share the details another way or to publish a correction with a release policy that \
             other approvers can satisfy",
            org_of(roster, &author)
        )));
    }
    let withheld = hazard.withheld();
    let mut fields = input
        .fields
        .clone()
        .unwrap_or_else(|| vec![WithheldField::Details]);
    if fields.is_empty() {
        return Err(unprocessable(format!(
            "`fields` is empty: name at least one withheld field of entry {target} ({})",
            names(&withheld)
        )));
    }
    if let Some(field) = fields.iter().find(|f| !withheld.contains(f)) {
        return Err(unprocessable(format!(
            "field `{}` is not withheld by entry {target}; its withheld fields are: {}",
            field.name(),
            names(&withheld)
        )));
    }
    fields.sort();
    fields.dedup();
    if input.reason.trim().is_empty() {
        return Err(unprocessable(
            "an access request needs a `reason`: every member sees who asked for hazardous details and why",
        ));
    }
    Ok(fields)
}

/// `POST /v1/entries/{id}/requests`: publishes an access request.
pub(crate) async fn request(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Wiped<EntryDetail>>), ApiError> {
    let target = path_id(id)?;
    let input: AccessRequestInput =
        json_body(body, "access request ({\"fields\": [...], \"reason\": \"...\"})")?;
    let roster = state.node.current_roster();
    let me = state.node.org_key;
    super::require_member(&roster, &me)?;
    let fields = with_store(&state, {
        let roster = roster.clone();
        let input = input.clone();
        move |store| check_request(store, &roster, me, &target, &input)
    })
    .await?;
    let held = state.node.released(target).await?;
    if fields.iter().all(|f| held.iter().any(|r| r.field == *f)) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "your organization already holds {} of entry {target}: `riskmesh show {target} --withheld`",
                names(&fields)
            ),
        ));
    }
    let entry = state
        .node
        .request_access(target, fields, input.reason.trim().to_string())
        .await?;
    Ok(created(&state, &roster, &entry))
}

/// Checks a decision by this organization on `request_id`.
fn check_decision(
    store: &Store,
    roster: &Roster,
    me: OrgKey,
    request_id: &EntryId,
    grant: bool,
) -> Result<(), ApiError> {
    let Some(request) = store.get(request_id).map_err(ApiError::store)? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "no access request {request_id} on this node; `riskmesh audit ENTRY` lists an entry's requests \
                 (a request published elsewhere may not have arrived yet)"
            ),
        ));
    };
    if request.meta.kind != Kind::AccessRequest {
        return Err(unprocessable(format!(
            "entry {request_id} is a {} {}, not an access request; approve or deny a request id as listed by \
             `riskmesh audit ENTRY`",
            request.meta.tier.name(),
            request.meta.kind.name()
        )));
    }
    let body: AccessRequestBody = match request
        .body
        .as_deref()
        .map(|b| Body::decode(Kind::AccessRequest, request.meta.tier, b))
    {
        Some(Ok(Body::AccessRequest(body))) => body,
        _ => {
            return Err(unprocessable(format!(
                "the body of access request {request_id} is not held here; try again after sync"
            )));
        }
    };
    let target = body.target;
    let hazard = hazardous_entry(store, &target).map_err(|e| {
        if e.status() == StatusCode::NOT_FOUND {
            unprocessable(format!(
                "request {request_id} asks for entry {target}, which has not reached this node yet; try again \
                 after sync"
            ))
        } else {
            e
        }
    })?;
    let policy = hazard.redacted.release.clone().unwrap_or_default();
    let author = hazard.entry.meta.author;
    let requester = request.meta.author;
    // Whose decisions count, and whether the request can ever be granted,
    // are the release policy's own rules: the ones the author's node applies.
    let approvers = release::approvers(roster, &author, &policy, &requester);
    let counts = approvers.contains(&me);
    if requester == me && (counts || policy.approvers.contains(&me)) {
        return Err(forbidden(format!(
            "your organization made request {request_id}; an organization never approves its own request, \
             the other approvers decide"
        )));
    }
    if !counts {
        let who = if policy.approvers.is_empty() {
            format!("its author `{}` alone decides", org_of(roster, &author))
        } else if approvers.is_empty() {
            "none of its named approvers is a member organization on the roster in force".to_string()
        } else {
            let orgs: Vec<String> = approvers.iter().map(|k| org_of(roster, k)).collect();
            format!("approvers: {}", orgs.join(", "))
        };
        return Err(forbidden(format!(
            "your organization is not an approver for this entry ({target}; {who})"
        )));
    }
    if grant && release::may_request(roster, &author, &policy, &requester).is_err() {
        return Err(unprocessable(format!(
            "`{}` may not request entry {target} under its release policy, so an approval would release \
             nothing; deny the request instead if a decision is wanted on record",
            org_of(roster, &requester)
        )));
    }
    let mine = store
        .referencing(request_id)
        .map_err(ApiError::store)?
        .into_iter()
        .filter(|m| m.kind == Kind::AccessDecision && m.author == me)
        .max_by_key(|m| m.seq)
        // A retracted latest decision leaves no standing decision (spec
        // §8.6 step 7), so the same decision may be made again.
        .filter(|m| {
            !store
                .referencing(&m.id)
                .unwrap_or_default()
                .iter()
                .any(|r| r.kind == Kind::Retraction && r.author == me)
        })
        .and_then(|m| store.get(&m.id).ok().flatten())
        .and_then(
            |e| match Body::decode(e.meta.kind, e.meta.tier, e.body.as_deref()?) {
                Ok(Body::AccessDecision(d)) => Some(d.grant),
                _ => None,
            },
        );
    if mine == Some(grant) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "your organization already {} request {request_id}",
                if grant { "approved" } else { "denied" }
            ),
        ));
    }
    Ok(())
}

async fn decide(
    state: ApiState,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
    grant: bool,
) -> Result<(StatusCode, Json<Wiped<EntryDetail>>), ApiError> {
    let request_id = path_id(id)?;
    let input: DecisionInput = json_body(body, "decision ({\"reason\": \"...\"})")?;
    let reason = input.reason.unwrap_or_default().trim().to_string();
    let reason = match (grant, reason.is_empty()) {
        (false, true) => {
            return Err(unprocessable(
                "denying a request needs a `reason`: every member sees who denied and why",
            ));
        }
        (true, true) => "approved".to_string(),
        _ => reason,
    };
    let roster = state.node.current_roster();
    let me = state.node.org_key;
    super::require_member(&roster, &me)?;
    with_store(&state, {
        let roster = roster.clone();
        move |store| check_decision(store, &roster, me, &request_id, grant)
    })
    .await?;
    let entry = state.node.decide_access(request_id, grant, reason).await?;
    Ok(created(&state, &roster, &entry))
}

/// `POST /v1/requests/{id}/approve`.
pub(crate) async fn approve(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Wiped<EntryDetail>>), ApiError> {
    decide(state, id, body, true).await
}

/// `POST /v1/requests/{id}/deny`.
pub(crate) async fn deny(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Wiped<EntryDetail>>), ApiError> {
    decide(state, id, body, false).await
}

/// `GET /v1/entries/{id}/audit`.
pub(crate) async fn audit(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<AuditView>, ApiError> {
    let target = path_id(id)?;
    let title = with_store(&state, move |store| {
        hazardous_entry(store, &target).map(|h| h.redacted.title)
    })
    .await?;
    let trail = state.node.audit(target).await?;
    let mut view = AuditView::from(trail);
    view.title = Some(title);
    Ok(Json(view))
}

/// The text or list a reveal's canonical CBOR value holds.
fn held_value(reveal: &Reveal) -> Result<HeldValue, ApiError> {
    let value = match reveal.field {
        WithheldField::Details | WithheldField::Title | WithheldField::Summary => {
            cbor::decode_canonical::<String>(&reveal.value, MAX_BODY_BYTES).map(HeldValue::Text)
        }
        WithheldField::Affected | WithheldField::References => {
            cbor::decode_canonical::<Vec<String>>(&reveal.value, MAX_BODY_BYTES).map(HeldValue::List)
        }
    };
    value.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "the stored value of withheld field `{}` does not decode: {e}",
                reveal.field.name()
            ),
        )
    })
}

/// `GET /v1/entries/{id}/withheld`: the withheld fields this organization
/// holds, for its own analysts.
pub(crate) async fn withheld(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Wiped<HeldFields>>, ApiError> {
    let target = path_id(id)?;
    let roster = state.node.current_roster();
    let me = state.node.org_key;
    let author = with_store(&state, move |store| {
        hazardous_entry(store, &target).map(|h| h.entry.meta.author)
    })
    .await?;
    let reveals = state.node.released(target).await?;
    if reveals.is_empty() {
        let message = if author == me {
            format!(
                "this node does not hold the withheld fields of entry {target}, although your organization \
                 published it: they stay on the node that published it"
            )
        } else {
            format!(
                "your organization holds no withheld fields of entry {target}: ask with `riskmesh request \
                 {target} --reason \"…\"`; they arrive once the release policy's approvers approve \
                 (`riskmesh audit {target}` shows where the request stands)"
            )
        };
        return Err(ApiError::new(StatusCode::NOT_FOUND, message));
    }
    // Two approved requests may have released the same field twice. Sorted
    // and deduplicated by reference: the openings stay whole until wiped.
    let mut held: Vec<&Reveal> = reveals.iter().collect();
    held.sort_by_key(|r| r.field);
    held.dedup_by_key(|r| r.field);
    let mut fields = Vec::with_capacity(held.len());
    for r in held {
        match held_value(r) {
            Ok(value) => fields.push(HeldField {
                field: r.field.name().to_string(),
                commitment: r.commitment().to_hex(),
                value,
            }),
            Err(e) => {
                fields.wipe();
                return Err(e);
            }
        }
    }
    // Wiped once axum has written the answer out.
    Ok(Json(Wiped::new(HeldFields {
        entry: target.to_hex(),
        author: org_of(&roster, &author),
        held_as: if author == me { "author" } else { "released" }.to_string(),
        fields,
        notice: HELD_NOTICE.to_string(),
    })))
}
