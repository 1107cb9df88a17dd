//! The mapping from entries, as this organization reads them, to STIX 2.1
//! objects. A sans-IO state machine fed in arrival order (an entry's chain
//! predecessors always come first): it remembers which report or sighting
//! each entry became, so a correction is a new version of its bulletin's
//! report, a retraction a revoked version, and an ack a sighting of the
//! report.
//!
//! - bulletin → `report` (id from the bulletin's entry id), referring to its
//!   author's `identity` and, where the category maps, to a shared MITRE
//!   ATLAS `attack-pattern` or AVID `vulnerability`;
//! - correction by the same author → the same report, `modified` later;
//! - retraction by the same author → the same report or sighting with
//!   `revoked: true`, named after the retraction (the retracted content is
//!   not repeated);
//! - ack → `sighting` of the acknowledged bulletin's report, sighted by the
//!   acknowledging organization;
//! - access requests, decisions and receipts → nothing (they are the
//!   hazardous tier's audit trail, not findings).
//!
//! Each object is marked with the TLP 2.0 marking of its entry's tier and
//! carries the entry's signed facts in riskmesh's property extension.

use super::{
    EXTENSION_ID, MAPPING_EPOCH, PROJECT_IDENTITY_ID, SPEC_VERSION, extension_definition, external_reference,
    identity_id, project_identity, report_id, sighting_id, taxonomy_id, taxonomy_object, tlp_marking,
    tlp_marking_object,
};
use crate::api::names::Named;
use crate::api::views::{AckView, BodyView, BulletinView, EntryView, RetractionView};
use crate::utc::rfc3339_ms;
use riskmesh_protocol::entry::tagged_envelope;
use riskmesh_protocol::{Kind, Role, Tier};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};

/// Most reports and sightings whose later versions one mapping pass
/// follows. Past it, later corrections of untracked bulletins map as
/// reports of their own, and their retractions and acks as if the target
/// were unknown (a warning is logged once); about 150 bytes each.
pub const MAX_TRACKED: usize = 500_000;

/// Longest retraction reason quoted in a revoked object's name, in chars.
const REVOKED_NAME_CHARS: usize = 120;

/// One version of one STIX object, and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct StixObject {
    /// The STIX id.
    pub id: String,
    /// The STIX type.
    pub object_type: &'static str,
    /// The version: `modified`, or `created` for objects without one
    /// (marking definitions).
    pub version: String,
    /// The tier whose view it belongs to (its marking).
    pub tier: Tier,
    /// When this node stored the entry that produced it, Unix ms,
    /// non-decreasing in arrival order (TAXII's `date_added`).
    pub added_ms: u64,
    /// Whether it is a fixed or shared object (markings, identities, the
    /// extension definition, taxonomy objects) rather than an entry's own.
    pub shared: bool,
    /// The object.
    pub json: Value,
}

/// One entry as the mapper takes it: what the API's reader shows this
/// organization, and when it arrived.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The entry's header facts.
    pub view: &'a EntryView,
    /// Its body, where this organization may read it.
    pub body: Option<&'a BodyView>,
    /// When this node stored it, Unix ms (non-decreasing, see [`StixObject::added_ms`]).
    pub added_ms: u64,
    /// Its signed envelope, carried tagged (COSE_Sign1, tag 18) in the
    /// extension so the object's facts can be verified without riskmesh.
    pub envelope: Option<&'a [u8]>,
}

/// A report or sighting whose later versions may come.
#[derive(Debug)]
struct Tracked {
    /// Its STIX id.
    stix_id: String,
    /// Its type: `report` or `sighting`.
    object_type: &'static str,
    /// The author key of the entry that started it; only this author's
    /// corrections and retractions version it.
    author_key: String,
    /// The author as the mapping names it.
    author: String,
    /// The tier of the entry that started it.
    tier: Tier,
    /// `created` of every version, Unix ms.
    created_ms: u64,
    /// `modified` of the latest version, Unix ms.
    last_ms: u64,
    /// Whether a version was exported (the body was readable).
    exported: bool,
    /// Whether the body was purged and this organization could have read it.
    purged_readable: bool,
    /// Whether the latest version revoked it.
    revoked: bool,
    /// A sighting's `sighting_of_ref`.
    sighting_of: Option<String>,
}

