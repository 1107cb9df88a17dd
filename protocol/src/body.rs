//! Entry bodies: the bulletin and the control entries, their taxonomy, and
//! the rules a body must satisfy for its kind and tier.

use crate::cbor::{self, CborError};
use crate::entry::{Kind, Tier};
use crate::ids::{EntryId, OrgKey};
use crate::limits::{
    MAX_BODY_BYTES, MAX_DETAILS_BYTES, MAX_LIST_ITEMS, MAX_RECIPIENTS, MAX_SUMMARY_BYTES, MAX_TEXT_BYTES,
    MAX_TITLE_BYTES,
};
use crate::redaction::{ReleasePolicy, WithheldCommitment, WithheldField};
use minicbor::{Decode, Encode};

/// The closed risk taxonomy. Each category maps to an AVID or MITRE ATLAS
/// reference where a close one exists (see [`Category::reference`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
#[cbor(index_only)]
pub enum Category {
    /// Biological weapons uplift.
    #[n(0)]
    Bio,
    /// Chemical weapons uplift.
    #[n(1)]
    Chem,
    /// Nuclear or radiological weapons uplift.
    #[n(2)]
    NuclearRadiological,
    /// Offensive cyber capability.
    #[n(3)]
    CyberOffense,
    /// Security of model weights (theft, exfiltration).
    #[n(4)]
    ModelWeightsSecurity,
    /// Autonomous operation, self-replication, resource acquisition.
    #[n(5)]
    AutonomySelfReplication,
    /// Deception or manipulation of users or evaluators.
    #[n(6)]
    DeceptionManipulation,
    /// Privacy: leakage of personal or training data.
    #[n(7)]
    Privacy,
    /// Bias and fairness.
    #[n(8)]
    BiasFairness,
    /// Misuse and jailbreaks of safeguards.
    #[n(9)]
    MisuseJailbreak,
    /// Anything else.
    #[n(10)]
    Other,
}

impl Category {
    /// All categories in wire order.
    pub const ALL: [Category; 11] = [
        Category::Bio,
        Category::Chem,
        Category::NuclearRadiological,
        Category::CyberOffense,
        Category::ModelWeightsSecurity,
        Category::AutonomySelfReplication,
        Category::DeceptionManipulation,
        Category::Privacy,
        Category::BiasFairness,
        Category::MisuseJailbreak,
        Category::Other,
    ];

    /// Lowercase name as used in the CLI and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Category::Bio => "bio",
            Category::Chem => "chem",
            Category::NuclearRadiological => "nuclear-radiological",
            Category::CyberOffense => "cyber-offense",
            Category::ModelWeightsSecurity => "model-weights-security",
            Category::AutonomySelfReplication => "autonomy-self-replication",
            Category::DeceptionManipulation => "deception-manipulation",
            Category::Privacy => "privacy",
            Category::BiasFairness => "bias-fairness",
            Category::MisuseJailbreak => "misuse-jailbreak",
            Category::Other => "other",
        }
    }

    /// Parses a name from [`Category::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The closest external reference: an AVID taxonomy class or a MITRE
    /// ATLAS technique. `None` where no established class fits; CBRN uplift
    /// falls under ATLAS's broad "External Harms" only. STIX exports turn
    /// ATLAS techniques into `attack-pattern` objects and AVID classes into
    /// `vulnerability` objects carrying this reference.
    pub fn external_reference(self) -> Option<ExternalReference> {
        const EXTERNAL_HARMS: ExternalReference = ExternalReference {
            taxonomy: Taxonomy::MitreAtlas,
            id: "AML.T0048",
            name: "External Harms",
        };
        let (taxonomy, id, name) = match self {
            Category::Bio | Category::Chem | Category::NuclearRadiological | Category::CyberOffense => {
                return Some(EXTERNAL_HARMS);
            }
            Category::ModelWeightsSecurity => (Taxonomy::Avid, "S0502", "Model theft"),
            Category::Privacy => (Taxonomy::MitreAtlas, "AML.T0057", "LLM Data Leakage"),
            Category::BiasFairness => (Taxonomy::Avid, "E0100", "Bias/Discrimination"),
            Category::MisuseJailbreak => (Taxonomy::MitreAtlas, "AML.T0054", "LLM Jailbreak"),
            Category::AutonomySelfReplication | Category::DeceptionManipulation | Category::Other => {
                return None;
            }
        };
        Some(ExternalReference { taxonomy, id, name })
    }

    /// [`Category::external_reference`] as one line of text, for example
    /// `MITRE ATLAS AML.T0054 (LLM Jailbreak)`.
    pub fn reference(self) -> Option<String> {
        self.external_reference().map(|r| r.to_string())
    }
}

