//! `release.json`: author-signed releases of withheld fields as the requester
//! checks them, fault proofs as a third party checks them, and the release
//! policy's decision over recorded approvals.

use super::commitments::reveal_json;
use super::entries::Logs;
use super::json::{Json, accept_with, file, hx, reject, reject_detail, text, vector};
use super::{Fixture, Signed, redacted_finding, salts};
use ed25519_dalek::Signer;
use riskmesh_protocol::body::{AccessReceiptBody, AccessRequestBody};
use riskmesh_protocol::cbor;
use riskmesh_protocol::redaction::{Reveal, WithheldField};
use riskmesh_protocol::release::{BoundReveal, RELEASE_SIG_PREFIX, Release, ReleasePayload, SignedRelease};
use riskmesh_protocol::testkit::{self, OBSERVERS, SIGNATORIES};
use riskmesh_protocol::{Body, BulletinBody, EntryId, Hash32, Kind, OrgKey, Tier};

/// The entries a release answers: meta's hazardous bulletin and google's
/// request for two of its withheld fields.
struct Setup {
    hazardous: Signed,
    target: EntryId,
    request: EntryId,
    /// openai's request for the same entry.
    other_request: EntryId,
    /// Another entry by the author (not the one requested).
    other_target: EntryId,
    redacted: BulletinBody,
    /// Every opening the author holds: details, title, references.
    openings: Vec<Reveal>,
}

impl Setup {
    fn new(fx: &Fixture) -> Self {
        let mut logs = Logs::new(fx);
        let (redacted, openings) = redacted_finding();
        let other = logs.append(
            "meta",
            Kind::Bulletin,
            Tier::Public,
            Body::Bulletin(testkit::sample_bulletin("An unrelated public finding")),
            None,
        );
        let hazardous = logs.append(
            "meta",
            Kind::Bulletin,
            Tier::Hazardous,
            Body::Bulletin(redacted.clone()),
            None,
        );
        let mut ask = |org: &str| {
            logs.append(
                org,
                Kind::AccessRequest,
                Tier::Consortium,
                Body::AccessRequest(AccessRequestBody {
                    target: hazardous.id(),
                    reason: "Needed to reproduce the finding against our own models.".into(),
                    fields: vec![WithheldField::Details, WithheldField::Title],
                }),
                None,
            )
            .id()
        };
        let request = ask("google");
        let other_request = ask("openai");
        Setup {
            target: hazardous.id(),
            hazardous,
            request,
            other_request,
            other_target: other.id(),
            redacted,
            openings,
        }
    }

    /// The openings of the requested fields (details and title).
    fn requested(&self) -> Vec<Reveal> {
        self.openings
            .iter()
            .filter(|r| matches!(r.field, WithheldField::Details | WithheldField::Title))
            .cloned()
            .collect()
    }

    /// The release that answers google's request with `reveals`.
    fn release(&self, fx: &Fixture, reveals: Vec<Reveal>) -> Release {
        Release {
            request: self.request,
            target: self.target,
            requester: fx.key("google"),
            reveals,
        }
    }

    /// The payload that binds the requested openings for google's request.
    fn payload(&self, fx: &Fixture) -> ReleasePayload {
        ReleasePayload {
            request: self.request,
            target: self.target,
            requester: fx.key("google"),
            bound: self.requested().iter().map(BoundReveal::of).collect(),
        }
    }
}

/// A signed release over arbitrary payload bytes, with the signature over
/// `prefix || payload` and `reveals` beside it: for releases an honest
/// encoder would not produce.
fn sign_bytes(fx: &Fixture, org: &str, prefix: &[u8], payload: &[u8], reveals: Vec<Reveal>) -> SignedRelease {
    let key = ed25519_dalek::SigningKey::from_bytes(&fx.signer(org).seed());
    SignedRelease {
        author: fx.key(org),
        payload: payload.to_vec(),
        signature: key.sign(&[prefix, payload].concat()).to_bytes(),
        reveals,
    }
}

/// The openings with the last byte of the first one's value changed.
fn tamper_first(reveals: &[Reveal]) -> Vec<Reveal> {
    let mut tampered = reveals.to_vec();
    let last = tampered[0].value.len() - 1;
    tampered[0].value[last] ^= 0x01;
    tampered
}

