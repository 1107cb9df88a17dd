//! Deterministic fixtures: a consortium with keys derived from names, and
//! sample bodies. Used by tests, test vectors, benchmarks, the offline demo
//! and simulations. The keys are public knowledge — never use them for a
//! real network.

use crate::body::{BulletinBody, Category, Severity};
use crate::ids::Hash32;
use crate::keys::{EncryptionSecret, OrgSecrets, OrgSigningKey};
use crate::roster::{Member, Policy, Role, Roster, RosterDoc, SignedRoster};

/// The seven signatories of the July 2023 White House commitments.
pub const SIGNATORIES: [&str; 7] = [
    "amazon",
    "anthropic",
    "google",
    "inflection",
    "meta",
    "microsoft",
    "openai",
];
/// Two observers: a government AI safety institute and an academic lab.
pub const OBSERVERS: [&str; 2] = ["academic-lab", "safety-institute"];
/// Network id of the fixtures.
pub const NETWORK: &str = "riskmesh-demo";

/// A 32-byte seed derived from a label (SHA-256 of a fixed prefix and the label).
pub fn seed(label: &str) -> [u8; 32] {
    Hash32::of_parts(&[b"riskmesh-testkit-seed\0", label.as_bytes()]).0
}

/// Deterministic secrets for an organization.
pub fn org_secrets(org: &str) -> OrgSecrets {
    OrgSecrets {
        org: org.to_string(),
        signing: OrgSigningKey::from_seed(seed(&format!("{org}/sign"))),
        encryption: EncryptionSecret::from_seed(seed(&format!("{org}/encrypt"))),
    }
}

/// A verified genesis roster and every participant's secrets.
#[derive(Debug)]
pub struct Consortium {
    /// The roster (version 1).
    pub roster: Roster,
    /// Secrets of every participant, in roster order.
    pub orgs: Vec<OrgSecrets>,
}

impl Consortium {
    /// Secrets of `org`. Panics if absent: fixtures are fixed.
    pub fn org(&self, org: &str) -> &OrgSecrets {
        self.orgs
            .iter()
            .find(|o| o.org == org)
            .unwrap_or_else(|| panic!("fixture org {org} missing"))
    }
}

/// The unsigned genesis document for the given participants.
pub fn genesis_doc(network: &str, members: &[&str], observers: &[&str], created_ms: u64) -> RosterDoc {
    let mut participants: Vec<Member> = members
        .iter()
        .map(|o| (o, Role::Member))
        .chain(observers.iter().map(|o| (o, Role::Observer)))
        .map(|(org, role)| member_of(&org_secrets(org), role))
        .collect();
    participants.sort_by(|a, b| a.org.cmp(&b.org));
    RosterDoc {
        network: network.to_string(),
        version: 1,
        prev: None,
        members: participants,
        policy: Policy::default(),
        created_ms,
        retired: None,
    }
}

/// A consortium of `members` and `observers`, genesis signed by every member.
pub fn consortium(network: &str, members: &[&str], observers: &[&str]) -> Consortium {
    let doc = genesis_doc(network, members, observers, 1_690_000_000_000);
    let mut signed = SignedRoster::new(&doc);
    for org in members {
        signed.sign(&org_secrets(org).signing);
    }
    let roster = Roster::genesis(&signed).unwrap_or_else(|e| panic!("fixture roster invalid: {e}"));
    let orgs = doc.members.iter().map(|m| org_secrets(&m.org)).collect();
    Consortium { roster, orgs }
}

/// The seven signatories plus two observers.
pub fn signatories() -> Consortium {
    consortium(NETWORK, &SIGNATORIES, &OBSERVERS)
}

/// Deterministic secrets for generation `generation` of `org`'s keys
/// (generation 0 is [`org_secrets`]; each rotation takes the next).
pub fn rotated_secrets(org: &str, generation: u32) -> OrgSecrets {
    if generation == 0 {
        return org_secrets(org);
    }
    OrgSecrets {
        org: org.to_string(),
        signing: OrgSigningKey::from_seed(seed(&format!("{org}/sign/{generation}"))),
        encryption: EncryptionSecret::from_seed(seed(&format!("{org}/encrypt/{generation}"))),
    }
}