/// A published taxonomy that a [`Category`] maps into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Taxonomy {
    /// MITRE ATLAS (Adversarial Threat Landscape for AI Systems) techniques.
    MitreAtlas,
    /// The AI Vulnerability Database's (AVID) taxonomy.
    Avid,
}

impl Taxonomy {
    /// The taxonomy's name as a STIX external reference's `source_name`.
    pub fn source_name(self) -> &'static str {
        match self {
            Taxonomy::MitreAtlas => "mitre-atlas",
            Taxonomy::Avid => "avid",
        }
    }
}

/// One class or technique of a published taxonomy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExternalReference {
    /// Which taxonomy.
    pub taxonomy: Taxonomy,
    /// Its id there (`AML.T0054`, `S0502`).
    pub id: &'static str,
    /// Its name there.
    pub name: &'static str,
}

impl ExternalReference {
    /// The page describing it, where the taxonomy has stable per-id pages
    /// (ATLAS does; AVID's taxonomy pages are not addressed by id).
    pub fn url(&self) -> Option<String> {
        match self.taxonomy {
            Taxonomy::MitreAtlas => Some(format!("https://atlas.mitre.org/techniques/{}", self.id)),
            Taxonomy::Avid => None,
        }
    }
}

impl std::fmt::Display for ExternalReference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match self.taxonomy {
            Taxonomy::MitreAtlas => "MITRE ATLAS",
            Taxonomy::Avid => "AVID",
        };
        write!(f, "{source} {} ({})", self.id, self.name)
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
#[cbor(index_only)]
pub enum Severity {
    /// For information.
    #[n(0)]
    Info,
    /// Low.
    #[n(1)]
    Low,
    /// Medium.
    #[n(2)]
    Medium,
    /// High.
    #[n(3)]
    High,
    /// Critical.
    #[n(4)]
    Critical,
}

impl Severity {
    /// All severities, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses a name from [`Severity::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// The body of a bulletin or correction. At the hazardous tier it is the
/// redacted summary: withheld fields are empty here and bound by `withheld`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Encode, Decode)]
#[cbor(map)]
pub struct BulletinBody {
    /// Short title.
    #[n(0)]
    pub title: String,
    /// What was found, for a reader who will not see the details.
    #[n(1)]
    pub summary: String,
    /// Risk category.
    #[n(2)]
    pub category: Option<Category>,
    /// Severity.
    #[n(3)]
    pub severity: Option<Severity>,
    /// Affected systems or models.
    #[n(4)]
    pub affected: Vec<String>,
    /// Full technical details (empty at the hazardous tier).
    #[n(5)]
    pub details: String,
    /// Mitigations.
    #[n(6)]
    pub mitigations: Vec<String>,
    /// References (URLs, report ids).
    #[n(7)]
    pub references: Vec<String>,
    /// The 2023 White House voluntary commitments (1–8) the bulletin concerns, ascending.
    #[n(8)]
    pub commitments: Vec<u8>,
    /// Readers should not act publicly before this time (Unix ms).
    #[n(9)]
    pub embargo_until_ms: Option<u64>,
    /// The bulletin stops being relevant at this time (Unix ms).
    #[n(10)]
    pub expires_ms: Option<u64>,
    /// The entry this one supersedes; present exactly for corrections.
    #[n(11)]
    pub supersedes: Option<EntryId>,
    /// Commitments to withheld fields, ascending by field; present exactly at
    /// the hazardous tier.
    #[n(12)]
    pub withheld: Option<Vec<WithheldCommitment>>,
    /// Who may request and who must approve release; present exactly at the
    /// hazardous tier.
    #[n(13)]
    pub release: Option<ReleasePolicy>,
}

/// How an acknowledging organization relates to the finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cbor(index_only)]
pub enum AckStatus {
    /// The finding was reproduced.
    #[n(0)]
    Reproduced,
    /// The acknowledger's systems are not affected.
    #[n(1)]
    NotAffected,
    /// The acknowledger has mitigated it.
    #[n(2)]
    Mitigated,
}

/// Body of a retraction.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct RetractionBody {
    /// The retracted entry, by the same author.
    #[n(0)]
    pub target: EntryId,
    /// Why.
    #[n(1)]
    pub reason: String,
    /// Whether every node should drop the target's body (keeping its header).
    #[n(2)]
    pub purge: bool,
}

