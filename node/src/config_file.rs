//! The node's TOML config file: its format, documented defaults, and
//! [`load`], which reads every file it names, checks the genesis roster
//! against the pinned hash, applies command-line [`Overrides`] once and
//! returns the resolved [`NodeConfig`].
//!
//! Relative paths in the file are resolved against the directory the file is
//! in, so a node directory written by `riskmesh init` can be moved as a whole.
//! Relative paths given as flags are resolved against the working directory,
//! as a shell user expects.

use crate::config::NodeConfig;
use crate::config::{
    DEFAULT_API_PORT, DEFAULT_AUTHOR_RATE_PER_MINUTE, DEFAULT_P2P_PORT, DEFAULT_SYNC_INTERVAL,
};
use libp2p::Multiaddr;
use libp2p::identity::Keypair;
use riskmesh_protocol::Hash32;
use riskmesh_protocol::keys::{KeyError, OrgSecrets};
use riskmesh_protocol::limits::MAX_ROSTER_BYTES;
use riskmesh_protocol::roster::{Roster, RosterError, SignedRoster};
use serde::{Deserialize, Serialize};
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Conventional name of the config file in a node directory.
pub const CONFIG_FILE: &str = "config.toml";
/// Default org key file name (`org_key`).
pub const DEFAULT_ORG_KEY_FILE: &str = "org.key";
/// Default node key file name (`node_key`).
pub const DEFAULT_NODE_KEY_FILE: &str = "node.key";
/// Default genesis roster file name (`genesis`).
pub const DEFAULT_GENESIS_FILE: &str = "genesis.cbor";
/// Default data directory (`data_dir`).
pub const DEFAULT_DATA_DIR: &str = "data";
/// Largest config or key file read, in bytes; anything bigger is not ours.
pub const MAX_CONFIG_FILE_BYTES: u64 = 64 * 1024;

/// Default libp2p listen address: every interface, [`DEFAULT_P2P_PORT`].
pub fn default_listen() -> Vec<String> {
    vec![format!("/ip4/0.0.0.0/tcp/{DEFAULT_P2P_PORT}")]
}

/// The config file as written on disk. Every field but `genesis_hash` has a
/// default, so a minimal file only pins the genesis hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The organization's secret key file. Default `org.key`.
    #[serde(default = "default_org_key")]
    pub org_key: PathBuf,
    /// This node's libp2p key file (protobuf encoding). Default `node.key`.
    #[serde(default = "default_node_key")]
    pub node_key: PathBuf,
    /// The signed genesis roster (CBOR). Default `genesis.cbor`.
    #[serde(default = "default_genesis")]
    pub genesis: PathBuf,
    /// SHA-256 of the genesis roster document, 64 hex digits. Empty or absent
    /// until `riskmesh roster install` sets it; a node refuses to start
    /// without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesis_hash: Option<String>,
    /// Directory holding the database and the API token. Default `data`.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// libp2p listen multiaddrs. Default `["/ip4/0.0.0.0/tcp/4610"]`.
    #[serde(default = "default_listen")]
    pub listen: Vec<String>,
    /// Port of the local HTTP API, always bound to 127.0.0.1. Default 4620.
    #[serde(default = "default_api_port")]
    pub api_port: u16,
    /// Extra peers to dial besides the roster's addresses, each ending in
    /// `/p2p/<peer id>`. Default empty.
    #[serde(default)]
    pub bootstrap: Vec<String>,
    /// Seconds between periodic sync rounds. Default 30.
    #[serde(default = "default_sync_interval_secs")]
    pub sync_interval_secs: u64,
    /// Entries per minute accepted from the network per author. Default 600.
    #[serde(default = "default_author_rate")]
    pub author_rate_per_minute: u32,
    /// Roster peers this node dials, chosen at random (each pair of nodes
    /// is dialled from one side, so a node of a large network holds about
    /// twice as many connections). Default 8.
    #[serde(default = "default_dial_peers")]
    pub dial_peers: usize,
    /// Organizations whose nodes this node always dials, whatever
    /// `dial_peers` says. Default empty.
    #[serde(default)]
    pub pin: Vec<String>,
    /// Most MiB of entries a member organization may have stored here.
    /// Default 1024.
    #[serde(default = "default_member_budget_mib")]
    pub member_budget_mib: u64,
    /// Most MiB of entries an observer may have stored here. Default 256.
    #[serde(default = "default_observer_budget_mib")]
    pub observer_budget_mib: u64,
    /// New entries are refused while the database's disk has less than this
    /// many MiB free (or less than 1 % of its size). Default 256; 0 turns
    /// the floor off.
    #[serde(default = "default_free_disk_floor_mib")]
    pub free_disk_floor_mib: u64,
}

