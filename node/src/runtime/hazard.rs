//! The hazardous tier's release flow on a node: deciding when a request is
//! granted and preparing the author-signed, requester-encrypted release;
//! verifying a received release against the gossiped commitments; reading
//! released fields; and the audit trail.
//!
//! These functions run on the reader thread with their own store
//! connection; writes go back through the writer. Withheld fields are
//! decrypted only in memory, for the author's own release or its own
//! analysts, and never logged.

use crate::plaintext::{self, Openings, Wiped};
use crate::sealed;
use crate::store::{EntryMeta, MAX_LIST_LIMIT, Store, StoredEntry};
use riskmesh_protocol::body::{AccessDecisionBody, AccessReceiptBody, AccessRequestBody, RetractionBody};
use riskmesh_protocol::cbor;
use riskmesh_protocol::keys::OrgSecrets;
use riskmesh_protocol::limits::MAX_RELEASE_BYTES;
use riskmesh_protocol::redaction::{ReleasePolicy, Reveal, WithheldField};
use riskmesh_protocol::release::{
    RecordedDecision, RecordedRetraction, Release, ReleaseError, ReleasePayload, RequestLog, Revocation,
    SignedRelease, Verdict, evaluate,
};
use riskmesh_protocol::{Body, BulletinBody, Draft, EntryId, Kind, OrgKey, Roster, Tier};
use serde::Serialize;

/// A release ready to send.
#[derive(Debug, Clone)]
pub struct ReleaseOut {
    /// The access request.
    pub request: EntryId,
    /// The hazardous entry.
    pub target: EntryId,
    /// The requester organization.
    pub requester: OrgKey,
    /// The signed release, age-encrypted to the requester.
    pub sealed: Vec<u8>,
}

/// What receiving a release led to.
#[derive(Debug)]
pub enum Received {
    /// Verified: store the fields (sealed to ourselves), record it, publish
    /// the receipt.
    Accepted {
        /// The request.
        request: EntryId,
        /// The hazardous entry.
        target: EntryId,
        /// `(field code, age ciphertext to this organization)`.
        sealed: Vec<(u8, Vec<u8>)>,
        /// The access receipt to publish.
        receipt: Box<Draft>,
    },
    /// Signed by the author but not matching its commitments: keep the
    /// fault proof, publish no receipt.
    Fault {
        /// The request.
        request: EntryId,
        /// The hazardous entry.
        target: EntryId,
        /// The fault proof (the signed release cut to the failing opening:
        /// with the hazardous entry, a transferable proof that discloses no
        /// valid opening), age-encrypted to this organization all the same:
        /// a `malformed` or `over_limit` opening does match its commitment.
        evidence: Vec<u8>,
        /// What did not match.
        why: String,
    },
    /// Not a release this node asked for, or unreadable.
    Refused(String),
}

fn decode_body(entry: &StoredEntry) -> Option<Body> {
    Body::decode(entry.meta.kind, entry.meta.tier, entry.body.as_deref()?).ok()
}

fn redacted_body(entry: &StoredEntry) -> Option<BulletinBody> {
    match (entry.meta.tier, decode_body(entry)?) {
        (Tier::Hazardous, Body::Bulletin(body)) => Some(body),
        _ => None,
    }
}

fn request_body(entry: &StoredEntry) -> Option<AccessRequestBody> {
    match (entry.meta.kind, decode_body(entry)?) {
        (Kind::AccessRequest, Body::AccessRequest(body)) => Some(body),
        _ => None,
    }
}

/// The entries referring to `id`, or an error when there may be more than
/// one read returns: a retraction among the ones left out must not be
/// missed, so a decision over a truncated list is not made (fail closed).
fn referencing_all(store: &Store, id: &EntryId) -> Result<Vec<EntryMeta>, String> {
    let metas = store.referencing(id).map_err(|e| e.to_string())?;
    if metas.len() >= MAX_LIST_LIMIT {
        return Err(format!(
            "{} or more entries refer to {id}; the release policy is not evaluated over a partial log",
            MAX_LIST_LIMIT
        ));
    }
    Ok(metas)
}

