//! `riskmesh init`: a new node directory with fresh organization and node
//! keys, the organization's public `member.json`, a config file and an empty
//! database. The genesis hash stays empty until `riskmesh roster install`.

use super::member_file::{MEMBER_FILE_FORMAT, MemberFile, MemberRole, with_peer_suffix};
use super::{SetupError, io_error, refuse_existing, write_new};
use crate::config::DB_FILE;
use crate::config_file::{
    CONFIG_FILE, ConfigFile, DEFAULT_DATA_DIR, DEFAULT_GENESIS_FILE, DEFAULT_NODE_KEY_FILE,
    DEFAULT_ORG_KEY_FILE,
};
use crate::store::Store;
use libp2p::Multiaddr;
use libp2p::identity::Keypair;
use riskmesh_protocol::keys::{EncryptionSecret, OrgSecrets, OrgSigningKey};
use riskmesh_protocol::limits::{MAX_ADDRS_PER_MEMBER, MAX_TEXT_BYTES};
use riskmesh_protocol::roster::check_org_id;
use serde::Serialize;
use std::fs::DirBuilder;
use std::path::{Path, PathBuf};

/// Name of the public member file in a node directory.
pub const MEMBER_FILE: &str = "member.json";

/// What `riskmesh init` should create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitOptions {
    /// Org id (`a-z`, `0-9`, `-`).
    pub org: String,
    /// Display name; the org id when absent.
    pub name: Option<String>,
    /// Role on the roster.
    pub role: MemberRole,
    /// Node directory; `./riskmesh-<org>` when absent.
    pub dir: Option<PathBuf>,
    /// libp2p listen addresses; the config default when empty.
    pub listen: Vec<Multiaddr>,
    /// API port; the config default when absent.
    pub api_port: Option<u16>,
    /// Addresses other nodes can dial, written to the member file (and so to
    /// the roster) with `/p2p/<peer id>` appended.
    pub advertise: Vec<Multiaddr>,
}

/// What `riskmesh init` created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InitReport {
    /// The node directory.
    pub dir: PathBuf,
    /// Org id.
    pub org: String,
    /// Role.
    pub role: MemberRole,
    /// Public signing key, hex.
    pub signing_key: String,
    /// Public encryption key, `age1…`.
    pub encryption_key: String,
    /// This node's libp2p peer id.
    pub peer_id: String,
    /// Advertised bootstrap addresses.
    pub addrs: Vec<String>,
    /// The org key file.
    pub org_key: PathBuf,
    /// The node key file.
    pub node_key: PathBuf,
    /// The public member file to send to the other founders.
    pub member_file: PathBuf,
    /// The config file.
    pub config: PathBuf,
    /// The database.
    pub database: PathBuf,
}

/// Creates a node directory. Refuses if any file it would write exists;
/// never prompts.
pub fn init(options: &InitOptions) -> Result<InitReport, SetupError> {
    check_org_id(&options.org).map_err(|m| SetupError::Argument(format!("--org: {m}")))?;
    let name = options.name.clone().unwrap_or_else(|| options.org.clone());
    if name.len() > MAX_TEXT_BYTES {
        return Err(SetupError::Argument(format!(
            "--name must be at most {MAX_TEXT_BYTES} bytes"
        )));
    }
    if options.advertise.len() > MAX_ADDRS_PER_MEMBER {
        return Err(SetupError::Argument(format!(
            "at most {MAX_ADDRS_PER_MEMBER} --advertise addresses fit on the roster"
        )));
    }
    let dir = options
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("riskmesh-{}", options.org)));
    let org_key = dir.join(DEFAULT_ORG_KEY_FILE);
    let node_key = dir.join(DEFAULT_NODE_KEY_FILE);
    let member_file = dir.join(MEMBER_FILE);
    let config = dir.join(CONFIG_FILE);
    let data_dir = dir.join(DEFAULT_DATA_DIR);
    let database = data_dir.join(DB_FILE);

    let hint = "Choose another --dir; if you really mean to start this organization over, move the old \
                directory away first (its org.key is the organization's identity)";
    for path in [&org_key, &node_key, &member_file, &config, &database] {
        refuse_existing(path, hint)?;
    }

    let node = Keypair::ed25519_from_bytes(rand::random::<[u8; 32]>())
        .map_err(|e| SetupError::Argument(format!("generating the node key failed: {e}")))?;
    let peer_id = node.public().to_peer_id();
    let addrs: Vec<String> = options
        .advertise
        .iter()
        .map(|a| with_peer_suffix(a, peer_id).map(|a| a.to_string()))
        .collect::<Result<_, _>>()
        .map_err(|m| SetupError::Argument(format!("--advertise: {m}")))?;
    let secrets = OrgSecrets {
        org: options.org.clone(),
        signing: OrgSigningKey::from_seed(rand::random()),
        encryption: EncryptionSecret::from_seed(rand::random()),
    };
    let member = MemberFile {
        format: MEMBER_FILE_FORMAT.into(),
        org: options.org.clone(),
        name,
        role: options.role,
        signing_key: secrets.signing.public().to_hex(),
        encryption_key: secrets.encryption.public().to_age_recipient(),
        nodes: vec![peer_id.to_base58()],
        addrs: addrs.clone(),
    };
    // Checking the member file as a roster entry now catches what would
    // otherwise only fail when the founders run `roster create`.
    member.to_member(&member_file)?;

    let mut file = ConfigFile::default();
    if !options.listen.is_empty() {
        file.listen = options.listen.iter().map(Multiaddr::to_string).collect();
    }
    if let Some(port) = options.api_port {
        file.api_port = port;
    }
    debug_assert_eq!(file.genesis, PathBuf::from(DEFAULT_GENESIS_FILE));

    create_private_dir(&dir)?;
    create_private_dir(&data_dir)?;
    write_new(&org_key, secrets.to_key_file().as_bytes(), 0o600)?;
    let node_bytes = node
        .to_protobuf_encoding()
        .map_err(|e| SetupError::Argument(format!("encoding the node key failed: {e}")))?;
    write_new(&node_key, &node_bytes, 0o600)?;
    let mut member_json = serde_json::to_string_pretty(&member)
        .map_err(|e| SetupError::Argument(format!("encoding the member file failed: {e}")))?;
    member_json.push('\n');
    write_new(&member_file, member_json.as_bytes(), 0o644)?;
    write_new(&config, file.to_commented_toml().as_bytes(), 0o644)?;
    Store::create(&database)
        .and_then(Store::close)
        .map_err(SetupError::Store)?;

    Ok(InitReport {
        dir,
        org: options.org.clone(),
        role: options.role,
        signing_key: member.signing_key,
        encryption_key: member.encryption_key,
        peer_id: peer_id.to_base58(),
        addrs,
        org_key,
        node_key,
        member_file,
        config,
        database,
    })
}

