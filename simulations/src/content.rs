//! What the simulated analysts write: bulletin bodies for every tier and
//! kind, sealed restricted bodies, and redacted hazardous findings. Every
//! restricted plaintext and every withheld hazardous field carries a canary
//! string, so the end-of-run scan can prove none of them reached a node that
//! must not hold it.

use crate::plan::{PubKind, Publication};
use crate::rng::SimRng;
use riskmesh_node::sealed;
use riskmesh_protocol::body::{AckBody, AckStatus, RetractionBody};
use riskmesh_protocol::redaction::{Redaction, ReleasePolicy, Reveal, WithheldField, redact};
use riskmesh_protocol::{
    Body, BulletinBody, Category, Draft, EntryId, Kind, OrgKey, Severity, Tier, testkit,
};

/// Every canary starts with this, so one pass over a file finds them all.
pub const CANARY_PREFIX: &str = "RMCANARY-";

/// Which secret a canary marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanaryKind {
    /// A withheld hazardous field: only the granted set may hold it.
    Hazardous,
    /// A restricted plaintext: stored only as ciphertext, so no node may
    /// hold it in the clear.
    Restricted,
}

/// A canary placed in a publication.
#[derive(Debug, Clone)]
pub struct Canary {
    /// The exact string.
    pub text: String,
    /// What it marks.
    pub kind: CanaryKind,
    /// The publication it is in.
    pub publication: usize,
}

/// A draft ready to publish, with what the harness keeps to check it.
#[derive(Debug, Clone)]
pub struct Material {
    /// The draft for `NodeHandle::publish`.
    pub draft: Draft,
    /// The restricted plaintext (to compare after decryption).
    pub plaintext: Option<Vec<u8>>,
    /// The canary placed, if any.
    pub canary: Option<Canary>,
    /// For a hazardous finding: the full body, the redaction and the
    /// openings the author keeps.
    pub hazardous: Option<HazardousMaterial>,
}

/// The parts of a hazardous finding that never leave the author.
#[derive(Debug, Clone)]
pub struct HazardousMaterial {
    /// The full finding, canary in `details`.
    pub full: BulletinBody,
    /// What is withheld and the release policy.
    pub redaction: Redaction,
    /// The openings of the commitments.
    pub reveals: Vec<Reveal>,
}

const CATEGORIES: [Category; 8] = [
    Category::MisuseJailbreak,
    Category::CyberOffense,
    Category::ModelWeightsSecurity,
    Category::AutonomySelfReplication,
    Category::DeceptionManipulation,
    Category::Privacy,
    Category::BiasFairness,
    Category::Other,
];
const HAZARD_CATEGORIES: [Category; 3] = [Category::Bio, Category::Chem, Category::CyberOffense];

fn canary(rng: &mut SimRng, kind: &str, seed: u64, index: usize) -> String {
    format!("{CANARY_PREFIX}{kind}-{seed:x}-{index}-{:016x}", rng.next_u64())
}

fn base_bulletin(rng: &mut SimRng, title: &str, hazardous: bool) -> BulletinBody {
    let mut body = testkit::sample_bulletin(title);
    body.category = Some(if hazardous {
        HAZARD_CATEGORIES[rng.below(HAZARD_CATEGORIES.len())]
    } else {
        CATEGORIES[rng.below(CATEGORIES.len())]
    });
    body.severity = Some(if hazardous {
        Severity::Critical
    } else {
        Severity::ALL[rng.below(Severity::ALL.len())]
    });
    body.commitments = if rng.chance(0.5) {
        vec![1, 2]
    } else {
        vec![3, 4, 7]
    };
    body
}

/// The org key of an organization (its signing key's public half).
pub fn org_key(org: &str) -> OrgKey {
    testkit::org_secrets(org).signing.public()
}

/// A hazardous finding numbered `index` under `policy`, with a canary in
/// its withheld details: the redacted body to publish, what the author
/// keeps, and the canary.
pub fn hazardous_finding(
    rng: &mut SimRng,
    seed: u64,
    index: usize,
    title: &str,
    policy: ReleasePolicy,
) -> (BulletinBody, HazardousMaterial, Canary) {
    let mut full = base_bulletin(rng, title, true);
    let c = canary(rng, "H", seed, index);
    full.details = format!("Synthesis route withheld by policy; marker {c}.");
    full.references = vec![format!("internal-eval-{}", rng.next_u64() % 10_000)];
    let redaction = Redaction {
        fields: vec![WithheldField::Details, WithheldField::References],
        sanitized_title: None,
        sanitized_summary: None,
        release: policy,
    };
    let mut salts = [[0u8; 32]; 5];
    for s in &mut salts {
        *s = rng.bytes32();
    }
    let (redacted, reveals) = redact(&full, &redaction, &salts);
    let canary = Canary {
        text: c,
        kind: CanaryKind::Hazardous,
        publication: index,
    };
    (
        redacted,
        HazardousMaterial {
            full,
            redaction,
            reveals,
        },
        canary,
    )
}

