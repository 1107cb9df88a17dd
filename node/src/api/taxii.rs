//! A read-only TAXII 2.1 server over the node's STIX mapping, under
//! `/taxii2/` on the same listeners as the rest of the API (loopback TCP and
//! the Unix socket; the same Host and Origin checks). One API root, `api/`,
//! with one collection per view this organization may read: public,
//! consortium, restricted to it, and hazardous summaries. Each serves the
//! objects `crate::stix` maps that view's entries to (marked with the view's
//! TLP 2.0 marking), with the identities, markings and definitions they
//! refer to.
//!
//! Authentication is the API token, as TAXII clients send it: HTTP Basic
//! (any user name, the token as password) or `Authorization: Bearer`.
//! Errors are TAXII error objects. `date_added` is when this node stored
//! the entry an object came from (never decreasing), and objects are listed
//! in that order; `next` is an opaque cursor into it.
//!
//! A collection is mapped afresh from the store for each request, with at
//! most [`MAX_COLLECTION_OBJECTS`] objects; a larger collection is refused
//! with an error that points to `riskmesh export --stix`.

use super::views::Reader;
use super::{ApiState, MAX_REQUEST_BYTES, constant_time_eq};
use crate::stix::bundle::{mapper_for, walk};
use crate::stix::{NAMESPACE, STIX_MEDIA_TYPE, StixObject};
use crate::store::ALL_ENTRIES_PAGE;
use crate::utc::{parse_rfc3339, rfc3339_ms};
use axum::Router;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use riskmesh_protocol::Tier;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// The TAXII 2.1 media type.
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";

/// Objects a page holds when the client gives no `limit`.
pub const DEFAULT_PAGE: usize = 100;

/// Most objects a page holds, whatever `limit` asks for.
pub const MAX_PAGE: usize = 1000;

/// Most objects one collection may map to for the server to answer.
pub const MAX_COLLECTION_OBJECTS: usize = 50_000;

/// Most values in one `match[...]` filter.
pub const MAX_FILTER_VALUES: usize = 100;

/// A TAXII error object with its status.
#[derive(Debug)]
pub struct TaxiiError {
    status: StatusCode,
    title: &'static str,
    description: String,
}

impl TaxiiError {
    fn new(status: StatusCode, title: &'static str, description: impl Into<String>) -> Self {
        TaxiiError {
            status,
            title,
            description: description.into(),
        }
    }

    fn bad_request(description: impl Into<String>) -> Self {
        TaxiiError::new(StatusCode::BAD_REQUEST, "bad request", description)
    }

    fn not_found(description: impl Into<String>) -> Self {
        TaxiiError::new(StatusCode::NOT_FOUND, "not found", description)
    }
}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        let body = json!({
            "title": self.title,
            "description": self.description,
            "http_status": self.status.as_u16().to_string(),
        });
        let mut response = taxii_json(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"riskmesh\""),
            );
        }
        response
    }
}

fn taxii_json(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, TAXII_MEDIA_TYPE)],
        body.to_string(),
    )
        .into_response()
}

/// The TAXII routes, with their own authentication (Basic or Bearer).
pub(crate) fn routes(state: ApiState) -> Router<ApiState> {
    const COLLECTION: &str = "/taxii2/api/collections/{collection}";
    Router::new()
        .route("/taxii2/", get(discovery))
        .route("/taxii2/api/", get(api_root))
        .route("/taxii2/api/collections/", get(collections))
        .route(&format!("{COLLECTION}/"), get(collection))
        .route(&format!("{COLLECTION}/objects/"), get(objects).post(read_only))
        .route(
            &format!("{COLLECTION}/objects/{{object}}/"),
            get(object).delete(read_only),
        )
        .route(
            &format!("{COLLECTION}/objects/{{object}}/versions/"),
            get(versions),
        )
        .route(&format!("{COLLECTION}/manifest/"), get(manifest))
        .route("/taxii2/api/status/{status}/", get(no_status))
        .route_layer(middleware::from_fn_with_state(state, authenticate))
}

