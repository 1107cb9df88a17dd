//! Releasing a hazardous entry's withheld fields: the release policy's
//! verdict over the log (`policy`, re-exported here), and the author-signed
//! release that carries the openings to the requester.
//!
//! The author signs a payload that binds each opening by its digest
//! ([`Reveal::digest`]); the openings travel beside the signature. A
//! requester who receives an opening that does not match the gossiped
//! commitments cuts the release down to that one opening: the result, with
//! the signed hazardous entry, is a transferable proof of the author's fault
//! that discloses none of the release's valid openings (spec §8.9). The node
//! encrypts the signed release to the requester's age key before it leaves
//! the author's node; that encryption is an edge concern and not part of
//! this module.

use crate::body::{BulletinBody, strictly_ascending};
use crate::cbor::{self, CborError};
use crate::ids::{EntryId, Hash32, OrgKey};
use crate::keys::{OrgSigningKey, verify_strict};
use crate::limits::MAX_RELEASE_BYTES;
use crate::redaction::{Reveal, RevealError, WithheldField, check_reveal};
use minicbor::{Decode, Encode};

mod policy;

pub use policy::{
    Ineligible, RecordedDecision, RecordedRetraction, RequestLog, Revocation, Verdict, approvers, evaluate,
    may_request,
};

/// Domain prefix of release signatures; the payload bytes follow.
pub const RELEASE_SIG_PREFIX: &[u8] = b"riskmesh-release-v2\0";

/// What the author releases, before it is signed: the openings of the
/// requested withheld fields and the request they answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The access request being fulfilled.
    pub request: EntryId,
    /// The hazardous entry.
    pub target: EntryId,
    /// The requester organization.
    pub requester: OrgKey,
    /// The openings, one per released field ([`SignedRelease::sign`] puts
    /// them in ascending field order).
    pub reveals: Vec<Reveal>,
}

/// One released field, bound by the digest of its opening.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct BoundReveal {
    /// Which field.
    #[n(0)]
    pub field: WithheldField,
    /// [`Reveal::digest`] of the opening.
    #[n(1)]
    pub digest: Hash32,
}

impl BoundReveal {
    /// The binding of `reveal`.
    pub fn of(reveal: &Reveal) -> Self {
        BoundReveal {
            field: reveal.field,
            digest: reveal.digest(),
        }
    }

    /// Whether `reveal` is the opening this entry binds.
    pub fn binds(&self, reveal: &Reveal) -> bool {
        self.field == reveal.field && self.digest == reveal.digest()
    }
}

/// What the author signs: the request answered and, for each released field,
/// the digest of its opening. The openings themselves are not signed bytes,
/// so a fault proof can carry one of them alone.
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
    /// The released fields, strictly ascending by field, non-empty.
    #[n(3)]
    pub bound: Vec<BoundReveal>,
}

/// A release payload with the author organization's signature, and the
/// openings it binds.
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
    /// The openings, unsigned: in a release, one per bound field in the
    /// payload's order; in a fault proof, the one failing opening.
    #[n(3)]
    pub reveals: Vec<Reveal>,
}

/// Why a release (or a fault proof) is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// Not canonical CBOR of the release structures, or over the size cap.
    #[error("release encoding: {0}")]
    Encoding(#[from] CborError),
    /// The signature does not verify with the named author's key.
    #[error("release signature does not verify")]
    BadSignature,
    /// The release is for another request, target, requester or author,
    /// binds no fields or binds them out of order, or carries openings other
    /// than the ones it binds. The openings are not signed, so a mismatch
    /// between them and the signed digests proves nothing about the author.
    #[error("release does not answer this request: {0}")]
    Mismatch(&'static str),
    /// An opening the author signed does not match the commitments of the
    /// signed hazardous entry: the author's fault, provable with
    /// [`SignedRelease::fault_proof`].
    #[error("released fields do not match the commitments: {0}")]
    Reveal(RevealError),
    /// A fault proof whose opening passes the reveal check: it proves no
    /// fault.
    #[error("the opening matches its commitment: not a fault")]
    NotAFault,
}

impl ReleaseError {
    /// Stable name.
    pub fn name(&self) -> &'static str {
        match self {
            ReleaseError::Encoding(_) => "encoding",
            ReleaseError::BadSignature => "bad_signature",
            ReleaseError::Mismatch(_) => "mismatch",
            ReleaseError::Reveal(_) => "reveal",
            ReleaseError::NotAFault => "not_a_fault",
        }
    }
}

