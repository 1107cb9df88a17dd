//! Builds the language-neutral test vectors of `spec/vectors/` from the
//! deterministic fixtures of `testkit`. The generator example writes what
//! [`build_files`] returns; the `vectors` test checks the files on disk are
//! exactly that, so vectors never drift from the code that made them.
//!
//! Every input is fixed: keys come from `testkit` seeds, timestamps are
//! constants, salts are derived from labels, and Ed25519 signatures are
//! deterministic. Expected outcomes are written down here by hand, not
//! computed by the implementation, so the checker test really tests it.
//!
//! One exception: `restricted.json` holds age ciphertexts, and age
//! encryption is randomized. [`build_randomized_file`] builds it; the
//! generator writes it only when it is missing, and the `vectors` test checks
//! it by decrypting rather than by comparing it with a rebuild.
//!
//! One module per vector file (`entries.json` takes three); this module holds
//! the fixtures they share. The file format is described in
//! `spec/vectors/README.md`.

use ed25519_dalek::Signer;
use json::{Json, hx};
use riskmesh_protocol::cbor;
use riskmesh_protocol::entry::{self, HEADER_VERSION};
use riskmesh_protocol::redaction::{self, Redaction, ReleasePolicy, Reveal, WithheldField};
use riskmesh_protocol::testkit::{self, Consortium, NETWORK};
use riskmesh_protocol::{
    BulletinBody, Category, EntryId, Hash32, Header, Kind, OrgKey, OrgSigningKey, Severity, Tier,
};
use sha2::{Digest, Sha512};

mod chain;
mod commitments;
mod ed25519;
mod entries;
mod entries_malformed;
mod entries_rules;
mod equivocation;
mod json;
mod release;
mod restricted;
mod roster;
mod scanner;

// The `vectors` test checks decrypted bodies against it; the generator only
// encrypts it.
#[cfg(test)]
pub use restricted::restricted_bulletin;

/// Every vector file: `(file name, contents)`, in a fixed order.
pub fn build_files() -> Vec<(&'static str, String)> {
    let fx = Fixture::new();
    vec![
        ("cbor.json", scanner::cbor_file().render()),
        ("commitments.json", commitments::commitments_file().render()),
        ("chain.json", chain::chain_file(&fx).render()),
        ("ed25519.json", ed25519::ed25519_file(&fx).render()),
        ("entries.json", entries::entries_file(&fx).render()),
        ("equivocation.json", equivocation::equivocation_file(&fx).render()),
        ("release.json", release::release_file(&fx).render()),
        ("roster.json", roster::roster_file(&fx).render()),
    ]
}

/// The one vector file whose bytes are not reproducible (age encryption is
/// randomized). It is not in [`build_files`]: the generator keeps it once
/// written, and the drift check skips it.
pub const RANDOMIZED_FILE: &str = "restricted.json";

/// Builds a fresh [`RANDOMIZED_FILE`]; every call gives other ciphertexts.
pub fn build_randomized_file() -> String {
    restricted::restricted_file(&Fixture::new()).render()
}

/// Base time of entry vectors: 2023-11-14T22:13:20Z.
const T0: u64 = 1_700_000_000_000;
const MINUTE: u64 = 60_000;

struct Fixture {
    consortium: Consortium,
    /// An organization that is not on the roster.
    mallory: OrgSigningKey,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            consortium: testkit::signatories(),
            mallory: testkit::org_secrets("mallory").signing,
        }
    }

    fn signer(&self, org: &str) -> &OrgSigningKey {
        if org == "mallory" {
            &self.mallory
        } else {
            &self.consortium.org(org).signing
        }
    }

    fn key(&self, org: &str) -> OrgKey {
        self.signer(org).public()
    }

    fn roster_hex(&self) -> Json {
        hx(self.consortium.roster.signed().to_bytes())
    }

    /// Signs `payload` under `org`'s key with the COSE protected header naming
    /// `kid` and the external AAD of `aad_network`: the way to build envelopes
    /// whose header bytes no honest encoder would produce.
    fn sign_raw(&self, org: &str, kid: &OrgKey, aad_network: &str, payload: &[u8]) -> Vec<u8> {
        let key = ed25519_dalek::SigningKey::from_bytes(&self.signer(org).seed());
        let protected = entry::protected_header(kid);
        let signature = key
            .sign(&entry::signing_input(&protected, aad_network, payload))
            .to_bytes();
        entry::encode_envelope(&protected, payload, &signature)
    }

    /// The same envelope signed again by `org` with a nonce other than RFC
    /// 8032's deterministic one (derived from `label`): a second valid
    /// envelope for the same header. Honest authors never make one; an
    /// equivocating author can.
    fn resign(&self, org: &str, signed: &Signed, label: &str) -> Signed {
        let parsed = entry::Envelope::parse(&signed.envelope).expect("fixture envelope parses");
        let message = entry::signing_input(parsed.protected, NETWORK, parsed.payload);
        let signature = self.nondeterministic_signature(org, &message, label);
        assert_ne!(
            signature, parsed.signature,
            "the nonce must differ from RFC 8032's"
        );
        Signed {
            envelope: entry::encode_envelope(parsed.protected, parsed.payload, &signature),
            body: signed.body.clone(),
        }
    }

    /// An Ed25519 signature `(R, S)` by `org` over `message` with nonce `r`
    /// taken from a key derived from `label`: `R = r·B` is that key's public
    /// key, `S = r + SHA-512(R || A || message)·a mod L`. It verifies exactly
    /// like the deterministic signature.
    fn nondeterministic_signature(&self, org: &str, message: &[u8], label: &str) -> [u8; 64] {
        let key = ed25519_dalek::SigningKey::from_bytes(&self.signer(org).seed());
        let nonce = ed25519_dalek::SigningKey::from_bytes(&testkit::seed(label));
        let (a, r) = (key.to_scalar(), nonce.to_scalar());
        let big_r = nonce.verifying_key().to_bytes();
        let digest = Sha512::new()
            .chain_update(big_r)
            .chain_update(key.verifying_key().to_bytes())
            .chain_update(message)
            .finalize();
        // The digest as a little-endian integer mod L, by Horner's rule from
        // the most significant byte, with scalars of the same type as `a`.
        let scalar = |v: u64| same_type(&a, v);
        let k = digest.iter().rev().fold(scalar(0), |acc, &byte| {
            acc * scalar(256) + scalar(u64::from(byte))
        });
        let s = r + k * a;
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&big_r);
        signature[32..].copy_from_slice(&s.to_bytes());
        signature
    }
}