/// What an accepted release yields: the openings, the commitments the
/// access receipt lists (ascending), and the receipt body itself.
fn opened(setup: &Setup, reveals: &[Reveal]) -> Json {
    let mut received: Vec<Hash32> = reveals.iter().map(Reveal::commitment).collect();
    received.sort();
    let receipt = AccessReceiptBody {
        request: setup.request,
        target: setup.target,
        received: received.clone(),
    };
    accept_with(vec![
        ("reveals", Json::Arr(reveals.iter().map(reveal_json).collect())),
        (
            "digests",
            Json::Arr(reveals.iter().map(|r| hx(r.digest().0)).collect()),
        ),
        ("received", Json::Arr(received.iter().map(|c| hx(c.0)).collect())),
        ("receipt_body", hx(cbor::encode(&receipt))),
    ])
}

fn reveal_failure(reason: &str, field: WithheldField) -> Json {
    Json::Obj(vec![
        ("outcome", text("reject")),
        ("reason", text("reveal")),
        ("detail", text(reason)),
        ("field", text(field.name())),
    ])
}

/// A release as google's node receives it for its request.
fn release_vector(
    fx: &Fixture,
    setup: &Setup,
    name: &str,
    description: &str,
    signed: &[u8],
    expected: Json,
) -> Json {
    vector(
        name,
        "release",
        description,
        vec![
            ("signed_release", hx(signed)),
            ("author", hx(fx.key("meta").0)),
            ("request", hx(setup.request.0)),
            ("target", hx(setup.target.0)),
            ("requester", hx(fx.key("google").0)),
            ("redacted_body", hx(cbor::encode(&setup.redacted))),
        ],
        expected,
    )
}

