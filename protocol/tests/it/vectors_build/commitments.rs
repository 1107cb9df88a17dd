//! `commitments.json`: redaction commitments and their openings.

use super::json::{Json, accept, accept_with, file, hx, text, vector};
use super::{redacted_finding, salts};
use riskmesh_protocol::cbor;
use riskmesh_protocol::limits::{MAX_LIST_ITEMS, MAX_TEXT_BYTES, MAX_TITLE_BYTES};
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

    // Openings that match their commitments but exceed what a bulletin body
    // may carry in that field.
    let mut over_limit =
        |name: &str, description: &str, field: WithheldField, value: Vec<u8>, expected: Json| {
            let opening = Reveal {
                field,
                salt: salts()[field as usize],
                value,
            };
            let mut committed = redacted.clone();
            if let Some(withheld) = committed.withheld.as_mut() {
                let slot = withheld
                    .iter_mut()
                    .find(|w| w.field == field)
                    .expect("the fixture withholds the field");
                slot.commitment = opening.commitment();
            }
            vectors.push(reveal(
                name,
                description,
                &hx(cbor::encode(&committed)),
                &[opening],
                expected,
            ));
        };
    over_limit(
        "reveal_title_at_limit",
        "The commitment opens to a 256-byte title, the longest a bulletin title may be.",
        WithheldField::Title,
        cbor::encode(&"t".repeat(MAX_TITLE_BYTES)),
        accept(),
    );
    over_limit(
        "reveal_title_over_limit",
        "The commitment opens to a 257-byte title: longer than any bulletin may carry.",
        WithheldField::Title,
        cbor::encode(&"t".repeat(MAX_TITLE_BYTES + 1)),
        rejected("over_limit", WithheldField::Title),
    );
    over_limit(
        "reveal_references_too_many_items",
        "The commitment opens to 65 references, one more than a list may hold.",
        WithheldField::References,
        cbor::encode(
            &(0..=MAX_LIST_ITEMS)
                .map(|i| format!("ref-{i}"))
                .collect::<Vec<_>>(),
        ),
        rejected("over_limit", WithheldField::References),
    );
    over_limit(
        "reveal_references_item_too_long",
        "The commitment opens to one reference of 2049 bytes, one over the item limit.",
        WithheldField::References,
        cbor::encode(&vec!["r".repeat(MAX_TEXT_BYTES + 1)]),
        rejected("over_limit", WithheldField::References),
    );

    file(
        "Redaction commitments of the hazardous tier: computing a commitment, and checking openings (reveals) \
         against a redacted body's commitments.",
        vec![],
        vectors,
    )
}
