//! `verify_entry` on an arbitrary envelope and optional body. In "sign" mode
//! the harness signs fuzzer-chosen header bytes with a roster key, so the
//! header rules behind the signature check get fuzzed too; in "fit" mode it
//! also makes the header's body hash match the fuzzed body, so the body
//! rules do (layout: `riskmesh_protocol_fuzz::EnvelopeInput`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use riskmesh_protocol::cbor;
use riskmesh_protocol::limits::MAX_HEADER_BYTES;
use riskmesh_protocol::testkit::NETWORK;
use riskmesh_protocol::{Body, Hash32, Header, verify_entry};
use riskmesh_protocol_fuzz::{EnvelopeInput, roster, sign_payload};

fuzz_target!(|data: &[u8]| {
    let Some(input) = EnvelopeInput::parse(data) else {
        return;
    };
    let mut payload = input.first.to_vec();
    let fit = input.body.filter(|_| input.sign && input.fit_body);
    if let Some(body) = fit
        && let Ok(mut header) = cbor::decode_canonical::<Header>(&payload, MAX_HEADER_BYTES)
    {
        header.body_hash = Hash32::of(body);
        header.body_len = body.len() as u64;
        payload = header.to_bytes();
    }
    let signed;
    let envelope = if input.sign {
        signed = sign_payload(input.signer, NETWORK, &payload);
        signed.as_slice()
    } else {
        input.first
    };
    let Ok(entry) = verify_entry(roster(), envelope, input.body) else {
        return;
    };
    // Accepted: the header must be the exact signed bytes, and the body
    // (if any) must match and decode for its kind and tier.
    let header = entry.header();
    assert_eq!(entry.id(), Hash32::of(envelope));
    assert_eq!(entry.envelope(), envelope);
    if input.sign {
        assert_eq!(header.to_bytes(), payload);
    }
    assert!(roster().member(&header.author).is_some());
    assert_eq!(header.network, NETWORK);
    if let Some(body) = input.body {
        assert_eq!(entry.body(), Some(body));
        assert_eq!(body.len() as u64, header.body_len);
        assert!(Body::decode(header.kind, header.tier, body).is_ok());
    }
});
