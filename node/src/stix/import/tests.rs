use super::*;
use crate::api::views::{BodyView, BulletinView, EntryView};
use crate::stix::mapper::{Input, Mapper};
use riskmesh_protocol::{Kind, Role};
use serde_json::json;

fn view(tier: Tier, recipients: Option<Vec<String>>) -> EntryView {
    EntryView {
        id: "01".repeat(32),
        author: "anthropic".into(),
        author_key: "aa".repeat(32),
        seq: 1,
        timestamp_ms: 1_714_573_800_000,
        tier,
        tlp: tier.tlp().into(),
        kind: Kind::Bulletin,
        category: None,
        severity: None,
        title: None,
        target: None,
        recipients,
        readable: true,
        has_body: true,
        purged: false,
        body_len: 10,
        received_ms: 1_714_573_800_005,
        key_notice: None,
        author_retired: None,
    }
}

fn bulletin(category: Category) -> BulletinView {
    BulletinView {
        title: "Role-play jailbreak".into(),
        summary: "Multi-turn role-play bypasses refusals.".into(),
        category: Some(category),
        severity: Some(Severity::High),
        affected: vec!["chat-model-v3".into(), "chat-model-v4".into()],
        details: "Step 1.\n\nStep 2.".into(),
        mitigations: vec!["classifier on turn 3".into()],
        references: vec!["https://example.org/a".into(), "internal report 7".into()],
        commitments: vec![1, 3],
        embargo_until_ms: Some(1_714_600_000_000),
        expires_ms: Some(1_730_000_000_000),
        supersedes: None,
        withheld: None,
        release: None,
    }
}

/// What riskmesh's mapper exports for the bulletin, as one bundle.
fn exported(v: &EntryView, b: &BulletinView) -> Value {
    let roles = [("anthropic".to_string(), Role::Member)];
    let mut mapper = Mapper::new("test-net", "anthropic", roles.into_iter().collect());
    let body = BodyView::Bulletin(b.clone());
    let objects = mapper.map(Input {
        view: v,
        body: Some(&body),
        added_ms: v.received_ms,
        envelope: Some(&[0x84, 0x01]),
    });
    let objects: Vec<Value> = objects.into_iter().map(|o| o.json).collect();
    json!({ "type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": objects })
}

fn foreign(marking: Option<&str>) -> Value {
    let mut report = json!({
        "type": "report",
        "spec_version": "2.1",
        "id": "report--84e4d88f-44ea-4bcd-bbf3-b2c1c320bcb3",
        "created": "2024-05-01T14:30:00.000Z",
        "modified": "2024-05-01T14:30:00.000Z",
        "name": "Prompt injection in a browsing agent",
        "description": "Hidden text on a page redirects the agent.",
        "published": "2024-05-01T14:30:00.000Z",
        "object_refs": ["vulnerability--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061"],
        "external_references": [
            { "source_name": "blog", "url": "https://example.org/post" },
            { "source_name": "capec", "external_id": "CAPEC-137" },
            { "source_name": "note", "description": "no link" },
        ],
    });
    if let Some(marking) = marking {
        report["object_marking_refs"] = json!([marking]);
    }
    json!({
        "type": "bundle",
        "id": "bundle--1d0092c5-5f74-4287-9642-33f4c354e56d",
        "objects": [
            report,
            {
                "type": "vulnerability",
                "spec_version": "2.1",
                "id": "vulnerability--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
                "created": "2024-05-01T14:30:00.000Z",
                "modified": "2024-05-01T14:30:00.000Z",
                "name": "CVE-2024-0001",
                "external_references": [{ "source_name": "cve", "external_id": "CVE-2024-0001" }],
            }
        ]
    })
}

fn flags() -> ImportOptions {
    ImportOptions {
        category: Some(Category::MisuseJailbreak),
        severity: Some(Severity::Medium),
        ..ImportOptions::default()
    }
}

const GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
const AMBER_TLP1: &str = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82";
const RED: &str = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";

