//! The hazardous tier's release flow on the command line: `request`,
//! `approve`, `deny`, `audit`, and `show --withheld`.

use super::read::ShowArgs;
use super::text::utc;
use super::{CliError, Common, client, emit, emit_json};
use riskmesh_node::api::access::{HELD_NOTICE, HeldValue, LogPositionView};
use riskmesh_node::api::names::parse;
use riskmesh_node::api::views::{BodyView, EntryDetail};
use riskmesh_node::api::{AccessRequestInput, AuditView, DecisionInput, HeldFields};
use riskmesh_protocol::redaction::WithheldField;

/// Long help of `riskmesh request`.
pub const REQUEST_LONG_ABOUT: &str = "Ask for withheld fields of a hazardous entry (TLP:RED). Your \
    organization publishes an access request with your reason; every member sees who asked and why. \
    Once the approvers named by the entry's release policy approve, the author's node sends the fields \
    to your node end-to-end encrypted, your node checks them against the entry's commitments and \
    publishes a receipt. Then read them with `riskmesh show ENTRY --withheld`.";

/// Long help of `riskmesh approve`.
pub const APPROVE_LONG_ABOUT: &str = "Approve an access request as one of the approvers its entry's \
    release policy names (by default the entry's author alone). When enough approvers have approved, \
    the author's node releases the fields to the requester by itself. Find request ids with \
    `riskmesh audit ENTRY`.";

/// Long help of `riskmesh deny`.
pub const DENY_LONG_ABOUT: &str = "Deny an access request as one of the approvers its entry's release \
    policy names, with a reason every member sees. A later approval by your organization replaces the \
    denial.";

/// Long help of `riskmesh audit`.
pub const AUDIT_LONG_ABOUT: &str = "Show the whole release trail of a hazardous entry: who asked for \
    its withheld fields and why, who approved or denied, where each request stands under the release \
    policy, and who received the fields, when. Never shows the withheld values.";

/// Arguments of `riskmesh request`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  riskmesh request 3f2a…(64 hex digits) --field details \
    --reason \"Building a classifier to block this uplift\""
)]
pub struct RequestArgs {
    /// Id of the hazardous entry.
    #[arg(value_name = "ENTRY")]
    pub id: String,
    /// A withheld field to ask for: details, title, summary, affected,
    /// references (repeat or comma-separate) [default: details].
    #[arg(long = "field", value_delimiter = ',', value_parser = parse::<WithheldField>, value_name = "FIELD")]
    pub fields: Vec<WithheldField>,
    /// Why your organization needs them (every member sees it).
    #[arg(long)]
    pub reason: String,
    /// Config and output.
    #[command(flatten)]
    pub common: Common,
}

/// Arguments of `riskmesh approve`.
#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// Id of the access request (from `riskmesh audit ENTRY`).
    #[arg(value_name = "REQUEST")]
    pub id: String,
    /// Why (every member sees it) [default: "approved"].
    #[arg(long)]
    pub reason: Option<String>,
    /// Config and output.
    #[command(flatten)]
    pub common: Common,
}

/// Arguments of `riskmesh deny`.
#[derive(Debug, clap::Args)]
pub struct DenyArgs {
    /// Id of the access request (from `riskmesh audit ENTRY`).
    #[arg(value_name = "REQUEST")]
    pub id: String,
    /// Why (required; every member sees it).
    #[arg(long)]
    pub reason: String,
    /// Config and output.
    #[command(flatten)]
    pub common: Common,
}

/// Arguments of `riskmesh audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Id of the hazardous entry.
    #[arg(value_name = "ENTRY")]
    pub id: String,
    /// Config and output.
    #[command(flatten)]
    pub common: Common,
}

