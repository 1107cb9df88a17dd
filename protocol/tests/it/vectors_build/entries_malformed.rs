//! `entries.json`, part two: envelopes and header payloads that are not
//! canonical or well formed, and signatures that do not verify.

use super::entries::entry_vector;
use super::json::{Json, reject, reject_detail};
use super::{Fixture, Signed, T0, add_l, bulletin_body, cbor_bytes, flip, header, signature_at};
use riskmesh_protocol::cbor;
use riskmesh_protocol::entry;
use riskmesh_protocol::limits::MAX_BODY_BYTES;
use riskmesh_protocol::testkit::NETWORK;
use riskmesh_protocol::{Hash32, Header, Kind, Tier};

/// The parts of a header as (key, encoded value), in key order, to build
/// header payloads that break canonical form.
pub(super) fn header_fields(h: &Header) -> Vec<(u8, Vec<u8>)> {
    let mut fields = vec![
        (0, cbor::encode(&h.version)),
        (1, cbor::encode(&h.network)),
        (2, cbor::encode(&h.author)),
        (3, cbor::encode(&h.seq)),
    ];
    if let Some(prev) = &h.prev {
        fields.push((4, cbor::encode(prev)));
    }
    fields.extend([
        (5, cbor::encode(&h.timestamp_ms)),
        (6, cbor::encode(&h.tier)),
        (7, cbor::encode(&h.kind)),
        (8, cbor::encode(&h.body_hash)),
        (9, cbor::encode(&h.body_len)),
    ]);
    fields
}

/// A definite-length map of (key, value) pairs, in the order given.
pub(super) fn raw_map(fields: &[(u8, Vec<u8>)]) -> Vec<u8> {
    assert!(fields.len() < 24 && fields.iter().all(|(k, _)| *k < 24));
    let mut out = vec![0xa0 | fields.len() as u8];
    for (k, v) in fields {
        out.push(*k);
        out.extend_from_slice(v);
    }
    out
}