#[test]
fn a_bulletin_exported_by_riskmesh_imports_back_to_the_same_fields() {
    for (tier, recipients) in [
        (Tier::Public, None),
        (Tier::Consortium, None),
        (
            Tier::Restricted,
            Some(vec!["anthropic".to_string(), "google".to_string()]),
        ),
    ] {
        for category in [Category::MisuseJailbreak, Category::BiasFairness, Category::Other] {
            let v = view(tier, recipients.clone());
            let b = bulletin(category);
            let draft = draft(&exported(&v, &b), &ImportOptions::default()).expect("draft");
            assert!(draft.from_riskmesh);
            assert_eq!(draft.source_type, "report");
            let r = draft.request;
            assert_eq!(r.tier, Some(tier));
            assert_eq!(r.recipients, recipients);
            assert_eq!(r.title.as_deref(), Some(b.title.as_str()));
            assert_eq!(r.summary.as_deref(), Some(b.summary.as_str()));
            assert_eq!(r.details.as_deref(), Some(b.details.as_str()));
            assert_eq!((r.category, r.severity), (b.category, b.severity));
            assert_eq!(r.affected, Some(b.affected.clone()));
            assert_eq!(r.mitigations, Some(b.mitigations.clone()));
            assert_eq!(r.references, Some(b.references.clone()), "{category:?}");
            assert_eq!(r.commitments, Some(b.commitments.clone()));
            assert_eq!(
                (r.embargo_until_ms, r.expires_ms),
                (b.embargo_until_ms, b.expires_ms)
            );
        }
    }
}

#[test]
fn a_hazardous_summary_is_refused_and_flags_override_the_extension() {
    let mut b = bulletin(Category::Bio);
    b.details.clear();
    b.withheld = Some(Vec::new());
    let bundle = exported(&view(Tier::Hazardous, None), &b);
    assert!(matches!(
        draft(&bundle, &ImportOptions::default()),
        Err(ImportError::RedactedSummary(_))
    ));

    let bundle = exported(&view(Tier::Consortium, None), &bulletin(Category::Bio));
    let options = ImportOptions {
        severity: Some(Severity::Critical),
        tier: Some(Tier::Restricted),
        recipients: vec!["google".into()],
        ..ImportOptions::default()
    };
    let r = draft(&bundle, &options).expect("draft").request;
    assert_eq!(r.severity, Some(Severity::Critical));
    assert_eq!(r.category, Some(Category::Bio));
    assert_eq!(r.recipients, Some(vec!["google".to_string()]));
    let looser = ImportOptions {
        tier: Some(Tier::Public),
        ..ImportOptions::default()
    };
    assert!(matches!(
        draft(&bundle, &looser),
        Err(ImportError::LooserThanMarking {
            floor: "consortium",
            asked: "public",
            ..
        })
    ));
}

#[test]
fn a_foreign_report_maps_name_description_and_references_and_needs_category_and_severity() {
    let bundle = foreign(Some(GREEN));
    let err = draft(&bundle, &ImportOptions::default()).expect_err("no category");
    assert!(err.to_string().contains("--category"), "{err}");
    let only_category = ImportOptions {
        category: Some(Category::Other),
        ..ImportOptions::default()
    };
    let err = draft(&bundle, &only_category).expect_err("no severity");
    assert!(err.to_string().contains("--severity"), "{err}");

    let d = draft(&bundle, &flags()).expect("draft");
    assert!(!d.from_riskmesh);
    assert_eq!(d.source_id, "report--84e4d88f-44ea-4bcd-bbf3-b2c1c320bcb3");
    let r = d.request;
    assert_eq!(r.tier, Some(Tier::Consortium));
    assert_eq!(r.title.as_deref(), Some("Prompt injection in a browsing agent"));
    assert_eq!(
        r.summary.as_deref(),
        Some("Hidden text on a page redirects the agent.")
    );
    assert_eq!(
        r.references,
        Some(vec![
            "https://example.org/post".to_string(),
            "capec CAPEC-137".to_string()
        ])
    );
    // With --summary the description becomes the details.
    let with_summary = ImportOptions {
        summary: Some("Short.".into()),
        ..flags()
    };
    let r = draft(&bundle, &with_summary).expect("draft").request;
    assert_eq!(r.summary.as_deref(), Some("Short."));
    assert_eq!(
        r.details.as_deref(),
        Some("Hidden text on a page redirects the agent.")
    );
}

