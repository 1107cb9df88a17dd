//! The feed: entries newest first, filtered (the API's filters plus a
//! commitment number and full-text search over the bodies this
//! organization can read), and a live stream of new rows (server-sent
//! events) fed by the node's notices of newly stored entries.

use super::html::{Section, esc, feed_row, message, select, select_named, url_value};
use super::{Authed, bare_page};
use crate::api::entries::{ListQuery, filter, off_lock};
use crate::api::views::{BodyView, ReadEntry, Reader};
use crate::api::{ApiError, ApiState, with_store};
use crate::plaintext::Wiped;
use crate::store::{ListFilter, MAX_LIST_LIMIT, StoredEntry};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use riskmesh_protocol::{Category, EntryId, Kind, Severity, Tier};
use serde::Deserialize;
use std::fmt::Write;
use std::time::Instant;
use tokio::sync::broadcast::error::RecvError;

/// Rows the feed shows.
pub const FEED_ROWS: usize = 100;
/// Longest search text, in characters.
pub const MAX_SEARCH_CHARS: usize = 200;

/// The feed's filters, as the form sends them (empty means any).
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct FeedQuery {
    tier: Option<String>,
    kind: Option<String>,
    category: Option<String>,
    severity: Option<String>,
    author: Option<String>,
    commitment: Option<String>,
    q: Option<String>,
}

fn set(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// A feed query checked: the store filter and the console's own tests.
#[derive(Debug, Clone)]
struct Matcher {
    filter: ListFilter,
    commitment: Option<u8>,
    needle: Option<String>,
}

impl FeedQuery {
    fn matcher(&self, state: &ApiState) -> Result<Matcher, ApiError> {
        let list = ListQuery {
            tier: set(&self.tier),
            kind: set(&self.kind),
            category: set(&self.category),
            severity: set(&self.severity),
            author: set(&self.author),
            ..ListQuery::default()
        };
        let filter = filter(&list, &state.node.current_roster())?;
        let commitment = match set(&self.commitment) {
            None => None,
            Some(text) => match text.parse::<u8>() {
                Ok(n @ 1..=8) => Some(n),
                _ => {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!(
                            "commitment `{text}` is not one of the eight White House commitments: give 1 to 8"
                        ),
                    ));
                }
            },
        };
        let needle = match set(&self.q) {
            Some(q) if q.chars().count() > MAX_SEARCH_CHARS => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("the search text is over {MAX_SEARCH_CHARS} characters; shorten it"),
                ));
            }
            q => q.map(|q| q.to_lowercase()),
        };
        Ok(Matcher {
            filter,
            commitment,
            needle,
        })
    }

    /// The query string of these filters (for the live stream).
    fn query_string(&self) -> String {
        let fields = [
            ("tier", &self.tier),
            ("kind", &self.kind),
            ("category", &self.category),
            ("severity", &self.severity),
            ("author", &self.author),
            ("commitment", &self.commitment),
            ("q", &self.q),
        ];
        fields
            .iter()
            .filter_map(|(k, v)| set(v).map(|v| format!("{k}={}", url_value(&v))))
            .collect::<Vec<_>>()
            .join("&")
    }
}

impl Matcher {
    /// Whether a stored entry passes the store filter (for live rows,
    /// which do not come through the store's query).
    fn passes_filter(&self, entry: &StoredEntry) -> bool {
        let meta = &entry.meta;
        let f = &self.filter;
        f.tier.is_none_or(|t| t == meta.tier)
            && f.kind.is_none_or(|k| k == meta.kind)
            && f.category.is_none_or(|c| meta.category == Some(c))
            && f.min_severity
                .is_none_or(|min| meta.severity.is_some_and(|s| s as u8 >= min as u8))
            && f.author.is_none_or(|a| a == meta.author)
    }