fn default_member_budget_mib() -> u64 {
    crate::runtime::policy::storage::MEMBER_BUDGET_BYTES >> 20
}
fn default_observer_budget_mib() -> u64 {
    crate::runtime::policy::storage::OBSERVER_BUDGET_BYTES >> 20
}
fn default_free_disk_floor_mib() -> u64 {
    crate::runtime::policy::storage::FREE_DISK_FLOOR_BYTES >> 20
}

fn default_org_key() -> PathBuf {
    DEFAULT_ORG_KEY_FILE.into()
}
fn default_node_key() -> PathBuf {
    DEFAULT_NODE_KEY_FILE.into()
}
fn default_genesis() -> PathBuf {
    DEFAULT_GENESIS_FILE.into()
}
fn default_data_dir() -> PathBuf {
    DEFAULT_DATA_DIR.into()
}
fn default_api_port() -> u16 {
    DEFAULT_API_PORT
}
fn default_sync_interval_secs() -> u64 {
    DEFAULT_SYNC_INTERVAL.as_secs()
}
fn default_author_rate() -> u32 {
    DEFAULT_AUTHOR_RATE_PER_MINUTE
}
fn default_dial_peers() -> usize {
    crate::runtime::policy::peers::DIAL_PEERS
}

impl Default for ConfigFile {
    fn default() -> Self {
        ConfigFile {
            org_key: default_org_key(),
            node_key: default_node_key(),
            genesis: default_genesis(),
            genesis_hash: None,
            data_dir: default_data_dir(),
            listen: default_listen(),
            api_port: default_api_port(),
            bootstrap: Vec::new(),
            sync_interval_secs: default_sync_interval_secs(),
            author_rate_per_minute: default_author_rate(),
            dial_peers: default_dial_peers(),
            pin: Vec::new(),
            member_budget_mib: default_member_budget_mib(),
            observer_budget_mib: default_observer_budget_mib(),
            free_disk_floor_mib: default_free_disk_floor_mib(),
        }
    }
}

/// Values that take precedence over the config file (the `riskmesh node`
/// flags). Each one, when given, replaces the file's value; they are applied
/// once, in [`load_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// libp2p listen multiaddr, replacing the config file's `listen`
    /// (repeat for several).
    pub listen: Option<Vec<Multiaddr>>,
    /// Port of the local HTTP API on 127.0.0.1, replacing `api_port`.
    pub api_port: Option<u16>,
    /// Data directory, replacing `data_dir` (relative to the working directory).
    pub data_dir: Option<PathBuf>,
    /// Peer to dial, ending in `/p2p/<peer id>`, replacing the config file's
    /// `bootstrap` (repeat for several).
    pub bootstrap: Option<Vec<Multiaddr>>,
}

