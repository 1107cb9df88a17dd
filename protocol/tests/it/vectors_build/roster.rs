//! `roster.json`: genesis rosters and roster updates, with the quorum rule.

use super::Fixture;
use super::json::{Json, accept_with, file, hx, reject, text, vector};
use riskmesh_protocol::roster::{RetireReason, Role, Roster, RosterDoc, SignedRoster};
use riskmesh_protocol::testkit::{self, NETWORK, SIGNATORIES};
use riskmesh_protocol::{Hash32, VerifiedEntry};

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
    // The participant limit, MAX_ROSTER_MEMBERS (512): the seven founders
    // and observers up to the limit are accepted, one more is not.
    let many = |n: usize| {
        let names: Vec<String> = (0..n - SIGNATORIES.len())
            .map(|i| format!("obs-{i:04}"))
            .collect();
        let observers: Vec<&str> = names.iter().map(String::as_str).collect();
        let doc = testkit::genesis_doc(NETWORK, &SIGNATORIES, &observers, genesis_doc.created_ms);
        signed_by(&doc, &SIGNATORIES)
    };
    let at_limit = many(riskmesh_protocol::limits::MAX_ROSTER_MEMBERS);
    vectors.push(genesis_vector(
        "genesis_at_member_limit",
        "A genesis roster with 512 participants (MAX_ROSTER_MEMBERS): the seven founders and 505 observers \
         obs-0000 to obs-0504, signed by every founder.",
        &at_limit,
        accepted(&at_limit.doc, 1),
    ));
    vectors.push(genesis_vector(
        "genesis_over_member_limit",
        "The same with one more observer: 513 participants.",
        &many(riskmesh_protocol::limits::MAX_ROSTER_MEMBERS + 1),
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
    let mut silent_removal = removal.clone();
    removal.retire_dropped(&genesis_doc, &|_| None);
    let removal_signed = signed_by(&removal, &["amazon", "anthropic", "google", "meta", "microsoft"]);
    vectors.push(update(
        "update_removes_member",
        "Version 2 removes the member inflection, signed by five of the seven members of version 1; its key is \
         retired (reason removed) with an empty valid prefix (it published nothing).",
        &genesis,
        &removal_signed,
        accepted(&removal_signed.doc, 2),
    ));
    silent_removal.created_ms += 1;
    vectors.push(update(
        "update_drops_key_without_retiring_it",
        "Version 2 removes inflection without a retired-key record: every key that leaves the roster is \
         retired (spec §9.5 step 5), else its history would turn invalid.",
        &genesis,
        &signed_by(&silent_removal, &SIGNATORIES),
        reject("not_successor"),
    ));
    let mut promoted = v2.clone();
    for m in promoted.members.iter_mut().filter(|m| m.org == "academic-lab") {
        m.role = Role::Member;
    }
    vectors.push(update(
        "update_changes_role_under_same_key",
        "Version 2 makes the observer academic-lab a member under the same signing key: a new role takes a new \
         key (spec §9.5 step 5).",
        &genesis,
        &signed_by(&promoted, &SIGNATORIES),
        reject("not_successor"),
    ));
    let mut stranger_retired = v2.clone();
    stranger_retired.retire(retired_record(
        "mallory",
        Role::Member,
        RetireReason::Compromised,
        None,
    ));
    vectors.push(update(
        "update_retires_unknown_key",
        "Version 2 retires the key of mallory, which no version held.",
        &genesis,
        &signed_by(&stranger_retired, &SIGNATORIES),
        reject("not_successor"),
    ));
    let mut live_retired = v2.clone();
    live_retired.retire(retired_record(
        "meta",
        Role::Member,
        RetireReason::Compromised,
        None,
    ));
    vectors.push(update(
        "update_retires_a_current_key",
        "Version 2 lists meta's key both as a participant's and as retired.",
        &genesis,
        &signed_by(&live_retired, &SIGNATORIES),
        reject("invalid"),
    ));
    let mut empty_retired = v2.clone();
    empty_retired.retired = Some(Vec::new());
    vectors.push(update(
        "update_empty_retired_list",
        "Version 2 with an empty retired-key list: the field is absent when there are none.",
        &genesis,
        &signed_by(&empty_retired, &SIGNATORIES),
        reject("invalid"),
    ));
    vectors.extend(history_vectors(fx, &genesis));

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
        "Rosters: verifying a genesis roster (optionally against a pinned hash), verifying an update against the \
         current version, and judging an entry by a roster chain (its author's key current or retired).",
        vec![("network", text(NETWORK))],
        vectors,
    )
}

/// A retired-key record for the fixture key of `org`.
fn retired_record(
    org: &str,
    role: Role,
    reason: RetireReason,
    last: Option<&VerifiedEntry>,
) -> riskmesh_protocol::roster::RetiredKey {
    riskmesh_protocol::roster::RetiredKey {
        key: testkit::org_secrets(org).signing.public(),
        org: org.into(),
        role,
        reason,
        last_seq: last.map_or(0, |e| e.header().seq),
        last_id: last.map(VerifiedEntry::id),
    }
}

