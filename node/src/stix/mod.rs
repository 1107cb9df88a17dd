//! STIX 2.1 for the entries an organization may read: the fixed objects
//! every export carries (the TLP 2.0 markings, riskmesh's extension
//! definition and its creator), deterministic identifiers, the mapping from
//! entries to objects ([`mapper`]), the walk over a store that feeds it and
//! the streamed bundle ([`bundle`]).
//!
//! Architecture Invariant: the mapping reads entries only through the API's
//! `Reader`, so it sees exactly what the API shows this organization: a
//! restricted body only where it is a recipient, a hazardous bulletin only as
//! its redacted summary. Withheld fields are never an input.

pub mod bundle;
pub mod import;
pub mod mapper;

pub use bundle::{ExportError, export_bundle};
pub use mapper::{Mapper, StixObject};

use riskmesh_protocol::Tier;
use riskmesh_protocol::body::{ExternalReference, Taxonomy};
use serde_json::{Value, json};
use uuid::Uuid;

/// The STIX specification version every object declares.
pub const SPEC_VERSION: &str = "2.1";

/// The media type of a STIX 2.1 bundle or object.
pub const STIX_MEDIA_TYPE: &str = "application/stix+json;version=2.1";

/// Namespace of riskmesh's UUIDv5 identifiers: `type--UUIDv5(NAMESPACE,
/// "type:name")`, so the same entry maps to the same STIX id on every node
/// and in every export.
pub const NAMESPACE: Uuid = Uuid::from_u128(0xf64d_15e5_ee28_4ac2_8c9d_2fa4_411a_537a);

/// The id of riskmesh's own STIX extension definition (`extension-definition`
/// object, property extension); its JSON schema is
/// `spec/stix/riskmesh-extension.schema.json`.
pub const EXTENSION_ID: &str = "extension-definition--610a2cc8-ad7d-4018-b327-0a1170863d5d";

/// The identity that defines the extension: the riskmesh project.
pub const PROJECT_IDENTITY_ID: &str = "identity--cb655274-b75d-480f-a779-348ac55c0c4f";

/// `created` and `modified` of the objects this mapping defines rather than
/// an entry: the extension definition, the project's identity, members'
/// identities and the taxonomy objects. It is the date of version 1.0.0 of
/// this mapping; a change to those objects is a new version with a later
/// date.
pub const MAPPING_EPOCH: &str = "2026-11-30T00:00:00.000Z";

/// The version of the extension (and of its schema).
pub const EXTENSION_VERSION: &str = "1.0.0";

/// The OASIS TLP 2.0 extension the TLP marking definitions carry.
pub const TLP2_EXTENSION_ID: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// `created` of the OASIS TLP 2.0 marking definitions.
const TLP2_CREATED: &str = "2022-10-01T00:00:00.000Z";

/// The published TLP 2.0 marking definition of a tier: its fixed id, its
/// name and its `tlp_2_0` value.
pub fn tlp_marking(tier: Tier) -> (&'static str, &'static str, &'static str) {
    match tier {
        Tier::Public => (
            "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
            "TLP:CLEAR",
            "clear",
        ),
        Tier::Consortium => (
            "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
            "TLP:GREEN",
            "green",
        ),
        Tier::Restricted => (
            "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
            "TLP:AMBER+STRICT",
            "amber+strict",
        ),
        Tier::Hazardous => (
            "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
            "TLP:RED",
            "red",
        ),
    }
}

/// The marking definition object of a tier, exactly as OASIS publishes it
/// (`cti-stix-common-objects`, `extension-definition-specifications/tlp-2.0`).
pub fn tlp_marking_object(tier: Tier) -> Value {
    let (id, name, value) = tlp_marking(tier);
    json!({
        "type": "marking-definition",
        "spec_version": SPEC_VERSION,
        "id": id,
        "created": TLP2_CREATED,
        "name": name,
        "extensions": {
            TLP2_EXTENSION_ID: {
                "extension_type": "property-extension",
                "tlp_2_0": value,
            }
        }
    })
}

/// A deterministic STIX id: `kind--UUIDv5(NAMESPACE, "kind:name")`.
pub fn stix_id(kind: &str, name: &str) -> String {
    format!(
        "{kind}--{}",
        Uuid::new_v5(&NAMESPACE, format!("{kind}:{name}").as_bytes())
    )
}

/// The STIX id of an organization of a network (`name` is its roster id,
/// or its key in hex if it is not on the roster).
pub fn identity_id(network: &str, org: &str) -> String {
    stix_id("identity", &format!("{network}/{org}"))
}

/// The STIX id of the report a bulletin and its corrections are versions
/// of: derived from the id of the bulletin that started it.
pub fn report_id(root_entry: &str) -> String {
    stix_id("report", root_entry)
}