    /// Whether a read entry passes the commitment and text tests.
    fn passes_body(&self, read: &ReadEntry) -> bool {
        let bulletin = match &read.body {
            Some(BodyView::Bulletin(b)) => Some(b),
            _ => None,
        };
        if let Some(n) = self.commitment
            && !bulletin.is_some_and(|b| b.commitments.contains(&n))
        {
            return false;
        }
        let Some(needle) = &self.needle else {
            return true;
        };
        let found = |text: &str| text.to_lowercase().contains(needle.as_str());
        let in_body = match &read.body {
            Some(BodyView::Bulletin(b)) => {
                found(&b.title)
                    || found(&b.summary)
                    || found(&b.details)
                    || b.affected
                        .iter()
                        .chain(&b.mitigations)
                        .chain(&b.references)
                        .any(|t| found(t))
            }
            Some(BodyView::Retraction(r)) => found(&r.reason),
            Some(BodyView::Ack(a)) => found(&a.note),
            Some(BodyView::AccessRequest(r)) => found(&r.reason),
            Some(BodyView::AccessDecision(d)) => found(&d.reason),
            Some(BodyView::AccessReceipt(_)) | None => false,
        };
        in_body || found(&read.view.author)
    }

    fn scans_bodies(&self) -> bool {
        self.commitment.is_some() || self.needle.is_some()
    }
}

/// The newest entries that match, read for this organization.
async fn search(state: &ApiState, matcher: Matcher) -> Result<Vec<String>, ApiError> {
    let mut filter = matcher.filter.clone();
    // Searching reads bodies: the newest MAX_LIST_LIMIT entries are scanned.
    filter.limit = Some(if matcher.scans_bodies() {
        MAX_LIST_LIMIT
    } else {
        FEED_ROWS
    });
    let rows = with_store(state, move |store| store.list(&filter).map_err(ApiError::store)).await?;
    let roster = state.node.current_roster();
    let secrets = state.org.clone();
    let me = state.node.org_key;
    off_lock(move || {
        let reader = Reader {
            roster: &roster,
            me,
            secrets: &secrets,
        };
        rows.iter()
            .map(|e| Wiped::new(reader.read(e)))
            .filter(|read| matcher.passes_body(read))
            .take(FEED_ROWS)
            .map(|read| feed_row(&read.view))
            .collect()
    })
    .await
}