fn release_vectors(fx: &Fixture, setup: &Setup) -> Vec<Json> {
    let mut vectors = Vec::new();
    let mut release = |name: &str, description: &str, signed: &[u8], expected: Json| {
        vectors.push(release_vector(fx, setup, name, description, signed, expected));
    };
    let meta = &fx.consortium.org("meta").signing;
    let requested = setup.requested();
    let valid = SignedRelease::sign(meta, &setup.release(fx, requested.clone()));
    release(
        "release_valid",
        "meta releases the two requested fields (details, title) to google: the signature verifies, the \
         payload names google's request, the hazardous entry and google and binds the two openings by \
         their digests, the openings beside it are exactly the bound ones, and both match their \
         commitments. The receipt lists the two commitments in ascending order.",
        &valid.to_bytes(),
        opened(setup, &requested),
    );
    let details_only = requested[..1].to_vec();
    release(
        "release_valid_one_field",
        "A release of the details alone: a release may carry fewer fields than were requested, and the \
         receipt lists only what was received.",
        &SignedRelease::sign(meta, &setup.release(fx, details_only.clone())).to_bytes(),
        opened(setup, &details_only),
    );

    let mut forged = valid.clone();
    forged.signature[0] ^= 0x01;
    release(
        "release_bad_signature",
        "The valid release with one bit of its signature changed.",
        &forged.to_bytes(),
        reject("bad_signature"),
    );
    let payload = cbor::encode(&setup.payload(fx));
    assert_eq!(payload, valid.payload, "the valid release's payload");
    release(
        "release_signature_without_prefix",
        "meta signs the payload bytes without the domain prefix \"riskmesh-release-v2\\0\".",
        &sign_bytes(fx, "meta", b"", &payload, requested.clone()).to_bytes(),
        reject("bad_signature"),
    );
    release(
        "release_signature_with_v1_prefix",
        "meta signs the payload bytes with the version 1 prefix \"riskmesh-release-v1\\0\", whose payload \
         carried the openings: a version 1 signature never verifies as version 2.",
        &sign_bytes(fx, "meta", b"riskmesh-release-v1\0", &payload, requested.clone()).to_bytes(),
        reject("bad_signature"),
    );
    release(
        "release_signed_by_another_org",
        "anthropic, not the hazardous entry's author, signs the same payload: the release names another \
         author.",
        &sign_bytes(fx, "anthropic", RELEASE_SIG_PREFIX, &payload, requested.clone()).to_bytes(),
        reject("mismatch"),
    );
    // Correctly signed by meta, but not an answer to google's request.
    let edited = |edit: &dyn Fn(&mut Release)| {
        let mut r = setup.release(fx, requested.clone());
        edit(&mut r);
        SignedRelease::sign(meta, &r).to_bytes()
    };
    release(
        "release_wrong_request",
        "A correctly signed release that answers openai's request for the same entry, received by google.",
        &edited(&|r| r.request = setup.other_request),
        reject("mismatch"),
    );
    release(
        "release_wrong_target",
        "A correctly signed release that names another entry of the author as its target.",
        &edited(&|r| r.target = setup.other_target),
        reject("mismatch"),
    );
    release(
        "release_wrong_requester",
        "A correctly signed release for google's request that names openai as the requester.",
        &edited(&|r| r.requester = fx.key("openai")),
        reject("mismatch"),
    );
    release(
        "release_no_fields",
        "A correctly signed release that binds and carries no openings.",
        &edited(&|r| r.reveals.clear()),
        reject("mismatch"),
    );
    release(
        "release_duplicate_opening",
        "meta signs a release that binds the details twice: the bound fields are not strictly ascending.",
        &edited(&|r| r.reveals = vec![requested[0].clone(), requested[0].clone()]),
        reject("mismatch"),
    );

    // The openings travel beside the signature: ones other than the bound
    // ones are refused, and are nobody's provable fault.
    let beside = |edit: &dyn Fn(&mut Vec<Reveal>)| {
        let mut r = valid.clone();
        edit(&mut r.reveals);
        r.to_bytes()
    };
    release(
        "release_opening_not_bound",
        "The valid release with one bit of the title opening's value changed after signing: the opening no \
         longer matches its bound digest. The openings are not signed, so this is a refusal, not the \
         author's fault.",
        &beside(&|reveals| reveals[1].value[0] ^= 0x01),
        reject("mismatch"),
    );
    release(
        "release_opening_missing",
        "The valid release with the title opening left out: it binds two openings and carries one.",
        &beside(&|reveals| {
            reveals.pop();
        }),
        reject("mismatch"),
    );
    release(
        "release_openings_out_of_order",
        "The valid release with its two openings swapped: they must follow the bound list's order.",
        &beside(&|reveals| reveals.swap(0, 1)),
        reject("mismatch"),
    );
    release(
        "release_opening_unbound_extra",
        "The valid release with the references opening added: meta holds it, but did not bind it.",
        &beside(&|reveals| reveals.push(setup.openings[2].clone())),
        reject("mismatch"),
    );

    let signed_with =
        |reveals: Vec<Reveal>| SignedRelease::sign(meta, &setup.release(fx, reveals)).to_bytes();
    release(
        "release_tampered_opening",
        "meta signs a release whose details value has one bit changed: the signature holds and binds that \
         opening, and the opening does not match the commitment. This is the author's fault, provable with \
         a fault proof.",
        &signed_with(tamper_first(&requested)),
        reveal_failure("mismatch", WithheldField::Details),
    );
    let summary = Reveal {
        field: WithheldField::Summary,
        salt: salts()[WithheldField::Summary as usize],
        value: cbor::encode(&setup.redacted.summary),
    };
    release(
        "release_field_not_withheld",
        "meta signs a release that also opens the summary, which the entry does not withhold.",
        &signed_with(vec![requested[0].clone(), summary]),
        reveal_failure("not_withheld", WithheldField::Summary),
    );

    // Correctly signed payload bytes that are not canonical CBOR.
    let mut long_head = vec![0xb9, 0x00, 0x04];
    long_head.extend_from_slice(&payload[1..]);
    assert_eq!(payload[0], 0xa4, "the payload is a map of four entries");
    release(
        "release_payload_not_shortest_form",
        "meta signs payload bytes whose map head is b9 00 04 instead of a4: the signature verifies, the \
         payload is not canonical.",
        &sign_bytes(fx, "meta", RELEASE_SIG_PREFIX, &long_head, requested.clone()).to_bytes(),
        reject_detail("encoding", "non_shortest_form"),
    );
    let mut extra_key = vec![0xa5];
    extra_key.extend_from_slice(&payload[1..]);
    extra_key.extend_from_slice(&[0x04, 0x00]);
    release(
        "release_payload_unknown_key",
        "meta signs a payload map with a fifth, unknown key 4: it decodes, but does not re-encode to the \
         same bytes.",
        &sign_bytes(fx, "meta", RELEASE_SIG_PREFIX, &extra_key, requested.clone()).to_bytes(),
        reject_detail("encoding", "not_canonical"),
    );
    let mut trailing = valid.to_bytes();
    trailing.push(0x00);
    release(
        "release_trailing_bytes",
        "The valid signed release followed by one byte.",
        &trailing,
        reject_detail("encoding", "trailing_bytes"),
    );
    vectors
}

