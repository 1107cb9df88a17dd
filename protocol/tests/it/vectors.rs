//! Runs every vector in `spec/vectors/` against the implementation, fails if a
//! vector file or vector type goes unused, and checks the files are exactly
//! what the generator writes, except `restricted.json`, whose randomized age
//! ciphertexts are checked by decrypting them.

use crate::vectors_build;
use ed25519_dalek::Signer;
use riskmesh_protocol::body::{AccessReceiptBody, check_bulletin};
use riskmesh_protocol::cbor;
use riskmesh_protocol::chain::{EquivocationProof, ProofError};
use riskmesh_protocol::keys::{check_public_key, verify_strict};
use riskmesh_protocol::limits::MAX_BODY_BYTES;
use riskmesh_protocol::redaction::{self, ReleasePolicy, Reveal, WithheldField};
use riskmesh_protocol::release::{
    RecordedDecision, RecordedRetraction, ReleaseError, RequestLog, SignedRelease, Verdict, evaluate,
};
use riskmesh_protocol::roster::{RosterError, SignedRoster};
use riskmesh_protocol::testkit;
use riskmesh_protocol::validate::{verify_entry, verify_gossip, verify_wire};
use riskmesh_protocol::{
    BulletinBody, ChainValidator, EntryId, Fork, Hash32, OrgKey, OrgSigningKey, Outcome, RejectReason,
    Roster, Tier, VerifiedEntry, WireEntry,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::str::FromStr;

const GENERATOR: &str = "cargo run -p riskmesh-protocol --example gen_vectors";

/// Each vector file and the runner that consumes it.
const RUNNERS: [(&str, Runner); 9] = [
    ("cbor.json", run_cbor),
    ("chain.json", run_chain),
    ("commitments.json", run_commitments),
    ("ed25519.json", run_ed25519),
    ("entries.json", run_entries),
    ("equivocation.json", run_equivocation),
    ("release.json", run_release),
    ("restricted.json", run_restricted),
    ("roster.json", run_roster),
];

/// Runs one vector of a file (the file is passed for shared inputs such as
/// the roster); `Err` describes the mismatch.
type Runner = fn(file: &Value, vector: &Value) -> Result<(), String>;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors")
}

#[test]
fn vector_files_match_the_generator() {
    let dir = vectors_dir();
    let mut stale = Vec::new();
    let built = vectors_build::build_files();
    // The generator rebuilds every file a runner reads, except exactly the
    // randomized one, which `run_restricted` checks by decrypting.
    let rebuilt: BTreeSet<&str> = built.iter().map(|(name, _)| *name).collect();
    let read: BTreeSet<&str> = RUNNERS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| *name != vectors_build::RANDOMIZED_FILE)
        .collect();
    assert_eq!(
        rebuilt,
        read,
        "the generator must rebuild every vector file except {}",
        vectors_build::RANDOMIZED_FILE
    );
    for (name, expected) in built {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(actual) if actual == expected => {}
            Ok(_) => stale.push(format!("{name} differs from the generator's output")),
            Err(e) => stale.push(format!("{name} cannot be read: {e}")),
        }
    }
    assert!(
        stale.is_empty(),
        "spec/vectors is out of date; run `{GENERATOR}` and commit the result:\n  {}",
        stale.join("\n  ")
    );
}

/// The randomized file is kept once written; this checks that a fresh build
/// (other ciphertexts) passes the same checks, so deleting and regenerating
/// it always works.
#[test]
fn a_fresh_restricted_file_passes() {
    let file: Value =
        serde_json::from_str(&vectors_build::build_randomized_file()).expect("the builder writes JSON");
    let vectors = file["vectors"].as_array().expect("vectors");
    for vector in vectors {
        let name = vector["name"].as_str().unwrap_or("(unnamed)");
        assert_eq!(
            run_restricted(&file, vector),
            Ok(()),
            "fresh {}/{name}",
            vectors_build::RANDOMIZED_FILE
        );
    }
}

