//! `riskmesh roster propose`, `status` and `apply`: changing the roster of
//! a running consortium through the node's local API. The drafting rules
//! are `riskmesh_node::setup`'s (`RosterChange`); whether an update applies
//! is the protocol's check, run by the node (`POST /v1/roster`).

use super::{emit, emit_json};
use crate::analyst::{CliError, Common, client};
use crate::client::{ApiClient, ClientError};
use riskmesh_node::api::views::Membership;
use riskmesh_node::api::{OfferOutcome, RosterAnswer, RosterOffer, RosterView};
use riskmesh_node::setup::{
    self, Compromise, DraftStatus, LogHead, MemberRole, Proposal, RosterChange, draft_status, read_roster,
};
use riskmesh_protocol::roster::{Member, Policy, RosterDoc, SignedRoster};
use riskmesh_protocol::{Hash32, OrgKey};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Arguments of `riskmesh roster propose`.
#[derive(Debug, clap::Args)]
pub struct ProposeArgs {
    /// Org id to remove (repeat).
    #[arg(long = "remove", value_name = "ORG")]
    pub remove: Vec<String>,
    /// member.json that adds an organization, or replaces the entry of the
    /// same org: a new signing key in it rotates the org's key (repeat).
    #[arg(long = "member", value_name = "FILE")]
    pub members: Vec<PathBuf>,
    /// A leaked key: only the org's entries up to SEQ stay valid (0: none).
    /// ORG's current key (which must leave in this proposal) or its retired
    /// key; a key in hex instead of ORG names it exactly (repeat).
    #[arg(long = "compromised", value_name = "ORG:SEQ", value_parser = parse_compromised)]
    pub compromised: Vec<(String, u64)>,
    /// New quorum N/D for later changes [default: unchanged].
    #[arg(long, value_name = "N/D", value_parser = setup::parse_quorum)]
    pub quorum: Option<Policy>,
    /// Where to write the unsigned draft (must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// How to reach the node, and output.
    #[command(flatten)]
    pub common: Common,
}

/// Arguments of `riskmesh roster status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// A draft of the next version (from `roster propose`), signed or not.
    #[arg(value_name = "DRAFT")]
    pub draft: Option<PathBuf>,
    /// How to reach the node, and output.
    #[command(flatten)]
    pub common: Common,
}

/// Arguments of `riskmesh roster apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The signed draft.
    #[arg(value_name = "DRAFT")]
    pub draft: PathBuf,
    /// How to reach the node, and output.
    #[command(flatten)]
    pub common: Common,
}

fn parse_compromised(text: &str) -> Result<(String, u64), String> {
    let usage =
        || format!("`{text}` must look like ORG:SEQ (for example meta:41, or meta:0 when nothing is valid)");
    let (target, seq) = text.rsplit_once(':').ok_or_else(usage)?;
    let seq = seq.trim().parse::<u64>().map_err(|_| usage())?;
    let target = target.trim();
    if target.is_empty() {
        return Err(usage());
    }
    Ok((target.to_string(), seq))
}

/// The roster in force on the node, decoded from the bytes it serves and
/// checked against the hash it names.
fn in_force(view: &RosterView) -> Result<(RosterDoc, Hash32), CliError> {
    let protocol = |why: String| CliError::Client(ClientError::Protocol(why));
    let bytes = hex::decode(&view.signed).map_err(|e| protocol(format!("the roster is not hex: {e}")))?;
    let doc = SignedRoster::from_bytes(&bytes)
        .and_then(|signed| signed.document())
        .map_err(|e| protocol(format!("the roster does not decode: {e}")))?;
    let hash = doc.hash();
    if hash.to_hex() != view.hash {
        return Err(protocol(
            "the roster's bytes do not have the hash the node names".into(),
        ));
    }
    Ok((doc, hash))
}

fn key_hex(key: &OrgKey) -> String {
    key.to_hex()
}

/// The id of the entry at `seq` of `key`'s log, from the node.
async fn entry_id(client: &ApiClient, target: &str, key: &OrgKey, seq: u64) -> Result<Hash32, CliError> {
    let entry = client.log_entry(&key_hex(key), seq).await.map_err(|e| match e {
        ClientError::Api {
            status: 404, message, ..
        } => CliError::Input(format!(
            "--compromised {target}:{seq}: your node holds no entry at seq {seq} of that key's log, so \
             it cannot name the last valid one ({message})"
        )),
        other => other.into(),
    })?;
    Hash32::from_hex(&entry.entry.id)
        .ok_or_else(|| CliError::Client(ClientError::Protocol(format!("entry id {}", entry.entry.id))))
}