pub(super) fn entry_encoding_vectors(fx: &Fixture, public: &Signed, vectors: &mut Vec<Json>) {
    let env = &public.envelope;
    let body = public.body.clone();
    let kid = fx.key("anthropic");
    let mut push =
        |name: &str, description: &str, envelope: Vec<u8>, body: Option<Vec<u8>>, expected: Json| {
            vectors.push(entry_vector(
                name,
                description,
                &Signed { envelope, body },
                expected,
            ));
        };

    // The envelope itself (checked before the signature).
    let mut trailing = env.clone();
    trailing.push(0x00);
    push(
        "envelope_trailing_byte",
        "valid_bulletin_public's envelope followed by one extra byte.",
        trailing,
        body.clone(),
        reject_detail("encoding", "trailing_bytes"),
    );
    let mut indefinite = vec![0x9f];
    indefinite.extend_from_slice(&env[1..]);
    indefinite.push(0xff);
    push(
        "envelope_indefinite_array",
        "The COSE_Sign1 array written with indefinite length (0x9f ... 0xff).",
        indefinite,
        body.clone(),
        reject_detail("encoding", "indefinite_length"),
    );
    let parts = EnvelopeParts::split(env);
    let protected = entry::protected_header(&kid);
    let signature = &env[signature_at(env)..];
    let mut non_shortest = vec![0x84];
    non_shortest.extend_from_slice(&cbor_bytes(&protected));
    non_shortest.push(0xa0);
    // Re-encode the payload's length with two bytes although one suffices.
    assert!(parts.payload.len() < 256);
    non_shortest.extend_from_slice(&[0x59, 0x00, parts.payload.len() as u8]);
    non_shortest.extend_from_slice(&parts.payload);
    non_shortest.extend_from_slice(&cbor_bytes(signature));
    push(
        "envelope_non_shortest_length",
        "The payload byte string's length encoded in two bytes (0x59 0x00 n) where one (0x58 n) suffices.",
        non_shortest,
        body.clone(),
        reject_detail("encoding", "non_shortest_form"),
    );
    let mut unsorted = cbor_bytes(&protected);
    // Unprotected header {4: h'', 1: -8}: keys out of order.
    unsorted.splice(0..0, [0x84]);
    unsorted.extend_from_slice(&[0xa2, 0x04, 0x40, 0x01, 0x27]);
    unsorted.extend_from_slice(&cbor_bytes(&parts.payload));
    unsorted.extend_from_slice(&cbor_bytes(signature));
    push(
        "envelope_unsorted_map_keys",
        "The unprotected header is {4: h'', 1: -8}: map keys out of bytewise order.",
        unsorted,
        body.clone(),
        reject_detail("encoding", "unsorted_map_keys"),
    );
    let mut tagged = vec![0xd2];
    tagged.extend_from_slice(env);
    push(
        "envelope_cose_tag",
        "The envelope with the COSE_Sign1 tag 18 (0xd2). Envelopes are untagged and tags are not allowed.",
        tagged,
        body.clone(),
        reject_detail("encoding", "forbidden_item"),
    );
    let big_payload = vec![0u8; 4100];
    push(
        "envelope_oversize",
        "An envelope over the 4096-byte limit (its payload is 4100 zero bytes).",
        entry::encode_envelope(&protected, &big_payload, signature),
        None,
        reject_detail("encoding", "oversize"),
    );
    let long_payload = vec![0u8; 3073];
    push(
        "header_oversize",
        "An envelope within its limit whose payload is over the 3072-byte header limit.",
        entry::encode_envelope(&protected, &long_payload, signature),
        None,
        reject_detail("encoding", "oversize"),
    );
    let mut three = vec![0x83];
    three.extend_from_slice(&env[1..signature_at(env) - 2]);
    push(
        "envelope_array_of_three",
        "A COSE_Sign1 array without its signature.",
        three,
        body.clone(),
        reject_detail("encoding", "schema"),
    );
    let mut es256 = protected.clone();
    es256[2] = 0x26;
    push(
        "envelope_alg_not_eddsa",
        "The protected header says alg -7 (ES256) instead of -8 (EdDSA).",
        entry::encode_envelope(&es256, &parts.payload, signature),
        body.clone(),
        reject_detail("encoding", "schema"),
    );
    let mut unprotected = cbor_bytes(&protected);
    unprotected.splice(0..0, [0x84]);
    unprotected.extend_from_slice(&[0xa1, 0x01, 0x27]);
    unprotected.extend_from_slice(&cbor_bytes(&parts.payload));
    unprotected.extend_from_slice(&cbor_bytes(signature));
    push(
        "envelope_unprotected_not_empty",
        "The unprotected header is {1: -8}; it must be empty.",
        unprotected,
        body.clone(),
        reject_detail("encoding", "schema"),
    );
    push(
        "envelope_short_signature",
        "The signature byte string is 63 bytes.",
        entry::encode_envelope(&protected, &parts.payload, &signature[..63]),
        body.clone(),
        reject_detail("encoding", "schema"),
    );

    // The header payload, validly signed, so the canonical check of the
    // header (after the signature check) is what rejects it.
    let body_bytes = bulletin_body("Canonical form");
    let h = header(kid, 1, None, T0, Tier::Public, Kind::Bulletin, &body_bytes);
    let fields = header_fields(&h);
    let mut signed_payload = |name: &str, description: &str, payload: Vec<u8>, detail: &str| {
        vectors.push(entry_vector(
            name,
            description,
            &Signed {
                envelope: fx.sign_raw("anthropic", &kid, NETWORK, &payload),
                body: Some(body_bytes.clone()),
            },
            reject_detail("encoding", detail),
        ));
    };
    let mut swapped = fields.clone();
    swapped.swap(2, 3);
    signed_payload(
        "header_unsorted_map_keys",
        "A validly signed header whose keys 2 (author) and 3 (seq) are swapped.",
        raw_map(&swapped),
        "unsorted_map_keys",
    );
    let mut long_seq = fields.clone();
    long_seq[3].1 = vec![0x18, 0x01];
    signed_payload(
        "header_non_shortest_integer",
        "A validly signed header with seq 1 encoded as 0x18 0x01.",
        raw_map(&long_seq),
        "non_shortest_form",
    );
    let mut indefinite = raw_map(&fields);
    indefinite[0] = 0xbf;
    indefinite.push(0xff);
    signed_payload(
        "header_indefinite_map",
        "A validly signed header written as an indefinite-length map.",
        indefinite,
        "indefinite_length",
    );
    let mut trailing = raw_map(&fields);
    trailing.push(0x00);
    signed_payload(
        "header_trailing_byte",
        "A validly signed header followed by one extra byte inside the payload.",
        trailing,
        "trailing_bytes",
    );
    let mut null_prev = fields.clone();
    null_prev.insert(4, (4, vec![0xf6]));
    signed_payload(
        "header_explicit_null_prev",
        "A validly signed header at seq 1 with prev written as null: an absent field must be omitted.",
        raw_map(&null_prev),
        "not_canonical",
    );
    let mut unknown = fields.clone();
    unknown.push((11, vec![0x00]));
    signed_payload(
        "header_unknown_key",
        "A validly signed header with an extra key 11.",
        raw_map(&unknown),
        "not_canonical",
    );
    let mut missing = fields.clone();
    missing.retain(|(k, _)| *k != 5);
    signed_payload(
        "header_missing_timestamp",
        "A validly signed header without key 5 (timestamp).",
        raw_map(&missing),
        "schema",
    );
    let mut bad_tier = fields.clone();
    bad_tier[5].1 = vec![0x04];
    signed_payload(
        "header_unknown_tier",
        "A validly signed header with tier 4, which does not exist.",
        raw_map(&bad_tier),
        "schema",
    );
    let mut short_hash = fields.clone();
    short_hash[7].1 = cbor_bytes(&Hash32::of(&body_bytes).0[..31]);
    signed_payload(
        "header_short_body_hash",
        "A validly signed header whose body_hash is 31 bytes.",
        raw_map(&short_hash),
        "schema",
    );
    signed_payload(
        "header_not_a_map",
        "A validly signed payload that is a CBOR array, not a header map.",
        vec![0x82, 0x01, 0x02],
        "schema",
    );
    let mut oversize_body = h.clone();
    oversize_body.body_len = MAX_BODY_BYTES as u64 + 1;
    vectors.push(entry_vector(
        "header_body_len_over_limit",
        "A header announcing a body one byte over the 262144-byte limit (no body attached).",
        &Signed {
            envelope: entry::sign_header(fx.signer("anthropic"), &oversize_body),
            body: None,
        },
        reject_detail("encoding", "oversize"),
    ));
}

