//! `riskmesh publish --stix FILE`: reads a STIX 2.1 bundle or object, drafts
//! a bulletin from it with [`riskmesh_node::stix::import`], lays the other
//! flags over the draft, and shows a dry run. The mapping rules live in that
//! module; this one does the file and the printing.

use super::publish::{ContentArgs, overlay, read_text};
use super::text::{clip, utc};
use super::{CliError, emit, emit_json};
use riskmesh_node::api::PublishRequest;
use riskmesh_node::stix::import::{self, Draft, ImportOptions, MAX_STIX_BYTES};
use std::path::{Path, PathBuf};

/// The STIX source of `riskmesh publish`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StixArgs {
    /// Draft the bulletin from a STIX 2.1 `report` or `vulnerability`: a
    /// bundle or a single object, as OpenCTI, MISP or `riskmesh export
    /// --stix` write it (`-` reads stdin; at most 4 MiB). Its TLP marking
    /// sets the loosest tier allowed; other flags override its fields.
    #[arg(long, value_name = "FILE", conflicts_with = "file")]
    pub stix: Option<PathBuf>,
    /// With --stix: the report or vulnerability of the bundle to draft
    /// from, when it holds several.
    #[arg(long, value_name = "STIX-ID", requires = "stix")]
    pub stix_id: Option<String>,
}

/// The draft from `args.stix` with the content flags laid over it.
pub(super) fn draft(path: &Path, args: &StixArgs, content: &ContentArgs) -> Result<Draft, CliError> {
    let shown = if path == Path::new("-") {
        "stdin".to_string()
    } else {
        path.display().to_string()
    };
    if path == Path::new("-") && content.details_file.as_deref() == Some(Path::new("-")) {
        return Err(CliError::Input(
            "--stix - and --details-file - cannot both read standard input: put one of them in a file".into(),
        ));
    }
    let text = read_text(path, MAX_STIX_BYTES, "STIX file")?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        CliError::Input(format!(
            "{shown} is not JSON ({e}); --stix takes a STIX 2.1 bundle or object in JSON"
        ))
    })?;
    let options = ImportOptions {
        stix_id: args.stix_id.as_ref().map(|id| id.trim().to_string()),
        tier: content.tier,
        recipients: content.recipients.iter().map(|r| r.trim().to_string()).collect(),
        category: content.category,
        severity: content.severity,
        title: content.title.clone(),
        summary: content.summary.clone(),
    };
    let fail = |e: import::ImportError| CliError::Input(format!("{shown}: {e}; nothing was published"));
    let mut draft = import::draft(&value, &options).map_err(fail)?;
    overlay(&mut draft.request, content.flags()?);
    import::check_limits(&draft.request).map_err(fail)?;
    Ok(draft)
}

/// Prints what `publish` would send, without sending it.
pub(super) fn show(request: &PublishRequest, source: Option<&Draft>, json: bool) -> Result<(), CliError> {
    if json {
        // The request itself, so it can be saved and sent with --file.
        return emit_json(request);
    }
    let mut text = match source {
        Some(d) => format!(
            "Draft bulletin from STIX {} {}{}\n",
            d.source_type,
            d.source_id,
            if d.from_riskmesh {
                " (exported by riskmesh)"
            } else {
                ""
            }
        ),
        None => "Draft bulletin\n".to_string(),
    };
    let mut line = |name: &str, value: String| text.push_str(&format!("  {name:<13}{value}\n"));
    let tier = request.tier.map_or("consortium (default)".to_string(), |t| {
        format!("{} ({})", t.name(), t.tlp())
    });
    line("tier", tier);
    if let Some(recipients) = &request.recipients {
        line("readers", recipients.join(", "));
    }
    let or_none = |v: &Option<String>| v.clone().filter(|s| !s.is_empty()).unwrap_or("-".into());
    line("title", or_none(&request.title));
    line("category", request.category.map_or("-", |c| c.name()).into());
    line("severity", request.severity.map_or("-", |s| s.name()).into());
    line("summary", clip(&or_none(&request.summary), 200));
    let details = request.details.as_deref().unwrap_or_default();
    if !details.is_empty() {
        line(
            "details",
            format!("{} bytes: {}", details.len(), clip(details, 80)),
        );
    }
    let lists = [
        ("affected", &request.affected),
        ("mitigations", &request.mitigations),
        ("references", &request.references),
    ];
    for (name, list) in lists {
        for (i, item) in list.as_deref().unwrap_or_default().iter().enumerate() {
            line(if i == 0 { name } else { "" }, clip(item, 100));
        }
    }
    if let Some(c) = request.commitments.as_ref().filter(|c| !c.is_empty()) {
        let c: Vec<String> = c.iter().map(u8::to_string).collect();
        line("commitments", c.join(", "));
    }
    if let Some(ms) = request.embargo_until_ms {
        line("embargo until", format!("{} UTC", utc(ms)));
    }
    if let Some(ms) = request.expires_ms {
        line("expires", format!("{} UTC", utc(ms)));
    }
    if let Some(d) = source {
        for note in &d.notes {
            line("note", note.clone());
        }
    }
    text.push_str(
        "Nothing was published (--dry-run). Run the same command without --dry-run to sign and publish it.\n",
    );
    emit(&text)
}
