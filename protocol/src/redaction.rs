//! The hazardous tier's redaction: salted SHA-256 commitments that bind a
//! gossiped summary to withheld fields, the release policy, and the check of
//! revealed fields against their commitments.
//!
//! A commitment is `SHA-256("riskmesh-commit-v1\0" || field || salt || value)`
//! where `field` is one byte, `salt` 32 random bytes drawn by the author, and
//! `value` the canonical CBOR of the field's value. The salt makes a guess of
//! a short withheld value uncheckable without the opening.

use crate::body::{BulletinBody, strictly_ascending};
use crate::cbor::{self, CborError};
use crate::ids::{Hash32, OrgKey};
use crate::limits::{
    MAX_BODY_BYTES, MAX_DETAILS_BYTES, MAX_LIST_ITEMS, MAX_ROSTER_MEMBERS, MAX_SUMMARY_BYTES, MAX_TEXT_BYTES,
    MAX_TITLE_BYTES,
};
use minicbor::{Decode, Encode};

/// Domain prefix of every commitment.
pub const COMMIT_PREFIX: &[u8] = b"riskmesh-commit-v1\0";

/// Domain prefix of a reveal's digest, by which a signed release binds each
/// opening without carrying it (spec §8.5).
pub const REVEAL_DIGEST_PREFIX: &[u8] = b"riskmesh-reveal-v1\0";

/// A field of a bulletin that may be withheld at the hazardous tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
#[cbor(index_only)]
pub enum WithheldField {
    /// The technical details (always withheld at the hazardous tier).
    #[n(0)]
    Details,
    /// The original title (the gossiped title is then a sanitized one).
    #[n(1)]
    Title,
    /// The original summary (the gossiped summary is then a sanitized one).
    #[n(2)]
    Summary,
    /// The list of affected systems.
    #[n(3)]
    Affected,
    /// The references.
    #[n(4)]
    References,
}

impl WithheldField {
    /// All fields in wire order.
    pub const ALL: [WithheldField; 5] = [
        WithheldField::Details,
        WithheldField::Title,
        WithheldField::Summary,
        WithheldField::Affected,
        WithheldField::References,
    ];

    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            WithheldField::Details => "details",
            WithheldField::Title => "title",
            WithheldField::Summary => "summary",
            WithheldField::Affected => "affected",
            WithheldField::References => "references",
        }
    }

    /// Parses a name from [`WithheldField::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    fn code(self) -> u8 {
        self as u8
    }

    /// The canonical CBOR value of this field in a full bulletin.
    pub fn value_of(self, full: &BulletinBody) -> Vec<u8> {
        match self {
            WithheldField::Details => cbor::encode(&full.details),
            WithheldField::Title => cbor::encode(&full.title),
            WithheldField::Summary => cbor::encode(&full.summary),
            WithheldField::Affected => cbor::encode(&full.affected),
            WithheldField::References => cbor::encode(&full.references),
        }
    }
}

/// One withheld field and its commitment, as gossiped in the redacted body.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct WithheldCommitment {
    /// Which field.
    #[n(0)]
    pub field: WithheldField,
    /// The salted SHA-256 commitment.
    #[n(1)]
    pub commitment: Hash32,
}

/// Who may ask for and who must approve the release of withheld fields.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct ReleasePolicy {
    /// Whether observers (not only members) may request.
    #[n(0)]
    pub observers_may_request: bool,
    /// Member organizations whose approvals count, ascending; empty means
    /// the author organization alone.
    #[n(1)]
    pub approvers: Vec<OrgKey>,
    /// How many distinct approvals release the fields (k of n); 1 when
    /// `approvers` is empty.
    #[n(2)]
    pub threshold: u64,
}

impl Default for ReleasePolicy {
    fn default() -> Self {
        ReleasePolicy {
            observers_may_request: false,
            approvers: Vec::new(),
            threshold: 1,
        }
    }
}

