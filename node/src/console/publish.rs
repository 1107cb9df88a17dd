//! The publish form: every kind and tier the CLI offers, recipients for a
//! restricted entry, and for a hazardous finding the withheld fields,
//! typed into inputs that are never echoed back (a refused form comes back
//! without them, and says so), never logged and never cached. The form
//! becomes the API's [`PublishRequest`] and goes through its handler.

use super::html::{Section, esc, message, select, select_named};
use super::{Authed, Fields};
use crate::api::names::Named;
use crate::api::{ApiError, ApiState, PublishRequest, ReleaseRequest, entries};
use axum::Form;
use axum::body::Bytes;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use riskmesh_protocol::body::AckStatus;
use riskmesh_protocol::redaction::WithheldField;
use riskmesh_protocol::{Category, Kind, Severity, Tier};
use std::collections::HashMap;
use std::fmt::Write;

/// The kinds an analyst publishes from the form.
const KINDS: [Kind; 4] = [Kind::Bulletin, Kind::Correction, Kind::Retraction, Kind::Ack];
/// The bulletin fields the hazardous tier may withhold besides `details`.
const WITHHOLDABLE: [WithheldField; 4] = [
    WithheldField::Title,
    WithheldField::Summary,
    WithheldField::Affected,
    WithheldField::References,
];

fn lines(text: Option<&str>) -> Option<Vec<String>> {
    let items: Vec<String> = text?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    (!items.is_empty()).then_some(items)
}

fn named<T: Named>(form: &Fields, name: &str) -> Result<Option<T>, String> {
    form.get(name).map(T::from_name).transpose()
}

/// Whether a text field of the form holds withheld text (never echoed).
fn is_withheld(form: &Fields, field: &str) -> bool {
    if field == "withheld_details" {
        return true;
    }
    form.get("tier") == Some("hazardous") && form.all("withhold").contains(&field)
}

/// The form's fields as the API's publish request.
fn request(form: &Fields) -> Result<PublishRequest, String> {
    let kind = named::<Kind>(form, "kind")?.unwrap_or(Kind::Bulletin);
    if !KINDS.contains(&kind) {
        return Err(format!("kind `{}` is not published from this form", kind.name()));
    }
    let tier = named::<Tier>(form, "tier")?;
    let mut request = PublishRequest {
        kind: Some(kind),
        tier,
        ..PublishRequest::default()
    };
    let text = |name: &str| form.get(name).map(str::to_string);
    match kind {
        Kind::Bulletin | Kind::Correction => {
            request.title = text("title");
            request.summary = text("summary");
            request.category = named::<Category>(form, "category")?;
            request.severity = named::<Severity>(form, "severity")?;
            request.affected = lines(form.get("affected"));
            request.mitigations = lines(form.get("mitigations"));
            request.references = lines(form.get("references"));
            let commitments: Result<Vec<u8>, String> = form
                .all("commitments")
                .into_iter()
                .map(|c| {
                    c.parse::<u8>()
                        .map_err(|_| format!("commitment `{c}` is not a number from 1 to 8"))
                })
                .collect();
            let commitments = commitments?;
            request.commitments = (!commitments.is_empty()).then_some(commitments);
            if kind == Kind::Correction {
                request.supersedes = text("supersedes");
            }
            let recipients: Vec<String> = form.all("recipients").into_iter().map(str::to_string).collect();
            if tier == Some(Tier::Restricted) || !recipients.is_empty() {
                request.recipients = Some(recipients);
            }
            if tier == Some(Tier::Hazardous) {
                if form.get("details").is_some() {
                    return Err("at the hazardous tier the details are withheld: type them into \
                                \"Withheld details\", not \"Details\""
                        .into());
                }
                request.details = text("withheld_details");
                let withhold: Result<Vec<WithheldField>, String> = form
                    .all("withhold")
                    .into_iter()
                    .map(<WithheldField as Named>::from_name)
                    .collect();
                let mut withhold = withhold?;
                withhold.insert(0, WithheldField::Details);
                request.withhold = Some(withhold);
                request.sanitized_title = text("sanitized_title");
                request.sanitized_summary = text("sanitized_summary");
                let approvers: Vec<String> = form.all("approvers").into_iter().map(str::to_string).collect();
                let threshold = match form.get("threshold") {
                    None => None,
                    Some(t) => Some(
                        t.parse::<u64>()
                            .map_err(|_| format!("threshold `{t}` is not a number of approvals"))?,
                    ),
                };
                let observers = form.get("observers_may_request").is_some();
                if !approvers.is_empty() || threshold.is_some() || observers {
                    request.release = Some(ReleaseRequest {
                        observers_may_request: observers.then_some(true),
                        approvers: (!approvers.is_empty()).then_some(approvers),
                        threshold,
                    });
                }
            } else {
                if form.get("withheld_details").is_some() {
                    return Err(
                        "\"Withheld details\" apply only at the hazardous tier; choose that tier or use \
                                \"Details\""
                            .into(),
                    );
                }
                request.details = text("details");
            }
        }
        Kind::Retraction => {
            request.target = text("target");
            request.reason = text("reason");
            request.purge = form.get("purge").is_some().then_some(true);
        }
        Kind::Ack => {
            request.target = text("target");
            request.status = named::<AckStatus>(form, "status")?;
            request.note = text("note");
        }
        _ => {}
    }
    Ok(request)
}