/// Why a config file could not be turned into a [`NodeConfig`]. Every message
/// names the file (and field) at fault and says what to do.
///
/// Underlying errors are part of the message, not a `source()`, so printing
/// the chain at the binary edge (`{:#}`) does not repeat them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file itself could not be read.
    #[error("cannot read config file {path}: {error}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The underlying error.
        error: io::Error,
    },
    /// The config file is not valid TOML, has an unknown field, or a field of
    /// the wrong type.
    #[error(
        "config file {path} is not valid: {message}\n\
         (every field is listed, with its default, in the config.toml that `riskmesh init` writes)"
    )]
    Parse {
        /// The config file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A field parsed but its value is unusable.
    #[error("config file {path}, field `{field}`: {message}")]
    Field {
        /// The config file.
        path: PathBuf,
        /// The field at fault.
        field: &'static str,
        /// What is wrong and what is expected.
        message: String,
    },
    /// `genesis_hash` is empty: the consortium's roster is not installed yet.
    #[error(
        "config file {path} pins no genesis roster yet (genesis_hash is empty), so the node cannot \
         start. Once the founders have created and signed the roster (`riskmesh roster create`, \
         `riskmesh roster sign`), install it with `riskmesh roster install <roster file> --config {path}`"
    )]
    NoGenesisHash {
        /// The config file.
        path: PathBuf,
    },
    /// A file the config names could not be read.
    #[error("cannot read the {what} {path} (field `{field}` in {config}): {error}; {hint}")]
    ReadFile {
        /// What the file is for.
        what: &'static str,
        /// The config field that names it.
        field: &'static str,
        /// The resolved path.
        path: PathBuf,
        /// The config file.
        config: PathBuf,
        /// The underlying error.
        error: io::Error,
        /// What to do about it.
        hint: &'static str,
    },
    /// The org key file is malformed.
    #[error("org key file {path} (field `org_key`): {error}; it must be a file written by `riskmesh init`")]
    OrgKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        error: KeyError,
    },
    /// The node key file is not a libp2p private key.
    #[error(
        "node key file {path} (field `node_key`) is not a libp2p private key in protobuf \
         encoding ({message}); it must be a file written by `riskmesh init`"
    )]
    NodeKey {
        /// The key file.
        path: PathBuf,
        /// The decoder's message.
        message: String,
    },
    /// The genesis roster file is not a valid genesis, or not the pinned one.
    #[error(
        "genesis roster {path} (field `genesis`) is not the pinned, fully signed genesis: {error}; \
         install the roster the founders signed with `riskmesh roster install <roster file> --config {config}`"
    )]
    Genesis {
        /// The roster file.
        path: PathBuf,
        /// The config file.
        config: PathBuf,
        /// Why the roster was refused.
        error: RosterError,
    },
}

/// Reads at most `limit` bytes of a file (config files use
/// [`MAX_CONFIG_FILE_BYTES`]); a larger file is an `InvalidData` error
/// rather than an unbounded read.
pub fn read_capped(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("file is larger than {limit} bytes"),
        ));
    }
    Ok(bytes)
}

/// Overwrites a buffer that held secret key text before freeing it. Best
/// effort: `zeroize` is not a node dependency, and `black_box` keeps the
/// compiler from dropping the writes as dead stores.
pub(crate) fn wipe(mut bytes: Vec<u8>) {
    bytes.fill(0);
    std::hint::black_box(&bytes);
}

impl ConfigFile {
    /// Reads and parses a config file without touching the files it names.
    pub fn read(path: &Path) -> Result<ConfigFile, ConfigError> {
        let read_error = |error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        };
        let bytes = read_capped(path, MAX_CONFIG_FILE_BYTES).map_err(read_error)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| read_error(io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text")))?;
        ConfigFile::parse(path, &text)
    }

