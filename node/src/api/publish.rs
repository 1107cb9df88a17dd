//! `POST /v1/entries`: one JSON shape for every kind an analyst publishes,
//! and the node-level rules the protocol cannot check on its own (a
//! correction or retraction names an entry of this organization that this
//! node holds; an ack names an entry that exists here), before the request
//! becomes a signed [`Draft`] — or, at the hazardous tier, a full finding
//! and its [`Redaction`] for the node to redact (see `hazardous.rs`).

use super::ApiError;
use super::hazardous::{ReleaseRequest, prepare_hazardous};
use super::names::{Named, named_list, named_opt};
use crate::plaintext::{self, Wiped, wipe_fields};
use crate::sealed;
use crate::store::{Store, StoredEntry};
use axum::http::StatusCode;
use riskmesh_protocol::body::{AckBody, AckStatus, RetractionBody, check_bulletin};
use riskmesh_protocol::redaction::{Redaction, WithheldField};
use riskmesh_protocol::{Body, BulletinBody, Category, Draft, EntryId, Kind, OrgKey, Roster, Severity, Tier};
use serde::{Deserialize, Serialize};

/// Largest request body the API reads, in bytes. A bulletin body is at most
/// [`MAX_BODY_BYTES`](riskmesh_protocol::limits::MAX_BODY_BYTES); JSON
/// escaping can double that.
pub const MAX_REQUEST_BYTES: usize = 512 * 1024;

/// What an analyst asks to publish. Fields that do not apply to the kind
/// must be left out. The same names are used by `riskmesh publish --file`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// `bulletin` (default), `correction`, `retraction` or `ack`.
    #[serde(default, with = "named_opt", skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    /// `public`, `consortium`, `restricted` or `hazardous`. Default:
    /// `consortium`; for a correction, the superseded entry's tier; for a
    /// retraction or ack, `public` if the target is public, else `consortium`.
    #[serde(default, with = "named_opt", skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    /// Bulletin title (required for bulletins and corrections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Summary for readers who will not see details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Risk category (required for bulletins and corrections).
    #[serde(default, with = "named_opt", skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// Severity (required for bulletins and corrections).
    #[serde(default, with = "named_opt", skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// Affected systems or models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affected: Option<Vec<String>>,
    /// Technical details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// Mitigations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mitigations: Option<Vec<String>>,
    /// References (URLs, report ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub references: Option<Vec<String>>,
    /// White House commitments (1–8) concerned, in any order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commitments: Option<Vec<u8>>,
    /// Readers should not act publicly before this time, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embargo_until_ms: Option<u64>,
    /// The bulletin stops being relevant at this time, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<u64>,
    /// Correction only: the entry (of this organization) it replaces, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
    /// Restricted tier only: recipient organization ids. This organization
    /// is always added, so its analysts can read what it sent. Default for a
    /// restricted correction: the superseded entry's recipients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<String>>,
    /// Hazardous tier only: fields withheld from the gossiped summary
    /// (`details`, `title`, `summary`, `affected`, `references`); `details`
    /// is always withheld.
    #[serde(default, with = "named_list", skip_serializing_if = "Option::is_none")]
    pub withhold: Option<Vec<WithheldField>>,
    /// Hazardous tier, title withheld: the title everyone sees instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sanitized_title: Option<String>,
    /// Hazardous tier, summary withheld: the summary everyone sees instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sanitized_summary: Option<String>,
    /// Hazardous tier only: who may request the withheld fields and who
    /// approves. Default: members may request, the author alone approves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseRequest>,
    /// Retraction or ack: the entry concerned, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Retraction: why (required; everyone sees it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Retraction: ask every node to drop the target's body (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purge: Option<bool>,
    /// Ack: `reproduced`, `not-affected` or `mitigated` (required).
    #[serde(default, with = "named_opt", skip_serializing_if = "Option::is_none")]
    pub status: Option<AckStatus>,
    /// Ack: free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl PublishRequest {
    /// The names of the fields that are set, in declaration order.
    fn present(&self) -> Vec<&'static str> {
        let fields: [(&'static str, bool); 24] = [
            ("tier", self.tier.is_some()),
            ("title", self.title.is_some()),
            ("summary", self.summary.is_some()),
            ("category", self.category.is_some()),
            ("severity", self.severity.is_some()),
            ("affected", self.affected.is_some()),
            ("details", self.details.is_some()),
            ("mitigations", self.mitigations.is_some()),
            ("references", self.references.is_some()),
            ("commitments", self.commitments.is_some()),
            ("embargo_until_ms", self.embargo_until_ms.is_some()),
            ("expires_ms", self.expires_ms.is_some()),
            ("supersedes", self.supersedes.is_some()),
            ("recipients", self.recipients.is_some()),
            ("withhold", self.withhold.is_some()),
            ("sanitized_title", self.sanitized_title.is_some()),
            ("sanitized_summary", self.sanitized_summary.is_some()),
            ("release", self.release.is_some()),
            ("target", self.target.is_some()),
            ("reason", self.reason.is_some()),
            ("purge", self.purge.is_some()),
            ("status", self.status.is_some()),
            ("note", self.note.is_some()),
            ("kind", self.kind.is_some()),
        ];
        fields
            .iter()
            .filter(|(_, set)| *set)
            .map(|(name, _)| *name)
            .collect()
    }
}

