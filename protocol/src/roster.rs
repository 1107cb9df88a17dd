//! The roster: who is in the consortium, with which keys, nodes and role,
//! and the quorum rule that lets it change.
//!
//! Version 1 (genesis) is signed by every founding member; a node pins its
//! hash. Version n+1 names the hash of version n and is valid only with
//! signatures from more than `quorum` of version n's members.

use crate::body::strictly_ascending;
use crate::cbor::{self, CborError};
use crate::ids::{Hash32, OrgKey};
use crate::keys::{EncryptionKey, OrgSigningKey, check_public_key, verify_strict};
use crate::limits::{
    MAX_ADDR_BYTES, MAX_ADDRS_PER_MEMBER, MAX_NETWORK_ID_BYTES, MAX_NODES_PER_MEMBER, MAX_ORG_ID_BYTES,
    MAX_PEER_ID_BYTES, MAX_QUORUM_DENOMINATOR, MAX_RETIRED_KEYS, MAX_ROSTER_BYTES, MAX_ROSTER_MEMBERS,
    MAX_SEQ, MAX_TEXT_BYTES,
};
use minicbor::{Decode, Encode};

/// Domain prefix of roster signatures; the roster document bytes follow.
pub const ROSTER_SIG_PREFIX: &[u8] = b"riskmesh-roster-v1\0";

/// A participant's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cbor(index_only)]
pub enum Role {
    /// A member organization: publishes at every tier, signs roster changes,
    /// approves releases.
    #[n(0)]
    Member,
    /// An observer (government institute, academic lab, civil society):
    /// reads what is open to it, publishes at the public and consortium tiers.
    #[n(1)]
    Observer,
}

/// One organization on the roster.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct Member {
    /// Short id: lowercase letters, digits and `-`.
    #[n(0)]
    pub org: String,
    /// Display name.
    #[n(1)]
    pub name: String,
    /// Role.
    #[n(2)]
    pub role: Role,
    /// Ed25519 signing key: the organization's identity.
    #[n(3)]
    pub signing_key: OrgKey,
    /// X25519 encryption key (age recipient).
    #[n(4)]
    #[cbor(with = "minicbor::bytes")]
    pub encryption_key: [u8; 32],
    /// libp2p peer ids (multihash bytes) of the organization's nodes.
    #[n(5)]
    pub nodes: Vec<PeerIdBytes>,
    /// Bootstrap multiaddrs.
    #[n(6)]
    pub addrs: Vec<String>,
}

impl Member {
    /// The encryption key as a typed value.
    pub fn encryption(&self) -> EncryptionKey {
        EncryptionKey(self.encryption_key)
    }
}

/// A libp2p peer id in its binary (multihash) form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
#[cbor(transparent)]
pub struct PeerIdBytes(#[n(0)] pub minicbor::bytes::ByteVec);

/// Quorum for roster changes: strictly more than `numerator / denominator`
/// of the previous version's members must sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct Policy {
    /// Numerator.
    #[n(0)]
    pub quorum_numerator: u64,
    /// Denominator.
    #[n(1)]
    pub quorum_denominator: u64,
}

impl Policy {
    /// The fewest signatures that are strictly more than
    /// `numerator / denominator` of `voters` (spec §9.5 step 8):
    /// `floor(numerator * voters / denominator) + 1`, at most `voters + 1`
    /// (then no set of voters suffices).
    pub fn needed(&self, voters: usize) -> usize {
        let voters = voters as u64;
        let needed = match self.quorum_numerator.checked_mul(voters) {
            Some(product) if self.quorum_denominator > 0 => product / self.quorum_denominator + 1,
            _ => voters + 1,
        };
        usize::try_from(needed.min(voters + 1)).unwrap_or(usize::MAX)
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            quorum_numerator: 2,
            quorum_denominator: 3,
        }
    }
}

/// The roster document (what is signed).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct RosterDoc {
    /// Network id.
    #[n(0)]
    pub network: String,
    /// Version, 1 for genesis.
    #[n(1)]
    pub version: u64,
    /// Hash of the previous version's document; absent exactly for genesis.
    #[n(2)]
    pub prev: Option<Hash32>,
    /// Participants, ascending by `org`.
    #[n(3)]
    pub members: Vec<Member>,
    /// Change policy.
    #[n(4)]
    pub policy: Policy,
    /// When the version was drafted, Unix ms.
    #[n(5)]
    pub created_ms: u64,
    /// Signing keys that are no longer current, ascending by key, each with
    /// the part of its log that stays valid (spec §9.6); absent when there
    /// are none (never an empty list), so a roster that retires nothing
    /// has the same bytes as before this field existed.
    #[n(6)]
    pub retired: Option<Vec<RetiredKey>>,
}

/// Why a signing key left the roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cbor(index_only)]
pub enum RetireReason {
    /// The organization left the consortium.
    #[n(0)]
    Removed,
    /// The organization replaced the key (or changed role, which takes a
    /// new key); nothing is known against the old one.
    #[n(1)]
    Rotated,
    /// The key leaked: entries after `last_seq` may be forgeries.
    #[n(2)]
    Compromised,
}