impl Tracked {
    /// The report an entry starts.
    fn report(v: &EntryView, exported: bool, purged_readable: bool) -> Self {
        Tracked {
            stix_id: report_id(&v.id),
            object_type: "report",
            author_key: v.author_key.clone(),
            author: v.author.clone(),
            tier: v.tier,
            created_ms: v.timestamp_ms,
            last_ms: v.timestamp_ms,
            exported,
            purged_readable,
            revoked: false,
            sighting_of: None,
        }
    }
}

/// The mapping state of one pass over a store.
#[derive(Debug)]
pub struct Mapper {
    network: String,
    me: String,
    roles: HashMap<String, Role>,
    tracked: Vec<Tracked>,
    by_entry: HashMap<String, usize>,
    shared: HashSet<(Tier, String)>,
    warned_full: bool,
}

impl Mapper {
    /// A mapper for organization `me` of `network`, naming authors' roles
    /// from `roles` (organization id → role on the roster in force).
    pub fn new(network: &str, me: &str, roles: HashMap<String, Role>) -> Self {
        Mapper {
            network: network.to_string(),
            me: me.to_string(),
            roles,
            tracked: Vec::new(),
            by_entry: HashMap::new(),
            shared: HashSet::new(),
            warned_full: false,
        }
    }

    /// The objects one entry maps to (shared objects the entry's tier has
    /// not yet seen first). Entries must come in arrival order.
    pub fn map(&mut self, input: Input<'_>) -> Vec<StixObject> {
        let mut out = Vec::new();
        match (input.view.kind, input.body) {
            (Kind::Bulletin | Kind::Correction, Some(BodyView::Bulletin(b))) => {
                self.bulletin(input, b, &mut out)
            }
            (Kind::Bulletin, None) => self.unreadable_bulletin(input.view),
            (Kind::Retraction, Some(BodyView::Retraction(r))) => self.retraction(input, r, &mut out),
            (Kind::Ack, Some(BodyView::Ack(a))) => self.ack(input, a, &mut out),
            _ => {}
        }
        out
    }

    fn track(&mut self, entry: &str, tracked: Tracked) -> Option<usize> {
        if self.tracked.len() >= MAX_TRACKED {
            if !self.warned_full {
                tracing::warn!(
                    limit = MAX_TRACKED,
                    "STIX mapping: too many reports and sightings to follow their versions; later ones map on their own"
                );
                self.warned_full = true;
            }
            return None;
        }
        self.tracked.push(tracked);
        let index = self.tracked.len() - 1;
        self.by_entry.insert(entry.to_string(), index);
        Some(index)
    }

