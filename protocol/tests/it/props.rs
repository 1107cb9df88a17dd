//! Property tests: encoding round trips, sign/verify, single-bit flips,
//! chain validation under random delivery order, and redaction hiding every
//! withheld field from the wire.

use proptest::prelude::*;
use riskmesh_protocol::cbor;
use riskmesh_protocol::redaction::{Redaction, ReleasePolicy, WithheldField, redact};
use riskmesh_protocol::testkit;
use riskmesh_protocol::*;

const NOW: u64 = 1_700_000_000_000;

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("\\PC{{0,{max}}}")).expect("regex")
}

fn arb_bulletin() -> impl Strategy<Value = BulletinBody> {
    (
        "[A-Za-z0-9][A-Za-z0-9 ]{0,40}",
        text(200),
        0..Category::ALL.len(),
        0..Severity::ALL.len(),
        proptest::collection::vec(text(30), 0..4),
        text(300),
        proptest::collection::vec(text(30), 0..4),
        proptest::collection::btree_set(1u8..=8, 0..4),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(
            |(title, summary, cat, sev, affected, details, mitigations, commitments, embargo, expires)| {
                BulletinBody {
                    title,
                    summary,
                    category: Some(Category::ALL[cat]),
                    severity: Some(Severity::ALL[sev]),
                    affected,
                    details,
                    mitigations,
                    references: vec![],
                    commitments: commitments.into_iter().collect(),
                    embargo_until_ms: embargo,
                    expires_ms: expires,
                    supersedes: None,
                    withheld: None,
                    release: None,
                }
            },
        )
}

fn publish(body: BulletinBody, tier: Tier) -> (testkit::Consortium, VerifiedEntry) {
    let c = testkit::signatories();
    let mut log = LogWriter::new(testkit::NETWORK);
    let draft = Draft {
        kind: Kind::Bulletin,
        tier,
        body: Body::Bulletin(body),
        recipients: None,
    };
    let entry = log
        .append(&c.org("anthropic").signing, &c.roster, &draft, NOW)
        .expect("valid");
    (c, entry)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn bulletin_round_trips(body in arb_bulletin()) {
        let bytes = cbor::encode(&body);
        let back: BulletinBody = cbor::decode_canonical(&bytes, usize::MAX).expect("canonical");
        prop_assert_eq!(back, body);
    }

    #[test]
    fn signed_entries_verify_and_wire_round_trips(body in arb_bulletin(), public in any::<bool>()) {
        let tier = if public { Tier::Public } else { Tier::Consortium };
        let (c, entry) = publish(body, tier);
        let wire = entry.to_wire();
        let decoded = WireEntry::from_bytes(&wire.to_bytes()).expect("wire decodes");
        prop_assert_eq!(&decoded, &wire);
        let again = validate::verify_wire(&c.roster, &decoded).expect("verifies");
        prop_assert_eq!(again.id(), entry.id());
    }

    #[test]
    fn any_single_bit_flip_is_rejected(body in arb_bulletin(), bit in any::<prop::sample::Index>(), in_body in any::<bool>()) {
        let (c, entry) = publish(body, Tier::Consortium);
        let mut envelope = entry.envelope().to_vec();
        let mut body = entry.body().expect("body").to_vec();
        let target = if in_body { &mut body } else { &mut envelope };
        let i = bit.index(target.len() * 8);
        target[i / 8] ^= 1 << (i % 8);
        prop_assert!(verify_entry(&c.roster, &envelope, Some(&body)).is_err());
    }
}

/// Text long and random enough that finding it in other bytes by accident is
/// negligible.
fn distinctive() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{16,40}"
}

fn arb_finding() -> impl Strategy<Value = BulletinBody> {
    (
        distinctive(),
        distinctive(),
        distinctive(),
        proptest::collection::vec(distinctive(), 1..4),
        proptest::collection::vec(distinctive(), 1..4),
    )
        .prop_map(|(title, summary, details, affected, references)| BulletinBody {
            title,
            summary,
            category: Some(Category::Bio),
            severity: Some(Severity::Critical),
            affected,
            details,
            mitigations: vec!["Refusal training.".into()],
            references,
            ..Default::default()
        })
}

/// The texts a field holds in a full bulletin.
fn field_texts(full: &BulletinBody, field: WithheldField) -> Vec<&str> {
    match field {
        WithheldField::Details => vec![&full.details],
        WithheldField::Title => vec![&full.title],
        WithheldField::Summary => vec![&full.summary],
        WithheldField::Affected => full.affected.iter().map(String::as_str).collect(),
        WithheldField::References => full.references.iter().map(String::as_str).collect(),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn withheld_fields_never_reach_the_wire(
        full in arb_finding(),
        chosen in proptest::sample::subsequence(WithheldField::ALL.to_vec(), 0..=WithheldField::ALL.len()),
        salts in any::<[[u8; 32]; 5]>(),
    ) {
        let redaction = Redaction {
            fields: chosen,
            sanitized_title: Some("Sanitized title".into()),
            sanitized_summary: Some("Sanitized summary".into()),
            release: ReleasePolicy::default(),
        };
        let (redacted, reveals) = redact(&full, &redaction, &salts);
        let (_, entry) = publish(redacted, Tier::Hazardous);
        let wire = entry.to_wire().to_bytes();
        let withheld: Vec<WithheldField> = reveals.iter().map(|r| r.field).collect();
        for field in WithheldField::ALL {
            for text in field_texts(&full, field) {
                // Fields that are not withheld are gossiped as they are, which
                // shows the search would find a withheld one.
                prop_assert_eq!(
                    contains(&wire, text.as_bytes()),
                    !withheld.contains(&field),
                    "field {} text {:?}", field.name(), text
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn chain_accepts_everything_once_in_any_order(
        order in Just(()).prop_perturb(|_, mut rng| {
            let mut picks: Vec<usize> = (0..24).collect();
            // Deliver some entries twice.
            for _ in 0..6 { picks.push(rng.random_range(0..24usize)); }
            for i in (1..picks.len()).rev() {
                let j = rng.random_range(0..=i);
                picks.swap(i, j);
            }
            picks
        })
    ) {
        let c = testkit::signatories();
        let mut pool = Vec::new();
        for org in ["amazon", "meta", "openai"] {
            let mut log = LogWriter::new(testkit::NETWORK);
            for i in 0..8u64 {
                let draft = Draft {
                    kind: Kind::Bulletin,
                    tier: Tier::Public,
                    body: Body::Bulletin(testkit::sample_bulletin(&format!("{org} {i}"))),
                    recipients: None,
                };
                pool.push(log.append(&c.org(org).signing, &c.roster, &draft, NOW + i).expect("valid"));
            }
        }
        let mut validator = ChainValidator::new();
        let mut accepted = Vec::new();
        for &i in &order {
            let report = validator.ingest(pool[i].clone(), NOW);
            prop_assert!(!matches!(report.outcome, Outcome::Reject(_)));
            prop_assert!(report.fork.is_none());
            accepted.extend(report.accepted);
        }
        prop_assert_eq!(accepted.len(), pool.len());
        prop_assert_eq!(validator.pending_len(), 0);
        for org in ["amazon", "meta", "openai"] {
            let author = c.org(org).signing.public();
            let seqs: Vec<u64> = accepted.iter().filter(|e| e.header().author == author).map(|e| e.header().seq).collect();
            prop_assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
        }
    }
}
