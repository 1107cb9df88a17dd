//! The hazardous tier's release flow on a node: deciding when a request is
//! granted and preparing the author-signed, requester-encrypted release;
//! verifying a received release against the gossiped commitments; reading
//! released fields; and the audit trail.
//!
//! These functions run on the reader thread with their own store
//! connection; writes go back through the writer. Withheld fields are
//! decrypted only in memory, for the author's own release or its own
//! analysts, and never logged.

use crate::sealed;
use crate::store::{Store, StoredEntry};
use riskmesh_protocol::body::{AccessDecisionBody, AccessReceiptBody, AccessRequestBody};
use riskmesh_protocol::cbor;
use riskmesh_protocol::keys::OrgSecrets;
use riskmesh_protocol::limits::MAX_RELEASE_BYTES;
use riskmesh_protocol::redaction::{Reveal, WithheldField};
use riskmesh_protocol::release::{Decision, ReleaseError, ReleasePayload, SignedRelease, evaluate};
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
    /// signed release as proof, publish no receipt.
    Fault {
        /// The request.
        request: EntryId,
        /// The hazardous entry.
        target: EntryId,
        /// The signed release (transferable proof with the hazardous entry).
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

/// The latest decisions on a request, in log order: `(approver, grant, reason, time)`.
fn decisions(store: &Store, request: &EntryId) -> Vec<(OrgKey, bool, String, u64)> {
    let metas = store.referencing(request).unwrap_or_default();
    metas
        .into_iter()
        .filter(|m| m.kind == Kind::AccessDecision)
        .filter_map(|m| {
            let entry = store.get(&m.id).ok()??;
            match decode_body(&entry)? {
                Body::AccessDecision(AccessDecisionBody { grant, reason, .. }) => {
                    Some((m.author, grant, reason, m.timestamp_ms))
                }
                _ => None,
            }
        })
        .collect()
}

/// Opens this organization's sealed withheld fields of `target`.
pub fn released(store: &Store, org: &OrgSecrets, target: &EntryId) -> Result<Vec<Reveal>, String> {
    let mut out = Vec::new();
    for (_, bytes) in store.withheld(target).map_err(|e| e.to_string())? {
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
            sealed::seal(&[org.encryption.public()], &cbor::encode(r))
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
    let votes: Vec<(OrgKey, bool)> = decisions(store, request_id)
        .into_iter()
        .map(|(a, g, _, _)| (a, g))
        .collect();
    let requester = request.meta.author;
    if evaluate(roster, &own, policy, &requester, &votes) != Decision::Granted {
        return Ok(None);
    }
    let reveals: Vec<Reveal> = released(store, org, &body.target)?
        .into_iter()
        .filter(|r| body.fields.contains(&r.field))
        .collect();
    if reveals.is_empty() {
        return Err(format!("no withheld fields of {} held to release", body.target));
    }
    let Some(member) = roster.member(&requester) else {
        return Ok(None);
    };
    let payload = ReleasePayload {
        request: *request_id,
        target: body.target,
        requester,
        reveals,
    };
    let signed = SignedRelease::sign(&org.signing, &payload);
    let sealed = sealed::seal(&[member.encryption()], &signed.to_bytes()).map_err(|e| e.to_string())?;
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
        .map(|request| request.meta.id)
        .collect()
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
        Ok(s) => s,
        Err(e) => return Received::Refused(e.to_string()),
    };
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
        Err(ReleaseError::Reveal(e)) => Received::Fault {
            request: payload.request,
            target: payload.target,
            evidence: signed.to_bytes(),
            why: e.to_string(),
        },
        Err(e) => Received::Refused(e.to_string()),
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
    /// Decisions, in log order.
    pub decisions: Vec<AuditDecision>,
    /// The policy's verdict now: not-allowed, pending, granted or denied.
    pub status: String,
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
    /// Requests, oldest first.
    pub requests: Vec<AuditRequest>,
}

/// Builds the audit trail of a hazardous entry from the log.
pub fn audit(store: &Store, roster: &Roster, target_id: &EntryId) -> Result<AuditTrail, String> {
    let org = |k: &OrgKey| roster.member(k).map_or_else(|| k.to_hex(), |m| m.org.clone());
    let target = store
        .get(target_id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("entry {target_id} is not held by this node"))?;
    let redacted = redacted_body(&target).ok_or("not a hazardous entry (or its body is not held)")?;
    let policy = redacted.release.clone().unwrap_or_default();
    let mut requests = Vec::new();
    let referencing = store.referencing(target_id).map_err(|e| e.to_string())?;
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
    for meta in referencing {
        if meta.kind != Kind::AccessRequest {
            continue;
        }
        let Some(entry) = store.get(&meta.id).map_err(|e| e.to_string())? else {
            continue;
        };
        let Some(body) = request_body(&entry) else {
            continue;
        };
        let decided = decisions(store, &meta.id);
        let votes: Vec<(OrgKey, bool)> = decided.iter().map(|(a, g, _, _)| (*a, *g)).collect();
        let status = match evaluate(roster, &target.meta.author, &policy, &meta.author, &votes) {
            Decision::NotAllowed => "not-allowed".to_string(),
            Decision::Pending { grants, needed } => format!("pending ({grants} of {needed} approvals)"),
            Decision::Granted => "granted".to_string(),
            Decision::Denied => "denied".to_string(),
        };
        let received_at_ms = receipts
            .iter()
            .find(|(request, author, _)| *request == meta.id && *author == meta.author)
            .map(|(_, _, at)| *at);
        requests.push(AuditRequest {
            request: meta.id.to_hex(),
            org: org(&meta.author),
            reason: body.reason,
            fields: body.fields.iter().map(|f| f.name().to_string()).collect(),
            at_ms: meta.timestamp_ms,
            decisions: decided
                .into_iter()
                .map(|(a, grant, reason, at_ms)| AuditDecision {
                    org: org(&a),
                    grant,
                    reason,
                    at_ms,
                })
                .collect(),
            status,
            received_at_ms,
        });
    }
    Ok(AuditTrail {
        entry: target_id.to_hex(),
        author: org(&target.meta.author),
        withheld: redacted
            .withheld
            .unwrap_or_default()
            .iter()
            .map(|w| w.field.name().to_string())
            .collect(),
        approvers: policy.approvers.iter().map(org).collect(),
        threshold: policy.threshold,
        observers_may_request: policy.observers_may_request,
        requests,
    })
}