// The texts of a finding as the analyst sent them (at the restricted and
// hazardous tiers, plaintext); ids, names and numbers are not secret.
wipe_fields!(PublishRequest {
    title,
    summary,
    affected,
    details,
    mitigations,
    references,
    sanitized_title,
    sanitized_summary
});

/// The fields each kind takes (besides `kind` and `tier`).
fn allowed_fields(kind: Kind) -> &'static [&'static str] {
    const BULLETIN: &[&str] = &[
        "title",
        "summary",
        "category",
        "severity",
        "affected",
        "details",
        "mitigations",
        "references",
        "commitments",
        "embargo_until_ms",
        "expires_ms",
        "recipients",
        "withhold",
        "sanitized_title",
        "sanitized_summary",
        "release",
    ];
    const CORRECTION: &[&str] = &[
        "title",
        "summary",
        "category",
        "severity",
        "affected",
        "details",
        "mitigations",
        "references",
        "commitments",
        "embargo_until_ms",
        "expires_ms",
        "recipients",
        "supersedes",
    ];
    match kind {
        Kind::Bulletin => BULLETIN,
        Kind::Correction => CORRECTION,
        Kind::Retraction => &["target", "reason", "purge"],
        Kind::Ack => &["target", "status", "note"],
        _ => &[],
    }
}

pub(crate) fn unprocessable(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// Parses an entry id given in a request field.
pub(crate) fn parse_id(field: &str, text: &str) -> Result<EntryId, ApiError> {
    EntryId::from_hex(text.trim()).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "{field}: `{text}` is not an entry id: expected 64 hex digits (as shown by `riskmesh list`)"
            ),
        )
    })
}

/// The fields only a hazardous bulletin takes.
pub(crate) const HAZARDOUS_FIELDS: [&str; 4] =
    ["withhold", "sanitized_title", "sanitized_summary", "release"];

/// What a publish request becomes once checked.
#[derive(Debug)]
pub(crate) enum Prepared {
    /// An entry ready to sign.
    Draft(Box<Draft>),
    /// A hazardous finding for the node to redact, sign and keep.
    Hazardous {
        /// The full finding; only the redacted summary leaves the node.
        full: Box<Wiped<BulletinBody>>,
        /// What to withhold and the release policy.
        redaction: Box<Redaction>,
    },
}

impl Prepared {
    fn draft(draft: Draft) -> Self {
        Prepared::Draft(Box::new(draft))
    }
}

/// What a request needs from the node to become a draft.
pub(crate) struct Context<'a> {
    /// The roster in force.
    pub roster: &'a Roster,
    /// This organization's key.
    pub me: OrgKey,
    /// The node's store (read-only).
    pub store: &'a Store,
}

