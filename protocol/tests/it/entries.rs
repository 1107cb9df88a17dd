//! Entry, roster, redaction and equivocation rules, each with the input that
//! breaks it.

use ed25519_dalek::Signer;
use riskmesh_protocol::body::{AckBody, AckStatus, RetractionBody};
use riskmesh_protocol::cbor;
use riskmesh_protocol::chain::{ChainValidator, Fork, ProofError};
use riskmesh_protocol::entry::{
    HEADER_VERSION, Header, encode_envelope, protected_header, sign_header, signing_input,
};
use riskmesh_protocol::ids::Hash32;
use riskmesh_protocol::keys::OrgSigningKey;
use riskmesh_protocol::redaction::{self, Redaction, ReleasePolicy, WithheldField};
use riskmesh_protocol::roster::{RosterError, SignedRoster};
use riskmesh_protocol::testkit::{self, Consortium};
use riskmesh_protocol::validate::verify_wire;
use riskmesh_protocol::*;

const NOW: u64 = 1_700_000_000_000;

fn bulletin(tier: Tier) -> Draft {
    Draft {
        kind: Kind::Bulletin,
        tier,
        body: Body::Bulletin(testkit::sample_bulletin("finding")),
        recipients: None,
    }
}

/// A header for `org`'s first entry with the given body, for tests to break.
fn header_for(c: &Consortium, org: &str, body: &[u8]) -> Header {
    Header {
        version: HEADER_VERSION,
        network: testkit::NETWORK.into(),
        author: c.org(org).signing.public(),
        seq: 1,
        prev: None,
        timestamp_ms: NOW,
        tier: Tier::Consortium,
        kind: Kind::Bulletin,
        body_hash: Hash32::of(body),
        body_len: body.len() as u64,
        recipients: None,
    }
}

fn reject(c: &Consortium, envelope: &[u8], body: &[u8]) -> String {
    match verify_entry(&c.roster, envelope, Some(body)) {
        Ok(_) => panic!("entry was accepted"),
        Err(reason) => reason.name().to_string(),
    }
}

#[test]
fn every_kind_and_allowed_tier_verifies() {
    let c = testkit::signatories();
    let key = &c.org("google").signing;
    let mut log = LogWriter::new(testkit::NETWORK);
    let first = log
        .append(key, &c.roster, &bulletin(Tier::Public), NOW)
        .expect("bulletin");
    let ack = Draft {
        kind: Kind::Ack,
        tier: Tier::Consortium,
        body: Body::Ack(AckBody {
            target: first.id(),
            status: AckStatus::Reproduced,
            note: "seen".into(),
        }),
        recipients: None,
    };
    log.append(key, &c.roster, &ack, NOW).expect("ack");
    let restricted = Draft {
        kind: Kind::Bulletin,
        tier: Tier::Restricted,
        body: Body::Encrypted(b"age-encryption.org/v1 (opaque)".to_vec()),
        recipients: Some(vec![
            c.org("openai").signing.public(),
            c.org("meta").signing.public(),
        ]),
    };
    let entry = log.append(key, &c.roster, &restricted, NOW).expect("restricted");
    let recipients = entry.header().recipients.clone().expect("recipients");
    assert!(
        recipients[0] < recipients[1],
        "recipients are sorted by the writer"
    );

    let redaction = Redaction {
        fields: vec![],
        sanitized_title: None,
        sanitized_summary: None,
        release: ReleasePolicy::default(),
    };
    let (redacted, _) = redaction::redact(&testkit::sample_bulletin("hazard"), &redaction, &[[3; 32]; 5]);
    let hazardous = Draft {
        kind: Kind::Bulletin,
        tier: Tier::Hazardous,
        body: Body::Bulletin(redacted),
        recipients: None,
    };
    log.append(key, &c.roster, &hazardous, NOW).expect("hazardous");
}

