//! The JSON shapes the API answers with (entries, bodies, status, peers,
//! equivocations) and how a stored entry becomes one for this organization:
//! plaintext bodies decoded, restricted bodies opened only if this
//! organization is a recipient.
//!
//! Every type here is also `Deserialize`, so the CLI reads responses into
//! the same structs the server writes.

use super::names::{named, named_opt};
use crate::plaintext::{Wipe, Wiped, wipe_fields};
pub use crate::runtime::Membership;
use crate::runtime::{NodeStatus, PeerStatus};
use crate::sealed;
use crate::store::{EntryMeta, StoredEntry, StoredEquivocation};
use riskmesh_protocol::body::{AckStatus, check_bulletin};
use riskmesh_protocol::cbor;
use riskmesh_protocol::entry::Envelope;
use riskmesh_protocol::limits::{MAX_BODY_BYTES, MAX_HEADER_BYTES};
use riskmesh_protocol::redaction::WithheldField;
use riskmesh_protocol::roster::{RetireReason, RetiredKey};
use riskmesh_protocol::{Body, BulletinBody, Category, Header, Kind, OrgKey, Roster, Severity, Tier};
use serde::{Deserialize, Serialize};

/// One entry as listed: header facts, the readable headline, and body state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryView {
    /// Entry id, 64 hex digits.
    pub id: String,
    /// Author organization id (the key in hex if it is not on the roster).
    pub author: String,
    /// Author signing key, hex.
    pub author_key: String,
    /// Position in the author's log.
    pub seq: u64,
    /// Author's timestamp, Unix ms.
    pub timestamp_ms: u64,
    /// Tier name.
    #[serde(with = "named")]
    pub tier: Tier,
    /// TLP 2.0 label of the tier.
    pub tlp: String,
    /// Kind name.
    #[serde(with = "named")]
    pub kind: Kind,
    /// Category, when the body is readable here.
    #[serde(default, with = "named_opt")]
    pub category: Option<Category>,
    /// Severity, when the body is readable here.
    #[serde(default, with = "named_opt")]
    pub severity: Option<Severity>,
    /// Bulletin title, when the body is readable here.
    pub title: Option<String>,
    /// The entry this one refers to (superseded, retracted, acknowledged), hex.
    pub target: Option<String>,
    /// Recipient organizations of a restricted entry.
    pub recipients: Option<Vec<String>>,
    /// Whether this organization can read the body's content.
    pub readable: bool,
    /// Whether this node stores the body.
    pub has_body: bool,
    /// Whether the author retracted the entry with purge (the body is gone).
    pub purged: bool,
    /// Body length from the signed header.
    pub body_len: u64,
    /// When this node stored the entry, Unix ms.
    pub received_ms: u64,
    /// Set when the author's key is retired (spec §9.6): what the roster
    /// says of it, for example that it was declared compromised after a
    /// given seq (this entry is before that point, or it would not be held).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_notice: Option<String>,
    /// The author key's retirement (reason and boundary), when retired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_retired: Option<RetiredView>,
}

/// One entry with its decoded body and the entries that refer to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryDetail {
    /// The entry.
    #[serde(flatten)]
    pub entry: EntryView,
    /// The body's content, if stored and readable by this organization.
    pub body: Option<BodyView>,
    /// Why there is no body content (purged, not received, restricted).
    pub body_note: Option<String>,
    /// Corrections, retractions and acks that refer to this entry, oldest first.
    pub referenced_by: Vec<EntryView>,
}

/// A decoded body. The entry's `kind` says which shape it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)]
pub enum BodyView {
    /// Bulletin or correction.
    Bulletin(BulletinView),
    /// Retraction.
    Retraction(RetractionView),
    /// Ack.
    Ack(AckView),
    /// Access request.
    AccessRequest(AccessRequestView),
    /// Access decision.
    AccessDecision(AccessDecisionView),
    /// Access receipt.
    AccessReceipt(AccessReceiptView),
}

