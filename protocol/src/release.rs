//! Releasing a hazardous entry's withheld fields: the release policy's
//! decision over the recorded approvals, and the author-signed release that
//! carries the openings to the requester.
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
use crate::redaction::{ReleasePolicy, Reveal, RevealError, check_reveals};
use crate::roster::{Role, Roster};
use minicbor::{Decode, Encode};

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

/// Where an access request stands under its entry's release policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The requester may not ask (an observer where the policy does not allow
    /// observers, or the author itself); nothing will be released.
    NotAllowed,
    /// Fewer than the threshold of distinct approvers have granted, and enough
    /// have not yet answered for it still to be reached.
    Pending {
        /// Distinct approvers that granted.
        grants: usize,
        /// The threshold.
        needed: usize,
    },
    /// The threshold of distinct approvers granted: release.
    Granted,
    /// So many approvers denied that the threshold can no longer be reached.
    Denied,
}

/// Why an organization may not request a hazardous entry's withheld fields
/// (steps 1 and 2 of the evaluation, spec §8.6). A request by such an
/// organization is [`Decision::NotAllowed`] whatever the decisions on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Ineligible {
    /// The requester is not a roster participant.
    #[error("the requester is not on the roster")]
    NotOnRoster,
    /// The requester is the entry's author (it holds the fields already).
    #[error("the requester is the entry's author")]
    Author,
    /// The requester is an observer and the policy does not let observers
    /// request.
    #[error("the requester is an observer and the release policy admits members only")]
    Observer,
}

/// Whether `requester` may request the withheld fields of an entry by
/// `author` under `policy` (spec §8.6 steps 1 and 2).
pub fn may_request(
    roster: &Roster,
    author: &OrgKey,
    policy: &ReleasePolicy,
    requester: &OrgKey,
) -> Result<(), Ineligible> {
    let Some(member) = roster.member(requester) else {
        return Err(Ineligible::NotOnRoster);
    };
    if requester == author {
        return Err(Ineligible::Author);
    }
    if member.role == Role::Observer && !policy.observers_may_request {
        return Err(Ineligible::Observer);
    }
    Ok(())
}

/// The organizations whose decisions count on `requester`'s request for an
/// entry by `author` under `policy` (spec §8.6 step 3): the author alone if
/// the policy names no approvers, otherwise the named approvers that are
/// roster participants with role member, less the requester (no
/// organization approves its own request).
pub fn approvers(
    roster: &Roster,
    author: &OrgKey,
    policy: &ReleasePolicy,
    requester: &OrgKey,
) -> Vec<OrgKey> {
    if policy.approvers.is_empty() {
        return vec![*author];
    }
    policy
        .approvers
        .iter()
        .filter(|a| roster.member(a).is_some_and(|m| m.role == Role::Member))
        .filter(|a| *a != requester)
        .copied()
        .collect()
}

