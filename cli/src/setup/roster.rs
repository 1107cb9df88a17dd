//! `riskmesh roster …`: create, sign, verify, show, install and update the
//! consortium roster; argument structures and what each subcommand prints.

use super::{emit, emit_json};
use crate::analyst::text::table;
use crate::analyst::{CliError, block_on};
use riskmesh_node::setup::{self, CreateOptions, RosterSummary, SetupError, UpdateOptions};
use riskmesh_protocol::Hash32;
use riskmesh_protocol::roster::Policy;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Arguments of `riskmesh roster`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Build, sign, check and install the consortium roster, and change it later (create, sign, \
    verify, show, install; propose, status, apply; update)",
    long_about = "Build, sign, check and install the consortium roster, and change it later. Standing up \
    a consortium: every founder runs `riskmesh init` and sends member.json to one founder, who runs \
    `roster create`; the draft goes round and each founding member runs `roster sign`; anyone checks it \
    with `roster verify`; every node operator runs `roster install`. Changing it (add, remove, rotate a \
    key, revoke a compromised key): one operator runs `roster propose` against their running node; the \
    draft goes round and enough members run `roster sign` (`roster status DRAFT` says who is missing); \
    one operator runs `roster apply DRAFT`, and the nodes pass the new version on to each other.",
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct RosterArgs {
    /// What to do with a roster.
    #[command(subcommand)]
    pub command: RosterCommand,
}

/// A `riskmesh roster` subcommand.
#[derive(Debug, clap::Subcommand)]
pub enum RosterCommand {
    /// Draft an unsigned genesis roster (version 1) from the founders' member.json files.
    Create(CreateArgs),
    /// Add your organization's signature to a roster draft, in place.
    #[command(
        long_about = "Add your organization's signature to a roster file, in place (written to a \
    temporary file and renamed, so the file is never half-written). Signing twice changes nothing. \
    Check what you sign first with `riskmesh roster show FILE`."
    )]
    Sign(SignArgs),
    /// Check a roster: as a genesis (every founding member signed) or, with
    /// --current, as an update with a quorum. Exits non-zero if invalid.
    Verify(VerifyArgs),
    /// Show a roster's participants, keys, nodes, addresses and signatures.
    Show(ShowArgs),
    /// Copy a fully signed genesis into a node directory and pin its hash in config.toml.
    #[command(
        long_about = "Verify FILE as a fully signed genesis, copy it into the node directory (the \
    config's `genesis` path) and set genesis_hash in config.toml, keeping its comments. Refuses if the \
    config already pins a different genesis or this organization is not on the roster. Installing the \
    same roster again is harmless."
    )]
    Install(InstallArgs),
    /// Draft the next roster version from the roster in force on your running node.
    #[command(long_about = PROPOSE_LONG_ABOUT, after_help = PROPOSE_EXAMPLES)]
    Propose(super::roster_change::ProposeArgs),
    /// Show the roster in force on your node; with DRAFT, who has signed it, who
    /// is missing and whether it would apply now.
    #[command(
        long_about = "Show the roster in force on your node: version, hash, participants, retired \
    keys, and who must sign the next version. With DRAFT (a file from `roster propose`, signed or not): \
    whether it follows the version in force, which members have signed, which are missing, how many \
    more signatures the quorum needs, and whether it would apply now (the node runs the protocol's \
    full check without applying it). Exits 0 either way; see `would_apply` with --json."
    )]
    Status(super::roster_change::StatusArgs),
    /// Offer a signed draft to your node: it applies it and passes it on to the other nodes.
    #[command(
        long_about = "Offer a signed draft to your node. If it is the valid next version (it follows \
    the version in force and carries signatures from more than the quorum of that version's members), \
    the node puts it in force, stores it and gossips it; every other node applies it on receipt, and \
    disconnects nodes that are no longer on the roster. Otherwise nothing changes and the command says \
    why (for example how many signatures are missing and whose)."
    )]
    Apply(super::roster_change::ApplyArgs),
    /// Draft the next roster version offline, from a roster file.
    #[command(
        long_about = "Draft the roster version after FROM without a running node: member.json files \
    add organizations or replace the entry of the same org (new keys, nodes or addresses); --remove \
    drops an org. A key that leaves the roster is retired with the part of its log that stays valid, \
    which this command cannot see: give it with --head ORG=SEQ:ID for each leaving org (or ORG=0 if it \
    published nothing). Prefer `riskmesh roster propose`, which reads the heads from your running node. \
    The draft names FROM's hash as prev and needs signatures from more than the quorum of FROM's \
    members; check it with `riskmesh roster verify DRAFT --current <genesis> [--current <update>…]`."
    )]
    Update(UpdateArgs),
}