/// What `propose` (and the offline `update`) print with `--json`.
#[derive(Debug, Serialize)]
pub struct ProposalOutput<'a> {
    /// The draft file.
    pub file: &'a Path,
    /// The proposal.
    #[serde(flatten)]
    pub proposal: &'a Proposal,
    /// Things to check before signing.
    pub warnings: Vec<String>,
}

impl<'a> ProposalOutput<'a> {
    /// The output for `proposal` written to `file`.
    pub fn new(file: &'a Path, proposal: &'a Proposal, warnings: Vec<String>) -> Self {
        ProposalOutput {
            file,
            proposal,
            warnings,
        }
    }
}

/// `riskmesh roster propose`.
pub(super) async fn propose(args: &ProposeArgs) -> Result<(), CliError> {
    let change = RosterChange::read(&args.members, args.remove.clone(), args.quorum)?;
    let client = client(&args.common)?;
    let view = client.roster().await?;
    let (current, hash) = in_force(&view)?;
    let mut compromised = Vec::new();
    for (target, seq) in &args.compromised {
        let (key, _) = change.compromise_target(&current, target, *seq)?;
        let last_id = match seq {
            0 => None,
            seq => Some(entry_id(&client, target, &key, *seq).await?),
        };
        compromised.push(Compromise {
            key,
            last_seq: *seq,
            last_id,
        });
    }
    let head = |m: &Member| -> Result<LogHead, setup::SetupError> {
        let key = key_hex(&m.signing_key);
        let held = view.heads.iter().find(|h| h.key == key);
        Ok(held.and_then(|h| Some((h.seq, Hash32::from_hex(h.id.as_deref()?)?))))
    };
    let proposal = change.draft(
        &current,
        hash,
        &head,
        &compromised,
        riskmesh_node::runtime::now_ms(),
    )?;
    // A key retired at a head this node has not caught up with would turn
    // the entries it lacks invalid everywhere.
    let warnings: Vec<String> = proposal
        .retired
        .iter()
        .filter_map(|r| {
            let held = view.heads.iter().find(|h| h.key == r.key)?;
            (r.reason != "compromised" && held.best_known_seq > held.seq).then(|| {
                format!(
                    "your node holds `{}`'s log up to seq {}, but a peer announced seq {}: the entries \
                     after {} would become invalid. Wait until `riskmesh status` shows no lag for `{}`, \
                     delete {} and propose again",
                    r.org,
                    held.seq,
                    held.best_known_seq,
                    held.seq,
                    r.org,
                    args.out.display()
                )
            })
        })
        .collect();
    setup::write_proposal(&proposal, &args.out)?;
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    if args.common.json {
        return Ok(emit_json(&ProposalOutput::new(&args.out, &proposal, warnings))?);
    }
    Ok(emit(&proposal_text(&args.out, &proposal, &warnings))?)
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".into()
    } else {
        items.join(", ")
    }
}

/// The human summary of a drafted proposal.
pub fn proposal_text(out: &Path, p: &Proposal, warnings: &[String]) -> String {
    let mut text = format!(
        "Wrote unsigned roster version {} to {}\n  hash       {}\n  follows    version {} ({})\n",
        p.version,
        out.display(),
        p.hash,
        p.version - 1,
        p.prev
    );
    let mut line = |name: &str, items: &[String]| {
        if !items.is_empty() {
            text.push_str(&format!("  {name:<10} {}\n", items.join(", ")));
        }
    };
    line("adds", &p.added);
    line("removes", &p.removed);
    line("re-keys", &p.rekeyed);
    line("updates", &p.updated);
    let retired: Vec<String> = p
        .retired
        .iter()
        .map(|r| match r.last_seq {
            0 => format!("{} ({}, nothing stays valid)", r.org, r.reason),
            seq => format!("{} ({}, valid up to seq {seq})", r.org, r.reason),
        })
        .collect();
    line("retires", &retired);
    if let Some(quorum) = &p.new_quorum {
        text.push_str(&format!("  quorum     more than {quorum} for later changes\n"));
    }
    text.push_str(&format!(
        "  members    {}\n\nIt needs {} signatures from these members of the version in force: {}.\n\
         Each runs `riskmesh roster sign {} --key <their org.key>` (check it first with `riskmesh roster \
         show {}`); `riskmesh roster status {}` says who is missing, then `riskmesh roster apply {}`.\n",
        list(&p.members),
        p.signatures_needed,
        list(&p.voters),
        out.display(),
        out.display(),
        out.display(),
        out.display()
    ));
    for warning in warnings {
        text.push_str(&format!("\nWARNING: {warning}\n"));
    }
    text
}

