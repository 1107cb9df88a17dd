//! Drafting a bulletin from STIX 2.1, the reverse of [`super::mapper`]: a
//! bundle or a single object in, a [`PublishRequest`] draft or a typed
//! [`ImportError`] out. Pure: no file, no node, no clock.
//!
//! - The object: the one `report` or `vulnerability` of the input (the
//!   latest version of each id; revoked ones and vulnerabilities a report
//!   refers to do not count), or the one `--stix-id` names.
//! - A report riskmesh exported (it carries riskmesh's extension) maps back
//!   exactly: title, summary and details (the description split at its first
//!   blank line, as the mapper joined them), category, severity, affected,
//!   mitigations, references, commitments, embargo, expiry, tier and
//!   recipients. A hazardous one is refused: it is the redacted summary.
//! - A foreign object maps `name` → title, `description` → summary (to
//!   details instead when `--summary` is given), external references →
//!   references (the URL, a CVE's id, else `source_name external_id`).
//!   Category and severity come from the flags. At the hazardous tier the
//!   description is the withheld details and `--summary` is required.
//! - The tier is never looser than the object's TLP marking (or the
//!   extension's tier): CLEAR → public, GREEN → consortium, AMBER and
//!   AMBER+STRICT → restricted (recipients from `--to`), RED → refused
//!   unless `--tier hazardous`. A marking this mapping cannot read needs an
//!   explicit `--tier`.

use super::EXTENSION_ID;
use crate::api::PublishRequest;
use crate::api::names::Named;
use crate::utc::parse_rfc3339;
use riskmesh_protocol::limits::{
    MAX_DETAILS_BYTES, MAX_LIST_ITEMS, MAX_RECIPIENTS, MAX_SUMMARY_BYTES, MAX_TEXT_BYTES, MAX_TITLE_BYTES,
};
use riskmesh_protocol::{Category, Severity, Tier};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Largest STIX file (bundle or object) read, in bytes. A bundle carries
/// other objects besides the one drafted from (identities, markings, the
/// objects a report refers to), so it may be far larger than a bulletin.
pub const MAX_STIX_BYTES: u64 = 4 * 1024 * 1024;

/// The object types a bulletin can be drafted from.
pub const DRAFTABLE_TYPES: [&str; 2] = ["report", "vulnerability"];

/// What the analyst decided on the command line, which the mapping must
/// respect (the remaining flags are laid over the draft afterwards).
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Which object of a bundle to draft from.
    pub stix_id: Option<String>,
    /// The tier asked for; refused if looser than the marking.
    pub tier: Option<Tier>,
    /// Restricted tier: the recipients.
    pub recipients: Vec<String>,
    /// The category, over the extension's.
    pub category: Option<Category>,
    /// The severity, over the extension's.
    pub severity: Option<Severity>,
    /// A title, over the object's name.
    pub title: Option<String>,
    /// A summary; a foreign object's description then becomes the details.
    pub summary: Option<String>,
}

/// A bulletin drafted from a STIX object, with how it was mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// The request to send (or to show in a dry run).
    pub request: PublishRequest,
    /// The STIX id drafted from.
    pub source_id: String,
    /// Its STIX type: `report` or `vulnerability`.
    pub source_type: String,
    /// Whether it carried riskmesh's extension (exported by riskmesh).
    pub from_riskmesh: bool,
    /// How the tier and fields were chosen, one line each.
    pub notes: Vec<String>,
}

