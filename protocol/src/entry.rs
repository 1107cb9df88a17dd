//! Entries: the signed header, its COSE_Sign1 envelope, and the wire form
//! that carries an envelope with its (separately hashed) body.
//!
//! The signature covers the exact header bytes inside a COSE `Sig_structure`
//! whose external AAD is a domain prefix plus the network id, so an entry
//! signed for one network or purpose can never verify for another.

use crate::cbor::{self, CborError};
use crate::ids::{EntryId, Hash32, OrgKey};
use crate::keys::OrgSigningKey;
use crate::limits::{MAX_ENVELOPE_BYTES, MAX_HEADER_BYTES, MAX_WIRE_ENTRY_BYTES};
use minicbor::{Decode, Encode};

/// Domain prefix of the external AAD for entry signatures; the network id
/// follows it.
pub const ENTRY_AAD_PREFIX: &[u8] = b"riskmesh-entry-v1\0";
/// Protocol version carried in every header.
pub const HEADER_VERSION: u64 = 1;
/// COSE algorithm identifier for EdDSA (RFC 9053). RFC 9864 deprecates this
/// polymorphic identifier in favour of the fully specified -19 (Ed25519);
/// version 1 keeps -8 for library compatibility (every RFC 9053 COSE library
/// verifies it, support for -19 is recent) and because the 32-byte kid leaves
/// no ambiguity about the curve (spec §5.2).
pub const COSE_ALG_EDDSA: i64 = -8;

/// Who may read an entry's body (TLP 2.0 labels in brackets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
#[cbor(index_only)]
pub enum Tier {
    /// Anyone; may be exported outside the consortium (TLP:CLEAR).
    #[n(0)]
    Public,
    /// Every roster participant (TLP:GREEN).
    #[n(1)]
    Consortium,
    /// Named recipient organizations; the body is encrypted to them (TLP:AMBER+STRICT).
    #[n(2)]
    Restricted,
    /// Everyone sees a redacted summary; details only by audited release (TLP:RED).
    #[n(3)]
    Hazardous,
}

impl Tier {
    /// All tiers, lowest first.
    pub const ALL: [Tier; 4] = [Tier::Public, Tier::Consortium, Tier::Restricted, Tier::Hazardous];

    /// The TLP 2.0 label used when exporting.
    pub fn tlp(self) -> &'static str {
        match self {
            Tier::Public => "TLP:CLEAR",
            Tier::Consortium => "TLP:GREEN",
            Tier::Restricted => "TLP:AMBER+STRICT",
            Tier::Hazardous => "TLP:RED",
        }
    }

    /// Lowercase name as used in the CLI and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Public => "public",
            Tier::Consortium => "consortium",
            Tier::Restricted => "restricted",
            Tier::Hazardous => "hazardous",
        }
    }
}

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
#[cbor(index_only)]
pub enum Kind {
    /// A risk bulletin.
    #[n(0)]
    Bulletin,
    /// A new version of an earlier bulletin or correction by the same author.
    #[n(1)]
    Correction,
    /// Withdraws an earlier entry; optionally asks every node to purge its body.
    #[n(2)]
    Retraction,
    /// A signed sighting of another entry: reproduced, not affected or mitigated.
    #[n(3)]
    Ack,
    /// A request for the withheld details of a hazardous entry.
    #[n(4)]
    AccessRequest,
    /// A grant or denial of an access request.
    #[n(5)]
    AccessDecision,
    /// The requester's signed statement of which withheld fields it received.
    #[n(6)]
    AccessReceipt,
}

impl Kind {
    /// All kinds, in wire order.
    pub const ALL: [Kind; 7] = [
        Kind::Bulletin,
        Kind::Correction,
        Kind::Retraction,
        Kind::Ack,
        Kind::AccessRequest,
        Kind::AccessDecision,
        Kind::AccessReceipt,
    ];

    /// Lowercase name as used in the CLI and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Bulletin => "bulletin",
            Kind::Correction => "correction",
            Kind::Retraction => "retraction",
            Kind::Ack => "ack",
            Kind::AccessRequest => "access-request",
            Kind::AccessDecision => "access-decision",
            Kind::AccessReceipt => "access-receipt",
        }
    }

    /// Whether entries of this kind carry a bulletin body (and so may use the
    /// restricted and hazardous tiers). The others are control entries that
    /// every participant must be able to read.
    pub fn carries_bulletin(self) -> bool {
        matches!(self, Kind::Bulletin | Kind::Correction)
    }
}