/// Checks the token (Basic password or Bearer) and the `Accept` header.
async fn authenticate(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    if let Err(e) = check_token(&state, request.headers()).and_then(|()| check_accept(request.headers())) {
        return e.into_response();
    }
    next.run(request).await
}

fn check_token(state: &ApiState, headers: &HeaderMap) -> Result<(), TaxiiError> {
    let unauthorized = |why: &str| {
        TaxiiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!(
                "{why}: send the node's API token (data directory, api-token) as the HTTP Basic password or as a Bearer token"
            ),
        )
    };
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized("no Authorization header"))?;
    let token = if let Some(token) = value.strip_prefix("Bearer ") {
        token.as_bytes().to_vec()
    } else if let Some(encoded) = value.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| unauthorized("the Basic credentials are not base64"))?;
        match decoded.iter().position(|b| *b == b':') {
            Some(colon) => decoded[colon + 1..].to_vec(),
            None => return Err(unauthorized("the Basic credentials have no `user:password` form")),
        }
    } else {
        return Err(unauthorized("only Basic and Bearer authorization are accepted"));
    };
    if constant_time_eq(&token, state.token.as_bytes()) {
        Ok(())
    } else {
        Err(unauthorized("bad token"))
    }
}

/// Refuses an `Accept` header that admits neither TAXII 2.1 JSON nor anything.
fn check_accept(headers: &HeaderMap) -> Result<(), TaxiiError> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let acceptable = accept.split(',').any(|item| {
        let mut parts = item.split(';').map(|p| p.trim().to_ascii_lowercase());
        let media = parts.next().unwrap_or_default();
        let version_ok = parts.all(|p| !p.starts_with("version=") || p == "version=2.1");
        version_ok && matches!(media.as_str(), "application/taxii+json" | "application/*" | "*/*")
    });
    if acceptable {
        Ok(())
    } else {
        Err(TaxiiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "not acceptable",
            format!("this server answers {TAXII_MEDIA_TYPE}; the request accepts only `{accept}`"),
        ))
    }
}

async fn discovery(State(state): State<ApiState>) -> Response {
    taxii_json(
        StatusCode::OK,
        &json!({
            "title": format!("riskmesh node of {}", state.org.org),
            "description": "Read-only TAXII 2.1 view of the riskmesh bulletins this organization may read.",
            "default": "api/",
            "api_roots": ["api/"],
        }),
    )
}

async fn api_root(State(state): State<ApiState>) -> Response {
    taxii_json(
        StatusCode::OK,
        &json!({
            "title": format!("riskmesh network {}", state.node.current_roster().network()),
            "description": "One collection per view: public, consortium, restricted to this organization, hazardous summaries.",
            "versions": [TAXII_MEDIA_TYPE],
            "max_content_length": MAX_REQUEST_BYTES,
        }),
    )
}

/// A view this organization reads, served as a collection.
#[derive(Debug, Clone, Copy)]
struct View {
    name: &'static str,
    tier: Tier,
}

const VIEWS: [View; 4] = [
    View {
        name: "public",
        tier: Tier::Public,
    },
    View {
        name: "consortium",
        tier: Tier::Consortium,
    },
    View {
        name: "restricted",
        tier: Tier::Restricted,
    },
    View {
        name: "hazardous",
        tier: Tier::Hazardous,
    },
];

/// The collection id of a view: a UUIDv5 of the network and the view, so it
/// is the same on every node of the network and across restarts.
fn collection_id(network: &str, view: View) -> String {
    Uuid::new_v5(
        &NAMESPACE,
        format!("taxii-collection:{network}/{}", view.name).as_bytes(),
    )
    .to_string()
}