/// Body of an ack.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct AckBody {
    /// The acknowledged entry.
    #[n(0)]
    pub target: EntryId,
    /// What the acknowledger observed.
    #[n(1)]
    pub status: AckStatus,
    /// Free text.
    #[n(2)]
    pub note: String,
}

/// Body of an access request for a hazardous entry's withheld fields.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct AccessRequestBody {
    /// The hazardous entry.
    #[n(0)]
    pub target: EntryId,
    /// Justification, visible to all.
    #[n(1)]
    pub reason: String,
    /// Which withheld fields are requested, ascending.
    #[n(2)]
    pub fields: Vec<WithheldField>,
}

/// Body of an access decision.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct AccessDecisionBody {
    /// The access request decided on.
    #[n(0)]
    pub request: EntryId,
    /// Grant (`true`) or deny.
    #[n(1)]
    pub grant: bool,
    /// Why.
    #[n(2)]
    pub reason: String,
}

/// Body of an access receipt.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct AccessReceiptBody {
    /// The access request that was fulfilled.
    #[n(0)]
    pub request: EntryId,
    /// The hazardous entry whose fields were received.
    #[n(1)]
    pub target: EntryId,
    /// The commitments whose openings were received and verified, ascending.
    #[n(2)]
    pub received: Vec<crate::ids::Hash32>,
}

/// A decoded body of any kind.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
// Bodies are short-lived values built once per entry; boxing the common
// variant would cost an allocation for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Body {
    /// Bulletin or correction in plaintext (public, consortium, or the
    /// redacted hazardous summary).
    Bulletin(BulletinBody),
    /// A restricted body: age ciphertext, opaque to the protocol.
    Encrypted(Vec<u8>),
    /// Retraction.
    Retraction(RetractionBody),
    /// Ack.
    Ack(AckBody),
    /// Access request.
    AccessRequest(AccessRequestBody),
    /// Access decision.
    AccessDecision(AccessDecisionBody),
    /// Access receipt.
    AccessReceipt(AccessReceiptBody),
}