#[test]
fn stateless_reject_reasons() {
    let c = testkit::signatories();
    let body = cbor::encode(&testkit::sample_bulletin("x"));
    let key = &c.org("meta").signing;
    let good = sign_header(key, &header_for(&c, "meta", &body));
    assert!(verify_entry(&c.roster, &good, Some(&body)).is_ok());

    // Bit flips in the signature and in the payload.
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    assert_eq!(reject(&c, &flipped, &body), "bad_signature");
    let mut flipped = good.clone();
    flipped[60] ^= 0x01;
    assert!(verify_entry(&c.roster, &flipped, Some(&body)).is_err());

    // Non-member author.
    let outsider = OrgSigningKey::from_seed(testkit::seed("outsider"));
    let mut h = header_for(&c, "meta", &body);
    h.author = outsider.public();
    assert_eq!(reject(&c, &sign_header(&outsider, &h), &body), "unknown_author");

    let mut cases: Vec<(&str, Header)> = Vec::new();
    let mut h = header_for(&c, "meta", &body);
    h.author = c.org("openai").signing.public();
    cases.push(("author_mismatch", h));
    // Signed for another network: the AAD differs, so the signature fails.
    let mut h = header_for(&c, "meta", &body);
    h.network = "other-net".into();
    cases.push(("bad_signature", h));
    let mut h = header_for(&c, "meta", &body);
    h.version = 2;
    cases.push(("unsupported_version", h));
    let mut h = header_for(&c, "meta", &body);
    h.seq = 0;
    cases.push(("bad_chain_link", h));
    let mut h = header_for(&c, "meta", &body);
    h.seq = 2;
    cases.push(("bad_chain_link", h));
    let mut h = header_for(&c, "meta", &body);
    h.prev = Some(Hash32::of(b"x"));
    cases.push(("bad_chain_link", h));
    let mut h = header_for(&c, "meta", &body);
    h.kind = Kind::Ack;
    h.tier = Tier::Hazardous;
    cases.push(("tier_rule", h));
    let mut h = header_for(&c, "meta", &body);
    h.tier = Tier::Restricted;
    cases.push(("tier_rule", h));
    let mut h = header_for(&c, "meta", &body);
    h.recipients = Some(vec![c.org("meta").signing.public()]);
    cases.push(("tier_rule", h));
    let mut h = header_for(&c, "meta", &body);
    h.tier = Tier::Restricted;
    h.recipients = Some(vec![OrgSigningKey::from_seed([5; 32]).public()]);
    cases.push(("tier_rule", h));
    let mut h = header_for(&c, "meta", &body);
    h.body_len += 1;
    cases.push(("body_mismatch", h));
    let mut h = header_for(&c, "meta", &body);
    h.kind = Kind::Correction;
    cases.push(("body", h));
    for (expected, header) in cases {
        let envelope = sign_header(key, &header);
        assert_eq!(reject(&c, &envelope, &body), expected, "{header:?}");
    }

    // Signed with this network's AAD but naming another network in the header.
    let mut h = header_for(&c, "meta", &body);
    h.network = "other-net".into();
    let payload = h.to_bytes();
    let protected = protected_header(&key.public());
    let raw = ed25519_dalek::SigningKey::from_bytes(&key.seed());
    let sig = raw.sign(&signing_input(&protected, testkit::NETWORK, &payload));
    let envelope = encode_envelope(&protected, &payload, &sig.to_bytes());
    assert_eq!(reject(&c, &envelope, &body), "wrong_network");

    // A body that does not hash to the header.
    let mut other = body.clone();
    other[5] ^= 1;
    assert_eq!(reject(&c, &good, &other), "body_mismatch");
}

#[test]
fn observers_publish_only_public_and_consortium() {
    let c = testkit::signatories();
    let observer = &c.org("safety-institute").signing;
    let mut log = LogWriter::new(testkit::NETWORK);
    log.append(observer, &c.roster, &bulletin(Tier::Consortium), NOW)
        .expect("observer consortium");
    let restricted = Draft {
        kind: Kind::Bulletin,
        tier: Tier::Restricted,
        body: Body::Encrypted(vec![1, 2, 3]),
        recipients: Some(vec![c.org("openai").signing.public()]),
    };
    let err = log
        .append(observer, &c.roster, &restricted, NOW)
        .expect_err("an observer may not publish restricted");
    assert_eq!(err.name(), "role_not_allowed");
    assert_eq!(log.next_seq(), 2, "a refused draft does not advance the log");
}