impl RetireReason {
    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            RetireReason::Removed => "removed",
            RetireReason::Rotated => "rotated",
            RetireReason::Compromised => "compromised",
        }
    }
}

/// A signing key that was on an earlier roster version, with the prefix of
/// its log that stays valid: entries up to `last_seq`, the one at
/// `last_seq` being `last_id` (spec §9.6).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct RetiredKey {
    /// The retired Ed25519 signing key.
    #[n(0)]
    pub key: OrgKey,
    /// The organization it belonged to.
    #[n(1)]
    pub org: String,
    /// The role it had (a key never changes role).
    #[n(2)]
    pub role: Role,
    /// Why it was retired.
    #[n(3)]
    pub reason: RetireReason,
    /// The last `seq` of its log that stays valid; 0 when none does.
    #[n(4)]
    pub last_seq: u64,
    /// The id of the entry at `last_seq`; absent exactly when `last_seq` is 0.
    #[n(5)]
    pub last_id: Option<Hash32>,
}

impl RetiredKey {
    /// Whether the entry `id` at `seq` of this key's log is within the valid
    /// prefix.
    pub fn covers(&self, seq: u64, id: &Hash32) -> bool {
        seq < self.last_seq || (seq == self.last_seq && self.last_id.as_ref() == Some(id))
    }
}

/// Where a signing key stands on a roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus<'a> {
    /// A current participant's key.
    Current(&'a Member),
    /// A retired key; only the prefix of its log it names is valid.
    Retired(&'a RetiredKey),
}

impl<'a> KeyStatus<'a> {
    /// The organization the key belongs (or belonged) to.
    pub fn org(self) -> &'a str {
        match self {
            KeyStatus::Current(m) => &m.org,
            KeyStatus::Retired(r) => &r.org,
        }
    }

    /// The role the key has (or had).
    pub fn role(self) -> Role {
        match self {
            KeyStatus::Current(m) => m.role,
            KeyStatus::Retired(r) => r.role,
        }
    }
}

/// One signature on a roster document.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct RosterSignature {
    /// The signing organization's key.
    #[n(0)]
    pub signer: OrgKey,
    /// Ed25519 signature over [`ROSTER_SIG_PREFIX`] followed by the document bytes.
    #[n(1)]
    #[cbor(with = "minicbor::bytes")]
    pub signature: [u8; 64],
}

/// A roster document with its signatures, as stored and transmitted.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct SignedRoster {
    /// The exact document bytes.
    #[n(0)]
    #[cbor(with = "minicbor::bytes")]
    pub doc: Vec<u8>,
    /// Signatures, ascending by signer.
    #[n(1)]
    pub signatures: Vec<RosterSignature>,
}

/// Why a roster is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RosterError {
    /// Not canonical CBOR of the roster structure.
    #[error("roster encoding: {0}")]
    Cbor(#[from] CborError),
    /// The document breaks a structural rule; the message names it.
    #[error("roster document: {0}")]
    Invalid(String),
    /// A signature does not verify.
    #[error("signature by {0} does not verify")]
    BadSignature(OrgKey),
    /// A signer is not a member (role member) of the version whose quorum counts.
    #[error("signer {0} is not a member of the roster version that must approve")]
    UnknownSigner(OrgKey),
    /// Genesis lacks the signature of a founding member.
    #[error("genesis is missing the signature of founding member `{0}`")]
    MissingFounder(String),
    /// An update lacks a quorum of the previous version's members.
    #[error(
        "update has {have} of {members} member signatures; more than {numerator}/{denominator} are required"
    )]
    NoQuorum {
        /// Valid member signatures present.
        have: usize,
        /// Members of the previous version.
        members: usize,
        /// Quorum numerator.
        numerator: u64,
        /// Quorum denominator.
        denominator: u64,
    },
    /// An update does not follow the version it claims to follow.
    #[error("update does not follow the current roster: {0}")]
    NotSuccessor(String),
    /// The genesis hash is not the one this node pins.
    #[error("genesis hash {found} differs from the pinned {pinned}")]
    WrongGenesis {
        /// Hash of the presented genesis.
        found: Hash32,
        /// Hash in the node's config.
        pinned: Hash32,
    },
}

impl RosterError {
    /// Stable name for metrics, logs and test vectors.
    pub fn name(&self) -> &'static str {
        match self {
            RosterError::Cbor(_) => "encoding",
            RosterError::Invalid(_) => "invalid",
            RosterError::BadSignature(_) => "bad_signature",
            RosterError::UnknownSigner(_) => "unknown_signer",
            RosterError::MissingFounder(_) => "missing_founder",
            RosterError::NoQuorum { .. } => "no_quorum",
            RosterError::NotSuccessor(_) => "not_successor",
            RosterError::WrongGenesis { .. } => "wrong_genesis",
        }
    }
}

