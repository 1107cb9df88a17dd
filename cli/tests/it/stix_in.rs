//! `riskmesh publish --stix`: a bulletin exported as STIX by the real binary
//! drafts back to the same fields and publishes; a foreign report publishes
//! with the flags STIX cannot give; bad files fail with a clear message and
//! publish nothing.

use crate::support::{Nodes, OrgDir, cli, consortium, ok_json};
use serde_json::{Value, json};
use std::path::Path;

fn entry_count(org: &OrgDir) -> usize {
    ok_json(org, &["list"])["entries"].as_array().map_or(0, Vec::len)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

fn foreign_report(marking: &str) -> Value {
    json!({
        "type": "bundle",
        "id": "bundle--1d0092c5-5f74-4287-9642-33f4c354e56d",
        "objects": [{
            "type": "report",
            "spec_version": "2.1",
            "id": "report--84e4d88f-44ea-4bcd-bbf3-b2c1c320bcb3",
            "created": "2024-05-01T14:30:00.000Z",
            "modified": "2024-05-01T14:30:00.000Z",
            "published": "2024-05-01T14:30:00.000Z",
            "name": "Prompt injection in a browsing agent",
            "description": "Hidden text on a page redirects the agent.",
            "object_refs": ["vulnerability--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061"],
            "object_marking_refs": [marking],
            "external_references": [{ "source_name": "blog", "url": "https://example.org/post" }],
        }, {
            "type": "vulnerability",
            "spec_version": "2.1",
            "id": "vulnerability--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
            "created": "2024-05-01T14:30:00.000Z",
            "modified": "2024-05-01T14:30:00.000Z",
            "name": "CVE-2024-0001",
        }]
    })
}

const GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
const RED: &str = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stix_report_drafts_shows_and_publishes_and_bad_files_publish_nothing() {
    let base = tempfile::tempdir().expect("tempdir");
    let dir = base.path();
    let orgs = consortium(dir, &["solo"]);
    let org = &orgs[0];
    let mut nodes = Nodes(vec![org.start()]);
    org.wait_ready(&mut nodes.0[0]).await;

    // A bulletin riskmesh exported comes back with the same fields.
    let original = ok_json(
        org,
        &[
            "publish",
            "--tier",
            "public",
            "--title",
            "Evaluation harness detection",
            "--summary",
            "The model behaves differently when it detects an evaluation.",
            "--category",
            "deception-manipulation",
            "--severity",
            "high",
            "--affected",
            "model-x",
            "--mitigation",
            "Randomize harness layout.",
            "--reference",
            "https://example.org/eval",
            "--commitment",
            "1",
        ],
    );
    let original_id = original["id"].as_str().expect("id").to_string();
    let exported = dir.join("export.json").display().to_string();
    let out = cli(org, &["export", "--stix", "--out", &exported]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let draft = ok_json(org, &["publish", "--stix", &exported, "--dry-run"]);
    let body = &ok_json(org, &["show", &original_id])["body"];
    for field in [
        "title",
        "summary",
        "category",
        "severity",
        "affected",
        "mitigations",
        "references",
        "commitments",
    ] {
        assert_eq!(draft[field], body[field], "{field}: {draft} vs {body}");
    }
    assert_eq!(draft["tier"], "public");
    assert_eq!(entry_count(org), 1, "a dry run publishes nothing");
    let republished = ok_json(org, &["publish", "--stix", &exported]);
    assert_eq!(
        republished["title"], "Evaluation harness detection",
        "{republished}"
    );
    assert_eq!(entry_count(org), 2);

    // A foreign report needs category and severity; the dry run shows the
    // draft in text, then it publishes.
    let report = write(dir, "report.json", &foreign_report(GREEN).to_string());
    let flags = ["--category", "misuse-jailbreak", "--severity", "medium"];
    let mut dry = vec!["publish", "--stix", &report, "--dry-run"];
    dry.extend(flags);
    let out = cli(org, &dry);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        shown.contains("Prompt injection in a browsing agent")
            && shown.contains("TLP:GREEN")
            && shown.contains("Nothing was published"),
        "{shown}"
    );
    let mut real = vec!["publish", "--stix", &report];
    real.extend(flags);
    let published = ok_json(org, &real);
    assert_eq!(published["tier"], "consortium", "{published}");
    let list = ok_json(org, &["list"]);
    assert!(
        list["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["id"] == published["id"] && e["title"] == "Prompt injection in a browsing agent"),
        "{list}"
    );

    // Bad files: each fails with a message that says what to do, and
    // nothing is published.
    let before = entry_count(org);
    let mut two = foreign_report(GREEN);
    let mut second = two["objects"][0].clone();
    second["id"] = "report--00000000-0000-4000-8000-000000000002".into();
    second["object_refs"] = json!([]);
    two["objects"].as_array_mut().expect("objects").push(second);
    let mut long_title = foreign_report(GREEN);
    long_title["objects"][0]["name"] = "t".repeat(300).into();
    let bad: Vec<(&str, String, &[&str], &str)> = vec![
        (
            "broken.json",
            "{\"type\": \"bundle\"".into(),
            &flags,
            "is not JSON",
        ),
        (
            "request.json",
            "{\"title\": \"x\"}".into(),
            &flags,
            "not STIX 2.1",
        ),
        (
            "indicator.json",
            json!({ "type": "indicator", "id": "indicator--1" }).to_string(),
            &flags,
            "drafted from a `report` or a `vulnerability` only",
        ),
        (
            "empty.json",
            json!({ "type": "bundle", "id": "bundle--2", "objects": [] }).to_string(),
            &flags,
            "holds no report or vulnerability",
        ),
        ("two.json", two.to_string(), &flags, "pick one with --stix-id"),
        (
            "red.json",
            foreign_report(RED).to_string(),
            &flags,
            "--tier hazardous",
        ),
        (
            "long.json",
            long_title.to_string(),
            &flags,
            "over the bulletin limit of 256",
        ),
        (
            "nocategory.json",
            foreign_report(GREEN).to_string(),
            &[],
            "pass --category",
        ),
        (
            "big.json",
            " ".repeat(5 * 1024 * 1024),
            &flags,
            "larger than 4194304 bytes",
        ),
    ];
    for (name, text, extra, expected) in bad {
        let path = write(dir, name, &text);
        let mut args = vec!["publish", "--stix", path.as_str()];
        args.extend(extra);
        let out = cli(org, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} was accepted");
        assert!(stderr.contains(expected), "{name}: {stderr}");
    }
    let looser = cli(
        org,
        &[
            "publish",
            "--stix",
            &report,
            "--tier",
            "public",
            "--category",
            "other",
            "--severity",
            "low",
        ],
    );
    assert!(
        String::from_utf8_lossy(&looser.stderr).contains("allows no looser tier than consortium"),
        "{}",
        String::from_utf8_lossy(&looser.stderr)
    );
    assert_eq!(entry_count(org), before, "a refused file publishes nothing");

    // TLP:RED publishes only at the hazardous tier, the description withheld
    // as the details; the --json dry run is a request --file accepts.
    let red = write(dir, "red-ok.json", &foreign_report(RED).to_string());
    let mut args = vec![
        "publish",
        "--stix",
        &red,
        "--tier",
        "hazardous",
        "--summary",
        "Redacted.",
    ];
    args.extend(flags);
    args.push("--dry-run");
    let draft = ok_json(org, &args);
    assert_eq!(
        draft["details"], "Hidden text on a page redirects the agent.",
        "{draft}"
    );
    let draft_file = write(dir, "draft.json", &draft.to_string());
    let published = ok_json(org, &["publish", "--file", &draft_file]);
    assert_eq!(published["tier"], "hazardous", "{published}");
    assert_eq!(entry_count(org), before + 1);
}
