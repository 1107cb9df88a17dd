//! `publish`, `correct`, `retract` and `ack`: build a [`PublishRequest`]
//! from a TOML or JSON file (or stdin) and flags, send it, report the entry.
//! `publish --tier hazardous` adds the withheld fields and release policy.

use super::stix_in::{self, StixArgs};
use super::text::parse_time;
use super::{CliError, Common, client, emit, emit_json};
use crate::client::ApiClient;
use riskmesh_node::api::names::{Named, parse};
use riskmesh_node::api::views::{BodyView, EntryDetail};
use riskmesh_node::api::{PublishRequest, ReleaseRequest};
use riskmesh_protocol::body::AckStatus;
use riskmesh_protocol::limits::MAX_DETAILS_BYTES;
use riskmesh_protocol::redaction::WithheldField;
use riskmesh_protocol::{Category, Kind, Severity, Tier};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest publish file (or stdin) read, in bytes.
pub const MAX_INPUT_BYTES: u64 = 1024 * 1024;

/// Long help of `riskmesh publish`.
pub const PUBLISH_LONG_ABOUT: &str = "Publish a bulletin. Give its fields as flags, or in a TOML or JSON file with the \
    API's field names (--file, or --file - for stdin); flags override the file. The node signs it, \
    stores it durably and gossips it; if no peer is connected right now, peers receive it by sync \
    when they reconnect.\n\n\
    With --tier hazardous (TLP:RED) give the full finding: everyone receives a redacted summary \
    bound by commitments to the withheld fields (details always; add others with --withhold), \
    which stay on this node. Others ask with `riskmesh request`, the approvers named by \
    --approver/--threshold (default: your organization alone) decide with `riskmesh approve` or \
    `riskmesh deny`, and the requester's node then receives the fields; `riskmesh audit` shows the \
    whole trail.\n\n\
    With --stix FILE, draft the bulletin from a STIX 2.1 report or vulnerability (a bundle or one \
    object, as OpenCTI, MISP or `riskmesh export --stix` write it): name → title, description → summary \
    (→ details when --summary is given), external references → references; a report riskmesh exported \
    maps back exactly through riskmesh's extension. Its TLP marking sets the loosest tier allowed \
    (CLEAR public, GREEN consortium, AMBER restricted with --to, RED only with --tier hazardous and a --summary, the \
    description then withheld as the details). Pass \
    --category and --severity for a foreign object, --stix-id when a bundle holds several, and \
    --dry-run to see the draft before anything is signed.";

/// Long help of `riskmesh correct`.
pub const CORRECT_LONG_ABOUT: &str = "Publish a correction: a new version of one of your organization's bulletins (or \
    corrections). It starts from the corrected entry's content; flags and --file change fields. Tier \
    and recipients stay those of the corrected entry unless given.";

/// Long help of `riskmesh retract`.
pub const RETRACT_LONG_ABOUT: &str = "Retract one of your organization's entries. Every member sees the retraction and \
    its reason. With --purge every node also drops the entry's body (its signed header stays, so logs \
    remain verifiable).";