#[test]
fn non_canonical_encodings_are_rejected() {
    let c = testkit::signatories();
    let body = cbor::encode(&testkit::sample_bulletin("x"));
    let key = &c.org("meta").signing;
    let good = sign_header(key, &header_for(&c, "meta", &body));
    // Re-encode the 4-element array head in a longer form: 0x84 -> 0x98 0x04.
    let mut long_head = vec![0x98, 0x04];
    long_head.extend_from_slice(&good[1..]);
    assert_eq!(reject(&c, &long_head, &body), "encoding");
    // Trailing byte.
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(reject(&c, &trailing, &body), "encoding");
    // Truncated.
    assert_eq!(reject(&c, &good[..good.len() - 3], &body), "encoding");
    // Garbage and empty input.
    assert_eq!(reject(&c, b"\xff\xff\xff", &body), "encoding");
    assert_eq!(reject(&c, b"", &body), "encoding");
    // A body with an unknown extra map key re-encodes differently.
    let mut extra = body.clone();
    // The body is a map with < 24 entries: bump the count and append key 30.
    extra[0] += 1;
    extra.extend_from_slice(&[0x18, 0x1e, 0x00]);
    let h = header_for(&c, "meta", &extra);
    assert_eq!(reject(&c, &sign_header(key, &h), &extra), "body");
}

#[test]
fn chain_rules_and_equivocation_proof() {
    let c = testkit::signatories();
    let key = &c.org("microsoft").signing;
    let mut log = LogWriter::new(testkit::NETWORK);
    let e1 = log
        .append(key, &c.roster, &bulletin(Tier::Public), NOW)
        .expect("e1");
    let mut fork_log = log.clone();
    let e2 = log
        .append(key, &c.roster, &bulletin(Tier::Public), NOW + 1)
        .expect("e2");
    let e2_fork = fork_log
        .append(key, &c.roster, &bulletin(Tier::Consortium), NOW + 1)
        .expect("fork");
    let e3 = log
        .append(key, &c.roster, &bulletin(Tier::Public), NOW + 2)
        .expect("e3");

    let mut v = ChainValidator::new();
    assert_eq!(
        v.ingest(e3.clone(), NOW).outcome,
        Outcome::Ignore(IgnoreReason::Gap)
    );
    assert_eq!(v.gaps(), vec![(key.public(), 1, 2)]);
    let r = v.ingest(e1.clone(), NOW);
    assert_eq!(r.outcome, Outcome::Accept);
    assert_eq!(r.accepted.len(), 1);
    let r = v.ingest(e2.clone(), NOW);
    assert_eq!(
        r.accepted.iter().map(|e| e.header().seq).collect::<Vec<_>>(),
        vec![2, 3]
    );
    assert_eq!(v.pending_len(), 0);
    assert_eq!(
        v.ingest(e2.clone(), NOW).outcome,
        Outcome::Ignore(IgnoreReason::Duplicate)
    );

    let r = v.ingest(e2_fork.clone(), NOW);
    assert_eq!(r.outcome, Outcome::Ignore(IgnoreReason::Equivocation));
    let Some(Fork::WithAccepted { existing, incoming }) = r.fork else {
        panic!("expected a fork report");
    };
    assert_eq!(existing, e2.id());
    let proof = EquivocationProof::new(&e2, &incoming).expect("proof");
    let bytes = proof.to_bytes();
    let decoded = EquivocationProof::from_bytes(&bytes).expect("decodes");
    assert_eq!(decoded.verify(&c.roster), Ok((key.public(), 2)));
    // Same entry twice is not a proof; swapped order is not canonical.
    assert_eq!(EquivocationProof::new(&e2, &e2), Err(ProofError::NotConflicting));
    let swapped = EquivocationProof {
        first: proof.second.clone(),
        second: proof.first.clone(),
    };
    assert_eq!(swapped.verify(&c.roster), Err(ProofError::Order));

    // Future timestamps are ignored, not queued.
    let mut late = LogWriter::new(testkit::NETWORK);
    let future = late
        .append(
            &c.org("meta").signing,
            &c.roster,
            &bulletin(Tier::Public),
            NOW + 10 * 60 * 1000,
        )
        .expect("future");
    assert_eq!(
        v.ingest(future, NOW).outcome,
        Outcome::Ignore(IgnoreReason::FutureTimestamp)
    );
}