fn fault_vectors(fx: &Fixture, setup: &Setup) -> Vec<Json> {
    let mut vectors = Vec::new();
    let body = setup
        .hazardous
        .body
        .clone()
        .expect("the hazardous entry has its body");
    let mut proof = |name: &str, description: &str, signed: &[u8], expected: Json| {
        vectors.push(vector(
            name,
            "fault_proof",
            description,
            vec![
                ("hazardous_envelope", hx(&setup.hazardous.envelope)),
                ("hazardous_body", hx(&body)),
                ("signed_release", hx(signed)),
            ],
            expected,
        ));
    };
    let meta = &fx.consortium.org("meta").signing;
    let requested = setup.requested();
    // meta releases the details correctly and a title with one bit changed.
    let mut tampered = requested.clone();
    tampered.swap(0, 1);
    let tampered = tamper_first(&tampered);
    let bad = SignedRelease::sign(meta, &setup.release(fx, tampered));
    assert_eq!(
        bad.reveals[0], requested[0],
        "the details opening is the valid one"
    );
    let fault = bad.fault_proof(&setup.redacted).expect("a fault to prove");
    assert_eq!(
        fault.reveals,
        bad.reveals[1..],
        "the proof carries the title alone"
    );
    let proven = |field: WithheldField, detail: &str| {
        accept_with(vec![
            ("author", hx(fx.key("meta").0)),
            ("target", hx(setup.target.0)),
            ("detail", text(detail)),
            ("field", text(field.name())),
        ])
    };
    proof(
        "fault_proof_one_bogus_opening",
        "meta signed a release of the details (correct) and the title (one bit changed). google's fault \
         proof is that signed release cut to the title opening alone: the signature holds, the payload \
         names this entry and binds the title opening, and the opening does not match the commitment. \
         Anyone holding the roster can check that meta signed an opening that does not open its own \
         commitment, and the proof discloses nothing of the valid details opening.",
        &fault.to_bytes(),
        proven(WithheldField::Title, "mismatch"),
    );
    proof(
        "fault_proof_whole_release",
        "The same signed release with both openings: a fault proof carries exactly one opening, so a proof \
         never discloses a valid one.",
        &bad.to_bytes(),
        reject("mismatch"),
    );
    let mut valid_opening = fault.clone();
    valid_opening.reveals = vec![bad.reveals[0].clone()];
    proof(
        "fault_proof_valid_opening",
        "The same signed release cut to the details opening, which is correct: the author signed it, and \
         it matches its commitment, so it proves no fault.",
        &valid_opening.to_bytes(),
        reject("not_a_fault"),
    );
    let mut unbound = valid_opening.clone();
    unbound.reveals[0].value[0] ^= 0x01;
    proof(
        "fault_proof_opening_not_bound",
        "The details opening with one bit changed after signing: it does not match its commitment, but \
         neither does it match the digest meta signed, so a requester cannot frame the author with an \
         opening the author did not sign.",
        &unbound.to_bytes(),
        reject("mismatch"),
    );
    let mut framed = fault.clone();
    framed.signature[63] ^= 0x01;
    proof(
        "fault_proof_forged_release",
        "The fault proof with one bit of the signature changed: a requester cannot frame the author with a \
         release the author did not sign.",
        &framed.to_bytes(),
        reject("bad_signature"),
    );
    proof(
        "fault_proof_matching_release",
        "meta's correct release of the details alone: its one opening matches, so it proves no fault.",
        &SignedRelease::sign(meta, &setup.release(fx, requested[..1].to_vec())).to_bytes(),
        reject("not_a_fault"),
    );
    let mut empty = fault.clone();
    empty.reveals.clear();
    proof(
        "fault_proof_no_opening",
        "The fault proof with its opening left out: nothing to check.",
        &empty.to_bytes(),
        reject("mismatch"),
    );
    let mut elsewhere = setup.release(fx, tamper_first(&requested));
    elsewhere.target = setup.other_target;
    let elsewhere = SignedRelease::sign(meta, &elsewhere);
    proof(
        "fault_proof_release_for_another_entry",
        "A release by meta with a tampered details opening that names another target, cut to that opening: \
         it says nothing about this entry's commitments.",
        &elsewhere
            .fault_proof(&setup.redacted)
            .expect("the opening fails against this body")
            .to_bytes(),
        reject("mismatch"),
    );
    vectors
}

