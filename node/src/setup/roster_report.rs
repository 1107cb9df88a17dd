//! `riskmesh roster verify` and `show`: what a roster file says, who has
//! signed it, whose signature is missing, and whether it is valid as a
//! genesis or as an update of a given chain.

use super::SetupError;
use super::member_file::{MemberRole, peer_id_text};
use super::roster_files::{document, read_roster};
use riskmesh_protocol::keys::verify_strict;
use riskmesh_protocol::roster::{Member, Role, Roster, RosterDoc, SignedRoster, roster_signing_input};
use riskmesh_protocol::{Hash32, OrgKey};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The state of one participant's signature on a roster file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureState {
    /// Signed, and the signature verifies.
    Valid,
    /// A signature is present but does not verify.
    Invalid,
    /// Not signed.
    Missing,
    /// Not signed, and not expected to: observers never sign a roster.
    NotNeeded,
}

impl SignatureState {
    /// A short word for tables.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureState::Valid => "yes",
            SignatureState::Invalid => "INVALID",
            SignatureState::Missing => "no",
            SignatureState::NotNeeded => "-",
        }
    }
}

/// One participant, as shown by `roster show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberSummary {
    /// Org id.
    pub org: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: MemberRole,
    /// Ed25519 signing key, hex.
    pub signing_key: String,
    /// Encryption key, `age1…`.
    pub encryption_key: String,
    /// Node peer ids.
    pub nodes: Vec<String>,
    /// Bootstrap addresses.
    pub addrs: Vec<String>,
    /// Whether this participant's signature is on the file.
    pub signature: SignatureState,
}

/// A roster file described and checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RosterSummary {
    /// The roster file.
    pub file: PathBuf,
    /// Network id.
    pub network: String,
    /// Version (1 = genesis).
    pub version: u64,
    /// SHA-256 of the document, hex: what a config pins for a genesis.
    pub hash: String,
    /// Hash of the previous version, for an update.
    pub prev: Option<String>,
    /// Change policy, `N/D`.
    pub quorum: String,
    /// When it was drafted, Unix ms.
    pub created_ms: u64,
    /// Participants, in roster order.
    pub members: Vec<MemberSummary>,
    /// Orgs whose signatures are present (hex for a signer no roster names).
    pub signed_by: Vec<String>,
    /// Orgs that still need to sign for the roster to be valid.
    pub missing_signatures: Vec<String>,
    /// What it was checked as: `genesis`, or `update of version N`.
    pub checked_as: String,
    /// Whether it passed.
    pub valid: bool,
    /// Why it failed and what to do, when it did.
    pub error: Option<String>,
}

/// Reads `file` and checks it: as a genesis (every founding member signed,
/// optionally against `pin`) when `current` is empty, or as the update that
/// follows the chain `current` (genesis first, then each update in order).
///
/// An invalid roster is a summary with `valid == false`; `Err` means a file
/// could not be read or decoded at all.
pub fn verify(file: &Path, pin: Option<Hash32>, current: &[PathBuf]) -> Result<RosterSummary, SetupError> {
    let signed = read_roster(file)?;
    let doc = document(file, &signed)?;
    let previous = match current.split_first() {
        None => None,
        Some((genesis_path, updates)) => {
            if doc.version == 1 {
                return Err(SetupError::Argument(format!(
                    "{} is a genesis (version 1); --current is only for checking updates",
                    file.display()
                )));
            }
            Some(chain(genesis_path, updates, pin)?)
        }
    };
    let mut summary = describe(file, &signed, &doc, previous.as_ref());
    let verdict = match &previous {
        Some(roster) => {
            summary.checked_as = format!("update of version {}", roster.version());
            roster.apply_update(&signed).map(|_| ())
        }
        None if doc.version == 1 => {
            summary.checked_as = "genesis".into();
            match pin {
                Some(pin) => Roster::genesis_pinned(&signed, &pin).map(|_| ()),
                None => Roster::genesis(&signed).map(|_| ()),
            }
        }
        None => {
            summary.checked_as = "not checked".into();
            summary.error = Some(format!(
                "version {} is an update; pass --current with the roster chain it follows (the genesis \
                 first, then each update in order) to check its quorum",
                doc.version
            ));
            return Ok(summary);
        }
    };
    if let Err(error) = verdict {
        let mut message = error.to_string();
        if !summary.missing_signatures.is_empty() {
            message.push_str(&format!(
                ". Missing signatures: {}. Each of them runs `riskmesh roster sign {} --key <their org.key>`",
                summary.missing_signatures.join(", "),
                file.display()
            ));
        }
        summary.error = Some(message);
    } else {
        summary.valid = true;
    }
    Ok(summary)
}

/// Verifies a chain of roster files, genesis first.
fn chain(genesis_path: &Path, updates: &[PathBuf], pin: Option<Hash32>) -> Result<Roster, SetupError> {
    let invalid = |path: &Path, e: riskmesh_protocol::roster::RosterError| SetupError::RosterInvalid {
        path: path.to_path_buf(),
        reason: format!("{e} (given with --current, so it must be valid itself)"),
    };
    let genesis = read_roster(genesis_path)?;
    let mut roster = match pin {
        Some(pin) => Roster::genesis_pinned(&genesis, &pin),
        None => Roster::genesis(&genesis),
    }
    .map_err(|e| invalid(genesis_path, e))?;
    // Replayed one file at a time so that an error names its file; the rule
    // (each update follows the one before, versions already in force are
    // skipped) is the protocol's `Roster::replay`.
    for path in updates {
        roster = roster
            .replay([&read_roster(path)?])
            .map_err(|e| invalid(path, e))?;
    }
    Ok(roster)
}