    /// Parses config text; `path` only labels errors.
    pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })
    }

    /// The pinned genesis hash, `None` while it is empty or absent.
    pub fn pinned_hash(&self, path: &Path) -> Result<Option<Hash32>, ConfigError> {
        match self.genesis_hash.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => Hash32::from_hex(text).map(Some).ok_or_else(|| ConfigError::Field {
                path: path.to_path_buf(),
                field: "genesis_hash",
                message: format!(
                    "`{text}` is not 64 hex digits; set it with `riskmesh roster install` rather than by hand"
                ),
            }),
        }
    }

    /// Renders the file with a comment above each field saying what it is
    /// and its default, as `riskmesh init` writes it.
    pub fn to_commented_toml(&self) -> String {
        let path = |p: &Path| toml_string(&p.to_string_lossy());
        let list = |items: &[String]| {
            let quoted: Vec<String> = items.iter().map(|s| toml_string(s)).collect();
            format!("[{}]", quoted.join(", "))
        };
        let genesis_hash = match &self.genesis_hash {
            Some(hash) if !hash.is_empty() => format!("genesis_hash = {}\n", toml_string(hash)),
            _ => "# Set by `riskmesh roster install`; the node refuses to start until it is.\n\
                  genesis_hash = \"\"\n"
                .to_string(),
        };
        format!(
            "# riskmesh node configuration. Relative paths are relative to this file's directory.\n\
             # Unknown fields are an error. Flags (--listen, --api-port, --data-dir, --bootstrap)\n\
             # override the values here.\n\
             \n\
             # This organization's secret keys. Keep private (mode 0600). Default \"{DEFAULT_ORG_KEY_FILE}\".\n\
             org_key = {org_key}\n\
             # This node's libp2p identity. Keep private (mode 0600). Default \"{DEFAULT_NODE_KEY_FILE}\".\n\
             node_key = {node_key}\n\
             # The signed genesis roster. Default \"{DEFAULT_GENESIS_FILE}\".\n\
             genesis = {genesis}\n\
             # SHA-256 of the genesis roster document (64 hex digits), pinned by this node.\n\
             {genesis_hash}\
             # Database and API token. Default \"{DEFAULT_DATA_DIR}\".\n\
             data_dir = {data_dir}\n\
             # libp2p listen addresses. Default [\"/ip4/0.0.0.0/tcp/{DEFAULT_P2P_PORT}\"].\n\
             listen = {listen}\n\
             # Local HTTP API port, bound to 127.0.0.1 only. Default {DEFAULT_API_PORT}.\n\
             api_port = {api_port}\n\
             # Extra peers to dial besides the roster's addresses, each ending in /p2p/<peer id>. Default [].\n\
             bootstrap = {bootstrap}\n\
             # Mean seconds between periodic sync rounds (each asks two random connected peers\n\
             # whether their heads differ, at a jittered interval). Default {sync}.\n\
             sync_interval_secs = {sync_interval_secs}\n\
             # Entries accepted per minute from each author over the network. Default {rate}.\n\
             author_rate_per_minute = {author_rate_per_minute}\n\
             # Roster peers this node dials, chosen at random; each pair of nodes is dialled from\n\
             # one side only, so expect about twice as many connections. Default {dial}.\n\
             dial_peers = {dial_peers}\n\
             # Organizations whose nodes this node always dials. Default [].\n\
             pin = {pin}\n",
            org_key = path(&self.org_key),
            node_key = path(&self.node_key),
            genesis = path(&self.genesis),
            data_dir = path(&self.data_dir),
            listen = list(&self.listen),
            api_port = self.api_port,
            bootstrap = list(&self.bootstrap),
            sync = DEFAULT_SYNC_INTERVAL.as_secs(),
            sync_interval_secs = self.sync_interval_secs,
            rate = DEFAULT_AUTHOR_RATE_PER_MINUTE,
            author_rate_per_minute = self.author_rate_per_minute,
            dial = crate::runtime::policy::peers::DIAL_PEERS,
            dial_peers = self.dial_peers,
            pin = list(&self.pin),
        )
    }
}

/// A TOML basic string with the escapes TOML requires.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// Returns the config text with `genesis_hash` set to `hash`, keeping every
/// other line (and comment) as it was. The first `genesis_hash = …` line is
/// replaced, or appended if there is none; [`ConfigFile`] has no tables, so a
/// top-level line anywhere is the field. The caller re-parses the result.
pub fn with_genesis_hash(text: &str, hash: &Hash32) -> String {
    let line = format!("genesis_hash = \"{hash}\"");
    let is_field = |l: &str| {
        l.trim_start()
            .strip_prefix("genesis_hash")
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    let mut replaced = false;
    let mut out: Vec<String> = Vec::new();
    for l in text.lines() {
        if !replaced && is_field(l) {
            out.push(line.clone());
            replaced = true;
        } else {
            out.push(l.to_string());
        }
    }
    if !replaced {
        out.push(line);
    }
    let mut joined = out.join("\n");
    joined.push('\n');
    joined
}

/// Loads a config file with no flag overrides. See [`load_with`].
pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
    load_with(path, &Overrides::default())
}

/// Loads a config file, reads the keys and the genesis roster it names,
/// checks the roster against the pinned hash, and applies `overrides`. The
/// organization need not be on the genesis: a node whose key is on no
/// roster version it holds starts joining (see `runtime::Membership`).
pub fn load_with(path: &Path, overrides: &Overrides) -> Result<NodeConfig, ConfigError> {
    let file = ConfigFile::read(path)?;
    resolve(path, &file, overrides, None)
}

