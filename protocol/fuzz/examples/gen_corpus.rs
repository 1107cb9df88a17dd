//! Writes seed corpora for every fuzz target under `corpus/<target>/`, built
//! from the deterministic fixtures (and, for `age_header` and
//! `release_messages`, the real age files and signed releases of
//! `spec/vectors/`). Run from `protocol/fuzz`:
//! `cargo run --example gen_corpus`.

use riskmesh_protocol::age_header::AGE_MAGIC;
use riskmesh_protocol::delivery::DeliveryVerdict;
use riskmesh_protocol::entry::Envelope;
use riskmesh_protocol::limits::{MAX_AGE_STANZAS, MAX_SYNC_RANGE, MAX_TITLE_BYTES};
use riskmesh_protocol::redaction::{Reveal, WithheldField};
use riskmesh_protocol::release::{BoundReveal, ReleasePayload, SignedRelease};
use riskmesh_protocol::roster::SignedRoster;
use riskmesh_protocol::sync::{Head, SyncRequest, SyncResponse};
use riskmesh_protocol::testkit::{self, NETWORK, SIGNATORIES};
use riskmesh_protocol::{EquivocationProof, WireEntry, cbor};
use riskmesh_protocol_fuzz::{
    EnvelopeInput, MAIN_CHAIN, chain_pool, entries_of_every_kind, release_fixture, roster,
};
use std::fs;
use std::path::Path;

fn main() -> std::io::Result<()> {
    let entries = entries_of_every_kind();
    let genesis = roster().signed().to_bytes();
    let update = roster_update();

    let mut cbor_scan = vec![genesis.clone(), update.to_bytes(), roster().signed().doc.clone()];
    let mut wire_entry = Vec::new();
    let mut envelope_verify = Vec::new();
    for entry in &entries {
        let wire = entry.to_wire();
        let envelope = Envelope::parse(entry.envelope()).expect("fixture envelope parses");
        cbor_scan.extend([
            wire.to_bytes(),
            entry.envelope().to_vec(),
            envelope.payload.to_vec(),
        ]);
        // CBOR bodies (maps); restricted bodies are opaque ciphertext.
        if let Some(body) = entry.body().filter(|b| b.first().is_some_and(|b| b >> 5 == 5)) {
            cbor_scan.push(body.to_vec());
        }
        wire_entry.push(wire.to_bytes());
        wire_entry.push(WireEntry { body: None, ..wire }.to_bytes());
        let signer = roster()
            .doc()
            .members
            .iter()
            .position(|m| m.signing_key == entry.header().author)
            .expect("author on roster") as u8;
        envelope_verify.extend([
            EnvelopeInput::encode(false, signer, false, entry.envelope(), entry.body()),
            EnvelopeInput::encode(false, signer, false, entry.envelope(), None),
            EnvelopeInput::encode(true, signer, false, envelope.payload, entry.body()),
            EnvelopeInput::encode(true, signer, true, envelope.payload, entry.body()),
        ]);
    }
    let small: [&[u8]; 9] = [
        &[0x00],
        &[0x18, 0x18],
        &[0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        &[0x80],
        &[0xa0],
        &[0xf4],
        &[0xf6],
        &[0x61, 0x61],
        &[0x83, 0x01, 0x82, 0x02, 0x03, 0x82, 0x04, 0x05],
    ];
    cbor_scan.extend(small.iter().map(|s| s.to_vec()));

    let roster_seeds = vec![
        [&[0u8][..], &genesis].concat(),
        [&[0u8][..], &update.to_bytes()].concat(),
        [&[1u8][..], &roster().signed().doc].concat(),
        [&[2u8][..], &update.doc].concat(),
    ];

    let pool = chain_pool();
    let n = pool.entries.len() as u8;
    let chain_seeds = vec![
        (0..n).collect::<Vec<u8>>(),
        (0..n).rev().collect(),
        (0..n).map(|i| i | 0x80).collect(),
        (0..n).chain(0..n).collect(),
    ];

    write("cbor_scan", &cbor_scan)?;
    write("wire_entry", &wire_entry)?;
    write("envelope_verify", &envelope_verify)?;
    write("roster", &roster_seeds)?;
    write("chain", &chain_seeds)?;
    write("age_header", &age_header_seeds())?;
    write("sync_messages", &sync_seeds(&entries, &genesis))?;
    write("release_messages", &release_seeds())?;
    Ok(())
}

/// Real age files (the restricted-body vectors, to one and three
/// recipients) and crafted headers at and around the bounds. Byte 0 is the
/// target's flag: 0 = the rest as is, 1 = the target puts the magic line
/// in front of the rest.
fn age_header_seeds() -> Vec<Vec<u8>> {
    let vectors = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../spec/vectors/restricted.json"
    ));
    let mut seeds: Vec<Vec<u8>> = hex_fields(vectors, "body")
        .into_iter()
        .filter(|body| body.starts_with(AGE_MAGIC))
        .map(|body| [&[0u8][..], &body].concat())
        .collect();
    let crafted = |stanzas: usize, line: usize| {
        let mut out = vec![1u8];
        for _ in 0..stanzas {
            out.extend_from_slice(b"-> X25519 AAAA\n");
            out.extend(std::iter::repeat_n(b'A', line));
            out.push(b'\n');
        }
        out.extend_from_slice(b"--- AAAA\n");
        out.extend_from_slice(&[0u8; 16]);
        out
    };
    seeds.extend([
        crafted(0, 0),
        crafted(1, 43),
        crafted(3, 64),
        crafted(MAX_AGE_STANZAS, 0),
        crafted(MAX_AGE_STANZAS + 1, 0),
        vec![1u8, b'-', b'-', b'-', b'\n'],
        [&[0u8][..], AGE_MAGIC].concat(),
        [&[0u8][..], b"age-encryption.org/v2\n--- x\n"].concat(),
    ]);
    seeds
}

