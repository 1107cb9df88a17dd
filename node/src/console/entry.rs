//! One entry (badge, body, corrections, retraction, acks, signature and
//! chain status, equivocation warning; at the hazardous tier the audit
//! timeline, the fields this organization holds, and the request and
//! decision forms) and the hazardous queue. Every answer comes from the
//! API's own handlers.

use super::Authed;
use super::html::{Section, esc, message, tier_badge, time};
use crate::api::access::{self, AuditRequestView, AuditView, HeldValue};
use crate::api::entries;
use crate::api::names::Named;
use crate::api::views::{BodyView, BulletinView, EntryDetail, EntryView};
use crate::api::{ApiError, ApiState, with_store};
use crate::plaintext::Wiped;
use crate::store::ListFilter;
use axum::Form;
use axum::body::Bytes;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use riskmesh_protocol::redaction::WithheldField;
use riskmesh_protocol::{Kind, Tier};
use std::fmt::Write;

/// Entries that refer to one entry (corrections, retractions, acks) read in full.
pub const MAX_REFERRING_READ: usize = 50;
/// Hazardous entries the queue looks through, newest first.
pub const QUEUE_ENTRIES: usize = 50;

/// Query of the entry page: which action just succeeded.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Done {
    done: Option<String>,
}

async fn detail(state: &ApiState, id: &str) -> Result<Wiped<EntryDetail>, ApiError> {
    entries::show(State(state.clone()), Ok(Path(id.to_string())))
        .await
        .map(|json| json.0)
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        return "—".into();
    }
    let li: Vec<String> = items.iter().map(|i| format!("<li>{}</li>", esc(i))).collect();
    format!("<ul>{}</ul>", li.concat())
}

fn bulletin(b: &BulletinView) -> String {
    let mut out = format!(
        "<dl class=\"body\"><dt>Title</dt><dd>{}</dd><dt>Summary</dt><dd>{}</dd>\
         <dt>Category</dt><dd>{}</dd><dt>Severity</dt><dd>{}</dd><dt>Affected</dt><dd>{}</dd>",
        esc(&b.title),
        esc(&b.summary),
        b.category.map_or("—", |c| c.name()),
        b.severity.map_or("—", |s| s.name()),
        list(&b.affected),
    );
    if b.withheld.is_none() {
        let _ = write!(out, "<dt>Details</dt><dd class=\"pre\">{}</dd>", esc(&b.details));
    }
    let commitments: Vec<String> = b.commitments.iter().map(u8::to_string).collect();
    let _ = write!(
        out,
        "<dt>Mitigations</dt><dd>{}</dd><dt>References</dt><dd>{}</dd><dt>Commitments</dt><dd>{}</dd>",
        list(&b.mitigations),
        list(&b.references),
        if commitments.is_empty() {
            "—".into()
        } else {
            commitments.join(", ")
        },
    );
    if let Some(s) = &b.supersedes {
        let _ = write!(
            out,
            "<dt>Corrects</dt><dd><a href=\"/console/entries/{0}\">{0}</a></dd>",
            esc(s)
        );
    }
    if let Some(withheld) = &b.withheld {
        let names: Vec<String> = withheld.iter().map(|w| w.field.clone()).collect();
        let _ = write!(
            out,
            "<dt>Withheld</dt><dd>{} (committed; released only on approval)</dd>",
            esc(&names.join(", "))
        );
    }
    if let Some(r) = &b.release {
        let approvers = if r.approvers.is_empty() {
            "the author".to_string()
        } else {
            format!("{} of {}", r.threshold, r.approvers.join(", "))
        };
        let _ = write!(
            out,
            "<dt>Release policy</dt><dd>approved by {}; observers may request: {}</dd>",
            esc(&approvers),
            if r.observers_may_request { "yes" } else { "no" }
        );
    }
    out.push_str("</dl>");
    out
}