#[test]
fn timestamps_may_not_regress_along_a_chain() {
    let c = testkit::signatories();
    let key = &c.org("amazon").signing;
    let body = cbor::encode(&testkit::sample_bulletin("x"));
    let h1 = header_for(&c, "amazon", &body);
    let e1 = verify_entry(&c.roster, &sign_header(key, &h1), Some(&body)).expect("e1");
    let mut h2 = h1.clone();
    h2.seq = 2;
    h2.prev = Some(e1.id());
    h2.timestamp_ms = NOW - 1;
    let e2 = verify_entry(&c.roster, &sign_header(key, &h2), Some(&body)).expect("e2 is valid alone");
    let mut v = ChainValidator::new();
    v.ingest(e1, NOW);
    assert_eq!(
        v.ingest(e2, NOW).outcome,
        Outcome::Reject(RejectReason::TimestampRegressed)
    );
}

#[test]
fn roster_update_needs_a_quorum() {
    let c = testkit::signatories();
    let mut doc = c.roster.doc().clone();
    doc.version = 2;
    doc.prev = Some(c.roster.hash());
    doc.members.retain(|m| m.org != "inflection");
    doc.retire_dropped(c.roster.doc(), &|_| None);
    let signers = ["amazon", "anthropic", "google", "meta", "microsoft", "openai"];
    // 4 of 7 is not more than two thirds; 5 of 7 is.
    let mut update = SignedRoster::new(&doc);
    for org in &signers[..4] {
        update.sign(&c.org(org).signing);
    }
    assert!(matches!(
        c.roster.apply_update(&update),
        Err(RosterError::NoQuorum {
            have: 4,
            members: 7,
            ..
        })
    ));
    update.sign(&c.org(signers[4]).signing);
    let v2 = c.roster.apply_update(&update).expect("quorum reached");
    assert_eq!(v2.version(), 2);
    assert!(v2.member_by_org("inflection").is_none());

    // An observer's signature does not count; an outsider's is refused.
    let mut with_observer = SignedRoster::new(&doc);
    with_observer.sign(&c.org("academic-lab").signing);
    assert!(matches!(
        c.roster.apply_update(&with_observer),
        Err(RosterError::UnknownSigner(_))
    ));
    // Wrong predecessor.
    let mut stale = doc.clone();
    stale.prev = Some(Hash32::of(b"not the roster"));
    let mut signed = SignedRoster::new(&stale);
    for org in signers {
        signed.sign(&c.org(org).signing);
    }
    assert!(matches!(
        c.roster.apply_update(&signed),
        Err(RosterError::NotSuccessor(_))
    ));
    // A tampered document breaks every signature.
    let mut tampered = update.clone();
    let at = tampered.doc.len() - 2;
    tampered.doc[at] ^= 1;
    assert!(c.roster.apply_update(&tampered).is_err());
}

#[test]
fn genesis_needs_every_founder() {
    let doc = testkit::genesis_doc(testkit::NETWORK, &["a", "b", "c"], &["obs"], 1);
    let mut signed = SignedRoster::new(&doc);
    signed.sign(&testkit::org_secrets("a").signing);
    signed.sign(&testkit::org_secrets("b").signing);
    assert_eq!(
        Roster::genesis(&signed),
        Err(RosterError::MissingFounder("c".into()))
    );
    signed.sign(&testkit::org_secrets("c").signing);
    let roster = Roster::genesis(&signed).expect("all founders signed");
    assert_eq!(
        Roster::genesis_pinned(&signed, &roster.hash()).map(|r| r.version()),
        Ok(1)
    );
    assert!(matches!(
        Roster::genesis_pinned(&signed, &Hash32::of(b"other")),
        Err(RosterError::WrongGenesis { .. })
    ));
    let bytes = signed.to_bytes();
    assert_eq!(SignedRoster::from_bytes(&bytes).as_ref(), Ok(&signed));
}