/// The signed part of an entry. The body travels separately and is bound by
/// `body_hash` and `body_len`, so it can be purged while the log stays verifiable.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct Header {
    /// Protocol version, [`HEADER_VERSION`].
    #[n(0)]
    pub version: u64,
    /// Network id; must equal the roster's.
    #[n(1)]
    pub network: String,
    /// The author organization's signing key.
    #[n(2)]
    pub author: OrgKey,
    /// Position in the author's log, starting at 1.
    #[n(3)]
    pub seq: u64,
    /// Id of the author's entry at `seq - 1`; absent exactly when `seq == 1`.
    #[n(4)]
    pub prev: Option<EntryId>,
    /// Author's clock when signing, Unix milliseconds.
    #[n(5)]
    pub timestamp_ms: u64,
    /// Who may read the body.
    #[n(6)]
    pub tier: Tier,
    /// What the entry is.
    #[n(7)]
    pub kind: Kind,
    /// SHA-256 of the body bytes.
    #[n(8)]
    pub body_hash: Hash32,
    /// Length of the body in bytes.
    #[n(9)]
    pub body_len: u64,
    /// Recipient organizations of a restricted entry, ascending; absent otherwise.
    #[n(10)]
    pub recipients: Option<Vec<OrgKey>>,
}

impl Header {
    /// The header's canonical CBOR bytes (the COSE payload).
    pub fn to_bytes(&self) -> Vec<u8> {
        cbor::encode(self)
    }
}

/// The COSE protected header for an author: `{1: -8, 4: author}` (alg EdDSA,
/// kid = the author's key). Putting the kid in the protected header lets a
/// verifier find the key and check the signature before decoding the payload.
pub fn protected_header(author: &OrgKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(40);
    // a2 01 27 04 58 20 <32 bytes>
    out.extend_from_slice(&[0xa2, 0x01, 0x27, 0x04, 0x58, 0x20]);
    out.extend_from_slice(&author.0);
    out
}

/// The external AAD for a network: [`ENTRY_AAD_PREFIX`] followed by the
/// network id's UTF-8 bytes.
pub fn external_aad(network: &str) -> Vec<u8> {
    let mut aad = ENTRY_AAD_PREFIX.to_vec();
    aad.extend_from_slice(network.as_bytes());
    aad
}

/// The CBOR tag that marks a COSE_Sign1 message (RFC 9052 §2).
pub const COSE_SIGN1_TAG: u8 = 18;

/// An envelope as a tagged COSE_Sign1 message (`18(envelope)`), the form a
/// COSE library's default decode call expects. On the wire and in the
/// entry id the envelope is untagged (spec §5.2); exports carry this form
/// beside it. The tag is one byte, `0xd2` (major type 6, value 18).
pub fn tagged_envelope(envelope: &[u8]) -> Vec<u8> {
    let mut tagged = Vec::with_capacity(envelope.len() + 1);
    tagged.push(0xc0 | COSE_SIGN1_TAG);
    tagged.extend_from_slice(envelope);
    tagged
}

/// The COSE `Sig_structure` for COSE_Sign1 (RFC 9052 §4.4):
/// `["Signature1", protected, external_aad, payload]`. These are the bytes
/// Ed25519 signs.
pub fn signing_input(protected: &[u8], network: &str, payload: &[u8]) -> Vec<u8> {
    let aad = external_aad(network);
    let mut e = minicbor::Encoder::new(Vec::with_capacity(
        payload.len() + protected.len() + aad.len() + 24,
    ));
    // Writing into a Vec cannot fail.
    let _ = e
        .array(4)
        .and_then(|e| e.str("Signature1"))
        .and_then(|e| e.bytes(protected))
        .and_then(|e| e.bytes(&aad))
        .and_then(|e| e.bytes(payload));
    e.into_writer()
}

/// A COSE_Sign1 envelope split into its parts, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The exact envelope bytes.
    pub bytes: &'a [u8],
    /// Author key from the protected header's kid.
    pub kid: OrgKey,
    /// Protected header bytes.
    pub protected: &'a [u8],
    /// Header bytes (the COSE payload).
    pub payload: &'a [u8],
    /// Ed25519 signature.
    pub signature: [u8; 64],
}