fn body(view: &EntryView, body: Option<&BodyView>) -> String {
    let link = |id: &str| format!("<a href=\"/console/entries/{0}\">{0}</a>", esc(id));
    match body {
        Some(BodyView::Bulletin(b)) => bulletin(b),
        Some(BodyView::Retraction(r)) => format!(
            "<dl class=\"body\"><dt>Retracts</dt><dd>{}</dd><dt>Reason</dt><dd>{}</dd><dt>Purge</dt><dd>{}</dd></dl>",
            link(&r.target),
            esc(&r.reason),
            r.purge
        ),
        Some(BodyView::Ack(a)) => format!(
            "<dl class=\"body\"><dt>Acknowledges</dt><dd>{}</dd><dt>Status</dt><dd>{}</dd><dt>Note</dt><dd>{}</dd></dl>",
            link(&a.target),
            a.status.name(),
            esc(&a.note)
        ),
        Some(BodyView::AccessRequest(r)) => format!(
            "<dl class=\"body\"><dt>Requests</dt><dd>{}</dd><dt>Fields</dt><dd>{}</dd><dt>Reason</dt><dd>{}</dd></dl>",
            link(&r.target),
            esc(&r.fields.join(", ")),
            esc(&r.reason)
        ),
        Some(BodyView::AccessDecision(d)) => format!(
            "<dl class=\"body\"><dt>Decides on request</dt><dd>{}</dd><dt>Decision</dt><dd>{}</dd><dt>Reason</dt><dd>{}</dd></dl>",
            link(&d.request),
            if d.grant { "approve" } else { "deny" },
            esc(&d.reason)
        ),
        Some(BodyView::AccessReceipt(r)) => format!(
            "<dl class=\"body\"><dt>Received for request</dt><dd>{}</dd><dt>Entry</dt><dd>{}</dd><dt>Commitments</dt><dd>{}</dd></dl>",
            link(&r.request),
            link(&r.target),
            esc(&r.received.join(", "))
        ),
        None if view.purged => "<p>The body was purged by its author's retraction.</p>".into(),
        None => "<p>The body is not readable here.</p>".into(),
    }
}

/// `GET /console/entries/{id}`.
pub(crate) async fn show(
    State(state): State<ApiState>,
    authed: Authed,
    Path(id): Path<String>,
    done: Result<Query<Done>, QueryRejection>,
) -> Response {
    let detail = match detail(&state, &id).await {
        Ok(d) => d,
        Err(e) => return authed.failure("Entry", Section::Feed, &e),
    };
    let view = &detail.entry;
    let mut main = String::new();
    if let Ok(Query(Done { done: Some(done) })) = done {
        let text = match done.as_str() {
            "published" => "Published: signed, stored and sent to the network.",
            "requested" => "Access request published: the approvers see it now.",
            "decided" => "Decision published: everyone sees who decided and why.",
            _ => "",
        };
        if !text.is_empty() {
            main.push_str(&message("ok", text));
        }
    }
    // Equivocation: the node's status names authors with a stored proof.
    if let Ok(status) = state.node.status().await {
        for (org, seq) in status.equivocations.iter().filter(|(org, _)| *org == view.author) {
            main.push_str(&message(
                "error",
                &format!(
                    "Equivocation: {org} signed two different entries at seq {seq} of its log. \
                     The proof is stored and has been sent to every node; treat its entries with care."
                ),
            ));
        }
    }
    if let Some(notice) = &view.key_notice {
        main.push_str(&message("error", notice));
    }
    let _ = write!(
        main,
        "<p class=\"badges\">{} <span class=\"kind\">{}</span></p>\
         <dl class=\"meta\"><dt>Id</dt><dd><code>{}</code></dd><dt>Author</dt><dd>{}</dd>\
         <dt>Time</dt><dd>{}</dd><dt>Signature and chain</dt><dd>signature verified (Ed25519, \
         COSE_Sign1) and chained at seq {} of {}'s log before this node stored it</dd>",
        tier_badge(view.tier),
        view.kind.name(),
        esc(&view.id),
        esc(&view.author),
        time(view.timestamp_ms),
        view.seq,
        esc(&view.author),
    );
    if let Some(recipients) = &view.recipients {
        let _ = write!(
            main,
            "<dt>Recipients</dt><dd>{}</dd>",
            esc(&recipients.join(", "))
        );
    }
    main.push_str("</dl>");
    if let Some(note) = &detail.body_note {
        main.push_str(&message("ok", note));
    }
    main.push_str(&body(view, detail.body.as_ref()));
    main.push_str(&referring(&state, &detail.referenced_by).await);
    if view.kind == Kind::Bulletin || view.kind == Kind::Correction {
        let _ = write!(
            main,
            "<p class=\"actions\"><a href=\"/console/publish?kind=ack&amp;target={0}\">Acknowledge</a> · \
             <a href=\"/console/publish?kind=correction&amp;supersedes={0}\">Correct</a> · \
             <a href=\"/console/publish?kind=retraction&amp;target={0}\">Retract</a></p>",
            esc(&view.id)
        );
    }
    if view.tier == Tier::Hazardous && view.kind == Kind::Bulletin {
        main.push_str(&hazardous(&state, &authed, &view.id).await);
    }
    let title = view
        .title
        .clone()
        .unwrap_or_else(|| format!("{} {}", view.kind.name(), &view.id[..16]));
    authed.page(StatusCode::OK, &title, Section::Feed, &main)
}