/// Resolves a parsed config file (read from `path`) into a [`NodeConfig`].
/// With `genesis` given, that roster is checked in place of the file the
/// config names, so `roster install` can check everything before it writes.
pub(crate) fn resolve(
    path: &Path,
    file: &ConfigFile,
    overrides: &Overrides,
    genesis: Option<&SignedRoster>,
) -> Result<NodeConfig, ConfigError> {
    let base = path.parent().unwrap_or(Path::new(""));
    let resolve = |p: &Path| base.join(p);
    let field = |field: &'static str, message: String| ConfigError::Field {
        path: path.to_path_buf(),
        field,
        message,
    };

    let listen = match &overrides.listen {
        Some(addrs) => addrs.clone(),
        None => parse_addrs(&file.listen).map_err(|m| field("listen", m))?,
    };
    if listen.is_empty() {
        return Err(field("listen", "at least one listen address is required".into()));
    }
    let bootstrap = match &overrides.bootstrap {
        Some(addrs) => addrs.clone(),
        None => parse_addrs(&file.bootstrap).map_err(|m| field("bootstrap", m))?,
    };
    if file.sync_interval_secs == 0 {
        return Err(field("sync_interval_secs", "must be at least 1".into()));
    }
    if file.author_rate_per_minute == 0 {
        return Err(field("author_rate_per_minute", "must be at least 1".into()));
    }
    if file.dial_peers == 0 || file.dial_peers > riskmesh_protocol::limits::MAX_ROSTER_MEMBERS {
        return Err(field(
            "dial_peers",
            format!(
                "must be between 1 and {}",
                riskmesh_protocol::limits::MAX_ROSTER_MEMBERS
            ),
        ));
    }
    let pinned = file
        .pinned_hash(path)?
        .ok_or_else(|| ConfigError::NoGenesisHash {
            path: path.to_path_buf(),
        })?;

    let read = |what, field, file: &Path, hint, limit| {
        let full = resolve(file);
        read_capped(&full, limit)
            .map(|bytes| (full.clone(), bytes))
            .map_err(|error| ConfigError::ReadFile {
                what,
                field,
                path: full,
                config: path.to_path_buf(),
                error,
                hint,
            })
    };
    let init_hint = "it is written by `riskmesh init`; check the path in the config file";
    let (org_path, org_bytes) = read(
        "org key file",
        "org_key",
        &file.org_key,
        init_hint,
        MAX_CONFIG_FILE_BYTES,
    )?;
    let org_text = String::from_utf8(org_bytes).map_err(|_| ConfigError::OrgKey {
        path: org_path.clone(),
        error: KeyError::KeyFile("not UTF-8 text".into()),
    })?;
    let org = OrgSecrets::from_key_file(&org_text).map_err(|error| ConfigError::OrgKey {
        path: org_path.clone(),
        error,
    });
    wipe(org_text.into_bytes());
    let org = org?;

    let (node_path, node_bytes) = read(
        "node key file",
        "node_key",
        &file.node_key,
        init_hint,
        MAX_CONFIG_FILE_BYTES,
    )?;
    let node_key = Keypair::from_protobuf_encoding(&node_bytes).map_err(|e| ConfigError::NodeKey {
        path: node_path,
        message: e.to_string(),
    })?;

    let roster_path = resolve(&file.genesis);
    let genesis_error = |error| ConfigError::Genesis {
        path: roster_path.clone(),
        config: path.to_path_buf(),
        error,
    };
    let genesis = match genesis {
        Some(signed) => signed.clone(),
        None => {
            let (_, roster_bytes) = read(
                "genesis roster",
                "genesis",
                &file.genesis,
                "install the signed roster with `riskmesh roster install <roster file> --config <this config>`",
                MAX_ROSTER_BYTES as u64,
            )?;
            SignedRoster::from_bytes(&roster_bytes).map_err(genesis_error)?
        }
    };
    // An organization that is not on the genesis may still run a node: it
    // joins, and publishes once a roster update that lists it arrives
    // (`runtime::Membership`), so this is not checked here.
    Roster::genesis_pinned(&genesis, &pinned).map_err(genesis_error)?;

    let data_dir = match &overrides.data_dir {
        Some(dir) => dir.clone(),
        None => resolve(&file.data_dir),
    };
    let api_port = overrides.api_port.unwrap_or(file.api_port);
    Ok(NodeConfig {
        data_dir,
        org: Arc::new(org),
        node_key,
        genesis,
        genesis_hash: pinned,
        listen,
        api_listen: SocketAddr::from((Ipv4Addr::LOCALHOST, api_port)),
        bootstrap,
        sync_interval: Duration::from_secs(file.sync_interval_secs),
        author_rate_per_minute: file.author_rate_per_minute,
        dial_peers: file.dial_peers,
        pinned_orgs: file.pin.clone(),
        storage: crate::runtime::policy::storage::StorageLimits {
            member_bytes: file.member_budget_mib.saturating_mul(1 << 20),
            observer_bytes: file.observer_budget_mib.saturating_mul(1 << 20),
            free_disk_floor_bytes: file.free_disk_floor_mib.saturating_mul(1 << 20),
            free_disk_floor_percent: if file.free_disk_floor_mib == 0 {
                0
            } else {
                crate::runtime::policy::storage::FREE_DISK_FLOOR_PERCENT
            },
        },
    })
}

