//! Drafting the next roster version from the one in force, and describing a
//! draft against it: which organizations are added, removed or re-keyed,
//! which keys are retired with which valid prefix of their log (spec §9.6),
//! who must sign and how many signatures are missing.
//!
//! `riskmesh roster propose` gives the heads of the leaving keys from the
//! running node; the offline `roster update` takes them from the operator
//! (`--head`). Either way a key never leaves the roster without saying
//! which part of its log stays valid.

use super::SetupError;
use crate::setup::roster_report::signature_state;
use riskmesh_protocol::roster::{
    Member, Policy, RetireReason, RetiredKey, Role, RosterDoc, SignedRoster, check_org_id,
};
use riskmesh_protocol::{Hash32, OrgKey};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The head of a key's log as the drafter's node holds it: `(seq, id)`, or
/// `None` when it holds nothing of it.
pub type LogHead = Option<(u64, Hash32)>;

/// What the next version changes, read from the command line once.
#[derive(Debug, Clone)]
pub struct RosterChange {
    /// Member files (with their path) that add an organization or replace
    /// the entry of the same org.
    members: Vec<(PathBuf, Member)>,
    /// Orgs to remove.
    remove: Vec<String>,
    /// A new change policy.
    quorum: Option<Policy>,
}

/// A key declared compromised: only its log up to `last_seq` (the entry
/// `last_id`) stays valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compromise {
    /// The key.
    pub key: OrgKey,
    /// The last valid seq; 0 when nothing it signed is valid.
    pub last_seq: u64,
    /// The id of the entry at `last_seq`; `None` exactly when it is 0.
    pub last_id: Option<Hash32>,
}

/// A key retired by a draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetiredChange {
    /// The organization.
    pub org: String,
    /// The key, hex.
    pub key: String,
    /// `removed`, `rotated` or `compromised`.
    pub reason: String,
    /// The last valid seq (0: none).
    pub last_seq: u64,
    /// The id of the entry at `last_seq`, hex.
    pub last_id: Option<String>,
}

/// A draft of the next version and what it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proposal {
    /// The drafted document (unsigned).
    #[serde(skip)]
    pub doc: RosterDoc,
    /// Network id.
    pub network: String,
    /// The draft's version.
    pub version: u64,
    /// The draft's hash, hex: what signers check.
    pub hash: String,
    /// The hash of the version in force it follows, hex.
    pub prev: String,
    /// Orgs added.
    pub added: Vec<String>,
    /// Orgs removed.
    pub removed: Vec<String>,
    /// Orgs that stay under a new signing key (a rotation, or a new role).
    pub rekeyed: Vec<String>,
    /// Orgs whose entry changes under the same key (nodes, addresses, name,
    /// encryption key).
    pub updated: Vec<String>,
    /// Keys this draft retires, or whose valid prefix it shrinks.
    pub retired: Vec<RetiredChange>,
    /// The change policy, `N/D`, when the draft changes it.
    pub new_quorum: Option<String>,
    /// The participants of the draft.
    pub members: Vec<String>,
    /// Who must sign: the role-member participants of the version in force.
    pub voters: Vec<String>,
    /// How many of them: strictly more than the quorum of the version in force.
    pub signatures_needed: usize,
}

fn argument(message: String) -> SetupError {
    SetupError::Argument(message)
}

impl RosterChange {
    /// Reads the member files and checks the arguments against each other.
    pub fn read(
        members: &[PathBuf],
        remove: Vec<String>,
        quorum: Option<Policy>,
    ) -> Result<Self, SetupError> {
        let members = super::roster_files::read_members(members)?;
        for org in &remove {
            check_org_id(org).map_err(|m| argument(format!("--remove {org}: {m}")))?;
            if let Some((path, _)) = members.iter().find(|(_, m)| &m.org == org) {
                return Err(argument(format!(
                    "{} describes `{org}`, which --remove drops; pass one or the other",
                    path.display()
                )));
            }
        }
        Ok(RosterChange {
            members,
            remove,
            quorum,
        })
    }

