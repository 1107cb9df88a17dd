//! `/v1/entries`: list with filters, show one, publish.

use super::names::Named;
use super::publish::{Context, Prepared, PublishRequest, parse_id, prepare};
use super::views::{EntryDetail, EntryList, Reader};
use super::{ApiError, ApiState, with_store};
use crate::plaintext::Wiped;
use crate::store::{EntryMeta, ListFilter, MAX_LIST_BYTES, MAX_LIST_LIMIT, StoredEntry};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use riskmesh_protocol::limits::{MAX_BODY_BYTES, MAX_ENVELOPE_BYTES};
use riskmesh_protocol::{Body, Category, Kind, OrgKey, Roster, Severity, Tier, VerifiedEntry};
use serde::Deserialize;

/// Entries per page when the request names no `limit`.
pub const DEFAULT_LIST_LIMIT: usize = 100;

/// Query parameters of `GET /v1/entries`. Values are parsed by hand so a
/// bad one gets a message naming the parameter and the accepted values.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Tier name.
    pub tier: Option<String>,
    /// Kind name.
    pub kind: Option<String>,
    /// Category name.
    pub category: Option<String>,
    /// Minimum severity name.
    pub severity: Option<String>,
    /// Author org id (or signing key in hex).
    pub author: Option<String>,
    /// Only entries timestamped at or after this Unix ms time.
    pub since: Option<String>,
    /// Page size, 1 to 1000.
    pub limit: Option<String>,
    /// Continue after this entry id (the `next` of the previous page).
    pub after: Option<String>,
}

pub(super) fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

fn name<T: Named>(value: &Option<String>) -> Result<Option<T>, ApiError> {
    value
        .as_deref()
        .map(|v| T::from_name(v.trim()).map_err(bad_request))
        .transpose()
}

/// Turns query parameters into a store filter.
pub(crate) fn filter(query: &ListQuery, roster: &Roster) -> Result<ListFilter, ApiError> {
    let author = match query.author.as_deref().map(str::trim) {
        None => None,
        Some(text) => Some(author_key(text, roster)?),
    };
    let since_ms = match &query.since {
        None => None,
        Some(text) => Some(text.trim().parse::<u64>().map_err(|_| {
            bad_request(format!(
                "since `{text}` is not a time: expected Unix milliseconds, e.g. 1700000000000"
            ))
        })?),
    };
    let limit = match &query.limit {
        None => DEFAULT_LIST_LIMIT,
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_LIST_LIMIT).contains(&n) => n,
            _ => {
                return Err(bad_request(format!(
                    "limit `{text}` is not a page size: expected a number from 1 to {MAX_LIST_LIMIT}"
                )));
            }
        },
    };
    let after = query
        .after
        .as_deref()
        .map(|text| parse_id("after", text))
        .transpose()?;
    Ok(ListFilter {
        tier: name::<Tier>(&query.tier)?,
        kind: name::<Kind>(&query.kind)?,
        category: name::<Category>(&query.category)?,
        min_severity: name::<Severity>(&query.severity)?,
        author,
        since_ms,
        after,
        limit: Some(limit),
    })
}

/// An author given as an org id on the roster (a participant's current
/// key, or the one retired key of a former participant), or as a signing
/// key in hex.
fn author_key(text: &str, roster: &Roster) -> Result<OrgKey, ApiError> {
    if let Some(member) = roster.member_by_org(text) {
        return Ok(member.signing_key);
    }
    if let Some(key) = OrgKey::from_hex(text) {
        return Ok(key);
    }
    let retired: Vec<&OrgKey> = roster
        .doc()
        .retired_keys()
        .iter()
        .filter(|r| r.org == text)
        .map(|r| &r.key)
        .collect();
    match retired[..] {
        [key] => return Ok(*key),
        [] => {}
        _ => {
            let keys: Vec<String> = retired.iter().map(|k| k.to_hex()).collect();
            return Err(bad_request(format!(
                "`{text}` has {} retired signing keys; name one by its key in hex: {}",
                keys.len(),
                keys.join(", ")
            )));
        }
    }
    let orgs: Vec<&str> = roster.doc().members.iter().map(|m| m.org.as_str()).collect();
    Err(bad_request(format!(
        "author `{text}` is not on the roster (participants: {})",
        orgs.join(", ")
    )))
}

