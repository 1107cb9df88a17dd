//! `entries.json`, part three: well-formed, validly signed entries that
//! break a header rule (version, chain link, tier, role) or a body rule.

use super::entries::{accept_entry, entry_vector};
use super::json::{Json, reject, reject_detail};
use super::{Fixture, Signed, T0, bulletin_body, ciphertext, flip, header, redacted_finding, sign};
use riskmesh_protocol::body::{
    AccessDecisionBody, AccessReceiptBody, AccessRequestBody, AckBody, AckStatus, RetractionBody,
};
use riskmesh_protocol::cbor;
use riskmesh_protocol::limits::{MAX_SEQ, MAX_TIMESTAMP_MS};
use riskmesh_protocol::testkit;
use riskmesh_protocol::{BulletinBody, EntryId, Hash32, Header, Kind, OrgKey, Tier};

pub(super) fn entry_header_rule_vectors(fx: &Fixture, vectors: &mut Vec<Json>) {
    let body_bytes = bulletin_body("Header rules");
    let base = header(
        fx.key("anthropic"),
        1,
        None,
        T0,
        Tier::Public,
        Kind::Bulletin,
        &body_bytes,
    );
    let mut push = |name: &str, description: &str, org: &str, h: &Header, body: &[u8], expected: Json| {
        vectors.push(entry_vector(name, description, &sign(fx, org, h, body), expected));
    };

    let mut h = base.clone();
    h.author = fx.key("google");
    push(
        "author_mismatch",
        "Signed by anthropic (the kid) but the header's author is google.",
        "anthropic",
        &h,
        &body_bytes,
        reject("author_mismatch"),
    );
    for version in [0, 2] {
        let mut h = base.clone();
        h.version = version;
        push(
            &format!("unsupported_version_{version}"),
            &format!("A header with version {version}; only version 1 exists."),
            "anthropic",
            &h,
            &body_bytes,
            reject("unsupported_version"),
        );
    }
    let links: [(&str, &str, u64, Option<EntryId>); 4] = [
        ("bad_chain_link_seq_zero", "seq 0 (logs start at 1).", 0, None),
        (
            "bad_chain_link_prev_at_seq_one",
            "seq 1 with a prev.",
            1,
            Some(Hash32::of(b"not a predecessor")),
        ),
        ("bad_chain_link_missing_prev", "seq 2 without a prev.", 2, None),
        (
            "bad_chain_link_seq_over_limit",
            "seq 2^53, one over the largest allowed.",
            MAX_SEQ + 1,
            Some(Hash32::of(b"predecessor")),
        ),
    ];
    for (name, description, seq, prev) in links {
        let mut h = base.clone();
        h.seq = seq;
        h.prev = prev;
        push(
            name,
            description,
            "anthropic",
            &h,
            &body_bytes,
            reject("bad_chain_link"),
        );
    }
    let mut h = base.clone();
    h.seq = MAX_SEQ;
    h.prev = Some(Hash32::of(b"predecessor"));
    push(
        "valid_seq_at_limit",
        "seq 2^53 - 1, the largest allowed.",
        "anthropic",
        &h,
        &body_bytes,
        accept_entry(&sign(fx, "anthropic", &h, &body_bytes)),
    );

    let mut h = base.clone();
    h.timestamp_ms = MAX_TIMESTAMP_MS + 1;
    push(
        "out_of_range_timestamp",
        "timestamp_ms 2^53, one over the latest allowed.",
        "anthropic",
        &h,
        &body_bytes,
        reject("out_of_range"),
    );
    let mut h = base.clone();
    h.timestamp_ms = MAX_TIMESTAMP_MS;
    push(
        "valid_timestamp_at_limit",
        "timestamp_ms 2^53 - 1, the latest allowed.",
        "anthropic",
        &h,
        &body_bytes,
        accept_entry(&sign(fx, "anthropic", &h, &body_bytes)),
    );
    let mut h = base.clone();
    h.timestamp_ms = MAX_TIMESTAMP_MS + 1;
    h.seq = 0;
    push(
        "bad_chain_link_precedes_out_of_range",
        "seq 0 and timestamp_ms 2^53: the seq rule is checked first.",
        "anthropic",
        &h,
        &body_bytes,
        reject("bad_chain_link"),
    );

    // Tier rules.
    let ack = cbor::encode(&AckBody {
        target: Hash32::of(b"target"),
        status: AckStatus::NotAffected,
        note: String::new(),
    });
    let two = {
        let mut keys = vec![fx.key("google"), fx.key("openai")];
        keys.sort();
        keys
    };
    let mut h = header(
        fx.key("anthropic"),
        1,
        None,
        T0,
        Tier::Restricted,
        Kind::Ack,
        &ack,
    );
    h.recipients = Some(two.clone());
    push(
        "tier_rule_control_entry_restricted",
        "An ack at the restricted tier: control entries must be public or consortium.",
        "anthropic",
        &h,
        &ack,
        reject("tier_rule"),
    );
    let retraction = cbor::encode(&RetractionBody {
        target: Hash32::of(b"target"),
        reason: "withdrawn".into(),
        purge: false,
    });
    let h = header(
        fx.key("anthropic"),
        1,
        None,
        T0,
        Tier::Hazardous,
        Kind::Retraction,
        &retraction,
    );
    push(
        "tier_rule_control_entry_hazardous",
        "A retraction at the hazardous tier.",
        "anthropic",
        &h,
        &retraction,
        reject("tier_rule"),
    );
    let secret = ciphertext();
    let restricted = header(
        fx.key("anthropic"),
        1,
        None,
        T0,
        Tier::Restricted,
        Kind::Bulletin,
        &secret,
    );
    push(
        "tier_rule_restricted_without_recipients",
        "A restricted bulletin that names no recipients.",
        "anthropic",
        &restricted,
        &secret,
        reject("tier_rule"),
    );
    let mut h = base.clone();
    h.recipients = Some(two.clone());
    push(
        "tier_rule_recipients_on_public",
        "A public bulletin that names recipients.",
        "anthropic",
        &h,
        &body_bytes,
        reject("tier_rule"),
    );
    let recipient_cases: [(&str, &str, Vec<OrgKey>); 5] = [
        (
            "tier_rule_recipients_unsorted",
            "Recipients in descending key order.",
            two.iter().rev().copied().collect(),
        ),
        (
            "tier_rule_recipients_repeated",
            "The same recipient twice.",
            vec![two[0], two[0]],
        ),
        (
            "tier_rule_recipients_empty",
            "An empty recipient list.",
            Vec::new(),
        ),
        (
            "tier_rule_recipient_not_on_roster",
            "A recipient that is not on the roster.",
            {
                let mut keys = vec![two[0], fx.key("mallory")];
                keys.sort();
                keys
            },
        ),
        (
            "tier_rule_too_many_recipients",
            "65 recipients, one over the limit.",
            (0u8..65)
                .map(|i| OrgKey(Hash32::of(&[i]).0))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
        ),
    ];
    for (name, description, recipients) in recipient_cases {
        let mut h = restricted.clone();
        h.recipients = Some(recipients);
        push(name, description, "anthropic", &h, &secret, reject("tier_rule"));
    }

    // Observers.
    let mut h = restricted.clone();
    h.author = fx.key("safety-institute");
    h.recipients = Some(two.clone());
    push(
        "role_observer_restricted",
        "An observer publishing at the restricted tier.",
        "safety-institute",
        &h,
        &secret,
        reject("role_not_allowed"),
    );
    let (redacted, _) = redacted_finding();
    let redacted_bytes = cbor::encode(&redacted);
    let h = header(
        fx.key("academic-lab"),
        1,
        None,
        T0,
        Tier::Hazardous,
        Kind::Bulletin,
        &redacted_bytes,
    );
    push(
        "role_observer_hazardous",
        "An observer publishing at the hazardous tier.",
        "academic-lab",
        &h,
        &redacted_bytes,
        reject("role_not_allowed"),
    );
    let decision = cbor::encode(&AccessDecisionBody {
        request: Hash32::of(b"request"),
        grant: true,
        reason: String::new(),
    });
    let h = header(
        fx.key("safety-institute"),
        1,
        None,
        T0,
        Tier::Public,
        Kind::AccessDecision,
        &decision,
    );
    push(
        "role_observer_access_decision",
        "An observer deciding an access request; only members approve releases.",
        "safety-institute",
        &h,
        &decision,
        reject("role_not_allowed"),
    );
}