/// What `roster status DRAFT` says about a draft.
#[derive(Debug, Serialize)]
struct DraftReport {
    file: PathBuf,
    #[serde(flatten)]
    status: DraftStatus,
    /// The node's verdict, without applying it.
    would_apply: bool,
    /// Why it would not apply, in the node's words.
    refusal: Option<String>,
    /// The protocol's label for that (`no_quorum`, `not_successor`, …).
    roster_error: Option<String>,
    /// The draft is the version in force already.
    in_force: bool,
}

#[derive(Debug, Serialize)]
struct StatusOutput<'a> {
    roster: &'a RosterView,
    draft: Option<DraftReport>,
}

/// Reads a draft file and describes it against the roster in force.
fn read_draft(path: &Path, view: &RosterView) -> Result<(SignedRoster, DraftStatus), CliError> {
    let signed = read_roster(path)?;
    let doc = signed.document().map_err(|error| setup::SetupError::RosterFile {
        path: path.to_path_buf(),
        error,
    })?;
    let (current, hash) = in_force(view)?;
    let status = draft_status(&current, hash, &signed, &doc);
    Ok((signed, status))
}

fn offer(signed: &SignedRoster, dry_run: bool) -> RosterOffer {
    RosterOffer {
        signed: hex::encode(signed.to_bytes()),
        dry_run,
    }
}

/// `riskmesh roster status [DRAFT]`.
pub(super) async fn status(args: &StatusArgs) -> Result<(), CliError> {
    let client = client(&args.common)?;
    let view = client.roster().await?;
    let draft = match &args.draft {
        None => None,
        Some(path) => {
            let (signed, status) = read_draft(path, &view)?;
            let (would_apply, in_force, refusal, roster_error) =
                match client.offer_roster(&offer(&signed, true)).await {
                    Ok(RosterAnswer {
                        outcome: OfferOutcome::AlreadyInForce,
                        ..
                    }) => (false, true, None, None),
                    Ok(_) => (true, false, None, None),
                    Err(ClientError::Api {
                        status: 422,
                        message,
                        fields,
                    }) => (
                        false,
                        false,
                        Some(message),
                        fields
                            .get("roster_error")
                            .and_then(|v| v.as_str())
                            .map(str::to_string),
                    ),
                    Err(other) => return Err(other.into()),
                };
            Some(DraftReport {
                file: path.clone(),
                status,
                would_apply,
                refusal,
                roster_error,
                in_force,
            })
        }
    };
    if args.common.json {
        return Ok(emit_json(&StatusOutput { roster: &view, draft })?);
    }
    let mut text = roster_text(&view);
    if let Some(draft) = &draft {
        text.push('\n');
        text.push_str(&draft_text(draft));
    }
    Ok(emit(&text)?)
}

fn roster_text(v: &RosterView) -> String {
    let members = v
        .participants
        .iter()
        .filter(|p| p.role == MemberRole::Member)
        .count();
    let orgs: Vec<String> = v.participants.iter().map(|p| p.org.clone()).collect();
    let mut text = format!(
        "roster        version {} ({})\nnetwork       {}\nthis node     {}\nparticipants  {} ({} members, {} observers): {}\n",
        v.version,
        v.hash,
        v.network,
        membership_text(v.membership),
        v.participants.len(),
        members,
        v.participants.len() - members,
        orgs.join(", ")
    );
    let retired: Vec<String> = v
        .retired
        .iter()
        .map(|r| format!("{} ({}, valid up to seq {})", r.org, r.reason, r.last_seq))
        .collect();
    if !retired.is_empty() {
        text.push_str(&format!("retired keys  {}\n", retired.join(", ")));
    }
    text.push_str(&format!(
        "next version  needs {} signatures (more than {} of {} members: {})\n",
        v.signatures_needed,
        v.quorum,
        v.voters.len(),
        v.voters.join(", ")
    ));
    text
}

