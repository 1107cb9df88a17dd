//! Fixtures shared by the fuzz targets and the seed-corpus generator: the
//! signatories' roster, signing keys that can sign any payload, entries of
//! every kind, a pool of chained entries with forks for the chain target,
//! and a granted release of the hazardous fixture entry for the release
//! target.
//!
//! Everything is deterministic (keys come from `testkit`), so a crash found
//! on one machine replays on another.

use ed25519_dalek::Signer;
use riskmesh_protocol::body::BulletinBody;
use riskmesh_protocol::body::{
    AccessDecisionBody, AccessReceiptBody, AccessRequestBody, AckBody, AckStatus, RetractionBody,
};
use riskmesh_protocol::entry::{
    HEADER_VERSION, encode_envelope, protected_header, sign_header, signing_input,
};
use riskmesh_protocol::ids::EntryId;
use riskmesh_protocol::limits::MAX_GAP_WINDOW;
use riskmesh_protocol::redaction::{self, Redaction, ReleasePolicy, Reveal, WithheldField};
use riskmesh_protocol::release::{RELEASE_SIG_PREFIX, Release, SignedRelease};
use riskmesh_protocol::testkit::{self, Consortium, NETWORK};
use riskmesh_protocol::{
    Body, Draft, Hash32, Header, Kind, LogWriter, OrgKey, OrgSigningKey, Roster, Tier, VerifiedEntry,
    verify_entry,
};
use std::sync::LazyLock;

/// Base of fixture timestamps (Unix ms).
pub const T0_MS: u64 = 1_700_000_000_000;

static CONSORTIUM: LazyLock<Consortium> = LazyLock::new(testkit::signatories);
static SIGNERS: LazyLock<Vec<(OrgKey, ed25519_dalek::SigningKey)>> = LazyLock::new(|| {
    CONSORTIUM
        .orgs
        .iter()
        .map(|o| {
            let key = ed25519_dalek::SigningKey::from_bytes(&testkit::seed(&format!("{}/sign", o.org)));
            assert_eq!(OrgKey(key.verifying_key().to_bytes()), o.signing.public());
            (o.signing.public(), key)
        })
        .collect()
});

/// The seven signatories and two observers of `testkit`.
pub fn consortium() -> &'static Consortium {
    &CONSORTIUM
}

/// Their genesis roster.
pub fn roster() -> &'static Roster {
    &CONSORTIUM.roster
}

/// Number of participants whose keys [`sign_payload`] can use.
pub fn signer_count() -> usize {
    SIGNERS.len()
}

/// A COSE_Sign1 envelope over arbitrary `payload` bytes, validly signed by
/// participant `index` (roster order, wrapping) for `network`. Lets a target
/// reach the header and body rules behind the signature check.
pub fn sign_payload(index: usize, network: &str, payload: &[u8]) -> Vec<u8> {
    let (public, key) = &SIGNERS[index % SIGNERS.len()];
    let protected = protected_header(public);
    let signature = key.sign(&signing_input(&protected, network, payload));
    encode_envelope(&protected, payload, &signature.to_bytes())
}

/// Splits the input of the `envelope_verify` target.
///
/// Byte 0: bit 0 set = "sign": the first part is a header payload that the
/// harness signs with participant `(byte0 >> 2) & 0xf`; clear = the first
/// part is the raw envelope. Bit 1 set = a body follows. Bit 6 set (with
/// "sign" and a body) = "fit": if the payload decodes as a header, the
/// harness sets its `body_hash` and `body_len` to match the body before
/// signing, so fuzzed bodies get past the hash check into the body rules.
/// Bytes 1..3: little-endian length of the first part (clamped). The rest:
/// first part, then body.
#[derive(Debug)]
pub struct EnvelopeInput<'a> {
    /// Sign the first part as a payload (true) or take it as an envelope.
    pub sign: bool,
    /// Which participant signs, when `sign`.
    pub signer: usize,
    /// Make the header's body hash and length fit the body, when `sign`.
    pub fit_body: bool,
    /// Envelope bytes or payload bytes.
    pub first: &'a [u8],
    /// The body, when present.
    pub body: Option<&'a [u8]>,
}