pub(super) fn entry_body_vectors(fx: &Fixture, public: &Signed, vectors: &mut Vec<Json>) {
    let body = public.body.clone().expect("fixture has a body");
    vectors.push(entry_vector(
        "body_mismatch_changed_byte",
        "valid_bulletin_public with one bit of its body flipped: the hash no longer matches.",
        &Signed {
            envelope: public.envelope.clone(),
            body: Some(flip(&body, body.len() / 2)),
        },
        reject("body_mismatch"),
    ));
    let mut longer = body.clone();
    longer.push(0x00);
    vectors.push(entry_vector(
        "body_mismatch_extra_byte",
        "valid_bulletin_public with one byte appended to its body.",
        &Signed {
            envelope: public.envelope.clone(),
            body: Some(longer),
        },
        reject("body_mismatch"),
    ));

    // Bodies that match their header but break their kind's rules.
    let mut push = |name: &str, description: &str, tier: Tier, kind: Kind, body: Vec<u8>, detail: &str| {
        let mut h = header(fx.key("anthropic"), 1, None, T0, tier, kind, &body);
        if tier == Tier::Restricted {
            h.recipients = Some(vec![fx.key("google")]);
        }
        vectors.push(entry_vector(
            name,
            description,
            &sign(fx, "anthropic", &h, &body),
            reject_detail("body", detail),
        ));
    };
    let sample = testkit::sample_bulletin("Body rules");
    let bulletin = |edit: &dyn Fn(&mut BulletinBody)| {
        let mut b = sample.clone();
        edit(&mut b);
        cbor::encode(&b)
    };
    push(
        "body_correction_without_supersedes",
        "A correction whose body names no superseded entry.",
        Tier::Public,
        Kind::Correction,
        bulletin(&|_| {}),
        "invalid",
    );
    push(
        "body_bulletin_with_supersedes",
        "A bulletin whose body supersedes an entry (only corrections may).",
        Tier::Public,
        Kind::Bulletin,
        bulletin(&|b| b.supersedes = Some(Hash32::of(b"earlier"))),
        "invalid",
    );
    push(
        "body_empty_title",
        "A bulletin whose title is only spaces.",
        Tier::Consortium,
        Kind::Bulletin,
        bulletin(&|b| b.title = "   ".into()),
        "invalid",
    );
    push(
        "body_missing_category",
        "A bulletin without a category.",
        Tier::Public,
        Kind::Bulletin,
        bulletin(&|b| b.category = None),
        "invalid",
    );
    push(
        "body_commitment_out_of_range",
        "A bulletin citing White House commitment 9 (they are numbered 1 to 8).",
        Tier::Public,
        Kind::Bulletin,
        bulletin(&|b| b.commitments = vec![1, 9]),
        "invalid",
    );
    let (redacted, _) = redacted_finding();
    push(
        "body_withheld_on_public",
        "A public bulletin carrying withheld-field commitments and a release policy.",
        Tier::Public,
        Kind::Bulletin,
        {
            let mut b = redacted.clone();
            b.details = "Plain details.".into();
            cbor::encode(&b)
        },
        "invalid",
    );
    push(
        "body_hazardous_with_details",
        "A hazardous bulletin whose gossiped body still carries the details.",
        Tier::Hazardous,
        Kind::Bulletin,
        {
            let mut b = redacted.clone();
            b.details = "CANARY leaked details".into();
            cbor::encode(&b)
        },
        "hazardous",
    );
    push(
        "body_hazardous_without_commitments",
        "A hazardous bulletin without withheld-field commitments.",
        Tier::Hazardous,
        Kind::Bulletin,
        {
            let mut b = sample.clone();
            b.details = String::new();
            cbor::encode(&b)
        },
        "hazardous",
    );
    push(
        "body_hazardous_references_present",
        "A hazardous bulletin that withholds references but still lists them.",
        Tier::Hazardous,
        Kind::Bulletin,
        {
            let mut b = redacted.clone();
            b.references = vec!["internal-report-7".into()];
            cbor::encode(&b)
        },
        "hazardous",
    );
    push(
        "body_restricted_empty",
        "A restricted bulletin with an empty body (ciphertext is never empty).",
        Tier::Restricted,
        Kind::Bulletin,
        Vec::new(),
        "invalid",
    );
    let ack = cbor::encode(&AckBody {
        target: Hash32::of(b"target"),
        status: AckStatus::Reproduced,
        note: "ok".into(),
    });
    let mut unsorted = ack.clone();
    // {0: target, 1: status, 2: note} -> {1: status, 0: target, 2: note}
    let target_len = 1 + 2 + 32;
    let status_len = 2;
    let mut reordered = vec![unsorted[0]];
    reordered.extend_from_slice(&unsorted[1 + target_len..1 + target_len + status_len]);
    reordered.extend_from_slice(&unsorted[1..1 + target_len]);
    reordered.extend_from_slice(&unsorted[1 + target_len + status_len..]);
    unsorted = reordered;
    push(
        "body_ack_unsorted_map_keys",
        "An ack body whose keys 0 and 1 are swapped.",
        Tier::Public,
        Kind::Ack,
        unsorted,
        "encoding",
    );
    push(
        "body_ack_wrong_structure",
        "An ack whose body is a bulletin.",
        Tier::Public,
        Kind::Ack,
        cbor::encode(&sample),
        "encoding",
    );
    push(
        "body_bulletin_trailing_byte",
        "A bulletin body followed by one extra byte.",
        Tier::Public,
        Kind::Bulletin,
        {
            let mut b = cbor::encode(&sample);
            b.push(0x00);
            b
        },
        "encoding",
    );
    push(
        "body_retraction_reason_too_long",
        "A retraction whose reason is 2049 bytes (the limit is 2048).",
        Tier::Public,
        Kind::Retraction,
        cbor::encode(&RetractionBody {
            target: Hash32::of(b"target"),
            reason: "x".repeat(2049),
            purge: false,
        }),
        "invalid",
    );
    push(
        "body_access_request_no_fields",
        "An access request that asks for no fields.",
        Tier::Public,
        Kind::AccessRequest,
        cbor::encode(&AccessRequestBody {
            target: Hash32::of(b"target"),
            reason: "need".into(),
            fields: Vec::new(),
        }),
        "invalid",
    );
    push(
        "body_access_receipt_unsorted",
        "An access receipt whose received commitments are not ascending.",
        Tier::Public,
        Kind::AccessReceipt,
        {
            let mut received = vec![Hash32::of(b"a"), Hash32::of(b"b")];
            received.sort();
            received.reverse();
            cbor::encode(&AccessReceiptBody {
                request: Hash32::of(b"request"),
                target: Hash32::of(b"target"),
                received,
            })
        },
        "invalid",
    );
}
