//! The local HTTP API (127.0.0.1 only): analysts' CLI and scripts talk to
//! their node here. Every route but `/metrics` and `/healthz` needs the
//! bearer token from the data directory.
//!
//! Routes (JSON in and out; every error is `{"error": "<what to do>"}` with
//! a fitting status code):
//! - `GET /v1/status` — peers, per-author heads and lag, equivocations.
//! - `GET /v1/peers` — roster peers and whether they are connected.
//! - `GET /v1/entries?tier&kind&category&severity&author&since&limit&after` — newest first.
//! - `GET /v1/entries/{id}` — one entry, its body if readable here, what refers to it.
//! - `POST /v1/entries` — publish ([`PublishRequest`]; at tier `hazardous`
//!   with `withhold` and `release`); 201 once durably stored.
//! - `POST /v1/entries/{id}/requests` — ask for a hazardous entry's withheld
//!   fields ([`AccessRequestInput`]).
//! - `POST /v1/requests/{id}/approve`, `POST /v1/requests/{id}/deny` — decide
//!   on an access request as an approver ([`DecisionInput`]).
//! - `GET /v1/entries/{id}/audit` — who asked, why, who decided, who received.
//! - `GET /v1/entries/{id}/withheld` — the withheld fields this organization
//!   holds (as author, or released to it); 404 when it holds none.
//! - `GET /v1/equivocations` — stored equivocation proofs.
//! - `GET /v1/export?max_tier` — every entry with wire bytes and TLP label, streamed.
//! - `GET /metrics` — Prometheus text format; `GET /healthz` — `ok`.

pub mod access;
mod entries;
mod export;
mod hazardous;
pub mod names;
mod publish;
pub mod views;

pub use access::{AccessRequestInput, AuditView, DecisionInput, HeldFields};
pub use entries::{DEFAULT_LIST_LIMIT, ListQuery};
pub use export::{EXPORT_QUEUE, ExportEntry, ExportQuery};
pub use hazardous::ReleaseRequest;
pub use publish::{MAX_REQUEST_BYTES, PublishRequest};

use crate::runtime::{NodeError, NodeHandle};
use crate::store::{Store, StoreError};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use riskmesh_protocol::keys::OrgSecrets;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use views::{EquivocationList, PeerList, Reader, StatusView};

/// Shared state of the API handlers.
#[derive(Clone)]
pub struct ApiState {
    /// The node.
    pub node: NodeHandle,
    /// A read-only store connection for queries.
    pub store: Arc<Mutex<Store>>,
    /// The bearer token.
    pub token: Arc<str>,
    /// This organization's secrets (to decrypt restricted bodies for its analysts).
    pub org: Arc<OrgSecrets>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("org", &self.org.org)
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// Builds the state.
    pub fn new(node: NodeHandle, store: Store, token: String, org: Arc<OrgSecrets>) -> Self {
        ApiState {
            node,
            store: Arc::new(Mutex::new(store)),
            token: token.into(),
            org,
        }
    }
}

/// A JSON error body with a status code.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with a status and a message that says what to do.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// A store failure: the node's problem, not the request's.
    pub fn store(error: StoreError) -> Self {
        tracing::error!(error = %error, "api store read failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the node's database failed: {error}"),
        )
    }

    /// A request body that could not be read (too large, broken transfer).
    pub fn body_rejection(rejection: BytesRejection) -> Self {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::new(
                status,
                format!(
                    "the request body is over the limit of {} KiB (an entry body may be at most {} KiB)",
                    MAX_REQUEST_BYTES / 1024,
                    riskmesh_protocol::limits::MAX_BODY_BYTES / 1024
                ),
            );
        }
        ApiError::new(status, rejection.body_text())
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The one place where the node's answers become HTTP statuses: a refusal
/// is the request's fault (422), busy or stopped is temporary (503), an
/// internal failure is the node's (500).
impl From<NodeError> for ApiError {
    fn from(error: NodeError) -> Self {
        match error {
            NodeError::Refused(refusal) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("the node refused it: {refusal}; nothing was changed"),
            ),
            NodeError::Internal(what) => {
                tracing::error!(error = %what, "node call failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the node failed: {what}; nothing was changed"),
                )
            }
            other => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{other}; nothing was changed"),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}

/// Checks the bearer token.
pub fn authorize(state: &ApiState, headers: &HeaderMap) -> Result<(), ApiError> {
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(token) if constant_time_eq(token.as_bytes(), state.token.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad token: use the one in the node's data directory (api-token)",
        )),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing `Authorization: Bearer <token>` header",
        )),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Runs before every `/v1` handler, so a request without the token is
