//! `entries.json`: a valid entry of every kind at every tier it may use,
//! then the rejects, built in the sibling modules.

use super::entries_malformed::{entry_encoding_vectors, entry_signature_vectors};
use super::entries_rules::{entry_body_vectors, entry_header_rule_vectors};
use super::json::{Json, accept_with, file, hx, reject, reject_detail, text, vector};
use super::{Fixture, MINUTE, Signed, T0, ciphertext, redacted_finding};
use riskmesh_protocol::body::{
    AccessDecisionBody, AccessReceiptBody, AccessRequestBody, AckBody, AckStatus, RetractionBody,
};
use riskmesh_protocol::entry;
use riskmesh_protocol::redaction::{Reveal, WithheldField};
use riskmesh_protocol::testkit::{self, NETWORK};
use riskmesh_protocol::{Body, Draft, Hash32, Kind, LogWriter, OrgKey, Severity, Tier, WireEntry};

pub(super) fn entry_vector(name: &str, description: &str, signed: &Signed, expected: Json) -> Json {
    vector(
        name,
        "entry",
        description,
        vec![
            ("envelope", hx(&signed.envelope)),
            ("body", signed.body.as_ref().map_or(Json::Null, hx)),
        ],
        expected,
    )
}

/// A wire entry (bytes) verified as it arrived `via` gossip or sync.
fn wire_vector(name: &str, description: &str, wire: &[u8], via: &str, expected: Json) -> Json {
    vector(
        name,
        "wire",
        description,
        vec![("wire", hx(wire)), ("via", text(via))],
        expected,
    )
}

pub(super) fn accept_entry(signed: &Signed) -> Json {
    accept_with(vec![("entry_id", hx(signed.id().0))])
}

/// Appends through [`LogWriter`], which verifies what it signs, so a valid
/// vector can never be invalid by accident.
pub(super) struct Logs<'a> {
    fx: &'a Fixture,
    writers: Vec<(String, LogWriter)>,
    clock: u64,
}

impl<'a> Logs<'a> {
    pub(super) fn new(fx: &'a Fixture) -> Self {
        Logs {
            fx,
            writers: Vec::new(),
            clock: T0,
        }
    }

    pub(super) fn append(
        &mut self,
        org: &str,
        kind: Kind,
        tier: Tier,
        body: Body,
        recipients: Option<Vec<OrgKey>>,
    ) -> Signed {
        if !self.writers.iter().any(|(o, _)| o == org) {
            self.writers.push((org.to_string(), LogWriter::new(NETWORK)));
        }
        let writer = self
            .writers
            .iter_mut()
            .find(|(o, _)| o == org)
            .map(|(_, w)| w)
            .expect("writer was just added");
        self.clock += MINUTE;
        let draft = Draft {
            kind,
            tier,
            body,
            recipients,
        };
        let entry = writer
            .append(
                self.fx.signer(org),
                &self.fx.consortium.roster,
                &draft,
                self.clock,
            )
            .unwrap_or_else(|e| panic!("fixture entry {} {} rejected: {e}", kind.name(), tier.name()));
        Signed {
            envelope: entry.envelope().to_vec(),
            body: entry.body().map(<[u8]>::to_vec),
        }
    }
}