/// A bulletin or correction body (at the hazardous tier, the redacted summary).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulletinView {
    /// Title.
    pub title: String,
    /// Summary.
    pub summary: String,
    /// Category.
    #[serde(default, with = "named_opt")]
    pub category: Option<Category>,
    /// Severity.
    #[serde(default, with = "named_opt")]
    pub severity: Option<Severity>,
    /// Affected systems.
    pub affected: Vec<String>,
    /// Technical details.
    pub details: String,
    /// Mitigations.
    pub mitigations: Vec<String>,
    /// References.
    pub references: Vec<String>,
    /// White House commitments (1–8) concerned.
    pub commitments: Vec<u8>,
    /// Embargo end, Unix ms.
    pub embargo_until_ms: Option<u64>,
    /// Expiry, Unix ms.
    pub expires_ms: Option<u64>,
    /// Superseded entry of a correction, hex.
    pub supersedes: Option<String>,
    /// Withheld fields and their commitments (hazardous tier).
    pub withheld: Option<Vec<WithheldView>>,
    /// Release policy (hazardous tier).
    pub release: Option<ReleaseView>,
}

/// A withheld field's commitment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithheldView {
    /// Field name.
    pub field: String,
    /// Commitment, hex.
    pub commitment: String,
}

/// A hazardous entry's release policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseView {
    /// Whether observers may request.
    pub observers_may_request: bool,
    /// Approving organizations, by org id (empty: the author alone).
    pub approvers: Vec<String>,
    /// Approvals needed.
    pub threshold: u64,
}

/// A retraction body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetractionView {
    /// Retracted entry, hex.
    pub target: String,
    /// Why.
    pub reason: String,
    /// Whether every node drops the target's body.
    pub purge: bool,
}

/// An ack body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckView {
    /// Acknowledged entry, hex.
    pub target: String,
    /// Status name.
    #[serde(with = "named")]
    pub status: AckStatus,
    /// Free text.
    pub note: String,
}

/// An access request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequestView {
    /// Hazardous entry, hex.
    pub target: String,
    /// Justification.
    pub reason: String,
    /// Requested field names.
    pub fields: Vec<String>,
}

/// An access decision body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessDecisionView {
    /// The request decided on, hex.
    pub request: String,
    /// Granted or denied.
    pub grant: bool,
    /// Why.
    pub reason: String,
}

/// An access receipt body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessReceiptView {
    /// The fulfilled request, hex.
    pub request: String,
    /// The hazardous entry, hex.
    pub target: String,
    /// Commitments received, hex.
    pub received: Vec<String>,
}

/// A page of entries, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryList {
    /// The entries.
    pub entries: Vec<EntryView>,
    /// Pass as `after` to get the next page; null on the last page.
    pub next: Option<String>,
}

/// A peer of this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerView {
    /// Organization on the roster.
    pub org: String,
    /// libp2p peer id.
    pub peer_id: String,
    /// Whether a connection is open.
    pub connected: bool,
    /// Last known address.
    pub address: Option<String>,
}

impl From<PeerStatus> for PeerView {
    fn from(p: PeerStatus) -> Self {
        PeerView {
            org: p.org,
            peer_id: p.peer_id,
            connected: p.connected,
            address: p.address,
        }
    }
}

/// The answer of `GET /v1/peers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerList {
    /// Roster peers, connected or not.
    pub peers: Vec<PeerView>,
}

/// One author's log on this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorView {
    /// Organization id.
    pub org: String,
    /// Author key, hex.
    pub author: String,
    /// Highest contiguous seq held.
    pub seq: u64,
    /// Id of the entry at `seq` (hex); absent when `seq` is 0.
    pub head_id: Option<String>,
    /// Highest seq any peer announced.
    pub best_known_seq: u64,
    /// Entries known to exist but not yet held.
    pub lag: u64,
    /// Set when this key is retired (a former participant's or a replaced
    /// key, spec §9.6): why (`removed`, `rotated`, `compromised`) and the
    /// last seq of its log that stays valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<RetiredView>,
}

/// A retired key's standing, as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredView {
    /// `removed`, `rotated` or `compromised`.
    pub reason: String,
    /// The last seq of the key's log that stays valid (0: none).
    pub last_seq: u64,
}

impl RetiredView {
    fn of(retired: &RetiredKey) -> Self {
        RetiredView {
            reason: retired.reason.name().to_string(),
            last_seq: retired.last_seq,
        }
    }
}

/// An equivocation as listed in the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EquivocationRef {
    /// Equivocating organization.
    pub org: String,
    /// Seq at which it signed two entries.
    pub seq: u64,
}