/// `riskmesh request`.
pub(super) async fn request(args: &RequestArgs) -> Result<(), CliError> {
    let input = AccessRequestInput {
        fields: (!args.fields.is_empty()).then(|| args.fields.clone()),
        reason: args.reason.clone(),
    };
    let client = client(&args.common)?;
    let detail = client.request_access(args.id.trim(), &input).await?;
    if args.common.json {
        return emit_json(&detail);
    }
    let mut text = decision_head("Requested", &detail);
    text.push_str(&format!(
        "The approvers named by the entry's release policy decide; once they approve, the fields arrive \
         by themselves. Follow it with `riskmesh audit {}`.\n",
        args.id.trim()
    ));
    emit(&text)
}

/// `riskmesh approve`.
pub(super) async fn approve(args: &ApproveArgs) -> Result<(), CliError> {
    decide(&args.id, true, args.reason.clone(), &args.common).await
}

/// `riskmesh deny`.
pub(super) async fn deny(args: &DenyArgs) -> Result<(), CliError> {
    decide(&args.id, false, Some(args.reason.clone()), &args.common).await
}

async fn decide(id: &str, grant: bool, reason: Option<String>, common: &Common) -> Result<(), CliError> {
    let client = client(common)?;
    let detail = client.decide(id.trim(), grant, &DecisionInput { reason }).await?;
    if common.json {
        return emit_json(&detail);
    }
    let verb = if grant { "Approved" } else { "Denied" };
    let mut text = decision_head(verb, &detail);
    if grant {
        text.push_str(
            "Once the policy's threshold of approvals is reached, the author's node releases the fields \
             to the requester.\n",
        );
    }
    emit(&text)
}

/// The first lines reporting a published access request or decision.
fn decision_head(verb: &str, detail: &EntryDetail) -> String {
    let e = &detail.entry;
    let mut text = String::new();
    match &detail.body {
        Some(BodyView::AccessRequest(r)) => {
            text.push_str(&format!("{verb} {} of {}\n", r.fields.join(", "), r.target));
            text.push_str(&format!("  request      {}\n", e.id));
            text.push_str(&format!("  reason       {}\n", r.reason));
        }
        Some(BodyView::AccessDecision(d)) => {
            text.push_str(&format!("{verb} request {}\n", d.request));
            text.push_str(&format!("  decision     {}\n", e.id));
            text.push_str(&format!("  reason       {}\n", d.reason));
        }
        _ => text.push_str(&format!("{verb}: {} {}\n", e.kind.name(), e.id)),
    }
    text.push_str(&format!("  author       {} (seq {})\n", e.author, e.seq));
    text
}

/// `riskmesh audit`.
pub(super) async fn audit(args: &AuditArgs) -> Result<(), CliError> {
    let trail = client(&args.common)?.audit(args.id.trim()).await?;
    if args.common.json {
        return emit_json(&trail);
    }
    emit(&audit_text(&trail))
}