/// Bulletin content from flags, on top of an optional file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ContentArgs {
    /// Read the request from a TOML or JSON file with the API's field names
    /// (title, summary, category, severity, affected, details, mitigations,
    /// references, commitments, tier, recipients, withhold, sanitized_title,
    /// a `release` table with approvers and threshold, …); `-` reads stdin.
    /// Flags given as well override the file's fields.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Who may read it: public (TLP:CLEAR), consortium (TLP:GREEN),
    /// restricted (TLP:AMBER+STRICT, needs --recipient) or hazardous
    /// (TLP:RED: a redacted summary for everyone, withheld fields on
    /// approved request only) [default: consortium; a correction keeps the
    /// corrected entry's tier].
    #[arg(long, value_parser = parse::<Tier>, value_name = "TIER")]
    pub tier: Option<Tier>,
    /// Short title.
    #[arg(long)]
    pub title: Option<String>,
    /// What was found, for readers who will not see the details.
    #[arg(long)]
    pub summary: Option<String>,
    /// Risk category: bio, chem, nuclear-radiological, cyber-offense,
    /// model-weights-security, autonomy-self-replication,
    /// deception-manipulation, privacy, bias-fairness, misuse-jailbreak, other.
    #[arg(long, value_parser = parse::<Category>, value_name = "CATEGORY")]
    pub category: Option<Category>,
    /// Severity: info, low, medium, high, critical.
    #[arg(long, value_parser = parse::<Severity>, value_name = "SEVERITY")]
    pub severity: Option<Severity>,
    /// An affected system or model (repeat for several).
    #[arg(long = "affected", value_name = "SYSTEM")]
    pub affected: Vec<String>,
    /// Refused: text on the command line is readable by every local user
    /// (`ps`, /proc/<pid>/cmdline) and lands in shell history. Kept only to
    /// say so and point at --details-file.
    #[arg(long, hide = true, value_name = "TEXT")]
    pub details: Option<String>,
    /// Read the technical details from a file, or from standard input with
    /// `-` (never from the command line: at the hazardous tier they are
    /// the withheld text).
    #[arg(long, value_name = "PATH")]
    pub details_file: Option<PathBuf>,
    /// A mitigation (repeat for several).
    #[arg(long = "mitigation", value_name = "TEXT")]
    pub mitigations: Vec<String>,
    /// A reference: URL or report id (repeat for several).
    #[arg(long = "reference", value_name = "REF")]
    pub references: Vec<String>,
    /// A White House voluntary commitment (1–8) the bulletin concerns (repeat).
    #[arg(long = "commitment", value_name = "N", value_parser = clap::value_parser!(u8).range(1..=8))]
    pub commitments: Vec<u8>,
    /// Readers should not act publicly before this UTC time (2024-05-01T14:30Z or Unix ms).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub embargo_until: Option<u64>,
    /// The bulletin stops being relevant at this UTC time.
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub expires: Option<u64>,
    /// Restricted tier: the organizations (roster org ids) that may read it,
    /// `--to ORG,ORG` or repeated. Your organization is always included.
    #[arg(
        long = "to",
        visible_alias = "recipient",
        value_name = "ORG",
        value_delimiter = ','
    )]
    pub recipients: Vec<String>,
}

impl ContentArgs {
    /// The fields the flags set.
    pub(super) fn flags(&self) -> Result<PublishRequest, CliError> {
        if self.details.is_some() {
            return Err(CliError::Input(INLINE_DETAILS_REFUSED.into()));
        }
        let stdin = Path::new("-");
        if self.file.as_deref() == Some(stdin) && self.details_file.as_deref() == Some(stdin) {
            return Err(CliError::Input(
                "--file - and --details-file - cannot both read standard input: put the details in \
                 the file's `details` field, or one of them in a file"
                    .into(),
            ));
        }
        let details = match &self.details_file {
            Some(path) => Some(read_text(path, MAX_DETAILS_BYTES as u64, "details file")?),
            None => None,
        };
        let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        Ok(PublishRequest {
            tier: self.tier,
            title: self.title.clone(),
            summary: self.summary.clone(),
            category: self.category,
            severity: self.severity,
            affected: list(&self.affected),
            details,
            mitigations: list(&self.mitigations),
            references: list(&self.references),
            commitments: (!self.commitments.is_empty()).then(|| self.commitments.clone()),
            embargo_until_ms: self.embargo_until,
            expires_ms: self.expires,
            recipients: list(&self.recipients),
            ..PublishRequest::default()
        })
    }

    /// The file's request (if any) with the flags on top.
    fn request(&self) -> Result<PublishRequest, CliError> {
        let mut request = match &self.file {
            Some(path) => read_request(path)?,
            None => PublishRequest::default(),
        };
        overlay(&mut request, self.flags()?);
        Ok(request)
    }
}

/// Why `--details TEXT` is refused, and what to use instead.
pub const INLINE_DETAILS_REFUSED: &str = "--details is not accepted: text on the command line is readable \
    by every user of this machine (ps, /proc/<pid>/cmdline) and stays in your shell history. Write the \
    details to a file and pass --details-file PATH, pipe them in with --details-file -, or give them \
    as `details` in --file";