/// The form, filled from `values` (a refused form's fields less the
/// withheld ones, or the query of a link such as "Correct").
fn render(
    state: &ApiState,
    authed: &Authed,
    values: &dyn Fn(&str) -> Option<String>,
    checked: &dyn Fn(&str, &str) -> bool,
) -> String {
    let roster = state.node.current_roster();
    let others: Vec<String> = roster
        .doc()
        .members
        .iter()
        .map(|m| m.org.clone())
        .filter(|o| *o != authed.org)
        .collect();
    let value = |name: &str| esc(&values(name).unwrap_or_default());
    let input = |name: &str, label: &str| {
        format!(
            "<label for=\"p-{name}\">{label}</label><input id=\"p-{name}\" name=\"{name}\" type=\"text\" value=\"{}\">",
            value(name)
        )
    };
    let area = |name: &str, label: &str, extra: &str| {
        format!(
            "<label for=\"p-{name}\">{label}</label><textarea id=\"p-{name}\" name=\"{name}\" rows=\"3\"{extra}>{}</textarea>",
            value(name)
        )
    };
    let boxes = |name: &str, items: &[String]| -> String {
        items
            .iter()
            .map(|i| {
                format!(
                    "<label><input type=\"checkbox\" name=\"{name}\" value=\"{0}\"{1}> {0}</label>",
                    esc(i),
                    if checked(name, i) { " checked" } else { "" }
                )
            })
            .collect()
    };
    let kinds: Vec<(String, String)> = KINDS.iter().map(|k| (k.name().into(), k.name().into())).collect();
    let commitments: Vec<String> = (1..=8).map(|n: u8| n.to_string()).collect();
    let withholdable: Vec<String> = WITHHOLDABLE.iter().map(|w| w.name().to_string()).collect();
    let mut out = format!(
        "<form method=\"post\" action=\"/console/publish\" class=\"publish\">{}\
         <fieldset><legend>What</legend>{}{}</fieldset>",
        authed.csrf_field(),
        select("kind", "Kind", "", &kinds, values("kind").as_deref()),
        select_named::<Tier>(
            "tier",
            "Tier (default: consortium; for a correction, the corrected entry's)",
            "default",
            values("tier").as_deref()
        ),
    );
    let _ = write!(
        out,
        "<fieldset><legend>Bulletin or correction</legend>{}{}{}{}{}{}{}{}\
         <fieldset><legend>White House commitments concerned</legend>{}</fieldset>{}</fieldset>",
        input("title", "Title"),
        area("summary", "Summary", ""),
        select_named::<Category>("category", "Category", "choose", values("category").as_deref()),
        select_named::<Severity>("severity", "Severity", "choose", values("severity").as_deref()),
        area("affected", "Affected systems (one per line)", ""),
        area("details", "Details (not at the hazardous tier)", ""),
        area("mitigations", "Mitigations (one per line)", ""),
        area("references", "References (one per line)", ""),
        boxes("commitments", &commitments),
        input("supersedes", "Correction: id of the entry it corrects"),
    );
    let _ = write!(
        out,
        "<fieldset><legend>Restricted tier: recipients (your organization is always added)</legend>{}</fieldset>",
        boxes("recipients", &others)
    );
    let _ = write!(
        out,
        "<fieldset class=\"withheld\"><legend>Hazardous tier (TLP:RED)</legend>\
         <p>The withheld fields stay on this node, encrypted; everyone sees only their commitments. \
         They are never shown back on this form.</p>\
         <label for=\"p-withheld_details\">Withheld details</label>\
         <textarea id=\"p-withheld_details\" name=\"withheld_details\" rows=\"4\" autocomplete=\"off\" \
         spellcheck=\"false\"></textarea>\
         <fieldset><legend>Also withhold</legend>{}</fieldset>{}{}\
         <fieldset><legend>Approvers (none: your organization alone)</legend>{}</fieldset>{}\
         <label><input type=\"checkbox\" name=\"observers_may_request\" value=\"yes\"{}> observers may request</label>\
         </fieldset>",
        boxes("withhold", &withholdable),
        input(
            "sanitized_title",
            "Title everyone sees (if the title is withheld)"
        ),
        area(
            "sanitized_summary",
            "Summary everyone sees (if the summary is withheld)",
            ""
        ),
        boxes(
            "approvers",
            &others
                .iter()
                .cloned()
                .chain([authed.org.clone()])
                .collect::<Vec<_>>()
        ),
        input("threshold", "Approvals needed (default 1)"),
        if checked("observers_may_request", "yes") {
            " checked"
        } else {
            ""
        },
    );
    let statuses: Vec<(String, String)> = AckStatus::all()
        .iter()
        .map(|s| (s.name().into(), s.name().into()))
        .collect();
    let _ = write!(
        out,
        "<fieldset><legend>Retraction or ack</legend>{}{}\
         <label><input type=\"checkbox\" name=\"purge\" value=\"yes\"{}> purge: every node drops the body</label>\
         {}{}</fieldset><button type=\"submit\">Publish</button></form>",
        input("target", "Id of the entry retracted or acknowledged"),
        input("reason", "Retraction: why (everyone sees it)"),
        if checked("purge", "yes") { " checked" } else { "" },
        select(
            "status",
            "Ack: status",
            "choose",
            &statuses,
            values("status").as_deref()
        ),
        area("note", "Ack: note", ""),
    );
    out
}

