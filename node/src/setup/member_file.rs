//! `member.json`: one organization's public roster entry, written by
//! `riskmesh init` and sent to the other founders, who build the roster from
//! these files.

use super::SetupError;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use riskmesh_protocol::OrgKey;
use riskmesh_protocol::keys::{EncryptionKey, check_public_key};
use riskmesh_protocol::roster::{Member, PeerIdBytes, Role, check_org_id};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The `format` value of a member file.
pub const MEMBER_FILE_FORMAT: &str = "riskmesh-member-v1";

/// A participant's role, as written in files and on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    /// Publishes at every tier, signs roster changes, approves releases.
    Member,
    /// Reads what is open to it; publishes at the public and consortium tiers.
    Observer,
}

impl From<MemberRole> for Role {
    fn from(role: MemberRole) -> Role {
        match role {
            MemberRole::Member => Role::Member,
            MemberRole::Observer => Role::Observer,
        }
    }
}

impl From<Role> for MemberRole {
    fn from(role: Role) -> MemberRole {
        match role {
            Role::Member => MemberRole::Member,
            Role::Observer => MemberRole::Observer,
        }
    }
}

impl MemberRole {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Member => "member",
            MemberRole::Observer => "observer",
        }
    }
}

/// The JSON content of a member file. Text forms throughout, so a founder
/// can read what they are about to put on the roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberFile {
    /// Always [`MEMBER_FILE_FORMAT`].
    pub format: String,
    /// Short org id (`a-z`, `0-9`, `-`).
    pub org: String,
    /// Display name.
    pub name: String,
    /// Role on the roster.
    pub role: MemberRole,
    /// Ed25519 signing key, 64 hex digits.
    pub signing_key: String,
    /// X25519 encryption key as an age recipient (`age1…`).
    pub encryption_key: String,
    /// libp2p peer ids of the organization's nodes (base58, `12D3Koo…`).
    pub nodes: Vec<String>,
    /// Bootstrap multiaddrs, each ending in `/p2p/<peer id>`.
    pub addrs: Vec<String>,
}

impl MemberFile {
    /// The member file describing a roster participant.
    pub fn from_member(member: &Member) -> MemberFile {
        MemberFile {
            format: MEMBER_FILE_FORMAT.into(),
            org: member.org.clone(),
            name: member.name.clone(),
            role: member.role.into(),
            signing_key: member.signing_key.to_hex(),
            encryption_key: member.encryption().to_age_recipient(),
            nodes: member.nodes.iter().map(peer_id_text).collect(),
            addrs: member.addrs.clone(),
        }
    }

    /// Reads and checks a member file.
    pub fn read(path: &Path) -> Result<MemberFile, SetupError> {
        let bytes = super::read_file(path, "member file", crate::config_file::MAX_CONFIG_FILE_BYTES)?;
        serde_json::from_slice(&bytes).map_err(|e| SetupError::MemberFile {
            path: path.to_path_buf(),
            message: format!("not a member file written by `riskmesh init`: {e}"),
        })
    }

    /// Converts to a roster participant, checking every field; `path` labels
    /// errors.
    pub fn to_member(&self, path: &Path) -> Result<Member, SetupError> {
        let bad = |message: String| SetupError::MemberFile {
            path: path.to_path_buf(),
            message,
        };
        if self.format != MEMBER_FILE_FORMAT {
            return Err(bad(format!(
                "format is `{}`, expected `{MEMBER_FILE_FORMAT}`",
                self.format
            )));
        }
        check_org_id(&self.org).map_err(bad)?;
        let signing_key = OrgKey::from_hex(&self.signing_key)
            .ok_or_else(|| bad("signing_key must be 64 hex digits".into()))?;
        check_public_key(&signing_key).map_err(|e| bad(format!("signing_key: {e}")))?;
        let encryption = EncryptionKey::from_age_recipient(&self.encryption_key)
            .map_err(|e| bad(format!("encryption_key: {e}")))?;
        let peers: Vec<PeerId> = self
            .nodes
            .iter()
            .map(|text| {
                text.parse::<PeerId>()
                    .map_err(|e| bad(format!("nodes: `{text}` is not a libp2p peer id ({e})")))
            })
            .collect::<Result<_, _>>()?;
        for addr in &self.addrs {
            let parsed: Multiaddr = addr
                .parse()
                .map_err(|e| bad(format!("addrs: `{addr}` is not a multiaddr ({e})")))?;
            match parsed.iter().last() {
                Some(Protocol::P2p(peer)) if peers.contains(&peer) => {}
                _ => {
                    return Err(bad(format!(
                        "addrs: `{addr}` must end in /p2p/<peer id> naming one of this member's nodes"
                    )));
                }
            }
        }
        Ok(Member {
            org: self.org.clone(),
            name: self.name.clone(),
            role: self.role.into(),
            signing_key,
            encryption_key: encryption.0,
            nodes: peers.iter().map(|p| PeerIdBytes(p.to_bytes().into())).collect(),
            addrs: self.addrs.clone(),
        })
    }
}