/// Why a STIX input cannot become a bulletin draft.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The input is not a STIX object or bundle.
    #[error("not STIX 2.1: {0}")]
    NotStix(String),
    /// A single object of a type no bulletin is drafted from.
    #[error(
        "{id} is a STIX `{object_type}`; a bulletin is drafted from a `report` or a `vulnerability` only"
    )]
    UnsupportedType {
        /// Its id.
        id: String,
        /// Its type.
        object_type: String,
    },
    /// A bundle without a report or vulnerability.
    #[error(
        "the bundle holds no report or vulnerability to draft from (it holds {found}); export a report or a \
         vulnerability from your platform"
    )]
    NoCandidate {
        /// The types it holds, with counts.
        found: String,
    },
    /// A bundle with several reports or vulnerabilities.
    #[error(
        "the bundle holds {} objects a bulletin could be drafted from; pick one with --stix-id ID:\n{}",
        .0.len(), list_candidates(.0)
    )]
    SeveralCandidates(Vec<(String, String)>),
    /// `--stix-id` names no report or vulnerability of the input.
    #[error("--stix-id {id}: no report or vulnerability with that id in the input; it holds:\n{}", list_candidates(.candidates))]
    NoSuchObject {
        /// The id asked for.
        id: String,
        /// The ids it holds, with names.
        candidates: Vec<(String, String)>,
    },
    /// The object's latest version is revoked.
    #[error("{0} is revoked (retracted by its author); riskmesh does not draft from it")]
    Revoked(String),
    /// The redacted summary of a hazardous riskmesh bulletin.
    #[error(
        "{0} is the redacted summary of a hazardous riskmesh bulletin: its withheld fields are not in it, so it \
         cannot be republished; ask for them with `riskmesh request`"
    )]
    RedactedSummary(String),
    /// A required field is absent and no flag gives it.
    #[error("{field}: pass {flag}")]
    Missing {
        /// What is missing.
        field: &'static str,
        /// The flag that gives it.
        flag: &'static str,
    },
    /// A text over its bulletin limit.
    #[error("the {field} would be {len} bytes, over the bulletin limit of {limit}: {hint}")]
    TooLong {
        /// The bulletin field.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
        /// What to do.
        hint: &'static str,
    },
    /// A list over its bulletin limit, or an item of it too long.
    #[error("the {field} list {problem}; shorten it in the source or override it with {flag}")]
    List {
        /// The bulletin field.
        field: &'static str,
        /// What is wrong.
        problem: String,
        /// The flag that overrides it.
        flag: &'static str,
    },
    /// riskmesh's extension carries a value this version cannot read.
    #[error("riskmesh's extension on {id}: {problem}")]
    Extension {
        /// The object.
        id: String,
        /// What is wrong.
        problem: String,
    },
    /// The marking asks for a tier that needs an explicit choice.
    #[error("{id} is marked {marking}: {hint}")]
    Marking {
        /// The object.
        id: String,
        /// The marking, as its label or id.
        marking: String,
        /// What to pass.
        hint: String,
    },
    /// The tier asked for is looser than the marking allows.
    #[error(
        "{id} is marked {marking}, which allows no looser tier than {floor}; --tier {asked} would share it more \
         widely. Pass --tier {floor} or stricter"
    )]
    LooserThanMarking {
        /// The object.
        id: String,
        /// The marking.
        marking: String,
        /// The loosest tier it allows.
        floor: &'static str,
        /// The tier asked for.
        asked: &'static str,
    },
    /// A restricted draft without recipients.
    #[error(
        "{id} would be restricted ({why}), which only named organizations read: name them with --to ORG,ORG"
    )]
    NeedsRecipients {
        /// The object.
        id: String,
        /// Why the tier is restricted.
        why: String,
    },
    /// `--to` given for a tier without recipients.
    #[error("--to names recipients, which only a restricted bulletin has; the draft's tier is {0}")]
    RecipientsWithoutRestricted(&'static str),
}