/// Whether `key`'s signature is on `signed` and verifies (`Valid`,
/// `Invalid` or `Missing`).
pub(super) fn signature_state(signed: &SignedRoster, key: &OrgKey) -> SignatureState {
    match signed.signatures.iter().find(|s| s.signer == *key) {
        None => SignatureState::Missing,
        Some(s) if verify_strict(&s.signer, &roster_signing_input(&signed.doc), &s.signature) => {
            SignatureState::Valid
        }
        Some(_) => SignatureState::Invalid,
    }
}

/// Describes a roster file without a verdict. `previous` (for an update)
/// decides whose signatures are needed: its role-member participants.
fn describe(file: &Path, signed: &SignedRoster, doc: &RosterDoc, previous: Option<&Roster>) -> RosterSummary {
    let state = |key: &OrgKey| match signature_state(signed, key) {
        SignatureState::Missing
            if doc
                .members
                .iter()
                .any(|m| m.signing_key == *key && m.role == Role::Observer) =>
        {
            SignatureState::NotNeeded
        }
        state => state,
    };
    let org_of = |key: &OrgKey| {
        doc.members
            .iter()
            .find(|m| m.signing_key == *key)
            .or_else(|| previous.and_then(|r| r.member(key)))
            .map_or_else(|| key.to_hex(), |m| m.org.clone())
    };
    let voters: Vec<&Member> = match previous {
        Some(roster) => roster
            .doc()
            .members
            .iter()
            .filter(|m| m.role == Role::Member)
            .collect(),
        None if doc.version == 1 => doc.members.iter().filter(|m| m.role == Role::Member).collect(),
        None => Vec::new(),
    };
    RosterSummary {
        file: file.to_path_buf(),
        network: doc.network.clone(),
        version: doc.version,
        hash: doc.hash().to_hex(),
        prev: doc.prev.map(|h| h.to_hex()),
        quorum: format!(
            "{}/{}",
            doc.policy.quorum_numerator, doc.policy.quorum_denominator
        ),
        created_ms: doc.created_ms,
        members: doc
            .members
            .iter()
            .map(|m| MemberSummary {
                org: m.org.clone(),
                name: m.name.clone(),
                role: m.role.into(),
                signing_key: m.signing_key.to_hex(),
                encryption_key: m.encryption().to_age_recipient(),
                nodes: m.nodes.iter().map(peer_id_text).collect(),
                addrs: m.addrs.clone(),
                signature: state(&m.signing_key),
            })
            .collect(),
        signed_by: signed.signatures.iter().map(|s| org_of(&s.signer)).collect(),
        missing_signatures: voters
            .iter()
            .filter(|m| state(&m.signing_key) != SignatureState::Valid)
            .map(|m| m.org.clone())
            .collect(),
        checked_as: String::new(),
        valid: false,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use riskmesh_protocol::testkit;

    fn write(dir: &Path, name: &str, signed: &SignedRoster) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, signed.to_bytes()).expect("write");
        path
    }

    #[test]
    fn genesis_lists_missing_founders_and_honours_the_pin() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let doc = testkit::genesis_doc("test-net", &["a", "b", "c"], &["o"], 1);
        let mut signed = SignedRoster::new(&doc);
        signed.sign(&testkit::org_secrets("b").signing);
        let path = write(tmp.path(), "draft", &signed);

        let summary = verify(&path, None, &[]).expect("summary");
        assert!(!summary.valid);
        assert_eq!(summary.checked_as, "genesis");
        assert_eq!(summary.missing_signatures, ["a", "c"]);
        assert_eq!(summary.signed_by, ["b"]);
        let error = summary.error.expect("error");
        assert!(error.contains("riskmesh roster sign"), "{error}");
        let observer = summary.members.iter().find(|m| m.org == "o").expect("observer");
        assert_eq!(observer.signature, SignatureState::NotNeeded);

        signed.sign(&testkit::org_secrets("a").signing);
        signed.sign(&testkit::org_secrets("c").signing);
        let path = write(tmp.path(), "full", &signed);
        assert!(verify(&path, None, &[]).expect("summary").valid);
        assert!(verify(&path, Some(doc.hash()), &[]).expect("summary").valid);
        let wrong = verify(&path, Some(Hash32([0; 32])), &[]).expect("summary");
        assert!(!wrong.valid);
        assert!(wrong.error.unwrap_or_default().contains("pinned"));
    }

    #[test]
    fn a_forged_signature_is_shown_as_invalid() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let doc = testkit::genesis_doc("test-net", &["a"], &[], 1);
        let mut signed = SignedRoster::new(&doc);
        signed.sign(&testkit::org_secrets("a").signing);
        signed.signatures[0].signature[0] ^= 1;
        let path = write(tmp.path(), "forged", &signed);
        let summary = verify(&path, None, &[]).expect("summary");
        assert!(!summary.valid);
        assert_eq!(summary.members[0].signature, SignatureState::Invalid);
        assert_eq!(summary.missing_signatures, ["a"]);
    }

    #[test]
    fn garbage_is_an_error_not_a_summary() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let path = tmp.path().join("junk");
        std::fs::write(&path, b"not cbor").expect("write");
        assert!(matches!(
            verify(&path, None, &[]),
            Err(SetupError::RosterFile { .. })
        ));
    }
}
