//! `list`, `show`, `status`, `peers` and `export`: read from the node's API
//! and print tables (or the API's JSON with `--json`).

use super::text::{clip, parse_since, table, utc};
use super::{CliError, Common, client, emit, emit_json};
use crate::client::{ExportFormat, Params};
use riskmesh_node::api::ExportQuery;
use riskmesh_node::api::names::{Named, parse};
use riskmesh_node::api::views::{
    BodyView, BulletinView, EntryDetail, EntryList, EntryView, PeerView, ReleaseView, StatusView,
};
use riskmesh_node::store::MAX_LIST_LIMIT;
use riskmesh_protocol::{Category, Kind, Severity, Tier};
use std::io::Write;
use std::path::PathBuf;

/// Entries `list` asks for when no `--limit` is given.
pub const DEFAULT_LIMIT: u64 = 50;

/// Long help of `riskmesh export`.
pub const EXPORT_LONG_ABOUT: &str = "Export every entry this node holds as one JSON document: each entry's wire \
    bytes (hex, verifiable without this node), its fields, its TLP 2.0 label and, where your \
    organization may read it, its body. Restricted bodies appear in plaintext only where your \
    organization is a recipient. Use --max-tier public for what may leave the consortium. \
    With --stix, a STIX 2.1 bundle instead: each bulletin a report (its corrections later versions, \
    a retraction a revoked version), each ack a sighting, every object marked with its tier's TLP 2.0 \
    marking and carrying the entry's signed facts in riskmesh's extension \
    (spec/stix/riskmesh-extension.schema.json). Withheld hazardous fields are never exported.";

/// Arguments of `riskmesh list`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  riskmesh list --since 7d --severity high\n  \
    riskmesh list --author google --kind bulletin --json")]
pub struct ListArgs {
    /// Only this tier: public, consortium, restricted, hazardous.
    #[arg(long, value_parser = parse::<Tier>, value_name = "TIER")]
    pub tier: Option<Tier>,
    /// Only this kind: bulletin, correction, retraction, ack, access-request, …
    #[arg(long, value_parser = parse::<Kind>, value_name = "KIND")]
    pub kind: Option<Kind>,
    /// Only this category (see `riskmesh publish --help`).
    #[arg(long, value_parser = parse::<Category>, value_name = "CATEGORY")]
    pub category: Option<Category>,
    /// Only this severity or worse: info, low, medium, high, critical.
    #[arg(long, value_parser = parse::<Severity>, value_name = "SEVERITY")]
    pub severity: Option<Severity>,
    /// Only entries by this organization (roster org id).
    #[arg(long, value_name = "ORG")]
    pub author: Option<String>,
    /// Only entries since: a duration back from now (30m, 24h, 7d, 2w), a UTC
    /// date (2024-05-01[T14:30Z]) or Unix milliseconds.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Most entries to show (1 to 1000).
    #[arg(long, default_value_t = DEFAULT_LIMIT, value_parser = clap::value_parser!(u64).range(1..=MAX_LIST_LIMIT as u64))]
    pub limit: u64,
    /// Continue after this entry id (printed as `next` at the end of a full page).
    #[arg(long, value_name = "ID")]
    pub after: Option<String>,
    /// Config and output.
    #[command(flatten)]
    pub common: Common,
}

/// Arguments of `riskmesh show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// Entry id (64 hex digits, from `riskmesh list`).
    #[arg(value_name = "ID")]
    pub id: String,
    /// Hazardous entry: print the withheld fields your organization holds
    /// (as the author, or released to it after an approved request) instead
    /// of the entry. Fails if it holds none.
    #[arg(long)]
    pub withheld: bool,
    /// Config and output.
    #[command(flatten)]
    pub common: Common,
}

/// Arguments of `riskmesh status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Config and output.
    #[command(flatten)]
    pub common: Common,
}

/// Arguments of `riskmesh peers`.
#[derive(Debug, clap::Args)]
pub struct PeersArgs {
    /// Config and output.
    #[command(flatten)]
    pub common: Common,
}

/// Arguments of `riskmesh export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Highest tier to include: public, consortium, restricted or hazardous [default: all].
    #[arg(long, value_parser = parse::<Tier>, value_name = "TIER")]
    pub max_tier: Option<Tier>,
    /// Write to this file (replaced only once the export is complete) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write a STIX 2.1 bundle (reports, sightings, identities, TLP 2.0
    /// markings, riskmesh's extension) instead of riskmesh's JSON.
    #[arg(long)]
    pub stix: bool,
    /// Config and output (export is always JSON; --json is accepted for symmetry).
    #[command(flatten)]
    pub common: Common,
}