#[test]
fn every_vector_passes() {
    let dir = vectors_dir();
    let mut failures = Vec::new();
    let mut seen = BTreeSet::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    entries.sort();
    let mut count = 0;
    for name in entries {
        if name == "README.md" {
            continue;
        }
        let Some((_, runner)) = RUNNERS.iter().find(|(file, _)| *file == name) else {
            failures.push(format!(
                "{name}: no runner consumes this file; add one to tests/it/vectors.rs"
            ));
            continue;
        };
        seen.insert(name.clone());
        let text = std::fs::read_to_string(dir.join(&name)).expect("readable vector file");
        let file: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: not JSON: {e}"));
                continue;
            }
        };
        let Some(vectors) = file["vectors"].as_array().filter(|v| !v.is_empty()) else {
            failures.push(format!("{name}: no vectors"));
            continue;
        };
        let mut names = BTreeSet::new();
        for vector in vectors {
            count += 1;
            let id = vector["name"].as_str().unwrap_or("(unnamed)");
            if !names.insert(id.to_string()) {
                failures.push(format!("{name}/{id}: name used twice"));
            }
            if vector["description"].as_str().is_none_or(str::is_empty) {
                failures.push(format!("{name}/{id}: no description"));
            }
            if let Err(e) = runner(&file, vector) {
                failures.push(format!("{name}/{id}: {e}"));
            }
        }
    }
    for (name, _) in RUNNERS {
        if !seen.contains(name) {
            failures.push(format!("{name}: missing; run `{GENERATOR}`"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} vectors failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

// ---------------------------------------------------------------------------
// Reading vectors
// ---------------------------------------------------------------------------

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, String> {
    v.get(key).ok_or_else(|| format!("missing field `{key}`"))
}

fn string<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    field(v, key)?
        .as_str()
        .ok_or_else(|| format!("`{key}` is not a string"))
}

fn number(v: &Value, key: &str) -> Result<u64, String> {
    field(v, key)?
        .as_u64()
        .ok_or_else(|| format!("`{key}` is not an unsigned integer"))
}

fn bytes(v: &Value, key: &str) -> Result<Vec<u8>, String> {
    hex::decode(string(v, key)?).map_err(|e| format!("`{key}` is not hex: {e}"))
}

fn array<const N: usize>(v: &Value, key: &str) -> Result<[u8; N], String> {
    bytes(v, key)?
        .try_into()
        .map_err(|_| format!("`{key}` is not {N} bytes"))
}

/// Bytes, or `None` for JSON null.
fn optional_bytes(v: &Value, key: &str) -> Result<Option<Vec<u8>>, String> {
    if field(v, key)?.is_null() {
        Ok(None)
    } else {
        bytes(v, key).map(Some)
    }
}

fn vector_type(v: &Value) -> Result<&str, String> {
    string(v, "type")
}

fn unknown_type(v: &Value) -> String {
    format!("unknown vector type `{}`", v["type"])
}

/// What a check produced, in the vocabulary of the files.
#[derive(Debug, PartialEq)]
struct Got {
    outcome: &'static str,
    reason: Option<String>,
    extra: BTreeMap<&'static str, Value>,
}

impl Got {
    fn accept() -> Self {
        Got {
            outcome: "accept",
            reason: None,
            extra: BTreeMap::new(),
        }
    }

    fn reject(reason: impl Into<String>) -> Self {
        Got {
            outcome: "reject",
            reason: Some(reason.into()),
            extra: BTreeMap::new(),
        }
    }

    fn with(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.extra.insert(key, value.into());
        self
    }
}

/// Compares a result with a vector's `expected`: outcome, reason, and every
/// other key `expected` names (a produced key `expected` does not name is
/// ignored, so optional details stay optional).
fn compare(expected: &Value, got: &Got) -> Result<(), String> {
    let outcome = string(expected, "outcome")?;
    let reason = expected.get("reason").and_then(Value::as_str);
    if outcome != got.outcome || reason != got.reason.as_deref() {
        return Err(format!(
            "expected {outcome} {}, got {} {}",
            reason.unwrap_or(""),
            got.outcome,
            got.reason.as_deref().unwrap_or("")
        ));
    }
    let object = expected.as_object().ok_or("`expected` is not an object")?;
    for (key, want) in object {
        if key == "outcome" || key == "reason" {
            continue;
        }
        match got.extra.get(key.as_str()) {
            Some(have) if have == want => {}
            Some(have) => return Err(format!("`{key}`: expected {want}, got {have}")),
            None => return Err(format!("`{key}` is expected but the check does not produce it")),
        }
    }
    Ok(())
}

fn hex_value(bytes: impl AsRef<[u8]>) -> Value {
    Value::String(hex::encode(bytes))
}

fn rejected_entry(reason: &RejectReason) -> Got {
    let got = Got::reject(reason.name());
    match reason {
        RejectReason::Encoding(e) => got.with("detail", e.name()),
        RejectReason::Body(e) => got.with("detail", e.name()),
        _ => got,
    }
}

/// The genesis roster a file names in its `roster` field.
fn file_roster(file: &Value) -> Result<Roster, String> {
    let signed =
        SignedRoster::from_bytes(&bytes(file, "roster")?).map_err(|e| format!("file roster: {e}"))?;
    let roster = Roster::genesis(&signed).map_err(|e| format!("file roster: {e}"))?;
    if roster.network() != string(file, "network")? {
        return Err("file roster is for another network".into());
    }
    Ok(roster)
}

// ---------------------------------------------------------------------------
// Runners
// ---------------------------------------------------------------------------

fn run_cbor(_file: &Value, v: &Value) -> Result<(), String> {
    if vector_type(v)? != "check" {
        return Err(unknown_type(v));
    }
    let limit = usize::try_from(number(v, "limit")?).map_err(|e| e.to_string())?;
    let got = match cbor::check_canonical(&bytes(v, "bytes")?, limit) {
        Ok(()) => Got::accept(),
        Err(e) => Got::reject(e.name()),
    };
    compare(field(v, "expected")?, &got)
}

fn run_entries(file: &Value, v: &Value) -> Result<(), String> {
    let roster = file_roster(file)?;
    let result = match vector_type(v)? {
        "entry" => {
            let body = optional_bytes(v, "body")?;
            verify_entry(&roster, &bytes(v, "envelope")?, body.as_deref())
        }
        "wire" => {
            let verify = match string(v, "via")? {
                "gossip" => verify_gossip,
                "sync" => verify_wire,
                other => return Err(format!("unknown `via` {other}")),
            };
            WireEntry::from_bytes(&bytes(v, "wire")?)
                .map_err(RejectReason::Encoding)
                .and_then(|wire| verify(&roster, &wire))
        }
        _ => return Err(unknown_type(v)),
    };
    let got = match result {
        Ok(entry) => Got::accept().with("entry_id", hex_value(entry.id().0)),
        Err(reason) => rejected_entry(&reason),
    };
    compare(field(v, "expected")?, &got)
}

fn outcome_got(outcome: &Outcome) -> Got {
    match outcome {
        Outcome::Accept => Got::accept(),
        Outcome::Ignore(reason) => Got {
            outcome: "ignore",
            reason: Some(reason.name().to_string()),
            extra: BTreeMap::new(),
        },
        Outcome::Reject(reason) => Got::reject(reason.name()),
    }
}

fn run_chain(file: &Value, v: &Value) -> Result<(), String> {
    if vector_type(v)? != "sequence" {
        return Err(unknown_type(v));
    }
    let roster = file_roster(file)?;
    let mut validator = ChainValidator::new();
    // Every entry seen so far, to build a proof for a fork with an accepted one.
    let mut held: BTreeMap<Hash32, VerifiedEntry> = BTreeMap::new();
    let steps = field(v, "steps")?.as_array().ok_or("`steps` is not an array")?;
    for (i, step) in steps.iter().enumerate() {
        let at = |e: String| format!("step {}: {e}", i + 1);
        let envelope = bytes(step, "envelope").map_err(at)?;
        let body = optional_bytes(step, "body").map_err(at)?;
        let entry = verify_entry(&roster, &envelope, body.as_deref())
            .map_err(|e| at(format!("entry does not verify: {e}")))?;
        held.entry(entry.id()).or_insert_with(|| entry.clone());
        let report = validator.ingest(entry, number(step, "now_ms").map_err(at)?);
        let fork = match &report.fork {
            None => Value::Null,
            Some(Fork::Proven(proof)) => {
                serde_json::json!({"type": "proven", "proof": hex::encode(proof.to_bytes())})
            }
            Some(Fork::WithAccepted { existing, incoming }) => {
                let stored = held
                    .get(existing)
                    .ok_or_else(|| at("fork names an entry this sequence never delivered".into()))?;
                let proof = EquivocationProof::new(stored, incoming).map_err(|e| at(e.to_string()))?;
                serde_json::json!({
                    "type": "with_accepted",
                    "existing": existing.to_hex(),
                    "proof": hex::encode(proof.to_bytes()),
                })
            }
        };
        let accepted: Vec<Value> = report.accepted.iter().map(|e| hex_value(e.id().0)).collect();
        let got = outcome_got(&report.outcome)
            .with("accepted", accepted)
            .with("discarded", report.discarded)
            .with("fork", fork);
        compare(field(step, "expected").map_err(at)?, &got).map_err(at)?;
    }
    let mut heads: Vec<_> = validator.heads().collect();
    heads.sort();
    let mut gaps = validator.gaps();
    gaps.sort();
    let heads: Vec<Value> = heads
        .iter()
        .map(|(author, seq, id)| serde_json::json!({"author": author.to_hex(), "seq": seq, "entry_id": id.to_hex()}))
        .collect();
    let gaps: Vec<Value> = gaps
        .iter()
        .map(|(author, from, to)| serde_json::json!({"author": author.to_hex(), "from": from, "to": to}))
        .collect();
    let expected = field(v, "expected")?;
    let got = serde_json::json!({
        "heads": heads,
        "pending": validator.pending_len(),
        "pending_bytes": validator.pending_bytes(),
        "gaps": gaps,
    });
    if *expected != got {
        return Err(format!("after the last step: expected {expected}, got {got}"));
    }
    Ok(())
}

fn proof_error(e: &ProofError) -> Got {
    match e {
        ProofError::Invalid(reason) => Got::reject(e.name()).with("entry_reason", reason.name()),
        _ => Got::reject(e.name()),
    }
}

fn run_equivocation(file: &Value, v: &Value) -> Result<(), String> {
    let roster = file_roster(file)?;
    let got = match vector_type(v)? {
        "fork" => {
            let a = verify_entry(&roster, &bytes(v, "envelope_a")?, None).map_err(|e| e.to_string())?;
            let b = verify_entry(&roster, &bytes(v, "envelope_b")?, None).map_err(|e| e.to_string())?;
            match EquivocationProof::new(&a, &b) {
                Ok(proof) => match proof.verify(&roster) {
                    Ok((author, seq)) => Got::accept()
                        .with("proof", hex_value(proof.to_bytes()))
                        .with("author", author.to_hex())
                        .with("seq", seq),
                    Err(e) => return Err(format!("a freshly built proof does not verify: {e}")),
                },
                Err(e) => proof_error(&e),
            }
        }
        "proof" => match EquivocationProof::from_bytes(&bytes(v, "proof")?).and_then(|p| p.verify(&roster)) {
            Ok((author, seq)) => Got::accept().with("author", author.to_hex()).with("seq", seq),
            Err(e) => proof_error(&e),
        },
        _ => return Err(unknown_type(v)),
    };
    compare(field(v, "expected")?, &got)
}

fn run_roster(_file: &Value, v: &Value) -> Result<(), String> {
    let accepted = |roster: Roster| {
        Got::accept()
            .with("roster_hash", roster.hash().to_hex())
            .with("version", roster.version())
    };
    let decode = |key: &str| -> Result<Result<SignedRoster, RosterError>, String> {
        Ok(SignedRoster::from_bytes(&bytes(v, key)?))
    };
    let got = match vector_type(v)? {
        "genesis" => {
            let pinned = match v.get("pinned_hash") {
                Some(_) => Some(Hash32(array(v, "pinned_hash")?)),
                None => None,
            };
            let result = decode("signed_roster")?.and_then(|signed| match &pinned {
                Some(hash) => Roster::genesis_pinned(&signed, hash),
                None => Roster::genesis(&signed),
            });
            result.map_or_else(|e| Got::reject(e.name()), accepted)
        }
        "update" => {
            let current = decode("current")?
                .and_then(|signed| Roster::genesis(&signed))
                .map_err(|e| format!("`current` is not a valid genesis roster: {e}"))?;
            let result = decode("update")?.and_then(|signed| current.apply_update(&signed));
            result.map_or_else(|e| Got::reject(e.name()), accepted)
        }
        "history" => {
            let mut roster = decode("genesis")?
                .and_then(|signed| Roster::genesis(&signed))
                .map_err(|e| format!("`genesis` is not a valid genesis roster: {e}"))?;
            for update in field(v, "updates")?
                .as_array()
                .ok_or("`updates` is not an array")?
            {
                let update = hex::decode(update.as_str().ok_or("an update is not a string")?)
                    .map_err(|e| format!("an update is not hex: {e}"))?;
                roster = SignedRoster::from_bytes(&update)
                    .and_then(|signed| roster.apply_update(&signed))
                    .map_err(|e| format!("an update of the chain does not apply: {e}"))?;
            }
            if string(v, "via")? != "sync" {
                return Err("history vectors are judged as sync deliveries".into());
            }
            let result = WireEntry::from_bytes(&bytes(v, "wire")?)
                .map_err(RejectReason::Encoding)
                .and_then(|wire| verify_wire(&roster, &wire));
            match result {
                Ok(entry) => Got::accept().with("entry_id", hex_value(entry.id().0)),
                Err(reason) => rejected_entry(&reason),
            }
        }
        _ => return Err(unknown_type(v)),
    };
    compare(field(v, "expected")?, &got)
}

fn run_ed25519(_file: &Value, v: &Value) -> Result<(), String> {
    let verified = |ok: bool| {
        if ok {
            Got::accept()
        } else {
            Got::reject("bad_signature")
        }
    };
    let got = match vector_type(v)? {
        "rfc8032" => {
            let secret: [u8; 32] = array(v, "secret_key")?;
            let public = OrgKey(array(v, "public_key")?);
            let message = bytes(v, "message")?;
            let signature: [u8; 64] = array(v, "signature")?;
            if OrgSigningKey::from_seed(secret).public() != public {
                return Err("the public key does not derive from the secret key".into());
            }
            // The crate signs only its own domain-separated structures, so
            // the signing half of the test uses the same library directly.
            let signed = ed25519_dalek::SigningKey::from_bytes(&secret)
                .sign(&message)
                .to_bytes();
            if signed != signature {
                return Err("signing does not reproduce the signature".into());
            }
            verified(verify_strict(&public, &message, &signature))
        }
        "verify" => {
            let public = OrgKey(array(v, "public_key")?);
            let signature: [u8; 64] = array(v, "signature")?;
            verified(verify_strict(&public, &bytes(v, "message")?, &signature))
        }
        "public_key" => match check_public_key(&OrgKey(array(v, "public_key")?)) {
            Ok(()) => Got::accept(),
            Err(e) => Got::reject(e.name()),
        },
        _ => return Err(unknown_type(v)),
    };
    compare(field(v, "expected")?, &got)
}

fn withheld_field(name: &str) -> Result<WithheldField, String> {
    WithheldField::from_name(name).ok_or_else(|| format!("unknown field `{name}`"))
}

fn run_commitments(_file: &Value, v: &Value) -> Result<(), String> {
    let got = match vector_type(v)? {
        "commitment" => {
            let commitment = redaction::commit(
                withheld_field(string(v, "field")?)?,
                &array(v, "salt")?,
                &bytes(v, "value")?,
            );
            Got::accept().with("commitment", commitment.to_hex())
        }
        "reveal" => {
            let body: BulletinBody = cbor::decode_canonical(&bytes(v, "redacted_body")?, MAX_BODY_BYTES)
                .map_err(|e| format!("redacted_body: {e}"))?;
            let reveals = field(v, "reveals")?
                .as_array()
                .ok_or("`reveals` is not an array")?
                .iter()
                .map(|r| {
                    Ok(Reveal {
                        field: withheld_field(string(r, "field")?)?,
                        salt: array(r, "salt")?,
                        value: bytes(r, "value")?,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            match redaction::check_reveals(&body, &reveals) {
                Ok(()) => Got::accept(),
                Err(e) => Got::reject(e.name()).with("field", e.field().name()),
            }
        }
        _ => return Err(unknown_type(v)),
    };
    compare(field(v, "expected")?, &got)
}

fn release_error(e: &ReleaseError) -> Got {
    let got = Got::reject(e.name());
    match e {
        ReleaseError::Encoding(c) => got.with("detail", c.name()),
        ReleaseError::Reveal(r) => got.with("detail", r.name()).with("field", r.field().name()),
        _ => got,
    }
}

fn opened(request: EntryId, target: EntryId, reveals: &[Reveal]) -> Got {
    let listed: Vec<Value> = reveals
        .iter()
        .map(|r| serde_json::json!({"field": r.field.name(), "salt": hex::encode(r.salt), "value": hex::encode(&r.value)}))
        .collect();
    let mut received: Vec<Hash32> = reveals.iter().map(Reveal::commitment).collect();
    received.sort();
    let receipt = AccessReceiptBody {
        request,
        target,
        received: received.clone(),
    };
    Got::accept()
        .with("reveals", listed)
        .with(
            "digests",
            reveals
                .iter()
                .map(|r| hex_value(r.digest().0))
                .collect::<Vec<_>>(),
        )
        .with(
            "received",
            received.iter().map(|c| hex_value(c.0)).collect::<Vec<_>>(),
        )
        .with("receipt_body", hex_value(cbor::encode(&receipt)))
}

fn boolean(v: &Value, key: &str) -> Result<bool, String> {
    field(v, key)?
        .as_bool()
        .ok_or_else(|| format!("`{key}` is not a boolean"))
}

fn decision_got(verdict: Verdict) -> Got {
    let got = Got::accept().with("decision", verdict.name());
    match verdict {
        Verdict::Revoked(why) => got.with("why", why.name()),
        Verdict::NotAllowed(why) => got.with("why", why.name()),
        Verdict::NeverGrantable { approvers, needed } => {
            got.with("approvers", approvers).with("needed", needed)
        }
        Verdict::Pending { grants, needed } => got.with("grants", grants).with("needed", needed),
        _ => got,
    }
}

fn run_release(file: &Value, v: &Value) -> Result<(), String> {
    let got = match vector_type(v)? {
        "release" => {
            let redacted: BulletinBody = cbor::decode_canonical(&bytes(v, "redacted_body")?, MAX_BODY_BYTES)
                .map_err(|e| format!("redacted_body: {e}"))?;
            let request = Hash32(array(v, "request")?);
            let target = Hash32(array(v, "target")?);
            let author = OrgKey(array(v, "author")?);
            let requester = OrgKey(array(v, "requester")?);
            let result = SignedRelease::from_bytes(&bytes(v, "signed_release")?)
                .and_then(|signed| signed.open(&author, &request, &target, &requester, &redacted));
            match result {
                Ok(reveals) => opened(request, target, &reveals),
                Err(e) => release_error(&e),
            }
        }
        "fault_proof" => {
            // A third party holds the roster, the hazardous entry and the
            // fault proof (a signed release cut to one opening).
            let roster = file_roster(file)?;
            let body = bytes(v, "hazardous_body")?;
            let entry = verify_entry(&roster, &bytes(v, "hazardous_envelope")?, Some(&body))
                .map_err(|e| format!("hazardous entry does not verify: {e}"))?;
            if entry.header().tier != Tier::Hazardous {
                return Err("the entry is not hazardous".into());
            }
            let redacted: BulletinBody =
                cbor::decode_canonical(&body, MAX_BODY_BYTES).map_err(|e| format!("hazardous body: {e}"))?;
            let (author, target) = (entry.header().author, entry.id());
            let result = SignedRelease::from_bytes(&bytes(v, "signed_release")?)
                .and_then(|proof| proof.check_fault_proof(&author, &target, &redacted));
            match result {
                Ok(fault) => Got::accept()
                    .with("author", author.to_hex())
                    .with("target", target.to_hex())
                    .with("detail", fault.name())
                    .with("field", fault.field().name()),
                Err(e) => release_error(&e),
            }
        }
        "evaluate" => {
            let roster = file_roster(file)?;
            let policy = field(v, "policy")?;
            let keys = |v: &Value, key: &str| -> Result<Vec<OrgKey>, String> {
                field(v, key)?
                    .as_array()
                    .ok_or_else(|| format!("`{key}` is not an array"))?
                    .iter()
                    .map(|k| {
                        k.as_str()
                            .and_then(OrgKey::from_hex)
                            .ok_or_else(|| format!("`{key}` holds a non-key"))
                    })
                    .collect()
            };
            let policy = ReleasePolicy {
                observers_may_request: boolean(policy, "observers_may_request")?,
                approvers: keys(policy, "approvers")?,
                threshold: number(policy, "threshold")?,
            };
            let list = |key: &str| -> Result<Vec<Value>, String> {
                Ok(field(v, key)?
                    .as_array()
                    .ok_or_else(|| format!("`{key}` is not an array"))?
                    .clone())
            };
            let decisions = list("decisions")?
                .iter()
                .map(|d| {
                    Ok(RecordedDecision {
                        id: Hash32(array(d, "id")?),
                        approver: OrgKey(array(d, "approver")?),
                        grant: boolean(d, "grant")?,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            let retractions = list("retractions")?
                .iter()
                .map(|r| {
                    Ok(RecordedRetraction {
                        author: OrgKey(array(r, "author")?),
                        target: Hash32(array(r, "target")?),
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            let author = OrgKey(array(v, "author")?);
            let log = RequestLog {
                entry: Hash32(array(v, "entry")?),
                request: Hash32(array(v, "request")?),
                requester: OrgKey(array(v, "requester")?),
                decisions: &decisions,
                retractions: &retractions,
            };
            decision_got(evaluate(&roster, &author, &policy, &log))
        }
        _ => return Err(unknown_type(v)),
    };
    compare(field(v, "expected")?, &got)
}

/// The number of X25519 recipient stanzas in an age file's header.
fn x25519_stanzas(age_file: &[u8]) -> usize {
    age_file
        .split(|b| *b == b'\n')
        .take_while(|line| !line.starts_with(b"---"))
        .filter(|line| line.starts_with(b"-> X25519 "))
        .count()
}

fn run_restricted(file: &Value, v: &Value) -> Result<(), String> {
    const REBUILD: &str = "delete spec/vectors/restricted.json and run the generator";
    if vector_type(v)? != "restricted" {
        return Err(unknown_type(v));
    }
    let fixtures = testkit::signatories();
    if bytes(file, "roster")? != fixtures.roster.signed().to_bytes() {
        return Err(format!("the file's roster is not the fixture roster; {REBUILD}"));
    }
    let roster = file_roster(file)?;
    let body = bytes(v, "body")?;
    let entry = verify_entry(&roster, &bytes(v, "envelope")?, Some(&body))
        .map_err(|e| format!("entry does not verify: {e}"))?;
    let header = entry.header();
    let recipients = match (header.tier, &header.recipients) {
        (Tier::Restricted, Some(recipients)) => recipients.clone(),
        _ => return Err("not a restricted entry".into()),
    };
    if !body.starts_with(b"age-encryption.org/v1\n") {
        return Err("the body is not a binary age v1 file".into());
    }
    if x25519_stanzas(&body) != recipients.len() {
        return Err(format!(
            "the ciphertext has {} X25519 stanzas for {} recipients",
            x25519_stanzas(&body),
            recipients.len()
        ));
    }
    let org = string(v, "org")?;
    let identity = string(v, "identity")?;
    if fixtures.org(org).encryption.to_age_identity().as_str() != identity {
        return Err(format!("`identity` is not {org}'s fixture identity; {REBUILD}"));
    }
    let identity = age::x25519::Identity::from_str(identity).map_err(|e| format!("`identity`: {e}"))?;
    let got = match age::decrypt(&identity, &body) {
        Ok(plaintext) => {
            let bulletin: BulletinBody = cbor::decode_canonical(&plaintext, MAX_BODY_BYTES)
                .map_err(|e| format!("the plaintext is not a bulletin body: {e}"))?;
            check_bulletin(&bulletin, header.kind, header.tier)
                .map_err(|e| format!("the plaintext breaks the bulletin rules: {e}"))?;
            if bulletin != vectors_build::restricted_bulletin() {
                return Err(format!("the plaintext is not the builder's bulletin; {REBUILD}"));
            }
            Got::accept().with("plaintext", hex_value(&plaintext))
        }
        Err(_) => Got::reject("cannot_decrypt"),
    };
    let recipients: Vec<Value> = recipients.iter().map(|k| hex_value(k.0)).collect();
    compare(
        field(v, "expected")?,
        &got.with("entry_id", hex_value(entry.id().0))
            .with("recipients", recipients),
    )
}