/// A retraction of an entry by that entry's own author (the only kind that
/// counts), as stored.
#[derive(Debug, Clone)]
struct Retracted {
    meta: EntryMeta,
    body: RetractionBody,
}

/// The first retraction of `id` by `author` in the log, if any.
fn retraction_of(store: &Store, id: &EntryId, author: &OrgKey) -> Result<Option<Retracted>, String> {
    for meta in referencing_all(store, id)? {
        if meta.kind != Kind::Retraction || meta.author != *author {
            continue;
        }
        let Some(entry) = store.get(&meta.id).map_err(|e| e.to_string())? else {
            continue;
        };
        if let Some(Body::Retraction(body)) = decode_body(&entry) {
            return Ok(Some(Retracted { meta, body }));
        }
    }
    Ok(None)
}

/// One access decision as stored, with its retraction by its author.
#[derive(Debug, Clone)]
struct Decided {
    meta: EntryMeta,
    grant: bool,
    reason: String,
    retraction: Option<Retracted>,
}

/// What the log holds about one access request: its decisions (in the
/// order `referencing` gives) and the retractions that count for it.
#[derive(Debug, Clone)]
struct RequestFacts {
    entry: EntryId,
    request: EntryId,
    requester: OrgKey,
    entry_retraction: Option<Retracted>,
    request_retraction: Option<Retracted>,
    decisions: Vec<Decided>,
}

impl RequestFacts {
    /// Reads the log's facts about `request` (by `requester`) for the
    /// hazardous entry `entry` by `author`.
    fn read(
        store: &Store,
        entry: &EntryId,
        author: &OrgKey,
        request: &EntryId,
        requester: &OrgKey,
    ) -> Result<Self, String> {
        let mut decisions = Vec::new();
        for meta in referencing_all(store, request)? {
            if meta.kind != Kind::AccessDecision {
                continue;
            }
            let Some(stored) = store.get(&meta.id).map_err(|e| e.to_string())? else {
                continue;
            };
            let Some(Body::AccessDecision(AccessDecisionBody { grant, reason, .. })) = decode_body(&stored)
            else {
                continue;
            };
            let retraction = retraction_of(store, &meta.id, &meta.author)?;
            decisions.push(Decided {
                meta,
                grant,
                reason,
                retraction,
            });
        }
        Ok(RequestFacts {
            entry: *entry,
            request: *request,
            requester: *requester,
            entry_retraction: retraction_of(store, entry, author)?,
            request_retraction: retraction_of(store, request, requester)?,
            decisions,
        })
    }