    /// Whether this change names anything besides compromised keys.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.remove.is_empty() && self.quorum.is_none()
    }

    /// Which key `--compromised TARGET:SEQ` means: `target` is a signing key
    /// in hex, or an org id: its current key when this change takes that
    /// key off the roster (the org is removed, or a member file gives it a
    /// new key), else its retired key. Returns the key and its org, once
    /// `seq` is known not to grow a retired key's valid prefix.
    pub fn compromise_target(
        &self,
        current: &RosterDoc,
        target: &str,
        seq: u64,
    ) -> Result<(OrgKey, String), SetupError> {
        let (key, org) = self.resolve_compromise(current, target)?;
        if let Some(old) = current.retired_keys().iter().find(|r| r.key == key) {
            shrinks_only(&org, seq, old.last_seq)?;
        }
        Ok((key, org))
    }

    fn resolve_compromise(&self, current: &RosterDoc, target: &str) -> Result<(OrgKey, String), SetupError> {
        let retired_of = |org: &str| -> Vec<&RetiredKey> {
            current.retired_keys().iter().filter(|r| r.org == org).collect()
        };
        if let Some(key) = OrgKey::from_hex(target) {
            if let Some(m) = current.members.iter().find(|m| m.signing_key == key) {
                if !self.drops(m) {
                    return Err(self.stays(m));
                }
                return Ok((key, m.org.clone()));
            }
            return match current.retired_keys().iter().find(|r| r.key == key) {
                Some(r) => Ok((key, r.org.clone())),
                None => Err(argument(format!(
                    "--compromised: key {target} is neither a participant's nor a retired key of roster \
                     version {}",
                    current.version
                ))),
            };
        }
        let current_member = current.members.iter().find(|m| m.org == target);
        if let Some(m) = current_member
            && self.drops(m)
        {
            return Ok((m.signing_key, m.org.clone()));
        }
        let retired = retired_of(target);
        match (retired.as_slice(), current_member) {
            ([r], _) => Ok((r.key, r.org.clone())),
            ([], Some(m)) => Err(self.stays(m)),
            ([], None) => Err(argument(format!(
                "--compromised: `{target}` is not on roster version {} and has no retired key",
                current.version
            ))),
            (several, _) => {
                let keys: Vec<String> = several.iter().map(|r| r.key.to_hex()).collect();
                Err(argument(format!(
                    "--compromised: `{target}` has {} retired keys ({}); name the compromised one by \
                     its key: --compromised <KEY HEX>:SEQ",
                    keys.len(),
                    keys.join(", ")
                )))
            }
        }
    }

    /// Whether this change takes `member`'s signing key off the roster.
    fn drops(&self, member: &Member) -> bool {
        self.remove.contains(&member.org)
            || self
                .members
                .iter()
                .any(|(_, m)| m.org == member.org && m.signing_key != member.signing_key)
    }

    fn stays(&self, member: &Member) -> SetupError {
        argument(format!(
            "--compromised {org}: `{org}`'s current key stays on the roster in this draft, and a \
             compromised key must leave it. Give `{org}` a new key in the same proposal (`riskmesh \
             init --org {org}` in a new directory, then --member <its member.json>), or --remove {org}",
            org = member.org
        ))
    }

    /// Drafts the version after `current` (whose hash is `current_hash`) at
    /// `now_ms`. Every key that leaves the roster is retired with the head
    /// `head` gives for its participant (`Err` when it cannot tell), each
    /// compromise narrows its key's valid prefix, and the draft is checked
    /// as the protocol will check it (structure and key continuity).
    pub fn draft(
        &self,
        current: &RosterDoc,
        current_hash: Hash32,
        head: &dyn Fn(&Member) -> Result<LogHead, SetupError>,
        compromised: &[Compromise],
        now_ms: u64,
    ) -> Result<Proposal, SetupError> {
        if self.is_empty() && compromised.is_empty() {
            return Err(argument(
                "nothing to change: pass --member FILE, --remove ORG, --quorum N/D or --compromised ORG:SEQ"
                    .into(),
            ));
        }
        let mut members = current.members.clone();
        for org in &self.remove {
            let before = members.len();
            members.retain(|m| &m.org != org);
            if members.len() == before {
                return Err(argument(format!(
                    "--remove {org}: no such org on roster version {}",
                    current.version
                )));
            }
        }
        for (path, member) in &self.members {
            check_new_member(current, path, member)?;
            members.retain(|m| m.org != member.org);
            members.push(member.clone());
        }
        members.sort_by(|a, b| a.org.cmp(&b.org));
        let mut doc = current.next_draft(current_hash, now_ms);
        doc.members = members;
        if let Some(policy) = self.quorum {
            doc.policy = policy;
        }
        let mut heads: BTreeMap<OrgKey, LogHead> = BTreeMap::new();
        for m in &current.members {
            if !doc.members.iter().any(|n| n.signing_key == m.signing_key) {
                heads.insert(m.signing_key, head(m)?);
            }
        }
        doc.retire_dropped(current, &|key| heads.get(key).copied().flatten());
        for c in compromised {
            compromise(current, &mut doc, c)?;
        }
        doc.check().map_err(SetupError::DraftInvalid)?;
        current.check_successor(&doc).map_err(SetupError::DraftInvalid)?;
        Ok(describe(current, doc))
    }
}