impl<'a> Envelope<'a> {
    /// Splits untagged COSE_Sign1 bytes: `[protected: bstr, unprotected: {},
    /// payload: bstr, signature: bstr .size 64]`. Checks canonical encoding and
    /// size, and that the protected header is exactly `{1: -8, 4: kid}`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, CborError> {
        cbor::check_canonical(bytes, MAX_ENVELOPE_BYTES)?;
        let schema = |what: &str| CborError::Schema(format!("envelope: {what}"));
        let mut d = minicbor::Decoder::new(bytes);
        if d.array().map_err(|_| schema("expected an array"))? != Some(4) {
            return Err(schema("expected an array of 4"));
        }
        let protected = d
            .bytes()
            .map_err(|_| schema("protected header must be a byte string"))?;
        if protected.len() != 38 || protected[..6] != [0xa2, 0x01, 0x27, 0x04, 0x58, 0x20] {
            return Err(schema("protected header must be {1: -8, 4: kid(32 bytes)}"));
        }
        let mut kid = [0u8; 32];
        kid.copy_from_slice(&protected[6..]);
        if d.map().map_err(|_| schema("unprotected header must be a map"))? != Some(0) {
            return Err(schema("unprotected header must be empty"));
        }
        let payload = d.bytes().map_err(|_| schema("payload must be a byte string"))?;
        if payload.len() > MAX_HEADER_BYTES {
            return Err(CborError::Oversize {
                len: payload.len(),
                limit: MAX_HEADER_BYTES,
            });
        }
        let signature: [u8; 64] = d
            .bytes()
            .map_err(|_| schema("signature must be a byte string"))?
            .try_into()
            .map_err(|_| schema("signature must be 64 bytes"))?;
        Ok(Envelope {
            bytes,
            kid: OrgKey(kid),
            protected,
            payload,
            signature,
        })
    }
}

/// Signs a header, producing the envelope bytes. The header's `author` must be
/// the key's public half; `build` in [`crate::log`] guarantees it.
pub fn sign_header(key: &OrgSigningKey, header: &Header) -> Vec<u8> {
    let protected = protected_header(&key.public());
    let payload = header.to_bytes();
    let signature = key.sign(&signing_input(&protected, &header.network, &payload));
    encode_envelope(&protected, &payload, &signature)
}

/// Assembles COSE_Sign1 bytes from parts. Also used by test-vector tools to
/// build deliberately invalid envelopes.
pub fn encode_envelope(protected: &[u8], payload: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut e = minicbor::Encoder::new(Vec::with_capacity(payload.len() + 120));
    let _ = e
        .array(4)
        .and_then(|e| e.bytes(protected))
        .and_then(|e| e.map(0))
        .and_then(|e| e.bytes(payload))
        .and_then(|e| e.bytes(signature));
    e.into_writer()
}

/// An entry as it travels in gossip and sync: the envelope and, unless it
/// was purged, the body.
///
/// CBOR: `[envelope: bstr, body: bstr]` with a body, and the 1-element array
/// `[envelope: bstr]` without one: an absent trailing element is omitted, so
/// `[envelope, null]` re-encodes differently and is rejected as not
/// canonical. Gossip requires the body
/// ([`verify_gossip`](crate::validate::verify_gossip)); only sync may carry
/// the 1-element form, for entries whose body was purged.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(array)]
pub struct WireEntry {
    /// COSE_Sign1 bytes.
    #[n(0)]
    #[cbor(with = "minicbor::bytes")]
    pub envelope: Vec<u8>,
    /// Body bytes, absent when the body was purged by a retraction.
    #[n(1)]
    #[cbor(with = "minicbor::bytes")]
    pub body: Option<Vec<u8>>,
}

impl WireEntry {
    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        cbor::encode(self)
    }

    /// Decodes and checks canonical form and size; verification is separate.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CborError> {
        cbor::decode_canonical(bytes, MAX_WIRE_ENTRY_BYTES)
    }

    /// The entry id (SHA-256 of the envelope bytes).
    pub fn id(&self) -> EntryId {
        Hash32::of(&self.envelope)
    }

    /// The length of [`WireEntry::to_bytes`], computed without encoding.
    pub fn encoded_len(&self) -> usize {
        let bstr = |len: usize| cbor_head_len(len as u64) + len;
        1 + bstr(self.envelope.len()) + self.body.as_ref().map_or(0, |b| bstr(b.len()))
    }
}

/// Bytes taken by a CBOR initial byte with argument `arg` in shortest form.
fn cbor_head_len(arg: u64) -> usize {
    match arg {
        0..=23 => 1,
        24..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_entry_forms_and_encoded_len() {
        let with_body = WireEntry {
            envelope: vec![7; 300],
            body: Some(vec![9; 70_000]),
        };
        let purged = WireEntry {
            envelope: vec![7; 20],
            body: None,
        };
        for wire in [&with_body, &purged] {
            let bytes = wire.to_bytes();
            assert_eq!(wire.encoded_len(), bytes.len());
            assert_eq!(WireEntry::from_bytes(&bytes).as_ref(), Ok(wire));
        }
        // A purged entry is the 1-element array; an explicit null is refused.
        let bytes = purged.to_bytes();
        assert_eq!(bytes[0], 0x81);
        let mut with_null = vec![0x82];
        with_null.extend_from_slice(&bytes[1..]);
        with_null.push(0xf6);
        assert_eq!(WireEntry::from_bytes(&with_null), Err(CborError::NotCanonical));
    }
}
