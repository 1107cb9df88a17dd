//! Stateless verification of one entry against the roster, and the
//! Accept / Ignore / Reject outcome vocabulary of gossip validation.
//!
//! Verification progress is carried in types: bytes become a
//! [`VerifiedEntry`] only through [`verify_entry`], and the chain, storage
//! and forwarding take only verified entries.

use crate::body::{Body, BodyError, check_recipient_list};
use crate::cbor::{self, CborError};
use crate::entry::{Envelope, HEADER_VERSION, Header, Kind, Tier, WireEntry, signing_input};
use crate::ids::{EntryId, Hash32, OrgKey};
use crate::keys::verify_strict_parsed;
use crate::limits::{MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_SEQ, MAX_TIMESTAMP_MS};
use crate::roster::{KeyStatus, Role, Roster};
use std::sync::Arc;

/// What a validator tells gossip to do with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Valid and new: store it and forward it.
    Accept,
    /// Not useful now, nobody's fault: do not forward, do not penalize.
    Ignore(IgnoreReason),
    /// Provably invalid: do not forward, penalize the sender.
    Reject(RejectReason),
}

/// Why a message was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IgnoreReason {
    /// Already held.
    Duplicate,
    /// Timestamp further in the future than the clock-skew bound.
    FutureTimestamp,
    /// Its predecessor has not arrived; it is queued until it does.
    Gap,
    /// Too far beyond the author's head to queue.
    TooFarAhead,
    /// The out-of-order queue is full.
    QueueFull,
    /// Same author and seq as an entry already held, different content: an
    /// equivocation. The proof is reported separately.
    Equivocation,
    /// Links to an entry other than the one held at `seq - 1` (a branch of an
    /// equivocating author).
    PrevMismatch,
}

impl IgnoreReason {
    /// Stable name for metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            IgnoreReason::Duplicate => "duplicate",
            IgnoreReason::FutureTimestamp => "future_timestamp",
            IgnoreReason::Gap => "gap",
            IgnoreReason::TooFarAhead => "too_far_ahead",
            IgnoreReason::QueueFull => "queue_full",
            IgnoreReason::Equivocation => "equivocation",
            IgnoreReason::PrevMismatch => "prev_mismatch",
        }
    }
}