fn policy_json(observers: bool, approvers: &[OrgKey], threshold: u64) -> Json {
    let mut approvers = approvers.to_vec();
    approvers.sort();
    Json::Obj(vec![
        ("observers_may_request", Json::Bool(observers)),
        (
            "approvers",
            Json::Arr(approvers.iter().map(|k| hx(k.0)).collect()),
        ),
        ("threshold", Json::Int(threshold)),
    ])
}

fn decision(name: &str) -> Json {
    accept_with(vec![("decision", text(name))])
}

fn decision_why(name: &str, why: &str) -> Json {
    accept_with(vec![("decision", text(name)), ("why", text(why))])
}

fn pending(grants: u64, needed: u64) -> Json {
    accept_with(vec![
        ("decision", text("pending")),
        ("grants", Json::Int(grants)),
        ("needed", Json::Int(needed)),
    ])
}

fn never_grantable(approvers: u64, needed: u64) -> Json {
    accept_with(vec![
        ("decision", text("never_grantable")),
        ("approvers", Json::Int(approvers)),
        ("needed", Json::Int(needed)),
    ])
}

/// The ids of an `evaluate` vector's entries: opaque labels hashed, since
/// the evaluation only compares them.
fn label_id(label: &str) -> EntryId {
    Hash32::of(label.as_bytes())
}

/// What a retraction in an `evaluate` vector names.
#[derive(Clone, Copy)]
enum Retracted {
    /// The hazardous entry.
    Entry,
    /// The access request.
    Request,
    /// The decision at this index of the vector's decisions.
    Decision(usize),
}