/// The audit trail as a readable timeline.
pub fn audit_text(a: &AuditView) -> String {
    let mut text = String::new();
    let mut field = |name: &str, value: String| text.push_str(&format!("{name:<10}{value}\n"));
    field("entry", a.entry.clone());
    if let Some(title) = &a.title {
        field("title", title.clone());
    }
    field("author", a.author.clone());
    field("withheld", a.withheld.join(", "));
    let approvers = if a.approvers.is_empty() {
        format!("{} alone approves", a.author)
    } else {
        format!("{} of {} approve", a.threshold, a.approvers.join(", "))
    };
    let askers = if a.observers_may_request {
        "members and observers may request"
    } else {
        "members may request"
    };
    field("policy", format!("{approvers}; {askers}"));
    if let Some(r) = &a.retraction {
        field(
            "retracted",
            format!(
                "by {}{}: {}  {}",
                a.author,
                if r.purge { " with purge" } else { "" },
                r.reason,
                logged(&r.logged)
            ),
        );
    }
    text.push('\n');
    if a.requests.is_empty() {
        text.push_str("no access requests yet\n");
        return text;
    }
    text.push_str(
        "times are each organization's own claim; [seq N] is the entry's place in its author's log, \
         `received` this node's clock\n\n",
    );
    for r in &a.requests {
        text.push_str(&format!(
            "{} UTC  {} requested {}  {}\n",
            utc(r.at_ms),
            r.org,
            r.fields.join(", "),
            logged(&r.logged)
        ));
        text.push_str(&format!("{:24}reason: {}\n", "", r.reason));
        text.push_str(&format!("{:24}request {}\n", "", r.request));
        if let Some(x) = &r.retraction {
            text.push_str(&format!(
                "{} UTC    {} retracted the request: {}  {}\n",
                utc(x.at_ms),
                r.org,
                x.reason,
                logged(&x.logged)
            ));
        }
        for d in &r.decisions {
            let verb = if d.grant { "approved" } else { "denied" };
            text.push_str(&format!(
                "{} UTC    {} {verb}: {}  {}\n",
                utc(d.at_ms),
                d.org,
                d.reason,
                logged(&d.logged)
            ));
            if let Some(x) = &d.retraction {
                text.push_str(&format!(
                    "{} UTC    {} retracted that decision (it no longer counts): {}  {}\n",
                    utc(x.at_ms),
                    d.org,
                    x.reason,
                    logged(&x.logged)
                ));
            }
        }
        if let Some(at) = r.received_at_ms {
            text.push_str(&format!(
                "{} UTC    {} received the fields (signed receipt)\n",
                utc(at),
                r.org
            ));
        }
        text.push_str(&format!("{:24}status: {}\n", "", r.status));
        if let Some(why) = &r.why {
            text.push_str(&format!("{:24}why: {why}\n", ""));
        }
        text.push('\n');
    }
    text
}

/// Where an entry stands in the log, beside its claimed time.
fn logged(p: &LogPositionView) -> String {
    format!("[seq {}, received {} UTC]", p.seq, utc(p.received_ms))
}

/// `riskmesh show ENTRY --withheld`.
pub(super) async fn withheld(args: &ShowArgs) -> Result<(), CliError> {
    let held = client(&args.common)?.withheld(args.id.trim()).await?;
    if args.common.json {
        return emit_json(&held);
    }
    emit(&withheld_text(&held))
}