/// Builds publication `p` by `orgs[p.node]`; `target` is the id of the
/// publication it refers to (corrections, retractions, acks).
pub fn material(
    seed: u64,
    p: &Publication,
    orgs: &[String],
    target: Option<EntryId>,
) -> Result<Material, String> {
    let mut rng = SimRng::derive(seed, &format!("publication/{}", p.index));
    let mut out = Material {
        draft: Draft {
            kind: Kind::Bulletin,
            tier: p.tier,
            body: Body::Bulletin(BulletinBody::default()),
            recipients: None,
        },
        plaintext: None,
        canary: None,
        hazardous: None,
    };
    let need = || target.ok_or_else(|| "the entry it refers to was not published".to_string());
    match p.kind {
        PubKind::Bulletin => match p.tier {
            Tier::Public | Tier::Consortium => {
                out.draft.body = Body::Bulletin(base_bulletin(&mut rng, &p.title, false));
            }
            Tier::Restricted => {
                let mut body = base_bulletin(&mut rng, &p.title, false);
                let c = canary(&mut rng, "R", seed, p.index);
                body.details = format!("{} Restricted detail {c}.", body.details);
                let plaintext = riskmesh_protocol::cbor::encode(&body);
                let keys: Vec<_> = p
                    .recipients
                    .iter()
                    .map(|&n| testkit::org_secrets(&orgs[n]).encryption.public())
                    .collect();
                let sealed = sealed::seal(&keys, &plaintext).map_err(|e| e.to_string())?;
                out.draft.body = Body::Encrypted(sealed);
                out.draft.recipients = Some(p.recipients.iter().map(|&n| org_key(&orgs[n])).collect());
                out.plaintext = Some(plaintext);
                out.canary = Some(Canary {
                    text: c,
                    kind: CanaryKind::Restricted,
                    publication: p.index,
                });
            }
            Tier::Hazardous => {
                let (redacted, material, c) =
                    hazardous_finding(&mut rng, seed, p.index, &p.title, ReleasePolicy::default());
                out.draft.body = Body::Bulletin(redacted);
                out.canary = Some(c);
                out.hazardous = Some(material);
            }
        },
        PubKind::Correction { .. } => {
            out.draft.kind = Kind::Correction;
            let mut body = base_bulletin(&mut rng, &p.title, false);
            body.summary = format!("Corrected: {}", body.summary);
            body.supersedes = Some(need()?);
            out.draft.body = Body::Bulletin(body);
        }
        PubKind::Retraction { purge, .. } => {
            out.draft.kind = Kind::Retraction;
            out.draft.body = Body::Retraction(RetractionBody {
                target: need()?,
                reason: if purge {
                    "Published in error; please drop the body.".into()
                } else {
                    "Could not be reproduced.".into()
                },
                purge,
            });
        }
        PubKind::Ack { .. } => {
            out.draft.kind = Kind::Ack;
            let status = [
                AckStatus::Reproduced,
                AckStatus::NotAffected,
                AckStatus::Mitigated,
            ][rng.below(3)];
            out.draft.body = Body::Ack(AckBody {
                target: need()?,
                status,
                note: "Checked against our deployed models.".into(),
            });
        }
    }
    Ok(out)
}

/// Every canary occurrence in `bytes`: the canary strings found (a prefix
/// match extended over the canary alphabet).
pub fn find_canaries(bytes: &[u8]) -> Vec<String> {
    let prefix = CANARY_PREFIX.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + prefix.len() <= bytes.len() {
        if bytes[i] == prefix[0] && &bytes[i..i + prefix.len()] == prefix {
            let end = bytes[i..]
                .iter()
                .position(|b| !(b.is_ascii_alphanumeric() || *b == b'-'))
                .map_or(bytes.len(), |p| i + p);
            out.push(String::from_utf8_lossy(&bytes[i..end]).into_owned());
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canaries_are_found_and_hazardous_bodies_withhold_them() {
        let orgs: Vec<String> = ["amazon", "google"].iter().map(|s| s.to_string()).collect();
        let p = Publication {
            index: 3,
            at_ms: 0,
            node: 0,
            tier: Tier::Hazardous,
            kind: PubKind::Bulletin,
            recipients: Vec::new(),
            title: "t".into(),
            scripted_hazardous: false,
        };
        let m = material(9, &p, &orgs, None).expect("material");
        let canary = m.canary.expect("canary").text;
        let gossiped = m.draft.body.to_bytes();
        assert!(
            find_canaries(&gossiped).is_empty(),
            "the redacted body holds no canary"
        );
        let full = riskmesh_protocol::cbor::encode(&m.hazardous.expect("full").full);
        assert_eq!(find_canaries(&full), vec![canary]);
        let restricted = Publication {
            tier: Tier::Restricted,
            recipients: vec![0, 1],
            ..p
        };
        let m = material(9, &restricted, &orgs, None).expect("material");
        assert!(find_canaries(&m.draft.body.to_bytes()).is_empty(), "sealed");
        let opened = sealed::open(
            &testkit::org_secrets("google").encryption,
            &m.draft.body.to_bytes(),
        )
        .expect("a recipient opens");
        assert_eq!(Some(opened.to_vec()), m.plaintext);
    }
}