/// Every request kind (mode 0), every response kind (mode 1) from the
/// fixtures, and `check_range` inputs (mode 2).
fn sync_seeds(entries: &[riskmesh_protocol::VerifiedEntry], genesis: &[u8]) -> Vec<Vec<u8>> {
    let author = entries[0].header().author;
    let requests = [
        SyncRequest::Heads,
        SyncRequest::Range {
            author,
            from_seq: 1,
            count: MAX_SYNC_RANGE,
        },
        SyncRequest::Rosters { after_version: 1 },
        SyncRequest::Proofs { skip: 3 },
    ];
    let pool = chain_pool();
    let mut heads: Vec<Head> = pool
        .entries
        .iter()
        .filter(|e| e.header().seq == MAIN_CHAIN)
        .map(|e| Head {
            author: e.header().author,
            seq: e.header().seq,
            id: e.id(),
        })
        .collect();
    heads.sort_by_key(|h| h.author);
    let fork = pool
        .entries
        .iter()
        .enumerate()
        .find_map(|(i, a)| {
            pool.entries[i + 1..]
                .iter()
                .find_map(|b| EquivocationProof::new(a, b).ok())
        })
        .expect("the pool has a fork");
    let responses = [
        SyncResponse::Heads {
            heads,
            roster_version: 1,
            proofs: 1,
        },
        SyncResponse::Entries(entries.iter().take(3).map(|e| e.to_wire()).collect()),
        SyncResponse::Rosters(vec![genesis.to_vec().into()]),
        SyncResponse::Proofs(vec![fork]),
        SyncResponse::Refused("busy".into()),
    ];
    let mut seeds: Vec<Vec<u8>> = requests
        .iter()
        .map(|r| [&[0u8][..], &r.to_bytes()].concat())
        .collect();
    seeds.extend(responses.iter().map(|r| [&[1u8][..], &r.to_bytes()].concat()));
    let range = |from: u64, headers: &[(u8, u64)]| {
        let mut out = vec![2u8];
        out.extend_from_slice(&from.to_le_bytes());
        for (who, seq) in headers {
            out.push(*who);
            out.extend_from_slice(&seq.to_le_bytes());
        }
        out
    };
    seeds.extend([
        range(5, &[(0, 5), (0, 6), (0, 7)]),
        range(5, &[(0, 5), (1, 6)]),
        range(1, &[(0, 2)]),
        range(u64::MAX - 1, &[(0, u64::MAX - 1)]),
    ]);
    seeds
}

