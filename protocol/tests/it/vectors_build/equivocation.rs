//! `equivocation.json`: building equivocation proofs from forks and
//! verifying proofs, valid and not.

use super::chain::Chain;
use super::json::{Json, accept_with, file, hx, reject, text, vector};
use super::{Fixture, MINUTE, Signed, T0, cbor_bytes, flip, signature_at};
use riskmesh_protocol::cbor;
use riskmesh_protocol::chain::EquivocationProof;
use riskmesh_protocol::testkit::NETWORK;

pub(super) fn proof_bytes(first: &[u8], second: &[u8]) -> Vec<u8> {
    cbor::encode(&EquivocationProof {
        first: first.to_vec(),
        second: second.to_vec(),
    })
}

pub(super) fn equivocation_file(fx: &Fixture) -> Json {
    let a = Chain { fx, org: "anthropic" };
    let g = Chain { fx, org: "google" };
    let log = a.log(2, "main");
    let fork2 = a.entry(2, Some(log[0].id()), T0 + 2 * MINUTE, "a different entry 2");
    let (low, high) = if log[1].envelope < fork2.envelope {
        (&log[1], &fork2)
    } else {
        (&fork2, &log[1])
    };
    let mut vectors = Vec::new();
    let fork = |name: &str, description: &str, x: &Signed, y: &Signed, expected: Json| {
        vector(
            name,
            "fork",
            description,
            vec![("envelope_a", hx(&x.envelope)), ("envelope_b", hx(&y.envelope))],
            expected,
        )
    };
    let proven = || {
        accept_with(vec![
            ("proof", hx(proof_bytes(&low.envelope, &high.envelope))),
            ("author", hx(fx.key("anthropic").0)),
            ("seq", Json::Int(2)),
        ])
    };
    vectors.push(fork(
        "fork_pair",
        "Two validly signed entries 2 by anthropic with different bodies. The proof puts the bytewise smaller \
         envelope first.",
        &log[1],
        &fork2,
        proven(),
    ));
    vectors.push(fork(
        "fork_pair_reversed",
        "The same pair in the other order gives the same proof bytes.",
        &fork2,
        &log[1],
        proven(),
    ));
    // One header signed twice: the second signature uses a nonce other than
    // RFC 8032's deterministic one.
    let resigned = fx.resign("anthropic", &log[1], "vectors/nonce/equivocation");
    let (r_low, r_high) = sorted_pair(&log[1].envelope, &resigned.envelope);
    let resigned_proof = proof_bytes(r_low, r_high);
    vectors.push(fork(
        "fork_same_header_two_signatures",
        "anthropic's entry 2 and the same header signed again with another nonce. Authors must sign \
         deterministically, so two envelopes for one header are equivocation: different entry ids for one \
         position.",
        &log[1],
        &resigned,
        accept_with(vec![
            ("proof", hx(&resigned_proof)),
            ("author", hx(fx.key("anthropic").0)),
            ("seq", Json::Int(2)),
        ]),
    ));
    vectors.push(fork(
        "fork_same_entry",
        "An entry and itself are not a fork.",
        &log[1],
        &log[1],
        reject("not_conflicting"),
    ));
    vectors.push(fork(
        "fork_different_seq",
        "Entries 1 and 2 of one author are not a fork.",
        &log[0],
        &log[1],
        reject("not_conflicting"),
    ));
    let glog = g.log(2, "google");
    vectors.push(fork(
        "fork_different_authors",
        "Entries 2 of two authors are not a fork.",
        &log[1],
        &glog[1],
        reject("not_conflicting"),
    ));

    let proof = |name: &str, description: &str, bytes: Vec<u8>, expected: Json| {
        vector(name, "proof", description, vec![("proof", hx(bytes))], expected)
    };
    vectors.push(proof(
        "proof_valid",
        "The proof of fork_pair verifies and names the author and seq.",
        proof_bytes(&low.envelope, &high.envelope),
        accept_with(vec![("author", hx(fx.key("anthropic").0)), ("seq", Json::Int(2))]),
    ));
    vectors.push(proof(
        "proof_same_header_two_signatures",
        "The proof of fork_same_header_two_signatures: identical payloads, different signatures.",
        resigned_proof.clone(),
        accept_with(vec![("author", hx(fx.key("anthropic").0)), ("seq", Json::Int(2))]),
    ));
    vectors.push(proof(
        "proof_wrong_order",
        "The envelopes of proof_valid in descending byte order.",
        proof_bytes(&high.envelope, &low.envelope),
        reject("order"),
    ));
    vectors.push(proof(
        "proof_same_envelope",
        "One envelope twice.",
        proof_bytes(&low.envelope, &low.envelope),
        reject("order"),
    ));
    let (x, y) = sorted_pair(&log[0].envelope, &log[1].envelope);
    vectors.push(proof(
        "proof_different_seq",
        "Entries 1 and 2 of one author, in ascending order.",
        proof_bytes(x, y),
        reject("not_conflicting"),
    ));
    let (x, y) = sorted_pair(&log[1].envelope, &glog[1].envelope);
    vectors.push(proof(
        "proof_different_authors",
        "Entries 2 of two authors, in ascending order.",
        proof_bytes(x, y),
        reject("not_conflicting"),
    ));
    let forged = flip(&high.envelope, signature_at(&high.envelope) + 3);
    let (x, y) = sorted_pair(&low.envelope, &forged);
    vectors.push(proof(
        "proof_bad_signature",
        "proof_valid with one bit flipped in one envelope's signature.",
        proof_bytes(x, y),
        Json::Obj(vec![
            ("outcome", text("reject")),
            ("reason", text("invalid")),
            ("entry_reason", text("bad_signature")),
        ]),
    ));
    let m = Chain { fx, org: "mallory" };
    let m1 = m.entry(1, None, T0, "mallory one");
    let m1b = m.entry(1, None, T0, "mallory two");
    let (x, y) = sorted_pair(&m1.envelope, &m1b.envelope);
    vectors.push(proof(
        "proof_unknown_author",
        "A fork by an organization that is not on the roster proves nothing about the consortium.",
        proof_bytes(x, y),
        Json::Obj(vec![
            ("outcome", text("reject")),
            ("reason", text("invalid")),
            ("entry_reason", text("unknown_author")),
        ]),
    ));
    let mut trailing = proof_bytes(&low.envelope, &high.envelope);
    trailing.push(0x00);
    vectors.push(proof(
        "proof_trailing_byte",
        "proof_valid followed by one extra byte.",
        trailing,
        reject("encoding"),
    ));
    let mut swapped = vec![0xa2, 0x01];
    swapped.extend_from_slice(&cbor_bytes(&high.envelope));
    swapped.push(0x00);
    swapped.extend_from_slice(&cbor_bytes(&low.envelope));
    vectors.push(proof(
        "proof_unsorted_map_keys",
        "A proof map written as {1: second, 0: first}.",
        swapped,
        reject("encoding"),
    ));

    file(
        "Equivocation proofs: building one from two envelopes (type fork) and verifying one against the roster \
         (type proof).",
        vec![("network", text(NETWORK)), ("roster", fx.roster_hex())],
        vectors,
    )
}

pub(super) fn sorted_pair<'a>(x: &'a [u8], y: &'a [u8]) -> (&'a [u8], &'a [u8]) {
    if x < y { (x, y) } else { (y, x) }
}