impl Body {
    /// Canonical bytes of the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Body::Bulletin(b) => cbor::encode(b),
            Body::Encrypted(b) => b.clone(),
            Body::Retraction(b) => cbor::encode(b),
            Body::Ack(b) => cbor::encode(b),
            Body::AccessRequest(b) => cbor::encode(b),
            Body::AccessDecision(b) => cbor::encode(b),
            Body::AccessReceipt(b) => cbor::encode(b),
        }
    }

    /// The entry this body refers to, if any: the entry a correction
    /// supersedes, the entry a retraction retracts or an ack acknowledges,
    /// the hazardous entry an access request asks about, the access request
    /// an access decision decides, and the hazardous entry an access receipt
    /// reports on (its `request` is a second reference, read from the body).
    /// A bulletin refers to nothing, and neither does a restricted body,
    /// which is opaque ciphertext here.
    ///
    /// This is the one mapping from bodies to references: the store's
    /// `target` column, the audit trail and the API's views all read it.
    pub fn target(&self) -> Option<EntryId> {
        match self {
            Body::Bulletin(b) => b.supersedes,
            Body::Encrypted(_) => None,
            Body::Retraction(b) => Some(b.target),
            Body::Ack(b) => Some(b.target),
            Body::AccessRequest(b) => Some(b.target),
            Body::AccessDecision(b) => Some(b.request),
            Body::AccessReceipt(b) => Some(b.target),
        }
    }

    /// Decodes and checks a body for an entry's kind and tier.
    pub fn decode(kind: Kind, tier: Tier, bytes: &[u8]) -> Result<Body, BodyError> {
        if bytes.len() > MAX_BODY_BYTES {
            return Err(BodyError::Cbor(CborError::Oversize {
                len: bytes.len(),
                limit: MAX_BODY_BYTES,
            }));
        }
        let body = match kind {
            Kind::Bulletin | Kind::Correction if tier == Tier::Restricted => {
                if bytes.is_empty() {
                    return Err(BodyError::Invalid("restricted body is empty".into()));
                }
                Body::Encrypted(bytes.to_vec())
            }
            Kind::Bulletin | Kind::Correction => {
                let body: BulletinBody = cbor::decode_canonical(bytes, MAX_BODY_BYTES)?;
                check_bulletin(&body, kind, tier)?;
                Body::Bulletin(body)
            }
            Kind::Retraction => {
                let body: RetractionBody = cbor::decode_canonical(bytes, MAX_BODY_BYTES)?;
                text(&body.reason, MAX_TEXT_BYTES, "reason")?;
                Body::Retraction(body)
            }
            Kind::Ack => {
                let body: AckBody = cbor::decode_canonical(bytes, MAX_BODY_BYTES)?;
                text(&body.note, MAX_TEXT_BYTES, "note")?;
                Body::Ack(body)
            }
            Kind::AccessRequest => {
                let body: AccessRequestBody = cbor::decode_canonical(bytes, MAX_BODY_BYTES)?;
                text(&body.reason, MAX_TEXT_BYTES, "reason")?;
                if body.fields.is_empty() || !strictly_ascending(&body.fields) {
                    return Err(BodyError::Invalid(
                        "requested fields must be non-empty, ascending and unique".into(),
                    ));
                }
                Body::AccessRequest(body)
            }
            Kind::AccessDecision => {
                let body: AccessDecisionBody = cbor::decode_canonical(bytes, MAX_BODY_BYTES)?;
                text(&body.reason, MAX_TEXT_BYTES, "reason")?;
                Body::AccessDecision(body)
            }
            Kind::AccessReceipt => {
                let body: AccessReceiptBody = cbor::decode_canonical(bytes, MAX_BODY_BYTES)?;
                if body.received.is_empty()
                    || body.received.len() > MAX_LIST_ITEMS
                    || !strictly_ascending(&body.received)
                {
                    return Err(BodyError::Invalid(
                        "received commitments must be non-empty, ascending and unique".into(),
                    ));
                }
                Body::AccessReceipt(body)
            }
        };
        Ok(body)
    }
}

/// Why a body is not acceptable for its header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// Not canonical CBOR of the expected structure.
    #[error("body encoding: {0}")]
    Cbor(#[from] CborError),
    /// A field breaks a body rule; the message names it.
    #[error("body rule: {0}")]
    Invalid(String),
    /// A hazardous body carries details or lacks commitments.
    #[error("hazardous rule: {0}")]
    Hazardous(String),
}

impl BodyError {
    /// Stable name for metrics, logs and test vectors (the `detail` of a
    /// `body` reject).
    pub fn name(&self) -> &'static str {
        match self {
            BodyError::Cbor(_) => "encoding",
            BodyError::Invalid(_) => "invalid",
            BodyError::Hazardous(_) => "hazardous",
        }
    }
}

fn text(value: &str, limit: usize, field: &str) -> Result<(), BodyError> {
    if value.len() > limit {
        return Err(BodyError::Invalid(format!(
            "{field} is {} bytes, over the limit of {limit}",
            value.len()
        )));
    }
    Ok(())
}