/// The opening of one commitment: what the author's node sends the requester,
/// beside the signed release that binds it by [`Reveal::digest`].
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct Reveal {
    /// Which field.
    #[n(0)]
    pub field: WithheldField,
    /// The 32-byte salt.
    #[n(1)]
    #[cbor(with = "minicbor::bytes")]
    pub salt: [u8; 32],
    /// The canonical CBOR value of the field.
    #[n(2)]
    #[cbor(with = "minicbor::bytes")]
    pub value: Vec<u8>,
}

impl Reveal {
    /// The commitment this opening produces.
    pub fn commitment(&self) -> Hash32 {
        commit(self.field, &self.salt, &self.value)
    }

    /// `SHA-256(REVEAL_DIGEST_PREFIX || canonical CBOR of this reveal)`: what
    /// a signed release binds, so that the signature covers this opening
    /// while the opening itself can be left out of a fault proof.
    pub fn digest(&self) -> Hash32 {
        Hash32::of_parts(&[REVEAL_DIGEST_PREFIX, &cbor::encode(self)])
    }
}

/// Computes a commitment.
pub fn commit(field: WithheldField, salt: &[u8; 32], value: &[u8]) -> Hash32 {
    Hash32::of_parts(&[COMMIT_PREFIX, &[field.code()], salt, value])
}

/// Why revealed fields do not open a redacted body's commitments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevealError {
    /// The body withholds no such field.
    #[error("field `{}` is not withheld by this entry", .0.name())]
    NotWithheld(WithheldField),
    /// The opening does not hash to the commitment: the author sent something
    /// other than what it committed to.
    #[error("field `{}` does not match its commitment", .0.name())]
    Mismatch(WithheldField),
    /// The value is not canonical CBOR of the field's type.
    #[error("field `{field}` value is malformed: {error}", field = .0.name(), error = .1)]
    Malformed(WithheldField, CborError),
    /// The same field was revealed twice.
    #[error("field `{}` revealed twice", .0.name())]
    Duplicate(WithheldField),
    /// The value breaks the field's bulletin limit (details, title or summary
    /// length; list item count or item length): the author committed to more
    /// than a bulletin may carry.
    #[error("field `{}` is over its bulletin limit", .0.name())]
    OverLimit(WithheldField),
}

impl RevealError {
    /// Stable name for metrics, logs and test vectors.
    pub fn name(&self) -> &'static str {
        match self {
            RevealError::NotWithheld(_) => "not_withheld",
            RevealError::Mismatch(_) => "mismatch",
            RevealError::Malformed(..) => "malformed",
            RevealError::Duplicate(_) => "duplicate",
            RevealError::OverLimit(_) => "over_limit",
        }
    }

    /// The field the error is about.
    pub fn field(&self) -> WithheldField {
        match self {
            RevealError::NotWithheld(f)
            | RevealError::Mismatch(f)
            | RevealError::Malformed(f, _)
            | RevealError::Duplicate(f)
            | RevealError::OverLimit(f) => *f,
        }
    }
}

/// Checks revealed fields against a redacted body's commitments, in list
/// order: no field twice, then each opening by [`check_reveal`] (spec §8.4).
pub fn check_reveals(redacted: &BulletinBody, reveals: &[Reveal]) -> Result<(), RevealError> {
    let mut seen = Vec::with_capacity(reveals.len());
    for reveal in reveals {
        if seen.contains(&reveal.field) {
            return Err(RevealError::Duplicate(reveal.field));
        }
        seen.push(reveal.field);
        check_reveal(redacted, reveal)?;
    }
    Ok(())
}