/// `T::from(v)` for the type of `_like`: builds curve scalars without naming
/// the curve crate, which this crate does not depend on directly.
fn same_type<T: From<u64>>(_like: &T, v: u64) -> T {
    T::from(v)
}

/// A header at `seq` for `author` committing to `body`.
fn header(
    author: OrgKey,
    seq: u64,
    prev: Option<EntryId>,
    ts: u64,
    tier: Tier,
    kind: Kind,
    body: &[u8],
) -> Header {
    Header {
        version: HEADER_VERSION,
        network: NETWORK.to_string(),
        author,
        seq,
        prev,
        timestamp_ms: ts,
        tier,
        kind,
        body_hash: Hash32::of(body),
        body_len: body.len() as u64,
        recipients: None,
    }
}

/// A signed envelope with its body.
#[derive(Clone)]
struct Signed {
    envelope: Vec<u8>,
    body: Option<Vec<u8>>,
}

impl Signed {
    fn id(&self) -> EntryId {
        Hash32::of(&self.envelope)
    }
}

fn sign(fx: &Fixture, org: &str, h: &Header, body: &[u8]) -> Signed {
    Signed {
        envelope: entry::sign_header(fx.signer(org), h),
        body: Some(body.to_vec()),
    }
}

fn bulletin_body(title: &str) -> Vec<u8> {
    cbor::encode(&testkit::sample_bulletin(title))
}

/// Stand-in for an age ciphertext: the protocol treats restricted bodies as
/// opaque bytes, so any non-empty bytes will do.
fn ciphertext() -> Vec<u8> {
    let mut out = b"age-encryption.org/v1\n-> X25519 fixture-stanza\n--- fixture-mac\n".to_vec();
    for i in 0u8..4 {
        out.extend_from_slice(&Hash32::of_parts(&[b"riskmesh-vectors-ciphertext", &[i]]).0);
    }
    out
}

fn salts() -> [[u8; 32]; 5] {
    WithheldField::ALL.map(|f| testkit::seed(&format!("vectors/salt/{}", f.name())))
}

/// A full hazardous finding before redaction.
fn hazardous_finding() -> BulletinBody {
    BulletinBody {
        title: "Uplift in pathogen enhancement protocols".into(),
        summary: "A frontier model gives meaningful uplift on wet-lab enhancement steps.".into(),
        category: Some(Category::Bio),
        severity: Some(Severity::Critical),
        affected: vec!["frontier-model-x".into()],
        details: "CANARY: the withheld step-by-step details stay on the author's node.".into(),
        mitigations: vec!["Refusal training on enhancement protocols.".into()],
        references: vec!["internal-report-7".into()],
        commitments: vec![1, 3],
        ..Default::default()
    }
}

/// The redacted summary that is gossiped, and the openings the author keeps.
fn redacted_finding() -> (BulletinBody, Vec<Reveal>) {
    let redaction = Redaction {
        fields: vec![WithheldField::Title, WithheldField::References],
        sanitized_title: Some("Biological uplift finding (title withheld)".into()),
        sanitized_summary: None,
        release: ReleasePolicy::default(),
    };
    redaction::redact(&hazardous_finding(), &redaction, &salts())
}

fn flip(bytes: &[u8], index: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[index] ^= 0x01;
    out
}

/// The position of the signature's first byte in an envelope (it is the last
/// 64 bytes).
fn signature_at(envelope: &[u8]) -> usize {
    envelope.len() - 64
}

fn cbor_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut e = minicbor::Encoder::new(Vec::new());
    // Writing into a Vec cannot fail.
    let _ = e.bytes(bytes);
    e.into_writer()
}

/// `s + L` as 32 little-endian bytes, where L is the order of the Ed25519
/// base point. Any S below 2^256 - L stays in 32 bytes.
fn add_l(s: &[u8; 32]) -> [u8; 32] {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(s[i]) + u16::from(L[i]) + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "S + L overflows 32 bytes");
    out
}