#[test]
fn a_single_vulnerability_maps_its_cve_to_a_reference() {
    let bundle = foreign(None);
    let vulnerability = bundle["objects"][1].clone();
    let r = draft(&vulnerability, &flags()).expect("draft").request;
    assert_eq!(r.title.as_deref(), Some("CVE-2024-0001"));
    assert_eq!(r.references, Some(vec!["CVE-2024-0001".to_string()]));
    assert_eq!(r.tier, Some(Tier::Consortium), "unmarked: the default tier");
}

#[test]
fn markings_set_the_loosest_tier_and_amber_or_red_need_a_choice() {
    let d = |marking: &str, options: ImportOptions| draft(&foreign(Some(marking)), &options);
    let clear = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487";
    assert_eq!(d(clear, flags()).expect("clear").request.tier, Some(Tier::Public));
    let err = d(AMBER_TLP1, flags())
        .expect_err("amber without --to")
        .to_string();
    assert!(err.contains("TLP:AMBER") && err.contains("--to"), "{err}");
    let to = ImportOptions {
        recipients: vec!["google".into()],
        ..flags()
    };
    let r = d(AMBER_TLP1, to).expect("amber with --to").request;
    assert_eq!(
        (r.tier, r.recipients),
        (Some(Tier::Restricted), Some(vec!["google".to_string()]))
    );
    let err = d(RED, flags()).expect_err("red").to_string();
    assert!(
        err.contains("TLP:RED") && err.contains("--tier hazardous"),
        "{err}"
    );
    let hazardous = ImportOptions {
        tier: Some(Tier::Hazardous),
        ..flags()
    };
    let err = d(RED, hazardous.clone())
        .expect_err("red without --summary")
        .to_string();
    assert!(
        err.contains("withheld details") && err.contains("--summary"),
        "{err}"
    );
    let hazardous = ImportOptions {
        summary: Some("A redacted summary.".into()),
        ..hazardous
    };
    let r = d(RED, hazardous).expect("red").request;
    assert_eq!(r.tier, Some(Tier::Hazardous));
    assert_eq!(r.summary.as_deref(), Some("A redacted summary."));
    assert_eq!(
        r.details.as_deref(),
        Some("Hidden text on a page redirects the agent.")
    );
    let public = ImportOptions {
        tier: Some(Tier::Public),
        ..flags()
    };
    assert!(matches!(
        d(GREEN, public),
        Err(ImportError::LooserThanMarking { .. })
    ));
    let to_green = ImportOptions {
        recipients: vec!["google".into()],
        ..flags()
    };
    assert!(matches!(
        d(GREEN, to_green),
        Err(ImportError::RecipientsWithoutRestricted("consortium"))
    ));

    // A platform's own TLP marking definition (OpenCTI, MISP) is read by name.
    let mut bundle = foreign(Some("marking-definition--4cdff7eb-acb8-543f-8573-829eb9fe8b34"));
    bundle["objects"].as_array_mut().expect("objects").push(json!({
        "type": "marking-definition",
        "id": "marking-definition--4cdff7eb-acb8-543f-8573-829eb9fe8b34",
        "definition_type": "TLP",
        "definition": { "TLP": "TLP:RED" },
        "name": "TLP:RED",
    }));
    assert!(matches!(
        draft(&bundle, &flags()),
        Err(ImportError::Marking { .. })
    ));
    // An unknown marking needs --tier.
    let unknown = "marking-definition--00000000-0000-4000-8000-000000000000";
    let err = d(unknown, flags()).expect_err("unknown").to_string();
    assert!(err.contains("--tier"), "{err}");
    let chosen = ImportOptions {
        tier: Some(Tier::Consortium),
        ..flags()
    };
    assert!(d(unknown, chosen).is_ok());
}

