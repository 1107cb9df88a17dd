//! The bare baseline's gossip messages: the same bytes-per-message as the
//! riskmesh run of the same plan, signed with Ed25519 by the publisher and
//! checked with `verify_strict` by every receiver before it is accepted.
//!
//! A message is `publication (u32 BE) ‖ author (u32 BE) ‖ body ‖ zero
//! padding ‖ signature (64 bytes)`, the signature over everything before it.
//! Its length is the length of the wire entry riskmesh would gossip for the
//! same publication, approximated as that publication's body (built by
//! [`crate::content::material`], exactly as the riskmesh run builds it) plus
//! the envelope overhead of one real signed entry (COSE_Sign1 header,
//! signature and CBOR framing, measured once by signing a sample entry). The
//! approximation is off by a few bytes at most: header fields such as the
//! sequence number and `prev` vary slightly in encoded width.

use crate::content;
use crate::plan::Plan;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use riskmesh_protocol::{Body, Hash32, testkit};

/// Publication and author indices at the front of a message.
const INDEX_BYTES: usize = 8;
/// An Ed25519 signature at the end.
const SIGNATURE_BYTES: usize = 64;
/// The shortest message: indices and signature.
pub const MIN_MESSAGE_BYTES: usize = INDEX_BYTES + SIGNATURE_BYTES;

/// Bytes a wire entry carries besides its body: a sample entry, signed for
/// real, minus its body. The second entry of a log, since every entry but
/// an author's first carries `prev` (32 bytes and its key).
pub fn envelope_overhead() -> usize {
    let consortium = testkit::signatories();
    let org = consortium.orgs[0].org.clone();
    let entries = testkit::bulletins(&consortium.roster, &org, 2, 1_700_000_000_000);
    let body = Body::Bulletin(testkit::sample_bulletin(&format!("{org} 1"))).to_bytes();
    entries
        .last()
        .map_or(0, |e| e.to_wire().encoded_len().saturating_sub(body.len()))
}

/// For each planned publication, its body bytes and the message length.
/// A publication whose body cannot be built (none in the scaling
/// scenarios) gets an empty body and the overhead alone.
pub fn bodies(plan: &Plan) -> Vec<(Vec<u8>, usize)> {
    let overhead = envelope_overhead();
    let orgs: Vec<String> = plan.nodes.iter().map(|p| p.org.clone()).collect();
    plan.publications
        .iter()
        .map(|p| {
            // Corrections, retractions and acks refer to an entry id; any
            // id gives the same body length.
            let body = content::material(plan.seed, p, &orgs, Some(Hash32([0; 32])))
                .map(|m| m.draft.body.to_bytes())
                .unwrap_or_default();
            let len = (body.len() + overhead).max(MIN_MESSAGE_BYTES + body.len());
            (body, len)
        })
        .collect()
}

/// Node `i`'s signing key (deterministic, so runs replay).
pub fn signing_key(i: usize) -> SigningKey {
    SigningKey::from_bytes(&testkit::seed(&format!("bare/{i}/sign")))
}

/// Builds and signs publication `publication` by `author`: `len` bytes in
/// all (at least the body plus [`MIN_MESSAGE_BYTES`]).
pub fn sign(key: &SigningKey, publication: u32, author: u32, body: &[u8], len: usize) -> Vec<u8> {
    let len = len.max(MIN_MESSAGE_BYTES + body.len());
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&publication.to_be_bytes());
    out.extend_from_slice(&author.to_be_bytes());
    out.extend_from_slice(body);
    out.resize(len - SIGNATURE_BYTES, 0);
    let signature = key.sign(&out);
    out.extend_from_slice(&signature.to_bytes());
    out
}

/// The publication index of a message whose author (by index into
/// `authors`) signed it, checked with `verify_strict`; `None` for anything
/// else.
pub fn verify(authors: &[VerifyingKey], message: &[u8]) -> Option<u32> {
    if message.len() < MIN_MESSAGE_BYTES {
        return None;
    }
    let (signed, signature) = message.split_at(message.len() - SIGNATURE_BYTES);
    let publication = u32::from_be_bytes(signed[0..4].try_into().ok()?);
    let author = u32::from_be_bytes(signed[4..8].try_into().ok()?) as usize;
    let signature = Signature::from_bytes(signature.try_into().ok()?);
    authors
        .get(author)?
        .verify_strict(signed, &signature)
        .ok()
        .map(|()| publication)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_message_verifies_and_a_changed_one_does_not() {
        let keys: Vec<SigningKey> = (0..3).map(signing_key).collect();
        let authors: Vec<VerifyingKey> = keys.iter().map(SigningKey::verifying_key).collect();
        let m = sign(&keys[1], 17, 1, b"body", 600);
        assert_eq!(m.len(), 600);
        assert_eq!(verify(&authors, &m), Some(17));
        let mut forged = m.clone();
        forged[10] ^= 1;
        assert_eq!(verify(&authors, &forged), None);
        // Claimed by another author: its key does not verify.
        let mut other = m.clone();
        other[7] = 2;
        assert_eq!(verify(&authors, &other), None);
        assert_eq!(verify(&authors, &m[..10]), None);
    }

    #[test]
    fn overhead_is_an_envelope() {
        // COSE_Sign1 with a header and a 64-byte signature: a few hundred bytes.
        let o = envelope_overhead();
        assert!((150..600).contains(&o), "overhead {o}");
    }
}