/// A roster whose signatures and rules have been checked. Only
/// [`Roster::genesis`] and [`Roster::apply_update`] build one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    doc: RosterDoc,
    hash: Hash32,
    signed: SignedRoster,
    /// Each participant's and each retired key, decompressed once (a point
    /// decompression costs about a tenth of a signature check), with where
    /// it is in `doc`.
    keys: std::collections::BTreeMap<OrgKey, (KeyIndex, ParsedKey)>,
}

/// Where a key is in a roster document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyIndex {
    Member(usize),
    Retired(usize),
}

/// A participant's Ed25519 key, parsed once when the roster is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKey(pub(crate) ed25519_dalek::VerifyingKey);

fn parse_keys(doc: &RosterDoc) -> std::collections::BTreeMap<OrgKey, (KeyIndex, ParsedKey)> {
    let members = doc
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| (m.signing_key, KeyIndex::Member(i)));
    let retired = doc
        .retired_keys()
        .iter()
        .enumerate()
        .map(|(i, r)| (r.key, KeyIndex::Retired(i)));
    members
        .chain(retired)
        .filter_map(|(key, index)| {
            ed25519_dalek::VerifyingKey::from_bytes(&key.0)
                .ok()
                .map(|k| (key, (index, ParsedKey(k))))
        })
        .collect()
}