/// A peer id's base58 text, or hex if the bytes are not a peer id.
pub fn peer_id_text(peer: &PeerIdBytes) -> String {
    PeerId::from_bytes(peer.0.as_slice())
        .map(|p| p.to_base58())
        .unwrap_or_else(|_| format!("0x{}", hex::encode(peer.0.as_slice())))
}

/// Makes `addr` a dialable bootstrap address for `peer`: appends
/// `/p2p/<peer>`, or checks an existing suffix names `peer`.
pub fn with_peer_suffix(addr: &Multiaddr, peer: PeerId) -> Result<Multiaddr, String> {
    match addr.iter().last() {
        Some(Protocol::P2p(existing)) if existing == peer => Ok(addr.clone()),
        Some(Protocol::P2p(existing)) => Err(format!(
            "`{addr}` ends in /p2p/{existing}, but this node's peer id is {peer}; leave the /p2p part out"
        )),
        _ => Ok(addr.clone().with(Protocol::P2p(peer))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use riskmesh_protocol::testkit;

    fn sample() -> (MemberFile, PeerId) {
        let secrets = testkit::org_secrets("acme");
        let peer = libp2p::identity::Keypair::generate_ed25519()
            .public()
            .to_peer_id();
        let addr = with_peer_suffix(&"/ip4/192.0.2.1/tcp/4610".parse().expect("addr"), peer).expect("suffix");
        let file = MemberFile {
            format: MEMBER_FILE_FORMAT.into(),
            org: "acme".into(),
            name: "Acme Labs".into(),
            role: MemberRole::Member,
            signing_key: secrets.signing.public().to_hex(),
            encryption_key: secrets.encryption.public().to_age_recipient(),
            nodes: vec![peer.to_base58()],
            addrs: vec![addr.to_string()],
        };
        (file, peer)
    }

    #[test]
    fn member_file_round_trips_through_a_roster_member() {
        let (file, _) = sample();
        let member = file.to_member(Path::new("m.json")).expect("valid");
        assert_eq!(MemberFile::from_member(&member), file);
    }

    #[test]
    fn bad_fields_are_named() {
        let (file, _) = sample();
        let check = |file: MemberFile, needle: &str| {
            let err = file.to_member(Path::new("m.json")).expect_err("invalid");
            assert!(err.to_string().contains(needle), "{err}");
            assert!(err.to_string().contains("m.json"), "{err}");
        };
        check(
            MemberFile {
                org: "Acme".into(),
                ..file.clone()
            },
            "org id",
        );
        check(
            MemberFile {
                signing_key: "zz".into(),
                ..file.clone()
            },
            "signing_key",
        );
        check(
            MemberFile {
                encryption_key: "age1nope".into(),
                ..file.clone()
            },
            "encryption_key",
        );
        check(
            MemberFile {
                nodes: vec!["nope".into()],
                ..file.clone()
            },
            "nodes",
        );
        check(
            MemberFile {
                addrs: vec!["/ip4/192.0.2.1/tcp/1".into()],
                ..file.clone()
            },
            "/p2p/",
        );
        check(
            MemberFile {
                format: "v0".into(),
                ..file
            },
            "format",
        );
    }

    #[test]
    fn peer_suffix_is_added_or_checked() {
        let peer = libp2p::identity::Keypair::generate_ed25519()
            .public()
            .to_peer_id();
        let other = libp2p::identity::Keypair::generate_ed25519()
            .public()
            .to_peer_id();
        let base: Multiaddr = "/dns4/node.example.org/tcp/4610".parse().expect("addr");
        let with = with_peer_suffix(&base, peer).expect("appends");
        assert_eq!(with_peer_suffix(&with, peer).expect("keeps"), with);
        assert!(with_peer_suffix(&with, other).is_err());
    }
}
