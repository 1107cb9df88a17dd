//! Publishing at the hazardous tier: the release policy as analysts write
//! it, and the checks that turn a full finding plus `withhold` and
//! `release` into a [`Redaction`] the node can apply.
//!
//! The API never signs or gossips the full finding: it hands it to
//! [`NodeHandle::publish_hazardous`](crate::runtime::NodeHandle::publish_hazardous),
//! which gossips only the redacted summary and keeps the withheld fields
//! sealed on this node. The checks here are for clear messages; the node and
//! the protocol check the redacted body again.

use super::ApiError;
use super::publish::{Context, Prepared, PublishRequest, unprocessable};
use crate::plaintext::Wiped;
use riskmesh_protocol::body::check_bulletin;
use riskmesh_protocol::redaction::{Redaction, ReleasePolicy, WithheldField, redact};
use riskmesh_protocol::roster::Role;
use riskmesh_protocol::{BulletinBody, Kind, OrgKey, Tier};
use serde::{Deserialize, Serialize};

/// A hazardous entry's release policy as an analyst writes it (org ids, not
/// keys). Every field is optional; the defaults are the protocol's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// Whether observers may request the withheld fields (default false:
    /// members only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observers_may_request: Option<bool>,
    /// Member organizations (roster org ids) whose approvals count. Default:
    /// none, meaning the author organization alone approves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvers: Option<Vec<String>>,
    /// How many of the approvers must approve (k of n; default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u64>,
}

/// Checks a hazardous publish request whose full body is `full` (already
/// checked for title, category and severity) and returns the finding with
/// its redaction.
pub(crate) fn prepare_hazardous(
    request: &PublishRequest,
    full: Wiped<BulletinBody>,
    cx: &Context<'_>,
) -> Result<Prepared, ApiError> {
    if cx.roster.member(&cx.me).is_some_and(|m| m.role == Role::Observer) {
        return Err(unprocessable(
            "observers publish at tiers public and consortium only; a hazardous finding is published by a \
             member organization",
        ));
    }
    if request.recipients.is_some() {
        return Err(unprocessable(
            "`recipients` are only for tier restricted; a hazardous entry's summary goes to everyone and its \
             withheld fields only through approved requests (see `release`)",
        ));
    }
    if full.details.trim().is_empty() {
        return Err(unprocessable(
            "a hazardous bulletin needs `details`: they are what is withheld, released only on approved request",
        ));
    }
    // The full finding obeys the limits of an ordinary bulletin.
    check_bulletin(&full, Kind::Bulletin, Tier::Consortium).map_err(|e| unprocessable(e.to_string()))?;
    let mut fields = request.withhold.clone().unwrap_or_default();
    fields.push(WithheldField::Details);
    fields.sort();
    fields.dedup();
    for (sanitized, field) in [
        (&request.sanitized_title, WithheldField::Title),
        (&request.sanitized_summary, WithheldField::Summary),
    ] {
        if sanitized.is_some() && !fields.contains(&field) {
            return Err(unprocessable(format!(
                "`sanitized_{name}` only applies when the {name} is withheld: add `{name}` to `withhold` \
                 or drop `sanitized_{name}`",
                name = field.name()
            )));
        }
    }
    let redaction = Redaction {
        fields,
        sanitized_title: request.sanitized_title.clone(),
        sanitized_summary: request.sanitized_summary.clone(),
        release: release_policy(request.release.as_ref(), cx)?,
    };
    // Redact with placeholder salts only to check the summary everyone will
    // see (sanitized title and summary limits, commitment rules); the node
    // redacts again with fresh random salts.
    let (redacted, openings) = redact(&full, &redaction, &[[0; 32]; 5]);
    drop(Wiped::new(openings));
    check_bulletin(&redacted, Kind::Bulletin, Tier::Hazardous)
        .map_err(|e| unprocessable(format!("the redacted summary would be invalid: {e}")))?;
    Ok(Prepared::Hazardous {
        full: Box::new(full),
        redaction: Box::new(redaction),
    })
}

/// Resolves org ids to keys and checks the approvers and the threshold.
fn release_policy(release: Option<&ReleaseRequest>, cx: &Context<'_>) -> Result<ReleasePolicy, ApiError> {
    let Some(release) = release else {
        return Ok(ReleasePolicy::default());
    };
    let mut approvers: Vec<OrgKey> = Vec::new();
    for org in release.approvers.iter().flatten() {
        let org = org.trim();
        let Some(member) = cx.roster.member_by_org(org) else {
            return Err(unprocessable(format!(
                "unknown approver `{org}`: not on the roster (member organizations: {})",
                members(cx).join(", ")
            )));
        };
        if member.role != Role::Member {
            return Err(unprocessable(format!(
                "approver `{org}` is an observer; only member organizations approve releases ({})",
                members(cx).join(", ")
            )));
        }
        approvers.push(member.signing_key);
    }
    approvers.sort();
    approvers.dedup();
    let n = approvers.len().max(1) as u64;
    let threshold = release.threshold.unwrap_or(1);
    if threshold == 0 || threshold > n {
        let who = if approvers.is_empty() {
            "with no named approvers the author alone approves, so it must be 1".to_string()
        } else {
            format!("with {n} approver(s) it must be between 1 and {n}")
        };
        return Err(unprocessable(format!(
            "release threshold {threshold} is out of range: {who}"
        )));
    }
    Ok(ReleasePolicy {
        observers_may_request: release.observers_may_request.unwrap_or(false),
        approvers,
        threshold,
    })
}

/// The org ids of the roster's member organizations.
fn members(cx: &Context<'_>) -> Vec<String> {
    cx.roster
        .doc()
        .members
        .iter()
        .filter(|m| m.role == Role::Member)
        .map(|m| m.org.clone())
        .collect()
}