    /// Runs `f` over these facts in the protocol's terms.
    fn with_log<R>(&self, f: impl FnOnce(&RequestLog<'_>) -> R) -> R {
        // For one approver, log order is its seq order; the evaluator only
        // compares an approver's decisions with each other.
        let mut ordered: Vec<&Decided> = self.decisions.iter().collect();
        ordered.sort_by_key(|d| d.meta.seq);
        let decisions: Vec<RecordedDecision> = ordered
            .iter()
            .map(|d| RecordedDecision {
                id: d.meta.id,
                approver: d.meta.author,
                grant: d.grant,
            })
            .collect();
        let retractions: Vec<RecordedRetraction> = self
            .entry_retraction
            .iter()
            .chain(&self.request_retraction)
            .chain(self.decisions.iter().filter_map(|d| d.retraction.as_ref()))
            .map(|r| RecordedRetraction {
                author: r.meta.author,
                target: r.body.target,
            })
            .collect();
        f(&RequestLog {
            entry: self.entry,
            request: self.request,
            requester: self.requester,
            decisions: &decisions,
            retractions: &retractions,
        })
    }

    /// The release policy's verdict over these facts.
    fn verdict(&self, roster: &Roster, author: &OrgKey, policy: &ReleasePolicy) -> Verdict {
        self.with_log(|log| evaluate(roster, author, policy, log))
    }
}

/// Opens this organization's sealed withheld fields of `target`.
pub fn released(store: &Store, org: &OrgSecrets, target: &EntryId) -> Result<Openings, String> {
    let stored = store.withheld(target).map_err(|e| e.to_string())?;
    let mut out = Openings::with_capacity(stored.len());
    for (_, bytes) in stored {
        let plain = sealed::open(&org.encryption, &bytes).map_err(|e| e.to_string())?;
        let reveal: Reveal = cbor::decode_canonical(&plain, MAX_RELEASE_BYTES).map_err(|e| e.to_string())?;
        out.push(reveal);
    }
    Ok(out)
}

/// Seals openings to this organization's own key for storage.
pub fn seal_for_self(org: &OrgSecrets, reveals: &[Reveal]) -> Result<Vec<(u8, Vec<u8>)>, String> {
    reveals
        .iter()
        .map(|r| {
            let code = WithheldField::ALL.iter().position(|f| *f == r.field).unwrap_or(0) as u8;
            sealed::seal(&[org.encryption.public()], &plaintext::encode_reveal(r))
                .map(|c| (code, c))
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// If `request` asks for one of this organization's hazardous entries, its
/// release policy is satisfied and nothing was released yet, prepares the
/// release.
pub fn prepare_release(
    store: &Store,
    roster: &Roster,
    org: &OrgSecrets,
    request_id: &EntryId,
) -> Result<Option<ReleaseOut>, String> {
    let own = org.signing.public();
    let Some(request) = store.get(request_id).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let Some(body) = request_body(&request) else {
        return Ok(None);
    };
    let Some(target) = store.get(&body.target).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    if target.meta.author != own {
        return Ok(None);
    }
    let Some(redacted) = redacted_body(&target) else {
        return Ok(None);
    };
    let Some(policy) = redacted.release.as_ref() else {
        return Ok(None);
    };
    if store.release(request_id).map_err(|e| e.to_string())?.is_some() {
        return Ok(None);
    }
    // The verdict over the log as it stands now, just before signing: a
    // retraction committed since the request was queued is seen here.
    let requester = request.meta.author;
    let facts = RequestFacts::read(store, &body.target, &own, request_id, &requester)?;
    if facts.verdict(roster, &own, policy) != Verdict::Granted {
        return Ok(None);
    }
    let held = released(store, org, &body.target)?;
    let mut reveals = Vec::with_capacity(held.len());
    reveals.extend(held.iter().filter(|r| body.fields.contains(&r.field)).cloned());
    let release = Wiped::new(Release {
        request: *request_id,
        target: body.target,
        requester,
        reveals,
    });
    if release.reveals.is_empty() {
        return Err(format!("no withheld fields of {} held to release", body.target));
    }
    let Some(member) = roster.member(&requester) else {
        return Ok(None);
    };
    let signed = Wiped::new(SignedRelease::sign(&org.signing, &release));
    let sealed = sealed::seal(&[member.encryption()], &plaintext::encode_release(&signed))
        .map_err(|e| e.to_string())?;
    Ok(Some(ReleaseOut {
        request: *request_id,
        target: body.target,
        requester,
        sealed,
    }))
}

/// Every access request for one of this organization's hazardous entries
/// that has no release record yet (to re-check after restarts).
pub fn open_requests(store: &Store, org: &OrgSecrets) -> Vec<EntryId> {
    let own = org.signing.public();
    let filter = crate::store::ListFilter {
        kind: Some(Kind::AccessRequest),
        ..Default::default()
    };
    store
        .list(&filter)
        .unwrap_or_default()
        .into_iter()
        .filter(|request| {
            request_body(request)
                .and_then(|b| store.get(&b.target).ok().flatten())
                .is_some_and(|t| t.meta.author == own && t.meta.tier == Tier::Hazardous)
        })
        .filter(|request| matches!(store.release(&request.meta.id), Ok(None)))
        .filter(|request| !revoked(store, &own, request))
        .map(|request| request.meta.id)
        .collect()
}

/// Whether a retraction revoked `request` for an entry by `author` (the
/// roster-free steps of the evaluation): such a request is never re-checked.
/// An unreadable log is left for `prepare_release`, which refuses it.
fn revoked(store: &Store, author: &OrgKey, request: &StoredEntry) -> bool {
    request_body(request)
        .and_then(|body| {
            RequestFacts::read(
                store,
                &body.target,
                author,
                &request.meta.id,
                &request.meta.author,
            )
            .ok()
        })
        .is_some_and(|facts| facts.with_log(|log| log.revocation(author)).is_some())
}

/// Whether this organization ever asked for a hazardous entry by `author`:
/// only such an author's node may send it a release. Checked before
/// anything in the release is parsed or decrypted.
pub fn asked_author(store: &Store, org: &OrgSecrets, author: &OrgKey) -> bool {
    let filter = crate::store::ListFilter {
        kind: Some(Kind::AccessRequest),
        author: Some(org.signing.public()),
        ..Default::default()
    };
    store.list(&filter).unwrap_or_default().iter().any(|request| {
        request_body(request)
            .and_then(|b| store.get(&b.target).ok().flatten())
            .is_some_and(|t| t.meta.author == *author)
    })
}

/// Decrypts and verifies a release sent to this organization by the node
/// of `sender` (its organization's signing key, from the roster).
pub fn receive_release(store: &Store, org: &OrgSecrets, sender: &OrgKey, bytes: &[u8]) -> Received {
    let own = org.signing.public();
    if !asked_author(store, org, sender) {
        return Received::Refused("this organization asked the sender for nothing".into());
    }
    let Ok(plain) = sealed::open(&org.encryption, bytes) else {
        return Received::Refused("cannot decrypt: not encrypted to this organization".into());
    };
    let signed = match SignedRelease::from_bytes(&plain) {
        Ok(s) => Wiped::new(s),
        Err(e) => return Received::Refused(e.to_string()),
    };
    // The payload binds the openings by digest only: nothing in it is secret.
    let payload: ReleasePayload = match cbor::decode_canonical(&signed.payload, MAX_RELEASE_BYTES) {
        Ok(p) => p,
        Err(e) => return Received::Refused(e.to_string()),
    };
    let request = match store.get(&payload.request) {
        Ok(Some(r)) if r.meta.author == own && r.meta.kind == Kind::AccessRequest => r,
        _ => return Received::Refused("not an access request of this organization".into()),
    };
    let Some(request_body) = request_body(&request) else {
        return Received::Refused("access request body missing".into());
    };
    if request_body.target != payload.target {
        return Received::Refused("release is for another entry".into());
    }
    if !matches!(store.release(&payload.request), Ok(None)) {
        return Received::Refused("already received".into());
    }
    let Some(target) = store.get(&payload.target).ok().flatten() else {
        return Received::Refused("hazardous entry not held".into());
    };
    let Some(redacted) = redacted_body(&target) else {
        return Received::Refused("target is not a hazardous entry".into());
    };
    match signed.open(
        &target.meta.author,
        &payload.request,
        &payload.target,
        &own,
        &redacted,
    ) {
        Ok(reveals) => {
            let reveals = Wiped::new(reveals);
            let received = {
                let mut c: Vec<_> = reveals.iter().map(Reveal::commitment).collect();
                c.sort();
                c
            };
            match seal_for_self(org, &reveals) {
                Ok(sealed) => Received::Accepted {
                    request: payload.request,
                    target: payload.target,
                    sealed,
                    receipt: Box::new(Draft {
                        kind: Kind::AccessReceipt,
                        tier: Tier::Consortium,
                        body: Body::AccessReceipt(AccessReceiptBody {
                            request: payload.request,
                            target: payload.target,
                            received,
                        }),
                        recipients: None,
                    }),
                },
                Err(e) => Received::Refused(e),
            }
        }
        Err(ReleaseError::Reveal(e)) => {
            // Only the failing opening is kept: the release's valid openings
            // are neither stored nor part of the proof.
            let Some(proof) = signed.fault_proof(&redacted) else {
                return Received::Refused(format!("no fault proof for a failed opening: {e}"));
            };
            match sealed::seal(&[org.encryption.public()], &proof.to_bytes()) {
                Ok(evidence) => Received::Fault {
                    request: payload.request,
                    target: payload.target,
                    evidence,
                    why: e.to_string(),
                },
                Err(seal) => Received::Refused(format!("cannot keep the evidence sealed: {seal}")),
            }
        }
        Err(e) => Received::Refused(e.to_string()),
    }
}

/// Where an entry stands in the log, beside the time its author claims:
/// the claim is unchecked, the author's `seq` is signed and chained, and the
/// receive time is this node's own clock.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LogPosition {
    /// The entry's id, hex.
    pub entry: String,
    /// When, by its author's clock (a claim), Unix ms.
    pub at_ms: u64,
    /// Its position in its author's log.
    pub seq: u64,
    /// When this node stored it, by this node's clock, Unix ms.
    pub received_ms: u64,
}

impl LogPosition {
    fn of(meta: &EntryMeta) -> Self {
        LogPosition {
            entry: meta.id.to_hex(),
            at_ms: meta.timestamp_ms,
            seq: meta.seq,
            received_ms: meta.received_ms,
        }
    }
}

/// A retraction (by the retracted entry's own author) in an audit trail.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditRetraction {
    /// Why, as the retracting organization wrote it.
    pub reason: String,
    /// Whether it also purged the retracted entry's body.
    pub purge: bool,
    /// The retraction entry and where it stands in the log.
    pub logged: LogPosition,
}

impl AuditRetraction {
    fn of(r: &Retracted) -> Self {
        AuditRetraction {
            reason: r.body.reason.clone(),
            purge: r.body.purge,
            logged: LogPosition::of(&r.meta),
        }
    }
}

/// One decision in an audit trail.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditDecision {
    /// Deciding organization.
    pub org: String,
    /// Granted or denied.
    pub grant: bool,
    /// Why.
    pub reason: String,
    /// When (author's clock), Unix ms.
    pub at_ms: u64,
    /// The decision entry and where it stands in the log.
    pub logged: LogPosition,
    /// Its retraction by the deciding organization, if any: a retracted
    /// decision never counts.
    pub retraction: Option<AuditRetraction>,
}

/// One request in an audit trail.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditRequest {
    /// The access request's id.
    pub request: String,
    /// Requesting organization.
    pub org: String,
    /// Justification.
    pub reason: String,
    /// Fields asked for.
    pub fields: Vec<String>,
    /// When, Unix ms.
    pub at_ms: u64,
    /// The request entry and where it stands in the log.
    pub logged: LogPosition,
    /// Decisions, in log order.
    pub decisions: Vec<AuditDecision>,
    /// The policy's verdict now: `revoked`, `not-allowed`,
    /// `never-grantable`, `pending (g of k approvals)`, `granted` or
    /// `denied`.
    pub status: String,
    /// Why, for a verdict that is final without a release (revoked, not
    /// allowed, never grantable).
    pub why: Option<String>,
    /// Its retraction by the requester, if any.
    pub retraction: Option<AuditRetraction>,
    /// When the requester published its receipt, if it did.
    pub received_at_ms: Option<u64>,
}