impl RosterDoc {
    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        cbor::encode(self)
    }

    /// SHA-256 of the canonical bytes.
    pub fn hash(&self) -> Hash32 {
        Hash32::of(&self.to_bytes())
    }

    /// Checks the structural rules (spec §Roster).
    pub fn check(&self) -> Result<(), RosterError> {
        let bad = |m: String| Err(RosterError::Invalid(m));
        check_network_id(&self.network).map_err(RosterError::Invalid)?;
        if self.version == 0 || (self.version == 1) != self.prev.is_none() {
            return bad("version starts at 1 and prev is absent exactly for version 1".into());
        }
        if self.members.is_empty() || self.members.len() > MAX_ROSTER_MEMBERS {
            return bad(format!(
                "between 1 and {MAX_ROSTER_MEMBERS} participants are required"
            ));
        }
        if !self.members.iter().any(|m| m.role == Role::Member) {
            return bad("at least one participant must have role member".into());
        }
        let orgs: Vec<&str> = self.members.iter().map(|m| m.org.as_str()).collect();
        if !strictly_ascending(&orgs) {
            return bad("participants must be ascending by org id, without repeats".into());
        }
        let mut keys: Vec<OrgKey> = self.members.iter().map(|m| m.signing_key).collect();
        keys.sort();
        keys.dedup();
        if keys.len() != self.members.len() {
            return bad("two participants share a signing key".into());
        }
        let mut peers: Vec<&PeerIdBytes> = self.members.iter().flat_map(|m| &m.nodes).collect();
        let peer_count = peers.len();
        peers.sort();
        peers.dedup();
        if peers.len() != peer_count {
            return bad("a node peer id appears twice".into());
        }
        for m in &self.members {
            check_org_id(&m.org).map_err(RosterError::Invalid)?;
            if m.name.len() > MAX_TEXT_BYTES {
                return bad(format!("{}: name too long", m.org));
            }
            check_public_key(&m.signing_key).map_err(|_| {
                RosterError::Invalid(format!("{}: signing key is not a valid Ed25519 key", m.org))
            })?;
            if m.nodes.len() > MAX_NODES_PER_MEMBER
                || m.nodes
                    .iter()
                    .any(|p| p.0.is_empty() || p.0.len() > MAX_PEER_ID_BYTES)
            {
                return bad(format!(
                    "{}: at most {MAX_NODES_PER_MEMBER} node peer ids of 1..={MAX_PEER_ID_BYTES} bytes",
                    m.org
                ));
            }
            if m.addrs.len() > MAX_ADDRS_PER_MEMBER
                || m.addrs.iter().any(|a| a.is_empty() || a.len() > MAX_ADDR_BYTES)
            {
                return bad(format!(
                    "{}: at most {MAX_ADDRS_PER_MEMBER} addresses of 1..={MAX_ADDR_BYTES} bytes",
                    m.org
                ));
            }
        }
        let Policy {
            quorum_numerator: n,
            quorum_denominator: d,
        } = self.policy;
        // A quorum of at least one half keeps two disjoint quorums from
        // existing, so the roster cannot fork into two valid successors.
        if d == 0 || d > MAX_QUORUM_DENOMINATOR || n >= d || n.saturating_mul(2) < d {
            return bad(format!(
                "quorum must satisfy 1/2 <= numerator/denominator < 1, denominator <= {MAX_QUORUM_DENOMINATOR}"
            ));
        }
        self.check_retired()
    }

    /// The retired keys, or none.
    pub fn retired_keys(&self) -> &[RetiredKey] {
        self.retired.as_deref().unwrap_or_default()
    }

    /// A draft of the version after this one (whose hash is `hash`): the
    /// same participants, policy and retired keys, to be edited.
    pub fn next_draft(&self, hash: Hash32, created_ms: u64) -> RosterDoc {
        RosterDoc {
            version: self.version + 1,
            prev: Some(hash),
            created_ms,
            ..self.clone()
        }
    }

    /// Adds or replaces a retired-key record, keeping the list ascending.
    pub fn retire(&mut self, record: RetiredKey) {
        let mut retired = self.retired.take().unwrap_or_default();
        retired.retain(|r| r.key != record.key);
        retired.push(record);
        retired.sort_by_key(|r| r.key);
        self.retired = Some(retired);
    }

    /// Retires every signing key of `previous`'s participants that this
    /// draft no longer lists: `removed` when the organization is gone,
    /// `rotated` when it stays under a new key. `last` gives the valid
    /// prefix of a key's log (its head as the drafter's node holds it:
    /// `(seq, id)`), `None` when it published nothing.
    pub fn retire_dropped(&mut self, previous: &RosterDoc, last: &dyn Fn(&OrgKey) -> Option<(u64, Hash32)>) {
        let dropped: Vec<&Member> = previous
            .members
            .iter()
            .filter(|m| !self.members.iter().any(|n| n.signing_key == m.signing_key))
            .collect();
        for m in dropped {
            let reason = if self.members.iter().any(|n| n.org == m.org) {
                RetireReason::Rotated
            } else {
                RetireReason::Removed
            };
            let head = last(&m.signing_key);
            self.retire(RetiredKey {
                key: m.signing_key,
                org: m.org.clone(),
                role: m.role,
                reason,
                last_seq: head.map_or(0, |(seq, _)| seq),
                last_id: head.map(|(_, id)| id),
            });
        }
    }

    /// Spec §9.3 rule 10: the retired keys.
    fn check_retired(&self) -> Result<(), RosterError> {
        let bad = |m: String| Err(RosterError::Invalid(m));
        let Some(retired) = &self.retired else {
            return Ok(());
        };
        if retired.is_empty() || retired.len() > MAX_RETIRED_KEYS {
            return bad(format!(
                "retired keys, when present, are 1..={MAX_RETIRED_KEYS} (absent when none)"
            ));
        }
        let keys: Vec<OrgKey> = retired.iter().map(|r| r.key).collect();
        if !strictly_ascending(&keys) {
            return bad("retired keys must be ascending by key, without repeats".into());
        }
        for r in retired {
            check_org_id(&r.org).map_err(RosterError::Invalid)?;
            check_public_key(&r.key).map_err(|_| {
                RosterError::Invalid(format!("{}: retired key is not a valid Ed25519 key", r.org))
            })?;
            if self.members.iter().any(|m| m.signing_key == r.key) {
                return bad(format!("{}: a retired key cannot be a participant's key", r.org));
            }
            if r.last_seq > MAX_SEQ || (r.last_seq == 0) != r.last_id.is_none() {
                return bad(format!(
                    "{}: a retired key's last_seq is at most MAX_SEQ, and last_id is absent exactly when it is 0",
                    r.org
                ));
            }
        }
        Ok(())
    }

    /// Spec §9.5 step 5 (continuity): what `next` must keep of this version.
    /// Every key retired here stays retired with the same organization and
    /// role and a valid prefix that does not grow; every participant's key
    /// that `next` drops is retired there with its organization and role;
    /// `next` retires no key that this version did not hold; and a key that
    /// stays keeps its organization and role.
    pub fn check_successor(&self, next: &RosterDoc) -> Result<(), RosterError> {
        let bad = |m: String| Err(RosterError::NotSuccessor(m));
        let retired_next = |key: &OrgKey| next.retired_keys().iter().find(|r| r.key == *key);
        for old in self.retired_keys() {
            let Some(new) = retired_next(&old.key) else {
                return bad(format!(
                    "retired key of `{}` is no longer listed as retired",
                    old.org
                ));
            };
            if new.org != old.org || new.role != old.role {
                return bad(format!(
                    "retired key of `{}` changed organization or role",
                    old.org
                ));
            }
            let grows =
                new.last_seq > old.last_seq || (new.last_seq == old.last_seq && new.last_id != old.last_id);
            if grows {
                return bad(format!(
                    "retired key of `{}`: its valid prefix may shrink, never grow or change",
                    old.org
                ));
            }
        }
        for m in &self.members {
            match next.members.iter().find(|n| n.signing_key == m.signing_key) {
                Some(n) if n.org != m.org || n.role != m.role => {
                    return bad(format!(
                        "`{}` keeps its signing key but changes organization or role; a new role takes a new key",
                        m.org
                    ));
                }
                Some(_) => {}
                None => match retired_next(&m.signing_key) {
                    Some(r) if r.org == m.org && r.role == m.role => {}
                    Some(_) => {
                        return bad(format!(
                            "retired key of `{}` names another organization or role",
                            m.org
                        ));
                    }
                    None => {
                        return bad(format!(
                            "the signing key of `{}` leaves the roster without a retired-key record",
                            m.org
                        ));
                    }
                },
            }
        }
        for r in next.retired_keys() {
            let held = self.members.iter().any(|m| m.signing_key == r.key)
                || self.retired_keys().iter().any(|o| o.key == r.key);
            if !held {
                return bad(format!(
                    "retires a key of `{}` that the previous version did not hold",
                    r.org
                ));
            }
        }
        Ok(())
    }
}