/// Evaluates a request under `policy` (spec §8.6). `decisions` are
/// `(approver, grant)` from access-decision entries referencing the request,
/// in log order; decisions by organizations that are not
/// [`approvers`] are ignored (the requester's own included), and each
/// approver's latest decision counts.
pub fn evaluate(
    roster: &Roster,
    author: &OrgKey,
    policy: &ReleasePolicy,
    requester: &OrgKey,
    decisions: &[(OrgKey, bool)],
) -> Decision {
    if may_request(roster, author, policy, requester).is_err() {
        return Decision::NotAllowed;
    }
    let approvers = approvers(roster, author, policy, requester);
    let needed = usize::try_from(policy.threshold).unwrap_or(usize::MAX).max(1);
    let mut latest: Vec<(OrgKey, bool)> = Vec::new();
    for (who, grant) in decisions {
        if !approvers.contains(who) {
            continue;
        }
        match latest.iter_mut().find(|(w, _)| w == who) {
            Some(slot) => slot.1 = *grant,
            None => latest.push((*who, *grant)),
        }
    }
    let grants = latest.iter().filter(|(_, g)| *g).count();
    let denials = latest.iter().filter(|(_, g)| !*g).count();
    if grants >= needed {
        Decision::Granted
    } else if approvers.len().saturating_sub(denials) < needed {
        Decision::Denied
    } else {
        Decision::Pending { grants, needed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Hash32;
    use crate::redaction::{Redaction, WithheldField, redact};
    use crate::testkit;

    fn policy(c: &testkit::Consortium, approvers: &[&str], threshold: u64, observers: bool) -> ReleasePolicy {
        let mut approvers: Vec<OrgKey> = approvers.iter().map(|o| c.org(o).signing.public()).collect();
        approvers.sort();
        ReleasePolicy {
            observers_may_request: observers,
            approvers,
            threshold,
        }
    }

    #[test]
    fn k_of_n_needs_k_distinct_named_approvers() {
        let c = testkit::signatories();
        let key = |o: &str| c.org(o).signing.public();
        let author = key("meta");
        let p = policy(&c, &["anthropic", "google", "openai"], 2, false);
        let requester = key("microsoft");
        let eval = |d: &[(OrgKey, bool)]| evaluate(&c.roster, &author, &p, &requester, d);
        assert_eq!(eval(&[]), Decision::Pending { grants: 0, needed: 2 });
        assert_eq!(
            eval(&[(key("anthropic"), true)]),
            Decision::Pending { grants: 1, needed: 2 }
        );
        // The same approver twice is one approval; an unnamed org does not count.
        assert_eq!(
            eval(&[
                (key("anthropic"), true),
                (key("anthropic"), true),
                (key("amazon"), true)
            ]),
            Decision::Pending { grants: 1, needed: 2 }
        );
        assert_eq!(
            eval(&[(key("anthropic"), true), (key("google"), true)]),
            Decision::Granted
        );
        // Two denials of three leave the threshold unreachable.
        assert_eq!(
            eval(&[(key("anthropic"), false), (key("google"), false)]),
            Decision::Denied
        );
        // A later decision replaces an earlier one by the same approver.
        assert_eq!(
            eval(&[
                (key("anthropic"), true),
                (key("anthropic"), false),
                (key("google"), true)
            ]),
            Decision::Pending { grants: 1, needed: 2 }
        );
    }

    #[test]
    fn observers_and_authors_may_not_request_unless_allowed() {
        let c = testkit::signatories();
        let author = c.org("meta").signing.public();
        let observer = c.org("safety-institute").signing.public();
        let closed = policy(&c, &[], 1, false);
        assert_eq!(
            evaluate(&c.roster, &author, &closed, &observer, &[(author, true)]),
            Decision::NotAllowed
        );
        assert_eq!(
            evaluate(&c.roster, &author, &closed, &author, &[(author, true)]),
            Decision::NotAllowed
        );
        let open = policy(&c, &[], 1, true);
        assert_eq!(
            evaluate(&c.roster, &author, &open, &observer, &[(author, true)]),
            Decision::Granted
        );
        // With no named approvers only the author's decision counts.
        let member = c.org("google").signing.public();
        assert_eq!(
            evaluate(
                &c.roster,
                &author,
                &open,
                &member,
                &[(c.org("openai").signing.public(), true)]
            ),
            Decision::Pending { grants: 0, needed: 1 }
        );
    }

    #[test]
    fn eligibility_and_approvers_are_the_evaluations_steps() {
        let c = testkit::signatories();
        let key = |o: &str| c.org(o).signing.public();
        let author = key("meta");
        let closed = policy(&c, &["anthropic", "google", "academic-lab"], 1, false);
        assert_eq!(
            may_request(&c.roster, &author, &closed, &key("safety-institute")),
            Err(Ineligible::Observer)
        );
        assert_eq!(
            may_request(&c.roster, &author, &closed, &author),
            Err(Ineligible::Author)
        );
        let outsider = testkit::org_secrets("outsider").signing.public();
        assert_eq!(
            may_request(&c.roster, &author, &closed, &outsider),
            Err(Ineligible::NotOnRoster)
        );
        assert_eq!(may_request(&c.roster, &author, &closed, &key("google")), Ok(()));
        // The observer among the named approvers never counts, nor does the
        // requester itself.
        let mut expected = vec![key("anthropic")];
        expected.sort();
        assert_eq!(approvers(&c.roster, &author, &closed, &key("google")), expected);
        assert_eq!(
            approvers(&c.roster, &author, &policy(&c, &[], 1, false), &key("google")),
            vec![author]
        );
    }

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