fn parse_addrs(items: &[String]) -> Result<Vec<Multiaddr>, String> {
    items
        .iter()
        .map(|s| {
            s.parse::<Multiaddr>()
                .map_err(|e| format!("`{s}` is not a multiaddr ({e}); expected e.g. /ip4/192.0.2.1/tcp/4610"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use riskmesh_protocol::testkit;
    use std::fs;

    /// Writes a complete node directory for `org` of the testkit consortium
    /// of `members`, with its genesis pinned.
    fn node_dir(org: &str, members: &[&str]) -> (tempfile::TempDir, PathBuf, Hash32) {
        let dir = tempfile::tempdir().expect("temp dir");
        let consortium = testkit::consortium("test-net", members, &[]);
        fs::write(
            dir.path().join("org.key"),
            testkit::org_secrets(org).to_key_file().as_bytes(),
        )
        .expect("write org key");
        let node = Keypair::generate_ed25519();
        fs::write(
            dir.path().join("node.key"),
            node.to_protobuf_encoding().expect("encode node key"),
        )
        .expect("write node key");
        fs::write(
            dir.path().join("genesis.cbor"),
            consortium.roster.signed().to_bytes(),
        )
        .expect("write roster");
        let hash = consortium.roster.hash();
        let config = ConfigFile {
            genesis_hash: Some(hash.to_hex()),
            ..ConfigFile::default()
        };
        let path = dir.path().join(CONFIG_FILE);
        fs::write(&path, config.to_commented_toml()).expect("write config");
        (dir, path, hash)
    }

    #[test]
    fn loads_a_complete_directory_with_defaults_resolved_against_it() {
        let (dir, path, hash) = node_dir("acme", &["acme", "beta"]);
        let config = load(&path).expect("loads");
        assert_eq!(config.genesis_hash, hash);
        assert_eq!(config.org.org, "acme");
        assert_eq!(config.data_dir, dir.path().join(DEFAULT_DATA_DIR));
        assert_eq!(
            config.api_listen,
            SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_API_PORT))
        );
        assert_eq!(
            config.listen,
            vec![default_listen()[0].parse::<Multiaddr>().expect("addr")]
        );
        assert_eq!(config.sync_interval, DEFAULT_SYNC_INTERVAL);
        assert_eq!(config.author_rate_per_minute, DEFAULT_AUTHOR_RATE_PER_MINUTE);
    }

    #[test]
    fn overrides_replace_file_values_once() {
        let (_dir, path, _) = node_dir("acme", &["acme"]);
        let listen: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().expect("addr");
        let overrides = Overrides {
            listen: Some(vec![listen.clone()]),
            api_port: Some(0),
            data_dir: Some("elsewhere".into()),
            bootstrap: Some(vec![]),
        };
        let config = load_with(&path, &overrides).expect("loads");
        assert_eq!(config.listen, vec![listen]);
        assert_eq!(config.api_listen.port(), 0);
        assert_eq!(config.data_dir, PathBuf::from("elsewhere"));
    }

    #[test]
    fn commented_rendering_parses_back_to_the_same_struct() {
        let config = ConfigFile {
            listen: vec!["/ip4/127.0.0.1/tcp/1".into(), "/ip6/::1/tcp/1".into()],
            bootstrap: vec!["/dns4/a\"b/tcp/1".into()],
            ..ConfigFile::default()
        };
        let text = config.to_commented_toml();
        let parsed = ConfigFile::parse(Path::new("c.toml"), &text).expect("parses");
        // An empty hash renders as `genesis_hash = ""`, which reads back as Some("").
        assert_eq!(parsed.genesis_hash.as_deref(), Some(""));
        assert_eq!(
            ConfigFile {
                genesis_hash: None,
                ..parsed
            },
            config
        );
        assert_eq!(
            ConfigFile::parse(Path::new("c.toml"), "").expect("empty"),
            ConfigFile::default()
        );
    }

    #[test]
    fn unknown_field_is_named() {
        let err = ConfigFile::parse(Path::new("c.toml"), "listen_addr = []").expect_err("unknown field");
        let message = err.to_string();
        assert!(message.contains("c.toml"), "{message}");
        assert!(message.contains("unknown field `listen_addr`"), "{message}");
    }

    #[test]
    fn missing_genesis_hash_tells_the_operator_to_install_the_roster() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(CONFIG_FILE);
        fs::write(&path, ConfigFile::default().to_commented_toml()).expect("write");
        let err = load(&path).expect_err("no genesis hash");
        assert!(matches!(err, ConfigError::NoGenesisHash { .. }));
        assert!(err.to_string().contains("riskmesh roster install"), "{err}");
    }

    #[test]
    fn malformed_hash_and_addresses_name_their_field() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(CONFIG_FILE);
        fs::write(&path, "genesis_hash = \"abc\"").expect("write");
        let err = load(&path).expect_err("bad hash");
        assert!(
            matches!(
                err,
                ConfigError::Field {
                    field: "genesis_hash",
                    ..
                }
            ),
            "{err}"
        );
        fs::write(&path, "listen = [\"not an address\"]").expect("write");
        let err = load(&path).expect_err("bad listen");
        assert!(matches!(err, ConfigError::Field { field: "listen", .. }), "{err}");
    }

    #[test]
    fn wrong_pin_and_missing_file_are_refused_and_a_joining_org_loads() {
        let (dir, path, _) = node_dir("acme", &["acme", "beta"]);
        let text = fs::read_to_string(&path).expect("read");

        fs::write(&path, with_genesis_hash(&text, &Hash32([7; 32]))).expect("write");
        let err = load(&path).expect_err("wrong pin");
        assert!(matches!(
            err,
            ConfigError::Genesis {
                error: RosterError::WrongGenesis { .. },
                ..
            }
        ));

        fs::write(&path, &text).expect("restore");
        fs::write(
            dir.path().join("org.key"),
            testkit::org_secrets("mallory").to_key_file().as_bytes(),
        )
        .expect("write foreign key");
        // An organization that is not on the genesis joins: its node
        // starts, and publishes once a roster update lists it.
        let config = load(&path).expect("a joining organization's config loads");
        assert_eq!(config.org.org, "mallory");

        fs::remove_file(dir.path().join("genesis.cbor")).expect("remove roster");
        let err = load(&path).expect_err("missing roster");
        assert!(
            matches!(err, ConfigError::ReadFile { field: "genesis", .. }),
            "{err}"
        );
        assert!(err.to_string().contains("riskmesh roster install"), "{err}");
    }

    #[test]
    fn garbage_node_key_is_a_typed_error() {
        let (dir, path, _) = node_dir("acme", &["acme"]);
        fs::write(dir.path().join("node.key"), b"not protobuf").expect("write");
        let err = load(&path).expect_err("bad node key");
        assert!(matches!(err, ConfigError::NodeKey { .. }), "{err}");
    }

    #[test]
    fn with_genesis_hash_replaces_the_placeholder_or_appends() {
        let hash = Hash32([1; 32]);
        let text = ConfigFile::default().to_commented_toml();
        let updated = with_genesis_hash(&text, &hash);
        let parsed = ConfigFile::parse(Path::new("c"), &updated).expect("parses");
        assert_eq!(parsed.pinned_hash(Path::new("c")).expect("valid"), Some(hash));
        assert_eq!(updated.lines().count(), text.lines().count());

        let appended = with_genesis_hash("api_port = 1", &hash);
        let parsed = ConfigFile::parse(Path::new("c"), &appended).expect("parses");
        assert_eq!(parsed.pinned_hash(Path::new("c")).expect("valid"), Some(hash));
    }
}