impl ListArgs {
    fn params(&self) -> Result<Params, CliError> {
        let mut params = Params::new();
        let mut name = |key: &'static str, value: Option<&'static str>| {
            if let Some(v) = value {
                params.push((key, v.to_string()));
            }
        };
        name("tier", self.tier.map(Named::name));
        name("kind", self.kind.map(Named::name));
        name("category", self.category.map(Named::name));
        name("severity", self.severity.map(Named::name));
        if let Some(author) = &self.author {
            params.push(("author", author.trim().to_string()));
        }
        if let Some(since) = &self.since {
            let ms = parse_since(since, riskmesh_node::runtime::now_ms()).map_err(CliError::Input)?;
            params.push(("since", ms.to_string()));
        }
        params.push(("limit", self.limit.to_string()));
        if let Some(after) = &self.after {
            params.push(("after", after.trim().to_string()));
        }
        Ok(params)
    }
}

/// `riskmesh list`.
pub(super) async fn list(args: &ListArgs) -> Result<(), CliError> {
    let params = args.params()?;
    let page = client(&args.common)?.list(&params).await?;
    if args.common.json {
        return emit_json(&page);
    }
    emit(&list_text(&page))
}

fn list_text(page: &EntryList) -> String {
    if page.entries.is_empty() {
        return "no entries match\n".into();
    }
    let rows: Vec<[String; 8]> = page.entries.iter().map(row).collect();
    let mut text = table(
        [
            "ID",
            "TIME (UTC)",
            "AUTHOR",
            "TIER",
            "KIND",
            "SEVERITY",
            "CATEGORY",
            "TITLE / TARGET",
        ],
        &rows,
    );
    if let Some(next) = &page.next {
        text.push_str(&format!("(more: riskmesh list … --after {next})\n"));
    }
    text
}

fn row(e: &EntryView) -> [String; 8] {
    let headline = match (&e.title, &e.target) {
        (Some(title), _) => clip(title, 48),
        (None, Some(target)) => format!("→ {}", &target[..target.len().min(16)]),
        (None, None) if e.purged => "(purged)".into(),
        (None, None) if e.recipients.is_some() && !e.readable => "(restricted)".into(),
        (None, None) => String::new(),
    };
    let headline = match &e.author_retired {
        Some(r) if r.reason == "compromised" => format!("[compromised key] {headline}"),
        _ => headline,
    };
    let dash = || "-".to_string();
    [
        e.id.clone(),
        utc(e.timestamp_ms)[..16].to_string(),
        e.author.clone(),
        e.tier.name().to_string(),
        e.kind.name().to_string(),
        e.severity.map_or_else(dash, |s| s.name().to_string()),
        e.category.map_or_else(dash, |c| c.name().to_string()),
        headline,
    ]
}

/// `riskmesh show`.
pub(super) async fn show(args: &ShowArgs) -> Result<(), CliError> {
    if args.withheld {
        return super::access::withheld(args).await;
    }
    let detail = client(&args.common)?.show(args.id.trim()).await?;
    if args.common.json {
        return emit_json(&detail);
    }
    emit(&show_text(&detail))
}

fn field(text: &mut String, name: &str, value: impl std::fmt::Display) {
    text.push_str(&format!("{name:<12}{value}\n"));
}

fn show_text(d: &EntryDetail) -> String {
    let e = &d.entry;
    let mut text = String::new();
    field(&mut text, "id", &e.id);
    field(&mut text, "author", format!("{} (seq {})", e.author, e.seq));
    field(&mut text, "time", format!("{} UTC", utc(e.timestamp_ms)));
    field(&mut text, "tier", format!("{} ({})", e.tier.name(), e.tlp));
    field(&mut text, "kind", e.kind.name());
    if let Some(notice) = &e.key_notice {
        field(&mut text, "NOTICE", notice);
    }
    if let Some(recipients) = &e.recipients {
        field(&mut text, "readers", recipients.join(", "));
    }
    match &d.body {
        Some(BodyView::Bulletin(b)) => bulletin_text(&mut text, b, &e.author),
        Some(BodyView::Retraction(r)) => {
            field(&mut text, "retracts", &r.target);
            field(&mut text, "reason", &r.reason);
            field(
                &mut text,
                "purge",
                if r.purge {
                    "yes: every node drops its body"
                } else {
                    "no"
                },
            );
        }
        Some(BodyView::Ack(a)) => {
            field(&mut text, "acknowledges", &a.target);
            field(&mut text, "status", a.status.name());
            if !a.note.is_empty() {
                field(&mut text, "note", &a.note);
            }
        }
        Some(BodyView::AccessRequest(r)) => {
            field(&mut text, "requests", &r.target);
            field(&mut text, "fields", r.fields.join(", "));
            field(&mut text, "reason", &r.reason);
        }
        Some(BodyView::AccessDecision(r)) => {
            field(&mut text, "request", &r.request);
            field(&mut text, "decision", if r.grant { "grant" } else { "deny" });
            field(&mut text, "reason", &r.reason);
        }
        Some(BodyView::AccessReceipt(r)) => {
            field(&mut text, "request", &r.request);
            field(&mut text, "entry", &r.target);
            field(&mut text, "received", r.received.join(", "));
        }
        None => field(&mut text, "body", d.body_note.as_deref().unwrap_or("none")),
    }
    if !d.referenced_by.is_empty() {
        text.push_str("\nreferenced by\n");
        let rows: Vec<[String; 4]> = d
            .referenced_by
            .iter()
            .map(|r| {
                [
                    r.id.clone(),
                    utc(r.timestamp_ms)[..16].to_string(),
                    r.author.clone(),
                    r.kind.name().to_string(),
                ]
            })
            .collect();
        text.push_str(&table(["ID", "TIME (UTC)", "AUTHOR", "KIND"], &rows));
    }
    text
}