#[test]
fn hazardous_bodies_must_withhold_details() {
    let c = testkit::signatories();
    let key = &c.org("openai").signing;
    let mut log = LogWriter::new(testkit::NETWORK);
    // The full finding at the hazardous tier, unredacted, is refused.
    let leaky = Draft {
        kind: Kind::Bulletin,
        tier: Tier::Hazardous,
        body: Body::Bulletin(testkit::sample_bulletin("leak")),
        recipients: None,
    };
    assert_eq!(
        log.append(key, &c.roster, &leaky, NOW)
            .expect_err("unredacted hazardous body")
            .name(),
        "body"
    );
    // A redacted body with details smuggled back in is refused.
    let redaction = Redaction {
        fields: vec![WithheldField::Title],
        sanitized_title: Some("Bio uplift finding".into()),
        sanitized_summary: None,
        release: ReleasePolicy {
            observers_may_request: false,
            approvers: vec![
                c.org("anthropic").signing.public(),
                c.org("google").signing.public(),
            ],
            threshold: 2,
        },
    };
    let (mut redacted, reveals) =
        redaction::redact(&testkit::sample_bulletin("recipe"), &redaction, &[[9; 32]; 5]);
    assert_eq!(redacted.title, "Bio uplift finding");
    assert_eq!(reveals.len(), 2);
    let ok = Draft {
        kind: Kind::Bulletin,
        tier: Tier::Hazardous,
        body: Body::Bulletin(redacted.clone()),
        recipients: None,
    };
    let mut probe = log.clone();
    probe
        .append(key, &c.roster, &ok, NOW)
        .expect("redacted body verifies");
    redacted.details = "smuggled".into();
    let smuggled = Draft {
        body: Body::Bulletin(redacted.clone()),
        ..ok.clone()
    };
    assert_eq!(
        log.append(key, &c.roster, &smuggled, NOW)
            .expect_err("details smuggled into a redacted body")
            .name(),
        "body"
    );
    redacted.details.clear();
    redacted.release.as_mut().expect("policy").threshold = 3;
    let bad_threshold = Draft {
        body: Body::Bulletin(redacted),
        ..ok
    };
    assert_eq!(
        log.append(key, &c.roster, &bad_threshold, NOW)
            .expect_err("threshold above the approver count")
            .name(),
        "body"
    );
}

#[test]
fn control_entries_reference_targets() {
    let c = testkit::signatories();
    let key = &c.org("anthropic").signing;
    let mut log = LogWriter::new(testkit::NETWORK);
    let first = log
        .append(key, &c.roster, &bulletin(Tier::Public), NOW)
        .expect("bulletin");
    let retraction = Draft {
        kind: Kind::Retraction,
        tier: Tier::Consortium,
        body: Body::Retraction(RetractionBody {
            target: first.id(),
            reason: "false positive".into(),
            purge: true,
        }),
        recipients: None,
    };
    let entry = log.append(key, &c.roster, &retraction, NOW).expect("retraction");
    match entry.decode_body() {
        Some(Ok(Body::Retraction(body))) => assert!(body.purge),
        other => panic!("unexpected body {other:?}"),
    }
    let hidden = Draft {
        tier: Tier::Restricted,
        recipients: Some(vec![key.public()]),
        ..retraction
    };
    assert_eq!(
        log.append(key, &c.roster, &hidden, NOW)
            .expect_err("control entry at the restricted tier")
            .name(),
        "tier_rule"
    );
}