impl ContentArgs {
    /// Refuses a withheld field of a hazardous entry given as a flag: it
    /// would sit in the process list and shell history. Withheld fields
    /// come from --file or --details-file only.
    fn refuse_inline_withheld(&self, request: &PublishRequest) -> Result<(), CliError> {
        if request.tier != Some(Tier::Hazardous) {
            return Ok(());
        }
        let withheld = request.withhold.as_deref().unwrap_or_default();
        let inline = [
            (WithheldField::Title, "--title", self.title.is_some()),
            (WithheldField::Summary, "--summary", self.summary.is_some()),
            (WithheldField::Affected, "--affected", !self.affected.is_empty()),
            (
                WithheldField::References,
                "--reference",
                !self.references.is_empty(),
            ),
        ];
        for (field, flag, given) in inline {
            if given && withheld.contains(&field) {
                return Err(CliError::Input(format!(
                    "{flag} is withheld here (--withhold {}), so it may not come from the command line, \
                     where every user of this machine can read it (ps, /proc/<pid>/cmdline) and your \
                     shell history keeps it: put it in a TOML or JSON file and pass --file PATH (or \
                     --file - for standard input)",
                    field.name()
                )));
            }
        }
        Ok(())
    }
}

/// Hazardous-tier options of `riskmesh publish` (also in the file as
/// `withhold`, `sanitized_title`, `sanitized_summary` and a `release` table).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HazardArgs {
    /// Hazardous tier: fields withheld from the summary everyone receives,
    /// comma-separated or repeated: details (always withheld), title,
    /// summary, affected, references.
    #[arg(long, value_delimiter = ',', value_parser = parse::<WithheldField>, value_name = "FIELDS")]
    pub withhold: Vec<WithheldField>,
    /// Hazardous tier, title withheld: the title everyone sees instead.
    #[arg(long, value_name = "TEXT")]
    pub sanitized_title: Option<String>,
    /// Hazardous tier, summary withheld: the summary everyone sees instead.
    #[arg(long, value_name = "TEXT")]
    pub sanitized_summary: Option<String>,
    /// Hazardous tier: a member organization whose approval counts towards
    /// release (repeat or comma-separate) [default: your organization alone].
    #[arg(long = "approver", value_delimiter = ',', value_name = "ORG")]
    pub approvers: Vec<String>,
    /// Hazardous tier: how many approvers must approve (k of n) [default: 1].
    #[arg(long, value_name = "K")]
    pub threshold: Option<u64>,
    /// Hazardous tier: let observers (not only members) request the withheld fields.
    #[arg(long)]
    pub observers_may_request: bool,
}

impl HazardArgs {
    /// Sets the fields these flags give on `request`, keeping the file's
    /// release settings the flags do not touch.
    fn apply(&self, request: &mut PublishRequest) {
        if !self.withhold.is_empty() {
            request.withhold = Some(self.withhold.clone());
        }
        if self.sanitized_title.is_some() {
            request.sanitized_title = self.sanitized_title.clone();
        }
        if self.sanitized_summary.is_some() {
            request.sanitized_summary = self.sanitized_summary.clone();
        }
        if self.approvers.is_empty() && self.threshold.is_none() && !self.observers_may_request {
            return;
        }
        let release = request.release.get_or_insert_with(ReleaseRequest::default);
        if !self.approvers.is_empty() {
            release.approvers = Some(self.approvers.iter().map(|a| a.trim().to_string()).collect());
        }
        if self.threshold.is_some() {
            release.threshold = self.threshold;
        }
        if self.observers_may_request {
            release.observers_may_request = Some(true);
        }
    }
}

/// Arguments of `riskmesh publish`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  riskmesh publish --title \"Role-play jailbreak\" --category misuse-jailbreak \
    --severity high \\\n    --summary \"Multi-turn role-play bypasses refusals\" --affected chat-model-v3 --commitment 1\n  \
    riskmesh publish --file finding.toml\n  \
    riskmesh publish --tier restricted --recipient google --recipient openai --file finding.json\n  \
    riskmesh publish --tier hazardous --withhold details,references --approver anthropic --approver google \\\n    \
    --threshold 2 --file finding.toml\n  \
    riskmesh publish --tier hazardous --title \"…\" --category bio --severity critical --details-file recipe.txt\n  \
    riskmesh publish --stix report.json --category misuse-jailbreak --severity high --dry-run\n  \
    riskmesh publish --stix bundle.json --stix-id report--84e4d88f-… --tier restricted --to google\n\n\
    Withheld text never goes on the command line, where every local user and your shell history can \
    read it: --details is refused (use --details-file PATH or --details-file -), and so is a withheld \
    --title, --summary, --affected or --reference (put it in --file)."
)]
pub struct PublishArgs {
    /// The bulletin.
    #[command(flatten)]
    pub content: ContentArgs,
    /// Hazardous-tier options.
    #[command(flatten)]
    pub hazard: HazardArgs,
    /// Draft from STIX.
    #[command(flatten)]
    pub stix: StixArgs,
    /// Show the bulletin that would be published (with --json, the request,
    /// which --file accepts) and exit without contacting the node.
    #[arg(long)]
    pub dry_run: bool,
    /// Config and output.
    #[command(flatten)]
    pub common: Common,
}