fn collection_resource(state: &ApiState, view: View) -> Value {
    let network = state.node.current_roster().network().to_string();
    let (title, description) = match view.tier {
        Tier::Public => ("Public", "Bulletins anyone may read (TLP:CLEAR)."),
        Tier::Consortium => (
            "Consortium",
            "Bulletins every roster participant reads (TLP:GREEN).",
        ),
        Tier::Restricted => (
            "Restricted to us",
            "Restricted bulletins addressed to this organization (TLP:AMBER+STRICT).",
        ),
        Tier::Hazardous => (
            "Hazardous summaries",
            "Redacted summaries of hazardous findings; the withheld fields are never served (TLP:RED).",
        ),
    };
    json!({
        "id": collection_id(&network, view),
        "title": title,
        "description": description,
        "alias": view.name,
        "can_read": true,
        "can_write": false,
        "media_types": [STIX_MEDIA_TYPE],
    })
}

fn find_view(state: &ApiState, id: &str) -> Result<View, TaxiiError> {
    let network = state.node.current_roster().network().to_string();
    VIEWS
        .into_iter()
        .find(|v| collection_id(&network, *v) == id || v.name == id)
        .ok_or_else(|| {
            TaxiiError::not_found(format!(
                "no collection `{id}`; GET /taxii2/api/collections/ lists them"
            ))
        })
}

async fn collections(State(state): State<ApiState>) -> Response {
    let list: Vec<Value> = VIEWS.iter().map(|v| collection_resource(&state, *v)).collect();
    taxii_json(StatusCode::OK, &json!({ "collections": list }))
}

async fn collection(State(state): State<ApiState>, Path(id): Path<String>) -> Result<Response, TaxiiError> {
    let view = find_view(&state, &id)?;
    Ok(taxii_json(StatusCode::OK, &collection_resource(&state, view)))
}

async fn read_only() -> TaxiiError {
    TaxiiError::new(
        StatusCode::FORBIDDEN,
        "read only",
        "collections on a riskmesh node are read-only: publish with `riskmesh publish`",
    )
}

async fn no_status(Path(id): Path<String>) -> TaxiiError {
    TaxiiError::not_found(format!(
        "no status `{id}`: this server accepts no writes, so it has no status resources"
    ))
}

/// One object of a collection with its place in it.
#[derive(Debug)]
struct Listed {
    /// Arrival position of its entry and its index among that entry's objects.
    key: (u64, u32),
    object: StixObject,
}

/// Maps the store and keeps the objects of `view`, in `date_added` order.
async fn collect(state: &ApiState, view: View) -> Result<Vec<Listed>, TaxiiError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        let roster = state.node.current_roster();
        let reader = Reader {
            roster: &roster,
            me: state.node.org_key,
            secrets: &state.org,
        };
        let mut mapper = mapper_for(&roster, &state.org.org);
        let mut listed = Vec::new();
        let mut too_many = false;
        walk(
            // The lock is held while a page is read, never while it is mapped.
            |after| state.store.lock().entries_by_arrival(after, ALL_ENTRIES_PAGE),
            &reader,
            &mut mapper,
            |position, objects| {
                let mine = objects.into_iter().filter(|o| o.tier == view.tier);
                for (index, object) in (0u32..).zip(mine) {
                    listed.push(Listed {
                        key: (position, index),
                        object,
                    });
                }
                too_many = listed.len() > MAX_COLLECTION_OBJECTS;
                !too_many
            },
        )
        .map_err(|e| {
            tracing::error!(error = %e, "TAXII collection read failed");
            TaxiiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "store failure",
                format!("the node's database failed: {e}"),
            )
        })?;
        if too_many {
            return Err(TaxiiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "collection too large",
                format!(
                    "the {} collection maps to more than {MAX_COLLECTION_OBJECTS} objects, more than this server \
                     serves; use `riskmesh export --stix` for a streamed bundle",
                    view.name
                ),
            ));
        }
        Ok(listed)
    })
    .await
    .map_err(|e| TaxiiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error", e.to_string()))?
}