fn bulletin_text(text: &mut String, b: &BulletinView, author: &str) {
    if let Some(s) = &b.supersedes {
        field(text, "supersedes", s);
    }
    field(text, "title", &b.title);
    field(text, "category", b.category.map_or("-", |c| c.name()));
    field(text, "severity", b.severity.map_or("-", |s| s.name()));
    if !b.summary.is_empty() {
        field(text, "summary", &b.summary);
    }
    if !b.affected.is_empty() {
        field(text, "affected", b.affected.join(", "));
    }
    if !b.commitments.is_empty() {
        let list: Vec<String> = b.commitments.iter().map(u8::to_string).collect();
        field(text, "commitments", list.join(", "));
    }
    if let Some(ms) = b.embargo_until_ms {
        field(text, "embargo", format!("until {} UTC", utc(ms)));
    }
    if let Some(ms) = b.expires_ms {
        field(text, "expires", format!("{} UTC", utc(ms)));
    }
    let mut list = |name: &str, items: &[String]| {
        if !items.is_empty() {
            text.push_str(&format!("\n{name}\n"));
            for item in items {
                text.push_str(&format!("  - {item}\n"));
            }
        }
    };
    list("mitigations", &b.mitigations);
    list("references", &b.references);
    if !b.details.is_empty() {
        text.push_str("\ndetails\n");
        for line in b.details.lines() {
            text.push_str(&format!("  {line}\n"));
        }
    }
    if let Some(withheld) = &b.withheld {
        text.push_str("\nwithheld (hazardous tier; released only on approved request)\n");
        for w in withheld {
            text.push_str(&format!("  {:<12}{}\n", w.field, w.commitment));
        }
    }
    if let Some(release) = &b.release {
        text.push_str(&format!("release     {}\n", policy_text(release, author)));
    }
}

/// A release policy in one line: who approves, how many, who may ask.
pub(super) fn policy_text(release: &ReleaseView, author: &str) -> String {
    let approvers = if release.approvers.is_empty() {
        format!("{author} approves")
    } else {
        format!(
            "{} of {} approve",
            release.threshold,
            release.approvers.join(", ")
        )
    };
    let askers = if release.observers_may_request {
        "members and observers may request"
    } else {
        "members may request"
    };
    format!("{approvers}; {askers}")
}

/// `riskmesh status`.
pub(super) async fn status(args: &StatusArgs) -> Result<(), CliError> {
    let status = client(&args.common)?.status().await?;
    if args.common.json {
        return emit_json(&status);
    }
    emit(&status_text(&status))
}

fn status_text(s: &StatusView) -> String {
    let mut text = String::new();
    field(&mut text, "org", &s.org);
    field(&mut text, "network", &s.network);
    field(&mut text, "peer id", &s.peer_id);
    field(
        &mut text,
        "roster",
        format!("version {} ({})", s.roster_version, s.roster_hash),
    );
    field(
        &mut text,
        "membership",
        crate::setup::membership_text(s.membership),
    );
    field(
        &mut text,
        "entries",
        format!("{} stored, {} waiting for a predecessor", s.entries, s.pending),
    );
    field(
        &mut text,
        "peers",
        format!("{} of {} connected", s.connected_peers, s.peers.len()),
    );
    if !s.authors.is_empty() {
        text.push('\n');
        let rows: Vec<[String; 4]> = s
            .authors
            .iter()
            .map(|a| {
                [
                    if a.retired.is_some() {
                        format!("{} (retired key)", a.org)
                    } else {
                        a.org.clone()
                    },
                    a.seq.to_string(),
                    a.best_known_seq.to_string(),
                    a.lag.to_string(),
                ]
            })
            .collect();
        text.push_str(&table(["AUTHOR", "HELD", "BEST KNOWN", "LAG"], &rows));
    }
    text.push('\n');
    if s.equivocations.is_empty() {
        text.push_str("equivocations: none\n");
    } else {
        text.push_str("EQUIVOCATIONS (an author signed two different entries at one seq)\n");
        for e in &s.equivocations {
            text.push_str(&format!("  {} at seq {}\n", e.org, e.seq));
        }
    }
    text
}