/// Refuses a member file the protocol would refuse, saying why in terms of
/// what to do: a key that was retired, or a new role under the same key.
fn check_new_member(current: &RosterDoc, path: &std::path::Path, member: &Member) -> Result<(), SetupError> {
    if let Some(r) = current
        .retired_keys()
        .iter()
        .find(|r| r.key == member.signing_key)
    {
        return Err(argument(format!(
            "{}: its signing key was `{}`'s and is retired ({}); a retired key never returns. Create a \
             new key with `riskmesh init --org {}` in a new directory and pass that member.json",
            path.display(),
            r.org,
            r.reason.name(),
            member.org
        )));
    }
    if let Some(other) = current
        .members
        .iter()
        .find(|m| m.signing_key == member.signing_key)
    {
        if other.org != member.org {
            return Err(argument(format!(
                "{}: its signing key is already `{}`'s; each organization has its own key",
                path.display(),
                other.org
            )));
        }
        if other.role != member.role {
            return Err(argument(format!(
                "{}: `{}` changes role from {} to {} but keeps its signing key; a new role takes a new \
                 key (every entry is judged with the role its key had). Run `riskmesh init --org {} \
                 --role {}` in a new directory and pass that member.json: the old key is retired with \
                 its history",
                path.display(),
                member.org,
                role_name(other.role),
                role_name(member.role),
                member.org,
                role_name(member.role)
            )));
        }
    }
    Ok(())
}

fn role_name(role: Role) -> &'static str {
    super::MemberRole::from(role).as_str()
}

/// Marks `c.key` compromised in `doc`: it must be leaving the roster in
/// this draft or be retired already, and a retired key's prefix may only
/// shrink.
fn compromise(current: &RosterDoc, doc: &mut RosterDoc, c: &Compromise) -> Result<(), SetupError> {
    let Some(record) = doc.retired_keys().iter().find(|r| r.key == c.key).cloned() else {
        return Err(argument(format!(
            "--compromised: key {} stays on the roster in this draft; a compromised key must leave it \
             (give its organization a new key with --member, or --remove it)",
            c.key
        )));
    };
    let previous = current.retired_keys().iter().find(|r| r.key == c.key);
    if let Some(old) = previous {
        shrinks_only(&record.org, c.last_seq, old.last_seq)?;
        if c.last_seq == old.last_seq && c.last_id != old.last_id {
            return Err(argument(format!(
                "--compromised {}:{}: the entry your node holds at seq {} is not the one the roster \
                 names as the end of the valid prefix (a fork); give a lower seq",
                record.org, c.last_seq, c.last_seq
            )));
        }
    }
    if previous.is_none() && c.last_seq > record.last_seq {
        return Err(argument(format!(
            "--compromised {}:{}: the node holds `{}`'s log only up to seq {}; give a seq it holds",
            record.org, c.last_seq, record.org, record.last_seq
        )));
    }
    doc.retire(RetiredKey {
        reason: RetireReason::Compromised,
        last_seq: c.last_seq,
        last_id: c.last_id,
        ..record
    });
    Ok(())
}

