//! Roster files on disk: drafting a genesis or an update from member files,
//! adding an organization's signature in place, and installing a verified
//! genesis into a node's config.

use super::member_file::MemberFile;
use super::proposal::{LogHead, Proposal, RosterChange};
use super::{SetupError, read_file, refuse_existing, write_atomic, write_new};
use crate::config_file::{self, ConfigFile, MAX_CONFIG_FILE_BYTES, Overrides};
use riskmesh_protocol::Hash32;
use riskmesh_protocol::keys::OrgSecrets;
use riskmesh_protocol::limits::MAX_ROSTER_BYTES;
use riskmesh_protocol::roster::{Member, Policy, Role, Roster, RosterDoc, SignedRoster, check_network_id};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// What `riskmesh roster create` drafts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOptions {
    /// Network id.
    pub network: String,
    /// Member files, one per organization, in any order.
    pub members: Vec<PathBuf>,
    /// Change policy; 2/3 when absent.
    pub quorum: Option<Policy>,
    /// Where to write the unsigned draft; must not exist.
    pub out: PathBuf,
}

/// What `riskmesh roster update` drafts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateOptions {
    /// The current roster version.
    pub from: PathBuf,
    /// Member files to add, or to replace the entry of the same org.
    pub members: Vec<PathBuf>,
    /// Org ids to remove.
    pub remove: Vec<String>,
    /// New change policy; the current one when absent.
    pub quorum: Option<Policy>,
    /// The head of each leaving organization's log as the operator's node
    /// holds it (`None`: it published nothing): the prefix that stays valid.
    pub heads: Vec<(String, LogHead)>,
    /// Where to write the unsigned draft; must not exist.
    pub out: PathBuf,
}

/// What `riskmesh roster sign` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignReport {
    /// The roster file.
    pub file: PathBuf,
    /// The signing organization (as named on the roster when it is there).
    pub org: String,
    /// Whether this key had already signed (the file is then unchanged).
    pub already_signed: bool,
    /// Roster hash.
    pub hash: String,
    /// Roster version (1: a genesis; later: an update).
    pub version: u64,
}

/// What `riskmesh roster install` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstallReport {
    /// Where the genesis was copied.
    pub genesis: PathBuf,
    /// The config file updated.
    pub config: PathBuf,
    /// The pinned genesis hash.
    pub genesis_hash: String,
    /// Network id.
    pub network: String,
    /// This organization.
    pub org: String,
    /// Whether the organization is not on the genesis: its node starts
    /// joining (`install` with `join`).
    pub joining: bool,
    /// Problems that do not stop the install but will stop the node from
    /// being useful (for example its peer id missing from the roster).
    pub warnings: Vec<String>,
}

/// Parses `N/D` (for example `2/3`) into a policy; the roster rules check
/// its range when the draft is built.
pub fn parse_quorum(text: &str) -> Result<Policy, String> {
    let (n, d) = text
        .split_once('/')
        .ok_or_else(|| format!("quorum `{text}` must look like 2/3"))?;
    let parse = |s: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| format!("quorum `{text}` must be two whole numbers, like 2/3"))
    };
    Ok(Policy {
        quorum_numerator: parse(n)?,
        quorum_denominator: parse(d)?,
    })
}

/// Reads a signed roster file (canonical CBOR; signatures not checked).
pub fn read_roster(path: &Path) -> Result<SignedRoster, SetupError> {
    let bytes = read_file(path, "roster file", MAX_ROSTER_BYTES as u64)?;
    SignedRoster::from_bytes(&bytes).map_err(|error| SetupError::RosterFile {
        path: path.to_path_buf(),
        error,
    })
}

