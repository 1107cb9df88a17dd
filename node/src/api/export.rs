//! `GET /v1/export`: every stored entry in log order, streamed as one JSON
//! document so memory stays bounded however large the store is. Each entry
//! carries its exact wire bytes (hex), its view, its TLP label and, where
//! this organization may read it, its decoded body. Restricted plaintext
//! appears only if this organization is a recipient.

use super::names::Named;
use super::views::{BodyView, EntryView, Reader};
use super::{ApiError, ApiState};
use crate::plaintext::{Wipe, Wiped};
use crate::store::ALL_ENTRIES_PAGE;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use riskmesh_protocol::entry::tagged_envelope;
use riskmesh_protocol::{OrgKey, Tier};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Chunks buffered between the store reader and the HTTP response.
pub const EXPORT_QUEUE: usize = 8;

/// Query parameters of `GET /v1/export`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// Highest tier to include (`public` exports only what may leave the
    /// consortium). Default: every tier.
    pub max_tier: Option<String>,
}

/// One exported entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportEntry {
    /// The entry (its `tlp` field is the sharing label).
    #[serde(flatten)]
    pub entry: EntryView,
    /// The wire form (CBOR `[envelope, body / null]`), hex: verifiable
    /// without this node. A restricted body stays ciphertext here.
    pub wire: String,
    /// The envelope as a tagged COSE_Sign1 message (CBOR tag 18), hex: what
    /// a COSE library's default decode takes. Verify it with the external
    /// AAD `"riskmesh-entry-v1\0" || network` (docs/formats.md).
    pub cose_sign1: String,
    /// The body's content, where this organization may read it.
    pub body: Option<BodyView>,
    /// Why there is no body content.
    pub body_note: Option<String>,
}

impl Wipe for ExportEntry {
    fn wipe(&mut self) {
        self.entry.wipe();
        self.body.wipe();
    }
}

/// The export document's opening fields (the `entries` array follows).
#[derive(Debug, Clone, Serialize)]
struct ExportHead<'a> {
    network: &'a str,
    org: &'a str,
    exported_ms: u64,
    max_tier: &'a str,
    notice: &'a str,
}

const NOTICE: &str = "Each entry carries its TLP 2.0 label (tlp); share it only as that label allows.";

/// `GET /v1/export`.
pub(crate) async fn export(
    State(state): State<ApiState>,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let max_tier = parse_max_tier(&query)?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(EXPORT_QUEUE);
    tokio::task::spawn_blocking(move || produce(&state, max_tier, &tx));
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// The highest tier an export includes (every tier by default).
pub(crate) fn parse_max_tier(query: &ExportQuery) -> Result<Tier, ApiError> {
    match query.max_tier.as_deref() {
        None => Ok(Tier::Hazardous),
        Some(text) => {
            <Tier as Named>::from_name(text.trim()).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))
        }
    }
}

/// Writes the document into `tx`, one page of entries at a time, holding
/// the store lock only while a page is read. A store error ends the stream
/// with an error, so the client sees a broken transfer, never a document
/// that looks complete.
fn produce(state: &ApiState, max_tier: Tier, tx: &mpsc::Sender<Result<Bytes, std::io::Error>>) {
    let roster = state.node.current_roster();
    let reader = Reader {
        roster: &roster,
        me: state.node.org_key,
        secrets: &state.org,
    };
    let head = ExportHead {
        network: roster.network(),
        org: &state.org.org,
        exported_ms: crate::runtime::now_ms(),
        max_tier: max_tier.name(),
        notice: NOTICE,
    };
    let send = |chunk: Vec<u8>| tx.blocking_send(Ok(Bytes::from(chunk))).is_ok();
    let mut opening = match serde_json::to_vec(&head) {
        Ok(bytes) => bytes,
        Err(e) => {
            let _ = tx.blocking_send(Err(std::io::Error::other(e)));
            return;
        }
    };
    // Reopen the head object to append the entries array.
    opening.pop();
    opening.extend_from_slice(b",\"entries\":[");
    if !send(opening) {
        return;
    }
    let mut after: Option<(OrgKey, u64)> = None;
    let mut first = true;
    loop {
        // The guard is a temporary of this statement: the lock is released
        // before anything below runs (a restricted body is decrypted, a
        // chunk waits for room in the queue).
        let page = state.store.lock().entries_after(after, ALL_ENTRIES_PAGE);
        let page = match page {
            Ok(page) => page,
            Err(e) => {
                tracing::error!(error = %e, "export stopped by a store error");
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                return;
            }
        };
        let mut chunk = Vec::new();
        for stored in &page {
            if stored.meta.tier > max_tier {
                continue;
            }
            let read = reader.read(stored);
            // Wiped once written into the chunk (the chunk itself goes to
            // hyper as is).
            let item = Wiped::new(ExportEntry {
                entry: read.view,
                wire: hex::encode(stored.to_wire().to_bytes()),
                cose_sign1: hex::encode(tagged_envelope(&stored.envelope)),
                body: read.body,
                body_note: read.note,
            });
            if !first {
                chunk.push(b',');
            }
            first = false;
            if let Err(e) = serde_json::to_writer(&mut chunk, &*item) {
                let _ = tx.blocking_send(Err(std::io::Error::other(e)));
                return;
            }
        }
        if !chunk.is_empty() && !send(chunk) {
            return;
        }
        match page.last() {
            Some(last) if page.len() == ALL_ENTRIES_PAGE => after = Some((last.meta.author, last.meta.seq)),
            _ => break,
        }
    }
    let _ = send(b"]}\n".to_vec());
}