impl Context<'_> {
    fn entry(&self, field: &str, id: &EntryId) -> Result<StoredEntry, ApiError> {
        self.store.get(id).map_err(ApiError::store)?.ok_or_else(|| {
            unprocessable(format!(
                "{field} {id}: no such entry on this node; check the id with `riskmesh list` \
                 (an entry published elsewhere may not have arrived yet)"
            ))
        })
    }

    /// An entry that must be this organization's own bulletin or correction.
    fn own_entry(&self, field: &str, id: &EntryId, action: &str) -> Result<StoredEntry, ApiError> {
        let entry = self.entry(field, id)?;
        if entry.meta.author != self.me {
            let author = self
                .roster
                .org_of(&entry.meta.author)
                .map_or_else(|| entry.meta.author.to_hex(), str::to_string);
            return Err(unprocessable(format!(
                "{field} {id} was published by `{author}`; an organization can only {action} its own entries"
            )));
        }
        Ok(entry)
    }

    fn recipient(&self, org: &str) -> Result<&riskmesh_protocol::Member, ApiError> {
        self.roster.member_by_org(org).ok_or_else(|| {
            let orgs: Vec<&str> = self.roster.doc().members.iter().map(|m| m.org.as_str()).collect();
            unprocessable(format!(
                "unknown recipient `{org}`: not on the roster (participants: {})",
                orgs.join(", ")
            ))
        })
    }
}

/// Checks a request and turns it into a draft: bodies built and checked,
/// restricted bodies sealed to their recipients, hazardous findings checked
/// with their redaction.
pub(crate) fn prepare(request: &PublishRequest, cx: &Context<'_>) -> Result<Prepared, ApiError> {
    super::require_member(cx.roster, &cx.me)?;
    let kind = request.kind.unwrap_or(Kind::Bulletin);
    if !matches!(
        kind,
        Kind::Bulletin | Kind::Correction | Kind::Retraction | Kind::Ack
    ) {
        return Err(unprocessable(format!(
            "kind `{}` is not published through /v1/entries: ask for withheld fields with \
             POST /v1/entries/{{id}}/requests (`riskmesh request`), decide with POST \
             /v1/requests/{{id}}/approve or /deny (`riskmesh approve`, `riskmesh deny`); receipts are \
             published by the node itself. This route publishes bulletin, correction, retraction and ack",
            kind.name()
        )));
    }
    let allowed = allowed_fields(kind);
    let stray: Vec<String> = request
        .present()
        .into_iter()
        .filter(|f| !matches!(*f, "kind" | "tier") && !allowed.contains(f))
        .map(|f| format!("`{f}`"))
        .collect();
    if !stray.is_empty() {
        let takes: Vec<String> = allowed.iter().map(|f| format!("`{f}`")).collect();
        return Err(unprocessable(format!(
            "{} {} not apply to a{} {}; it takes kind, tier, {}",
            stray.join(", "),
            if stray.len() == 1 { "does" } else { "do" },
            if kind == Kind::Ack { "n" } else { "" },
            kind.name(),
            takes.join(", ")
        )));
    }
    match kind {
        Kind::Bulletin | Kind::Correction => prepare_bulletin(request, kind, cx),
        Kind::Retraction => prepare_retraction(request, cx).map(Prepared::draft),
        _ => prepare_ack(request, cx).map(Prepared::draft),
    }
}

/// The tier of a control entry: as asked, else public for a public target,
/// consortium otherwise (a control entry cannot be restricted).
fn control_tier(asked: Option<Tier>, target: &StoredEntry, kind: Kind) -> Result<Tier, ApiError> {
    let tier = asked.unwrap_or(if target.meta.tier == Tier::Public {
        Tier::Public
    } else {
        Tier::Consortium
    });
    if !matches!(tier, Tier::Public | Tier::Consortium) {
        return Err(unprocessable(format!(
            "a{} {} is published at tier public or consortium, not {}",
            if kind == Kind::Ack { "n" } else { "" },
            kind.name(),
            tier.name()
        )));
    }
    Ok(tier)
}