fn list(values: &[String], field: &str) -> Result<(), BodyError> {
    if values.len() > MAX_LIST_ITEMS {
        return Err(BodyError::Invalid(format!(
            "{field} has {} items, over the limit of {MAX_LIST_ITEMS}",
            values.len()
        )));
    }
    values.iter().try_for_each(|v| text(v, MAX_TEXT_BYTES, field))
}

pub(crate) fn strictly_ascending<T: Ord>(values: &[T]) -> bool {
    values.windows(2).all(|w| w[0] < w[1])
}

/// The rules of a plaintext bulletin body (see spec §Bodies).
pub fn check_bulletin(body: &BulletinBody, kind: Kind, tier: Tier) -> Result<(), BodyError> {
    text(&body.title, MAX_TITLE_BYTES, "title")?;
    if body.title.trim().is_empty() {
        return Err(BodyError::Invalid("title is empty".into()));
    }
    text(&body.summary, MAX_SUMMARY_BYTES, "summary")?;
    text(&body.details, MAX_DETAILS_BYTES, "details")?;
    if body.category.is_none() || body.severity.is_none() {
        return Err(BodyError::Invalid("category and severity are required".into()));
    }
    list(&body.affected, "affected")?;
    list(&body.mitigations, "mitigations")?;
    list(&body.references, "references")?;
    if !strictly_ascending(&body.commitments) || body.commitments.iter().any(|c| !(1..=8).contains(c)) {
        return Err(BodyError::Invalid(
            "commitments must be ascending, unique numbers from 1 to 8".into(),
        ));
    }
    match (kind, body.supersedes.is_some()) {
        (Kind::Correction, false) => {
            return Err(BodyError::Invalid(
                "a correction must name the entry it supersedes".into(),
            ));
        }
        (Kind::Bulletin, true) => {
            return Err(BodyError::Invalid(
                "a bulletin cannot supersede; use a correction".into(),
            ));
        }
        _ => {}
    }
    if tier == Tier::Hazardous {
        crate::redaction::check_redacted(body).map_err(BodyError::Hazardous)?;
    } else if body.withheld.is_some() || body.release.is_some() {
        return Err(BodyError::Invalid(
            "withheld commitments and release policy belong to the hazardous tier only".into(),
        ));
    }
    Ok(())
}

/// Checks a restricted entry's recipient list shape (ascending, unique, 1..=MAX).
pub fn check_recipient_list(recipients: &[OrgKey]) -> bool {
    !recipients.is_empty() && recipients.len() <= MAX_RECIPIENTS && strictly_ascending(recipients)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Hash32;
    use crate::testkit;

    #[test]
    fn target_names_the_entry_each_body_refers_to() {
        let a = Hash32::of(b"a");
        let b = Hash32::of(b"b");
        let bulletin = testkit::sample_bulletin("finding");
        assert_eq!(Body::Bulletin(bulletin.clone()).target(), None);
        let correction = BulletinBody {
            supersedes: Some(a),
            ..bulletin
        };
        assert_eq!(Body::Bulletin(correction).target(), Some(a));
        assert_eq!(Body::Encrypted(vec![1, 2, 3]).target(), None);
        let retraction = RetractionBody {
            target: a,
            reason: "wrong".into(),
            purge: false,
        };
        assert_eq!(Body::Retraction(retraction).target(), Some(a));
        let ack = AckBody {
            target: a,
            status: AckStatus::Reproduced,
            note: String::new(),
        };
        assert_eq!(Body::Ack(ack).target(), Some(a));
        let request = AccessRequestBody {
            target: a,
            reason: "need".into(),
            fields: vec![WithheldField::Details],
        };
        assert_eq!(Body::AccessRequest(request).target(), Some(a));
        let decision = AccessDecisionBody {
            request: b,
            grant: true,
            reason: String::new(),
        };
        assert_eq!(Body::AccessDecision(decision).target(), Some(b));
        // A receipt names the hazardous entry, not the request.
        let receipt = AccessReceiptBody {
            request: b,
            target: a,
            received: Vec::new(),
        };
        assert_eq!(Body::AccessReceipt(receipt).target(), Some(a));
    }
}