/// Checks a network id: 1..=64 bytes of `a-z`, `0-9`, `-`, `.`.
pub fn check_network_id(network: &str) -> Result<(), String> {
    if network.is_empty()
        || network.len() > MAX_NETWORK_ID_BYTES
        || !network
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return Err(format!(
            "network id must be 1..={MAX_NETWORK_ID_BYTES} characters of a-z, 0-9, '-' and '.'"
        ));
    }
    Ok(())
}

/// Checks an org id: 1..=32 bytes of `a-z`, `0-9`, `-`.
pub fn check_org_id(org: &str) -> Result<(), String> {
    if org.is_empty()
        || org.len() > MAX_ORG_ID_BYTES
        || !org
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!(
            "org id `{org}` must be 1..={MAX_ORG_ID_BYTES} characters of a-z, 0-9 and '-'"
        ));
    }
    Ok(())
}

/// The bytes a roster signature covers.
pub fn roster_signing_input(doc_bytes: &[u8]) -> Vec<u8> {
    [ROSTER_SIG_PREFIX, doc_bytes].concat()
}

impl SignedRoster {
    /// Starts an unsigned roster from a document.
    pub fn new(doc: &RosterDoc) -> Self {
        SignedRoster {
            doc: doc.to_bytes(),
            signatures: Vec::new(),
        }
    }

    /// Adds (or replaces) `key`'s signature, keeping signatures ascending.
    pub fn sign(&mut self, key: &OrgSigningKey) {
        let signer = key.public();
        let signature = key.sign(&roster_signing_input(&self.doc));
        self.signatures.retain(|s| s.signer != signer);
        self.signatures.push(RosterSignature { signer, signature });
        self.signatures.sort_by_key(|s| s.signer);
    }

    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        cbor::encode(self)
    }

    /// Decodes, checking canonical form and size only.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RosterError> {
        Ok(cbor::decode_canonical(bytes, MAX_ROSTER_BYTES)?)
    }

    /// Decodes the document and checks its structure.
    pub fn document(&self) -> Result<RosterDoc, RosterError> {
        let doc: RosterDoc = cbor::decode_canonical(&self.doc, MAX_ROSTER_BYTES)?;
        doc.check()?;
        Ok(doc)
    }

    /// The signers, checked to be strictly ascending; nothing verified yet.
    fn signers(&self) -> Result<Vec<OrgKey>, RosterError> {
        let signers: Vec<OrgKey> = self.signatures.iter().map(|s| s.signer).collect();
        if !strictly_ascending(&signers) {
            return Err(RosterError::Invalid(
                "signatures must be ascending by signer, without repeats".into(),
            ));
        }
        Ok(signers)
    }

    /// Verifies every signature. Called last, once the signers and their
    /// number are known to be acceptable (spec §9.4, §9.5).
    fn verify_signatures(&self) -> Result<(), RosterError> {
        let input = roster_signing_input(&self.doc);
        for s in &self.signatures {
            if !verify_strict(&s.signer, &input, &s.signature) {
                return Err(RosterError::BadSignature(s.signer));
            }
        }
        Ok(())
    }
}

impl Roster {
    /// Verifies a genesis roster: version 1, every participant with role
    /// member has signed, and nobody outside the roster has.
    pub fn genesis(signed: &SignedRoster) -> Result<Self, RosterError> {
        let doc = signed.document()?;
        if doc.version != 1 {
            return Err(RosterError::Invalid("genesis must be version 1".into()));
        }
        if doc.retired.is_some() {
            return Err(RosterError::Invalid("genesis retires no keys".into()));
        }
        let signers = signed.signers()?;
        for signer in &signers {
            if !doc
                .members
                .iter()
                .any(|m| m.signing_key == *signer && m.role == Role::Member)
            {
                return Err(RosterError::UnknownSigner(*signer));
            }
        }
        for m in doc.members.iter().filter(|m| m.role == Role::Member) {
            if !signers.contains(&m.signing_key) {
                return Err(RosterError::MissingFounder(m.org.clone()));
            }
        }
        signed.verify_signatures()?;
        Ok(Roster {
            hash: Hash32::of(&signed.doc),
            keys: parse_keys(&doc),
            doc,
            signed: signed.clone(),
        })
    }

    /// Verifies a genesis roster and checks it against the hash a node pins.
    pub fn genesis_pinned(signed: &SignedRoster, pinned: &Hash32) -> Result<Self, RosterError> {
        let found = Hash32::of(&signed.doc);
        if found != *pinned {
            return Err(RosterError::WrongGenesis {
                found,
                pinned: *pinned,
            });
        }
        Roster::genesis(signed)
    }

