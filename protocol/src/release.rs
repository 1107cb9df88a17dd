//! Releasing a hazardous entry's withheld fields: the release policy's
//! verdict over the log (`policy`, re-exported here), and the author-signed
//! release that carries the openings to the requester.
//!
//! The release is signed by the author organization so that a requester who
//! receives openings that do not match the gossiped commitments holds a
//! transferable proof of the author's fault: the signed release plus the
//! signed hazardous entry. The node encrypts the signed release to the
//! requester's age key before it leaves the author's node; that encryption
//! is an edge concern and not part of this module.

use crate::body::BulletinBody;
use crate::cbor::{self, CborError};
use crate::ids::{EntryId, OrgKey};
use crate::keys::{OrgSigningKey, verify_strict};
use crate::limits::MAX_RELEASE_BYTES;
use crate::redaction::{Reveal, RevealError, check_reveals};
use minicbor::{Decode, Encode};

mod policy;

pub use policy::{
    Ineligible, RecordedDecision, RecordedRetraction, RequestLog, Revocation, Verdict, approvers, evaluate,
    may_request,
};

/// Domain prefix of release signatures; the payload bytes follow.
pub const RELEASE_SIG_PREFIX: &[u8] = b"riskmesh-release-v1\0";

/// What the author releases: openings of the requested withheld fields.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct ReleasePayload {
    /// The access request being fulfilled.
    #[n(0)]
    pub request: EntryId,
    /// The hazardous entry.
    #[n(1)]
    pub target: EntryId,
    /// The requester organization.
    #[n(2)]
    pub requester: OrgKey,
    /// Openings, ascending by field.
    #[n(3)]
    pub reveals: Vec<Reveal>,
}

/// A release payload with the author organization's signature.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct SignedRelease {
    /// The author organization.
    #[n(0)]
    pub author: OrgKey,
    /// Canonical bytes of the [`ReleasePayload`].
    #[n(1)]
    #[cbor(with = "minicbor::bytes")]
    pub payload: Vec<u8>,
    /// Ed25519 over [`RELEASE_SIG_PREFIX`] followed by `payload`.
    #[n(2)]
    #[cbor(with = "minicbor::bytes")]
    pub signature: [u8; 64],
}

/// Why a release is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// Not canonical CBOR of the release structures, or over the size cap.
    #[error("release encoding: {0}")]
    Encoding(#[from] CborError),
    /// The signature does not verify with the named author's key.
    #[error("release signature does not verify")]
    BadSignature,
    /// The release is for another request, target, requester or author.
    #[error("release does not answer this request: {0}")]
    Mismatch(&'static str),
    /// The openings do not match the commitments of the signed hazardous
    /// entry: the author's fault, provable with the signed release.
    #[error("released fields do not match the commitments: {0}")]
    Reveal(RevealError),
}

impl ReleaseError {
    /// Stable name.
    pub fn name(&self) -> &'static str {
        match self {
            ReleaseError::Encoding(_) => "encoding",
            ReleaseError::BadSignature => "bad_signature",
            ReleaseError::Mismatch(_) => "mismatch",
            ReleaseError::Reveal(_) => "reveal",
        }
    }
}

impl SignedRelease {
    /// Signs a payload as the author organization.
    pub fn sign(key: &OrgSigningKey, payload: &ReleasePayload) -> Self {
        let payload = cbor::encode(payload);
        let signature = key.sign(&[RELEASE_SIG_PREFIX, &payload].concat());
        SignedRelease {
            author: key.public(),
            payload,
            signature,
        }
    }

    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        cbor::encode(self)
    }

    /// Decodes (canonical form and size only).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ReleaseError> {
        Ok(cbor::decode_canonical(bytes, MAX_RELEASE_BYTES)?)
    }

    /// Checks the signature and that the release answers `request` for
    /// `target` by `author` to `requester`, then checks every opening against
    /// the redacted body's commitments. Returns the openings.
    pub fn open(
        &self,
        author: &OrgKey,
        request: &EntryId,
        target: &EntryId,
        requester: &OrgKey,
        redacted: &BulletinBody,
    ) -> Result<Vec<Reveal>, ReleaseError> {
        if self.author != *author {
            return Err(ReleaseError::Mismatch("signed by another organization"));
        }
        if !verify_strict(
            author,
            &[RELEASE_SIG_PREFIX, &self.payload].concat(),
            &self.signature,
        ) {
            return Err(ReleaseError::BadSignature);
        }
        let payload: ReleasePayload = cbor::decode_canonical(&self.payload, MAX_RELEASE_BYTES)?;
        if payload.request != *request || payload.target != *target || payload.requester != *requester {
            return Err(ReleaseError::Mismatch("request, target or requester differs"));
        }
        if payload.reveals.is_empty() {
            return Err(ReleaseError::Mismatch("no fields released"));
        }
        check_reveals(redacted, &payload.reveals).map_err(ReleaseError::Reveal)?;
        Ok(payload.reveals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Hash32;
    use crate::redaction::{Redaction, ReleasePolicy, WithheldField, redact};
    use crate::testkit;

    #[test]
    fn a_signed_release_opens_only_for_its_request_and_matching_commitments() {
        let c = testkit::signatories();
        let author = &c.org("meta").signing;
        let requester = c.org("google").signing.public();
        let mut full = testkit::sample_bulletin("hazard");
        full.details = "CANARY details".into();
        let redaction = Redaction {
            fields: vec![WithheldField::References],
            sanitized_title: None,
            sanitized_summary: None,
            release: ReleasePolicy::default(),
        };
        let (redacted, reveals) = redact(&full, &redaction, &[[7; 32]; 5]);
        let request = Hash32::of(b"request");
        let target = Hash32::of(b"target");
        let payload = ReleasePayload {
            request,
            target,
            requester,
            reveals: reveals.clone(),
        };
        let signed = SignedRelease::sign(author, &payload);
        let back = SignedRelease::from_bytes(&signed.to_bytes()).expect("decodes");
        assert_eq!(
            back.open(&author.public(), &request, &target, &requester, &redacted),
            Ok(reveals.clone())
        );
        assert_eq!(
            back.open(&author.public(), &target, &target, &requester, &redacted)
                .map_err(|e| e.name()),
            Err("mismatch")
        );
        let mut forged = back.clone();
        forged.signature[0] ^= 1;
        assert_eq!(
            forged
                .open(&author.public(), &request, &target, &requester, &redacted)
                .map_err(|e| e.name()),
            Err("bad_signature")
        );
        // The author signs a tampered opening: the signature holds, the
        // commitment check fails, and the signed release is the proof.
        let mut tampered = payload.clone();
        tampered.reveals[0].value[3] ^= 1;
        let signed = SignedRelease::sign(author, &tampered);
        assert!(matches!(
            signed.open(&author.public(), &request, &target, &requester, &redacted),
            Err(ReleaseError::Reveal(RevealError::Mismatch(
                WithheldField::Details
            )))
        ));
    }
}