impl<'a> EnvelopeInput<'a> {
    /// Parses the layout above; `None` for inputs shorter than 3 bytes.
    pub fn parse(data: &'a [u8]) -> Option<Self> {
        let (head, rest) = data.split_at_checked(3)?;
        let split = usize::from(u16::from_le_bytes([head[1], head[2]])).min(rest.len());
        let (first, body) = rest.split_at(split);
        Some(EnvelopeInput {
            sign: head[0] & 1 == 1,
            signer: usize::from((head[0] >> 2) & 0x0f),
            fit_body: head[0] & 0x40 != 0,
            first,
            body: (head[0] & 2 == 2).then_some(body),
        })
    }

    /// Encodes an input in the layout above.
    pub fn encode(sign: bool, signer: u8, fit_body: bool, first: &[u8], body: Option<&[u8]>) -> Vec<u8> {
        let len = u16::try_from(first.len()).expect("first part under 64 KiB");
        let flags = u8::from(sign)
            | (u8::from(body.is_some()) << 1)
            | ((signer & 0x0f) << 2)
            | (u8::from(fit_body) << 6);
        let mut out = vec![flags];
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(first);
        out.extend_from_slice(body.unwrap_or_default());
        out
    }
}

/// One valid entry of every kind and tier the protocol has, by several
/// authors (a member and an observer), for seed corpora.
pub fn entries_of_every_kind() -> Vec<VerifiedEntry> {
    let c = consortium();
    let mut out = Vec::new();
    let author = &c.org("anthropic").signing;
    let mut log = LogWriter::new(NETWORK);
    let push = |log: &mut LogWriter, key: &OrgSigningKey, draft: Draft, out: &mut Vec<VerifiedEntry>| {
        let now = T0_MS + out.len() as u64;
        let entry = log.append(key, &c.roster, &draft, now).expect("fixture verifies");
        out.push(entry);
    };
    let bulletin = |tier| Draft {
        kind: Kind::Bulletin,
        tier,
        body: Body::Bulletin(testkit::sample_bulletin("finding")),
        recipients: None,
    };
    push(&mut log, author, bulletin(Tier::Public), &mut out);
    push(&mut log, author, bulletin(Tier::Consortium), &mut out);
    let first = out[0].id();
    let mut correction = testkit::sample_bulletin("finding, corrected");
    correction.supersedes = Some(first);
    push(
        &mut log,
        author,
        Draft {
            kind: Kind::Correction,
            tier: Tier::Consortium,
            body: Body::Bulletin(correction),
            recipients: None,
        },
        &mut out,
    );
    let recipients = vec![c.org("google").signing.public(), c.org("openai").signing.public()];
    push(
        &mut log,
        author,
        Draft {
            kind: Kind::Bulletin,
            tier: Tier::Restricted,
            body: Body::Encrypted(b"age-encryption.org/v1 (opaque to the protocol)".to_vec()),
            recipients: Some(recipients),
        },
        &mut out,
    );
    let (redacted, _) = hazard_redaction();
    push(
        &mut log,
        author,
        Draft {
            kind: Kind::Bulletin,
            tier: Tier::Hazardous,
            body: Body::Bulletin(redacted),
            recipients: None,
        },
        &mut out,
    );
    let hazardous = out[out.len() - 1].id();
    let control = |kind, body| Draft {
        kind,
        tier: Tier::Consortium,
        body,
        recipients: None,
    };
    push(
        &mut log,
        author,
        control(
            Kind::Retraction,
            Body::Retraction(RetractionBody {
                target: first,
                reason: "duplicate".into(),
                purge: true,
            }),
        ),
        &mut out,
    );
    let observer = &c.org("safety-institute").signing;
    let mut observer_log = LogWriter::new(NETWORK);
    push(
        &mut observer_log,
        observer,
        control(
            Kind::Ack,
            Body::Ack(AckBody {
                target: first,
                status: AckStatus::Reproduced,
                note: "seen too".into(),
            }),
        ),
        &mut out,
    );
    push(
        &mut observer_log,
        observer,
        control(
            Kind::AccessRequest,
            Body::AccessRequest(AccessRequestBody {
                target: hazardous,
                reason: "evaluation".into(),
                fields: vec![WithheldField::Details, WithheldField::Title],
            }),
        ),
        &mut out,
    );
    let request = out[out.len() - 1].id();
    push(
        &mut log,
        author,
        control(
            Kind::AccessDecision,
            Body::AccessDecision(AccessDecisionBody {
                request,
                grant: true,
                reason: "ok".into(),
            }),
        ),
        &mut out,
    );
    push(
        &mut observer_log,
        observer,
        control(
            Kind::AccessReceipt,
            Body::AccessReceipt(AccessReceiptBody {
                request,
                target: hazardous,
                received: vec![Hash32([7; 32])],
            }),
        ),
        &mut out,
    );
    out
}