/// The answer of `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusView {
    /// This organization.
    pub org: String,
    /// Network id.
    pub network: String,
    /// This node's peer id.
    pub peer_id: String,
    /// libp2p listen addresses.
    pub listen: Vec<String>,
    /// Roster version in force.
    pub roster_version: u64,
    /// Roster hash in force.
    pub roster_hash: String,
    /// Where this organization stands on that roster: `member`, `joining`
    /// (its key is on no roster version this node holds yet; it cannot
    /// publish until an update that lists it arrives) or `retired`.
    pub membership: Membership,
    /// Entries stored.
    pub entries: u64,
    /// Entries waiting for a predecessor.
    pub pending: u64,
    /// Connected roster peers.
    pub connected_peers: usize,
    /// Roster peers, connected or not.
    pub peers: Vec<PeerView>,
    /// Per-author heads and lag.
    pub authors: Vec<AuthorView>,
    /// Known equivocations.
    pub equivocations: Vec<EquivocationRef>,
}

impl From<NodeStatus> for StatusView {
    fn from(s: NodeStatus) -> Self {
        let peers: Vec<PeerView> = s.peers.into_iter().map(PeerView::from).collect();
        StatusView {
            org: s.org,
            network: s.network,
            peer_id: s.peer_id,
            listen: s.listen,
            roster_version: s.roster_version,
            roster_hash: s.roster_hash,
            membership: s.membership,
            entries: s.entries,
            pending: s.pending,
            connected_peers: peers.iter().filter(|p| p.connected).count(),
            peers,
            authors: s
                .authors
                .into_iter()
                .map(|a| AuthorView {
                    org: a.org,
                    author: a.author,
                    seq: a.seq,
                    head_id: a.head_id,
                    best_known_seq: a.best_known_seq,
                    lag: a.lag,
                    retired: a
                        .retirement
                        .map(|(reason, last_seq)| RetiredView { reason, last_seq }),
                })
                .collect(),
            equivocations: s
                .equivocations
                .into_iter()
                .map(|(org, seq)| EquivocationRef { org, seq })
                .collect(),
        }
    }
}

/// A stored equivocation proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EquivocationView {
    /// Equivocating organization.
    pub author: String,
    /// Its key, hex.
    pub author_key: String,
    /// The seq with two signed entries.
    pub seq: u64,
    /// Id of the first entry, hex.
    pub first: String,
    /// Id of the second entry, hex.
    pub second: String,
    /// When this node stored the proof, Unix ms.
    pub received_ms: u64,
    /// Whether the proof verifies against the roster in force.
    pub valid: bool,
    /// Why it does not verify.
    pub error: Option<String>,
}

/// The answer of `GET /v1/equivocations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EquivocationList {
    /// Every stored proof, by author and seq.
    pub equivocations: Vec<EquivocationView>,
}

/// Reads stored entries on behalf of this organization: the roster names
/// authors and recipients, the organization's secret opens restricted
/// bodies addressed to it.
pub(crate) struct Reader<'a> {
    /// The roster in force.
    pub roster: &'a Roster,
    /// This organization's key.
    pub me: OrgKey,
    /// This organization's secrets.
    pub secrets: &'a riskmesh_protocol::OrgSecrets,
}

/// A stored entry read for this organization.
pub(crate) struct ReadEntry {
    pub view: EntryView,
    pub body: Option<BodyView>,
    pub note: Option<String>,
}

// The texts a view copies out of a restricted body: wiped once the answer
// is written out (see `plaintext`). Ids, names and numbers are not secret.

wipe_fields!(EntryView { title });
wipe_fields!(BulletinView {
    title,
    summary,
    affected,
    details,
    mitigations,
    references
});

impl Wipe for BodyView {
    fn wipe(&mut self) {
        if let BodyView::Bulletin(bulletin) = self {
            bulletin.wipe();
        }
    }
}

impl Wipe for EntryDetail {
    fn wipe(&mut self) {
        self.entry.wipe();
        self.body.wipe();
        self.referenced_by.wipe();
    }
}

impl Wipe for EntryList {
    fn wipe(&mut self) {
        self.entries.wipe();
    }
}

impl Wipe for ReadEntry {
    fn wipe(&mut self) {
        self.view.wipe();
        self.body.wipe();
    }
}

