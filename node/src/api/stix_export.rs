//! `GET /v1/export/stix?max_tier`: everything this organization may read as
//! one STIX 2.1 bundle (see `crate::stix`), streamed page by page from the
//! store like the JSON export, so memory stays bounded by a page plus the
//! mapper's version tracking.

use super::export::{ExportQuery, parse_max_tier};
use super::views::Reader;
use super::{ApiError, ApiState};
use crate::stix::bundle::{BundleWriter, mapper_for, walk};
use crate::stix::{STIX_MEDIA_TYPE, mapper::StixObject};
use crate::store::ALL_ENTRIES_PAGE;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use riskmesh_protocol::Tier;
use tokio::sync::mpsc;
use uuid::Builder;

/// `GET /v1/export/stix`.
pub(crate) async fn export(
    State(state): State<ApiState>,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let max_tier = parse_max_tier(&query)?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(super::EXPORT_QUEUE);
    tokio::task::spawn_blocking(move || produce(&state, max_tier, &tx));
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Response::builder()
        .header(header::CONTENT_TYPE, STIX_MEDIA_TYPE)
        .body(Body::from_stream(stream))
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// Writes the bundle into `tx`. A store or encoding error ends the stream
/// with an error, so the client sees a broken transfer, never a bundle that
/// looks complete.
fn produce(state: &ApiState, max_tier: Tier, tx: &mpsc::Sender<Result<Bytes, std::io::Error>>) {
    let roster = state.node.current_roster();
    let reader = Reader {
        roster: &roster,
        me: state.node.org_key,
        secrets: &state.org,
    };
    let send = |chunk: Vec<u8>| tx.blocking_send(Ok(Bytes::from(chunk))).is_ok();
    let fail = |e: std::io::Error| {
        tracing::error!(error = %e, "STIX export stopped");
        let _ = tx.blocking_send(Err(e));
    };
    // A bundle is a transport wrapper, not an object: a fresh id each time.
    if !send(BundleWriter::opening(
        Builder::from_random_bytes(rand::random()).into_uuid(),
    )) {
        return;
    }
    let mut mapper = mapper_for(&roster, &state.org.org);
    let mut writer = BundleWriter::new(max_tier);
    let mut failed = false;
    let walked = walk(
        // The guard is a temporary of this call: the lock is released
        // before the page's restricted bodies are decrypted.
        |after| state.store.lock().entries_by_arrival(after, ALL_ENTRIES_PAGE),
        &reader,
        &mut mapper,
        |_, objects: Vec<StixObject>| match writer.objects(&objects) {
            Ok(chunk) => chunk.is_empty() || send(chunk),
            Err(e) => {
                fail(std::io::Error::other(e));
                failed = true;
                false
            }
        },
    );
    match walked {
        Err(e) => fail(std::io::Error::other(e.to_string())),
        Ok(()) if !failed => {
            let _ = send(BundleWriter::closing().to_vec());
        }
        Ok(()) => {}
    }
}
