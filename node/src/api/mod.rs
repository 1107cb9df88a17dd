//! The local HTTP API: analysts' CLI and scripts talk to their node here,
//! on the Unix socket `api.sock` in the data directory (the CLI's default)
//! and on TCP at 127.0.0.1. Every route but `/metrics`, `/healthz` and
//! `/challenge` needs the bearer token from the data directory.
//!
//! On TCP a request must name the bound address (or `localhost`) with the
//! bound port in its `Host` header (421 otherwise), so a web page whose
//! domain was rebound to 127.0.0.1 cannot read the API; a request carrying
//! an `Origin` that is not this API's own is refused (403) on either
//! listener. `GET /challenge?nonce=<64 hex>` proves, without the client
//! sending anything secret, that the listener holds the token: it answers
//! `{"proof": HMAC-SHA256(token, "riskmesh-api-challenge-v1\0" || nonce)}`
//! (see [`challenge_proof`]); the CLI checks it before it sends the token
//! over TCP.
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
//! - `GET /v1/logs/{author}/{seq}` — the entry at one position of an
//!   author's log (author: org id or signing key in hex).
//! - `GET /v1/roster` — the roster in force: its signed bytes, participants,
//!   retired keys, and the head this node holds for every key.
//! - `POST /v1/roster` — offer the next roster version ([`RosterOffer`];
//!   `dry_run` checks it without applying); a refusal is a 422 naming its
//!   `roster_error`.
//! - `GET /v1/equivocations` — stored equivocation proofs.
//! - `GET /v1/export?max_tier` — every entry with wire bytes and TLP label, streamed.
//! - `GET /v1/export/stix?max_tier` — the same entries as a STIX 2.1 bundle, streamed.
//! - `GET /taxii2/…` — a read-only TAXII 2.1 server over the STIX mapping
//!   (see [`taxii`]; the token as HTTP Basic password or Bearer).
//! - `GET /metrics` — Prometheus text format; `GET /healthz` — `ok`;
//!   `GET /challenge?nonce` — the token-holder proof above.

pub mod access;
pub(crate) mod entries;
mod export;
mod hazardous;
pub mod names;
mod publish;
pub mod roster;
mod stix_export;
pub mod taxii;
pub mod views;

pub use access::{AccessRequestInput, AuditView, DecisionInput, HeldFields};
pub use entries::{DEFAULT_LIST_LIMIT, ListQuery};
pub use export::{EXPORT_QUEUE, ExportEntry, ExportQuery};
pub use hazardous::ReleaseRequest;
pub use publish::{MAX_REQUEST_BYTES, PublishRequest};
pub use roster::{MAX_ROSTER_REQUEST_BYTES, OfferOutcome, RosterAnswer, RosterOffer, RosterView};

use crate::runtime::{NodeError, NodeHandle};
use crate::store::{Store, StoreError};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hmac::{KeyInit, Mac};
use riskmesh_protocol::keys::OrgSecrets;
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::watch;
use views::{EquivocationList, PeerList, Reader, StatusView};

/// Shared state of the API handlers.
#[derive(Clone)]
pub struct ApiState {
    /// The node.
    pub node: NodeHandle,
    /// A read-only store connection for queries.
    pub store: Arc<ApiStore>,
    /// The bearer token.
    pub token: Arc<str>,
    /// This organization's secrets (to decrypt restricted bodies for its analysts).
    pub org: Arc<OrgSecrets>,
    /// The web console's sessions.
    pub console: Arc<crate::console::session::Sessions>,
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
            store: Arc::new(ApiStore::new(store)),
            token: token.into(),
            org,
            console: Arc::default(),
        }
    }
}

/// The API's read-only store connection, one query at a time. It is
/// locked only through [`ApiStore::lock`], whose guard marks the thread
/// while it lives: restricted bodies are never decrypted on a marked thread
/// (`Reader::read` refuses), so however costly a ciphertext, decrypting it
/// never holds the lock that every other API read waits for.
#[derive(Debug)]
pub struct ApiStore(Mutex<Store>);

/// The locked store; the thread is marked until it is dropped.
pub(crate) struct StoreGuard<'a>(MutexGuard<'a, Store>);

thread_local! {
    /// Whether this thread holds the API's store lock.
    static HOLDS_STORE_LOCK: Cell<bool> = const { Cell::new(false) };
}

impl ApiStore {
    /// Wraps a store connection.
    pub fn new(store: Store) -> Self {
        ApiStore(Mutex::new(store))
    }