/// The STIX id of the sighting an ack maps to.
pub fn sighting_id(ack_entry: &str) -> String {
    stix_id("sighting", ack_entry)
}

/// The STIX object type a taxonomy reference maps to: ATLAS techniques are
/// attack patterns, AVID classes vulnerabilities.
pub fn taxonomy_type(reference: &ExternalReference) -> &'static str {
    match reference.taxonomy {
        Taxonomy::MitreAtlas => "attack-pattern",
        Taxonomy::Avid => "vulnerability",
    }
}

/// The STIX id of a taxonomy object (shared by every report in its class).
pub fn taxonomy_id(reference: &ExternalReference) -> String {
    stix_id(
        taxonomy_type(reference),
        &format!("{}/{}", reference.taxonomy.source_name(), reference.id),
    )
}

/// A taxonomy reference as a STIX `external_reference`.
pub fn external_reference(reference: &ExternalReference) -> Value {
    let mut value = json!({
        "source_name": reference.taxonomy.source_name(),
        "external_id": reference.id,
        "description": reference.name,
    });
    if let Some(url) = reference.url() {
        value["url"] = Value::String(url);
    }
    value
}

/// The `attack-pattern` or `vulnerability` object of a taxonomy reference.
pub fn taxonomy_object(reference: &ExternalReference) -> Value {
    json!({
        "type": taxonomy_type(reference),
        "spec_version": SPEC_VERSION,
        "id": taxonomy_id(reference),
        "created": MAPPING_EPOCH,
        "modified": MAPPING_EPOCH,
        "created_by_ref": PROJECT_IDENTITY_ID,
        "name": reference.name,
        "external_references": [external_reference(reference)],
    })
}

/// The riskmesh project's identity, the creator of the extension definition.
pub fn project_identity() -> Value {
    json!({
        "type": "identity",
        "spec_version": SPEC_VERSION,
        "id": PROJECT_IDENTITY_ID,
        "created": MAPPING_EPOCH,
        "modified": MAPPING_EPOCH,
        "name": "riskmesh",
        "identity_class": "organization",
        "description": "The riskmesh project: defines the STIX extension that carries riskmesh entries' signed facts.",
    })
}

/// riskmesh's extension definition: a property extension whose properties
/// are specified by `spec/stix/riskmesh-extension.schema.json`.
pub fn extension_definition() -> Value {
    json!({
        "type": "extension-definition",
        "spec_version": SPEC_VERSION,
        "id": EXTENSION_ID,
        "created": MAPPING_EPOCH,
        "modified": MAPPING_EPOCH,
        "created_by_ref": PROJECT_IDENTITY_ID,
        "name": "riskmesh entry",
        "description": "The signed facts of the riskmesh entry an object was mapped from: entry id, author, \
            log position, tier, severity, category, White House commitments, and for the hazardous tier the \
            withheld fields' commitments and the release policy (never the withheld fields).",
        "schema": "spec/stix/riskmesh-extension.schema.json in the riskmesh repository \
            (JSON Schema draft-07)",
        "version": EXTENSION_VERSION,
        "extension_types": ["property-extension"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_uuidv5_and_distinct_by_kind() {
        let entry = "ab".repeat(32);
        assert_eq!(report_id(&entry), report_id(&entry));
        assert_ne!(report_id(&entry), report_id(&"cd".repeat(32)));
        let uuid = report_id(&entry).strip_prefix("report--").map(str::to_string);
        let parsed = uuid
            .and_then(|u| Uuid::parse_str(&u).ok())
            .map(|u| u.get_version_num());
        assert_eq!(parsed, Some(5));
        // The same name under another type is another object.
        assert_ne!(
            report_id(&entry).split("--").nth(1),
            sighting_id(&entry).split("--").nth(1)
        );
        assert_ne!(identity_id("net-a", "google"), identity_id("net-b", "google"));
    }

    #[test]
    fn the_fixed_ids_are_well_formed() {
        for id in [EXTENSION_ID, PROJECT_IDENTITY_ID, TLP2_EXTENSION_ID] {
            let uuid = id.split_once("--").map(|(_, u)| u).unwrap_or_default();
            assert!(Uuid::parse_str(uuid).is_ok(), "{id}");
        }
        for tier in Tier::ALL {
            let object = tlp_marking_object(tier);
            assert_eq!(
                object["name"],
                tier.tlp(),
                "the tier's TLP label names its marking"
            );
        }
        assert_eq!(
            NAMESPACE.to_string(),
            "f64d15e5-ee28-4ac2-8c9d-2fa4411a537a",
            "changing the namespace changes every exported id"
        );
    }
}