/// Arguments of `riskmesh correct`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  riskmesh correct 3f2a…(64 hex digits) --severity critical --mitigation \"Disable tool use\""
)]
pub struct CorrectArgs {
    /// Id of the entry to correct (64 hex digits, from `riskmesh list`).
    #[arg(value_name = "ID")]
    pub id: String,
    /// Changed fields.
    #[command(flatten)]
    pub content: ContentArgs,
    /// Config and output.
    #[command(flatten)]
    pub common: Common,
}

/// Arguments of `riskmesh retract`.
#[derive(Debug, clap::Args)]
pub struct RetractArgs {
    /// Id of the entry to retract.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Why (everyone sees it).
    #[arg(long)]
    pub reason: String,
    /// Ask every node to delete the entry's body.
    #[arg(long)]
    pub purge: bool,
    /// public or consortium [default: public if the entry is public, else consortium].
    #[arg(long, value_parser = parse::<Tier>, value_name = "TIER")]
    pub tier: Option<Tier>,
    /// Config and output.
    #[command(flatten)]
    pub common: Common,
}

/// Arguments of `riskmesh ack`.
#[derive(Debug, clap::Args)]
pub struct AckArgs {
    /// Id of the bulletin or correction to acknowledge.
    #[arg(value_name = "ID")]
    pub id: String,
    /// What your organization observed: reproduced, not-affected or mitigated.
    #[arg(long, value_parser = parse::<AckStatus>, value_name = "STATUS")]
    pub status: AckStatus,
    /// Free text.
    #[arg(long)]
    pub note: Option<String>,
    /// public or consortium [default: public if the entry is public, else consortium].
    #[arg(long, value_parser = parse::<Tier>, value_name = "TIER")]
    pub tier: Option<Tier>,
    /// Config and output.
    #[command(flatten)]
    pub common: Common,
}