/// A retired key's valid prefix can only shrink (spec §9.5 step 5a).
fn shrinks_only(org: &str, seq: u64, last_seq: u64) -> Result<(), SetupError> {
    if seq > last_seq {
        return Err(argument(format!(
            "--compromised {org}:{seq}: its valid prefix already ends at seq {last_seq}; a prefix can \
             only shrink, so give a seq up to that"
        )));
    }
    Ok(())
}

/// What `doc` changes against `current`.
fn describe(current: &RosterDoc, doc: RosterDoc) -> Proposal {
    let orgs = |d: &RosterDoc| -> Vec<String> { d.members.iter().map(|m| m.org.clone()).collect() };
    let before = |org: &str| current.members.iter().find(|m| m.org == org);
    let mut added = Vec::new();
    let mut rekeyed = Vec::new();
    let mut updated = Vec::new();
    for m in &doc.members {
        match before(&m.org) {
            None => added.push(m.org.clone()),
            Some(old) if old.signing_key != m.signing_key => rekeyed.push(m.org.clone()),
            Some(old) if old != m => updated.push(m.org.clone()),
            Some(_) => {}
        }
    }
    let removed = current
        .members
        .iter()
        .filter(|m| !doc.members.iter().any(|n| n.org == m.org))
        .map(|m| m.org.clone())
        .collect();
    let retired = doc
        .retired_keys()
        .iter()
        .filter(|r| !current.retired_keys().contains(r))
        .map(|r| RetiredChange {
            org: r.org.clone(),
            key: r.key.to_hex(),
            reason: r.reason.name().to_string(),
            last_seq: r.last_seq,
            last_id: r.last_id.map(|id| id.to_hex()),
        })
        .collect();
    let voters: Vec<String> = current
        .members
        .iter()
        .filter(|m| m.role == Role::Member)
        .map(|m| m.org.clone())
        .collect();
    Proposal {
        network: doc.network.clone(),
        version: doc.version,
        hash: doc.hash().to_hex(),
        prev: doc.prev.map(|h| h.to_hex()).unwrap_or_default(),
        added,
        removed,
        rekeyed,
        updated,
        retired,
        new_quorum: (doc.policy != current.policy).then(|| {
            format!(
                "{}/{}",
                doc.policy.quorum_numerator, doc.policy.quorum_denominator
            )
        }),
        members: orgs(&doc),
        signatures_needed: current.policy.needed(voters.len()),
        voters,
        doc,
    }
}

/// A draft's signatures against the version in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DraftStatus {
    /// The draft's version.
    pub version: u64,
    /// The draft's hash, hex.
    pub hash: String,
    /// Why it does not follow the version in force (network, version or
    /// `prev`), if it does not.
    pub not_following: Option<String>,
    /// Voters whose signature is on it and verifies.
    pub signed: Vec<String>,
    /// Voters whose signature is on it but does not verify.
    pub bad_signatures: Vec<String>,
    /// Signers who are not voters of the version in force (org, or key hex);
    /// any one of them makes the update invalid.
    pub not_voters: Vec<String>,
    /// Voters who have not signed (validly).
    pub missing: Vec<String>,
    /// Valid voter signatures.
    pub have: usize,
    /// Signatures needed.
    pub needed: usize,
    /// How many more are needed.
    pub more: usize,
}