/// `GET /console/publish` (the query may preset `kind`, `target`, `supersedes`).
pub(crate) async fn form(
    State(state): State<ApiState>,
    authed: Authed,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let preset = query.map(|Query(q)| q).unwrap_or_default();
    let values = |name: &str| match name {
        "kind" | "target" | "supersedes" => preset.get(name).cloned(),
        _ => None,
    };
    let main = render(&state, &authed, &values, &|_, _| false);
    authed.page(StatusCode::OK, "Publish", Section::Publish, &main)
}

/// `POST /console/publish`.
pub(crate) async fn submit(
    State(state): State<ApiState>,
    authed: Authed,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let form = match Fields::read(form) {
        Ok(f) => f,
        Err(why) => {
            let main = format!(
                "{}{}",
                message("error", &why),
                render(&state, &authed, &|_| None, &|_, _| false)
            );
            return authed.page(StatusCode::PAYLOAD_TOO_LARGE, "Publish", Section::Publish, &main);
        }
    };
    if let Some(page) = authed.csrf_refusal(&form, Section::Publish) {
        return page;
    }
    let result = match request(&form) {
        Ok(request) => match serde_json::to_vec(&request) {
            Ok(json) => entries::publish(State(state.clone()), Ok(Bytes::from(json)))
                .await
                .map(|(_, answer)| answer.0.entry.id.clone()),
            Err(e) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        },
        Err(e) => Err(ApiError::new(StatusCode::BAD_REQUEST, e)),
    };
    match result {
        Ok(id) => Redirect::to(&format!("/console/entries/{id}?done=published")).into_response(),
        Err(e) => {
            let dropped = ["withheld_details", "title", "summary", "affected", "references"]
                .iter()
                .any(|f| is_withheld(&form, f) && form.get(f).is_some());
            let mut note = format!("Nothing was published: {}", e.message());
            if dropped {
                note.push_str(" The withheld fields were not kept: type them again.");
            }
            let values = |name: &str| {
                (!is_withheld(&form, name))
                    .then(|| form.get(name).map(str::to_string))
                    .flatten()
            };
            let checked = |name: &str, value: &str| form.all(name).contains(&value);
            let main = format!(
                "{}{}",
                message("error", &note),
                render(&state, &authed, &values, &checked)
            );
            authed.page(e.status(), "Publish", Section::Publish, &main)
        }
    }
}