/// The next roster version after `from`: `edit` changes a draft, then every
/// participant key the draft dropped is retired with the valid prefix
/// `last` gives (spec §9.6), and every voter of `from` signs (fixture keys
/// of generation 0 or as `keys` maps them). Returns the signed update.
pub fn next_roster(
    from: &Roster,
    edit: impl FnOnce(&mut RosterDoc),
    last: &dyn Fn(&crate::OrgKey) -> Option<(u64, crate::EntryId)>,
    keys: &[&OrgSecrets],
) -> SignedRoster {
    let mut doc = from.doc().next_draft(from.hash(), from.doc().created_ms + 1);
    edit(&mut doc);
    doc.members.sort_by(|a, b| a.org.cmp(&b.org));
    doc.retire_dropped(from.doc(), last);
    let mut signed = SignedRoster::new(&doc);
    for m in from.doc().members.iter().filter(|m| m.role == Role::Member) {
        match keys.iter().find(|k| k.signing.public() == m.signing_key) {
            Some(k) => signed.sign(&k.signing),
            None => signed.sign(&org_secrets(&m.org).signing),
        }
    }
    signed
}

/// The participant entry of `secrets` with `role` (no nodes, no addresses).
pub fn member_of(secrets: &OrgSecrets, role: Role) -> Member {
    Member {
        org: secrets.org.clone(),
        name: secrets.org.clone(),
        role,
        signing_key: secrets.signing.public(),
        encryption_key: secrets.encryption.public().0,
        nodes: Vec::new(),
        addrs: Vec::new(),
    }
}

/// `n` chained consortium bulletins by the fixture organization `org`
/// (keys from [`org_secrets`]), the i-th timestamped `start_ms + i`.
pub fn bulletins(roster: &Roster, org: &str, n: usize, start_ms: u64) -> Vec<crate::VerifiedEntry> {
    let key = org_secrets(org);
    let mut log = crate::LogWriter::new(roster.network());
    (0..n)
        .map(|i| {
            let draft = crate::Draft {
                kind: crate::Kind::Bulletin,
                tier: crate::Tier::Consortium,
                body: crate::Body::Bulletin(sample_bulletin(&format!("{org} {i}"))),
                recipients: None,
            };
            log.append(&key.signing, roster, &draft, start_ms + i as u64)
                .unwrap_or_else(|e| panic!("fixture entry refused: {e}"))
        })
        .collect()
}

/// A syntactically plausible age header of `stanzas` stanzas, each with a
/// body line of `line` bytes, then the MAC line and 64 bytes of payload:
/// the shape of the header bombs the age-header bound refuses.
pub fn crafted_age_file(stanzas: usize, line: usize) -> Vec<u8> {
    let mut out = crate::age_header::AGE_MAGIC.to_vec();
    for _ in 0..stanzas {
        out.extend_from_slice(b"-> X25519 AAAA\n");
        out.extend(std::iter::repeat_n(b'A', line));
        out.push(b'\n');
    }
    out.extend_from_slice(b"--- AAAA\n");
    out.extend_from_slice(&[0u8; 64]);
    out
}

/// A realistic bulletin body.
pub fn sample_bulletin(title: &str) -> BulletinBody {
    BulletinBody {
        title: title.to_string(),
        summary: "Red-teaming found that a multi-turn role-play prompt bypasses refusal training \
                  for a class of harmful requests."
            .into(),
        category: Some(Category::MisuseJailbreak),
        severity: Some(Severity::High),
        affected: vec!["chat-model-v3".into(), "chat-model-v3-mini".into()],
        details: "Turn 1 establishes a fictional frame; turn 2 asks the character to explain; \
                  the refusal classifier scores each turn independently."
            .into(),
        mitigations: vec!["Score the whole conversation, not single turns.".into()],
        references: vec!["https://atlas.mitre.org/techniques/AML.T0054".into()],
        commitments: vec![1, 2],
        embargo_until_ms: None,
        expires_ms: None,
        supersedes: None,
        withheld: None,
        release: None,
    }
}