/// Corrections, the retraction and acks of an entry.
async fn referring(state: &ApiState, views: &[EntryView]) -> String {
    let mut corrections = String::new();
    let mut retractions = String::new();
    let mut acks = String::new();
    for view in views.iter().take(MAX_REFERRING_READ) {
        let link = format!(
            "<a href=\"/console/entries/{0}\">{1}</a>",
            esc(&view.id),
            time(view.timestamp_ms)
        );
        let read = detail(state, &view.id).await.ok();
        let body = read.as_ref().and_then(|d| d.body.as_ref());
        match (view.kind, body) {
            (Kind::Correction, _) => {
                let _ = write!(
                    corrections,
                    "<li>{link} by {}: {}</li>",
                    esc(&view.author),
                    esc(view.title.as_deref().unwrap_or(""))
                );
            }
            (Kind::Retraction, Some(BodyView::Retraction(r))) => {
                let _ = write!(
                    retractions,
                    "<li>{link} by {}: {}{}</li>",
                    esc(&view.author),
                    esc(&r.reason),
                    if r.purge { " (body purged)" } else { "" }
                );
            }
            (Kind::Ack, Some(BodyView::Ack(a))) => {
                let _ = write!(
                    acks,
                    "<li><strong>{}</strong>: {} {link}{}</li>",
                    esc(&view.author),
                    a.status.name(),
                    if a.note.is_empty() {
                        String::new()
                    } else {
                        format!(" — {}", esc(&a.note))
                    }
                );
            }
            _ => {}
        }
    }
    let mut out = String::new();
    if !retractions.is_empty() {
        let _ = write!(
            out,
            "<section class=\"retracted\"><h2>Retracted</h2><ul>{retractions}</ul></section>"
        );
    }
    if !corrections.is_empty() {
        let _ = write!(
            out,
            "<section><h2>Corrections</h2><ul>{corrections}</ul></section>"
        );
    }
    let _ = write!(
        out,
        "<section><h2>Acknowledgements by organization</h2>{}</section>",
        if acks.is_empty() {
            "<p>None yet.</p>".to_string()
        } else {
            format!("<ul>{acks}</ul>")
        }
    );
    out
}

/// The organizations whose decisions count for an entry.
fn approvers(audit: &AuditView) -> Vec<String> {
    if audit.approvers.is_empty() {
        vec![audit.author.clone()]
    } else {
        audit.approvers.clone()
    }
}

/// One request's timeline: asked, decided, released and received, and
/// what a grant still needs; a decision form if it waits on this organization.
fn timeline(authed: &Authed, audit: &AuditView, r: &AuditRequestView) -> String {
    let mut out = format!(
        "<li class=\"request\"><ol class=\"timeline\"><li><strong>Asked</strong> {} by {} for {}: {} \
         (<a href=\"/console/entries/{}\">request</a>)</li>",
        time(r.at_ms),
        esc(&r.org),
        esc(&r.fields.join(", ")),
        esc(&r.reason),
        esc(&r.request),
    );
    for d in &r.decisions {
        let _ = write!(
            out,
            "<li><strong>{}</strong> {} by {}: {}{}</li>",
            if d.grant { "Approved" } else { "Denied" },
            time(d.at_ms),
            esc(&d.org),
            esc(&d.reason),
            match &d.retraction {
                Some(x) => format!(" (retracted: {}; does not count)", esc(&x.reason)),
                None => String::new(),
            }
        );
    }
    match r.received_at_ms {
        Some(at) => {
            let _ = write!(
                out,
                "<li><strong>Released and received</strong> {} by {} (signed receipt in the log)</li>",
                time(at),
                esc(&r.org)
            );
        }
        None if r.status == "granted" => {
            out.push_str(
                "<li><strong>Granted</strong>: the author's node sends the fields; the receipt follows.</li>",
            );
        }
        None => {}
    }
    let decided: Vec<&str> = r.decisions.iter().map(|d| d.org.as_str()).collect();
    let waiting: Vec<String> = approvers(audit)
        .into_iter()
        .filter(|a| !decided.contains(&a.as_str()) && *a != r.org)
        .collect();
    let still = if r.status.starts_with("pending") {
        format!(
            "still needed: {} approval(s) in all, from {}",
            audit.threshold.max(1),
            if waiting.is_empty() {
                "nobody left".to_string()
            } else {
                waiting.join(", ")
            }
        )
    } else {
        r.why.clone().unwrap_or_default()
    };
    let _ = write!(
        out,
        "</ol><p class=\"status\">Status: <strong>{}</strong>{}</p>",
        esc(&r.status),
        if still.is_empty() {
            String::new()
        } else {
            format!(" — {}", esc(&still))
        }
    );
    if r.status.starts_with("pending") && waiting.contains(&authed.org) {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/console/requests/{id}/decide\" class=\"decide\">{csrf}\
             <input type=\"hidden\" name=\"entry\" value=\"{entry}\">\
             <label for=\"reason-{id}\">Reason (required to deny; everyone sees it)</label>\
             <input id=\"reason-{id}\" name=\"reason\" type=\"text\">\
             <button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button> \
             <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
            id = esc(&r.request),
            entry = esc(&audit.entry),
            csrf = authed.csrf_field(),
        );
    }
    out.push_str("</li>");
    out
}

