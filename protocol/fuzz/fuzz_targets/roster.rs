//! Rosters from untrusted bytes: `SignedRoster::from_bytes`,
//! `Roster::genesis` and `Roster::apply_update` never panic, and what they
//! accept keeps the roster invariants. Byte 0 picks a mode: 0 = the rest is
//! a signed roster; 1 = the rest is a document, signed by every signatory
//! (a plausible genesis); 2 = the rest is a document, signed by five of the
//! seven signatories (a quorum for an update of the fixture genesis).

#![no_main]

use libfuzzer_sys::fuzz_target;
use riskmesh_protocol::Roster;
use riskmesh_protocol::roster::{Role, SignedRoster};
use riskmesh_protocol::testkit::SIGNATORIES;
use riskmesh_protocol_fuzz::{consortium, roster};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            if let Ok(signed) = SignedRoster::from_bytes(rest) {
                assert_eq!(signed.to_bytes(), rest, "decoded roster re-encodes differently");
                check(&signed);
            }
        }
        signers => {
            let mut signed = SignedRoster {
                doc: rest.to_vec(),
                signatures: Vec::new(),
            };
            // Signing is slow; only sign documents that could pass.
            if signed.document().is_err() {
                check(&signed);
                return;
            }
            let count = if signers == 1 { SIGNATORIES.len() } else { 5 };
            for org in &SIGNATORIES[..count] {
                signed.sign(&consortium().org(org).signing);
            }
            check(&signed);
        }
    }
});

fn check(signed: &SignedRoster) {
    if let Ok(genesis) = Roster::genesis(signed) {
        assert_eq!(genesis.version(), 1);
        assert!(genesis.doc().prev.is_none());
        for member in genesis.doc().members.iter().filter(|m| m.role == Role::Member) {
            assert!(signed.signatures.iter().any(|s| s.signer == member.signing_key));
        }
        assert!(
            genesis.apply_update(signed).is_err(),
            "a roster must not follow itself"
        );
    }
    let base: &Roster = roster();
    if let Ok(next) = base.apply_update(signed) {
        assert_eq!(next.version(), base.version() + 1);
        assert_eq!(next.doc().prev, Some(base.hash()));
        assert_eq!(next.network(), base.network());
        assert!(
            next.apply_update(signed).is_err(),
            "a roster must not follow itself"
        );
    }
}