#[test]
fn bad_inputs_get_typed_errors() {
    let not_stix = |v: Value| matches!(draft(&v, &flags()), Err(ImportError::NotStix(_)));
    assert!(not_stix(json!([1, 2])));
    assert!(not_stix(json!({ "title": "a publish request" })));
    assert!(not_stix(
        json!({ "type": "bundle", "objects": [{ "type": "report" }] })
    ));
    assert!(not_stix(json!({ "type": "report", "id": "indicator--x" })));
    assert!(matches!(
        draft(&json!({ "type": "indicator", "id": "indicator--1" }), &flags()),
        Err(ImportError::UnsupportedType { .. })
    ));
    let err = draft(
        &json!({ "type": "bundle", "id": "bundle--1", "objects": [{ "type": "identity", "id": "identity--1" }] }),
        &flags(),
    )
    .expect_err("no candidate")
    .to_string();
    assert!(err.contains("1 identity"), "{err}");

    // Two reports: say which, and pick one with --stix-id.
    let mut bundle = foreign(None);
    let mut second = bundle["objects"][0].clone();
    second["id"] = "report--00000000-0000-4000-8000-000000000002".into();
    second["object_refs"] = json!([]);
    bundle["objects"].as_array_mut().expect("objects").push(second);
    let err = draft(&bundle, &flags()).expect_err("several").to_string();
    assert!(
        err.contains("--stix-id")
            && err.contains("report--00000000-0000-4000-8000-000000000002")
            && err.contains("report--84e4d88f-44ea-4bcd-bbf3-b2c1c320bcb3"),
        "{err}"
    );
    let pick = |id: &str| ImportOptions {
        stix_id: Some(id.into()),
        ..flags()
    };
    let d = draft(&bundle, &pick("report--00000000-0000-4000-8000-000000000002")).expect("picked");
    assert_eq!(d.source_id, "report--00000000-0000-4000-8000-000000000002");
    assert!(matches!(
        draft(&bundle, &pick("report--nope")),
        Err(ImportError::NoSuchObject { .. })
    ));

    // Over the limits.
    let mut long = foreign(None);
    long["objects"][0]["name"] = "t".repeat(MAX_TITLE_BYTES + 1).into();
    assert!(matches!(
        draft(&long, &flags()),
        Err(ImportError::TooLong { field: "title", .. })
    ));
    long["objects"][0]["name"] = "ok".into();
    long["objects"][0]["description"] = "d".repeat(MAX_SUMMARY_BYTES + 1).into();
    let err = draft(&long, &flags()).expect_err("long description").to_string();
    assert!(err.contains("--summary"), "{err}");
    let refs: Vec<Value> = (0..=MAX_LIST_ITEMS)
        .map(|i| json!({ "source_name": "x", "url": format!("https://example.org/{i}") }))
        .collect();
    long["objects"][0]["description"] = "short".into();
    long["objects"][0]["external_references"] = refs.into();
    assert!(matches!(
        draft(&long, &flags()),
        Err(ImportError::List {
            field: "references",
            ..
        })
    ));
    let mut unnamed = foreign(None);
    unnamed["objects"][0]["name"] = "".into();
    assert!(matches!(
        draft(&unnamed, &flags()),
        Err(ImportError::Missing { .. })
    ));

    // A revoked report is not drafted from.
    let mut revoked = foreign(None);
    revoked["objects"][0]["revoked"] = true.into();
    revoked["objects"][0]["object_refs"] = json!([]);
    revoked["objects"].as_array_mut().expect("objects").truncate(1);
    assert!(matches!(draft(&revoked, &flags()), Err(ImportError::Revoked(_))));
}