/// Describes `draft`'s signatures and succession against `current` (whose
/// hash is `current_hash`). Whether it would apply is the protocol's check,
/// run by the node (`POST /v1/roster` with `dry_run`).
pub fn draft_status(
    current: &RosterDoc,
    current_hash: Hash32,
    draft: &SignedRoster,
    doc: &RosterDoc,
) -> DraftStatus {
    let not_following = if doc.network != current.network {
        Some(format!(
            "it is for network `{}`, the node's is `{}`",
            doc.network, current.network
        ))
    } else if doc.version != current.version + 1 {
        Some(format!(
            "it is version {}, and version {} is in force: it must be version {}",
            doc.version,
            current.version,
            current.version + 1
        ))
    } else if doc.prev != Some(current_hash) {
        Some(format!(
            "it does not name the hash of version {} in force ({current_hash}) as prev: it was drafted \
             from another roster",
            current.version
        ))
    } else {
        None
    };
    let voters: Vec<&Member> = current
        .members
        .iter()
        .filter(|m| m.role == Role::Member)
        .collect();
    let org_of = |key: &OrgKey| {
        current
            .members
            .iter()
            .chain(&doc.members)
            .find(|m| m.signing_key == *key)
            .map_or_else(|| key.to_hex(), |m| m.org.clone())
    };
    let mut signed = Vec::new();
    let mut bad_signatures = Vec::new();
    let mut missing = Vec::new();
    for m in &voters {
        match signature_state(draft, &m.signing_key) {
            super::SignatureState::Valid => signed.push(m.org.clone()),
            super::SignatureState::Invalid => {
                bad_signatures.push(m.org.clone());
                missing.push(m.org.clone());
            }
            _ => missing.push(m.org.clone()),
        }
    }
    let not_voters = draft
        .signatures
        .iter()
        .filter(|s| !voters.iter().any(|m| m.signing_key == s.signer))
        .map(|s| org_of(&s.signer))
        .collect();
    let needed = current.policy.needed(voters.len());
    DraftStatus {
        version: doc.version,
        hash: doc.hash().to_hex(),
        not_following,
        have: signed.len(),
        more: needed.saturating_sub(signed.len()),
        needed,
        signed,
        bad_signatures,
        not_voters,
        missing,
    }
}