/// The header payload of a well-formed envelope, and where it starts.
pub(super) struct EnvelopeParts {
    payload: Vec<u8>,
    payload_at: usize,
}

impl EnvelopeParts {
    fn split(envelope: &[u8]) -> EnvelopeParts {
        let parsed = entry::Envelope::parse(envelope).expect("fixture envelope parses");
        // The signature byte string (2 head bytes and 64 bytes) ends the envelope.
        let payload_at = envelope.len() - 66 - parsed.payload.len();
        EnvelopeParts {
            payload: parsed.payload.to_vec(),
            payload_at,
        }
    }
}

pub(super) fn entry_signature_vectors(fx: &Fixture, public: &Signed, vectors: &mut Vec<Json>) {
    let env = &public.envelope;
    let body = public.body.clone();
    let mut push =
        |name: &str, description: &str, envelope: Vec<u8>, body: Option<Vec<u8>>, expected: Json| {
            vectors.push(entry_vector(
                name,
                description,
                &Signed { envelope, body },
                expected,
            ));
        };
    let body_bytes = bulletin_body("Signature checks");
    let mallory = header(
        fx.key("mallory"),
        1,
        None,
        T0,
        Tier::Public,
        Kind::Bulletin,
        &body_bytes,
    );
    let mallory_env = entry::sign_header(fx.signer("mallory"), &mallory);
    push(
        "unknown_author",
        "A well-formed entry signed by an organization that is not on the roster.",
        mallory_env.clone(),
        Some(body_bytes.clone()),
        reject("unknown_author"),
    );
    push(
        "unknown_author_precedes_bad_signature",
        "An unknown author with a corrupted signature: the roster lookup comes first.",
        flip(&mallory_env, signature_at(&mallory_env)),
        Some(body_bytes.clone()),
        reject("unknown_author"),
    );
    push(
        "bad_signature_flipped_r",
        "valid_bulletin_public with one bit flipped in the signature's R half.",
        flip(env, signature_at(env) + 5),
        body.clone(),
        reject("bad_signature"),
    );
    push(
        "bad_signature_flipped_s",
        "valid_bulletin_public with one bit flipped in the signature's S half.",
        flip(env, signature_at(env) + 40),
        body.clone(),
        reject("bad_signature"),
    );
    // Payload bytes 5 to 17 are the network id's text: flipping a bit there keeps
    // the envelope well formed.
    let payload_at = EnvelopeParts::split(env).payload_at;
    push(
        "bad_signature_flipped_payload",
        "valid_bulletin_public with one bit flipped in the header payload (inside the network id).",
        flip(env, payload_at + 8),
        body.clone(),
        reject("bad_signature"),
    );
    let mut s_plus_l = env.clone();
    let at = signature_at(env) + 32;
    let s: [u8; 32] = s_plus_l[at..].try_into().expect("32 bytes");
    s_plus_l[at..].copy_from_slice(&add_l(&s));
    push(
        "bad_signature_s_not_reduced",
        "valid_bulletin_public with S replaced by S + L: the same point equation holds, but verify_strict requires S < L.",
        s_plus_l,
        body.clone(),
        reject("bad_signature"),
    );
    let h = header(
        fx.key("anthropic"),
        1,
        None,
        T0,
        Tier::Public,
        Kind::Bulletin,
        &body_bytes,
    );
    let other = fx.sign_raw("google", &fx.key("anthropic"), NETWORK, &h.to_bytes());
    push(
        "bad_signature_other_members_key",
        "Signed by google's key while the kid names anthropic.",
        other,
        Some(body_bytes.clone()),
        reject("bad_signature"),
    );
    let mut foreign = h.clone();
    foreign.network = "other-net".into();
    push(
        "bad_signature_other_network",
        "An entry honestly signed for network other-net: the external AAD names that network, so the \
         signature does not verify for riskmesh-demo.",
        entry::sign_header(fx.signer("anthropic"), &foreign),
        Some(body_bytes.clone()),
        reject("bad_signature"),
    );
    push(
        "wrong_network",
        "The header names network other-net, but the signature's external AAD is riskmesh-demo's. Only a \
         signer that builds the AAD from something other than the header produces this.",
        fx.sign_raw("anthropic", &fx.key("anthropic"), NETWORK, &foreign.to_bytes()),
        Some(body_bytes.clone()),
        reject("wrong_network"),
    );
    let mut v2 = h.clone();
    v2.version = 2;
    let v2_env = entry::sign_header(fx.signer("anthropic"), &v2);
    push(
        "bad_signature_precedes_header_rules",
        "A version-2 header with a corrupted signature: the signature is checked before the header is read.",
        flip(&v2_env, signature_at(&v2_env) + 1),
        Some(body_bytes.clone()),
        reject("bad_signature"),
    );
}