/// Decodes and structurally checks a signed roster's document.
pub(super) fn document(path: &Path, signed: &SignedRoster) -> Result<RosterDoc, SetupError> {
    signed.document().map_err(|error| SetupError::RosterFile {
        path: path.to_path_buf(),
        error,
    })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Reads member files into roster participants, refusing duplicate orgs.
pub(super) fn read_members(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Member)>, SetupError> {
    let mut members: Vec<(PathBuf, Member)> = Vec::new();
    for path in paths {
        let member = MemberFile::read(path)?.to_member(path)?;
        if let Some((first, _)) = members.iter().find(|(_, m)| m.org == member.org) {
            return Err(SetupError::DuplicateMember {
                org: member.org,
                first: first.clone(),
                second: path.clone(),
            });
        }
        members.push((path.clone(), member));
    }
    Ok(members)
}

/// Checks the document and writes it, unsigned, to a new file.
fn write_draft(doc: &RosterDoc, out: &Path) -> Result<Hash32, SetupError> {
    doc.check().map_err(SetupError::DraftInvalid)?;
    refuse_existing(out, "Choose another --out, or delete the old draft first")?;
    let signed = SignedRoster::new(doc);
    write_new(out, &signed.to_bytes(), 0o644)?;
    Ok(doc.hash())
}

/// Drafts an unsigned genesis roster (version 1) from member files, sorted
/// by org as the protocol requires. Returns the draft's hash.
pub fn create(options: &CreateOptions) -> Result<(RosterDoc, Hash32), SetupError> {
    check_network_id(&options.network).map_err(|m| SetupError::Argument(format!("--network: {m}")))?;
    if options.members.is_empty() {
        return Err(SetupError::Argument(
            "pass every founder's member.json with --member (repeat it for each)".into(),
        ));
    }
    let mut members: Vec<Member> = read_members(&options.members)?
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    members.sort_by(|a, b| a.org.cmp(&b.org));
    let doc = RosterDoc {
        network: options.network.clone(),
        version: 1,
        prev: None,
        members,
        policy: options.quorum.unwrap_or_default(),
        created_ms: now_ms(),
        retired: None,
    };
    let hash = write_draft(&doc, &options.out)?;
    Ok((doc, hash))
}

/// Drafts version n+1 from version n: member files add organizations or
/// replace the entry of the same org, `remove` drops orgs, and every key
/// that leaves is retired with the head `heads` gives for its org.
pub fn update(options: &UpdateOptions) -> Result<Proposal, SetupError> {
    let current_signed = read_roster(&options.from)?;
    let current = document(&options.from, &current_signed)?;
    let change = RosterChange::read(&options.members, options.remove.clone(), options.quorum)?;
    for (org, _) in &options.heads {
        if !current.members.iter().any(|m| &m.org == org) {
            return Err(SetupError::Argument(format!(
                "--head {org}: no such org on {}",
                options.from.display()
            )));
        }
    }
    let head = |m: &Member| -> Result<LogHead, SetupError> {
        match options.heads.iter().find(|(org, _)| *org == m.org) {
            Some((_, head)) => Ok(*head),
            None => Err(SetupError::Argument(format!(
                "`{org}`'s signing key leaves the roster, so the draft must say which part of its log \
                 stays valid: pass --head {org}=SEQ:ID with its last entry as your node holds it (seq \
                 and head id in `riskmesh status --json`), or --head {org}=0 if it published nothing. \
                 Easier: `riskmesh roster propose` drafts against your running node and fills this in",
                org = m.org
            ))),
        }
    };
    let proposal = change.draft(&current, current.hash(), &head, &[], now_ms())?;
    write_draft(&proposal.doc, &options.out)?;
    Ok(proposal)
}

/// Writes a proposal's document, unsigned, to a new file.
pub fn write_proposal(proposal: &Proposal, out: &Path) -> Result<(), SetupError> {
    write_draft(&proposal.doc, out).map(|_| ())
}

/// Reads an org key file.
pub(super) fn read_org_key(path: &Path) -> Result<OrgSecrets, SetupError> {
    let bytes = read_file(path, "org key file", MAX_CONFIG_FILE_BYTES)?;
    let text = String::from_utf8(bytes).map_err(|_| SetupError::OrgKey {
        path: path.to_path_buf(),
        error: riskmesh_protocol::keys::KeyError::KeyFile("not UTF-8 text".into()),
    })?;
    let secrets = OrgSecrets::from_key_file(&text).map_err(|error| SetupError::OrgKey {
        path: path.to_path_buf(),
        error,
    });
    config_file::wipe(text.into_bytes());
    secrets
}

/// Adds the signature of the organization in `key` to the roster `file`, in
/// place (atomically). A genesis may be signed only by its participants with
/// role member; an update by members of the previous version, which this
/// file alone cannot show, so that is left to `roster verify --current`.
pub fn sign(file: &Path, key: &Path) -> Result<SignReport, SetupError> {
    let mut signed = read_roster(file)?;
    let doc = document(file, &signed)?;
    let secrets = read_org_key(key)?;
    let public = secrets.signing.public();
    let on_roster = doc.members.iter().find(|m| m.signing_key == public);
    if doc.version == 1 {
        match on_roster {
            None => {
                return Err(SetupError::WrongKey(format!(
                    "the key in {} (org `{}`) is not on the roster {}; only founding members sign a \
                     genesis. Check that its member.json was passed to `riskmesh roster create`",
                    key.display(),
                    secrets.org,
                    file.display()
                )));
            }
            Some(m) if m.role != Role::Member => {
                return Err(SetupError::WrongKey(format!(
                    "`{}` is an observer on {}; observers do not sign the roster (only role member does)",
                    m.org,
                    file.display()
                )));
            }
            Some(_) => {}
        }
    }
    let org = on_roster.map_or_else(|| secrets.org.clone(), |m| m.org.clone());
    let already_signed = signed.signatures.iter().any(|s| s.signer == public);
    if !already_signed {
        signed.sign(&secrets.signing);
        write_atomic(file, &signed.to_bytes(), 0o644)?;
    }
    Ok(SignReport {
        file: file.to_path_buf(),
        org,
        already_signed,
        hash: doc.hash().to_hex(),
        version: doc.version,
    })
}

/// Verifies `file` as a complete genesis, copies it to the path the config
/// names, and pins its hash in the config file, keeping the file's comments.
/// Refuses if the config already pins a different genesis, or if the
/// organization is not on the genesis unless `join` says it is joining an
/// existing consortium (its node then fetches the roster updates from the
/// genesis nodes and publishes once one lists it).
pub fn install(file: &Path, config: &Path, join: bool) -> Result<InstallReport, SetupError> {
    let config_text = String::from_utf8(read_file(config, "config file", MAX_CONFIG_FILE_BYTES)?)
        .map_err(|_| SetupError::Argument(format!("config file {} is not UTF-8 text", config.display())))?;
    let parsed = ConfigFile::parse(config, &config_text)?;
    let signed = read_roster(file)?;
    let roster = Roster::genesis(&signed).map_err(|e| SetupError::RosterInvalid {
        path: file.to_path_buf(),
        reason: format!(
            "{e}. Only a fully signed genesis can be installed; see `riskmesh roster verify {}`",
            file.display()
        ),
    })?;
    let hash = roster.hash();
    if let Some(pinned) = parsed.pinned_hash(config)?
        && pinned != hash
    {
        return Err(SetupError::GenesisPinned {
            config: config.to_path_buf(),
            file: file.to_path_buf(),
            pinned,
            found: hash,
        });
    }
    let base = config.parent().unwrap_or(Path::new(""));
    let key_path = base.join(&parsed.org_key);
    let secrets = read_org_key(&key_path)?;
    let member = roster.member(&secrets.signing.public());
    if member.is_none() && !join {
        return Err(SetupError::WrongKey(format!(
            "the org key {} (org `{}`) is not on the genesis roster {}. A founder: check the roster \
             and the key. An organization joining an existing consortium: pass --join; the node then \
             starts from this genesis, fetches the roster updates from the other nodes, and can \
             publish once an update that lists this organization is in force",
            key_path.display(),
            secrets.org,
            file.display()
        )));
    }

    let updated = config_file::with_genesis_hash(&config_text, &hash);
    let reparsed = ConfigFile::parse(config, &updated)?;
    if reparsed.pinned_hash(config)? != Some(hash) {
        return Err(SetupError::ConfigEdit {
            path: config.to_path_buf(),
            hash,
        });
    }
    // Resolving the config as the node will, before anything is written,
    // proves the node will accept what is about to be installed.
    let resolved = config_file::resolve(config, &reparsed, &Overrides::default(), Some(&signed))?;
    let mut warnings = Vec::new();
    let peer = resolved.node_key.public().to_peer_id();
    if let Some(member) = member
        && !member
            .nodes
            .iter()
            .any(|p| p.0.as_slice() == peer.to_bytes().as_slice())
    {
        warnings.push(format!(
            "this node's peer id {peer} is not listed for `{}` on the roster; other nodes will refuse \
             its connections until a roster update adds it",
            member.org
        ));
    }

    let genesis_path = base.join(&parsed.genesis);
    write_atomic(&genesis_path, &signed.to_bytes(), 0o644)?;
    write_atomic(config, updated.as_bytes(), 0o644)?;
    Ok(InstallReport {
        genesis: genesis_path,
        config: config.to_path_buf(),
        genesis_hash: hash.to_hex(),
        network: roster.network().to_string(),
        org: member.map_or_else(|| secrets.org.clone(), |m| m.org.clone()),
        joining: member.is_none(),
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::{InitOptions, InitReport, MemberRole, init, verify};

    fn founders(tmp: &Path, orgs: &[(&str, MemberRole)]) -> Vec<InitReport> {
        orgs.iter()
            .map(|(org, role)| {
                init(&InitOptions {
                    org: org.to_string(),
                    name: None,
                    role: *role,
                    dir: Some(tmp.join(org)),
                    listen: Vec::new(),
                    api_port: None,
                    advertise: vec!["/ip4/127.0.0.1/tcp/4610".parse().expect("addr")],
                })
                .expect("init")
            })
            .collect()
    }

    fn draft(tmp: &Path, nodes: &[InitReport]) -> PathBuf {
        let out = tmp.join("roster.draft");
        create(&CreateOptions {
            network: "test-net".into(),
            members: nodes.iter().rev().map(|r| r.member_file.clone()).collect(),
            quorum: None,
            out: out.clone(),
        })
        .expect("create");
        out
    }

    #[test]
    fn create_sign_install_then_the_config_loads() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let nodes = founders(
            tmp.path(),
            &[
                ("zeta", MemberRole::Member),
                ("alpha", MemberRole::Member),
                ("obs", MemberRole::Observer),
            ],
        );
        let out = draft(tmp.path(), &nodes);
        let doc = document(&out, &read_roster(&out).expect("read")).expect("doc");
        let orgs: Vec<&str> = doc.members.iter().map(|m| m.org.as_str()).collect();
        assert_eq!(orgs, ["alpha", "obs", "zeta"]);

        let err = install(&out, &nodes[0].config, false).expect_err("unsigned");
        assert!(err.to_string().contains("missing the signature"), "{err}");
        let err = sign(&out, &nodes[2].org_key).expect_err("observer");
        assert!(err.to_string().contains("observer"), "{err}");

        for node in &nodes[..2] {
            let report = sign(&out, &node.org_key).expect("sign");
            assert!(!report.already_signed);
        }
        assert!(sign(&out, &nodes[0].org_key).expect("again").already_signed);
        assert!(verify(&out, None, &[]).expect("summary").valid);

        for node in &nodes {
            let report = install(&out, &node.config, false).expect("install");
            assert!(report.warnings.is_empty(), "{:?}", report.warnings);
            let config = config_file::load(&node.config).expect("loads");
            assert_eq!(config.genesis_hash.to_hex(), report.genesis_hash);
            // Installing the same genesis again is harmless.
            install(&out, &node.config, false).expect("idempotent");
        }
    }

    #[test]
    fn install_refuses_a_different_genesis_and_a_foreign_org_unless_it_joins() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let nodes = founders(
            tmp.path(),
            &[("alpha", MemberRole::Member), ("beta", MemberRole::Member)],
        );
        let first = tmp.path().join("first");
        std::fs::create_dir(&first).expect("dir");
        let one = draft(&first, &nodes[..1]);
        sign(&one, &nodes[0].org_key).expect("sign");
        let err = install(&one, &nodes[1].config, false).expect_err("beta not on it");
        assert!(matches!(err, SetupError::WrongKey(_)), "{err}");
        assert!(err.to_string().contains("--join"), "{err}");
        install(&one, &nodes[0].config, false).expect("install");
        // Joining an existing consortium is said explicitly.
        let joined = install(&one, &nodes[1].config, true).expect("beta joins");
        assert!(joined.joining && joined.org == "beta", "{joined:?}");
        config_file::load(&nodes[1].config).expect("a joining node's config loads");

        let two = draft(tmp.path(), &nodes);
        for node in &nodes {
            sign(&two, &node.org_key).expect("sign");
        }
        let err = install(&two, &nodes[0].config, false).expect_err("different genesis");
        assert!(err.to_string().contains("already pins"), "{err}");
    }

    #[test]
    fn create_refuses_duplicates_bad_quorum_and_existing_output() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let nodes = founders(tmp.path(), &[("alpha", MemberRole::Member)]);
        let base = CreateOptions {
            network: "test-net".into(),
            members: vec![nodes[0].member_file.clone()],
            quorum: None,
            out: tmp.path().join("d"),
        };
        let twice = CreateOptions {
            members: vec![nodes[0].member_file.clone(), nodes[0].member_file.clone()],
            ..base.clone()
        };
        assert!(matches!(create(&twice), Err(SetupError::DuplicateMember { .. })));
        let low = CreateOptions {
            quorum: Some(parse_quorum("1/3").expect("parses")),
            ..base.clone()
        };
        assert!(matches!(create(&low), Err(SetupError::DraftInvalid(_))));
        assert!(parse_quorum("two thirds").is_err());
        let bad_network = CreateOptions {
            network: "Test Net".into(),
            ..base.clone()
        };
        assert!(matches!(create(&bad_network), Err(SetupError::Argument(_))));
        create(&base).expect("create");
        assert!(matches!(create(&base), Err(SetupError::Exists { .. })));
    }

    #[test]
    fn update_adds_and_removes_and_verifies_against_the_chain() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let nodes = founders(
            tmp.path(),
            &[
                ("alpha", MemberRole::Member),
                ("beta", MemberRole::Member),
                ("gamma", MemberRole::Member),
                ("delta", MemberRole::Member),
            ],
        );
        let genesis = draft(tmp.path(), &nodes[..3]);
        for node in &nodes[..3] {
            sign(&genesis, &node.org_key).expect("sign");
        }
        let next = tmp.path().join("v2.draft");
        let mut options = UpdateOptions {
            from: genesis.clone(),
            members: vec![nodes[3].member_file.clone()],
            remove: vec!["gamma".into()],
            quorum: None,
            heads: Vec::new(),
            out: next.clone(),
        };
        // Regression (issue 10): gamma's key used to be retired with an
        // empty valid prefix, turning its whole history invalid. Its head
        // must now be given.
        let err = update(&options).expect_err("gamma's head is needed");
        assert!(
            err.to_string().contains("--head gamma=SEQ:ID") && err.to_string().contains("roster propose"),
            "{err}"
        );
        assert!(!next.exists());
        options.heads = vec![("gamma".into(), Some((2, Hash32([7; 32]))))];
        let proposal = update(&options).expect("update");
        let doc = &proposal.doc;
        assert_eq!(doc.version, 2);
        let orgs: Vec<&str> = doc.members.iter().map(|m| m.org.as_str()).collect();
        assert_eq!(orgs, ["alpha", "beta", "delta"]);
        let retired = &doc.retired_keys()[0];
        assert_eq!(
            (retired.org.as_str(), retired.last_seq, retired.last_id),
            ("gamma", 2, Some(Hash32([7; 32])))
        );

        // gamma is removed by this update but still votes as a member of version 1.
        sign(&next, &nodes[2].org_key).expect("gamma signs");
        sign(&next, &nodes[0].org_key).expect("alpha signs");
        let summary = verify(&next, None, std::slice::from_ref(&genesis)).expect("summary");
        assert!(!summary.valid, "2 of 3 is not more than 2/3");
        assert_eq!(summary.missing_signatures, vec!["beta".to_string()]);
        sign(&next, &nodes[1].org_key).expect("beta signs");
        assert!(
            verify(&next, None, std::slice::from_ref(&genesis))
                .expect("summary")
                .valid
        );
        let summary = verify(&next, None, &[]).expect("summary");
        assert!(!summary.valid);
        assert!(summary.error.unwrap_or_default().contains("--current"));
    }
}
