//! Releases and delivery verdicts from untrusted bytes. Byte 0 picks a mode
//! for the rest:
//!
//! - 0: a `SignedRelease`, decoded and opened against the fixture
//!   hazardous entry and access request;
//! - 1: a release payload, signed by the fixture author (so the checks
//!   behind the signature are reached), then opened;
//! - 2: as 1, but if the payload decodes, its request, target and requester
//!   are set to the fixture's first, so the reveal check is reached;
//! - 3: as 2, and the redacted body's commitments are rebuilt from the
//!   fuzzed reveals, so their values reach the malformed and over-limit
//!   steps of the reveal check.
//!
//! Every input is also read as a `DeliveryVerdict`.
//!
//! Nothing panics; a decoded release re-encodes to the same bytes; an
//! accepted release answers the fixture request, is non-empty and its
//! reveals all pass the reveal check (no field twice, each withheld, each
//! opening its commitment); a verdict's bytes never exceed
//! `MAX_RELEASE_VERDICT_BYTES` and round-trip unless a long text was cut.

#![no_main]

use libfuzzer_sys::fuzz_target;
use riskmesh_protocol::body::BulletinBody;
use riskmesh_protocol::delivery::DeliveryVerdict;
use riskmesh_protocol::limits::MAX_RELEASE_VERDICT_BYTES;
use riskmesh_protocol::redaction::{WithheldCommitment, check_reveals};
use riskmesh_protocol::release::{ReleasePayload, SignedRelease};
use riskmesh_protocol_fuzz::{release_fixture, sign_release_payload};

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
        1 => open(&resigned(rest), &fixture.redacted),
        fit => {
            let Ok(mut payload) = minicbor::decode::<ReleasePayload>(rest) else {
                return;
            };
            payload.request = fixture.request;
            payload.target = fixture.target;
            payload.requester = fixture.requester;
            let mut redacted = fixture.redacted.clone();
            if fit == 3 {
                let mut withheld: Vec<WithheldCommitment> = payload
                    .reveals
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
            let bytes = minicbor::to_vec(&payload).expect("encoding to a Vec cannot fail");
            open(&resigned(&bytes), &redacted);
        }
    }
});

/// Signs `payload` as the fixture author and sends the result through the
/// wire encoding, as a requester would receive it.
fn resigned(payload: &[u8]) -> SignedRelease {
    let signed = sign_release_payload(payload);
    let bytes = signed.to_bytes();
    let back = SignedRelease::from_bytes(&bytes).expect("a signed release of a small payload decodes");
    assert_eq!(back, signed);
    back
}

fn open(signed: &SignedRelease, redacted: &BulletinBody) {
    let f = release_fixture();
    let Ok(reveals) = signed.open(&f.author, &f.request, &f.target, &f.requester, redacted) else {
        return;
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
    assert_eq!(payload.reveals, reveals);
    assert_eq!(
        (payload.request, payload.target, payload.requester),
        (f.request, f.target, f.requester)
    );
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