/// How `status` and `roster status` name this node's standing.
pub(crate) fn membership_text(membership: Membership) -> &'static str {
    match membership {
        Membership::Member => "member",
        Membership::Joining => {
            "JOINING: this organization is on no roster version the node holds yet; it can publish \
             once an update that lists it arrives from the other nodes"
        }
        Membership::Retired => "RETIRED: this organization's key is retired; it can publish no more",
    }
}

fn draft_text(d: &DraftReport) -> String {
    let s = &d.status;
    let mut text = format!(
        "draft         {}: version {} ({})\n",
        d.file.display(),
        s.version,
        s.hash
    );
    text.push_str(&match &s.not_following {
        None => format!("follows       yes: the next version after {}\n", s.version - 1),
        Some(why) => format!("follows       NO: {why}\n"),
    });
    text.push_str(&format!(
        "signed        {} ({} of {} needed)\n",
        list(&s.signed),
        s.have,
        s.needed
    ));
    if !s.bad_signatures.is_empty() {
        text.push_str(&format!(
            "bad signature {} (they signed something else, or the file changed: they sign it again)\n",
            s.bad_signatures.join(", ")
        ));
    }
    if !s.not_voters.is_empty() {
        text.push_str(&format!(
            "not voters    {} (signatures that invalidate the update: start again from an unsigned draft)\n",
            s.not_voters.join(", ")
        ));
    }
    text.push_str(&format!("missing       {}\n", list(&s.missing)));
    text.push_str(&match s.more {
        0 => "needed        no more signatures\n".to_string(),
        1 => "needed        1 more signature\n".to_string(),
        n => format!("needed        {n} more signatures\n"),
    });
    text.push_str(&match (&d.refusal, d.in_force) {
        (_, true) => "would apply   it is the version in force already\n".to_string(),
        (None, false) => format!(
            "would apply   yes (checked by the node): `riskmesh roster apply {}`\n",
            d.file.display()
        ),
        (Some(why), false) => format!("would apply   no: {why}\n"),
    });
    text
}

/// `riskmesh roster apply DRAFT`.
pub(super) async fn apply(args: &ApplyArgs) -> Result<(), CliError> {
    let client = client(&args.common)?;
    let view = client.roster().await?;
    let (signed, status) = read_draft(&args.draft, &view)?;
    let answer = match client.offer_roster(&offer(&signed, false)).await {
        Ok(answer) => answer,
        Err(ClientError::Api {
            status: 422,
            message,
            fields,
        }) => {
            let kind = fields.get("roster_error").and_then(|v| v.as_str()).unwrap_or("");
            return Err(CliError::Input(refusal_text(
                &args.draft,
                kind,
                &message,
                &status,
                &view,
            )));
        }
        Err(other) => return Err(other.into()),
    };
    if args.common.json {
        return Ok(emit_json(&answer)?);
    }
    Ok(emit(&match answer.outcome {
        OfferOutcome::AlreadyInForce => format!(
            "Roster version {} ({}) is already in force on this node; nothing changed.\n",
            answer.version, answer.hash
        ),
        _ => format!(
            "Roster version {} ({}) is in force on this node, stored, and passed on to the other \
             nodes, which apply it on receipt. Check each with `riskmesh roster status`.\n",
            answer.version, answer.hash
        ),
    })?)
}

/// Why the node refused a draft, with what to do.
fn refusal_text(file: &Path, kind: &str, message: &str, s: &DraftStatus, view: &RosterView) -> String {
    let file = file.display();
    match kind {
        "no_quorum" => format!(
            "{} of {} member signatures; more than {} are required: need {} more (missing: {}). Each \
             of them runs `riskmesh roster sign {file} --key <their org.key>`; nothing was changed",
            s.have,
            view.voters.len(),
            view.quorum,
            s.more,
            list(&s.missing)
        ),
        "bad_signature" => format!(
            "{message}. A signature that does not verify means the signer signed another draft or the \
             file changed since; they sign {file} again"
        ),
        "unknown_signer" => format!(
            "{message}. Only the members of version {} in force sign the next version ({}); start \
             again from an unsigned draft",
            view.version,
            view.voters.join(", ")
        ),
        "not_successor" => format!(
            "{message}. Draft the change again from the roster in force (version {}) with `riskmesh \
             roster propose`",
            view.version
        ),
        _ => message.to_string(),
    }
}