/// The whole trail of a hazardous entry.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditTrail {
    /// The hazardous entry.
    pub entry: String,
    /// Its author.
    pub author: String,
    /// Withheld fields.
    pub withheld: Vec<String>,
    /// Approvers named by the policy (empty: the author alone).
    pub approvers: Vec<String>,
    /// Approvals needed.
    pub threshold: u64,
    /// Whether observers may request.
    pub observers_may_request: bool,
    /// Its retraction by its author, if any: nothing is released after it.
    pub retraction: Option<AuditRetraction>,
    /// Requests, oldest first.
    pub requests: Vec<AuditRequest>,
}

/// The audit status of a verdict and, for a final one without a release,
/// a sentence saying why.
fn describe(verdict: Verdict, policy: &ReleasePolicy, requester: &OrgKey) -> (String, Option<String>) {
    match verdict {
        Verdict::Revoked(Revocation::EntryRetracted) => (
            "revoked".into(),
            Some("the author retracted the hazardous entry; nothing is released".into()),
        ),
        Verdict::Revoked(Revocation::RequestRetracted) => (
            "revoked".into(),
            Some("the requester retracted its request; nothing is released".into()),
        ),
        Verdict::Revoked(other) => ("revoked".into(), Some(other.name().replace('_', " "))),
        Verdict::NotAllowed(why) => ("not-allowed".into(), Some(why.to_string())),
        Verdict::NeverGrantable { approvers, needed } => {
            let why = if policy.approvers.contains(requester) {
                format!(
                    "the requester is a named approver and its own decisions never count, which leaves {approvers} \
                     approver(s) for a threshold of {needed}"
                )
            } else {
                format!(
                    "only {approvers} of the named approvers are member organizations on the roster, fewer than \
                     the threshold of {needed}"
                )
            };
            ("never-grantable".into(), Some(why))
        }
        Verdict::Pending { grants, needed } => (format!("pending ({grants} of {needed} approvals)"), None),
        Verdict::Granted => ("granted".into(), None),
        Verdict::Denied => ("denied".into(), None),
        other => (other.name().replace('_', "-"), None),
    }
}