fn list_candidates(candidates: &[(String, String)]) -> String {
    candidates
        .iter()
        .map(|(id, name)| format!("  {id}  {name}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A TLP level as markings state it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tlp {
    Clear,
    Green,
    Amber,
    AmberStrict,
    Red,
}

impl Tlp {
    fn parse(text: &str) -> Option<Tlp> {
        let text = text.trim().to_ascii_lowercase();
        match text.strip_prefix("tlp:").unwrap_or(&text) {
            "clear" | "white" => Some(Tlp::Clear),
            "green" => Some(Tlp::Green),
            "amber" => Some(Tlp::Amber),
            "amber+strict" => Some(Tlp::AmberStrict),
            "red" => Some(Tlp::Red),
            _ => None,
        }
    }

    /// The loosest tier the level allows.
    fn floor(self) -> Tier {
        match self {
            Tlp::Clear => Tier::Public,
            Tlp::Green => Tier::Consortium,
            Tlp::Amber | Tlp::AmberStrict => Tier::Restricted,
            Tlp::Red => Tier::Hazardous,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tlp::Clear => "TLP:CLEAR",
            Tlp::Green => "TLP:GREEN",
            Tlp::Amber => "TLP:AMBER",
            Tlp::AmberStrict => "TLP:AMBER+STRICT",
            Tlp::Red => "TLP:RED",
        }
    }
}

/// The published TLP marking definitions' fixed ids: TLP 2.0
/// (`cti-stix-common-objects`) and TLP 1.0 (STIX 2.1 §7.2.1.4).
const TLP_IDS: [(&str, Tlp); 9] = [
    (
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        Tlp::Clear,
    ),
    (
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        Tlp::Green,
    ),
    (
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        Tlp::Amber,
    ),
    (
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        Tlp::AmberStrict,
    ),
    (
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        Tlp::Red,
    ),
    (
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        Tlp::Clear,
    ),
    (
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        Tlp::Green,
    ),
    (
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
        Tlp::Amber,
    ),
    (
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
        Tlp::Red,
    ),
];

/// What one marking reference says.
enum Marking {
    Tlp(Tlp),
    /// A marking that restricts nothing by TLP (a statement, a copyright).
    Other,
    /// A marking neither known nor defined in the input.
    Unknown(String),
}

/// Reads a marking reference: a fixed TLP id, or a marking definition of
/// the input (TLP 1.0 `definition`, TLP 2.0 extension, or a `TLP:` name as
/// OpenCTI and MISP write them).
fn marking(id: &str, objects: &[&Map<String, Value>]) -> Marking {
    if let Some((_, tlp)) = TLP_IDS.iter().find(|(known, _)| *known == id) {
        return Marking::Tlp(*tlp);
    }
    let Some(definition) = objects
        .iter()
        .find(|o| o.get("id").and_then(Value::as_str) == Some(id))
    else {
        return Marking::Unknown(id.to_string());
    };
    let mut texts: Vec<&str> = Vec::new();
    if let Some(Value::Object(d)) = definition.get("definition") {
        texts.extend(
            d.iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("tlp"))
                .filter_map(|(_, v)| v.as_str()),
        );
    }
    if let Some(Value::Object(extensions)) = definition.get("extensions") {
        texts.extend(extensions.values().filter_map(|e| e.get("tlp_2_0")?.as_str()));
    }
    if let Some(name) = definition.get("name").and_then(Value::as_str)
        && name.trim().to_ascii_lowercase().starts_with("tlp:")
    {
        texts.push(name);
    }
    if let Some(tlp) = texts.into_iter().find_map(Tlp::parse) {
        return Marking::Tlp(tlp);
    }
    let kind = definition.get("definition_type").and_then(Value::as_str);
    if kind.is_some_and(|k| !k.eq_ignore_ascii_case("tlp")) {
        Marking::Other
    } else {
        Marking::Unknown(id.to_string())
    }
}

/// Drafts a bulletin from a STIX bundle or object.
pub fn draft(input: &Value, options: &ImportOptions) -> Result<Draft, ImportError> {
    let objects = objects(input)?;
    let object = pick(&objects, options)?;
    let id = text(object, "id").to_string();
    let source_type = text(object, "type").to_string();
    let extension = object
        .get("extensions")
        .and_then(|e| e.get(EXTENSION_ID))
        .and_then(Value::as_object);
    let mut notes = Vec::new();
    let mut request = PublishRequest::default();
    let mut floor: Option<(Tier, String)> = None;
    let mut unknown = Vec::new();
    for reference in marking_refs(object) {
        match marking(reference, &objects) {
            Marking::Tlp(tlp) => {
                if floor.as_ref().is_none_or(|(tier, _)| tlp.floor() > *tier) {
                    floor = Some((tlp.floor(), tlp.label().to_string()));
                }
            }
            Marking::Other => {}
            Marking::Unknown(id) => unknown.push(id),
        }
    }
    if let Some(ext) = extension {
        let facts = Facts::read(&id, ext)?;
        if facts.tier == Tier::Hazardous || ext.contains_key("withheld") {
            return Err(ImportError::RedactedSummary(id));
        }
        if floor.as_ref().is_none_or(|(tier, _)| facts.tier > *tier) {
            floor = Some((facts.tier, format!("riskmesh tier {}", facts.tier.name())));
        }
        facts.apply(&mut request);
        notes.push(
            "category, severity, affected, mitigations and commitments from riskmesh's extension".into(),
        );
    }
    let marking_label = floor
        .as_ref()
        .filter(|_| options.tier.is_none())
        .map(|(_, label)| label.clone());
    let tier = choose_tier(&id, floor, &unknown, options, &mut notes)?;
    request.tier = Some(tier);
    if tier == Tier::Restricted {
        if !options.recipients.is_empty() {
            request.recipients = Some(options.recipients.clone());
        } else if request.recipients.is_none() {
            let why = marking_label.map_or("--tier restricted".to_string(), |m| format!("its marking {m}"));
            return Err(ImportError::NeedsRecipients { id, why });
        }
    } else {
        if !options.recipients.is_empty() {
            return Err(ImportError::RecipientsWithoutRestricted(tier.name()));
        }
        request.recipients = None;
    }
    request.title = match (&options.title, object.get("name").and_then(Value::as_str)) {
        (Some(title), _) => Some(title.clone()),
        (None, Some(name)) if !name.trim().is_empty() => Some(name.to_string()),
        _ => {
            return Err(ImportError::Missing {
                field: "the object has no name to be the bulletin's title",
                flag: "--title TEXT",
            });
        }
    };
    let description = object
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match (&options.summary, extension.is_some()) {
        (Some(summary), _) => {
            request.summary = Some(summary.clone());
            request.details = Some(description.to_string());
            notes.push("description → details (--summary given)".into());
        }
        (None, true) => {
            let (summary, details) = description.split_once("\n\n").unwrap_or((description, ""));
            request.summary = Some(summary.to_string());
            request.details = Some(details.to_string());
        }
        // At the hazardous tier the description is the finding itself: it
        // becomes the withheld details, never the summary everyone receives.
        (None, false) if tier == Tier::Hazardous => {
            return Err(ImportError::Missing {
                field: "at the hazardous tier the description becomes the withheld details, and the \
                        summary every member receives must be written for them",
                flag: "--summary TEXT",
            });
        }
        (None, false) => {
            if description.len() > MAX_SUMMARY_BYTES {
                return Err(ImportError::TooLong {
                    field: "summary (the object's description)",
                    len: description.len(),
                    limit: MAX_SUMMARY_BYTES,
                    hint: "pass a short --summary TEXT and the description becomes the details",
                });
            }
            request.summary = Some(description.to_string());
            notes.push("description → summary".into());
        }
    }
    request.references = Some(references(object, extension.is_some()));
    if options.category.is_some() {
        request.category = options.category;
    }
    if options.severity.is_some() {
        request.severity = options.severity;
    }
    if request.category.is_none() {
        return Err(ImportError::Missing {
            field: "a STIX object from another platform carries no riskmesh category",
            flag: "--category CATEGORY (bio, chem, nuclear-radiological, cyber-offense, model-weights-security, autonomy-self-replication, deception-manipulation, privacy, bias-fairness, misuse-jailbreak, other)",
        });
    }
    if request.severity.is_none() {
        return Err(ImportError::Missing {
            field: "a STIX object from another platform carries no riskmesh severity",
            flag: "--severity SEVERITY (info, low, medium, high, critical)",
        });
    }
    check_limits(&request)?;
    Ok(Draft {
        request,
        source_id: id,
        source_type,
        from_riskmesh: extension.is_some(),
        notes,
    })
}

/// The objects of a bundle, or the single object; each has a `type` and an
/// `id` of that type.
fn objects(input: &Value) -> Result<Vec<&Map<String, Value>>, ImportError> {
    let Some(top) = input.as_object() else {
        return Err(ImportError::NotStix(
            "the file holds JSON but not an object; expected a STIX bundle or object".into(),
        ));
    };
    let Some(kind) = top.get("type").and_then(Value::as_str) else {
        return Err(ImportError::NotStix(
            "the JSON object has no `type`; expected a STIX bundle ({\"type\": \"bundle\", …}) or object"
                .into(),
        ));
    };
    if kind != "bundle" && !DRAFTABLE_TYPES.contains(&kind) {
        return Err(ImportError::UnsupportedType {
            id: top
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("the object")
                .to_string(),
            object_type: kind.to_string(),
        });
    }
    let list: Vec<&Value> = if kind == "bundle" {
        match top.get("objects") {
            Some(Value::Array(list)) => list.iter().collect(),
            None => Vec::new(),
            Some(_) => {
                return Err(ImportError::NotStix(
                    "the bundle's `objects` is not a list".into(),
                ));
            }
        }
    } else {
        vec![input]
    };
    list.into_iter()
        .enumerate()
        .map(|(i, value)| {
            let where_ = if kind == "bundle" {
                format!("the bundle's object {}", i + 1)
            } else {
                "the object".to_string()
            };
            let object = value
                .as_object()
                .ok_or_else(|| ImportError::NotStix(format!("{where_} is not a JSON object")))?;
            let object_type = object
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| ImportError::NotStix(format!("{where_} has no `type`")))?;
            let id = object
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| ImportError::NotStix(format!("{where_} ({object_type}) has no `id`")))?;
            if !id
                .strip_prefix(object_type)
                .is_some_and(|rest| rest.starts_with("--"))
            {
                return Err(ImportError::NotStix(format!(
                    "{where_} has id `{id}`, which is not of the form {object_type}--UUID"
                )));
            }
            Ok(object)
        })
        .collect()
}