/// Parses `--head ORG=SEQ:ID` (or `ORG=0`): the head of a leaving org's log
/// as the operator's node holds it.
pub fn parse_head(text: &str) -> Result<(String, LogHead), String> {
    let usage = || format!("--head `{text}` must look like ORG=SEQ:ID (ID: 64 hex digits) or ORG=0");
    let (org, head) = text.split_once('=').ok_or_else(usage)?;
    let org = org.trim().to_string();
    check_org_id(&org)?;
    if head.trim() == "0" {
        return Ok((org, None));
    }
    let (seq, id) = head.split_once(':').ok_or_else(usage)?;
    let seq: u64 = seq.trim().parse().map_err(|_| usage())?;
    let id = Hash32::from_hex(id.trim()).ok_or_else(usage)?;
    if seq == 0 {
        return Err(usage());
    }
    Ok((org, Some((seq, id))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use riskmesh_protocol::roster::Roster;
    use riskmesh_protocol::testkit;

    fn write_member(dir: &std::path::Path, member: &Member) -> PathBuf {
        let path = dir.join(format!(
            "{}-{}.json",
            member.org,
            &member.signing_key.to_hex()[..8]
        ));
        let text = serde_json::to_string(&crate::setup::MemberFile::from_member(member)).expect("json");
        std::fs::write(&path, text).expect("write");
        path
    }

    fn head_of(seq: u64) -> impl Fn(&Member) -> Result<LogHead, SetupError> {
        move |_| Ok(Some((seq, Hash32([seq as u8; 32]))))
    }

    fn apply(
        current: &Roster,
        proposal: &Proposal,
    ) -> Result<Roster, riskmesh_protocol::roster::RosterError> {
        let mut signed = SignedRoster::new(&proposal.doc);
        for m in current.doc().members.iter().filter(|m| m.role == Role::Member) {
            // The voter's key of this version: its first, or its rotated one.
            let secrets = (0..2)
                .map(|generation| testkit::rotated_secrets(&m.org, generation))
                .find(|s| s.signing.public() == m.signing_key)
                .expect("a testkit key");
            signed.sign(&secrets.signing);
        }
        current.apply_update(&signed)
    }

    /// Issue 10: a removed member's key is retired with its head as the
    /// drafter's node holds it, so its history stays valid; the draft says
    /// who must sign.
    #[test]
    fn a_removal_retires_the_key_with_the_nodes_head() {
        let genesis = testkit::signatories().roster;
        let change = RosterChange::read(&[], vec!["inflection".into()], None).expect("change");
        let proposal = change
            .draft(genesis.doc(), genesis.hash(), &head_of(4), &[], 7)
            .expect("draft");
        assert_eq!(proposal.removed, ["inflection"]);
        assert_eq!(proposal.retired.len(), 1);
        let retired = &proposal.retired[0];
        assert_eq!(
            (retired.org.as_str(), retired.reason.as_str(), retired.last_seq),
            ("inflection", "removed", 4)
        );
        assert_eq!(proposal.voters.len(), 7);
        assert_eq!(proposal.signatures_needed, 5);
        let v2 = apply(&genesis, &proposal).expect("valid successor");
        let key = testkit::org_secrets("inflection").signing.public();
        assert_eq!(v2.retired(&key).map(|r| r.last_seq), Some(4));
    }

    /// A member file with a new key re-keys the org (its old key retired
    /// `rotated`); a new role under the same key is refused with what to do;
    /// a retired key cannot come back.
    #[test]
    fn rotation_role_change_and_a_returning_key() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let genesis = testkit::signatories().roster;
        let rotated = testkit::member_of(&testkit::rotated_secrets("google", 1), Role::Member);
        let file = write_member(tmp.path(), &rotated);
        let change = RosterChange::read(std::slice::from_ref(&file), Vec::new(), None).expect("change");
        let proposal = change
            .draft(genesis.doc(), genesis.hash(), &head_of(2), &[], 7)
            .expect("draft");
        assert_eq!(proposal.rekeyed, ["google"]);
        assert_eq!(proposal.retired[0].reason, "rotated");
        let v2 = apply(&genesis, &proposal).expect("valid successor");

        let mut promoted = testkit::member_of(&testkit::org_secrets("academic-lab"), Role::Member);
        promoted.org = "academic-lab".into();
        let file = write_member(tmp.path(), &promoted);
        let change = RosterChange::read(&[file], Vec::new(), None).expect("change");
        let err = change
            .draft(genesis.doc(), genesis.hash(), &head_of(0), &[], 7)
            .expect_err("new role, same key");
        assert!(err.to_string().contains("a new role takes a new key"), "{err}");

        let back = testkit::member_of(&testkit::org_secrets("google"), Role::Member);
        let file = write_member(tmp.path(), &back);
        let change = RosterChange::read(&[file], Vec::new(), None).expect("change");
        let err = change
            .draft(v2.doc(), v2.hash(), &head_of(0), &[], 8)
            .expect_err("a retired key");
        assert!(err.to_string().contains("never returns"), "{err}");
    }

    /// `--compromised ORG:SEQ` names the org's current key when the same
    /// draft takes it off the roster, else its retired key; its prefix may
    /// shrink, never grow; a key that stays cannot be compromised.
    #[test]
    fn compromise_targets_and_prefixes() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let genesis = testkit::signatories().roster;
        let doc = genesis.doc();
        let none = RosterChange::read(&[], Vec::new(), None).expect("change");
        let err = none
            .compromise_target(doc, "meta", 1)
            .expect_err("meta's key stays");
        assert!(err.to_string().contains("must leave"), "{err}");
        assert!(none.compromise_target(doc, "nobody", 1).is_err());

        let rotated = testkit::member_of(&testkit::rotated_secrets("meta", 1), Role::Member);
        let file = write_member(tmp.path(), &rotated);
        let change = RosterChange::read(&[file], Vec::new(), None).expect("change");
        let old = testkit::org_secrets("meta").signing.public();
        let (key, org) = change.compromise_target(doc, "meta", 3).expect("current key");
        assert_eq!((key, org.as_str()), (old, "meta"));
        let c = Compromise {
            key,
            last_seq: 3,
            last_id: Some(Hash32([3; 32])),
        };
        let proposal = change
            .draft(doc, genesis.hash(), &head_of(9), &[c], 7)
            .expect("draft");
        assert_eq!(
            (proposal.retired[0].reason.as_str(), proposal.retired[0].last_seq),
            ("compromised", 3)
        );
        let too_far = Compromise { last_seq: 10, ..c };
        assert!(
            change
                .draft(doc, genesis.hash(), &head_of(9), &[too_far], 7)
                .is_err()
        );
        let v2 = apply(&genesis, &proposal).expect("v2");

        // In v2 the old key is retired: `meta` now means it, and its
        // prefix may shrink but not grow.
        let later = RosterChange::read(&[], Vec::new(), None).expect("change");
        let (key, _) = later.compromise_target(v2.doc(), "meta", 0).expect("retired key");
        assert_eq!(key, old);
        let err = later
            .compromise_target(v2.doc(), "meta", 4)
            .expect_err("past the prefix");
        assert!(err.to_string().contains("only shrink"), "{err}");
        let shrink = Compromise {
            key,
            last_seq: 0,
            last_id: None,
        };
        let v3 = later
            .draft(v2.doc(), v2.hash(), &head_of(0), &[shrink], 8)
            .expect("shrinks");
        assert_eq!(v3.retired[0].last_seq, 0);
        apply(&v2, &v3).expect("v3");
        let grow = Compromise {
            key,
            last_seq: 5,
            last_id: Some(Hash32([5; 32])),
        };
        let err = later
            .draft(v2.doc(), v2.hash(), &head_of(0), &[grow], 8)
            .expect_err("grows");
        assert!(err.to_string().contains("only shrink"), "{err}");
    }

    #[test]
    fn draft_status_counts_voters_and_names_the_missing() {
        let genesis = testkit::signatories().roster;
        let change = RosterChange::read(&[], vec!["inflection".into()], None).expect("change");
        let proposal = change
            .draft(genesis.doc(), genesis.hash(), &head_of(1), &[], 7)
            .expect("draft");
        let mut signed = SignedRoster::new(&proposal.doc);
        for org in ["amazon", "anthropic", "google"] {
            signed.sign(&testkit::org_secrets(org).signing);
        }
        signed.sign(&testkit::org_secrets("mallory").signing);
        let status = draft_status(genesis.doc(), genesis.hash(), &signed, &proposal.doc);
        assert_eq!(status.not_following, None);
        assert_eq!((status.have, status.needed, status.more), (3, 5, 2));
        assert_eq!(status.signed, ["amazon", "anthropic", "google"]);
        assert_eq!(status.missing, ["inflection", "meta", "microsoft", "openai"]);
        assert_eq!(status.not_voters.len(), 1);
        let stale = draft_status(genesis.doc(), Hash32([0; 32]), &signed, &proposal.doc);
        assert!(stale.not_following.is_some());
    }

    #[test]
    fn heads_parse_or_say_how() {
        let id = "ab".repeat(32);
        assert_eq!(
            parse_head(&format!("meta=3:{id}")),
            Ok(("meta".into(), Some((3, Hash32([0xab; 32])))))
        );
        assert_eq!(parse_head("meta=0"), Ok(("meta".into(), None)));
        for bad in ["meta", "meta=3", "meta=x:y", "Meta=0", &format!("meta=0:{id}")] {
            assert!(parse_head(bad).is_err(), "{bad}");
        }
    }
}
