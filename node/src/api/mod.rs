//! The local HTTP API (127.0.0.1 only): analysts' CLI and scripts talk to
//! their node here. Every route but `/metrics` and `/healthz` needs the
//! bearer token from the data directory.

use crate::runtime::NodeHandle;
use crate::store::Store;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use riskmesh_protocol::keys::OrgSecrets;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

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

async fn metrics(State(state): State<ApiState>) -> String {
    state.node.metrics.render()
}

async fn status(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Json<crate::runtime::NodeStatus>, ApiError> {
    authorize(&state, &headers)?;
    let status = state
        .node
        .status()
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(Json(status))
}

/// The router.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/v1/status", get(status))
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