    /// Verifies version n+1 against this version n and returns it.
    pub fn apply_update(&self, signed: &SignedRoster) -> Result<Roster, RosterError> {
        let doc = signed.document()?;
        if doc.network != self.doc.network {
            return Err(RosterError::NotSuccessor("network id differs".into()));
        }
        if doc.version != self.doc.version + 1 {
            return Err(RosterError::NotSuccessor(format!(
                "version {} does not follow {}",
                doc.version, self.doc.version
            )));
        }
        if doc.prev != Some(self.hash) {
            return Err(RosterError::NotSuccessor(
                "prev is not the hash of the current version".into(),
            ));
        }
        self.doc.check_successor(&doc)?;
        let signers = signed.signers()?;
        let voters: Vec<&Member> = self
            .doc
            .members
            .iter()
            .filter(|m| m.role == Role::Member)
            .collect();
        for signer in &signers {
            if !voters.iter().any(|m| m.signing_key == *signer) {
                return Err(RosterError::UnknownSigner(*signer));
            }
        }
        if signers.len() < self.doc.policy.needed(voters.len()) {
            return Err(RosterError::NoQuorum {
                have: signers.len(),
                members: voters.len(),
                numerator: self.doc.policy.quorum_numerator,
                denominator: self.doc.policy.quorum_denominator,
            });
        }
        signed.verify_signatures()?;
        Ok(Roster {
            hash: Hash32::of(&signed.doc),
            keys: parse_keys(&doc),
            doc,
            signed: signed.clone(),
        })
    }