/// `GET /console/`: the feed.
pub(crate) async fn feed(
    State(state): State<ApiState>,
    authed: Authed,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> Response {
    let (query, query_error) = match query {
        Ok(Query(q)) => (q, None),
        Err(e) => (FeedQuery::default(), Some(e.body_text())),
    };
    let result = match query.matcher(&state) {
        Ok(matcher) => {
            let scanned = matcher.scans_bodies();
            search(&state, matcher).await.map(|rows| (rows, scanned))
        }
        Err(e) => Err(e),
    };
    let roster = state.node.current_roster();
    let authors: Vec<(String, String)> = roster
        .doc()
        .members
        .iter()
        .map(|m| (m.org.clone(), m.org.clone()))
        .collect();
    let commitments: Vec<(String, String)> = (1..=8)
        .map(|n| (n.to_string(), format!("commitment {n}")))
        .collect();
    let value = |v: &Option<String>| set(v);
    let mut main = String::new();
    if let Some(e) = query_error {
        main.push_str(&message("error", &e));
    }
    let _ = write!(
        main,
        "<form method=\"get\" action=\"/console/\" class=\"filters\" role=\"search\">\
         <div>{}</div><div>{}</div><div>{}</div><div>{}</div><div>{}</div><div>{}</div>\
         <div class=\"wide\"><label for=\"f-q\">Search the bodies you can read</label>\
         <input id=\"f-q\" name=\"q\" type=\"search\" value=\"{}\"></div>\
         <div><button type=\"submit\">Apply</button> <a href=\"/console/\">Clear</a></div></form>",
        select_named::<Tier>("tier", "Tier", "any", value(&query.tier).as_deref()),
        select_named::<Kind>("kind", "Kind", "any", value(&query.kind).as_deref()),
        select_named::<Category>("category", "Category", "any", value(&query.category).as_deref()),
        select_named::<Severity>(
            "severity",
            "Severity at least",
            "any",
            value(&query.severity).as_deref()
        ),
        select(
            "author",
            "Author",
            "any",
            &authors,
            value(&query.author).as_deref()
        ),
        select(
            "commitment",
            "Commitment",
            "any",
            &commitments,
            value(&query.commitment).as_deref()
        ),
        esc(&value(&query.q).unwrap_or_default()),
    );
    let status = match result {
        Ok((rows, scanned)) => {
            let note = if scanned {
                format!(" (searched the newest {MAX_LIST_LIMIT} entries)")
            } else {
                String::new()
            };
            let _ = write!(
                main,
                "<p id=\"live\" role=\"status\" aria-live=\"polite\">{} entries shown{note}; new ones appear \
                 here as they arrive.</p>\
                 <table class=\"feed\"><caption>Entries, newest first</caption><thead><tr><th scope=\"col\">Time</th>\
                 <th scope=\"col\">Tier</th><th scope=\"col\">Kind</th><th scope=\"col\">Author</th><th scope=\"col\">Title</th>\
                 <th scope=\"col\">Category</th><th scope=\"col\">Severity</th></tr></thead>\
                 <tbody id=\"feed-rows\" data-events=\"/console/events?{}\">{}</tbody></table>",
                rows.len(),
                esc(&query.query_string()),
                rows.concat(),
            );
            StatusCode::OK
        }
        Err(e) => {
            main.push_str(&message("error", e.message()));
            e.status()
        }
    };
    authed.page(status, "Feed", Section::Feed, &main)
}

/// `GET /console/events`: a server-sent event `entry` (one feed row of
/// HTML) for each newly stored entry that passes the filters, `reload`
/// when notices were missed. Ends when the session or the node does.
pub(crate) async fn events(
    State(state): State<ApiState>,
    authed: Authed,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> Response {
    let matcher = match query
        .map_err(|e| e.body_text())
        .and_then(|Query(q)| q.matcher(&state).map_err(|e| e.message().to_string()))
    {
        Ok(m) => m,
        Err(e) => return bare_page(StatusCode::BAD_REQUEST, "Bad filter", &e),
    };
    let notices = state.node.subscribe_stored();
    let session = authed.session.id.clone();
    let stream = futures::stream::unfold(
        (notices, state, matcher, session),
        |(mut notices, state, matcher, session)| async move {
            loop {
                let received = notices.recv().await;
                // The stream ends with the session (a logout, or expiry).
                state.console.find(&session, Instant::now())?;
                let event = match received {
                    Ok(id) => match live_row(&state, &matcher, id).await {
                        Some(row) => Event::default().event("entry").data(row),
                        None => continue,
                    },
                    Err(RecvError::Lagged(_)) => Event::default().event("reload").data("missed"),
                    Err(RecvError::Closed) => return None,
                };
                return Some((
                    Ok::<_, std::convert::Infallible>(event),
                    (notices, state, matcher, session),
                ));
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// The feed row of a newly stored entry, if it passes the filters.
async fn live_row(state: &ApiState, matcher: &Matcher, id: EntryId) -> Option<String> {
    let entry = with_store(state, move |store| store.get(&id).map_err(ApiError::store))
        .await
        .ok()
        .flatten()?;
    if !matcher.passes_filter(&entry) {
        return None;
    }
    let roster = state.node.current_roster();
    let secrets = state.org.clone();
    let me = state.node.org_key;
    let matcher = matcher.clone();
    off_lock(move || {
        let reader = Reader {
            roster: &roster,
            me,
            secrets: &secrets,
        };
        let read = Wiped::new(reader.read(&entry));
        matcher.passes_body(&read).then(|| feed_row(&read.view))
    })
    .await
    .ok()
    .flatten()
}