/// Vectors of type `history` (spec §9.6): a genesis and a chain of updates,
/// then one wire entry judged by the roster the chain ends on.
fn history_vectors(fx: &Fixture, genesis: &SignedRoster) -> Vec<Json> {
    let v1 = &fx.consortium.roster;
    let t0 = 1_700_000_000_000;
    let inflection = testkit::bulletins(v1, "inflection", 4, t0);
    let meta = testkit::bulletins(v1, "meta", 4, t0);
    // v2: inflection leaves after its second entry; meta rotates its keys
    // after its fourth.
    let meta_next = testkit::rotated_secrets("meta", 1);
    let v2_signed = testkit::next_roster(
        v1,
        |doc| {
            doc.members.retain(|m| m.org != "inflection" && m.org != "meta");
            doc.members.push(testkit::member_of(&meta_next, Role::Member));
        },
        &|key| {
            let log = if *key == inflection[0].header().author {
                &inflection[..2]
            } else {
                &meta[..]
            };
            log.last().map(|e| (e.header().seq, e.id()))
        },
        &[],
    );
    let v2 = v1.apply_update(&v2_signed).expect("fixture v2");
    // v3: meta's old key is found compromised after its third entry.
    let v3_signed = testkit::next_roster(
        &v2,
        |doc| {
            doc.retire(retired_record(
                "meta",
                Role::Member,
                RetireReason::Compromised,
                Some(&meta[2]),
            ))
        },
        &|_| None,
        &[&meta_next],
    );
    let v3: Roster = v2.apply_update(&v3_signed).expect("fixture v3");
    let mut new_log = riskmesh_protocol::LogWriter::new(NETWORK);
    let meta_new = new_log
        .append(
            &meta_next.signing,
            &v3,
            &riskmesh_protocol::Draft {
                kind: riskmesh_protocol::Kind::Bulletin,
                tier: riskmesh_protocol::Tier::Consortium,
                body: riskmesh_protocol::Body::Bulletin(testkit::sample_bulletin("meta, new key")),
                recipients: None,
            },
            t0 + 100,
        )
        .expect("the new key publishes");
    let fork = testkit::bulletins(v1, "inflection", 2, t0 + 50);

    let history =
        |name: &str, description: &str, updates: &[&SignedRoster], entry: &VerifiedEntry, expected: Json| {
            vector(
                name,
                "history",
                description,
                vec![
                    ("genesis", hx(genesis.to_bytes())),
                    (
                        "updates",
                        Json::Arr(updates.iter().map(|u| hx(u.to_bytes())).collect()),
                    ),
                    ("via", text("sync")),
                    ("wire", hx(entry.to_wire().to_bytes())),
                ],
                expected,
            )
        };
    let ok = |entry: &VerifiedEntry| accept_with(vec![("entry_id", hx(entry.id().0))]);
    vec![
        history(
            "history_removed_member_before_removal",
            "Version 2 removes inflection after its second entry: that entry stays valid.",
            &[&v2_signed],
            &inflection[1],
            ok(&inflection[1]),
        ),
        history(
            "history_removed_member_after_removal",
            "Inflection's third entry, signed before or after the removal, is past its valid prefix.",
            &[&v2_signed],
            &inflection[2],
            reject("retired_key"),
        ),
        history(
            "history_fork_at_the_boundary",
            "Another entry by inflection at seq 2, not the one version 2 names as its last valid entry.",
            &[&v2_signed],
            &fork[1],
            reject("retired_key"),
        ),
        history(
            "history_same_entry_under_genesis",
            "Inflection's third entry judged by the genesis alone (a node that has not seen version 2).",
            &[],
            &inflection[2],
            ok(&inflection[2]),
        ),
        history(
            "history_rotated_key_old_entry",
            "Meta's fourth entry under its old key, after version 2 rotated that key: still valid.",
            &[&v2_signed],
            &meta[3],
            ok(&meta[3]),
        ),
        history(
            "history_compromised_key_cuts_back",
            "The same entry after version 3 declares meta's old key compromised after its third entry.",
            &[&v2_signed, &v3_signed],
            &meta[3],
            reject("retired_key"),
        ),
        history(
            "history_compromised_key_before_the_point",
            "Meta's third entry under its old key, the last one version 3 keeps.",
            &[&v2_signed, &v3_signed],
            &meta[2],
            ok(&meta[2]),
        ),
        history(
            "history_new_key",
            "Meta's first entry under its new key.",
            &[&v2_signed, &v3_signed],
            &meta_new,
            ok(&meta_new),
        ),
        history(
            "history_new_key_before_rotation",
            "Meta's new-key entry judged by the genesis alone: its key is unknown there.",
            &[],
            &meta_new,
            reject("unknown_author"),
        ),
    ]
}
