use riskmesh_protocol::body::*;
use riskmesh_protocol::cbor;
use riskmesh_protocol::chain::EquivocationProof;
use riskmesh_protocol::entry::*;
use riskmesh_protocol::ids::*;
use riskmesh_protocol::log::*;
use riskmesh_protocol::redaction::*;
use riskmesh_protocol::roster::*;
use riskmesh_protocol::testkit;

fn h(b: &[u8]) -> String { hex::encode(b) }

fn main() {
    let w = WireEntry { envelope: vec![1, 2, 3], body: None };
    println!("wire none: {}", h(&w.to_bytes()));
    let w2 = WireEntry { envelope: vec![1, 2, 3], body: Some(vec![]) };
    println!("wire some-empty: {}", h(&w2.to_bytes()));
    println!("decode [env,null]: {:?}", WireEntry::from_bytes(&hex::decode("8143010203f6").unwrap()));
    println!("decode 82 [env,null]: {:?}", WireEntry::from_bytes(&hex::decode("8243010203f6").unwrap()));
    println!("decode [env]: {:?}", WireEntry::from_bytes(&hex::decode("8143010203").unwrap()));
    println!("decode []: {:?}", WireEntry::from_bytes(&hex::decode("80").unwrap()));
    println!("decode [env,b,extra]: {:?}", WireEntry::from_bytes(&hex::decode("834301020340 00").unwrap_or_default()));
    println!("decode [env,b,extra]: {:?}", WireEntry::from_bytes(&hex::decode("83430102034000").unwrap()));
    let b = BulletinBody::default();
    println!("default bulletin: {}", h(&cbor::encode(&b)));
    let mut b2 = BulletinBody::default();
    b2.commitments = vec![1, 2];
    b2.category = Some(Category::Other);
    println!("bulletin commitments[1,2] cat other: {}", h(&cbor::encode(&b2)));
    // unknown key in retraction body
    let r = RetractionBody { target: Hash32([0xaa; 32]), reason: "x".into(), purge: true };
    let rb = cbor::encode(&r);
    println!("retraction: {}", h(&rb));
    let mut bad = rb.clone(); bad[0] = 0xa4; bad.extend_from_slice(&[0x03, 0x00]);
    println!("retraction + key3: {:?}", cbor::decode_canonical::<RetractionBody>(&bad, 1 << 20));
    // option with null
    let mut withnull = cbor::encode(&b); withnull[0] += 1;
    // insert key 2 null after key 1... simpler: bulletin with only mandatory fields; craft manually below
    let _ = withnull;
    let p = ReleasePolicy::default();
    println!("release default: {}", h(&cbor::encode(&p)));
    let rv = Reveal { field: WithheldField::Title, salt: [7; 32], value: cbor::encode(&"t".to_string()) };
    println!("reveal: {}", h(&cbor::encode(&rv)));
    println!("commit: {}", rv.commitment());
    let pid = PeerIdBytes(minicbor::bytes::ByteVec::from(vec![0, 1]));
    println!("peer: {}", h(&cbor::encode(&pid)));
    let pol = Policy::default();
    println!("policy: {}", h(&cbor::encode(&pol)));
    let ep = EquivocationProof { first: vec![1], second: vec![2] };
    println!("proof: {}", h(&ep.to_bytes()));
    println!("sigstruct: {}", h(&signing_input(&[0xa0], "n", &[0x01])));
    let c = testkit::signatories();
    println!("roster hash {}", c.roster.hash());
    println!("signed roster bytes len {}", c.roster.signed().to_bytes().len());
    println!("signed roster head: {}", h(&c.roster.signed().to_bytes()[..80]));
    let a = c.org("anthropic");
    let mut lw = LogWriter::new(testkit::NETWORK);
    let e = lw.append(&a.signing, &c.roster, &Draft { kind: Kind::Bulletin, tier: Tier::Public, body: Body::Bulletin(testkit::sample_bulletin("T")), recipients: None }, 1_700_000_000_000).unwrap();
    println!("envelope: {}", h(e.envelope()));
    println!("header: {}", h(&e.header().to_bytes()));
    println!("id: {}", e.id());
    println!("body: {}", h(e.body().unwrap()));
    let e2 = lw.append(&a.signing, &c.roster, &Draft { kind: Kind::Ack, tier: Tier::Consortium, body: Body::Ack(AckBody{target: e.id(), status: AckStatus::Mitigated, note: "".into()}), recipients: None }, 1_700_000_000_001).unwrap();
    println!("header2: {}", h(&e2.header().to_bytes()));
    println!("wire2: {}", h(&e2.without_body().to_wire().to_bytes()[..10]));
    // bool decode via 0
    println!("bool from 0: {:?}", cbor::decode_canonical::<bool>(&[0x00], 10));
    println!("u8 from 256: {:?}", cbor::decode_canonical::<u8>(&[0x19, 0x01, 0x00], 10));
    println!("tier 4: {:?}", cbor::decode_canonical::<Tier>(&[0x04], 10));
    println!("vec<u8> from bytes: {:?}", cbor::decode_canonical::<Vec<u8>>(&[0x41, 0x01], 10));
    println!("hash from 31 bytes: {:?}", cbor::decode_canonical::<Hash32>(&[&[0x58u8, 31][..], &[0u8; 31][..]].concat(), 100));
    println!("string dec: {:?}", cbor::decode_canonical::<String>(&[0x60], 10));
}