fn prepare_bulletin(request: &PublishRequest, kind: Kind, cx: &Context<'_>) -> Result<Prepared, ApiError> {
    let mut supersedes = None;
    let mut inherited: Option<(Tier, Option<Vec<OrgKey>>)> = None;
    if kind == Kind::Correction {
        let Some(text) = &request.supersedes else {
            return Err(unprocessable(
                "a correction needs `supersedes`: the id of the entry it replaces",
            ));
        };
        let id = parse_id("supersedes", text)?;
        let original = cx.own_entry("supersedes", &id, "correct")?;
        if !original.meta.kind.carries_bulletin() {
            return Err(unprocessable(format!(
                "supersedes {id} is a{} {}; only a bulletin or correction can be corrected",
                if original.meta.kind == Kind::Ack { "n" } else { "" },
                original.meta.kind.name()
            )));
        }
        let recipients = super::views::stored_header(&original.envelope).and_then(|h| h.recipients);
        inherited = Some((original.meta.tier, recipients));
        supersedes = Some(id);
    }
    let tier = request
        .tier
        .or(inherited.as_ref().map(|(t, _)| *t))
        .unwrap_or(Tier::Consortium);
    if tier == Tier::Hazardous && kind == Kind::Correction {
        return Err(unprocessable(
            "a correction cannot be published at the hazardous tier yet (the corrected entry's details \
             are withheld, so a correction would have to restate them all): publish a new hazardous \
             bulletin and retract the old entry, with purge if its summary must go",
        ));
    }
    if tier != Tier::Hazardous {
        let present = request.present();
        let stray: Vec<String> = HAZARDOUS_FIELDS
            .iter()
            .filter(|f| present.contains(f))
            .map(|f| format!("`{f}`"))
            .collect();
        if !stray.is_empty() {
            return Err(unprocessable(format!(
                "{} only apply to tier hazardous (this entry is {}); add \"tier\": \"hazardous\" \
                 (`riskmesh publish --tier hazardous`) or drop them",
                stray.join(", "),
                tier.name()
            )));
        }
    }
    let mut commitments = request.commitments.clone().unwrap_or_default();
    commitments.sort_unstable();
    commitments.dedup();
    // Wiped on every path: at the restricted and hazardous tiers these texts
    // are plaintext that must not outlive the request.
    let body = Wiped::new(BulletinBody {
        title: request.title.clone().unwrap_or_default(),
        summary: request.summary.clone().unwrap_or_default(),
        category: request.category,
        severity: request.severity,
        affected: request.affected.clone().unwrap_or_default(),
        details: request.details.clone().unwrap_or_default(),
        mitigations: request.mitigations.clone().unwrap_or_default(),
        references: request.references.clone().unwrap_or_default(),
        commitments,
        embargo_until_ms: request.embargo_until_ms,
        expires_ms: request.expires_ms,
        supersedes,
        withheld: None,
        release: None,
    });
    if request.title.as_deref().is_none_or(|t| t.trim().is_empty()) {
        return Err(unprocessable(format!("a {} needs a `title`", kind.name())));
    }
    if body.category.is_none() || body.severity.is_none() {
        let categories: Vec<&str> = Category::all().iter().map(|c| c.name()).collect();
        let severities: Vec<&str> = Severity::all().iter().map(|s| s.name()).collect();
        return Err(unprocessable(format!(
            "a {} needs a `category` ({}) and a `severity` ({})",
            kind.name(),
            categories.join(", "),
            severities.join(", ")
        )));
    }
    if tier == Tier::Hazardous {
        return prepare_hazardous(request, body, cx);
    }
    check_bulletin(&body, kind, tier).map_err(|e| unprocessable(e.to_string()))?;
    if tier != Tier::Restricted {
        if request.recipients.is_some() {
            return Err(unprocessable(format!(
                "`recipients` are only for tier restricted (this entry is {}); add \"tier\": \"restricted\" \
                 or drop the recipients",
                tier.name()
            )));
        }
        // Public or consortium: not secret, signed and gossiped as is.
        return Ok(Prepared::draft(Draft {
            kind,
            tier,
            body: Body::Bulletin(BulletinBody::clone(&body)),
            recipients: None,
        }));
    }
    let mut members = Vec::new();
    match (&request.recipients, inherited.and_then(|(_, r)| r)) {
        (Some(orgs), _) => {
            for org in orgs {
                members.push(cx.recipient(org.trim())?.clone());
            }
        }
        (None, Some(keys)) => {
            for key in keys {
                if let Some(m) = cx.roster.member(&key) {
                    members.push(m.clone());
                }
            }
        }
        (None, None) => {}
    }
    members.retain(|m| m.signing_key != cx.me);
    if members.is_empty() {
        return Err(unprocessable(
            "a restricted entry needs `recipients`: the org ids of the other organizations that may read it",
        ));
    }
    if let Some(me) = cx.roster.member(&cx.me) {
        members.push(me.clone());
    }
    members.sort_by_key(|m| m.signing_key);
    members.dedup_by_key(|m| m.signing_key);
    let keys: Vec<_> = members.iter().map(|m| m.encryption()).collect();
    let sealed = sealed::seal(&keys, &plaintext::encode_bulletin(&body)).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("sealing the body: {e}"),
        )
    })?;
    Ok(Prepared::draft(Draft {
        kind,
        tier,
        body: Body::Encrypted(sealed),
        recipients: Some(members.iter().map(|m| m.signing_key).collect()),
    }))
}

