//! `commitments.json`: redaction commitments and their openings.

use super::json::{Json, accept, accept_with, file, hx, text, vector};
use super::redacted_finding;
use riskmesh_protocol::cbor;
use riskmesh_protocol::redaction::{Reveal, WithheldField};

pub(super) fn reveal_json(r: &Reveal) -> Json {
    Json::Obj(vec![
        ("field", text(r.field.name())),
        ("salt", hx(r.salt)),
        ("value", hx(&r.value)),
    ])
}

pub(super) fn commitments_file() -> Json {
    let (redacted, reveals) = redacted_finding();
    let body = hx(cbor::encode(&redacted));
    let mut vectors = Vec::new();
    for r in &reveals {
        vectors.push(vector(
            &format!("commitment_{}", r.field.name()),
            "commitment",
            &format!(
                "The commitment to the withheld {} field of the hazardous fixture: SHA-256(\"riskmesh-commit-v1\\0\" \
                 || field code || salt || value).",
                r.field.name()
            ),
            vec![
                ("field", text(r.field.name())),
                ("salt", hx(r.salt)),
                ("value", hx(&r.value)),
            ],
            accept_with(vec![("commitment", hx(r.commitment().0))]),
        ));
    }
    let reveal = |name: &str, description: &str, body: &Json, openings: &[Reveal], expected: Json| {
        vector(
            name,
            "reveal",
            description,
            vec![
                ("redacted_body", body.clone_json()),
                ("reveals", Json::Arr(openings.iter().map(reveal_json).collect())),
            ],
            expected,
        )
    };
    let rejected = |reason: &str, field: WithheldField| {
        Json::Obj(vec![
            ("outcome", text("reject")),
            ("reason", text(reason)),
            ("field", text(field.name())),
        ])
    };
    vectors.push(reveal(
        "reveal_all",
        "Every withheld field opened with the author's salts: all match.",
        &body,
        &reveals,
        accept(),
    ));
    vectors.push(reveal(
        "reveal_details_only",
        "Only the details opened (a release may cover a subset).",
        &body,
        &reveals[..1],
        accept(),
    ));
    let mut changed = reveals[0].clone();
    let last = changed.value.len() - 1;
    changed.value[last] ^= 0x01;
    vectors.push(reveal(
        "reveal_value_changed",
        "The details value with one bit changed in its last byte.",
        &body,
        &[changed],
        rejected("mismatch", WithheldField::Details),
    ));
    let mut salted = reveals[0].clone();
    salted.salt[0] ^= 0x01;
    vectors.push(reveal(
        "reveal_salt_changed",
        "The details opening with one bit of the salt changed.",
        &body,
        &[salted],
        rejected("mismatch", WithheldField::Details),
    ));
    let mut relabelled = reveals[0].clone();
    relabelled.field = WithheldField::Title;
    vectors.push(reveal(
        "reveal_wrong_field",
        "The details opening presented as the (withheld) title: the field code is hashed, so it does not match.",
        &body,
        &[relabelled],
        rejected("mismatch", WithheldField::Title),
    ));
    let mut not_withheld = reveals[0].clone();
    not_withheld.field = WithheldField::Summary;
    vectors.push(reveal(
        "reveal_field_not_withheld",
        "An opening for the summary, which this body does not withhold.",
        &body,
        &[not_withheld],
        rejected("not_withheld", WithheldField::Summary),
    ));
    vectors.push(reveal(
        "reveal_duplicate",
        "The details opened twice.",
        &body,
        &[reveals[0].clone(), reveals[0].clone()],
        rejected("duplicate", WithheldField::Details),
    ));
    // An author that committed to bytes that are not canonical CBOR text.
    let mut malformed = reveals[0].clone();
    malformed.value = vec![0x78, 0x03, b'a', b'b', b'c'];
    let mut committed_badly = redacted.clone();
    if let Some(withheld) = committed_badly.withheld.as_mut() {
        withheld[0].commitment = malformed.commitment();
    }
    vectors.push(reveal(
        "reveal_malformed_value",
        "The commitment opens, but to a value that is not canonical CBOR (text \"abc\" with a non-shortest length).",
        &hx(cbor::encode(&committed_badly)),
        &[malformed],
        rejected("malformed", WithheldField::Details),
    ));

    file(
        "Redaction commitments of the hazardous tier: computing a commitment, and checking openings (reveals) \
         against a redacted body's commitments.",
        vec![],
        vectors,
    )
}