impl SignedRelease {
    /// Signs a release as the author organization: the payload binds each
    /// opening by its digest, in ascending field order, and the openings
    /// travel beside it in the same order.
    pub fn sign(key: &OrgSigningKey, release: &Release) -> Self {
        let mut reveals = release.reveals.clone();
        reveals.sort_by_key(|r| r.field);
        let payload = cbor::encode(&ReleasePayload {
            request: release.request,
            target: release.target,
            requester: release.requester,
            bound: reveals.iter().map(BoundReveal::of).collect(),
        });
        let signature = key.sign(&[RELEASE_SIG_PREFIX, &payload].concat());
        SignedRelease {
            author: key.public(),
            payload,
            signature,
            reveals,
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

    /// The requester's check (spec §8.8 step 4): the signature, that the
    /// release answers `request` for `target` by `author` to `requester`,
    /// that it carries exactly the openings it binds, then every opening
    /// against the redacted body's commitments. Returns the openings.
    pub fn open(
        &self,
        author: &OrgKey,
        request: &EntryId,
        target: &EntryId,
        requester: &OrgKey,
        redacted: &BulletinBody,
    ) -> Result<Vec<Reveal>, ReleaseError> {
        let payload = self.signed_payload(author)?;
        if payload.request != *request || payload.target != *target || payload.requester != *requester {
            return Err(ReleaseError::Mismatch("request, target or requester differs"));
        }
        payload.check_bound()?;
        if self.reveals.len() != payload.bound.len()
            || !payload.bound.iter().zip(&self.reveals).all(|(b, r)| b.binds(r))
        {
            return Err(ReleaseError::Mismatch(
                "the openings are not the ones the author signed",
            ));
        }
        for reveal in &self.reveals {
            check_reveal(redacted, reveal).map_err(ReleaseError::Reveal)?;
        }
        Ok(self.reveals.clone())
    }

    /// The fault proof of a release that [`SignedRelease::open`] refused
    /// with [`ReleaseError::Reveal`]: this release with its openings cut to
    /// the first signed one that fails the reveal check, so that showing it
    /// discloses no valid opening. `None` if no signed opening fails.
    pub fn fault_proof(&self, redacted: &BulletinBody) -> Option<SignedRelease> {
        let payload: ReleasePayload = cbor::decode_canonical(&self.payload, MAX_RELEASE_BYTES).ok()?;
        let failing = self.reveals.iter().find(|reveal| {
            payload.bound.iter().any(|b| b.binds(reveal)) && check_reveal(redacted, reveal).is_err()
        })?;
        Some(SignedRelease {
            author: self.author,
            payload: self.payload.clone(),
            signature: self.signature,
            reveals: vec![failing.clone()],
        })
    }

    /// A third party's check of a fault proof (spec §8.9), given the author
    /// and id of the hazardous entry it concerns and that entry's redacted
    /// body: the signature holds, the payload names this entry, the proof
    /// carries exactly one opening, the author signed that opening's digest,
    /// and the opening fails the reveal check. Returns how it fails: the
    /// proven fault. A proof whose opening is valid is
    /// [`ReleaseError::NotAFault`].
    pub fn check_fault_proof(
        &self,
        author: &OrgKey,
        target: &EntryId,
        redacted: &BulletinBody,
    ) -> Result<RevealError, ReleaseError> {
        let payload = self.signed_payload(author)?;
        if payload.target != *target {
            return Err(ReleaseError::Mismatch("the release names another entry"));
        }
        payload.check_bound()?;
        let [reveal] = self.reveals.as_slice() else {
            return Err(ReleaseError::Mismatch(
                "a fault proof carries exactly one opening",
            ));
        };
        if !payload.bound.iter().any(|b| b.binds(reveal)) {
            return Err(ReleaseError::Mismatch("the opening is not one the author signed"));
        }
        match check_reveal(redacted, reveal) {
            Err(fault) => Ok(fault),
            Ok(()) => Err(ReleaseError::NotAFault),
        }
    }

    /// Checks that `author` signed this release and decodes its payload
    /// (spec §8.8 steps 4a-4c): the signature is checked over the received
    /// bytes before they are decoded.
    fn signed_payload(&self, author: &OrgKey) -> Result<ReleasePayload, ReleaseError> {
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
        Ok(cbor::decode_canonical(&self.payload, MAX_RELEASE_BYTES)?)
    }
}

impl ReleasePayload {
    /// The bound fields are non-empty and strictly ascending (so no field
    /// twice), spec §8.8 step 4e.
    fn check_bound(&self) -> Result<(), ReleaseError> {
        if self.bound.is_empty() {
            return Err(ReleaseError::Mismatch("no fields released"));
        }
        let fields: Vec<WithheldField> = self.bound.iter().map(|b| b.field).collect();
        if !strictly_ascending(&fields) {
            return Err(ReleaseError::Mismatch(
                "released fields are not strictly ascending",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Hash32;
    use crate::redaction::{Redaction, ReleasePolicy, WithheldField, redact};
    use crate::testkit;

    struct Fixture {
        author: OrgSigningKey,
        release: Release,
        redacted: BulletinBody,
    }

    /// meta's entry withholds details, title and references; the release
    /// answers a request for all three.
    fn fixture() -> Fixture {
        let mut full = testkit::sample_bulletin("hazard");
        full.details = "CANARY details".into();
        let redaction = Redaction {
            fields: vec![WithheldField::Title, WithheldField::References],
            sanitized_title: None,
            sanitized_summary: None,
            release: ReleasePolicy::default(),
        };
        let (redacted, reveals) = redact(&full, &redaction, &[[1; 32], [2; 32], [3; 32], [4; 32], [5; 32]]);
        Fixture {
            author: testkit::org_secrets("meta").signing,
            release: Release {
                request: Hash32::of(b"request"),
                target: Hash32::of(b"target"),
                requester: testkit::org_secrets("google").signing.public(),
                reveals,
            },
            redacted,
        }
    }

    impl Fixture {
        fn open(&self, signed: &SignedRelease) -> Result<Vec<Reveal>, ReleaseError> {
            let r = &self.release;
            signed.open(
                &self.author.public(),
                &r.request,
                &r.target,
                &r.requester,
                &self.redacted,
            )
        }

        fn check_proof(&self, proof: &SignedRelease) -> Result<RevealError, ReleaseError> {
            proof.check_fault_proof(&self.author.public(), &self.release.target, &self.redacted)
        }

        /// The release signed with the opening of `field` changed by one bit.
        fn tampered(&self, field: WithheldField) -> SignedRelease {
            let mut release = self.release.clone();
            let reveal = release
                .reveals
                .iter_mut()
                .find(|r| r.field == field)
                .expect("released");
            reveal.value[3] ^= 1;
            SignedRelease::sign(&self.author, &release)
        }
    }

    #[test]
    fn a_signed_release_opens_only_for_its_request_and_matching_commitments() {
        let f = fixture();
        let signed = SignedRelease::sign(&f.author, &f.release);
        let back = SignedRelease::from_bytes(&signed.to_bytes()).expect("decodes");
        assert_eq!(f.open(&back), Ok(f.release.reveals.clone()));
        let r = &f.release;
        assert_eq!(
            back.open(
                &f.author.public(),
                &r.target,
                &r.target,
                &r.requester,
                &f.redacted
            )
            .map_err(|e| e.name()),
            Err("mismatch")
        );
        let mut forged = back.clone();
        forged.signature[0] ^= 1;
        assert_eq!(f.open(&forged).map_err(|e| e.name()), Err("bad_signature"));
        // The author signs a tampered opening: the signature holds, the
        // commitment check fails, and the author is at fault.
        assert_eq!(
            f.open(&f.tampered(WithheldField::Details)),
            Err(ReleaseError::Reveal(RevealError::Mismatch(
                WithheldField::Details
            )))
        );
    }

    #[test]
    fn a_release_opens_only_with_the_openings_it_binds() {
        let f = fixture();
        let signed = SignedRelease::sign(&f.author, &f.release);
        // The openings are unsigned: one changed after signing, one left
        // out, one added or two swapped is a refusal, not the author's fault.
        let mut changed = signed.clone();
        changed.reveals[1].value[3] ^= 1;
        let mut fewer = signed.clone();
        fewer.reveals.pop();
        let mut more = signed.clone();
        more.reveals.push(signed.reveals[0].clone());
        let mut swapped = signed.clone();
        swapped.reveals.swap(0, 1);
        for wrong in [changed, fewer, more, swapped] {
            assert_eq!(f.open(&wrong).map_err(|e| e.name()), Err("mismatch"));
        }
        // The author binds the details twice: not strictly ascending.
        let mut twice = f.release.clone();
        twice.reveals.push(twice.reveals[0].clone());
        assert_eq!(
            f.open(&SignedRelease::sign(&f.author, &twice))
                .map_err(|e| e.name()),
            Err("mismatch")
        );
        let mut none = f.release.clone();
        none.reveals.clear();
        assert_eq!(
            f.open(&SignedRelease::sign(&f.author, &none))
                .map_err(|e| e.name()),
            Err("mismatch")
        );
    }

    #[test]
    fn a_fault_proof_discloses_no_valid_opening() {
        let f = fixture();
        // The title is tampered; details and references open correctly.
        let signed = f.tampered(WithheldField::Title);
        assert_eq!(
            f.open(&signed),
            Err(ReleaseError::Reveal(RevealError::Mismatch(WithheldField::Title)))
        );
        let proof = signed.fault_proof(&f.redacted).expect("a fault to prove");
        assert_eq!(proof.reveals.len(), 1);
        assert_eq!(proof.reveals[0].field, WithheldField::Title);
        let bytes = proof.to_bytes();
        for valid in f
            .release
            .reveals
            .iter()
            .filter(|r| r.field != WithheldField::Title)
        {
            for secret in [&valid.salt[..], &valid.value[..]] {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret),
                    "the proof discloses the {} opening",
                    valid.field.name()
                );
            }
        }
        let back = SignedRelease::from_bytes(&bytes).expect("decodes");
        assert_eq!(
            f.check_proof(&back),
            Ok(RevealError::Mismatch(WithheldField::Title))
        );
    }

    #[test]
    fn a_fault_proof_holds_only_with_one_signed_failing_opening() {
        let f = fixture();
        let signed = f.tampered(WithheldField::Title);
        let proof = signed.fault_proof(&f.redacted).expect("a fault to prove");
        let name = |r: Result<RevealError, ReleaseError>| r.map_err(|e| e.name()).map(|e| e.name());
        // The whole release is no proof: it carries valid openings.
        assert_eq!(name(f.check_proof(&signed)), Err("mismatch"));
        // A valid opening in place of the failing one proves nothing.
        let mut valid = proof.clone();
        valid.reveals = vec![signed.reveals[0].clone()];
        assert_eq!(name(f.check_proof(&valid)), Err("not_a_fault"));
        // An opening the author did not sign cannot frame it.
        let mut unsigned = proof.clone();
        unsigned.reveals[0].value[4] ^= 1;
        assert_eq!(name(f.check_proof(&unsigned)), Err("mismatch"));
        let mut forged = proof.clone();
        forged.signature[0] ^= 1;
        assert_eq!(name(f.check_proof(&forged)), Err("bad_signature"));
        assert_eq!(
            proof
                .check_fault_proof(&f.author.public(), &Hash32::of(b"another"), &f.redacted)
                .map_err(|e| e.name()),
            Err("mismatch")
        );
        // A correct release has no fault to prove.
        assert_eq!(
            SignedRelease::sign(&f.author, &f.release).fault_proof(&f.redacted),
            None
        );
    }
}