const PROPOSE_LONG_ABOUT: &str = "Draft the roster version after the one in force on your running \
    node (read through its local API, like the analyst commands) and write it, unsigned, to --out. \
    --member FILE adds an organization, or replaces the entry of the same org: a new signing key in \
    it is a key rotation (a new role needs a new key too). --remove ORG drops one. Every signing key \
    that leaves the roster is retired with the part of its log that stays valid: up to the head your \
    node holds for it, so wait until your node has caught up with that org (`riskmesh status`). \
    --compromised ORG:SEQ declares a leaked key: only its entries up to SEQ stay valid (0: none). It \
    names ORG's current key, which must leave in the same proposal (--member with a new key, or \
    --remove), or else ORG's retired key (or give the key in hex instead of ORG). Prints the draft's \
    hash, what changes, and who must sign: more than the quorum of the members of the version in \
    force, each with `riskmesh roster sign DRAFT --key <their org.key>`. Then `roster status DRAFT`, \
    and `roster apply DRAFT`.";

const PROPOSE_EXAMPLES: &str = "Examples:\n  \
    riskmesh roster propose --remove inflection --out v2.draft\n  \
    riskmesh roster propose --member newlab/member.json --out v3.draft\n  \
    riskmesh roster propose --member google-new/member.json --out v4.draft   (rotate google's key)\n  \
    riskmesh roster propose --member meta-new/member.json --compromised meta:41 --out v5.draft";

/// Arguments of `riskmesh roster create`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  riskmesh roster create --network acme-consortium \\\n    \
    --member acme/member.json --member beta/member.json --member gamma/member.json --out roster.draft"
)]
pub struct CreateArgs {
    /// Network id: lowercase letters, digits, '-' and '.'.
    #[arg(long, value_name = "NAME")]
    pub network: String,
    /// A founder's member.json (repeat, or list several, one per organization).
    #[arg(long = "member", value_name = "FILE", num_args = 1.., required = true)]
    pub members: Vec<PathBuf>,
    /// Share of members that must sign later roster changes: strictly more
    /// than N/D (at least 1/2, below 1).
    #[arg(long, value_name = "N/D", default_value = "2/3", value_parser = setup::parse_quorum)]
    pub quorum: Policy,
    /// Where to write the unsigned draft (must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `riskmesh roster sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The roster file (a draft from `roster create` or `roster update`).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Your organization's key file (org.key from `riskmesh init`).
    #[arg(long, value_name = "ORG_KEY")]
    pub key: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `riskmesh roster verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The roster file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Genesis hash (64 hex digits) the genesis must have.
    #[arg(long, value_name = "HASH", value_parser = parse_hash)]
    pub pin: Option<Hash32>,
    /// The roster chain FILE follows, genesis first then each update in
    /// order (repeat); checks FILE as an update with a quorum.
    #[arg(long = "current", value_name = "ROSTER")]
    pub current: Vec<PathBuf>,
    /// Print the result as JSON (still exits non-zero if invalid).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `riskmesh roster show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The roster file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Print as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `riskmesh roster install`.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// The signed genesis roster.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The node's config.toml.
    #[arg(long, value_name = "CONFIG")]
    pub config: PathBuf,
    /// This organization is joining an existing consortium and is not on the
    /// genesis: its node starts from it, fetches the roster updates from the
    /// other nodes, and can publish once one that lists it is in force.
    #[arg(long)]
    pub join: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `riskmesh roster update`.
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// The current roster version.
    #[arg(long, value_name = "ROSTER")]
    pub from: PathBuf,
    /// member.json to add, or to replace the entry of the same org (repeat).
    #[arg(long = "member", value_name = "FILE")]
    pub members: Vec<PathBuf>,
    /// Org id to remove (repeat).
    #[arg(long = "remove", value_name = "ORG")]
    pub remove: Vec<String>,
    /// New quorum N/D [default: unchanged].
    #[arg(long, value_name = "N/D", value_parser = setup::parse_quorum)]
    pub quorum: Option<Policy>,
    /// For each org whose key leaves: the head of its log as your node holds
    /// it, ORG=SEQ:ID (seq and head id from `riskmesh status --json`), or
    /// ORG=0 if it published nothing (repeat).
    #[arg(long = "head", value_name = "ORG=SEQ:ID", value_parser = setup::parse_head)]
    pub heads: Vec<(String, setup::LogHead)>,
    /// Where to write the unsigned draft (must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_hash(text: &str) -> Result<Hash32, String> {
    Hash32::from_hex(text.trim()).ok_or_else(|| "expected 64 hex digits (a roster hash)".to_string())
}