/// The hazardous fixture bulletin: the redacted body that
/// [`entries_of_every_kind`] publishes and the openings its author keeps
/// (details, title and references withheld).
fn hazard_redaction() -> (BulletinBody, Vec<Reveal>) {
    let redaction = Redaction {
        fields: vec![WithheldField::References, WithheldField::Title],
        sanitized_title: Some("Hazardous finding".into()),
        sanitized_summary: None,
        release: ReleasePolicy::default(),
    };
    redaction::redact(
        &testkit::sample_bulletin("hazard"),
        &redaction,
        &[[1; 32], [2; 32], [3; 32], [4; 32], [5; 32]],
    )
}

/// What a requester checks a release against, taken from
/// [`entries_of_every_kind`]: the hazardous entry, the observer's access
/// request for its details and title, and the release the author signs for
/// it.
#[derive(Debug)]
pub struct ReleaseFixture {
    /// The hazardous entry's author, who signs releases.
    pub author: OrgKey,
    /// The access request's id.
    pub request: EntryId,
    /// The hazardous entry's id.
    pub target: EntryId,
    /// The access request's author.
    pub requester: OrgKey,
    /// The hazardous entry's redacted body (its commitments).
    pub redacted: BulletinBody,
    /// Every opening the author holds (details, title, references).
    pub reveals: Vec<Reveal>,
    /// The release of the requested fields (details and title), signed by
    /// the author: `open` accepts it.
    pub signed: SignedRelease,
}

static RELEASE: LazyLock<ReleaseFixture> = LazyLock::new(build_release);

/// The release fixture, built once.
pub fn release_fixture() -> &'static ReleaseFixture {
    &RELEASE
}

fn build_release() -> ReleaseFixture {
    let entries = entries_of_every_kind();
    let hazardous = entries
        .iter()
        .find(|e| e.header().tier == Tier::Hazardous)
        .expect("a hazardous fixture");
    let request = entries
        .iter()
        .find(|e| e.header().kind == Kind::AccessRequest)
        .expect("an access-request fixture");
    let (redacted, reveals) = hazard_redaction();
    assert_eq!(
        hazardous.body(),
        Some(&Body::Bulletin(redacted.clone()).to_bytes()[..]),
        "the redaction is the hazardous entry's body"
    );
    let Some(Ok(Body::AccessRequest(asked))) = request.decode_body() else {
        panic!("the access request decodes");
    };
    let release = Release {
        request: request.id(),
        target: hazardous.id(),
        requester: request.header().author,
        reveals: reveals
            .iter()
            .filter(|r| asked.fields.contains(&r.field))
            .cloned()
            .collect(),
    };
    let author = hazardous.header().author;
    let key = consortium()
        .orgs
        .iter()
        .find(|o| o.signing.public() == author)
        .expect("author's secrets");
    let signed = SignedRelease::sign(&key.signing, &release);
    let fixture = ReleaseFixture {
        author,
        request: release.request,
        target: release.target,
        requester: release.requester,
        redacted,
        reveals,
        signed,
    };
    assert!(
        fixture
            .signed
            .open(
                &fixture.author,
                &fixture.request,
                &fixture.target,
                &fixture.requester,
                &fixture.redacted
            )
            .is_ok(),
        "the fixture release opens"
    );
    fixture
}

/// A signed release of arbitrary `payload` bytes, validly signed by the
/// release fixture's author, with `reveals` beside it, so a target reaches
/// the checks behind the signature.
pub fn sign_release_payload(payload: &[u8], reveals: Vec<Reveal>) -> SignedRelease {
    let author = release_fixture().author;
    let (_, key) = SIGNERS
        .iter()
        .find(|(public, _)| *public == author)
        .expect("author among the signers");
    let signature = key.sign(&[RELEASE_SIG_PREFIX, payload].concat());
    SignedRelease {
        author,
        payload: payload.to_vec(),
        signature: signature.to_bytes(),
        reveals,
    }
}