fn prepare_retraction(request: &PublishRequest, cx: &Context<'_>) -> Result<Draft, ApiError> {
    let Some(text) = &request.target else {
        return Err(unprocessable(
            "a retraction needs `target`: the id of the entry it retracts",
        ));
    };
    let reason = request.reason.clone().unwrap_or_default();
    if reason.trim().is_empty() {
        return Err(unprocessable(
            "a retraction needs a `reason`: every member sees why an entry was withdrawn",
        ));
    }
    let id = parse_id("target", text)?;
    let target = cx.own_entry("target", &id, "retract")?;
    if target.meta.kind == Kind::Retraction {
        return Err(unprocessable(format!(
            "target {id} is itself a retraction; a retraction cannot be retracted"
        )));
    }
    let purge = request.purge.unwrap_or(false);
    let earlier = cx.store.referencing(&id).map_err(ApiError::store)?;
    if let Some(previous) = earlier
        .iter()
        .find(|m| m.kind == Kind::Retraction && m.author == cx.me)
    {
        // Retracting again only makes sense to add a purge.
        if !purge || target.meta.purged {
            let hint = if target.meta.purged {
                " and its body is purged"
            } else {
                "; retract again with purge to drop its body"
            };
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("{id} is already retracted by entry {}{hint}", previous.id),
            ));
        }
    }
    let tier = control_tier(request.tier, &target, Kind::Retraction)?;
    Ok(Draft {
        kind: Kind::Retraction,
        tier,
        body: Body::Retraction(RetractionBody {
            target: id,
            reason,
            purge,
        }),
        recipients: None,
    })
}

fn prepare_ack(request: &PublishRequest, cx: &Context<'_>) -> Result<Draft, ApiError> {
    let Some(text) = &request.target else {
        return Err(unprocessable(
            "an ack needs `target`: the id of the entry it acknowledges",
        ));
    };
    let Some(status) = request.status else {
        let names: Vec<&str> = AckStatus::all().iter().map(|s| s.name()).collect();
        return Err(unprocessable(format!(
            "an ack needs a `status`: one of {}",
            names.join(", ")
        )));
    };
    let id = parse_id("target", text)?;
    let target = cx.entry("target", &id)?;
    if !target.meta.kind.carries_bulletin() {
        return Err(unprocessable(format!(
            "target {id} is a{} {}; only a bulletin or correction can be acknowledged",
            if target.meta.kind == Kind::Ack { "n" } else { "" },
            target.meta.kind.name()
        )));
    }
    let tier = control_tier(request.tier, &target, Kind::Ack)?;
    Ok(Draft {
        kind: Kind::Ack,
        tier,
        body: Body::Ack(AckBody {
            target: id,
            status,
            note: request.note.clone().unwrap_or_default(),
        }),
        recipients: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_names_are_refused_with_the_serde_message() {
        let err = serde_json::from_str::<PublishRequest>(r#"{"titel": "x"}"#).expect_err("unknown field");
        assert!(err.to_string().contains("unknown field `titel`"), "{err}");
        let err = serde_json::from_str::<PublishRequest>(r#"{"tier": "secret"}"#).expect_err("bad tier");
        assert!(err.to_string().contains("unknown tier `secret`"), "{err}");
        let ok: PublishRequest =
            serde_json::from_str(r#"{"kind": "ack", "status": "not-affected", "target": "00"}"#)
                .expect("ack");
        assert_eq!(ok.status, Some(AckStatus::NotAffected));
    }

    #[test]
    fn a_request_serializes_only_the_fields_set() {
        let request = PublishRequest {
            title: Some("t".into()),
            category: Some(Category::Privacy),
            ..PublishRequest::default()
        };
        let json = serde_json::to_string(&request).expect("json");
        assert_eq!(json, r#"{"title":"t","category":"privacy"}"#);
        assert_eq!(request.present(), vec!["title", "category"]);
    }
}