    /// Locks the store. A panic while holding the lock leaves nothing
    /// half-done in a read-only connection, so a poisoned lock is still
    /// usable.
    pub(crate) fn lock(&self) -> StoreGuard<'_> {
        let guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        HOLDS_STORE_LOCK.set(true);
        StoreGuard(guard)
    }
}

impl std::ops::Deref for StoreGuard<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.0
    }
}

impl Drop for StoreGuard<'_> {
    fn drop(&mut self) {
        HOLDS_STORE_LOCK.set(false);
    }
}

/// Whether the current thread holds the API's store lock.
pub(crate) fn holds_store_lock() -> bool {
    HOLDS_STORE_LOCK.get()
}

/// A JSON error body with a status code: `{"error": "<what to do>"}`,
/// plus fields that type the error for scripts where there are any (a
/// refused roster update names its `roster_error`, see [`roster`]).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    detail: serde_json::Map<String, serde_json::Value>,
}

impl ApiError {
    /// An error with a status and a message that says what to do.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            detail: serde_json::Map::new(),
        }
    }

    /// Adds typed fields beside `error` in the body.
    pub fn with_detail(mut self, detail: serde_json::Map<String, serde_json::Value>) -> Self {
        self.detail.extend(detail);
        self
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
/// is the request's fault (422) unless it is for lack of room (507), busy or
/// stopped is temporary (503), an internal failure is the node's (500).
impl From<NodeError> for ApiError {
    fn from(error: NodeError) -> Self {
        match error {
            NodeError::Refused(crate::runtime::Refusal::Storage(refusal)) => ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                format!("the node has no room for it: {refusal}; nothing was changed"),
            ),
            // Not the request's content but this organization's standing:
            // the same request succeeds once the roster lists the key.
            NodeError::Refused(refusal @ crate::runtime::Refusal::NotMember { .. }) => ApiError::new(
                StatusCode::CONFLICT,
                format!("the node refused it: {refusal}; nothing was changed"),
            ),
            NodeError::Refused(crate::runtime::Refusal::Roster(error)) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("the node refused the roster update: {error}; nothing was changed"),
            )
            .with_detail(roster::error_detail(&error)),
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
        let mut body = self.detail;
        body.insert("error".into(), self.message.into());
        (self.status, Json(serde_json::Value::Object(body))).into_response()
    }
}

/// Refuses (409) a request to publish from an organization whose key is
/// not a participant's on the roster in force (joining or retired), with
/// the node's own words, before any other check of the request.
pub(crate) fn require_member(
    roster: &riskmesh_protocol::Roster,
    me: &riskmesh_protocol::OrgKey,
) -> Result<(), ApiError> {
    match crate::runtime::Membership::refusal(roster, me) {
        Some(refusal) => Err(NodeError::Refused(refusal).into()),
        None => Ok(()),
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

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
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
    tokio::task::spawn_blocking(move || read(&store.lock()))
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
         /v1/requests/{id}/approve, /v1/requests/{id}/deny, /v1/logs/{author}/{seq}, /v1/roster, \
         /v1/equivocations, /v1/export, /v1/export/stix, /taxii2/, /metrics and /healthz",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this route (POST to /v1/entries, /v1/entries/{id}/requests, \
         /v1/requests/{id}/approve|deny and /v1/roster; everything else is GET)",
    )
}

/// Domain prefix of the message [`challenge_proof`] authenticates.
pub const CHALLENGE_DOMAIN: &[u8] = b"riskmesh-api-challenge-v1\0";
/// Length of a challenge nonce in bytes (64 hex digits on the wire).
pub const CHALLENGE_NONCE_BYTES: usize = 32;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

fn challenge_mac(token: &str, nonce: &[u8; CHALLENGE_NONCE_BYTES]) -> HmacSha256 {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(CHALLENGE_DOMAIN);
    mac.update(nonce);
    mac
}

/// The proof that a listener holds `token`: HMAC-SHA256 keyed with the
/// token over [`CHALLENGE_DOMAIN`] and the client's fresh nonce.
pub fn challenge_proof(token: &str, nonce: &[u8; CHALLENGE_NONCE_BYTES]) -> [u8; 32] {
    challenge_mac(token, nonce).finalize().into_bytes().into()
}

/// Checks a listener's answer to a challenge, in constant time.
pub fn verify_challenge(token: &str, nonce: &[u8; CHALLENGE_NONCE_BYTES], proof: &[u8]) -> bool {
    challenge_mac(token, nonce).verify_slice(proof).is_ok()
}

/// Query of `GET /challenge`.
#[derive(Debug, serde::Deserialize)]
pub struct ChallengeQuery {
    /// The client's fresh nonce, 64 hex digits.
    pub nonce: String,
}