pub(super) fn entries_file(fx: &Fixture) -> Json {
    let mut vectors = Vec::new();
    let mut logs = Logs::new(fx);
    let recipients = Some(vec![fx.key("openai"), fx.key("google")]);
    let (redacted, reveals) = redacted_finding();

    // Valid entries: every kind at every tier it may use, in realistic logs.
    let mut valid = |name: &str, description: &str, signed: &Signed| {
        vectors.push(entry_vector(name, description, signed, accept_entry(signed)));
    };
    let public = logs.append(
        "anthropic",
        Kind::Bulletin,
        Tier::Public,
        Body::Bulletin(testkit::sample_bulletin("Multi-turn jailbreak")),
        None,
    );
    valid("valid_bulletin_public", "A public bulletin, seq 1.", &public);
    let mut consortium_body = testkit::sample_bulletin("Jailbreak variant (members only)");
    consortium_body.embargo_until_ms = Some(T0 + 7 * 24 * 60 * MINUTE);
    let consortium = logs.append(
        "anthropic",
        Kind::Bulletin,
        Tier::Consortium,
        Body::Bulletin(consortium_body),
        None,
    );
    valid(
        "valid_bulletin_consortium",
        "A consortium bulletin with an embargo, seq 2.",
        &consortium,
    );
    let restricted = logs.append(
        "anthropic",
        Kind::Bulletin,
        Tier::Restricted,
        Body::Encrypted(ciphertext()),
        recipients.clone(),
    );
    valid(
        "valid_bulletin_restricted",
        "A restricted bulletin: the body is opaque ciphertext, the header names two recipients in ascending key order.",
        &restricted,
    );
    let hazardous = logs.append(
        "anthropic",
        Kind::Bulletin,
        Tier::Hazardous,
        Body::Bulletin(redacted.clone()),
        None,
    );
    valid(
        "valid_bulletin_hazardous",
        "A hazardous bulletin: the redacted summary withholds details, title and references behind salted commitments (see commitments.json).",
        &hazardous,
    );
    let mut correction = testkit::sample_bulletin("Multi-turn jailbreak (corrected)");
    correction.supersedes = Some(public.id());
    let correction_public = logs.append(
        "anthropic",
        Kind::Correction,
        Tier::Public,
        Body::Bulletin(correction.clone()),
        None,
    );
    valid(
        "valid_correction_public",
        "A public correction superseding valid_bulletin_public.",
        &correction_public,
    );
    correction.supersedes = Some(consortium.id());
    let correction_consortium = logs.append(
        "anthropic",
        Kind::Correction,
        Tier::Consortium,
        Body::Bulletin(correction),
        None,
    );
    valid(
        "valid_correction_consortium",
        "A consortium correction superseding valid_bulletin_consortium.",
        &correction_consortium,
    );
    let correction_restricted = logs.append(
        "anthropic",
        Kind::Correction,
        Tier::Restricted,
        Body::Encrypted(ciphertext()[8..].to_vec()),
        recipients.clone(),
    );
    valid(
        "valid_correction_restricted",
        "A restricted correction; which entry it supersedes is inside the ciphertext.",
        &correction_restricted,
    );
    let mut hazardous_correction = redacted.clone();
    hazardous_correction.severity = Some(Severity::High);
    hazardous_correction.supersedes = Some(hazardous.id());
    let correction_hazardous = logs.append(
        "anthropic",
        Kind::Correction,
        Tier::Hazardous,
        Body::Bulletin(hazardous_correction),
        None,
    );
    valid(
        "valid_correction_hazardous",
        "A hazardous correction lowering the severity of valid_bulletin_hazardous.",
        &correction_hazardous,
    );
    for (tier, purge) in [(Tier::Public, true), (Tier::Consortium, false)] {
        let signed = logs.append(
            "anthropic",
            Kind::Retraction,
            tier,
            Body::Retraction(RetractionBody {
                target: correction_public.id(),
                reason: "Duplicate of an earlier report.".into(),
                purge,
            }),
            None,
        );
        valid(
            &format!("valid_retraction_{}", tier.name()),
            &format!("A {} retraction (purge = {purge}).", tier.name()),
            &signed,
        );
    }
    for (tier, status) in [
        (Tier::Public, AckStatus::Reproduced),
        (Tier::Consortium, AckStatus::Mitigated),
    ] {
        let signed = logs.append(
            "google",
            Kind::Ack,
            tier,
            Body::Ack(AckBody {
                target: public.id(),
                status,
                note: "Checked against our production models.".into(),
            }),
            None,
        );
        valid(
            &format!("valid_ack_{}", tier.name()),
            &format!("A {} ack by another member.", tier.name()),
            &signed,
        );
    }
    let mut requests = Vec::new();
    for tier in [Tier::Public, Tier::Consortium] {
        let signed = logs.append(
            "openai",
            Kind::AccessRequest,
            tier,
            Body::AccessRequest(AccessRequestBody {
                target: hazardous.id(),
                reason: "Needed to test our own mitigations.".into(),
                fields: vec![WithheldField::Details, WithheldField::References],
            }),
            None,
        );
        valid(
            &format!("valid_access_request_{}", tier.name()),
            &format!("A {} access request for two withheld fields.", tier.name()),
            &signed,
        );
        requests.push(signed.id());
    }
    for (tier, request) in [Tier::Public, Tier::Consortium].into_iter().zip(&requests) {
        let signed = logs.append(
            "anthropic",
            Kind::AccessDecision,
            tier,
            Body::AccessDecision(AccessDecisionBody {
                request: *request,
                grant: tier == Tier::Public,
                reason: "Decided by the author organization.".into(),
            }),
            None,
        );
        valid(
            &format!("valid_access_decision_{}", tier.name()),
            &format!("A {} access decision by the author.", tier.name()),
            &signed,
        );
    }
    let mut received: Vec<Hash32> = reveals
        .iter()
        .filter(|r| matches!(r.field, WithheldField::Details | WithheldField::References))
        .map(Reveal::commitment)
        .collect();
    received.sort();
    for (tier, request) in [Tier::Public, Tier::Consortium].into_iter().zip(&requests) {
        let signed = logs.append(
            "openai",
            Kind::AccessReceipt,
            tier,
            Body::AccessReceipt(AccessReceiptBody {
                request: *request,
                target: hazardous.id(),
                received: received.clone(),
            }),
            None,
        );
        valid(
            &format!("valid_access_receipt_{}", tier.name()),
            &format!(
                "A {} access receipt listing the received commitments.",
                tier.name()
            ),
            &signed,
        );
    }
    let observer_bulletin = logs.append(
        "safety-institute",
        Kind::Bulletin,
        Tier::Consortium,
        Body::Bulletin(testkit::sample_bulletin("Evaluation result")),
        None,
    );
    valid(
        "valid_observer_bulletin_consortium",
        "An observer may publish at the consortium tier.",
        &observer_bulletin,
    );
    let observer_request = logs.append(
        "academic-lab",
        Kind::AccessRequest,
        Tier::Public,
        Body::AccessRequest(AccessRequestBody {
            target: hazardous.id(),
            reason: "Independent replication.".into(),
            fields: vec![WithheldField::Details],
        }),
        None,
    );
    valid(
        "valid_observer_access_request",
        "An observer may request access (whether the release policy lets it is not a validation rule).",
        &observer_request,
    );
    let purged = Signed {
        envelope: public.envelope.clone(),
        body: None,
    };
    valid(
        "valid_without_body",
        "An envelope without its body (purged, or not fetched yet) verifies on its own.",
        &purged,
    );

    let resigned = fx.resign("anthropic", &public, "vectors/nonce/entries");
    valid(
        "valid_second_signature",
        "valid_bulletin_public's header signed again with a nonce other than RFC 8032's. It verifies on its own \
         (its entry id differs); held next to the first it is equivocation (chain.json, equivocation.json).",
        &resigned,
    );

    wire_vectors(fx, &public, &mut vectors);
    entry_encoding_vectors(fx, &public, &mut vectors);
    entry_signature_vectors(fx, &public, &mut vectors);
    entry_header_rule_vectors(fx, &mut vectors);
    entry_body_vectors(fx, &public, &mut vectors);

    file(
        "Stateless verification of one entry (an envelope and an optional body) against the genesis roster. \
         Run verify_entry(roster, envelope, body) and compare the outcome, the reject reason, and the entry id \
         of accepted entries.",
        vec![("network", text(NETWORK)), ("roster", fx.roster_hex())],
        vectors,
    )
}