fn text<'a>(object: &'a Map<String, Value>, key: &str) -> &'a str {
    object.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The object to draft from: the latest version of each report or
/// vulnerability id, less revoked ones and those a report refers to.
fn pick<'a>(
    objects: &[&'a Map<String, Value>],
    options: &ImportOptions,
) -> Result<&'a Map<String, Value>, ImportError> {
    let mut latest: BTreeMap<&str, &Map<String, Value>> = BTreeMap::new();
    for object in objects.iter().copied() {
        if !DRAFTABLE_TYPES.contains(&text(object, "type")) {
            continue;
        }
        let id = text(object, "id");
        let newer = latest
            .get(id)
            .is_none_or(|seen| text(object, "modified") >= text(seen, "modified"));
        if newer {
            latest.insert(id, object);
        }
    }
    let referred: Vec<&str> = latest
        .values()
        .filter(|o| text(o, "type") == "report")
        .filter_map(|o| o.get("object_refs")?.as_array())
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let revoked = |o: &Map<String, Value>| o.get("revoked") == Some(&Value::Bool(true));
    let candidates: Vec<&Map<String, Value>> = latest
        .iter()
        .filter(|(id, o)| !referred.contains(id) && !revoked(o))
        .map(|(_, o)| *o)
        .collect();
    let named = |list: &[&Map<String, Value>]| -> Vec<(String, String)> {
        list.iter()
            .map(|o| (text(o, "id").to_string(), text(o, "name").to_string()))
            .collect()
    };
    if let Some(wanted) = &options.stix_id {
        if let Some(object) = latest.get(wanted.as_str()) {
            return if revoked(object) {
                Err(ImportError::Revoked(wanted.clone()))
            } else {
                Ok(object)
            };
        }
        if let Some(other) = objects.iter().find(|o| text(o, "id") == wanted) {
            return Err(ImportError::UnsupportedType {
                id: wanted.clone(),
                object_type: text(other, "type").to_string(),
            });
        }
        let all: Vec<&Map<String, Value>> = latest.values().copied().collect();
        return Err(ImportError::NoSuchObject {
            id: wanted.clone(),
            candidates: named(&all),
        });
    }
    match candidates.as_slice() {
        [one] => Ok(one),
        [] if latest.len() == 1 => Err(ImportError::Revoked(
            latest.keys().next().copied().unwrap_or_default().to_string(),
        )),
        [] => {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for o in objects {
                *counts.entry(text(o, "type")).or_default() += 1;
            }
            let found = if counts.is_empty() {
                "no objects".to_string()
            } else {
                counts
                    .iter()
                    .map(|(t, n)| format!("{n} {t}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            Err(ImportError::NoCandidate { found })
        }
        several => Err(ImportError::SeveralCandidates(named(several))),
    }
}

/// The object's marking references, object-level and granular.
fn marking_refs(object: &Map<String, Value>) -> Vec<&str> {
    let mut refs: Vec<&str> = object
        .get("object_marking_refs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    refs.extend(
        object
            .get("granular_markings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|g| g.get("marking_ref")?.as_str()),
    );
    refs
}

/// The tier: the one asked for if no looser than the marking, else the
/// marking's own where it needs no further choice.
fn choose_tier(
    id: &str,
    floor: Option<(Tier, String)>,
    unknown: &[String],
    options: &ImportOptions,
    notes: &mut Vec<String>,
) -> Result<Tier, ImportError> {
    if let Some(asked) = options.tier {
        if let Some((tier, marking)) = &floor
            && asked < *tier
        {
            return Err(ImportError::LooserThanMarking {
                id: id.to_string(),
                marking: marking.clone(),
                floor: tier.name(),
                asked: asked.name(),
            });
        }
        if !unknown.is_empty() {
            notes.push(format!(
                "unread markings {} overridden by --tier",
                unknown.join(", ")
            ));
        }
        notes.push(format!("tier {} from --tier", asked.name()));
        return Ok(asked);
    }
    if let Some(first) = unknown.first() {
        return Err(ImportError::Marking {
            id: id.to_string(),
            marking: first.clone(),
            hint: "riskmesh cannot tell which readers that marking allows; pass --tier TIER \
                   (public, consortium, restricted with --to, hazardous) to choose"
                .into(),
        });
    }
    match floor {
        None => {
            notes.push("no TLP marking: tier consortium, the default".into());
            Ok(Tier::Consortium)
        }
        Some((Tier::Hazardous, marking)) => Err(ImportError::Marking {
            id: id.to_string(),
            marking,
            hint: "TLP:RED is riskmesh's hazardous tier, where the details are withheld and released only \
                   on approved request; pass --tier hazardous to publish it so"
                .into(),
        }),
        Some((tier, marking)) => {
            notes.push(format!("tier {} from {marking}", tier.name()));
            Ok(tier)
        }
    }
}

/// The bulletin's references: for a riskmesh export its own references
/// (not the entry's or the taxonomy's); otherwise each external
/// reference's URL, a CVE's id, or `source_name external_id`.
fn references(object: &Map<String, Value>, from_riskmesh: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for reference in object
        .get("external_references")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
    {
        let source = text(reference, "source_name");
        let url = reference.get("url").and_then(Value::as_str);
        let external_id = reference.get("external_id").and_then(Value::as_str);
        let value = if from_riskmesh {
            if source != "bulletin-reference" {
                continue;
            }
            url.or_else(|| reference.get("description").and_then(Value::as_str))
                .map(str::to_string)
        } else if source.eq_ignore_ascii_case("cve") && external_id.is_some() {
            external_id.map(str::to_string)
        } else {
            url.map(str::to_string)
                .or_else(|| external_id.map(|e| format!("{source} {e}").trim().to_string()))
        };
        if let Some(value) = value
            && !out.contains(&value)
        {
            out.push(value);
        }
    }
    out
}

/// The bulletin facts riskmesh's extension carries.
struct Facts {
    tier: Tier,
    category: Option<Category>,
    severity: Option<Severity>,
    affected: Vec<String>,
    mitigations: Vec<String>,
    commitments: Vec<u8>,
    embargo_until_ms: Option<u64>,
    expires_ms: Option<u64>,
    recipients: Option<Vec<String>>,
}

impl Facts {
    fn read(id: &str, ext: &Map<String, Value>) -> Result<Facts, ImportError> {
        let bad = |problem: String| ImportError::Extension {
            id: id.to_string(),
            problem,
        };
        let name = |key: &str| ext.get(key).and_then(Value::as_str);
        fn named<T: Named>(
            value: Option<&str>,
            bad: impl Fn(String) -> ImportError,
        ) -> Result<Option<T>, ImportError> {
            value.map(T::from_name).transpose().map_err(bad)
        }
        let strings = |key: &str| -> Result<Vec<String>, ImportError> {
            match ext.get(key) {
                None => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| bad(format!("`{key}` is not a list of strings"))),
                Some(_) => Err(bad(format!("`{key}` is not a list of strings"))),
            }
        };
        let time = |key: &str| -> Result<Option<u64>, ImportError> {
            name(key)
                .map(parse_rfc3339)
                .transpose()
                .map_err(|e| bad(format!("`{key}`: {e}")))
        };
        let tier = named::<Tier>(name("tier"), bad)?.ok_or_else(|| bad("it names no `tier`".into()))?;
        let commitments = match ext.get("commitments") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_u64().filter(|n| (1..=8).contains(n)).map(|n| n as u8))
                .collect::<Option<Vec<u8>>>()
                .ok_or_else(|| bad("`commitments` is not a list of numbers 1 to 8".into()))?,
            Some(_) => return Err(bad("`commitments` is not a list of numbers 1 to 8".into())),
        };
        let recipients = if ext.contains_key("recipients") {
            Some(strings("recipients")?)
        } else {
            None
        };
        Ok(Facts {
            tier,
            category: named(name("category"), bad)?,
            severity: named(name("severity"), bad)?,
            affected: strings("affected")?,
            mitigations: strings("mitigations")?,
            commitments,
            embargo_until_ms: time("embargo_until")?,
            expires_ms: time("expires")?,
            recipients,
        })
    }

    fn apply(self, request: &mut PublishRequest) {
        request.category = self.category;
        request.severity = self.severity;
        request.affected = Some(self.affected);
        request.mitigations = Some(self.mitigations);
        request.commitments = Some(self.commitments);
        request.embargo_until_ms = self.embargo_until_ms;
        request.expires_ms = self.expires_ms;
        request.recipients = self.recipients.filter(|_| self.tier == Tier::Restricted);
    }
}