    /// Emits a shared object once per tier.
    fn share(&mut self, tier: Tier, added_ms: u64, make: impl FnOnce() -> Value, out: &mut Vec<StixObject>) {
        let json = make();
        let id = json["id"].as_str().unwrap_or_default().to_string();
        if !self.shared.insert((tier, id.clone())) {
            return;
        }
        let object_type = object_type_of(&json);
        let version = json
            .get("modified")
            .or_else(|| json.get("created"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        out.push(StixObject {
            id,
            object_type,
            version,
            tier,
            added_ms,
            shared: true,
            json,
        });
    }

    /// The objects every object of `tier` by `author` refers to.
    fn prelude(&mut self, tier: Tier, author: &str, added_ms: u64, out: &mut Vec<StixObject>) -> String {
        self.share(tier, added_ms, || tlp_marking_object(tier), out);
        self.share(tier, added_ms, project_identity, out);
        self.share(tier, added_ms, extension_definition, out);
        let identity = identity_id(&self.network, author);
        let role = self.roles.get(author).copied();
        let network = self.network.clone();
        self.share(
            tier,
            added_ms,
            || org_identity(&network, author, &identity, role),
            out,
        );
        identity
    }

    fn entry(&self, object: Value, tier: Tier, added_ms: u64) -> StixObject {
        StixObject {
            id: object["id"].as_str().unwrap_or_default().to_string(),
            object_type: object_type_of(&object),
            version: object["modified"].as_str().unwrap_or_default().to_string(),
            tier,
            added_ms,
            shared: false,
            json: object,
        }
    }

    fn bulletin(&mut self, input: Input<'_>, b: &BulletinView, out: &mut Vec<StixObject>) {
        let v = input.view;
        let identity = self.prelude(v.tier, &v.author, input.added_ms, out);
        // A correction by the bulletin's author is a new version of its
        // report; anything else starts a report of its own.
        let earlier = b
            .supersedes
            .as_ref()
            .and_then(|target| self.by_entry.get(target).copied())
            .filter(|&i| {
                let t = &self.tracked[i];
                t.object_type == "report" && t.author_key == v.author_key && !t.revoked
            });
        let (stix_id, created_ms, modified_ms) = match earlier {
            Some(i) => {
                let t = &mut self.tracked[i];
                let modified = next_version(t.last_ms, v.timestamp_ms);
                t.last_ms = modified;
                t.exported = true;
                self.by_entry.insert(v.id.clone(), i);
                (t.stix_id.clone(), t.created_ms, modified)
            }
            None => {
                self.track(&v.id, Tracked::report(v, true, false));
                (report_id(&v.id), v.timestamp_ms, v.timestamp_ms)
            }
        };
        let mut refs = vec![Value::String(identity.clone())];
        let mut external = vec![entry_reference(v)];
        if let Some(reference) = b.category.and_then(|c| c.external_reference()) {
            self.share(v.tier, input.added_ms, || taxonomy_object(&reference), out);
            refs.push(Value::String(taxonomy_id(&reference)));
            external.push(external_reference(&reference));
        }
        external.extend(b.references.iter().map(|r| bulletin_reference(r)));
        let mut report = json!({
            "type": "report",
            "spec_version": SPEC_VERSION,
            "id": stix_id,
            "created": rfc3339_ms(created_ms),
            "modified": rfc3339_ms(modified_ms),
            "created_by_ref": identity,
            "name": b.title,
            "published": rfc3339_ms(created_ms),
            "report_types": ["threat-report"],
            "object_refs": refs,
            "object_marking_refs": [tlp_marking(v.tier).0],
            "external_references": external,
            "extensions": { EXTENSION_ID: bulletin_extension(v, input.envelope, b) },
        });
        let description = describe(b);
        if !description.is_empty() {
            report["description"] = Value::String(description);
        }
        out.push(self.entry(report, v.tier, input.added_ms));
    }

    /// A bulletin whose body this organization cannot read (restricted to
    /// others, purged, not received): nothing to export, but a retraction
    /// of a purged one this organization could read still revokes it.
    fn unreadable_bulletin(&mut self, v: &EntryView) {
        let could_read =
            v.tier != Tier::Restricted || v.recipients.as_ref().is_some_and(|r| r.contains(&self.me));
        self.track(&v.id, Tracked::report(v, false, v.purged && could_read));
    }

    fn ack(&mut self, input: Input<'_>, a: &AckView, out: &mut Vec<StixObject>) {
        let v = input.view;
        let identity = self.prelude(v.tier, &v.author, input.added_ms, out);
        let sighting_of = self
            .by_entry
            .get(&a.target)
            .map(|&i| &self.tracked[i])
            .filter(|t| t.object_type == "report")
            .map_or_else(|| report_id(&a.target), |t| t.stix_id.clone());
        let stix_id = sighting_id(&v.id);
        let tracked = Tracked {
            stix_id: stix_id.clone(),
            object_type: "sighting",
            sighting_of: Some(sighting_of.clone()),
            ..Tracked::report(v, true, false)
        };
        self.track(&v.id, tracked);
        let time = rfc3339_ms(v.timestamp_ms);
        let mut extension = entry_extension(v, input.envelope);
        extension.insert("status".into(), a.status.name().into());
        extension.insert("acknowledges".into(), a.target.clone().into());
        let mut sighting = json!({
            "type": "sighting",
            "spec_version": SPEC_VERSION,
            "id": stix_id,
            "created": time,
            "modified": time,
            "created_by_ref": identity,
            "sighting_of_ref": sighting_of,
            "where_sighted_refs": [identity],
            "first_seen": time,
            "last_seen": time,
            "count": 1,
            "object_marking_refs": [tlp_marking(v.tier).0],
            "external_references": [entry_reference(v)],
            "extensions": { EXTENSION_ID: Value::Object(extension) },
        });
        if !a.note.is_empty() {
            sighting["description"] = Value::String(a.note.clone());
        }
        out.push(self.entry(sighting, v.tier, input.added_ms));
    }

    fn retraction(&mut self, input: Input<'_>, r: &RetractionView, out: &mut Vec<StixObject>) {
        let v = input.view;
        let Some(&i) = self.by_entry.get(&r.target) else {
            return;
        };
        {
            let t = &self.tracked[i];
            // Only the author retracts, once; and only what this
            // organization exported or could have read before a purge.
            if t.author_key != v.author_key || t.revoked || !(t.exported || t.purged_readable) {
                return;
            }
        }
        let (tier, author) = (self.tracked[i].tier, self.tracked[i].author.clone());
        let identity = self.prelude(tier, &author, input.added_ms, out);
        let t = &mut self.tracked[i];
        t.revoked = true;
        t.last_ms = next_version(t.last_ms, v.timestamp_ms);
        let name = match r.reason.trim() {
            "" => "Retracted by its author".to_string(),
            reason => format!("Retracted: {}", clip(reason, REVOKED_NAME_CHARS)),
        };
        let mut extension = entry_extension(v, input.envelope);
        extension.insert("retracts".into(), r.target.clone().into());
        extension.insert("reason".into(), r.reason.clone().into());
        extension.insert("purge".into(), r.purge.into());
        let mut object = json!({
            "type": t.object_type,
            "spec_version": SPEC_VERSION,
            "id": t.stix_id,
            "created": rfc3339_ms(t.created_ms),
            "modified": rfc3339_ms(t.last_ms),
            "created_by_ref": identity,
            "revoked": true,
            "object_marking_refs": [tlp_marking(tier).0],
            "external_references": [entry_reference(v)],
            "extensions": { EXTENSION_ID: Value::Object(extension) },
        });
        match &t.sighting_of {
            Some(of) => {
                object["sighting_of_ref"] = of.clone().into();
                object["where_sighted_refs"] = json!([identity]);
                object["count"] = 1.into();
            }
            None => {
                object["name"] = name.into();
                object["published"] = rfc3339_ms(t.created_ms).into();
                object["report_types"] = json!(["threat-report"]);
                object["object_refs"] = json!([identity]);
            }
        }
        if !r.reason.is_empty() {
            object["description"] = r.reason.clone().into();
        }
        out.push(self.entry(object, tier, input.added_ms));
    }
}

/// `modified` of a new version: the entry's time, but always after the
/// previous version (an author's clock may repeat a millisecond).
fn next_version(last_ms: u64, entry_ms: u64) -> u64 {
    entry_ms.max(last_ms.saturating_add(1))
}

fn object_type_of(object: &Value) -> &'static str {
    const TYPES: [&str; 7] = [
        "report",
        "sighting",
        "identity",
        "marking-definition",
        "extension-definition",
        "attack-pattern",
        "vulnerability",
    ];
    let name = object["type"].as_str().unwrap_or_default();
    TYPES.into_iter().find(|t| *t == name).unwrap_or("unknown")
}

/// An organization's identity. Its role is the one on the roster in force.
fn org_identity(network: &str, org: &str, id: &str, role: Option<Role>) -> Value {
    let mut identity = json!({
        "type": "identity",
        "spec_version": SPEC_VERSION,
        "id": id,
        "created": MAPPING_EPOCH,
        "modified": MAPPING_EPOCH,
        "created_by_ref": PROJECT_IDENTITY_ID,
        "name": org,
        "identity_class": "organization",
    });
    let description = match role {
        Some(role) => {
            let role = match role {
                Role::Member => "member",
                Role::Observer => "observer",
            };
            identity["roles"] = json!([role]);
            format!("A {role} of the riskmesh network {network}.")
        }
        None => format!("An author on the riskmesh network {network} that is not on its roster in force."),
    };
    identity["description"] = description.into();
    identity
}

/// The external reference naming the entry itself.
fn entry_reference(v: &EntryView) -> Value {
    json!({
        "source_name": "riskmesh",
        "external_id": v.id,
        "description": format!("riskmesh entry {} #{} by {}", v.kind.name(), v.seq, v.author),
    })
}

/// A bulletin's reference: a link where it is a plain http(s) URL, text
/// otherwise.
fn bulletin_reference(reference: &str) -> Value {
    let is_url = (reference.starts_with("https://") || reference.starts_with("http://"))
        && reference.len() > "https://".len()
        && !reference
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>');
    if is_url {
        json!({ "source_name": "bulletin-reference", "url": reference })
    } else {
        json!({ "source_name": "bulletin-reference", "description": reference })
    }
}

/// The report's description: the summary, then the technical details
/// (empty at the hazardous tier, whose details are withheld).
fn describe(b: &BulletinView) -> String {
    match (b.summary.trim().is_empty(), b.details.trim().is_empty()) {
        (_, true) => b.summary.clone(),
        (true, false) => b.details.clone(),
        (false, false) => format!("{}\n\n{}", b.summary, b.details),
    }
}

/// The extension properties every entry's object carries.
fn entry_extension(v: &EntryView, envelope: Option<&[u8]>) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("extension_type".into(), "property-extension".into());
    map.insert("entry_id".into(), v.id.clone().into());
    map.insert("author".into(), v.author.clone().into());
    map.insert("author_key".into(), v.author_key.clone().into());
    map.insert("seq".into(), v.seq.into());
    map.insert("timestamp".into(), rfc3339_ms(v.timestamp_ms).into());
    map.insert("tier".into(), v.tier.name().into());
    map.insert("kind".into(), v.kind.name().into());
    if let Some(envelope) = envelope {
        map.insert("cose_sign1".into(), hex::encode(tagged_envelope(envelope)).into());
    }
    map
}