/// The hazardous part of an entry page.
async fn hazardous(state: &ApiState, authed: &Authed, id: &str) -> String {
    let mut out = String::from("<section><h2>Withheld fields</h2>");
    match access::withheld(State(state.clone()), Ok(Path(id.to_string()))).await {
        Ok(held) => {
            let _ = write!(out, "{}<dl class=\"held\">", message("error", &held.0.notice));
            for f in &held.0.fields {
                let value = match &f.value {
                    HeldValue::Text(t) => format!("<span class=\"pre\">{}</span>", esc(t)),
                    HeldValue::List(l) => list(l),
                };
                let _ = write!(out, "<dt>{}</dt><dd>{value}</dd>", esc(&f.field));
            }
            out.push_str("</dl>");
        }
        Err(e) => out.push_str(&format!("<p>{}</p>", esc(e.message()))),
    }
    out.push_str("</section><section><h2>Audit timeline</h2>");
    match access::audit(State(state.clone()), Ok(Path(id.to_string()))).await {
        Ok(audit) => {
            let audit = audit.0;
            let _ = write!(
                out,
                "<p>Approvers: {} (threshold {}).</p>",
                esc(&approvers(&audit).join(", ")),
                audit.threshold.max(1)
            );
            if let Some(r) = &audit.retraction {
                out.push_str(&message(
                    "error",
                    &format!("Retracted: {}; nothing is released.", r.reason),
                ));
            }
            if audit.requests.is_empty() {
                out.push_str("<p>No requests yet.</p>");
            } else {
                out.push_str("<ol class=\"requests\">");
                for r in &audit.requests {
                    out.push_str(&timeline(authed, &audit, r));
                }
                out.push_str("</ol>");
            }
            if audit.author != authed.org {
                let boxes: Vec<String> = audit
                    .withheld
                    .iter()
                    .map(|f| {
                        format!(
                            "<label><input type=\"checkbox\" name=\"fields\" value=\"{0}\"{1}> {0}</label>",
                            esc(f),
                            if f == "details" { " checked" } else { "" }
                        )
                    })
                    .collect();
                let _ = write!(
                    out,
                    "<h3>Request the withheld fields</h3>\
                     <form method=\"post\" action=\"/console/entries/{}/request\" class=\"request-form\">{}\
                     <fieldset><legend>Fields</legend>{}</fieldset>\
                     <label for=\"req-reason\">Why your organization needs them (every member sees it)</label>\
                     <textarea id=\"req-reason\" name=\"reason\" rows=\"3\"></textarea>\
                     <button type=\"submit\">Request access</button></form>",
                    esc(id),
                    authed.csrf_field(),
                    boxes.concat()
                );
            }
        }
        Err(e) => out.push_str(&message("error", e.message())),
    }
    out.push_str("</section>");
    out
}

/// `POST /console/entries/{id}/request`: publishes an access request
/// through the API's handler.
pub(crate) async fn request(
    State(state): State<ApiState>,
    authed: Authed,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let form = match authed.form(form, "Request refused", Section::Hazardous) {
        Ok(form) => form,
        Err(page) => return *page,
    };
    let fields: Result<Vec<WithheldField>, String> = form
        .all("fields")
        .into_iter()
        .map(<WithheldField as Named>::from_name)
        .collect();
    let input = match fields {
        Ok(fields) => access::AccessRequestInput {
            fields: (!fields.is_empty()).then_some(fields),
            reason: form.get("reason").unwrap_or_default().to_string(),
        },
        Err(e) => return refused(&authed, &id, &ApiError::new(StatusCode::BAD_REQUEST, e)),
    };
    let body = match serde_json::to_vec(&input) {
        Ok(b) => Bytes::from(b),
        Err(e) => {
            return refused(
                &authed,
                &id,
                &ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            );
        }
    };
    match access::request(State(state), Ok(Path(id.clone())), Ok(body)).await {
        Ok(_) => Redirect::to(&format!("/console/entries/{id}?done=requested")).into_response(),
        Err(e) => refused(&authed, &id, &e),
    }
}