/// Checks one opening against a redacted body's commitments, in order: the
/// field is withheld, the opening matches its commitment, the value is
/// canonical CBOR of the field's type, and the value is within the limits a
/// bulletin body puts on that field (spec §8.4 steps 2-5). A fault proof
/// (spec §8.9) is checked with this alone, since it carries one opening.
pub fn check_reveal(redacted: &BulletinBody, reveal: &Reveal) -> Result<(), RevealError> {
    let withheld = redacted.withheld.as_deref().unwrap_or_default();
    let Some(expected) = withheld.iter().find(|w| w.field == reveal.field) else {
        return Err(RevealError::NotWithheld(reveal.field));
    };
    if reveal.commitment() != expected.commitment {
        return Err(RevealError::Mismatch(reveal.field));
    }
    let malformed = |e| RevealError::Malformed(reveal.field, e);
    let within = match reveal.field {
        WithheldField::Details | WithheldField::Title | WithheldField::Summary => {
            let text: String = cbor::decode_canonical(&reveal.value, MAX_BODY_BYTES).map_err(malformed)?;
            text.len() <= text_limit(reveal.field)
        }
        WithheldField::Affected | WithheldField::References => {
            let list: Vec<String> =
                cbor::decode_canonical(&reveal.value, MAX_BODY_BYTES).map_err(malformed)?;
            list.len() <= MAX_LIST_ITEMS && list.iter().all(|item| item.len() <= text_limit(reveal.field))
        }
    };
    if !within {
        return Err(RevealError::OverLimit(reveal.field));
    }
    Ok(())
}

/// The length limit of a withheld text field, or of each item of a withheld
/// list field, as for a bulletin body (spec §7.2).
fn text_limit(field: WithheldField) -> usize {
    match field {
        WithheldField::Details => MAX_DETAILS_BYTES,
        WithheldField::Title => MAX_TITLE_BYTES,
        WithheldField::Summary => MAX_SUMMARY_BYTES,
        WithheldField::Affected | WithheldField::References => MAX_TEXT_BYTES,
    }
}

/// What the author supplies to redact a full finding.
#[derive(Debug, Clone)]
pub struct Redaction {
    /// Fields to withhold; `Details` is always added.
    pub fields: Vec<WithheldField>,
    /// Title to gossip when the title is withheld.
    pub sanitized_title: Option<String>,
    /// Summary to gossip when the summary is withheld.
    pub sanitized_summary: Option<String>,
    /// The release policy.
    pub release: ReleasePolicy,
}

/// Builds the redacted body and the openings the author keeps. `salts` gives
/// one fresh random salt per field (the caller draws them; this crate has no
/// RNG); it is indexed like [`WithheldField::ALL`].
pub fn redact(
    full: &BulletinBody,
    redaction: &Redaction,
    salts: &[[u8; 32]; 5],
) -> (BulletinBody, Vec<Reveal>) {
    let mut fields = redaction.fields.clone();
    fields.push(WithheldField::Details);
    fields.sort();
    fields.dedup();
    let reveals: Vec<Reveal> = fields
        .iter()
        .map(|&field| Reveal {
            field,
            salt: salts[field.code() as usize],
            value: field.value_of(full),
        })
        .collect();
    let mut redacted = full.clone();
    redacted.details = String::new();
    for field in &fields {
        match field {
            WithheldField::Details => {}
            WithheldField::Title => {
                redacted.title = redaction
                    .sanitized_title
                    .clone()
                    .unwrap_or_else(|| "(title withheld)".into());
            }
            WithheldField::Summary => {
                redacted.summary = redaction
                    .sanitized_summary
                    .clone()
                    .unwrap_or_else(|| "(summary withheld)".into());
            }
            WithheldField::Affected => redacted.affected.clear(),
            WithheldField::References => redacted.references.clear(),
        }
    }
    redacted.withheld = Some(
        reveals
            .iter()
            .map(|r| WithheldCommitment {
                field: r.field,
                commitment: r.commitment(),
            })
            .collect(),
    );
    let mut release = redaction.release.clone();
    release.approvers.sort();
    release.approvers.dedup();
    redacted.release = Some(release);
    (redacted, reveals)
}