/// Which versions `match[version]` keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
enum VersionFilter {
    First,
    Last,
    All,
    At(String),
}

/// The filters and paging of a request, parsed and checked.
#[derive(Debug, Default)]
struct Filters {
    added_after: Option<u64>,
    limit: Option<usize>,
    next: Option<(u64, u32)>,
    ids: Option<HashSet<String>>,
    types: Option<HashSet<String>>,
    versions: Option<Vec<VersionFilter>>,
    spec_versions: Option<HashSet<String>>,
}

/// Which parameters an endpoint takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Objects,
    Object,
    Versions,
}

fn parse_filters(query: Option<&str>, endpoint: Endpoint) -> Result<Filters, TaxiiError> {
    let mut filters = Filters::default();
    let mut seen = HashSet::new();
    for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key)?;
        let value = percent_decode(value)?;
        if !seen.insert(key.clone()) {
            return Err(TaxiiError::bad_request(format!(
                "`{key}` is given twice; give it once"
            )));
        }
        let list = |value: &str| -> Result<Vec<String>, TaxiiError> {
            let items: Vec<String> = value.split(',').map(|s| s.trim().to_string()).collect();
            if items.iter().any(String::is_empty) || items.len() > MAX_FILTER_VALUES {
                return Err(TaxiiError::bad_request(format!(
                    "`{key}` takes 1 to {MAX_FILTER_VALUES} comma-separated values"
                )));
            }
            Ok(items)
        };
        match key.as_str() {
            "added_after" => {
                filters.added_after = Some(
                    parse_rfc3339(&value)
                        .map_err(|e| TaxiiError::bad_request(format!("added_after: {e}")))?,
                )
            }
            "limit" => {
                let limit = value.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    TaxiiError::bad_request(format!("limit must be a positive whole number, not `{value}`"))
                })?;
                filters.limit = Some(limit.min(MAX_PAGE));
            }
            "next" => filters.next = Some(parse_cursor(&value)?),
            "match[id]" if endpoint == Endpoint::Objects => {
                filters.ids = Some(list(&value)?.into_iter().collect())
            }
            "match[type]" if endpoint == Endpoint::Objects => {
                filters.types = Some(list(&value)?.into_iter().collect())
            }
            "match[version]" if endpoint != Endpoint::Versions => {
                let parsed = list(&value)?
                    .into_iter()
                    .map(|v| match v.as_str() {
                        "first" => Ok(VersionFilter::First),
                        "last" => Ok(VersionFilter::Last),
                        "all" => Ok(VersionFilter::All),
                        other => parse_rfc3339(other)
                            .map(|ms| VersionFilter::At(rfc3339_ms(ms)))
                            .map_err(|e| {
                                TaxiiError::bad_request(format!(
                                    "match[version] takes first, last, all or timestamps: {e}"
                                ))
                            }),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                filters.versions = Some(parsed);
            }
            "match[spec_version]" => filters.spec_versions = Some(list(&value)?.into_iter().collect()),
            other => {
                return Err(TaxiiError::bad_request(format!(
                    "`{other}` is not a filter of this endpoint; it takes added_after, limit, next{}",
                    match endpoint {
                        Endpoint::Objects => ", match[id], match[type], match[version], match[spec_version]",
                        Endpoint::Object => ", match[version], match[spec_version]",
                        Endpoint::Versions => ", match[spec_version]",
                    }
                )));
            }
        }
    }
    Ok(filters)
}

fn parse_cursor(value: &str) -> Result<(u64, u32), TaxiiError> {
    value
        .split_once('.')
        .and_then(|(p, i)| Some((p.parse().ok()?, i.parse().ok()?)))
        .ok_or_else(|| {
            TaxiiError::bad_request(format!(
                "`next` must be a value this server returned as `next`, not `{value}`"
            ))
        })
}