/// Creates a directory (and its parents) if absent; a new one is private to
/// the owner, since it holds secret keys.
fn create_private_dir(dir: &Path) -> Result<(), SetupError> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io_error("create the directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use riskmesh_protocol::keys::OrgSecrets;

    fn options(dir: &Path) -> InitOptions {
        InitOptions {
            org: "acme".into(),
            name: Some("Acme Labs".into()),
            role: MemberRole::Member,
            dir: Some(dir.to_path_buf()),
            listen: vec!["/ip4/127.0.0.1/tcp/4999".parse().expect("addr")],
            api_port: Some(4998),
            advertise: vec!["/ip4/192.0.2.7/tcp/4999".parse().expect("addr")],
        }
    }

    #[test]
    fn init_writes_keys_member_file_config_and_database() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("node");
        let report = init(&options(&dir)).expect("init");

        let secrets = OrgSecrets::from_key_file(&std::fs::read_to_string(&report.org_key).expect("read"))
            .expect("key file parses");
        assert_eq!(secrets.signing.public().to_hex(), report.signing_key);
        let node = Keypair::from_protobuf_encoding(&std::fs::read(&report.node_key).expect("read"))
            .expect("node key decodes");
        assert_eq!(node.public().to_peer_id().to_base58(), report.peer_id);

        let member = MemberFile::read(&report.member_file).expect("member file");
        assert_eq!(member.name, "Acme Labs");
        assert_eq!(
            member.addrs,
            vec![format!("/ip4/192.0.2.7/tcp/4999/p2p/{}", report.peer_id)]
        );
        member.to_member(&report.member_file).expect("valid roster entry");

        let config = ConfigFile::read(&report.config).expect("config parses");
        assert_eq!(config.listen, vec!["/ip4/127.0.0.1/tcp/4999".to_string()]);
        assert_eq!(config.api_port, 4998);
        assert_eq!(config.pinned_hash(&report.config).expect("valid"), None);
        assert!(report.database.exists());

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for path in [&report.org_key, &report.node_key] {
                let mode = std::fs::metadata(path).expect("meta").permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", path.display());
            }
        }
    }

    #[test]
    fn init_refuses_to_overwrite_a_key() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("node");
        let first = init(&options(&dir)).expect("init");
        let before = std::fs::read(&first.org_key).expect("read");
        let err = init(&options(&dir)).expect_err("second init");
        assert!(matches!(err, SetupError::Exists { .. }), "{err}");
        assert!(err.to_string().contains("org.key"), "{err}");
        assert_eq!(std::fs::read(&first.org_key).expect("read"), before);
    }

    #[test]
    fn init_rejects_bad_arguments_before_writing() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("node");
        let err = init(&InitOptions {
            org: "Acme Inc".into(),
            ..options(&dir)
        })
        .expect_err("bad org");
        assert!(err.to_string().contains("--org"), "{err}");
        let other = libp2p::identity::Keypair::generate_ed25519()
            .public()
            .to_peer_id();
        let err = init(&InitOptions {
            advertise: vec![format!("/ip4/192.0.2.7/tcp/1/p2p/{other}").parse().expect("addr")],
            ..options(&dir)
        })
        .expect_err("foreign peer id");
        assert!(err.to_string().contains("--advertise"), "{err}");
        assert!(!dir.exists());
    }
}