/// What an analyst is told about an entry whose author key is retired.
pub fn key_notice(retired: &RetiredKey) -> String {
    let org = &retired.org;
    let last = retired.last_seq;
    match retired.reason {
        RetireReason::Compromised => format!(
            "{org}'s key that signed this was declared COMPROMISED: only its entries up to seq {last} are \
             valid, later ones are rejected everywhere; treat this one with the care its content needs"
        ),
        RetireReason::Removed => {
            format!("{org} has left the consortium; its entries up to seq {last} stay valid")
        }
        RetireReason::Rotated => {
            format!("signed with a key {org} has since replaced; its entries up to seq {last} stay valid")
        }
    }
}

impl Reader<'_> {
    /// The organization id of a current or retired key, or the key in hex.
    pub fn org_of(&self, key: &OrgKey) -> String {
        self.roster
            .org_of(key)
            .map_or_else(|| key.to_hex(), str::to_string)
    }

    /// The view of an entry from its indexed fields alone.
    pub fn meta_view(&self, meta: &EntryMeta) -> EntryView {
        let retired = self.roster.retired(&meta.author);
        EntryView {
            id: meta.id.to_hex(),
            author: self.org_of(&meta.author),
            author_key: meta.author.to_hex(),
            seq: meta.seq,
            timestamp_ms: meta.timestamp_ms,
            tier: meta.tier,
            tlp: meta.tier.tlp().to_string(),
            kind: meta.kind,
            category: meta.category,
            severity: meta.severity,
            title: None,
            target: meta.target.map(|t| t.to_hex()),
            recipients: None,
            readable: false,
            has_body: meta.has_body,
            purged: meta.purged,
            body_len: meta.body_len,
            received_ms: meta.received_ms,
            key_notice: retired.map(key_notice),
            author_retired: retired.map(RetiredView::of),
        }
    }

    /// Reads a stored entry: decodes its body, opening a restricted one if
    /// this organization is a recipient.
    pub fn read(&self, entry: &StoredEntry) -> ReadEntry {
        let mut view = self.meta_view(&entry.meta);
        // The store holds only entries verified on arrival; the header is
        // read here for display (recipients), not trusted as a fresh check.
        // `riskmesh verify` re-verifies signatures.
        let header = stored_header(&entry.envelope);
        let recipients = header.as_ref().and_then(|h| h.recipients.clone());
        view.recipients = recipients.as_ref().map(|keys| {
            let mut orgs: Vec<String> = keys.iter().map(|k| self.org_of(k)).collect();
            orgs.sort();
            orgs
        });
        let (body, note) = match &entry.body {
            None if entry.meta.purged => (None, Some("purged: the author retracted it with purge".into())),
            None => (None, Some("body not received by this node".into())),
            Some(bytes) => self.decode(&entry.meta, bytes, recipients.as_deref(), &view),
        };
        // The decoded body is wiped once its view is built.
        let body = body.map(Wiped::new);
        if let Some(Body::Bulletin(b)) = body.as_deref() {
            view.title = Some(b.title.clone());
            view.category = b.category;
            view.severity = b.severity;
        }
        view.readable = body.is_some();
        ReadEntry {
            view,
            body: body.as_deref().and_then(|b| self.body_view(b)),
            note,
        }
    }

    fn decode(
        &self,
        meta: &EntryMeta,
        bytes: &[u8],
        recipients: Option<&[OrgKey]>,
        view: &EntryView,
    ) -> (Option<Body>, Option<String>) {
        if meta.tier != Tier::Restricted {
            return match Body::decode(meta.kind, meta.tier, bytes) {
                Ok(body) => (Some(body), None),
                Err(e) => (None, Some(format!("stored body does not decode: {e}"))),
            };
        }
        if !recipients.is_some_and(|r| r.contains(&self.me)) {
            let to = view.recipients.clone().unwrap_or_default().join(", ");
            return (
                None,
                Some(format!(
                    "restricted to {to}; this organization is not a recipient"
                )),
            );
        }
        if super::holds_store_lock() {
            tracing::error!("a restricted body was to be decrypted under the API's store lock; refused");
            return (
                None,
                Some(
                    "not decrypted: this node read it under its store lock (a bug; please report it)".into(),
                ),
            );
        }
        let plaintext = match sealed::open(&self.secrets.encryption, bytes) {
            Ok(p) => p,
            Err(e) => return (None, Some(e.to_string())),
        };
        let decoded = cbor::decode_canonical::<BulletinBody>(&plaintext, MAX_BODY_BYTES)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                check_bulletin(&b, meta.kind, meta.tier)
                    .map(|()| b)
                    .map_err(|e| e.to_string())
            });
        match decoded {
            Ok(b) => (Some(Body::Bulletin(b)), None),
            Err(e) => (None, Some(format!("decrypted body is not a valid bulletin: {e}"))),
        }
    }

    /// The JSON shape of a decoded body.
    pub(crate) fn body_view(&self, body: &Body) -> Option<BodyView> {
        let view = match body {
            Body::Bulletin(b) => BodyView::Bulletin(self.bulletin_view(b)),
            Body::Retraction(r) => BodyView::Retraction(RetractionView {
                target: r.target.to_hex(),
                reason: r.reason.clone(),
                purge: r.purge,
            }),
            Body::Ack(a) => BodyView::Ack(AckView {
                target: a.target.to_hex(),
                status: a.status,
                note: a.note.clone(),
            }),
            Body::AccessRequest(r) => BodyView::AccessRequest(AccessRequestView {
                target: r.target.to_hex(),
                reason: r.reason.clone(),
                fields: r
                    .fields
                    .iter()
                    .map(|f| WithheldField::name(*f).to_string())
                    .collect(),
            }),
            Body::AccessDecision(d) => BodyView::AccessDecision(AccessDecisionView {
                request: d.request.to_hex(),
                grant: d.grant,
                reason: d.reason.clone(),
            }),
            Body::AccessReceipt(r) => BodyView::AccessReceipt(AccessReceiptView {
                request: r.request.to_hex(),
                target: r.target.to_hex(),
                received: hexes(&r.received),
            }),
            // Ciphertext is never shown as a body: `read` opens it or explains
            // why not. A body kind from a newer protocol has no view yet.
            _ => return None,
        };
        Some(view)
    }

    fn bulletin_view(&self, b: &BulletinBody) -> BulletinView {
        BulletinView {
            title: b.title.clone(),
            summary: b.summary.clone(),
            category: b.category,
            severity: b.severity,
            affected: b.affected.clone(),
            details: b.details.clone(),
            mitigations: b.mitigations.clone(),
            references: b.references.clone(),
            commitments: b.commitments.clone(),
            embargo_until_ms: b.embargo_until_ms,
            expires_ms: b.expires_ms,
            supersedes: b.supersedes.map(|s| s.to_hex()),
            withheld: b.withheld.as_ref().map(|w| {
                w.iter()
                    .map(|c| WithheldView {
                        field: c.field.name().to_string(),
                        commitment: c.commitment.to_hex(),
                    })
                    .collect()
            }),
            release: b.release.as_ref().map(|r| ReleaseView {
                observers_may_request: r.observers_may_request,
                approvers: {
                    let mut orgs: Vec<String> = r.approvers.iter().map(|k| self.org_of(k)).collect();
                    orgs.sort();
                    orgs
                },
                threshold: r.threshold,
            }),
        }
    }

    /// The view of a stored equivocation proof.
    pub fn equivocation(&self, e: &StoredEquivocation) -> EquivocationView {
        let verdict = e.proof.verify(self.roster);
        EquivocationView {
            author: self.org_of(&e.author),
            author_key: e.author.to_hex(),
            seq: e.seq,
            first: riskmesh_protocol::Hash32::of(&e.proof.first).to_hex(),
            second: riskmesh_protocol::Hash32::of(&e.proof.second).to_hex(),
            received_ms: e.received_ms,
            valid: verdict.is_ok(),
            error: verdict.err().map(|err| err.to_string()),
        }
    }
}

/// The header of stored envelope bytes, decoded without re-checking the
/// signature (the store only holds entries verified on arrival).
pub(crate) fn stored_header(envelope: &[u8]) -> Option<Header> {
    let parsed = Envelope::parse(envelope).ok()?;
    cbor::decode_canonical::<Header>(parsed.payload, MAX_HEADER_BYTES).ok()
}

fn hexes(ids: &[riskmesh_protocol::Hash32]) -> Vec<String> {
    ids.iter().map(|h| h.to_hex()).collect()
}