/// A bulletin's or correction's extension properties: its signed facts,
/// the withheld fields' commitments and the release policy, never the
/// withheld fields.
fn bulletin_extension(v: &EntryView, envelope: Option<&[u8]>, b: &BulletinView) -> Value {
    let mut map = entry_extension(v, envelope);
    if let Some(category) = b.category {
        map.insert("category".into(), category.name().into());
    }
    if let Some(severity) = b.severity {
        map.insert("severity".into(), severity.name().into());
    }
    map.insert("commitments".into(), json!(b.commitments));
    map.insert("affected".into(), json!(b.affected));
    map.insert("mitigations".into(), json!(b.mitigations));
    if let Some(ms) = b.embargo_until_ms {
        map.insert("embargo_until".into(), rfc3339_ms(ms).into());
    }
    if let Some(ms) = b.expires_ms {
        map.insert("expires".into(), rfc3339_ms(ms).into());
    }
    if let Some(target) = &b.supersedes {
        map.insert("supersedes".into(), target.clone().into());
    }
    if let Some(recipients) = &v.recipients {
        map.insert("recipients".into(), json!(recipients));
    }
    if let Some(withheld) = &b.withheld {
        let list: Vec<Value> = withheld
            .iter()
            .map(|w| json!({ "field": w.field, "commitment": w.commitment }))
            .collect();
        map.insert("withheld".into(), list.into());
    }
    if let Some(release) = &b.release {
        map.insert(
            "release".into(),
            json!({
                "observers_may_request": release.observers_may_request,
                "approvers": release.approvers,
                "threshold": release.threshold,
            }),
        );
    }
    Value::Object(map)
}

fn clip(text: &str, max: usize) -> String {
    let one_line = text.replace(['\n', '\r', '\t'], " ");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests;