/// The fixture release in every mode, payloads that bind extra or no
/// openings, tampered and over-limit reveals, the release vectors' signed
/// releases and fault proofs, and the verdicts.
fn release_seeds() -> Vec<Vec<u8>> {
    let f = release_fixture();
    let signed = f.signed.to_bytes();
    let payload: ReleasePayload =
        cbor::decode_canonical(&f.signed.payload, usize::MAX).expect("fixture payload");
    let binding = |reveals: &[Reveal]| {
        cbor::encode(&ReleasePayload {
            bound: reveals.iter().map(BoundReveal::of).collect(),
            ..payload.clone()
        })
    };
    let mut tampered = f.reveals.clone();
    tampered[0].value[2] ^= 1;
    let long_title = Reveal {
        field: WithheldField::Title,
        salt: [9; 32],
        value: cbor::encode(&"t".repeat(MAX_TITLE_BYTES + 1)),
    };
    let not_cbor = Reveal {
        field: WithheldField::Affected,
        salt: [9; 32],
        value: vec![0xff, 0x00],
    };
    let mut seeds = vec![
        [&[0u8][..], &signed].concat(),
        [&[1u8][..], &f.signed.payload].concat(),
        [&[1u8][..], &binding(&f.reveals)].concat(),
        [&[1u8][..], &binding(&[])].concat(),
        [&[2u8][..], &cbor::encode(&f.signed.reveals)].concat(),
        [&[2u8][..], &cbor::encode(&f.reveals)].concat(),
        [&[2u8][..], &cbor::encode(&tampered)].concat(),
        [&[3u8][..], &cbor::encode(&vec![long_title.clone(), not_cbor])].concat(),
        [&[3u8][..], &cbor::encode(&vec![f.reveals[0].clone(), long_title])].concat(),
    ];
    let vectors = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../spec/vectors/release.json"
    ));
    seeds.extend(
        hex_fields(vectors, "signed_release")
            .into_iter()
            .filter(|bytes| SignedRelease::from_bytes(bytes).is_ok())
            .map(|bytes| [&[0u8][..], &bytes].concat()),
    );
    for verdict in [
        DeliveryVerdict::Accepted,
        DeliveryVerdict::Mismatch,
        DeliveryVerdict::AlreadyReceived,
        DeliveryVerdict::Refused("busy".into()),
        DeliveryVerdict::Refused("é".repeat(600)),
    ] {
        seeds.push(verdict.to_bytes());
    }
    seeds
}

/// The hex string values of every `"name": "<hex>"` in a vector file.
fn hex_fields(json: &str, name: &str) -> Vec<Vec<u8>> {
    let key = format!("\"{name}\": \"");
    json.split(&key)
        .skip(1)
        .filter_map(|rest| {
            let hex = &rest[..rest.find('"')?];
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                .collect()
        })
        .collect()
}

/// Version 2 of the fixture roster without the last observer (its key
/// retired with nothing published), signed by a quorum (five of seven
/// signatories).
fn roster_update() -> SignedRoster {
    let mut doc = roster().doc().clone();
    doc.version = 2;
    doc.prev = Some(roster().hash());
    doc.members.pop();
    doc.retire_dropped(roster().doc(), &|_| None);
    let mut signed = SignedRoster::new(&doc);
    for org in &SIGNATORIES[..5] {
        signed.sign(&testkit::org_secrets(org).signing);
    }
    assert!(roster().apply_update(&signed).is_ok(), "fixture update verifies");
    assert_eq!(doc.network, NETWORK);
    signed
}

fn write(target: &str, seeds: &[Vec<u8>]) -> std::io::Result<()> {
    let dir = Path::new("corpus").join(target);
    fs::create_dir_all(&dir)?;
    for (i, seed) in seeds.iter().enumerate() {
        fs::write(dir.join(format!("seed-{i:03}")), seed)?;
    }
    println!("{target}: {} seeds", seeds.len());
    Ok(())
}
