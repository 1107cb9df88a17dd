//! `roster.json`: genesis rosters and roster updates, with the quorum rule.

use super::Fixture;
use super::json::{Json, accept_with, file, hx, reject, text, vector};
use riskmesh_protocol::Hash32;
use riskmesh_protocol::roster::{RosterDoc, SignedRoster};
use riskmesh_protocol::testkit::{self, NETWORK, SIGNATORIES};

pub(super) fn roster_file(fx: &Fixture) -> Json {
    let genesis = fx.consortium.roster.signed().clone();
    let genesis_doc = fx.consortium.roster.doc().clone();
    let genesis_hash = fx.consortium.roster.hash();
    let mut vectors = Vec::new();
    let accepted = |doc_bytes: &[u8], version: u64| {
        accept_with(vec![
            ("roster_hash", hx(Hash32::of(doc_bytes).0)),
            ("version", Json::Int(version)),
        ])
    };
    let genesis_vector = |name: &str, description: &str, signed: &SignedRoster, expected: Json| {
        vector(
            name,
            "genesis",
            description,
            vec![("signed_roster", hx(signed.to_bytes()))],
            expected,
        )
    };
    let signed_by = |doc: &RosterDoc, orgs: &[&str]| {
        let mut signed = SignedRoster::new(doc);
        for org in orgs {
            signed.sign(fx.signer(org));
        }
        signed
    };

    vectors.push(genesis_vector(
        "genesis",
        "The genesis roster of the fixtures: the seven signatories as members and two observers, signed by every \
         member. Every other vector file's roster is this one.",
        &genesis,
        accepted(&genesis.doc, 1),
    ));
    vectors.push(vector(
        "genesis_pinned",
        "genesis",
        "The genesis roster checked against the hash a node pins.",
        vec![
            ("signed_roster", hx(genesis.to_bytes())),
            ("pinned_hash", hx(genesis_hash.0)),
        ],
        accepted(&genesis.doc, 1),
    ));
    vectors.push(vector(
        "genesis_wrong_pin",
        "genesis",
        "The genesis roster checked against a different pinned hash.",
        vec![
            ("signed_roster", hx(genesis.to_bytes())),
            ("pinned_hash", hx(Hash32::of(b"another network").0)),
        ],
        reject("wrong_genesis"),
    ));
    let all_but_meta: Vec<&str> = SIGNATORIES.iter().copied().filter(|o| *o != "meta").collect();
    vectors.push(genesis_vector(
        "genesis_missing_founder",
        "The genesis document signed by six of the seven founding members (meta did not sign).",
        &signed_by(&genesis_doc, &all_but_meta),
        reject("missing_founder"),
    ));
    let mut bad = genesis.clone();
    bad.signatures[2].signature[10] ^= 0x01;
    vectors.push(genesis_vector(
        "genesis_bad_signature",
        "The genesis roster with one bit flipped in the third signature.",
        &bad,
        reject("bad_signature"),
    ));
    let mut with_observer = genesis.clone();
    with_observer.sign(fx.signer("safety-institute"));
    vectors.push(genesis_vector(
        "genesis_signed_by_observer",
        "The genesis roster with an extra signature by an observer: only members sign.",
        &with_observer,
        reject("unknown_signer"),
    ));
    let mut with_outsider = genesis.clone();
    with_outsider.sign(fx.signer("mallory"));
    vectors.push(genesis_vector(
        "genesis_signed_by_outsider",
        "The genesis roster with an extra signature by an organization not on it.",
        &with_outsider,
        reject("unknown_signer"),
    ));
    let mut unsorted = genesis.clone();
    unsorted.signatures.swap(0, 1);
    vectors.push(genesis_vector(
        "genesis_signatures_unsorted",
        "The genesis roster with its first two signatures swapped: signatures are ascending by signer.",
        &unsorted,
        reject("invalid"),
    ));
    let mut not_v1 = genesis_doc.clone();
    not_v1.version = 2;
    not_v1.prev = Some(Hash32::of(b"an earlier version"));
    vectors.push(genesis_vector(
        "genesis_not_version_1",
        "A document at version 2, signed by every member, presented as genesis.",
        &signed_by(&not_v1, &SIGNATORIES),
        reject("invalid"),
    ));
    let mut unordered = genesis_doc.clone();
    unordered.members.swap(0, 1);
    vectors.push(genesis_vector(
        "genesis_members_unsorted",
        "A document whose first two participants are out of org-id order.",
        &signed_by(&unordered, &SIGNATORIES),
        reject("invalid"),
    ));
    let mut trailing = genesis.to_bytes();
    trailing.push(0x00);
    vectors.push(vector(
        "genesis_trailing_byte",
        "genesis",
        "The genesis roster followed by one extra byte.",
        vec![("signed_roster", hx(trailing))],
        reject("encoding"),
    ));

    // Updates of the genesis roster.
    let next = |observers: &[&str]| {
        let mut doc = testkit::genesis_doc(NETWORK, &SIGNATORIES, observers, 1_695_000_000_000);
        doc.version = 2;
        doc.prev = Some(genesis_hash);
        doc
    };
    let v2 = next(&["academic-lab", "civil-society", "safety-institute"]);
    let update =
        |name: &str, description: &str, current: &SignedRoster, signed: &SignedRoster, expected: Json| {
            vector(
                name,
                "update",
                description,
                vec![
                    ("current", hx(current.to_bytes())),
                    ("update", hx(signed.to_bytes())),
                ],
                expected,
            )
        };
    let five = &SIGNATORIES[..5];
    let v2_five = signed_by(&v2, five);
    vectors.push(update(
        "update_with_quorum",
        "Version 2 adds the observer civil-society, signed by five of seven members (5/7 > 2/3).",
        &genesis,
        &v2_five,
        accepted(&v2_five.doc, 2),
    ));
    vectors.push(update(
        "update_without_quorum",
        "The same update signed by four of seven members (4/7 is not more than 2/3).",
        &genesis,
        &signed_by(&v2, &SIGNATORIES[..4]),
        reject("no_quorum"),
    ));
    let mut observer_signed = v2_five.clone();
    observer_signed.sign(fx.signer("safety-institute"));
    vectors.push(update(
        "update_signed_by_observer",
        "The quorum-signed update with an extra signature by an observer.",
        &genesis,
        &observer_signed,
        reject("unknown_signer"),
    ));
    let mut bad = v2_five.clone();
    bad.signatures[0].signature[40] ^= 0x01;
    vectors.push(update(
        "update_bad_signature",
        "The quorum-signed update with one bit flipped in one signature.",
        &genesis,
        &bad,
        reject("bad_signature"),
    ));
    // Signers and the quorum are checked before any signature (spec §9.5):
    // a stranger's signature is `unknown_signer` even when broken, and too
    // few signatures are `no_quorum` even when one is broken.
    let mut stranger = v2_five.clone();
    stranger.sign(&testkit::org_secrets("stranger").signing);
    for s in &mut stranger.signatures {
        s.signature[40] ^= 0x01;
    }
    vectors.push(update(
        "update_stranger_checked_before_signatures",
        "The quorum-signed update plus a signature by an organization on no roster, with one bit flipped in \
         every signature: refused for the stranger before any signature is verified.",
        &genesis,
        &stranger,
        reject("unknown_signer"),
    ));
    let mut few_broken = signed_by(&v2, &SIGNATORIES[..4]);
    few_broken.signatures[0].signature[40] ^= 0x01;
    vectors.push(update(
        "update_quorum_checked_before_signatures",
        "Four of seven members sign and one of those signatures has a flipped bit: refused for the quorum \
         before any signature is verified.",
        &genesis,
        &few_broken,
        reject("no_quorum"),
    ));
    let mut wrong_prev = v2.clone();
    wrong_prev.prev = Some(Hash32::of(b"not the current roster"));
    vectors.push(update(
        "update_wrong_prev",
        "An update whose prev is not the hash of the current version.",
        &genesis,
        &signed_by(&wrong_prev, &SIGNATORIES),
        reject("not_successor"),
    ));
    let mut skip = v2.clone();
    skip.version = 3;
    vectors.push(update(
        "update_skips_a_version",
        "An update from version 1 to version 3.",
        &genesis,
        &signed_by(&skip, &SIGNATORIES),
        reject("not_successor"),
    ));
    let mut other_network = v2.clone();
    other_network.network = "other-net".into();
    vectors.push(update(
        "update_other_network",
        "An update for another network id.",
        &genesis,
        &signed_by(&other_network, &SIGNATORIES),
        reject("not_successor"),
    ));
    let mut removal = v2.clone();
    removal.members.retain(|m| m.org != "inflection");
    let removal_signed = signed_by(&removal, &["amazon", "anthropic", "google", "meta", "microsoft"]);
    vectors.push(update(
        "update_removes_member",
        "Version 2 removes the member inflection, signed by five of the seven members of version 1.",
        &genesis,
        &removal_signed,
        accepted(&removal_signed.doc, 2),
    ));

    // The quorum boundary: exactly two thirds is not enough.
    let trio = ["alpha", "beta", "gamma"];
    let small = testkit::consortium(NETWORK, &trio, &[]);
    let small_genesis = small.roster.signed().clone();
    let mut small_v2 = testkit::genesis_doc(NETWORK, &trio, &["delta"], 1_695_000_000_000);
    small_v2.version = 2;
    small_v2.prev = Some(small.roster.hash());
    let sign_trio = |orgs: &[&str]| {
        let mut signed = SignedRoster::new(&small_v2);
        for org in orgs {
            signed.sign(&testkit::org_secrets(org).signing);
        }
        signed
    };
    vectors.push(update(
        "update_exactly_two_thirds",
        "A three-member roster: an update signed by two of three members (exactly 2/3) lacks a quorum.",
        &small_genesis,
        &sign_trio(&trio[..2]),
        reject("no_quorum"),
    ));
    let all_three = sign_trio(&trio);
    vectors.push(update(
        "update_all_three",
        "The same update signed by all three members.",
        &small_genesis,
        &all_three,
        accepted(&all_three.doc, 2),
    ));

    file(
        "Rosters: verifying a genesis roster (optionally against a pinned hash) and verifying an update against \
         the current version.",
        vec![("network", text(NETWORK))],
        vectors,
    )
}