/// Issue 10 and spec §18 Q6 (resolved in §9.6): an entry is judged with the
/// key's standing on the roster. A removed member's entries up to the
/// prefix its retired-key record names stay valid under every later roster;
/// an entry it signs past that prefix, or a different entry at the last
/// position (a fork of the boundary), is rejected `retired_key`, a reason
/// that depends on the roster, so the relaying peer is not struck.
#[test]
fn a_removed_members_past_entries_stay_valid_and_its_later_ones_are_rejected() {
    let c = testkit::signatories();
    let genesis = &c.roster;
    let entries = testkit::bulletins(genesis, "inflection", 5, NOW);
    let head = &entries[2];
    let v2 = genesis
        .apply_update(&testkit::next_roster(
            genesis,
            |doc| doc.members.retain(|m| m.org != "inflection"),
            &|_| Some((head.header().seq, head.id())),
            &[],
        ))
        .expect("valid removal");
    for kept in &entries[..3] {
        let back = verify_wire(&v2, &kept.to_wire()).expect("history stays valid");
        assert_eq!(back.id(), kept.id());
    }
    for later in &entries[3..] {
        let e = verify_wire(&v2, &later.to_wire()).expect_err("after the removal");
        assert_eq!(e.name(), "retired_key");
        assert!(e.depends_on_roster(), "a lagging relay is not at fault");
    }
    // A different entry at the last valid position is not the one named.
    let fork = testkit::bulletins(genesis, "inflection", 3, NOW + 7);
    assert_ne!(fork[2].id(), head.id());
    assert_eq!(
        verify_wire(&v2, &fork[2].to_wire()).map_err(|e| e.name()),
        Err("retired_key")
    );
    assert!(
        verify_wire(&v2, &fork[1].to_wire()).is_ok(),
        "below the boundary the chain decides"
    );
    // The removed member cannot publish any more.
    let mut log = LogWriter::resume(testkit::NETWORK, 3, head.id(), NOW + 2);
    let refused = log.append(
        &c.org("inflection").signing,
        &v2,
        &bulletin(Tier::Consortium),
        NOW + 10,
    );
    assert_eq!(refused.map_err(|e| e.name()).err(), Some("retired_key"));
}

/// Issue 10: an organization rotates its signing and encryption keys. Old
/// entries stay valid under the old key, the new key starts its own log,
/// and the old key signs nothing more. A key declared compromised later
/// shrinks the valid prefix: entries after the point are rejected
/// everywhere, including ones a node accepted before it learned of it.
#[test]
fn a_rotated_key_keeps_its_history_and_a_compromise_cuts_it_back() {
    let c = testkit::signatories();
    let genesis = &c.roster;
    let old = testkit::bulletins(genesis, "meta", 4, NOW);
    let next = testkit::rotated_secrets("meta", 1);
    let v2 = genesis
        .apply_update(&testkit::next_roster(
            genesis,
            |doc| {
                doc.members.retain(|m| m.org != "meta");
                doc.members.push(testkit::member_of(&next, Role::Member));
            },
            &|_| Some((4, old[3].id())),
            &[],
        ))
        .expect("rotation");
    assert!(old.iter().all(|e| verify_wire(&v2, &e.to_wire()).is_ok()));
    assert_eq!(
        v2.member_by_org("meta").map(|m| m.encryption_key),
        Some(next.encryption.public().0)
    );
    let mut log = LogWriter::new(testkit::NETWORK);
    let first = log
        .append(&next.signing, &v2, &bulletin(Tier::Consortium), NOW + 10)
        .expect("the new key publishes");
    assert_eq!(first.header().seq, 1);
    let mut old_log = LogWriter::resume(testkit::NETWORK, 4, old[3].id(), NOW + 3);
    let stale = old_log.append(&c.org("meta").signing, &v2, &bulletin(Tier::Consortium), NOW + 11);
    assert_eq!(
        stale.map_err(|e| e.name()).err(),
        Some("retired_key"),
        "the old key signs nothing more"
    );

    // Meta's old key leaked after its second entry.
    let v3 = v2
        .apply_update(&testkit::next_roster(
            &v2,
            |doc| {
                let key = c.org("meta").signing.public();
                let mut record = doc
                    .retired_keys()
                    .iter()
                    .find(|r| r.key == key)
                    .cloned()
                    .expect("retired");
                (record.last_seq, record.last_id, record.reason) =
                    (2, Some(old[1].id()), roster::RetireReason::Compromised);
                doc.retire(record);
            },
            &|_| None,
            &[&next],
        ))
        .expect("compromise");
    assert!(old[..2].iter().all(|e| verify_wire(&v3, &e.to_wire()).is_ok()));
    assert!(
        old[2..]
            .iter()
            .all(|e| verify_wire(&v3, &e.to_wire()).map_err(|e| e.name()) == Err("retired_key"))
    );
}
