//! Property tests: encoding round trips, sign/verify, single-bit flips, and
//! chain validation under random delivery order.

use proptest::prelude::*;
use riskmesh_protocol::cbor;
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
