use super::*;
use crate::api::views::{ReleaseView, WithheldView};
use riskmesh_protocol::body::AckStatus;
use riskmesh_protocol::{Category, Severity};

const ANTHROPIC: &str = "aa";
const GOOGLE: &str = "bb";

fn id(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

fn view(n: u8, author: &str, seq: u64, kind: Kind, tier: Tier, ms: u64) -> EntryView {
    EntryView {
        id: id(n),
        author: if author == ANTHROPIC {
            "anthropic".into()
        } else {
            "google".into()
        },
        author_key: author.repeat(32),
        seq,
        timestamp_ms: ms,
        tier,
        tlp: tier.tlp().into(),
        kind,
        category: None,
        severity: None,
        title: None,
        target: None,
        recipients: None,
        readable: true,
        has_body: true,
        purged: false,
        body_len: 10,
        received_ms: ms + 5,
        key_notice: None,
        author_retired: None,
    }
}

fn bulletin(title: &str, category: Category) -> BulletinView {
    BulletinView {
        title: title.into(),
        summary: "A summary.".into(),
        category: Some(category),
        severity: Some(Severity::High),
        affected: vec!["model-x".into()],
        details: "Steps to reproduce.".into(),
        mitigations: vec!["filter".into()],
        references: vec!["https://example.org/a".into(), "internal report 7".into()],
        commitments: vec![1, 3],
        embargo_until_ms: None,
        expires_ms: None,
        supersedes: None,
        withheld: None,
        release: None,
    }
}

fn mapper() -> Mapper {
    let roles = [
        ("anthropic".to_string(), Role::Member),
        ("google".to_string(), Role::Member),
    ];
    Mapper::new("test-net", "google", roles.into_iter().collect())
}

fn map(mapper: &mut Mapper, view: &EntryView, body: Option<BodyView>) -> Vec<StixObject> {
    mapper.map(Input {
        view,
        body: body.as_ref(),
        added_ms: view.received_ms,
        envelope: Some(&[0x84, 0x01]),
    })
}

fn own<'a>(objects: &'a [StixObject], object_type: &str) -> Vec<&'a StixObject> {
    objects
        .iter()
        .filter(|o| !o.shared && o.object_type == object_type)
        .collect()
}

fn ext(object: &StixObject) -> &Value {
    &object.json["extensions"][EXTENSION_ID]
}

