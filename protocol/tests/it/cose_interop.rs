//! A standard COSE library (coset) parses our envelopes and verifies their
//! signatures with nothing but the spec's AAD rule, so other languages' COSE
//! libraries can do the same.

use coset::{CborSerializable, CoseSign1, TaggedCborSerializable, iana};
use ed25519_dalek::{Signature, VerifyingKey};
use riskmesh_protocol::entry::{Header, external_aad, tagged_envelope};
use riskmesh_protocol::testkit;
use riskmesh_protocol::{Body, Draft, Kind, LogWriter, Tier};

#[test]
fn coset_verifies_a_riskmesh_envelope() {
    let consortium = testkit::signatories();
    let author = consortium.org("anthropic");
    let mut log = LogWriter::new(testkit::NETWORK);
    let draft = Draft {
        kind: Kind::Bulletin,
        tier: Tier::Consortium,
        body: Body::Bulletin(testkit::sample_bulletin("interop")),
        recipients: None,
    };
    let entry = log
        .append(&author.signing, &consortium.roster, &draft, 1_700_000_000_000)
        .expect("valid entry");

    let sign1 = CoseSign1::from_slice(entry.envelope()).expect("coset parses the envelope");
    let protected = &sign1.protected.header;
    assert_eq!(
        protected.alg,
        Some(coset::Algorithm::Assigned(iana::Algorithm::EdDSA))
    );
    assert_eq!(protected.key_id, author.signing.public().0.to_vec());
    assert!(sign1.unprotected.is_empty());

    let key = VerifyingKey::from_bytes(&author.signing.public().0).expect("key");
    let aad = external_aad(testkit::NETWORK);
    sign1
        .verify_signature(&aad, |sig, data| {
            let sig = Signature::from_slice(sig).map_err(|e| e.to_string())?;
            key.verify_strict(data, &sig).map_err(|e| e.to_string())
        })
        .expect("signature verifies through coset");

    // The wrong network's AAD must not verify.
    let wrong = external_aad("another-network");
    assert!(
        sign1
            .verify_signature(&wrong, |sig, data| {
                let sig = Signature::from_slice(sig).map_err(|e| e.to_string())?;
                key.verify_strict(data, &sig).map_err(|e| e.to_string())
            })
            .is_err()
    );

    // The payload is the header, and coset re-serializes the same bytes.
    let payload = sign1.payload.clone().expect("payload present");
    assert_eq!(payload, entry.header().to_bytes());
    let header: Header = minicbor::decode(&payload).expect("header decodes");
    assert_eq!(&header, entry.header());
    assert_eq!(sign1.to_vec().expect("serializes"), entry.envelope());
}

/// Exports carry each envelope tagged as COSE_Sign1 (tag 18), so a COSE
/// library's default decode of a tagged message reads it, and it verifies
/// with the external AAD the spec names; without the AAD it does not.
#[test]
fn an_exported_tagged_envelope_decodes_with_the_default_tagged_call_and_verifies() {
    let consortium = testkit::signatories();
    let author = consortium.org("google");
    let mut log = LogWriter::new(testkit::NETWORK);
    let draft = Draft {
        kind: Kind::Bulletin,
        tier: Tier::Public,
        body: Body::Bulletin(testkit::sample_bulletin("exported")),
        recipients: None,
    };
    let entry = log
        .append(&author.signing, &consortium.roster, &draft, 1_700_000_000_000)
        .expect("valid entry");
    let exported = tagged_envelope(entry.envelope());
    assert_eq!(exported[0], 0xd2, "CBOR tag 18");

    let sign1 = CoseSign1::from_tagged_slice(&exported).expect("coset decodes the tagged message");
    assert!(
        CoseSign1::from_tagged_slice(entry.envelope()).is_err(),
        "the untagged wire form is not what a tagged decode takes"
    );
    let key = VerifyingKey::from_bytes(&author.signing.public().0).expect("key");
    let verify = |aad: &[u8]| {
        sign1.verify_signature(aad, |sig, data| {
            let sig = Signature::from_slice(sig).map_err(|e| e.to_string())?;
            key.verify_strict(data, &sig).map_err(|e| e.to_string())
        })
    };
    verify(&external_aad(testkit::NETWORK)).expect("verifies with the spec's external AAD");
    assert!(verify(&[]).is_err(), "a verifier must add the external AAD");
    assert_eq!(sign1.to_tagged_vec().expect("serializes"), exported);
}