/// The fixture author's release of `reveals` for the fixture request: the
/// honest path, bound by digests and signed.
pub fn sign_release(reveals: Vec<Reveal>) -> SignedRelease {
    let f = release_fixture();
    let key = CONSORTIUM
        .orgs
        .iter()
        .find(|o| o.signing.public() == f.author)
        .expect("author's secrets");
    SignedRelease::sign(
        &key.signing,
        &Release {
            request: f.request,
            target: f.target,
            requester: f.requester,
            reveals,
        },
    )
}

/// Entries for the chain target: per author a main chain, a fork, a
/// timestamp regression, queueable and too-far-ahead orphans, and an entry
/// from the future.
#[derive(Debug)]
pub struct ChainPool {
    /// Every entry; the chain target indexes into this.
    pub entries: Vec<VerifiedEntry>,
    /// A receiver clock after every timestamp except the future entries'.
    pub now_ms: u64,
    /// A receiver clock after every timestamp, including the future ones.
    pub late_now_ms: u64,
}

/// Length of each author's main chain in the pool.
pub const MAIN_CHAIN: u64 = 6;
/// Authors of the pool: two members and an observer.
pub const POOL_AUTHORS: [&str; 3] = ["anthropic", "openai", "safety-institute"];

static POOL: LazyLock<ChainPool> = LazyLock::new(build_pool);

/// The pool, built once.
pub fn chain_pool() -> &'static ChainPool {
    &POOL
}

fn build_pool() -> ChainPool {
    let c = consortium();
    let mut entries = Vec::new();
    let ts = |seq: u64| T0_MS + seq * 1000;
    let draft = |title: &str| Draft {
        kind: Kind::Bulletin,
        tier: Tier::Consortium,
        body: Body::Bulletin(testkit::sample_bulletin(title)),
        recipients: None,
    };
    let body = Body::Bulletin(testkit::sample_bulletin("crafted")).to_bytes();
    for org in POOL_AUTHORS {
        let key = &c.org(org).signing;
        let mut log = LogWriter::new(NETWORK);
        let mut main = Vec::new();
        for seq in 1..=MAIN_CHAIN {
            let entry = log
                .append(key, &c.roster, &draft("main"), ts(seq))
                .expect("main chain verifies");
            main.push(entry);
        }
        // A fork: different entries at seq 3 and 4 branching off seq 2.
        let mut fork = LogWriter::resume(NETWORK, 2, main[1].id(), ts(2));
        for seq in 3..=4 {
            let entry = fork
                .append(key, &c.roster, &draft("fork"), ts(seq) + 1)
                .expect("fork verifies");
            entries.push(entry);
        }
        // Hand-made headers that LogWriter would never produce.
        let crafted = |seq: u64, prev: Option<Hash32>, timestamp_ms: u64| {
            let header = Header {
                version: HEADER_VERSION,
                network: NETWORK.into(),
                author: key.public(),
                seq,
                prev,
                timestamp_ms,
                tier: Tier::Consortium,
                kind: Kind::Bulletin,
                body_hash: Hash32::of(&body),
                body_len: body.len() as u64,
                recipients: None,
            };
            verify_entry(&c.roster, &sign_header(key, &header), Some(&body))
                .expect("crafted entry verifies statelessly")
        };
        // Seq 4 linking to main seq 3 but timestamped before it.
        entries.push(crafted(4, Some(main[2].id()), ts(3) - 500));
        // Orphans with an unknown predecessor: at the edge of the gap window
        // from an empty chain, and beyond it.
        entries.push(crafted(1 + MAX_GAP_WINDOW, Some(Hash32([9; 32])), ts(7)));
        entries.push(crafted(2 + MAX_GAP_WINDOW, Some(Hash32([8; 32])), ts(7)));
        // Extends the main chain but is timestamped an hour ahead.
        entries.push(crafted(
            MAIN_CHAIN + 1,
            Some(main[MAIN_CHAIN as usize - 1].id()),
            ts(MAIN_CHAIN) + 3_600_000,
        ));
        entries.extend(main);
    }
    ChainPool {
        entries,
        now_ms: ts(MAIN_CHAIN + 1),
        late_now_ms: ts(MAIN_CHAIN) + 7_200_000,
    }
}
