//! Releases, fault proofs and delivery verdicts from untrusted bytes. Byte 0
//! picks a mode for the rest:
//!
//! - 0: a `SignedRelease`, decoded and opened against the fixture
//!   hazardous entry and access request, and checked as a fault proof;
//! - 1: a release payload, signed by the fixture author (so the checks
//!   behind the signature are reached) with the fixture's openings beside
//!   it, then opened;
//! - 2: a list of reveals, released for the fixture request by the fixture
//!   author (`sign_release`: bound by their digests and signed), so the
//!   bound-list and reveal checks are reached;
//! - 3: as 2, and the redacted body's commitments are rebuilt from the
//!   fuzzed reveals, so their values reach the malformed and over-limit
//!   steps of the reveal check.
//!
//! Every input is also read as a `DeliveryVerdict`.
//!
//! Nothing panics; a decoded release re-encodes to the same bytes; an
//! accepted release answers the fixture request, is non-empty, carries
//! exactly the openings it binds, and its reveals all pass the reveal check
//! (no field twice, each withheld, each opening its commitment) and leave no
//! fault to prove; a release refused for a bad opening yields a fault proof
//! that carries that one opening alone and proves that fault; a proven fault
//! is an opening that fails the reveal check; a verdict's bytes never exceed
//! `MAX_RELEASE_VERDICT_BYTES` and round-trip unless a long text was cut.

#![no_main]

use libfuzzer_sys::fuzz_target;
use riskmesh_protocol::body::BulletinBody;
use riskmesh_protocol::delivery::DeliveryVerdict;
use riskmesh_protocol::limits::MAX_RELEASE_VERDICT_BYTES;
use riskmesh_protocol::redaction::{Reveal, WithheldCommitment, check_reveal, check_reveals};
use riskmesh_protocol::release::{BoundReveal, ReleaseError, ReleasePayload, SignedRelease};
use riskmesh_protocol_fuzz::{release_fixture, sign_release, sign_release_payload};

fuzz_target!(|data: &[u8]| {
    verdict(data);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fixture = release_fixture();
    match mode % 4 {
        0 => {
            if let Ok(signed) = SignedRelease::from_bytes(rest) {
                assert_eq!(signed.to_bytes(), rest, "decoded release re-encodes differently");
                open(&signed, &fixture.redacted);
            }
        }
        1 => open(
            &through_the_wire(sign_release_payload(rest, fixture.signed.reveals.clone())),
            &fixture.redacted,
        ),
        fit => {
            let Ok(reveals) = minicbor::decode::<Vec<Reveal>>(rest) else {
                return;
            };
            let mut redacted = fixture.redacted.clone();
            if fit == 3 {
                let mut withheld: Vec<WithheldCommitment> = reveals
                    .iter()
                    .map(|r| WithheldCommitment {
                        field: r.field,
                        commitment: r.commitment(),
                    })
                    .collect();
                withheld.sort_by_key(|w| w.field);
                withheld.dedup_by_key(|w| w.field);
                redacted.withheld = Some(withheld);
            }
            open(&through_the_wire(sign_release(reveals)), &redacted);
        }
    }
});

/// Sends a release through the wire encoding, as a requester would receive
/// it.
fn through_the_wire(signed: SignedRelease) -> SignedRelease {
    let back =
        SignedRelease::from_bytes(&signed.to_bytes()).expect("a signed release of a small input decodes");
    assert_eq!(back, signed);
    back
}

fn open(signed: &SignedRelease, redacted: &BulletinBody) {
    let f = release_fixture();
    proof(signed, redacted);
    let reveals = match signed.open(&f.author, &f.request, &f.target, &f.requester, redacted) {
        Ok(reveals) => reveals,
        Err(ReleaseError::Reveal(fault)) => {
            let cut = signed
                .fault_proof(redacted)
                .expect("a release refused for an opening has a fault proof");
            assert_eq!(cut.reveals.len(), 1, "a fault proof carries one opening");
            assert_eq!(
                cut.check_fault_proof(&f.author, &f.target, redacted),
                Ok(fault),
                "the fault proof does not prove the refusal's fault"
            );
            return;
        }
        Err(_) => return,
    };
    assert_eq!(signed.author, f.author);
    assert!(!reveals.is_empty(), "an empty release accepted");
    assert_eq!(
        check_reveals(redacted, &reveals),
        Ok(()),
        "accepted reveals fail the reveal check"
    );
    let withheld = redacted.withheld.as_deref().unwrap_or_default();
    for (i, reveal) in reveals.iter().enumerate() {
        assert!(
            reveals[..i].iter().all(|r| r.field != reveal.field),
            "field revealed twice"
        );
        let commitment = withheld
            .iter()
            .find(|w| w.field == reveal.field)
            .expect("a revealed field is withheld");
        assert_eq!(
            commitment.commitment,
            reveal.commitment(),
            "an opening misses its commitment"
        );
    }
    let payload: ReleasePayload = minicbor::decode(&signed.payload).expect("an opened payload decodes");
    assert_eq!(
        payload.bound,
        reveals.iter().map(BoundReveal::of).collect::<Vec<_>>(),
        "an accepted release carries openings other than the ones it binds"
    );
    assert_eq!(
        (payload.request, payload.target, payload.requester),
        (f.request, f.target, f.requester)
    );
    assert_eq!(
        signed.fault_proof(redacted),
        None,
        "a fault proof of a valid release"
    );
}

/// Any signed release read as a fault proof: a proven fault is an opening
/// that fails the reveal check.
fn proof(signed: &SignedRelease, redacted: &BulletinBody) {
    let f = release_fixture();
    if let Ok(fault) = signed.check_fault_proof(&f.author, &f.target, redacted) {
        assert_eq!(signed.reveals.len(), 1, "a proof of more than one opening");
        assert_eq!(
            check_reveal(redacted, &signed.reveals[0]),
            Err(fault),
            "a proven fault is not the opening's"
        );
    }
}

fn verdict(bytes: &[u8]) {
    let decoded = DeliveryVerdict::from_bytes(bytes);
    let encoded = decoded.to_bytes();
    assert!(encoded.len() <= MAX_RELEASE_VERDICT_BYTES, "verdict over its cap");
    // A decoded text always fits, so decoding is a fixed point.
    assert_eq!(
        DeliveryVerdict::from_bytes(&encoded),
        decoded,
        "verdict does not round-trip"
    );
    if decoded.is_final() {
        assert_eq!(encoded, bytes, "a final verdict has one encoding");
    }
    // The same bytes as a refusal text the node writes.
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let refused = DeliveryVerdict::Refused(text.to_string());
    let encoded = refused.to_bytes();
    assert!(encoded.len() <= MAX_RELEASE_VERDICT_BYTES, "refusal over its cap");
    let back = DeliveryVerdict::from_bytes(&encoded);
    assert!(!back.is_final() || back == DeliveryVerdict::AlreadyReceived);
    let kept = encoded.len() - b"refused: ".len();
    if kept == text.len() {
        // Nothing was cut: the text comes back, except the one text that
        // spells the `already received` verdict.
        if text == "already received" {
            assert_eq!(back, DeliveryVerdict::AlreadyReceived);
        } else {
            assert_eq!(back, refused, "refusal text does not round-trip");
        }
    } else {
        assert!(kept < text.len() && text.is_char_boundary(kept));
        assert!(
            kept + 4 > MAX_RELEASE_VERDICT_BYTES - b"refused: ".len(),
            "cut more than a character"
        );
        assert_eq!(back, DeliveryVerdict::Refused(text[..kept].to_string()));
    }
}