/// Runs a `riskmesh roster` subcommand.
pub fn run_roster(args: &RosterArgs) -> Result<(), CliError> {
    match &args.command {
        RosterCommand::Propose(a) => block_on(super::roster_change::propose(a)),
        RosterCommand::Status(a) => block_on(super::roster_change::status(a)),
        RosterCommand::Apply(a) => block_on(super::roster_change::apply(a)),
        command => Ok(run_offline(command)?),
    }
}

/// The subcommands that work on files alone.
fn run_offline(command: &RosterCommand) -> Result<(), SetupError> {
    match command {
        RosterCommand::Propose(_) | RosterCommand::Status(_) | RosterCommand::Apply(_) => Ok(()),
        RosterCommand::Create(a) => {
            let (doc, hash) = setup::create(&CreateOptions {
                network: a.network.clone(),
                members: a.members.clone(),
                quorum: Some(a.quorum),
                out: a.out.clone(),
            })?;
            draft_output(&a.out, doc.version, &doc.members, hash, a.json)
        }
        RosterCommand::Update(a) => {
            let proposal = setup::update(&UpdateOptions {
                from: a.from.clone(),
                members: a.members.clone(),
                remove: a.remove.clone(),
                quorum: a.quorum,
                heads: a.heads.clone(),
                out: a.out.clone(),
            })?;
            if a.json {
                return emit_json(&super::roster_change::ProposalOutput::new(
                    &a.out,
                    &proposal,
                    Vec::new(),
                ));
            }
            emit(&super::roster_change::proposal_text(&a.out, &proposal, &[]))
        }
        RosterCommand::Sign(a) => {
            let report = setup::sign(&a.file, &a.key)?;
            if a.json {
                return emit_json(&report);
            }
            let what = if report.already_signed {
                "had already signed; file unchanged"
            } else {
                "signed"
            };
            // An update's signers are the voters of the version in force,
            // which the running node knows; a genesis's are in the file.
            let check = match report.version {
                1 => "roster verify",
                _ => "roster status",
            };
            emit(&format!(
                "`{}` {what}: {} (hash {})\nCheck who is still missing with `riskmesh {check} {}`.\n",
                report.org,
                report.file.display(),
                report.hash,
                report.file.display()
            ))
        }
        RosterCommand::Verify(a) => {
            let summary = setup::verify(&a.file, a.pin, &a.current)?;
            if a.json {
                emit_json(&summary)?;
            } else {
                emit(&verify_text(&summary))?;
            }
            verdict(&summary)
        }
        RosterCommand::Show(a) => {
            let summary = setup::verify(&a.file, None, &[])?;
            if a.json {
                return emit_json(&summary);
            }
            emit(&show_text(&summary))
        }
        RosterCommand::Install(a) => {
            let report = setup::install(&a.file, &a.config, a.join)?;
            for warning in &report.warnings {
                eprintln!("warning: {warning}");
            }
            if a.json {
                return emit_json(&report);
            }
            emit(&format!(
                "Installed genesis of network `{}` for `{}`:\n  roster        {}\n  genesis_hash  {} (set in {})\n{}",
                report.network,
                report.org,
                report.genesis.display(),
                report.genesis_hash,
                report.config.display(),
                if report.joining {
                    "  joining       not on the genesis: the node fetches the roster updates from the \
                     genesis nodes and can publish once one that lists this organization is in force \
                     (`riskmesh status` shows `membership`)\n"
                } else {
                    ""
                }
            ))
        }
    }
}

