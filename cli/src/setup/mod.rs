//! `riskmesh init` and `riskmesh roster …`: clap structures, human tables
//! and `--json`. The work itself is in [`riskmesh_node::setup`]; `roster`'s
//! subcommands are in [`roster`].

mod roster;
mod roster_change;

pub use roster::{RosterArgs, run_roster};
pub(crate) use roster_change::membership_text;

use libp2p::Multiaddr;
use riskmesh_node::config::DEFAULT_P2P_PORT;
use riskmesh_node::setup::{self, InitOptions, InitReport, MemberRole, SetupError};
use serde::Serialize;
use std::io::{self, Write};
use std::path::PathBuf;

/// Arguments of `riskmesh init`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Create a node directory for an organization: fresh keys, member.json (its public roster \
    entry for the other founders) and config.toml",
    long_about = "Create a node directory for one organization: a fresh organization key (org.key, \
    the organization's identity, mode 0600), a libp2p node key (node.key, mode 0600), member.json \
    (this organization's public roster entry, to send to the other founders), config.toml and an \
    empty database. The config's genesis_hash stays empty until the consortium roster is signed and \
    installed with `riskmesh roster install`. Refuses to overwrite an existing key; never prompts.",
    after_help = "Example:\n  riskmesh init --org acme --name \"Acme AI\" --advertise /dns4/riskmesh.acme.example/tcp/4610"
)]
pub struct InitArgs {
    /// Organization id on the roster: lowercase letters, digits and '-'.
    #[arg(long, value_name = "ID")]
    pub org: String,
    /// Display name on the roster [default: the org id].
    #[arg(long)]
    pub name: Option<String>,
    /// Role on the roster: a member publishes at every tier and signs roster
    /// changes; an observer reads what is open to it.
    #[arg(long, value_enum, default_value_t = RoleArg::Member)]
    pub role: RoleArg,
    /// Node directory to create [default: ./riskmesh-ID].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// libp2p listen address written to config.toml (repeat for several)
    /// [default: /ip4/0.0.0.0/tcp/4610].
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<Multiaddr>,
    /// Local HTTP API port written to config.toml (bound to 127.0.0.1) [default: 4620].
    #[arg(long, value_name = "N")]
    pub api_port: Option<u16>,
    /// Address other members' nodes can dial, put on the roster via
    /// member.json with /p2p/PEER_ID appended (repeat for several).
    #[arg(long, value_name = "MULTIADDR")]
    pub advertise: Vec<Multiaddr>,
    /// Print what was created as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A participant's role, as `--role` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleArg {
    /// Publishes at every tier, signs roster changes, approves releases.
    Member,
    /// Reads what is open to it; publishes at the public and consortium tiers.
    Observer,
}

impl From<RoleArg> for MemberRole {
    fn from(role: RoleArg) -> MemberRole {
        match role {
            RoleArg::Member => MemberRole::Member,
            RoleArg::Observer => MemberRole::Observer,
        }
    }
}

/// Writes text to standard output; a closed pipe is an error, not a panic.
pub(crate) fn emit(text: &str) -> Result<(), SetupError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|error| SetupError::Io {
            action: "write to".into(),
            path: PathBuf::from("standard output"),
            error,
        })
}

pub(crate) fn emit_json(value: &impl Serialize) -> Result<(), SetupError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| SetupError::Io {
        action: "encode JSON for".into(),
        path: PathBuf::from("standard output"),
        error: e.into(),
    })?;
    text.push('\n');
    emit(&text)
}

/// Runs `riskmesh init`.
pub fn run_init(args: &InitArgs) -> Result<(), SetupError> {
    let report = setup::init(&InitOptions {
        org: args.org.clone(),
        name: args.name.clone(),
        role: args.role.into(),
        dir: args.dir.clone(),
        listen: args.listen.clone(),
        api_port: args.api_port,
        advertise: args.advertise.clone(),
    })?;
    if report.addrs.is_empty() {
        eprintln!(
            "note: {} lists no address other nodes can dial. Before the roster is created, add \
             \"/dns4/<host>/tcp/{DEFAULT_P2P_PORT}/p2p/{}\" (your reachable host and port) to its addrs.",
            report.member_file.display(),
            report.peer_id
        );
    }
    if args.json {
        return emit_json(&report);
    }
    emit(&init_text(&report))
}

fn init_text(r: &InitReport) -> String {
    let dir = r.dir.display();
    let addrs = if r.addrs.is_empty() {
        "(none)".to_string()
    } else {
        r.addrs.join(" ")
    };
    format!(
        "Initialized org `{org}` ({role}) in {dir}\n\
         \x20 signing key     {signing}\n\
         \x20 encryption key  {encryption}\n\
         \x20 node peer id    {peer}\n\
         \x20 addresses       {addrs}\n\
         \x20 files           {org_key} (secret), {node_key} (secret), {member}, {config}, {db}\n\
         \n\
         Next:\n\
         \x20 1. Send {member} to the other founders (public keys only; no secrets).\n\
         \x20 2. One founder drafts the roster from everyone's member.json:\n\
         \x20      riskmesh roster create --network <NAME> --member <a/member.json> --member <b/member.json> ... --out roster.draft\n\
         \x20 3. Each founding member checks and signs the same draft in turn:\n\
         \x20      riskmesh roster show roster.draft\n\
         \x20      riskmesh roster sign roster.draft --key {org_key}\n\
         \x20 4. Once `riskmesh roster verify roster.draft` passes, every node installs it:\n\
         \x20      riskmesh roster install roster.draft --config {config}\n",
        org = r.org,
        role = r.role.as_str(),
        signing = r.signing_key,
        encryption = r.encryption_key,
        peer = r.peer_id,
        org_key = r.org_key.display(),
        node_key = r.node_key.display(),
        member = r.member_file.display(),
        config = r.config.display(),
        db = r.database.display(),
    )
}