/// `riskmesh peers`.
pub(super) async fn peers(args: &PeersArgs) -> Result<(), CliError> {
    let list = client(&args.common)?.peers().await?;
    if args.common.json {
        return emit_json(&list);
    }
    emit(&peers_text(&list.peers))
}

fn peers_text(peers: &[PeerView]) -> String {
    if peers.is_empty() {
        return "no other node is on the roster\n".into();
    }
    let rows: Vec<[String; 4]> = peers
        .iter()
        .map(|p| {
            [
                p.org.clone(),
                if p.connected { "yes" } else { "no" }.to_string(),
                p.peer_id.clone(),
                p.address.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table(["ORG", "CONNECTED", "PEER ID", "ADDRESS"], &rows)
}

/// `riskmesh export`.
pub(super) async fn export(args: &ExportArgs) -> Result<(), CliError> {
    let client = client(&args.common)?;
    let query = ExportQuery {
        max_tier: args.max_tier.map(|t| t.name().to_string()),
    };
    let format = if args.stix {
        ExportFormat::Stix
    } else {
        ExportFormat::Json
    };
    let Some(out) = &args.out else {
        let mut stdout = std::io::stdout().lock();
        client.export_to(format, &query, &mut stdout).await?;
        return Ok(());
    };
    // Write beside the target and rename once complete, so a broken export
    // never leaves a file that looks whole.
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut partial = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| CliError::Input(format!("cannot write in {}: {e}", dir.display())))?;
    let bytes = client.export_to(format, &query, &mut partial).await?;
    partial
        .as_file_mut()
        .sync_all()
        .and_then(|()| partial.as_file_mut().flush())
        .map_err(CliError::Output)?;
    partial
        .persist(out)
        .map_err(|e| CliError::Input(format!("cannot write {}: {}", out.display(), e.error)))?;
    eprintln!("exported {bytes} bytes to {}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(kind: Kind, title: Option<&str>) -> EntryView {
        EntryView {
            id: "ab".repeat(32),
            author: "google".into(),
            author_key: "cd".repeat(32),
            seq: 1,
            timestamp_ms: 1_714_573_800_000,
            tier: Tier::Consortium,
            tlp: Tier::Consortium.tlp().into(),
            kind,
            category: title.map(|_| Category::Privacy),
            severity: title.map(|_| Severity::High),
            title: title.map(String::from),
            target: None,
            recipients: None,
            readable: true,
            has_body: true,
            purged: false,
            body_len: 10,
            received_ms: 1_714_573_800_000,
            key_notice: None,
            author_retired: None,
        }
    }

    /// Issue 10: an entry whose author key was declared compromised says so
    /// in the list and in `show`; a merely rotated key is named in `show`.
    #[test]
    fn entries_of_a_compromised_key_carry_the_notice_in_list_and_show() {
        let mut e = view(Kind::Bulletin, Some("jailbreak via tool output"));
        e.author_retired = Some(riskmesh_node::api::views::RetiredView {
            reason: "compromised".into(),
            last_seq: 2,
        });
        e.key_notice = Some("google's key that signed this was declared COMPROMISED".into());
        assert!(row(&e)[7].starts_with("[compromised key] "), "{:?}", row(&e));
        let detail = EntryDetail {
            entry: e.clone(),
            body: None,
            body_note: None,
            referenced_by: Vec::new(),
        };
        assert!(
            show_text(&detail).contains("NOTICE      google's key that signed this was declared COMPROMISED")
        );
        e.author_retired = Some(riskmesh_node::api::views::RetiredView {
            reason: "rotated".into(),
            last_seq: 9,
        });
        assert!(!row(&e)[7].starts_with('['), "only a compromise marks the list");
    }

    #[test]
    fn list_table_has_one_aligned_row_per_entry_and_a_paging_hint() {
        let page = EntryList {
            entries: vec![
                view(Kind::Bulletin, Some("Leak of eval data")),
                view(Kind::Ack, None),
            ],
            next: Some("ff".repeat(32)),
        };
        let text = list_text(&page);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("ID "), "{text}");
        assert!(
            lines[1].contains("2024-05-01 14:30  google  consortium  bulletin  high"),
            "{text}"
        );
        assert!(lines[1].ends_with("Leak of eval data"), "{text}");
        assert!(
            lines[3].contains(&format!("--after {}", "ff".repeat(32))),
            "{text}"
        );
        assert_eq!(
            list_text(&EntryList {
                entries: vec![],
                next: None
            }),
            "no entries match\n"
        );
    }
}