/// Builds the audit trail of a hazardous entry from the log.
pub fn audit(store: &Store, roster: &Roster, target_id: &EntryId) -> Result<AuditTrail, String> {
    let org = |k: &OrgKey| roster.org_of(k).map_or_else(|| k.to_hex(), str::to_string);
    let target = store
        .get(target_id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("entry {target_id} is not held by this node"))?;
    let author = target.meta.author;
    let redacted = redacted_body(&target).ok_or("not a hazardous entry (or its body is not held)")?;
    let policy = redacted.release.clone().unwrap_or_default();
    let mut requests = Vec::new();
    let referencing = referencing_all(store, target_id)?;
    // Receipts name the hazardous entry as their target and the request in
    // their body.
    let receipts: Vec<(EntryId, OrgKey, u64)> = referencing
        .iter()
        .filter(|m| m.kind == Kind::AccessReceipt)
        .filter_map(|m| {
            let entry = store.get(&m.id).ok()??;
            match decode_body(&entry)? {
                Body::AccessReceipt(AccessReceiptBody { request, .. }) => {
                    Some((request, m.author, m.timestamp_ms))
                }
                _ => None,
            }
        })
        .collect();
    for meta in &referencing {
        if meta.kind != Kind::AccessRequest {
            continue;
        }
        let Some(entry) = store.get(&meta.id).map_err(|e| e.to_string())? else {
            continue;
        };
        let Some(body) = request_body(&entry) else {
            continue;
        };
        let facts = RequestFacts::read(store, target_id, &author, &meta.id, &meta.author)?;
        let (status, why) = describe(facts.verdict(roster, &author, &policy), &policy, &meta.author);
        let received_at_ms = receipts
            .iter()
            .find(|(request, by, _)| *request == meta.id && *by == meta.author)
            .map(|(_, _, at)| *at);
        requests.push(AuditRequest {
            request: meta.id.to_hex(),
            org: org(&meta.author),
            reason: body.reason,
            fields: body.fields.iter().map(|f| f.name().to_string()).collect(),
            at_ms: meta.timestamp_ms,
            logged: LogPosition::of(meta),
            decisions: facts
                .decisions
                .iter()
                .map(|d| AuditDecision {
                    org: org(&d.meta.author),
                    grant: d.grant,
                    reason: d.reason.clone(),
                    at_ms: d.meta.timestamp_ms,
                    logged: LogPosition::of(&d.meta),
                    retraction: d.retraction.as_ref().map(AuditRetraction::of),
                })
                .collect(),
            status,
            why,
            retraction: facts.request_retraction.as_ref().map(AuditRetraction::of),
            received_at_ms,
        });
    }
    Ok(AuditTrail {
        entry: target_id.to_hex(),
        author: org(&author),
        withheld: redacted
            .withheld
            .unwrap_or_default()
            .iter()
            .map(|w| w.field.name().to_string())
            .collect(),
        approvers: policy.approvers.iter().map(org).collect(),
        threshold: policy.threshold,
        observers_may_request: policy.observers_may_request,
        retraction: retraction_of(store, target_id, &author)?
            .as_ref()
            .map(AuditRetraction::of),
        requests,
    })
}