fn refused(authed: &Authed, entry: &str, error: &ApiError) -> Response {
    let main = format!(
        "{}<p><a href=\"/console/entries/{}\">Back to the entry</a></p>",
        message("error", &format!("Nothing was changed: {}", error.message())),
        esc(entry)
    );
    authed.page(error.status(), "Refused", Section::Hazardous, &main)
}

/// `POST /console/requests/{id}/decide`: approve or deny through the API's handlers.
pub(crate) async fn decide(
    State(state): State<ApiState>,
    authed: Authed,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let form = match authed.form(form, "Decision refused", Section::Hazardous) {
        Ok(form) => form,
        Err(page) => return *page,
    };
    let entry = form.get("entry").unwrap_or_default().to_string();
    let input = access::DecisionInput {
        reason: form.get("reason").map(str::to_string),
    };
    let body = match serde_json::to_vec(&input) {
        Ok(b) => Ok(Bytes::from(b)),
        Err(e) => {
            return refused(
                &authed,
                &entry,
                &ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            );
        }
    };
    let result = match form.get("decision") {
        Some("approve") => access::approve(State(state), Ok(Path(id)), body).await,
        Some("deny") => access::deny(State(state), Ok(Path(id)), body).await,
        _ => Err(ApiError::new(StatusCode::BAD_REQUEST, "choose Approve or Deny")),
    };
    match result {
        Ok(_) => Redirect::to(&format!("/console/entries/{entry}?done=decided")).into_response(),
        Err(e) => refused(&authed, &entry, &e),
    }
}

/// `GET /console/hazardous`: requests waiting on this organization, and
/// this organization's own requests, across the newest hazardous entries.
pub(crate) async fn queue(State(state): State<ApiState>, authed: Authed) -> Response {
    let filter = ListFilter {
        tier: Some(Tier::Hazardous),
        kind: Some(Kind::Bulletin),
        limit: Some(QUEUE_ENTRIES),
        ..ListFilter::default()
    };
    let ids = match with_store(&state, move |store| {
        store
            .list(&filter)
            .map(|rows| rows.iter().map(|e| e.meta.id.to_hex()).collect::<Vec<_>>())
            .map_err(ApiError::store)
    })
    .await
    {
        Ok(ids) => ids,
        Err(e) => return authed.failure("Hazardous queue", Section::Hazardous, &e),
    };
    let mut waiting = String::new();
    let mut mine = String::new();
    for id in ids {
        let Ok(audit) = access::audit(State(state.clone()), Ok(Path(id.clone()))).await else {
            continue;
        };
        let audit = audit.0;
        let heading = format!(
            "<h3><a href=\"/console/entries/{}\">{}</a> <span class=\"by\">by {}</span></h3>",
            esc(&audit.entry),
            esc(audit.title.as_deref().unwrap_or("(untitled)")),
            esc(&audit.author)
        );
        for r in &audit.requests {
            let item = format!(
                "<li>{heading}<ol class=\"requests\">{}</ol></li>",
                timeline(&authed, &audit, r)
            );
            let decided = r.decisions.iter().any(|d| d.org == authed.org);
            if r.status.starts_with("pending")
                && approvers(&audit).contains(&authed.org)
                && !decided
                && r.org != authed.org
            {
                waiting.push_str(&item);
            } else if r.org == authed.org || approvers(&audit).contains(&authed.org) {
                mine.push_str(&item);
            }
        }
    }
    let main = format!(
        "<section><h2>Waiting on {}</h2>{}</section><section><h2>Asked by or decided by {}</h2>{}</section>",
        esc(&authed.org),
        if waiting.is_empty() {
            "<p>Nothing waits on you.</p>".into()
        } else {
            format!("<ul class=\"queue\">{waiting}</ul>")
        },
        esc(&authed.org),
        if mine.is_empty() {
            "<p>None.</p>".into()
        } else {
            format!("<ul class=\"queue\">{mine}</ul>")
        },
    );
    authed.page(StatusCode::OK, "Hazardous queue", Section::Hazardous, &main)
}