/// `GET /v1/entries`: newest first, filtered, paged.
pub(crate) async fn list(
    State(state): State<ApiState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Wiped<EntryList>>, ApiError> {
    let Query(query) = query.map_err(|e| bad_request(e.body_text()))?;
    let roster = state.node.current_roster();
    let filter = filter(&query, &roster)?;
    let secrets = state.org.clone();
    let me = state.node.org_key;
    let limit = filter.limit.unwrap_or(DEFAULT_LIST_LIMIT);
    let entries = with_store(&state, move |store| {
        if let Some(after) = &filter.after
            && !store.contains(after).map_err(ApiError::store)?
        {
            return Err(bad_request(format!(
                "after {after}: no such entry on this node; pass the `next` id of the previous page"
            )));
        }
        store.list(&filter).map_err(ApiError::store)
    })
    .await?;
    // Restricted bodies are decrypted after the store lock is released, so
    // costly ciphertexts never hold up other readers.
    let list = off_lock(move || {
        page(
            &entries,
            limit,
            &Reader {
                roster: &roster,
                me,
                secrets: &secrets,
            },
        )
    })
    .await?;
    Ok(Json(Wiped::new(list)))
}

fn page(entries: &[StoredEntry], limit: usize, reader: &Reader<'_>) -> EntryList {
    let bytes: usize = entries
        .iter()
        .map(|e| e.envelope.len() + e.body.as_ref().map_or(0, Vec::len))
        .sum();
    // The store stops a page early rather than exceed its byte budget, so a
    // short page may still have a successor.
    let maybe_more = entries.len() == limit || bytes + MAX_ENVELOPE_BYTES + MAX_BODY_BYTES > MAX_LIST_BYTES;
    EntryList {
        next: entries.last().filter(|_| maybe_more).map(|e| e.meta.id.to_hex()),
        entries: entries
            .iter()
            .map(|e| Wiped::new(reader.read(e)).view.clone())
            .collect(),
    }
}

/// `GET /v1/entries/{id}`: one entry with its body and what refers to it.
pub(crate) async fn show(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Wiped<EntryDetail>>, ApiError> {
    let Path(text) = id.map_err(|e| bad_request(e.body_text()))?;
    let id = parse_id("path", &text)?;
    let roster = state.node.current_roster();
    let secrets = state.org.clone();
    let me = state.node.org_key;
    let (entry, referencing) = with_store(&state, move |store| {
        let Some(entry) = store.get(&id).map_err(ApiError::store)? else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no entry {id} on this node; list entries with `riskmesh list`"),
            ));
        };
        let referencing = store.referencing(&id).map_err(ApiError::store)?;
        Ok((entry, referencing))
    })
    .await?;
    show_entry(roster, secrets, me, entry, referencing).await
}

/// `GET /v1/logs/{author}/{seq}`: the entry at `seq` of `author`'s log
/// (an org id, or a signing key in hex for a retired key), shown as
/// `GET /v1/entries/{id}` shows it.
pub(crate) async fn at(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Wiped<EntryDetail>>, ApiError> {
    let Path((author, seq)) = path.map_err(|e| bad_request(e.body_text()))?;
    let roster = state.node.current_roster();
    let key = author_key(author.trim(), &roster)?;
    let seq = match seq.trim().parse::<u64>() {
        Ok(seq) if seq >= 1 => seq,
        _ => {
            return Err(bad_request(format!(
                "seq `{seq}` is not a position in a log: expected a number from 1"
            )));
        }
    };
    let secrets = state.org.clone();
    let me = state.node.org_key;
    let (entry, referencing) = with_store(&state, move |store| {
        let Some(entry) = store.by_author_seq(&key, seq).map_err(ApiError::store)? else {
            let head = store.head(&key).map_err(ApiError::store)?.map_or(0, |h| h.seq);
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "no entry at seq {seq} of {author}'s log on this node (it holds up to seq {head}); \
                     an entry published elsewhere may not have arrived yet"
                ),
            ));
        };
        let referencing = store.referencing(&entry.meta.id).map_err(ApiError::store)?;
        Ok((entry, referencing))
    })
    .await?;
    show_entry(roster, secrets, me, entry, referencing).await
}

async fn show_entry(
    roster: std::sync::Arc<Roster>,
    secrets: std::sync::Arc<riskmesh_protocol::keys::OrgSecrets>,
    me: OrgKey,
    entry: StoredEntry,
    referencing: Vec<EntryMeta>,
) -> Result<Json<Wiped<EntryDetail>>, ApiError> {
    off_lock(move || {
        let reader = Reader {
            roster: &roster,
            me,
            secrets: &secrets,
        };
        Json(Wiped::new(detail(&reader, &entry, &referencing)))
    })
    .await
}

/// Runs CPU work (decryption, view building) on the blocking pool without
/// the store lock.
pub(crate) async fn off_lock<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("building the answer failed: {e}"),
        )
    })
}

pub(super) fn detail(reader: &Reader<'_>, entry: &StoredEntry, referencing: &[EntryMeta]) -> EntryDetail {
    let read = reader.read(entry);
    EntryDetail {
        entry: read.view,
        body: read.body,
        body_note: read.note,
        referenced_by: referencing.iter().map(|m| reader.meta_view(m)).collect(),
    }
}