/// Withheld fields as text, each value under its name.
pub fn withheld_text(h: &HeldFields) -> String {
    let how = if h.held_as == "author" {
        "your organization published it".to_string()
    } else {
        format!("released to your organization by {}", h.author)
    };
    let mut text = format!("withheld fields of {} ({how})\n{HELD_NOTICE}\n", h.entry);
    for f in &h.fields {
        text.push_str(&format!("\n{}  (commitment {})\n", f.field, f.commitment));
        match &f.value {
            HeldValue::Text(value) => {
                for line in value.lines() {
                    text.push_str(&format!("  {line}\n"));
                }
            }
            HeldValue::List(items) => {
                for item in items {
                    text.push_str(&format!("  - {item}\n"));
                }
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use riskmesh_node::api::access::{AuditDecisionView, AuditRequestView, AuditRetractionView, HeldField};

    fn position(id: &str, seq: u64, received_ms: u64) -> LogPositionView {
        LogPositionView {
            entry: id.repeat(32),
            seq,
            received_ms,
        }
    }

    #[test]
    fn audit_shows_log_order_and_receive_time_beside_claimed_times() {
        // The decider claims a time before the request's; the table shows
        // the seq and this node's receive time, which do not.
        let at = 1_714_573_800_000;
        let request = AuditRequestView {
            request: "cd".repeat(32),
            org: "google".into(),
            reason: "classifier work".into(),
            fields: vec!["details".into()],
            at_ms: at,
            logged: position("cd", 4, at),
            decisions: vec![AuditDecisionView {
                org: "anthropic".into(),
                grant: true,
                reason: "backdated".into(),
                at_ms: at - 3_600_000,
                logged: position("ef", 9, at + 5_000),
                retraction: Some(AuditRetractionView {
                    reason: "approved in error".into(),
                    purge: false,
                    at_ms: at + 10_000,
                    logged: position("aa", 10, at + 11_000),
                }),
            }],
            status: "pending (0 of 1 approvals)".into(),
            why: None,
            retraction: None,
            received_at_ms: None,
        };
        let trail = AuditView {
            entry: "ab".repeat(32),
            title: None,
            author: "meta".into(),
            withheld: vec!["details".into()],
            approvers: vec!["anthropic".into()],
            threshold: 1,
            observers_may_request: false,
            retraction: None,
            requests: vec![request],
        };
        let text = audit_text(&trail);
        assert!(text.contains("own claim"), "{text}");
        assert!(
            text.contains(
                "2024-05-01 13:30:00 UTC    anthropic approved: backdated  [seq 9, received 2024-05-01 14:30:05 UTC]"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "anthropic retracted that decision (it no longer counts): approved in error  [seq 10, received \
                 2024-05-01 14:30:11 UTC]"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_audit_timeline_shows_who_asked_decided_and_received() {
        let at = 1_714_573_800_000;
        let trail = AuditView {
            entry: "ab".repeat(32),
            title: Some("Uplift".into()),
            author: "meta".into(),
            withheld: vec!["details".into(), "references".into()],
            approvers: vec!["anthropic".into(), "meta".into()],
            threshold: 2,
            observers_may_request: false,
            requests: vec![AuditRequestView {
                request: "cd".repeat(32),
                org: "google".into(),
                reason: "classifier work".into(),
                fields: vec!["details".into()],
                at_ms: at,
                logged: position("cd", 4, at + 2_000),
                decisions: vec![AuditDecisionView {
                    org: "anthropic".into(),
                    grant: true,
                    reason: "justified".into(),
                    at_ms: at + 60_000,
                    logged: position("ef", 9, at + 61_000),
                    retraction: None,
                }],
                status: "granted".into(),
                why: None,
                retraction: None,
                received_at_ms: Some(at + 120_000),
            }],
            retraction: None,
        };
        let text = audit_text(&trail);
        assert!(
            text.contains("policy    2 of anthropic, meta approve; members may request"),
            "{text}"
        );
        assert!(
            text.contains(
                "2024-05-01 14:30:00 UTC  google requested details  [seq 4, received 2024-05-01 14:30:02 UTC]"
            ),
            "{text}"
        );
        assert!(text.contains("reason: classifier work"), "{text}");
        assert!(
            text.contains(
                "2024-05-01 14:31:00 UTC    anthropic approved: justified  [seq 9, received 2024-05-01 14:31:01 UTC]"
            ),
            "{text}"
        );
        assert!(
            text.contains("2024-05-01 14:32:00 UTC    google received the fields"),
            "{text}"
        );
        assert!(text.contains("status: granted"), "{text}");
        let empty = AuditView {
            requests: vec![],
            approvers: vec![],
            ..trail
        };
        let text = audit_text(&empty);
        assert!(
            text.contains("meta alone approves") && text.contains("no access requests yet"),
            "{text}"
        );
    }

    #[test]
    fn withheld_values_print_under_their_field_names() {
        let held = HeldFields {
            entry: "ab".repeat(32),
            author: "meta".into(),
            held_as: "released".into(),
            fields: vec![
                HeldField {
                    field: "details".into(),
                    commitment: "00".repeat(32),
                    value: HeldValue::Text("step 1\nstep 2".into()),
                },
                HeldField {
                    field: "references".into(),
                    commitment: "11".repeat(32),
                    value: HeldValue::List(vec!["report-7".into()]),
                },
            ],
            notice: HELD_NOTICE.into(),
        };
        let text = withheld_text(&held);
        assert!(text.contains("released to your organization by meta"), "{text}");
        assert!(text.contains("details  (commitment 0000"), "{text}");
        assert!(text.contains("  step 1\n  step 2\n"), "{text}");
        assert!(text.contains("  - report-7\n"), "{text}");
    }
}