/// Why a message was rejected. A reject is the sender's fault, so each
/// reason must be provable by anyone who holds the same inputs: all but two
/// follow from the message and the roster alone. The exceptions:
/// [`RejectReason::TimestampRegressed`] also needs the receiver's chain state
/// (the timestamp of the author's entry at `seq - 1`, see
/// [`ChainValidator`](crate::chain::ChainValidator)), and
/// [`RejectReason::MissingBody`] needs the delivery context (gossip, where a
/// body is required, as opposed to sync).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RejectReason {
    /// Not canonical CBOR, malformed, or over a size limit.
    #[error("bad encoding: {0}")]
    Encoding(CborError),
    /// The author (the envelope's kid) is not on the roster.
    #[error("author {0} is not on the roster")]
    UnknownAuthor(OrgKey),
    /// The signature does not verify with `verify_strict`.
    #[error("signature does not verify")]
    BadSignature,
    /// The header's author differs from the envelope's kid.
    #[error("header author differs from the signing key")]
    AuthorMismatch,
    /// The header names another network.
    #[error("header is for network `{0}`")]
    WrongNetwork(String),
    /// Unknown protocol version.
    #[error("unsupported header version {0}")]
    UnsupportedVersion(u64),
    /// `seq` is 0 or too large, or `prev` is present at seq 1 or missing after.
    #[error("seq/prev do not form a chain link")]
    BadChainLink,
    /// Tier and kind rules: control entries must be public or consortium,
    /// recipients exactly for restricted, and so on.
    #[error("tier rule broken: {0}")]
    TierRule(&'static str),
    /// An observer used a tier or kind reserved for members.
    #[error("role {0:?} may not publish this tier or kind")]
    RoleNotAllowed(Role),
    /// The body does not match `body_hash`/`body_len`.
    #[error("body does not match the header's hash or length")]
    BodyMismatch,
    /// The body breaks its kind's rules.
    #[error("body: {0}")]
    Body(BodyError),
    /// The timestamp goes backwards along the author's chain. Needs chain
    /// state: reported by [`ChainValidator`](crate::chain::ChainValidator), not
    /// by [`verify_entry`].
    #[error("timestamp earlier than the predecessor's")]
    TimestampRegressed,
    /// A gossiped entry came without its body. Only sync may carry an entry
    /// whose body was purged; reported by [`verify_gossip`].
    #[error("gossiped entry has no body")]
    MissingBody,
    /// A header integer is outside the range the protocol allows (today:
    /// `timestamp_ms` above [`MAX_TIMESTAMP_MS`]); the text names the field.
    #[error("header field out of range: {0}")]
    OutOfRange(&'static str),
    /// The author's key is retired (spec §9.6) and the entry is not in the
    /// prefix of its log that stays valid: after `last_seq`, or at
    /// `last_seq` but not the entry the roster names.
    #[error("author key is retired; entry {seq} is past the valid prefix (up to {last_seq})")]
    RetiredKey {
        /// The entry's `seq`.
        seq: u64,
        /// The last valid `seq` of the retired key's log.
        last_seq: u64,
    },
}

/// The tier rule broken by a restricted entry naming a recipient that is
/// not on the roster.
pub const RECIPIENT_NOT_ON_ROSTER: &str = "every recipient must be on the roster";

impl RejectReason {
    /// Whether this rejection depends on the roster version the judge holds
    /// (an author or recipient not on it, a role it does not grant), so a
    /// peer that relayed the entry under the roster it knew may be honest.
    /// Such rejections cost the relaying peer nothing (spec §14.1).
    pub fn depends_on_roster(&self) -> bool {
        match self {
            RejectReason::UnknownAuthor(_)
            | RejectReason::RoleNotAllowed(_)
            | RejectReason::RetiredKey { .. } => true,
            RejectReason::TierRule(rule) => *rule == RECIPIENT_NOT_ON_ROSTER,
            _ => false,
        }
    }

    /// Stable name for metrics, logs and test vectors.
    pub fn name(&self) -> &'static str {
        match self {
            RejectReason::Encoding(_) => "encoding",
            RejectReason::UnknownAuthor(_) => "unknown_author",
            RejectReason::BadSignature => "bad_signature",
            RejectReason::AuthorMismatch => "author_mismatch",
            RejectReason::WrongNetwork(_) => "wrong_network",
            RejectReason::UnsupportedVersion(_) => "unsupported_version",
            RejectReason::BadChainLink => "bad_chain_link",
            RejectReason::TierRule(_) => "tier_rule",
            RejectReason::RoleNotAllowed(_) => "role_not_allowed",
            RejectReason::BodyMismatch => "body_mismatch",
            RejectReason::Body(_) => "body",
            RejectReason::TimestampRegressed => "timestamp_regressed",
            RejectReason::MissingBody => "missing_body",
            RejectReason::OutOfRange(_) => "out_of_range",
            RejectReason::RetiredKey { .. } => "retired_key",
        }
    }
}

/// An entry whose envelope signature, header rules and (if present) body
/// have been checked against a roster. Only [`verify_entry`] builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEntry {
    id: EntryId,
    envelope: Arc<[u8]>,
    header: Header,
    body: Option<Arc<[u8]>>,
}

impl VerifiedEntry {
    /// Entry id (SHA-256 of the envelope).
    pub fn id(&self) -> EntryId {
        self.id
    }

    /// The exact envelope bytes, to store and forward.
    pub fn envelope(&self) -> &[u8] {
        &self.envelope
    }