/// Wire entries (spec §5.1) and the body rule of gossip: `[envelope, body]`
/// anywhere, `[envelope]` only via sync, `[envelope, null]` nowhere.
fn wire_vectors(fx: &Fixture, public: &Signed, vectors: &mut Vec<Json>) {
    let body = public.body.clone().expect("fixture has a body");
    let full = WireEntry {
        envelope: public.envelope.clone(),
        body: Some(body.clone()),
    }
    .to_bytes();
    let purged = WireEntry {
        envelope: public.envelope.clone(),
        body: None,
    }
    .to_bytes();
    assert_eq!(purged[0], 0x81, "a purged wire entry is a 1-element array");
    let accepted = accept_entry(public);
    for via in ["gossip", "sync"] {
        vectors.push(wire_vector(
            &format!("wire_with_body_{via}"),
            &format!("valid_bulletin_public as [envelope, body] (0x82 ...), received via {via}."),
            &full,
            via,
            accepted.clone_json(),
        ));
    }
    vectors.push(wire_vector(
        "wire_without_body_sync",
        "valid_bulletin_public as the 1-element array [envelope] (0x81 ...), as sync carries an entry whose \
         body was purged.",
        &purged,
        "sync",
        accepted.clone_json(),
    ));
    vectors.push(wire_vector(
        "wire_without_body_gossip",
        "The same 1-element wire entry received via gossip: a gossiped entry must carry its body.",
        &purged,
        "gossip",
        reject("missing_body"),
    ));
    let mut stranger = WireEntry::from_bytes(&purged).expect("fixture decodes");
    stranger.envelope = fx.sign_raw(
        "mallory",
        &fx.key("mallory"),
        NETWORK,
        entry::Envelope::parse(&public.envelope)
            .expect("fixture envelope parses")
            .payload,
    );
    vectors.push(wire_vector(
        "wire_missing_body_precedes_verification",
        "A bodyless wire entry by an organization that is not on the roster, via gossip: the missing body is \
         found before the envelope is checked.",
        &stranger.to_bytes(),
        "gossip",
        reject("missing_body"),
    ));
    let mut null_body = vec![0x82];
    null_body.extend_from_slice(&purged[1..]);
    null_body.push(0xf6);
    for via in ["gossip", "sync"] {
        vectors.push(wire_vector(
            &format!("wire_null_body_{via}"),
            &format!(
                "[envelope, null] via {via}: an absent body is omitted, never null, so this is not the \
                 canonical encoding."
            ),
            &null_body,
            via,
            reject_detail("encoding", "not_canonical"),
        ));
    }
    let mut three = vec![0x83];
    three.extend_from_slice(&full[1..]);
    three.push(0xf6);
    vectors.push(wire_vector(
        "wire_three_elements",
        "[envelope, body, null]: a wire entry has at most two elements.",
        &three,
        "sync",
        reject_detail("encoding", "not_canonical"),
    ));
    vectors.push(wire_vector(
        "wire_empty_array",
        "[]: the envelope is required.",
        &[0x80],
        "sync",
        reject_detail("encoding", "schema"),
    ));
}