/// The rules of a redacted (hazardous) body; returns a message naming the
/// broken rule.
pub fn check_redacted(body: &BulletinBody) -> Result<(), String> {
    let Some(withheld) = body.withheld.as_deref() else {
        return Err("a hazardous body must carry withheld-field commitments".into());
    };
    let fields: Vec<WithheldField> = withheld.iter().map(|w| w.field).collect();
    if !strictly_ascending(&fields) {
        return Err("withheld fields must be ascending and unique".into());
    }
    if fields.first() != Some(&WithheldField::Details) {
        return Err("details must be withheld at the hazardous tier".into());
    }
    if !body.details.is_empty() {
        return Err("details must be empty in a hazardous body".into());
    }
    if fields.contains(&WithheldField::Affected) && !body.affected.is_empty() {
        return Err("affected is withheld but present".into());
    }
    if fields.contains(&WithheldField::References) && !body.references.is_empty() {
        return Err("references are withheld but present".into());
    }
    let Some(release) = &body.release else {
        return Err("a hazardous body must carry a release policy".into());
    };
    if release.approvers.len() > MAX_ROSTER_MEMBERS || !strictly_ascending(&release.approvers) {
        return Err("approvers must be ascending and unique".into());
    }
    let n = release.approvers.len().max(1) as u64;
    if release.threshold == 0 || release.threshold > n {
        return Err(format!("threshold must be between 1 and {n}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::{Category, Severity};

    fn finding() -> BulletinBody {
        BulletinBody {
            title: "Uplift in pathogen enhancement".into(),
            summary: "Model gives meaningful uplift".into(),
            category: Some(Category::Bio),
            severity: Some(Severity::Critical),
            affected: vec!["model-x".into()],
            details: "CANARY-step-by-step".into(),
            mitigations: vec!["refusal training".into()],
            references: vec!["internal-report-7".into()],
            ..Default::default()
        }
    }

    #[test]
    fn redaction_binds_and_hides_details() {
        let redaction = Redaction {
            fields: vec![WithheldField::References],
            sanitized_title: None,
            sanitized_summary: None,
            release: ReleasePolicy::default(),
        };
        let (redacted, reveals) = redact(
            &finding(),
            &redaction,
            &[[1; 32], [2; 32], [3; 32], [4; 32], [5; 32]],
        );
        assert_eq!(check_redacted(&redacted), Ok(()));
        let bytes = cbor::encode(&redacted);
        assert!(!bytes.windows(6).any(|w| w == b"CANARY"));
        assert_eq!(check_reveals(&redacted, &reveals), Ok(()));
        let mut tampered = reveals.clone();
        tampered[0].value[3] ^= 1;
        assert_eq!(
            check_reveals(&redacted, &tampered),
            Err(RevealError::Mismatch(WithheldField::Details))
        );
        let mut wrong_field = reveals[..1].to_vec();
        wrong_field[0].field = WithheldField::Title;
        assert_eq!(
            check_reveals(&redacted, &wrong_field),
            Err(RevealError::NotWithheld(WithheldField::Title))
        );
    }

    #[test]
    fn reveals_obey_the_bulletin_field_limits() {
        let redaction = Redaction {
            fields: vec![WithheldField::Title, WithheldField::References],
            sanitized_title: Some("withheld".into()),
            sanitized_summary: None,
            release: ReleasePolicy::default(),
        };
        let salts = [[1; 32], [2; 32], [3; 32], [4; 32], [5; 32]];
        let check = |full: BulletinBody| {
            let (redacted, reveals) = redact(&full, &redaction, &salts);
            check_reveals(&redacted, &reveals).map_err(|e| (e.name(), e.field()))
        };
        let mut at_limit = finding();
        at_limit.title = "t".repeat(MAX_TITLE_BYTES);
        at_limit.details = "d".repeat(MAX_DETAILS_BYTES);
        at_limit.references = vec!["r".repeat(MAX_TEXT_BYTES); MAX_LIST_ITEMS];
        assert_eq!(check(at_limit.clone()), Ok(()));
        let mut long_title = at_limit.clone();
        long_title.title.push('t');
        assert_eq!(check(long_title), Err(("over_limit", WithheldField::Title)));
        let mut long_details = at_limit.clone();
        long_details.details.push('d');
        assert_eq!(check(long_details), Err(("over_limit", WithheldField::Details)));
        let mut many = at_limit.clone();
        many.references.push("r".into());
        assert_eq!(check(many), Err(("over_limit", WithheldField::References)));
        let mut long_item = at_limit;
        long_item.references[0].push('r');
        assert_eq!(check(long_item), Err(("over_limit", WithheldField::References)));
    }
}