    /// The roster in force after `updates`, applied in order over this one
    /// (normally the verified genesis): each update must be the verified
    /// successor of the roster before it ([`Roster::apply_update`]), except
    /// that an update whose version this roster already has reached is
    /// skipped, so replaying a store that also holds the versions already
    /// applied is harmless. The first update that neither is skipped nor
    /// verifies stops the replay with its error.
    pub fn replay<'a>(
        self,
        updates: impl IntoIterator<Item = &'a SignedRoster>,
    ) -> Result<Roster, RosterError> {
        let mut roster = self;
        for signed in updates {
            if signed.document()?.version <= roster.version() {
                continue;
            }
            roster = roster.apply_update(signed)?;
        }
        Ok(roster)
    }

    /// The verified document.
    pub fn doc(&self) -> &RosterDoc {
        &self.doc
    }

    /// SHA-256 of the document bytes.
    pub fn hash(&self) -> Hash32 {
        self.hash
    }

    /// The signed form, for storage and transmission.
    pub fn signed(&self) -> &SignedRoster {
        &self.signed
    }

    /// Network id.
    pub fn network(&self) -> &str {
        &self.doc.network
    }

    /// Version.
    pub fn version(&self) -> u64 {
        self.doc.version
    }

    /// The current participant with this signing key.
    pub fn member(&self, key: &OrgKey) -> Option<&Member> {
        match self.keys.get(key)? {
            (KeyIndex::Member(i), _) => self.doc.members.get(*i),
            (KeyIndex::Retired(_), _) => None,
        }
    }

    /// The current participant with this signing key and its parsed key.
    pub fn member_key(&self, key: &OrgKey) -> Option<(&Member, &ParsedKey)> {
        match self.key_status(key)? {
            (KeyStatus::Current(m), parsed) => Some((m, parsed)),
            (KeyStatus::Retired(_), _) => None,
        }
    }

    /// Where this signing key stands (current or retired) and its parsed
    /// key; `None` if no version of the roster up to this one held it.
    pub fn key_status(&self, key: &OrgKey) -> Option<(KeyStatus<'_>, &ParsedKey)> {
        let (index, parsed) = self.keys.get(key)?;
        let status = match *index {
            KeyIndex::Member(i) => KeyStatus::Current(self.doc.members.get(i)?),
            KeyIndex::Retired(i) => KeyStatus::Retired(self.doc.retired_keys().get(i)?),
        };
        Some((status, parsed))
    }

    /// The retired-key record of `key`, if it is retired.
    pub fn retired(&self, key: &OrgKey) -> Option<&RetiredKey> {
        match self.key_status(key)? {
            (KeyStatus::Retired(r), _) => Some(r),
            (KeyStatus::Current(_), _) => None,
        }
    }

    /// The organization `key` belongs or belonged to (current or retired).
    pub fn org_of(&self, key: &OrgKey) -> Option<&str> {
        self.key_status(key).map(|(status, _)| status.org())
    }

    /// The role `key` has or had (current or retired).
    pub fn role_of(&self, key: &OrgKey) -> Option<Role> {
        self.key_status(key).map(|(status, _)| status.role())
    }

    /// Whether `key` is or was a participant's signing key.
    pub fn knows(&self, key: &OrgKey) -> bool {
        self.keys.contains_key(key)
    }

    /// The participant with this org id.
    pub fn member_by_org(&self, org: &str) -> Option<&Member> {
        self.doc.members.iter().find(|m| m.org == org)
    }

    /// The participant running the node with this peer id.
    pub fn member_by_peer(&self, peer: &[u8]) -> Option<&Member> {
        self.doc
            .members
            .iter()
            .find(|m| m.nodes.iter().any(|p| p.0.as_slice() == peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit;

    /// Version `from.version() + 1` of `from` without `drop` (its key
    /// retired, nothing published), signed by every voter of `from`.
    fn without(from: &Roster, drop: &str) -> SignedRoster {
        testkit::next_roster(from, |doc| doc.members.retain(|m| m.org != drop), &|_| None, &[])
    }

    fn sign_by_voters(from: &Roster, doc: &RosterDoc) -> SignedRoster {
        let mut signed = SignedRoster::new(doc);
        for m in from.doc().members.iter().filter(|m| m.role == Role::Member) {
            signed.sign(&testkit::org_secrets(&m.org).signing);
        }
        signed
    }

    /// Issue 10, spec §9.6: a key that leaves the roster (removal or
    /// rotation) is retired with the prefix of its log that stays valid. An
    /// update that drops a key without saying so would turn its whole
    /// history invalid (spec §18 Q6 before), so it is not a successor.
    #[test]
    fn a_key_leaves_the_roster_only_as_a_retired_key() {
        let genesis = testkit::signatories().roster;
        let mut doc = genesis.doc().next_draft(genesis.hash(), 1);
        doc.members.retain(|m| m.org != "inflection");
        let silent = sign_by_voters(&genesis, &doc);
        assert!(matches!(
            genesis.apply_update(&silent),
            Err(RosterError::NotSuccessor(_))
        ));

        let v2 = genesis
            .apply_update(&without(&genesis, "inflection"))
            .expect("retired");
        let key = testkit::org_secrets("inflection").signing.public();
        let retired = v2.retired(&key).expect("retired record");
        assert_eq!(
            (retired.org.as_str(), retired.role, retired.reason),
            ("inflection", Role::Member, RetireReason::Removed)
        );
        assert!(v2.member(&key).is_none() && v2.knows(&key));
        // A genesis never carries retired keys.
        let mut genesis_doc = genesis.doc().clone();
        genesis_doc.retired = v2.doc().retired.clone();
        let mut signed = SignedRoster::new(&genesis_doc);
        for m in genesis_doc.members.iter().filter(|m| m.role == Role::Member) {
            signed.sign(&testkit::org_secrets(&m.org).signing);
        }
        assert!(matches!(Roster::genesis(&signed), Err(RosterError::Invalid(_))));
    }

    /// A retired key stays retired for good: its record cannot be dropped,
    /// moved to another organization or role, or have its valid prefix
    /// grown (which would validate entries the consortium rejected); the
    /// prefix may shrink (a compromise found after a rotation). A retired
    /// key cannot come back as a participant's key.
    #[test]
    fn a_retired_keys_valid_prefix_may_shrink_but_never_grow_or_vanish() {
        let genesis = testkit::signatories().roster;
        let id = |n: u8| Hash32([n; 32]);
        let v2 = genesis
            .apply_update(&testkit::next_roster(
                &genesis,
                |doc| doc.members.retain(|m| m.org != "inflection"),
                &|_| Some((10, id(10))),
                &[],
            ))
            .expect("v2");
        let key = testkit::org_secrets("inflection").signing.public();
        let edit = |f: &dyn Fn(&mut RosterDoc)| {
            let mut doc = v2.doc().next_draft(v2.hash(), 2);
            f(&mut doc);
            v2.apply_update(&sign_by_voters(&v2, &doc))
        };
        let set = |doc: &mut RosterDoc, f: &dyn Fn(&mut RetiredKey)| {
            doc.retired
                .iter_mut()
                .flatten()
                .filter(|r| r.key == key)
                .for_each(f)
        };
        let grown = edit(&|d| set(d, &|r| (r.last_seq, r.last_id) = (11, Some(id(11)))));
        assert!(matches!(grown, Err(RosterError::NotSuccessor(_))), "{grown:?}");
        let moved = edit(&|d| set(d, &|r| r.last_id = Some(id(99))));
        assert!(matches!(moved, Err(RosterError::NotSuccessor(_))), "{moved:?}");
        let other_org = edit(&|d| set(d, &|r| r.org = "meta".into()));
        assert!(
            matches!(other_org, Err(RosterError::NotSuccessor(_))),
            "{other_org:?}"
        );
        let dropped = edit(&|d| d.retired = None);
        assert!(
            matches!(dropped, Err(RosterError::NotSuccessor(_))),
            "{dropped:?}"
        );
        let back = edit(&|d| {
            d.members.push(testkit::member_of(
                &testkit::org_secrets("inflection"),
                Role::Member,
            ))
        });
        assert!(back.is_err(), "a retired key came back: {back:?}");
        let shrunk = edit(&|d| {
            set(d, &|r| {
                (r.last_seq, r.last_id, r.reason) = (4, Some(id(4)), RetireReason::Compromised)
            })
        })
        .expect("a prefix may shrink");
        assert_eq!(shrunk.retired(&key).map(|r| r.last_seq), Some(4));
    }

    /// A key keeps its organization and role for good; a new role takes a
    /// new key (so every entry is judged with the role its key had), and a
    /// stranger's key cannot be retired.
    #[test]
    fn a_key_keeps_its_role_and_only_held_keys_are_retired() {
        let genesis = testkit::signatories().roster;
        let mut doc = genesis.doc().next_draft(genesis.hash(), 1);
        for m in doc.members.iter_mut().filter(|m| m.org == "academic-lab") {
            m.role = Role::Member;
        }
        assert!(matches!(
            genesis.apply_update(&sign_by_voters(&genesis, &doc)),
            Err(RosterError::NotSuccessor(_))
        ));
        let promoted = testkit::rotated_secrets("academic-lab", 1);
        let v2 = genesis
            .apply_update(&testkit::next_roster(
                &genesis,
                |doc| {
                    doc.members.retain(|m| m.org != "academic-lab");
                    doc.members.push(testkit::member_of(&promoted, Role::Member));
                },
                &|_| None,
                &[],
            ))
            .expect("a new role under a new key");
        let old = testkit::org_secrets("academic-lab").signing.public();
        assert_eq!(
            v2.retired(&old).map(|r| (r.role, r.reason)),
            Some((Role::Observer, RetireReason::Rotated))
        );
        assert_eq!(
            v2.member(&promoted.signing.public()).map(|m| m.role),
            Some(Role::Member)
        );

        let mut doc = genesis.doc().next_draft(genesis.hash(), 1);
        doc.retire(RetiredKey {
            key: testkit::org_secrets("mallory").signing.public(),
            org: "mallory".into(),
            role: Role::Member,
            reason: RetireReason::Compromised,
            last_seq: 0,
            last_id: None,
        });
        assert!(matches!(
            genesis.apply_update(&sign_by_voters(&genesis, &doc)),
            Err(RosterError::NotSuccessor(_))
        ));
    }

    /// `needed` is the quorum rule of spec §9.5 step 8 (`have * den >
    /// num * voters`) solved for the fewest signatures.
    #[test]
    fn needed_is_the_fewest_signatures_strictly_above_the_quorum() {
        let two_thirds = Policy::default();
        let cases = [(1, 1), (2, 2), (3, 3), (4, 3), (6, 5), (7, 5), (9, 7)];
        for (voters, needed) in cases {
            assert_eq!(two_thirds.needed(voters), needed, "{voters} voters");
        }
        for voters in 0..50usize {
            for (n, d) in [(1u64, 2u64), (2, 3), (3, 4), (999, 1000)] {
                let policy = Policy {
                    quorum_numerator: n,
                    quorum_denominator: d,
                };
                let needed = policy.needed(voters);
                let passes = |have: usize| have as u64 * d > n * voters as u64;
                assert!(passes(needed), "{n}/{d} of {voters}: {needed} passes");
                assert!(needed == 0 || !passes(needed - 1), "{n}/{d} of {voters}: fewest");
            }
        }
    }

    #[test]
    fn replay_applies_updates_in_order_and_skips_versions_already_applied() {
        let genesis = testkit::signatories().roster;
        let v2 = without(&genesis, "inflection");
        let v2_roster = genesis.apply_update(&v2).expect("v2");
        let v3 = without(&v2_roster, "academic-lab");

        let replayed = genesis.clone().replay([&v2, &v3]).expect("replays");
        assert_eq!(replayed.version(), 3);
        assert!(replayed.member_by_org("inflection").is_none());
        assert!(replayed.member_by_org("academic-lab").is_none());
        // Versions already in force are skipped, wherever they appear.
        let again = v2_roster.clone().replay([&v2, &v3, &v2]).expect("replays");
        assert_eq!(again.hash(), replayed.hash());
        assert_eq!(genesis.clone().replay([]).map(|r| r.version()), Ok(1));
        // A gap is not skipped: v3 does not follow v1.
        assert!(matches!(genesis.replay([&v3]), Err(RosterError::NotSuccessor(_))));
    }

    /// Issue 9 (medium), regression: junk roster updates stalled the event
    /// loop because every signature was verified before checking that the
    /// signers are voters (~2,500 verifications for one junk message).
    /// Signers and the quorum are now checked first: an update whose signers
    /// are strangers, or too few, is refused before any signature is
    /// verified (the broken signatures here would otherwise be reported).
    #[test]
    fn signers_and_quorum_are_checked_before_any_signature_is_verified() {
        let genesis = testkit::signatories().roster;
        let mut signed = without(&genesis, "inflection");
        // 300 strangers with garbage signatures, ascending by signer.
        let mut strangers: Vec<RosterSignature> = (0..300u32)
            .map(|i| RosterSignature {
                signer: testkit::org_secrets(&format!("stranger-{i}")).signing.public(),
                signature: [0x5a; 64],
            })
            .collect();
        strangers.sort_by_key(|s| s.signer);
        signed.signatures = strangers;
        assert!(matches!(
            genesis.apply_update(&signed),
            Err(RosterError::UnknownSigner(_))
        ));
        // One voter with a broken signature: too few, whatever the signature.
        let voter = testkit::org_secrets("amazon").signing.public();
        signed.signatures = vec![RosterSignature {
            signer: voter,
            signature: [0; 64],
        }];
        assert!(matches!(
            genesis.apply_update(&signed),
            Err(RosterError::NoQuorum { .. })
        ));
    }
}