    /// The decoded header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The body bytes, unless purged.
    pub fn body(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    /// Envelope plus body bytes (0 for a purged body): what the entry takes
    /// in a node's gap queue and in its store.
    pub fn stored_len(&self) -> usize {
        self.envelope.len() + self.body.as_deref().map_or(0, <[u8]>::len)
    }

    /// The same entry without its body (after a purge).
    pub fn without_body(&self) -> VerifiedEntry {
        VerifiedEntry {
            body: None,
            ..self.clone()
        }
    }

    /// The wire form.
    pub fn to_wire(&self) -> WireEntry {
        WireEntry {
            envelope: self.envelope.to_vec(),
            body: self.body.as_ref().map(|b| b.to_vec()),
        }
    }

    /// The decoded body, if present. It was checked by [`verify_entry`], so
    /// this only fails if the caller has a different protocol version.
    pub fn decode_body(&self) -> Option<Result<Body, BodyError>> {
        self.body
            .as_deref()
            .map(|b| Body::decode(self.header.kind, self.header.tier, b))
    }
}

/// Verifies an envelope and optional body against a roster.
///
/// Order matters and is normative (spec §10): size and canonical form
/// of the envelope; the kid is on the roster; `verify_strict` over the COSE
/// `Sig_structure`; only then is the header decoded and its rules checked;
/// finally the body against `body_hash`/`body_len` and its kind's rules.
/// Without a body only the envelope and header are checked; whether that is
/// acceptable depends on how the entry arrived ([`verify_gossip`],
/// [`verify_wire`]).
pub fn verify_entry(
    roster: &Roster,
    envelope: &[u8],
    body: Option<&[u8]>,
) -> Result<VerifiedEntry, RejectReason> {
    let parsed = Envelope::parse(envelope).map_err(RejectReason::Encoding)?;
    let Some((status, key)) = roster.key_status(&parsed.kid) else {
        return Err(RejectReason::UnknownAuthor(parsed.kid));
    };
    let input = signing_input(parsed.protected, roster.network(), parsed.payload);
    if !verify_strict_parsed(key, &input, &parsed.signature) {
        return Err(RejectReason::BadSignature);
    }
    let header: Header =
        cbor::decode_canonical(parsed.payload, MAX_HEADER_BYTES).map_err(RejectReason::Encoding)?;
    check_header(roster, status.role(), &parsed.kid, &header)?;
    let id = Hash32::of(envelope);
    if let KeyStatus::Retired(retired) = status
        && !retired.covers(header.seq, &id)
    {
        return Err(RejectReason::RetiredKey {
            seq: header.seq,
            last_seq: retired.last_seq,
        });
    }
    if let Some(body) = body {
        check_body(&header, body)?;
    }
    Ok(VerifiedEntry {
        id,
        envelope: Arc::from(envelope),
        header,
        body: body.map(Arc::from),
    })
}

/// Verifies a wire entry as received by sync (convenience over
/// [`verify_entry`]): the body may be absent, because a peer that honoured a
/// purge retraction no longer holds it.
pub fn verify_wire(roster: &Roster, wire: &WireEntry) -> Result<VerifiedEntry, RejectReason> {
    verify_entry(roster, &wire.envelope, wire.body.as_deref())
}

/// Verifies a wire entry as received by gossip: like [`verify_wire`], but an
/// entry without its body is rejected with [`RejectReason::MissingBody`]
/// before anything else is checked. An author always publishes the body, so
/// a bodyless entry on gossip was stripped by a relay; accepting it would let
/// any relay withhold bodies from the whole network.
pub fn verify_gossip(roster: &Roster, wire: &WireEntry) -> Result<VerifiedEntry, RejectReason> {
    if wire.body.is_none() {
        return Err(RejectReason::MissingBody);
    }
    verify_wire(roster, wire)
}

fn check_header(roster: &Roster, role: Role, kid: &OrgKey, header: &Header) -> Result<(), RejectReason> {
    if header.version != HEADER_VERSION {
        return Err(RejectReason::UnsupportedVersion(header.version));
    }
    if header.author != *kid {
        return Err(RejectReason::AuthorMismatch);
    }
    if header.network != roster.network() {
        return Err(RejectReason::WrongNetwork(header.network.clone()));
    }
    if header.seq == 0 || header.seq > MAX_SEQ || (header.seq == 1) != header.prev.is_none() {
        return Err(RejectReason::BadChainLink);
    }
    if header.timestamp_ms > MAX_TIMESTAMP_MS {
        return Err(RejectReason::OutOfRange("timestamp_ms"));
    }
    if header.body_len > MAX_BODY_BYTES as u64 {
        return Err(RejectReason::Encoding(CborError::Oversize {
            len: header.body_len as usize,
            limit: MAX_BODY_BYTES,
        }));
    }
    if !header.kind.carries_bulletin() && !matches!(header.tier, Tier::Public | Tier::Consortium) {
        return Err(RejectReason::TierRule(
            "control entries must be public or consortium",
        ));
    }
    match (&header.recipients, header.tier) {
        (Some(recipients), Tier::Restricted) => {
            if !check_recipient_list(recipients) {
                return Err(RejectReason::TierRule(
                    "recipients must be ascending, unique and 1..=64",
                ));
            }
            if recipients.iter().any(|r| !roster.knows(r)) {
                return Err(RejectReason::TierRule(RECIPIENT_NOT_ON_ROSTER));
            }
        }
        (None, Tier::Restricted) => {
            return Err(RejectReason::TierRule("restricted entries must name recipients"));
        }
        (Some(_), _) => {
            return Err(RejectReason::TierRule("only restricted entries name recipients"));
        }
        (None, _) => {}
    }
    if role == Role::Observer {
        let tier_ok = matches!(header.tier, Tier::Public | Tier::Consortium);
        let kind_ok = !matches!(header.kind, Kind::AccessDecision);
        if !tier_ok || !kind_ok {
            return Err(RejectReason::RoleNotAllowed(role));
        }
    }
    Ok(())
}

fn check_body(header: &Header, body: &[u8]) -> Result<(), RejectReason> {
    if body.len() as u64 != header.body_len || Hash32::of(body) != header.body_hash {
        return Err(RejectReason::BodyMismatch);
    }
    Body::decode(header.kind, header.tier, body).map_err(RejectReason::Body)?;
    Ok(())
}