#[test]
fn a_bulletin_is_a_marked_report_by_its_author_with_the_taxonomy_it_maps_to() {
    let v = view(
        1,
        ANTHROPIC,
        1,
        Kind::Bulletin,
        Tier::Consortium,
        1_714_573_800_000,
    );
    let objects = map(
        &mut mapper(),
        &v,
        Some(BodyView::Bulletin(bulletin(
            "Jailbreak",
            Category::MisuseJailbreak,
        ))),
    );
    let types: Vec<&str> = objects.iter().map(|o| o.object_type).collect();
    assert_eq!(
        types,
        [
            "marking-definition",
            "identity",
            "extension-definition",
            "identity",
            "attack-pattern",
            "report"
        ],
        "shared objects come before the report that refers to them"
    );
    let report = own(&objects, "report")[0];
    let author = identity_id("test-net", "anthropic");
    assert_eq!(report.id, report_id(&id(1)));
    assert_eq!(report.json["created_by_ref"], author.as_str());
    assert_eq!(report.json["created"], "2024-05-01T14:30:00.000Z");
    assert_eq!(report.json["modified"], report.json["created"]);
    assert_eq!(report.json["published"], report.json["created"]);
    assert_eq!(report.json["name"], "Jailbreak");
    assert_eq!(report.json["description"], "A summary.\n\nSteps to reproduce.");
    assert_eq!(
        report.json["object_marking_refs"],
        json!(["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"])
    );
    let technique = objects
        .iter()
        .find(|o| o.object_type == "attack-pattern")
        .map(|o| &o.json);
    assert_eq!(
        technique.map(|t| &t["external_references"][0]["external_id"]),
        Some(&json!("AML.T0054"))
    );
    assert_eq!(
        report.json["object_refs"],
        json!([author, technique.map(|t| t["id"].clone())])
    );
    let external = report.json["external_references"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(external[0]["external_id"], id(1).as_str());
    assert_eq!(external[2]["url"], "https://example.org/a");
    assert_eq!(external[3]["description"], "internal report 7");
    assert_eq!(ext(report)["severity"], "high");
    assert_eq!(ext(report)["category"], "misuse-jailbreak");
    assert_eq!(ext(report)["commitments"], json!([1, 3]));
    assert_eq!(ext(report)["seq"], 1);
    assert_eq!(ext(report)["author_key"], ANTHROPIC.repeat(32).as_str());
    assert_eq!(report.added_ms, v.received_ms);
    assert_eq!(
        ext(report)["cose_sign1"],
        "d28401",
        "the envelope, tagged COSE_Sign1"
    );
}

#[test]
fn mapping_twice_gives_the_same_objects() {
    let v = view(1, ANTHROPIC, 1, Kind::Bulletin, Tier::Public, 1000);
    let body = BodyView::Bulletin(bulletin("Same", Category::Bio));
    let first = map(&mut mapper(), &v, Some(body.clone()));
    let second = map(&mut mapper(), &v, Some(body));
    assert_eq!(first, second);
}

#[test]
fn a_correction_is_a_later_version_of_the_same_report_even_in_the_same_millisecond() {
    let mut m = mapper();
    let original = view(1, ANTHROPIC, 1, Kind::Bulletin, Tier::Public, 5000);
    map(
        &mut m,
        &original,
        Some(BodyView::Bulletin(bulletin("v1", Category::Other))),
    );
    let fix = view(2, ANTHROPIC, 2, Kind::Correction, Tier::Public, 5000);
    let mut corrected = bulletin("v2", Category::Other);
    corrected.supersedes = Some(id(1));
    let objects = map(&mut m, &fix, Some(BodyView::Bulletin(corrected.clone())));
    let report = own(&objects, "report")[0];
    assert_eq!(report.id, report_id(&id(1)));
    assert_eq!(report.json["name"], "v2");
    assert_eq!(report.json["created"], "1970-01-01T00:00:05.000Z");
    assert_eq!(report.json["modified"], "1970-01-01T00:00:05.001Z");
    assert_eq!(ext(report)["supersedes"], id(1).as_str());
    // A correction of the correction still versions the first report.
    let again = view(3, ANTHROPIC, 3, Kind::Correction, Tier::Public, 9000);
    corrected.supersedes = Some(id(2));
    let objects = map(&mut m, &again, Some(BodyView::Bulletin(corrected.clone())));
    assert_eq!(own(&objects, "report")[0].id, report_id(&id(1)));
    // Another author's "correction" is a report of its own.
    let other = view(4, GOOGLE, 1, Kind::Correction, Tier::Public, 9500);
    let objects = map(&mut m, &other, Some(BodyView::Bulletin(corrected)));
    assert_eq!(own(&objects, "report")[0].id, report_id(&id(4)));
}

#[test]
fn a_retraction_by_the_author_revokes_and_nobody_else_can() {
    let mut m = mapper();
    let original = view(1, ANTHROPIC, 1, Kind::Bulletin, Tier::Hazardous, 1000);
    map(
        &mut m,
        &original,
        Some(BodyView::Bulletin(bulletin("finding", Category::Bio))),
    );
    let retraction = |n, author, seq| {
        let v = view(n, author, seq, Kind::Retraction, Tier::Public, 2000);
        let body = BodyView::Retraction(RetractionView {
            target: id(1),
            reason: "wrong model".into(),
            purge: false,
        });
        (v, body)
    };
    let (v, body) = retraction(2, GOOGLE, 1);
    assert!(
        own(&map(&mut m, &v, Some(body)), "report").is_empty(),
        "another organization cannot revoke the author's report"
    );
    let (v, body) = retraction(3, ANTHROPIC, 2);
    let objects = map(&mut m, &v, Some(body));
    let report = own(&objects, "report")[0];
    assert_eq!(report.id, report_id(&id(1)));
    assert_eq!(report.json["revoked"], true);
    assert_eq!(report.json["name"], "Retracted: wrong model");
    assert_eq!(report.json["created"], "1970-01-01T00:00:01.000Z");
    assert_eq!(report.json["modified"], "1970-01-01T00:00:02.000Z");
    assert_eq!(
        report.tier,
        Tier::Hazardous,
        "the revoked version keeps the report's marking"
    );
    assert_eq!(
        report.json["object_marking_refs"],
        json!(["marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"])
    );
    assert_eq!(ext(report)["retracts"], id(1).as_str());
    let (v, body) = retraction(4, ANTHROPIC, 3);
    assert!(map(&mut m, &v, Some(body)).is_empty(), "revoked once");
}

#[test]
fn an_ack_is_a_sighting_of_the_report_and_its_retraction_revokes_it() {
    let mut m = mapper();
    let original = view(1, ANTHROPIC, 1, Kind::Bulletin, Tier::Consortium, 1000);
    map(
        &mut m,
        &original,
        Some(BodyView::Bulletin(bulletin("finding", Category::Privacy))),
    );
    let fix = view(2, ANTHROPIC, 2, Kind::Correction, Tier::Consortium, 1500);
    let mut corrected = bulletin("finding v2", Category::Privacy);
    corrected.supersedes = Some(id(1));
    map(&mut m, &fix, Some(BodyView::Bulletin(corrected)));
    let ack = view(3, GOOGLE, 1, Kind::Ack, Tier::Consortium, 2000);
    let objects = map(
        &mut m,
        &ack,
        Some(BodyView::Ack(AckView {
            target: id(2),
            status: AckStatus::Reproduced,
            note: "seen it too".into(),
        })),
    );
    let sighting = own(&objects, "sighting")[0];
    assert_eq!(sighting.id, sighting_id(&id(3)));
    assert_eq!(
        sighting.json["sighting_of_ref"],
        report_id(&id(1)).as_str(),
        "an ack of a correction sights the bulletin's report"
    );
    let google = identity_id("test-net", "google");
    assert_eq!(sighting.json["where_sighted_refs"], json!([google]));
    assert_eq!(sighting.json["description"], "seen it too");
    assert_eq!(ext(sighting)["status"], "reproduced");
    let retract = view(4, GOOGLE, 2, Kind::Retraction, Tier::Consortium, 3000);
    let objects = map(
        &mut m,
        &retract,
        Some(BodyView::Retraction(RetractionView {
            target: id(3),
            reason: String::new(),
            purge: false,
        })),
    );
    let revoked = own(&objects, "sighting")[0];
    assert_eq!(revoked.id, sighting.id);
    assert_eq!(revoked.json["revoked"], true);
    assert_eq!(revoked.json["sighting_of_ref"], sighting.json["sighting_of_ref"]);
}

#[test]
fn a_hazardous_summary_carries_commitments_and_policy_never_the_withheld_fields() {
    let v = view(1, ANTHROPIC, 1, Kind::Bulletin, Tier::Hazardous, 1000);
    let mut summary = bulletin("Uplift", Category::Bio);
    summary.details = String::new();
    summary.withheld = Some(vec![WithheldView {
        field: "details".into(),
        commitment: "cc".repeat(32),
    }]);
    summary.release = Some(ReleaseView {
        observers_may_request: false,
        approvers: vec!["anthropic".into()],
        threshold: 1,
    });
    let objects = map(&mut mapper(), &v, Some(BodyView::Bulletin(summary)));
    let report = own(&objects, "report")[0];
    assert_eq!(report.json["description"], "A summary.");
    assert_eq!(
        ext(report)["withheld"],
        json!([{ "field": "details", "commitment": "cc".repeat(32) }])
    );
    assert_eq!(ext(report)["release"]["approvers"], json!(["anthropic"]));
    assert_eq!(ext(report)["tier"], "hazardous");
}

#[test]
fn what_cannot_be_read_is_not_exported_but_a_purge_of_what_could_be_still_revokes() {
    let mut m = mapper();
    // Restricted to someone else: nothing, and its retraction reveals nothing.
    let mut secret = view(1, ANTHROPIC, 1, Kind::Bulletin, Tier::Restricted, 1000);
    secret.recipients = Some(vec!["meta".into()]);
    secret.readable = false;
    assert!(map(&mut m, &secret, None).is_empty());
    let retract = |n, target: u8, seq| {
        let v = view(n, ANTHROPIC, seq, Kind::Retraction, Tier::Public, 3000);
        let body = BodyView::Retraction(RetractionView {
            target: id(target),
            reason: "gone".into(),
            purge: true,
        });
        (v, body)
    };
    let (v, body) = retract(2, 1, 2);
    assert!(map(&mut m, &v, Some(body)).is_empty());
    // A public bulletin purged before this export: revoked all the same, so
    // a platform that pulled it earlier learns it was retracted.
    let mut purged = view(3, ANTHROPIC, 3, Kind::Bulletin, Tier::Public, 4000);
    purged.purged = true;
    purged.has_body = false;
    assert!(map(&mut m, &purged, None).is_empty());
    let (v, body) = retract(4, 3, 4);
    let objects = map(&mut m, &v, Some(body));
    let report = own(&objects, "report")[0];
    assert_eq!(report.id, report_id(&id(3)));
    assert_eq!(report.json["revoked"], true);
    assert_eq!(ext(report)["purge"], true);
}

#[test]
fn audit_trail_entries_map_to_nothing() {
    let v = view(1, GOOGLE, 1, Kind::AccessRequest, Tier::Consortium, 1000);
    let body = BodyView::AccessRequest(crate::api::views::AccessRequestView {
        target: id(9),
        reason: "need".into(),
        fields: vec!["details".into()],
    });
    assert!(map(&mut mapper(), &v, Some(body)).is_empty());
}