/// `POST /v1/entries`: checks, signs, stores and gossips; answers 201 once
/// the entry is durably stored (whether or not any peer is connected).
pub(crate) async fn publish(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Wiped<EntryDetail>>), ApiError> {
    let bytes = body.map_err(ApiError::body_rejection)?;
    let request: PublishRequest = serde_json::from_slice(&bytes)
        .map_err(|e| bad_request(format!("the request is not a valid publish request: {e}")))?;
    // The request's texts are plaintext of a restricted body or of withheld
    // fields: wiped once it has become a draft (or been refused).
    let request = Wiped::new(request);
    let roster = state.node.current_roster();
    let me = state.node.org_key;
    let prepared = with_store(&state, {
        let roster = roster.clone();
        move |store| {
            prepare(
                &request,
                &Context {
                    roster: &roster,
                    me,
                    store,
                },
            )
        }
    })
    .await?;
    let published = match prepared {
        Prepared::Draft(draft) => state.node.publish(*draft).await,
        Prepared::Hazardous { full, redaction } => state.node.publish_hazardous(*full, *redaction).await,
    };
    let entry = published?;
    Ok(created(&state, &roster, &entry))
}

/// The 201 answer for an entry this organization just published.
pub(super) fn created(
    state: &ApiState,
    roster: &Roster,
    entry: &VerifiedEntry,
) -> (StatusCode, Json<Wiped<EntryDetail>>) {
    let reader = Reader {
        roster,
        me: state.node.org_key,
        secrets: &state.org,
    };
    (
        StatusCode::CREATED,
        Json(Wiped::new(detail(&reader, &as_stored(entry), &[]))),
    )
}

/// A just-published entry in stored form, so the answer is built by the
/// same code as `show` without reading it back.
fn as_stored(entry: &VerifiedEntry) -> StoredEntry {
    let header = entry.header();
    let body = entry.decode_body().and_then(Result::ok);
    let target = body.as_ref().and_then(Body::target);
    let (category, severity) = match &body {
        Some(Body::Bulletin(b)) => (b.category, b.severity),
        _ => (None, None),
    };
    StoredEntry {
        meta: EntryMeta {
            id: entry.id(),
            author: header.author,
            seq: header.seq,
            timestamp_ms: header.timestamp_ms,
            tier: header.tier,
            kind: header.kind,
            category,
            severity,
            target,
            body_len: header.body_len,
            has_body: entry.body().is_some(),
            purged: false,
            received_ms: crate::runtime::now_ms(),
        },
        envelope: entry.envelope().to_vec(),
        body: entry.body().map(<[u8]>::to_vec),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ApiStore;
    use crate::api::views::BodyView;
    use crate::sealed;
    use crate::store::Store;
    use riskmesh_protocol::{Draft, LogWriter, testkit};

    /// Issue 9, medium 5: decrypting a restricted body never runs under the
    /// API's store lock. The reader refuses to decrypt on a thread holding
    /// it; once the guard is dropped the same entry opens.
    #[test]
    fn a_restricted_body_is_not_decrypted_while_the_store_lock_is_held() {
        let c = testkit::signatories();
        let (author, me) = (c.org("google"), c.org("meta"));
        let mut body = testkit::sample_bulletin("Restricted finding");
        body.details = "CANARY restricted details".into();
        let keys = [author.encryption.public(), me.encryption.public()];
        let sealed = sealed::seal(&keys, &riskmesh_protocol::cbor::encode(&body)).expect("seal");
        let draft = Draft {
            kind: Kind::Bulletin,
            tier: Tier::Restricted,
            body: Body::Encrypted(sealed),
            recipients: Some(vec![author.signing.public(), me.signing.public()]),
        };
        let entry = LogWriter::new(testkit::NETWORK)
            .append(&author.signing, &c.roster, &draft, 1_700_000_000_000)
            .expect("append");
        let stored = as_stored(&entry);
        let reader = Reader {
            roster: &c.roster,
            me: me.signing.public(),
            secrets: me,
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ApiStore::new(Store::create(dir.path().join("node.db")).expect("store"));

        let guard = store.lock();
        let read = reader.read(&stored);
        assert!(read.body.is_none(), "decrypted under the store lock");
        assert!(
            read.note.as_deref().is_some_and(|n| n.contains("store lock")),
            "{:?}",
            read.note
        );
        drop(guard);

        let read = reader.read(&stored);
        assert!(
            matches!(&read.body, Some(BodyView::Bulletin(b)) if b.details == "CANARY restricted details"),
            "{:?}",
            read.note
        );
    }
}