/// Answer of `GET /challenge`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ChallengeAnswer {
    /// `challenge_proof(token, nonce)`, 64 hex digits.
    pub proof: String,
}

async fn challenge(
    State(state): State<ApiState>,
    query: Result<axum::extract::Query<ChallengeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ChallengeAnswer>, ApiError> {
    let nonce = query
        .ok()
        .and_then(|q| hex::decode(&q.nonce).ok())
        .and_then(|bytes| <[u8; CHALLENGE_NONCE_BYTES]>::try_from(bytes).ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("give ?nonce= with {} hex digits", CHALLENGE_NONCE_BYTES * 2),
            )
        })?;
    Ok(Json(ChallengeAnswer {
        proof: hex::encode(challenge_proof(&state.token, &nonce)),
    }))
}

/// Which `Host` and `Origin` values a TCP listener accepts: its own bound
/// address, or `localhost`, with its bound port.
#[derive(Debug, Clone)]
struct LocalOrigin {
    bound: SocketAddr,
}

impl LocalOrigin {
    /// Whether `host` (a `Host` header or an origin's authority) names
    /// this listener.
    fn is_ours(&self, host: &str) -> bool {
        let (name, port) = match host.rsplit_once(':') {
            Some((name, port)) if !port.contains(']') => (name, port.parse::<u16>().ok()),
            _ => (host, Some(80)),
        };
        let ip = match self.bound.ip() {
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        };
        port == Some(self.bound.port()) && (name.eq_ignore_ascii_case("localhost") || name == ip)
    }
}

/// Refuses a request whose `Origin` is not this API's own (403), and on TCP
/// (`local` set) one whose `Host` does not name the bound address (421).
fn check_origin(local: Option<&LocalOrigin>, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(local) = local {
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|v| v.to_str().ok());
        match host {
            Some(host) if local.is_ours(host) => {}
            _ => {
                return Err(ApiError::new(
                    StatusCode::MISDIRECTED_REQUEST,
                    format!(
                        "the Host header must name this API: {} or localhost:{}",
                        local.bound,
                        local.bound.port()
                    ),
                ));
            }
        }
    }
    if let Some(origin) = headers.get(axum::http::header::ORIGIN) {
        let same = origin
            .to_str()
            .ok()
            .and_then(|o| o.strip_prefix("http://"))
            .is_some_and(|authority| local.is_some_and(|l| l.is_ours(authority)));
        if !same {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "cross-origin requests are refused: the API is for this machine's CLI and scripts, not web pages",
            ));
        }
    }
    Ok(())
}

async fn require_local_origin(
    State(local): State<Option<LocalOrigin>>,
    request: Request,
    next: Next,
) -> Response {
    match check_origin(local.as_ref(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
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
        .route("/v1/logs/{author}/{seq}", get(entries::at))
        .route(
            "/v1/roster",
            get(roster::show)
                .post(roster::offer)
                .layer(DefaultBodyLimit::max(MAX_ROSTER_REQUEST_BYTES)),
        )
        .route("/v1/equivocations", get(equivocations))
        .route("/v1/export", get(export::export))
        .route("/v1/export/stix", get(stix_export::export))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/challenge", get(challenge))
        .merge(v1)
        .merge(taxii::routes(state.clone()))
        .merge(crate::console::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(state)
}

/// Where the API listens: TCP on loopback and the Unix socket in the data
/// directory.
#[derive(Debug)]
pub struct Listeners {
    /// The TCP listener (127.0.0.1).
    pub tcp: tokio::net::TcpListener,
    /// The Unix socket listener (`api.sock`).
    pub unix: tokio::net::UnixListener,
}

/// Serves the API on both listeners until `shutdown` turns true.
pub async fn serve(listeners: Listeners, state: ApiState, shutdown: watch::Receiver<bool>) {
    let stop = |mut shutdown: watch::Receiver<bool>| async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    let local = match listeners.tcp.local_addr() {
        Ok(bound) => Some(LocalOrigin { bound }),
        Err(e) => {
            tracing::error!(error = %e, "api listener has no address");
            return;
        }
    };
    let layered = |local: Option<LocalOrigin>| {
        router(state.clone()).layer(middleware::from_fn_with_state(local, require_local_origin))
    };
    let tcp = axum::serve(listeners.tcp, layered(local))
        .with_graceful_shutdown(stop(shutdown.clone()))
        .into_future();
    let unix = axum::serve(listeners.unix, layered(None))
        .with_graceful_shutdown(stop(shutdown))
        .into_future();
    let (tcp, unix) = tokio::join!(tcp, unix);
    for result in [tcp, unix] {
        if let Err(e) = result {
            tracing::error!(error = %e, "api server stopped");
        }
    }
}
