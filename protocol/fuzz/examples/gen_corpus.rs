//! Writes seed corpora for every fuzz target under `corpus/<target>/`, built
//! from the deterministic fixtures. Run from `protocol/fuzz`:
//! `cargo run --example gen_corpus`.

use riskmesh_protocol::WireEntry;
use riskmesh_protocol::entry::Envelope;
use riskmesh_protocol::roster::SignedRoster;
use riskmesh_protocol::testkit::{self, NETWORK, SIGNATORIES};
use riskmesh_protocol_fuzz::{EnvelopeInput, chain_pool, entries_of_every_kind, roster};
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
    Ok(())
}

/// Version 2 of the fixture roster without the last observer, signed by a
/// quorum (five of seven signatories).
fn roster_update() -> SignedRoster {
    let mut doc = roster().doc().clone();
    doc.version = 2;
    doc.prev = Some(roster().hash());
    doc.members.pop();
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