fn percent_decode(text: &str) -> Result<String, TaxiiError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| TaxiiError::bad_request("a query parameter has a broken %-escape"))?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| TaxiiError::bad_request("a query parameter is not UTF-8"))
}

/// Applies the object filters (id, type, spec version, version) to a
/// collection, keeping `date_added` order.
fn select(listed: Vec<Listed>, filters: &Filters) -> Vec<Listed> {
    let spec_ok = filters
        .spec_versions
        .as_ref()
        .is_none_or(|versions| versions.contains(crate::stix::SPEC_VERSION));
    if !spec_ok {
        return Vec::new();
    }
    let mut kept: Vec<Listed> = listed
        .into_iter()
        .filter(|l| filters.ids.as_ref().is_none_or(|ids| ids.contains(&l.object.id)))
        .filter(|l| {
            filters
                .types
                .as_ref()
                .is_none_or(|types| types.contains(l.object.object_type))
        })
        .collect();
    let wanted = filters
        .versions
        .clone()
        .unwrap_or_else(|| vec![VersionFilter::Last]);
    if wanted.contains(&VersionFilter::All) {
        return kept;
    }
    // First and last version of each id (versions of an id come in order).
    let mut bounds: HashMap<String, (String, String)> = HashMap::new();
    for l in &kept {
        bounds
            .entry(l.object.id.clone())
            .and_modify(|(_, last)| *last = l.object.version.clone())
            .or_insert_with(|| (l.object.version.clone(), l.object.version.clone()));
    }
    kept.retain(|l| {
        let (first, last) = &bounds[&l.object.id];
        wanted.iter().any(|w| match w {
            VersionFilter::First => l.object.version == *first,
            VersionFilter::Last => l.object.version == *last,
            VersionFilter::All => true,
            VersionFilter::At(at) => l.object.version == *at,
        })
    });
    kept
}

/// One page of a selection after `added_after` and `next`.
struct Page {
    items: Vec<Listed>,
    more: bool,
}

fn page(selected: Vec<Listed>, filters: &Filters) -> Page {
    let limit = filters.limit.unwrap_or(DEFAULT_PAGE);
    let mut rest = selected
        .into_iter()
        .filter(|l| filters.added_after.is_none_or(|t| l.object.added_ms > t))
        .filter(|l| filters.next.is_none_or(|cursor| l.key > cursor));
    let items: Vec<Listed> = rest.by_ref().take(limit).collect();
    let more = rest.next().is_some();
    Page { items, more }
}

/// The envelope or manifest answer of a page, with TAXII's date headers.
fn page_response(page: Page, body: impl Fn(&Listed) -> Value, key: &str) -> Response {
    let mut answer = json!({ "more": page.more });
    if page.more
        && let Some(last) = page.items.last()
    {
        answer["next"] = format!("{}.{}", last.key.0, last.key.1).into();
    }
    if !page.items.is_empty() {
        answer[key] = page.items.iter().map(body).collect::<Vec<_>>().into();
    }
    let mut response = taxii_json(StatusCode::OK, &answer);
    let dates = page.items.first().zip(page.items.last());
    if let Some((first, last)) = dates {
        for (name, ms) in [
            ("x-taxii-date-added-first", first.object.added_ms),
            ("x-taxii-date-added-last", last.object.added_ms),
        ] {
            if let Ok(value) = HeaderValue::from_str(&rfc3339_ms(ms)) {
                response.headers_mut().insert(name, value);
            }
        }
    }
    response
}