fn evaluate_vectors(fx: &Fixture) -> Vec<Json> {
    let mut vectors = Vec::new();
    let key = |org: &str| fx.key(org);
    let k_of_n = policy_json(false, &[key("anthropic"), key("google"), key("openai")], 2);
    let closed = policy_json(false, &[], 1);
    let open = policy_json(true, &[], 1);
    let mut case_with = |name: &str,
                         description: &str,
                         policy: &Json,
                         requester: &str,
                         decisions: &[(&str, bool)],
                         retractions: &[(&str, Retracted)],
                         expected: Json| {
        let decision_id = |i: usize| label_id(&format!("{name}/decision/{i}"));
        let id_of = |r: Retracted| match r {
            Retracted::Entry => label_id("hazardous entry"),
            Retracted::Request => label_id("access request"),
            Retracted::Decision(i) => decision_id(i),
        };
        vectors.push(vector(
            name,
            "evaluate",
            description,
            vec![
                ("author", hx(key("meta").0)),
                ("policy", policy.clone_json()),
                ("entry", hx(id_of(Retracted::Entry).0)),
                ("request", hx(id_of(Retracted::Request).0)),
                ("requester", hx(key(requester).0)),
                (
                    "decisions",
                    Json::Arr(
                        decisions
                            .iter()
                            .enumerate()
                            .map(|(i, (org, grant))| {
                                Json::Obj(vec![
                                    ("id", hx(decision_id(i).0)),
                                    ("approver", hx(key(org).0)),
                                    ("grant", Json::Bool(*grant)),
                                ])
                            })
                            .collect(),
                    ),
                ),
                (
                    "retractions",
                    Json::Arr(
                        retractions
                            .iter()
                            .map(|(org, what)| {
                                Json::Obj(vec![("author", hx(key(org).0)), ("target", hx(id_of(*what).0))])
                            })
                            .collect(),
                    ),
                ),
            ],
            expected,
        ));
    };
    let mut case = |name: &str,
                    description: &str,
                    policy: &Json,
                    requester: &str,
                    decisions: &[(&str, bool)],
                    expected: Json| {
        case_with(name, description, policy, requester, decisions, &[], expected)
    };
    case(
        "k_of_n_no_decisions",
        "2 of anthropic, google, openai; microsoft requests; nobody has decided.",
        &k_of_n,
        "microsoft",
        &[],
        pending(0, 2),
    );
    case(
        "k_of_n_one_grant",
        "2 of 3; anthropic grants.",
        &k_of_n,
        "microsoft",
        &[("anthropic", true)],
        pending(1, 2),
    );
    case(
        "k_of_n_granted",
        "2 of 3; anthropic and google grant.",
        &k_of_n,
        "microsoft",
        &[("anthropic", true), ("google", true)],
        decision("granted"),
    );
    case(
        "k_of_n_one_denial",
        "2 of 3; anthropic denies: google and openai can still reach the threshold.",
        &k_of_n,
        "microsoft",
        &[("anthropic", false)],
        pending(0, 2),
    );
    case(
        "k_of_n_denied",
        "2 of 3; anthropic and google deny: one approver is left, so 2 grants are unreachable.",
        &k_of_n,
        "microsoft",
        &[("anthropic", false), ("google", false)],
        decision("denied"),
    );
    case(
        "duplicate_approver_counts_once",
        "2 of 3; anthropic grants twice: one distinct approver.",
        &k_of_n,
        "microsoft",
        &[("anthropic", true), ("anthropic", true)],
        pending(1, 2),
    );
    case(
        "unnamed_approver_ignored",
        "2 of 3; anthropic grants, and amazon, a member the policy does not name, grants too.",
        &k_of_n,
        "microsoft",
        &[("anthropic", true), ("amazon", true)],
        pending(1, 2),
    );
    case(
        "latest_decision_wins_grant_withdrawn",
        "2 of 3; anthropic grants, then denies; google grants. anthropic's later denial replaces its grant.",
        &k_of_n,
        "microsoft",
        &[("anthropic", true), ("anthropic", false), ("google", true)],
        pending(1, 2),
    );
    case(
        "latest_decision_wins_denial_withdrawn",
        "2 of 3; anthropic and google deny (denied), then both grant: denied is not final.",
        &k_of_n,
        "microsoft",
        &[
            ("anthropic", false),
            ("google", false),
            ("anthropic", true),
            ("google", true),
        ],
        decision("granted"),
    );
    case(
        "requester_is_an_approver",
        "2 of 3; google requests and grants its own request, anthropic grants: the requester's own \
         decision never counts (spec §8.6 step 3), so one grant of the two needed.",
        &k_of_n,
        "google",
        &[("google", true), ("anthropic", true)],
        pending(1, 2),
    );
    let with_observer = policy_json(false, &[key("anthropic"), key("safety-institute")], 1);
    case(
        "observer_approver_not_counted",
        "1 of anthropic and safety-institute: safety-institute is an observer, so only anthropic's decision \
         counts, and its grant does not.",
        &with_observer,
        "microsoft",
        &[("safety-institute", true)],
        pending(0, 1),
    );
    case(
        "threshold_unreachable_from_the_start",
        "2 of anthropic and safety-institute: only anthropic is a member, so 2 grants can never be reached: \
         never grantable, with the effective approvers and the threshold.",
        &policy_json(false, &[key("anthropic"), key("safety-institute")], 2),
        "microsoft",
        &[],
        never_grantable(1, 2),
    );
    case(
        "author_alone_pending",
        "No approvers named: only the author's decision counts, so openai's grant does not.",
        &closed,
        "google",
        &[("openai", true)],
        pending(0, 1),
    );
    case(
        "author_alone_granted",
        "No approvers named: the author grants.",
        &closed,
        "google",
        &[("meta", true)],
        decision("granted"),
    );
    case(
        "author_alone_denied",
        "No approvers named: the author denies.",
        &closed,
        "google",
        &[("meta", false)],
        decision("denied"),
    );
    case(
        "observer_not_allowed",
        "An observer requests under a policy that does not let observers request; the author's grant changes \
         nothing.",
        &closed,
        "safety-institute",
        &[("meta", true)],
        decision_why("not_allowed", "observer"),
    );
    case(
        "observer_allowed",
        "An observer requests under a policy that lets observers request; the author grants.",
        &open,
        "safety-institute",
        &[("meta", true)],
        decision("granted"),
    );
    case(
        "author_requesting",
        "The author requests its own entry: never allowed, whatever the decisions.",
        &open,
        "meta",
        &[("meta", true)],
        decision_why("not_allowed", "author"),
    );
    case(
        "requester_not_on_roster",
        "mallory, who is not on the roster, requests.",
        &open,
        "mallory",
        &[("meta", true)],
        decision_why("not_allowed", "not_on_roster"),
    );
    case_with(
        "retracted_approval_not_counted",
        "2 of 3; anthropic grants, then retracts that decision; google grants. A retracted decision never \
         counts: one grant of the two needed.",
        &k_of_n,
        "microsoft",
        &[("anthropic", true), ("google", true)],
        &[("anthropic", Retracted::Decision(0))],
        pending(1, 2),
    );
    case_with(
        "retraction_by_another_org_ignored",
        "2 of 3; anthropic and google grant. openai retracts anthropic's decision, microsoft (the requester) \
         the hazardous entry, anthropic the request: a retraction counts only by the retracted entry's author.",
        &k_of_n,
        "microsoft",
        &[("anthropic", true), ("google", true)],
        &[
            ("openai", Retracted::Decision(0)),
            ("microsoft", Retracted::Entry),
            ("anthropic", Retracted::Request),
        ],
        decision("granted"),
    );
    case_with(
        "retracted_latest_decision_revives_nothing",
        "2 of 3; anthropic grants, then denies, then retracts the denial; google grants. anthropic has no \
         standing decision: the retraction does not revive the grant its denial replaced.",
        &k_of_n,
        "microsoft",
        &[("anthropic", true), ("anthropic", false), ("google", true)],
        &[("anthropic", Retracted::Decision(1))],
        pending(1, 2),
    );
    case_with(
        "grant_after_retraction_counts",
        "2 of 3; anthropic grants and retracts it, then grants again; google grants: the new grant counts.",
        &k_of_n,
        "microsoft",
        &[("anthropic", true), ("anthropic", true), ("google", true)],
        &[("anthropic", Retracted::Decision(0))],
        decision("granted"),
    );
    case_with(
        "retracted_request",
        "No approvers named; the author grants, and google, the requester, retracts its request: revoked, \
         nothing is released.",
        &closed,
        "google",
        &[("meta", true)],
        &[("google", Retracted::Request)],
        decision_why("revoked", "request_retracted"),
    );
    case_with(
        "retracted_hazardous_entry",
        "No approvers named; the author grants, then retracts the hazardous entry (with or without purge): \
         revoked, nothing is released.",
        &closed,
        "google",
        &[("meta", true)],
        &[("meta", Retracted::Entry)],
        decision_why("revoked", "entry_retracted"),
    );
    case_with(
        "sole_approver_requests",
        "1 of google; google requests and grants its own request. Its own decisions never count, so no \
         approver is left: never grantable.",
        &policy_json(false, &[key("google")], 1),
        "google",
        &[("google", true)],
        &[],
        never_grantable(0, 1),
    );
    vectors
}

pub(super) fn release_file(fx: &Fixture) -> Json {
    let setup = Setup::new(fx);
    let mut vectors = release_vectors(fx, &setup);
    vectors.extend(fault_vectors(fx, &setup));
    vectors.extend(evaluate_vectors(fx));
    let orgs = SIGNATORIES
        .iter()
        .chain(OBSERVERS.iter())
        .chain(["mallory"].iter())
        .map(|org| (*org, hx(fx.key(org).0)))
        .collect();
    file(
        "The hazardous release: author-signed releases of withheld fields checked by the requester, fault \
         proofs checked by a third party, and the release policy's decision over recorded approvals.",
        vec![
            ("network", text(testkit::NETWORK)),
            ("roster", fx.roster_hex()),
            ("orgs", Json::Obj(orgs)),
        ],
        vectors,
    )
}
