//! `restricted.json`: restricted entries whose bodies are real age
//! ciphertexts of a known bulletin, with the recipients' and non-recipients'
//! age identities.
//!
//! age encryption is randomized (an ephemeral X25519 share per recipient, a
//! random file key and payload nonce), so this file cannot be rebuilt byte
//! for byte: the generator writes it only when it is missing, and the checker
//! verifies it by decrypting instead of comparing it with a rebuild.

use super::entries::Logs;
use super::json::{Json, accept_with, file, hx, text, vector};
use super::{Fixture, Signed};
use riskmesh_protocol::testkit::{self, NETWORK};
use riskmesh_protocol::{Body, BulletinBody, Category, Kind, Severity, Tier, cbor};
use std::str::FromStr;

/// The bulletin every ciphertext of the file encrypts.
pub fn restricted_bulletin() -> BulletinBody {
    BulletinBody {
        title: "Credential exfiltration through a browsing agent".into(),
        summary: "An agent with browsing tools can be steered by a web page into sending stored credentials \
                  to an attacker-controlled form."
            .into(),
        category: Some(Category::CyberOffense),
        severity: Some(Severity::High),
        affected: vec!["browsing-agent-v2".into()],
        details: "The page hides instructions in an HTML comment; the agent treats them as the user's."
            .into(),
        mitigations: vec!["Never let page content fill credential fields.".into()],
        references: vec![],
        commitments: vec![1, 2],
        ..Default::default()
    }
}

/// Encrypts `plaintext` with age to the roster encryption keys of `orgs`, in
/// the binary (not armored) format.
fn seal(orgs: &[&str], plaintext: &[u8]) -> Vec<u8> {
    let recipients: Vec<age::x25519::Recipient> = orgs
        .iter()
        .map(|org| {
            let recipient = testkit::org_secrets(org).encryption.public().to_age_recipient();
            age::x25519::Recipient::from_str(&recipient).expect("age parses a fixture recipient")
        })
        .collect();
    let encryptor = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        .expect("at least one recipient");
    let mut out = Vec::new();
    let mut writer = encryptor.wrap_output(&mut out).expect("writing to memory");
    std::io::Write::write_all(&mut writer, plaintext).expect("writing to memory");
    writer.finish().expect("writing to memory");
    out
}

pub(super) fn restricted_file(fx: &Fixture) -> Json {
    let mut logs = Logs::new(fx);
    let plaintext = cbor::encode(&restricted_bulletin());
    let mut publish = |recipients: &[&str]| -> Signed {
        logs.append(
            "anthropic",
            Kind::Bulletin,
            Tier::Restricted,
            Body::Encrypted(seal(recipients, &plaintext)),
            Some(recipients.iter().map(|org| fx.key(org)).collect()),
        )
    };
    let one = publish(&["google"]);
    let three = publish(&["anthropic", "google", "openai"]);
    let mut vectors = Vec::new();
    let mut case = |name: &str, description: &str, entry: &Signed, recipients: &[&str], org: &str| {
        let mut keys: Vec<_> = recipients.iter().map(|o| fx.key(o)).collect();
        keys.sort();
        let mut expected = vec![
            ("entry_id", hx(entry.id().0)),
            ("recipients", Json::Arr(keys.iter().map(|k| hx(k.0)).collect())),
        ];
        let expected = if recipients.contains(&org) {
            expected.push(("plaintext", hx(&plaintext)));
            accept_with(expected)
        } else {
            let mut fields = vec![("outcome", text("reject")), ("reason", text("cannot_decrypt"))];
            fields.append(&mut expected);
            Json::Obj(fields)
        };
        vectors.push(vector(
            name,
            "restricted",
            description,
            vec![
                ("envelope", hx(&entry.envelope)),
                ("body", entry.body.as_ref().map_or(Json::Null, hx)),
                ("org", text(org)),
                (
                    "identity",
                    text(&testkit::org_secrets(org).encryption.to_age_identity()),
                ),
            ],
            expected,
        ));
    };
    case(
        "one_recipient_reads",
        "anthropic's restricted bulletin to google alone; google's identity decrypts it.",
        &one,
        &["google"],
        "google",
    );
    case(
        "one_recipient_author_cannot_read",
        "The same entry read with the author's own identity: anthropic did not list itself, so it cannot \
         decrypt its own body.",
        &one,
        &["google"],
        "anthropic",
    );
    for org in ["anthropic", "google", "openai"] {
        case(
            &format!("three_recipients_{org}_reads"),
            &format!(
                "anthropic's restricted bulletin to anthropic, google and openai (the author lists itself, as \
                 the reference node does); {org}'s identity decrypts it."
            ),
            &three,
            &["anthropic", "google", "openai"],
            org,
        );
    }
    case(
        "three_recipients_member_cannot_read",
        "The three-recipient entry read with meta's identity: a member, but not a recipient.",
        &three,
        &["anthropic", "google", "openai"],
        "meta",
    );
    case(
        "three_recipients_observer_cannot_read",
        "The three-recipient entry read with the observer safety-institute's identity.",
        &three,
        &["anthropic", "google", "openai"],
        "safety-institute",
    );
    file(
        "Restricted bodies: age v1 (binary) ciphertexts of a known bulletin body, encrypted to every recipient \
         the signed header lists. Built once and kept: age encryption is randomized, so checkers decrypt \
         instead of comparing with a rebuild.",
        vec![("network", text(NETWORK)), ("roster", fx.roster_hex())],
        vectors,
    )
}