/// refused before its body is read.
async fn require_token(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    match authorize(&state, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// Runs a store read on the blocking pool (SQLite calls block).
pub(crate) async fn with_store<T, F>(state: &ApiState, read: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, ApiError> + Send + 'static,
{
    let store = Arc::clone(&state.store);
    tokio::task::spawn_blocking(move || {
        // A panic while holding the lock leaves nothing half-done in a
        // read-only connection, so a poisoned lock is still usable.
        let guard = match store.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        read(&guard)
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("store read failed: {e}"),
        )
    })?
}

/// Content type of the Prometheus text exposition format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        state.node.metrics.render(),
    )
}

async fn node_status(state: &ApiState) -> Result<crate::runtime::NodeStatus, ApiError> {
    state
        .node
        .status()
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
}

async fn status(State(state): State<ApiState>) -> Result<Json<StatusView>, ApiError> {
    Ok(Json(node_status(&state).await?.into()))
}

async fn peers(State(state): State<ApiState>) -> Result<Json<PeerList>, ApiError> {
    let status = node_status(&state).await?;
    Ok(Json(PeerList {
        peers: status.peers.into_iter().map(Into::into).collect(),
    }))
}

async fn equivocations(State(state): State<ApiState>) -> Result<Json<EquivocationList>, ApiError> {
    let roster = state.node.current_roster();
    let secrets = Arc::clone(&state.org);
    let me = state.node.org_key;
    with_store(&state, move |store| {
        let proofs = store.equivocations().map_err(ApiError::store)?;
        let reader = Reader {
            roster: &roster,
            me,
            secrets: &secrets,
        };
        Ok(Json(EquivocationList {
            equivocations: proofs.iter().map(|p| reader.equivocation(p)).collect(),
        }))
    })
    .await
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such route; the API serves /v1/status, /v1/peers, /v1/entries, /v1/entries/{id}, \
         /v1/entries/{id}/requests, /v1/entries/{id}/audit, /v1/entries/{id}/withheld, \
         /v1/requests/{id}/approve, /v1/requests/{id}/deny, /v1/equivocations, /v1/export, /metrics \
         and /healthz",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this route (POST to /v1/entries, /v1/entries/{id}/requests and \
         /v1/requests/{id}/approve|deny; everything else is GET)",
    )
}

/// The router.
pub fn router(state: ApiState) -> Router {
    let v1 = Router::new()
        .route("/v1/status", get(status))
        .route("/v1/peers", get(peers))
        .route("/v1/entries", get(entries::list).post(entries::publish))
        .route("/v1/entries/{id}", get(entries::show))
        .route("/v1/entries/{id}/requests", post(access::request))
        .route("/v1/entries/{id}/audit", get(access::audit))
        .route("/v1/entries/{id}/withheld", get(access::withheld))
        .route("/v1/requests/{id}/approve", post(access::approve))
        .route("/v1/requests/{id}/deny", post(access::deny))
        .route("/v1/equivocations", get(equivocations))
        .route("/v1/export", get(export::export))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .merge(v1)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(state)
}

/// Serves the API until `shutdown` turns true.
pub async fn serve(listener: tokio::net::TcpListener, state: ApiState, mut shutdown: watch::Receiver<bool>) {
    let app = router(state);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "api server stopped");
    }
}