pub(super) fn read_text(path: &Path, limit: u64, what: &str) -> Result<String, CliError> {
    let bytes = if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| CliError::Input(format!("cannot read the {what} from stdin: {e}")))?;
        bytes
    } else {
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
            .map_err(|e| CliError::Input(format!("cannot read the {what} {}: {e}", path.display())))?;
        bytes
    };
    if bytes.len() as u64 > limit {
        return Err(CliError::Input(format!(
            "the {what} {} is larger than {limit} bytes",
            path.display()
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| CliError::Input(format!("the {what} {} is not UTF-8 text", path.display())))
}

/// Reads a publish request from a TOML or JSON file (`-` for stdin). The
/// format follows the extension; otherwise text starting with `{` is JSON.
pub fn read_request(path: &Path) -> Result<PublishRequest, CliError> {
    let text = read_text(path, MAX_INPUT_BYTES, "publish file")?;
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let json = match extension {
        "json" => true,
        "toml" => false,
        _ => text.trim_start().starts_with('{'),
    };
    let shown = if path == Path::new("-") {
        "stdin".to_string()
    } else {
        path.display().to_string()
    };
    let fields = "fields: kind, tier, title, summary, category, severity, affected, details, mitigations, \
                  references, commitments, embargo_until_ms, expires_ms, supersedes, recipients, withhold, \
                  sanitized_title, sanitized_summary, release (observers_may_request, approvers, threshold), \
                  target, reason, purge, status, note";
    if json {
        serde_json::from_str(&text).map_err(|e| {
            CliError::Input(format!(
                "{shown} is not a valid JSON publish request: {e} ({fields})"
            ))
        })
    } else {
        toml::from_str(&text).map_err(|e| {
            CliError::Input(format!(
                "{shown} is not a valid TOML publish request: {e}({fields})"
            ))
        })
    }
}

/// Copies every field `top` sets onto `base`.
pub(super) fn overlay(base: &mut PublishRequest, top: PublishRequest) {
    macro_rules! take {
        ($($field:ident),*) => {
            $(if top.$field.is_some() {
                base.$field = top.$field;
            })*
        };
    }
    take!(
        kind,
        tier,
        title,
        summary,
        category,
        severity,
        affected,
        details,
        mitigations,
        references,
        commitments,
        embargo_until_ms,
        expires_ms,
        supersedes,
        recipients,
        withhold,
        sanitized_title,
        sanitized_summary,
        release,
        target,
        reason,
        purge,
        status,
        note
    );
}

/// `riskmesh publish`.
pub(super) async fn publish(args: &PublishArgs) -> Result<(), CliError> {
    let draft = match &args.stix.stix {
        Some(path) => Some(stix_in::draft(path, &args.stix, &args.content)?),
        None => None,
    };
    let mut request = match &draft {
        Some(draft) => draft.request.clone(),
        None => args.content.request()?,
    };
    args.hazard.apply(&mut request);
    args.content.refuse_inline_withheld(&request)?;
    if args.dry_run {
        return stix_in::show(&request, draft.as_ref(), args.common.json);
    }
    if request == PublishRequest::default() {
        return Err(CliError::Input(
            "nothing to publish: give at least --title, --category and --severity, or --file \
             (see `riskmesh publish --help`)"
                .into(),
        ));
    }
    let client = client(&args.common)?;
    let detail = client.publish(&request).await?;
    report(&client, &detail, args.common.json).await
}

/// `riskmesh correct`.
pub(super) async fn correct(args: &CorrectArgs) -> Result<(), CliError> {
    let client = client(&args.common)?;
    let original = client.show(args.id.trim()).await?;
    let mut request = match original.body {
        Some(BodyView::Bulletin(b)) => PublishRequest {
            title: Some(b.title),
            summary: Some(b.summary),
            category: b.category,
            severity: b.severity,
            affected: Some(b.affected),
            details: Some(b.details),
            mitigations: Some(b.mitigations),
            references: Some(b.references),
            commitments: Some(b.commitments),
            embargo_until_ms: b.embargo_until_ms,
            expires_ms: b.expires_ms,
            ..PublishRequest::default()
        },
        _ => PublishRequest::default(),
    };
    overlay(&mut request, args.content.request()?);
    args.content.refuse_inline_withheld(&request)?;
    request.kind = Some(Kind::Correction);
    request.supersedes = Some(args.id.trim().to_string());
    let detail = client.publish(&request).await?;
    report(&client, &detail, args.common.json).await
}

/// `riskmesh retract`.
pub(super) async fn retract(args: &RetractArgs) -> Result<(), CliError> {
    let request = PublishRequest {
        kind: Some(Kind::Retraction),
        tier: args.tier,
        target: Some(args.id.trim().to_string()),
        reason: Some(args.reason.clone()),
        purge: Some(args.purge),
        ..PublishRequest::default()
    };
    let client = client(&args.common)?;
    let detail = client.publish(&request).await?;
    report(&client, &detail, args.common.json).await
}

/// `riskmesh ack`.
pub(super) async fn ack(args: &AckArgs) -> Result<(), CliError> {
    let request = PublishRequest {
        kind: Some(Kind::Ack),
        tier: args.tier,
        target: Some(args.id.trim().to_string()),
        status: Some(args.status),
        note: args.note.clone(),
        ..PublishRequest::default()
    };
    let client = client(&args.common)?;
    let detail = client.publish(&request).await?;
    report(&client, &detail, args.common.json).await
}

/// Prints what was published, and warns if no peer is connected right now.
async fn report(client: &ApiClient, detail: &EntryDetail, json: bool) -> Result<(), CliError> {
    if let Ok(status) = client.status().await
        && status.connected_peers == 0
    {
        eprintln!(
            "note: no peer is connected right now; the entry is stored and peers receive it by sync \
             when they reconnect"
        );
    }
    if json {
        return emit_json(detail);
    }
    let e = &detail.entry;
    let mut text = format!("Published {} {}\n", e.kind.name(), e.id);
    let mut line = |name: &str, value: String| text.push_str(&format!("  {name:<13}{value}\n"));
    line("author", format!("{} (seq {})", e.author, e.seq));
    line("tier", format!("{} ({})", e.tier.name(), e.tlp));
    if let Some(recipients) = &e.recipients {
        line("readers", recipients.join(", "));
    }
    if let Some(title) = &e.title {
        line("title", title.clone());
    }
    match &detail.body {
        Some(BodyView::Retraction(r)) => {
            line("retracts", r.target.clone());
            if r.purge {
                line(
                    "purge",
                    "every node drops that entry's body when this arrives".into(),
                );
            }
        }
        Some(BodyView::Ack(a)) => {
            line("acknowledges", format!("{} ({})", a.target, a.status.name()));
        }
        Some(BodyView::Bulletin(b)) => {
            if let Some(s) = &b.supersedes {
                line("supersedes", s.clone());
            }
            if let Some(withheld) = &b.withheld {
                let names: Vec<&str> = withheld.iter().map(|w| w.field.as_str()).collect();
                line("withheld", format!("{} (kept on this node)", names.join(", ")));
            }
            if let Some(release) = &b.release {
                line("release", super::read::policy_text(release, &e.author));
            }
        }
        _ => {}
    }
    if e.tier == Tier::Hazardous {
        text.push_str(&format!(
            "Everyone receives the redacted summary. Your analysts read the withheld fields with \
             `riskmesh show {} --withheld`.\n",
            e.id
        ));
    }
    emit(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    #[test]
    fn toml_and_json_files_read_into_the_same_request() {
        let (_d1, toml_path) = file(
            "finding.toml",
            "title = \"Weights exfiltration path\"\ncategory = \"model-weights-security\"\n\
             severity = \"critical\"\naffected = [\"a\", \"b\"]\ncommitments = [3, 1]\n",
        );
        let (_d2, json_path) = file(
            "finding",
            r#"{"title": "Weights exfiltration path", "category": "model-weights-security",
                "severity": "critical", "affected": ["a", "b"], "commitments": [3, 1]}"#,
        );
        let from_toml = read_request(&toml_path).expect("toml");
        assert_eq!(from_toml, read_request(&json_path).expect("json"));
        assert_eq!(from_toml.severity, Some(Severity::Critical));
    }

    #[test]
    fn bad_files_name_the_problem() {
        let (_d, path) = file("x.toml", "titel = \"typo\"\n");
        let err = read_request(&path).expect_err("unknown field").to_string();
        assert!(
            err.contains("unknown field `titel`") && err.contains("x.toml"),
            "{err}"
        );
        let (_d, path) = file("x.json", r#"{"severity": "apocalyptic"}"#);
        let err = read_request(&path).expect_err("bad severity").to_string();
        assert!(err.contains("unknown severity `apocalyptic`"), "{err}");
        let err = read_request(Path::new("/no/such/file.toml"))
            .expect_err("missing")
            .to_string();
        assert!(
            err.contains("cannot read the publish file /no/such/file.toml"),
            "{err}"
        );
    }

    #[test]
    fn hazard_flags_add_to_the_files_release_policy() {
        let (_d, path) = file(
            "hazard.toml",
            "tier = \"hazardous\"\ntitle = \"t\"\nwithhold = [\"references\"]\n\n\
             [release]\napprovers = [\"anthropic\"]\nobservers_may_request = false\n",
        );
        let mut request = read_request(&path).expect("toml");
        assert_eq!(request.tier, Some(Tier::Hazardous));
        assert_eq!(request.withhold, Some(vec![WithheldField::References]));
        let flags = HazardArgs {
            threshold: Some(2),
            approvers: vec!["anthropic".into(), " google".into()],
            sanitized_title: Some("s".into()),
            ..HazardArgs::default()
        };
        flags.apply(&mut request);
        let release = request.release.expect("release");
        assert_eq!(
            release.approvers,
            Some(vec!["anthropic".to_string(), "google".to_string()])
        );
        assert_eq!(
            (release.threshold, release.observers_may_request),
            (Some(2), Some(false))
        );
        assert_eq!(request.sanitized_title.as_deref(), Some("s"));
        assert_eq!(request.withhold, Some(vec![WithheldField::References]));
        let (_d, path) = file("bad.toml", "withhold = [\"recipe\"]\n");
        let err = read_request(&path).expect_err("bad field").to_string();
        assert!(err.contains("unknown withheld field `recipe`"), "{err}");
    }

    #[test]
    fn flags_override_file_fields() {
        let (_d, path) = file(
            "f.toml",
            "title = \"old\"\nseverity = \"low\"\nsummary = \"kept\"\n",
        );
        let args = ContentArgs {
            file: Some(path),
            title: Some("new".into()),
            affected: vec!["m".into()],
            ..ContentArgs::default()
        };
        let request = args.request().expect("request");
        assert_eq!(request.title.as_deref(), Some("new"));
        assert_eq!(request.summary.as_deref(), Some("kept"));
        assert_eq!(request.severity, Some(Severity::Low));
        assert_eq!(request.affected, Some(vec!["m".to_string()]));
        assert_eq!(request.mitigations, None);
    }
}