async fn objects(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, TaxiiError> {
    let view = find_view(&state, &id)?;
    let filters = parse_filters(query.as_deref(), Endpoint::Objects)?;
    let selected = select(collect(&state, view).await?, &filters);
    Ok(page_response(
        page(selected, &filters),
        |l| l.object.json.clone(),
        "objects",
    ))
}

async fn manifest(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, TaxiiError> {
    let view = find_view(&state, &id)?;
    let filters = parse_filters(query.as_deref(), Endpoint::Objects)?;
    let selected = select(collect(&state, view).await?, &filters);
    Ok(page_response(
        page(selected, &filters),
        |l| {
            json!({
                "id": l.object.id,
                "date_added": rfc3339_ms(l.object.added_ms),
                "version": l.object.version,
                "media_type": STIX_MEDIA_TYPE,
            })
        },
        "objects",
    ))
}

async fn object(
    State(state): State<ApiState>,
    Path((id, object)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, TaxiiError> {
    let view = find_view(&state, &id)?;
    let mut filters = parse_filters(query.as_deref(), Endpoint::Object)?;
    filters.ids = Some(HashSet::from([object.clone()]));
    let all = collect(&state, view).await?;
    if !all.iter().any(|l| l.object.id == object) {
        return Err(TaxiiError::not_found(format!(
            "no object `{object}` in this collection"
        )));
    }
    let selected = select(all, &filters);
    Ok(page_response(
        page(selected, &filters),
        |l| l.object.json.clone(),
        "objects",
    ))
}

async fn versions(
    State(state): State<ApiState>,
    Path((id, object)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, TaxiiError> {
    let view = find_view(&state, &id)?;
    let mut filters = parse_filters(query.as_deref(), Endpoint::Versions)?;
    filters.ids = Some(HashSet::from([object.clone()]));
    filters.versions = Some(vec![VersionFilter::All]);
    let selected = select(collect(&state, view).await?, &filters);
    if selected.is_empty() {
        return Err(TaxiiError::not_found(format!(
            "no object `{object}` in this collection"
        )));
    }
    Ok(page_response(
        page(selected, &filters),
        |l| Value::String(l.object.version.clone()),
        "versions",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_bad_ones_say_what_is_wrong() {
        let f = parse_filters(
            Some("added_after=2024-05-01T00%3A00%3A00.000Z&limit=5000&match%5Btype%5D=report,sighting&next=12.3"),
            Endpoint::Objects,
        )
        .map_err(|e| e.description);
        let f = f
            .as_ref()
            .map(|f| (f.added_after, f.limit, f.next, f.types.as_ref().map(HashSet::len)));
        assert_eq!(
            f,
            Ok((Some(1_714_521_600_000), Some(MAX_PAGE), Some((12, 3)), Some(2)))
        );
        for (query, phrase) in [
            ("limit=0", "positive"),
            ("limit=-1", "positive"),
            ("limit=ten", "positive"),
            ("added_after=yesterday", "added_after"),
            ("next=abc", "next"),
            ("match[version]=newest", "match[version]"),
            ("match[colour]=red", "not a filter"),
            ("match[id]=", "comma-separated"),
            ("limit=1&limit=2", "twice"),
            ("limit=%zz", "%-escape"),
        ] {
            let error = parse_filters(Some(query), Endpoint::Objects)
                .map(|_| ())
                .expect_err(query);
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{query}");
            assert!(
                error.description.contains(phrase),
                "{query}: {}",
                error.description
            );
        }
        let error = parse_filters(Some("match[type]=report"), Endpoint::Versions)
            .map(|_| ())
            .expect_err("versions takes no match[type]");
        assert!(error.description.contains("not a filter"));
    }

    #[test]
    fn accept_headers_are_checked() {
        let with = |accept: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_str(accept).expect("header"));
            check_accept(&headers).map_err(|e| e.status)
        };
        assert_eq!(with(TAXII_MEDIA_TYPE), Ok(()));
        assert_eq!(with("application/taxii+json"), Ok(()));
        assert_eq!(with("*/*"), Ok(()));
        assert_eq!(
            with("application/taxii+json;version=2.0"),
            Err(StatusCode::NOT_ACCEPTABLE)
        );
        assert_eq!(with("text/html"), Err(StatusCode::NOT_ACCEPTABLE));
        assert_eq!(check_accept(&HeaderMap::new()).map_err(|e| e.status), Ok(()));
    }
}