/// Checks a draft against the bulletin limits (`riskmesh_protocol::limits`)
/// so a dry run shows what the node would refuse. Run again after flags
/// are laid over the draft.
pub fn check_limits(request: &PublishRequest) -> Result<(), ImportError> {
    let texts = [
        (
            "title",
            &request.title,
            MAX_TITLE_BYTES,
            "pass a shorter --title TEXT",
        ),
        (
            "summary",
            &request.summary,
            MAX_SUMMARY_BYTES,
            "pass a shorter --summary TEXT (a foreign object's description then becomes the details)",
        ),
        (
            "details",
            &request.details,
            MAX_DETAILS_BYTES,
            "shorten the description in the source",
        ),
    ];
    for (field, value, limit, hint) in texts {
        let len = value.as_deref().map_or(0, str::len);
        if len > limit {
            return Err(ImportError::TooLong {
                field,
                len,
                limit,
                hint,
            });
        }
    }
    if request.title.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err(ImportError::Missing {
            field: "title",
            flag: "--title TEXT",
        });
    }
    let lists = [
        ("affected", &request.affected, MAX_LIST_ITEMS, "--affected"),
        (
            "mitigations",
            &request.mitigations,
            MAX_LIST_ITEMS,
            "--mitigation",
        ),
        ("references", &request.references, MAX_LIST_ITEMS, "--reference"),
        ("recipients", &request.recipients, MAX_RECIPIENTS, "--to"),
    ];
    for (field, items, limit, flag) in lists {
        let items = items.as_deref().unwrap_or_default();
        if items.len() > limit {
            return Err(ImportError::List {
                field,
                problem: format!("has {} items, over the limit of {limit}", items.len()),
                flag,
            });
        }
        if let Some(long) = items.iter().find(|i| i.len() > MAX_TEXT_BYTES) {
            return Err(ImportError::List {
                field,
                problem: format!(
                    "has an item of {} bytes, over the limit of {MAX_TEXT_BYTES}",
                    long.len()
                ),
                flag,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