/// Turns an invalid summary into the command's error (non-zero exit).
fn verdict(summary: &RosterSummary) -> Result<(), SetupError> {
    if summary.valid {
        return Ok(());
    }
    Err(SetupError::RosterInvalid {
        path: summary.file.clone(),
        reason: summary.error.clone().unwrap_or_else(|| "not valid".into()),
    })
}

fn draft_output(
    out: &Path,
    version: u64,
    members: &[riskmesh_protocol::roster::Member],
    hash: Hash32,
    json: bool,
) -> Result<(), SetupError> {
    #[derive(Serialize)]
    struct Draft<'a> {
        file: &'a Path,
        version: u64,
        hash: String,
        members: Vec<&'a str>,
    }
    let orgs: Vec<&str> = members.iter().map(|m| m.org.as_str()).collect();
    if json {
        return emit_json(&Draft {
            file: out,
            version,
            hash: hash.to_hex(),
            members: orgs,
        });
    }
    emit(&format!(
        "Wrote unsigned roster version {version} to {}\n  hash     {hash}\n  members  {}\n\
         Next: each member signs it with `riskmesh roster sign {} --key <their org.key>`.\n",
        out.display(),
        orgs.join(", "),
        out.display()
    ))
}

/// The verdict line; `with_reason` adds why it failed (`verify` prints the
/// reason as its error instead).
fn status_line(s: &RosterSummary, with_reason: bool) -> String {
    match (&s.error, s.valid) {
        (_, true) => format!("valid ({})", s.checked_as),
        (Some(error), false) if with_reason => format!("NOT VALID ({}): {error}", s.checked_as),
        (_, false) => format!("NOT VALID ({})", s.checked_as),
    }
}

fn header_text(s: &RosterSummary) -> String {
    let mut text = format!(
        "roster    {}\nnetwork   {}\nversion   {}\nhash      {}\n",
        s.file.display(),
        s.network,
        s.version,
        s.hash
    );
    if let Some(prev) = &s.prev {
        text.push_str(&format!("prev      {prev}\n"));
    }
    text.push_str(&format!(
        "quorum    more than {}\ncreated   {} (unix ms)\n",
        s.quorum, s.created_ms
    ));
    text
}

fn verify_text(s: &RosterSummary) -> String {
    let list = |items: &[String]| {
        if items.is_empty() {
            "(none)".to_string()
        } else {
            items.join(", ")
        }
    };
    let members: Vec<String> = s.members.iter().map(|m| m.org.clone()).collect();
    format!(
        "{}members   {}\nsigned    {}\nmissing   {}\nstatus    {}\n",
        header_text(s),
        list(&members),
        list(&s.signed_by),
        list(&s.missing_signatures),
        status_line(s, false)
    )
}

fn show_text(s: &RosterSummary) -> String {
    let headings = ["ORG", "ROLE", "SIGNING KEY", "SIGNED", "NODES", "ADDRS", "NAME"];
    let rows: Vec<[String; 7]> = s
        .members
        .iter()
        .map(|m| {
            [
                m.org.clone(),
                m.role.as_str().to_string(),
                format!("{}…", &m.signing_key[..m.signing_key.len().min(16)]),
                m.signature.as_str().to_string(),
                m.nodes.join(","),
                m.addrs.join(" "),
                m.name.clone(),
            ]
        })
        .collect();
    let mut text = header_text(s);
    text.push('\n');
    text.push_str(&table(headings, &rows));
    text.push_str(&format!("\nstatus    {}\n", status_line(s, true)));
    text
}
