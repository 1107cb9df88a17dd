//! The analysts' client for the node's local HTTP API. By default it talks
//! to the node's Unix socket `api.sock` in the data directory, after
//! checking that the socket and the directory belong to this user and the
//! directory is closed to everyone else; with `--api tcp` it talks to
//! 127.0.0.1 at the config's `api_port`, and first makes the listener prove
//! it holds the token (a challenge on the same connection) before the token
//! or any request is sent. See `SECURITY.md`, "The local analyst channel".
//! Every failure is an error that says what to do.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use riskmesh_node::api::views::{EntryDetail, EntryList, PeerList, StatusView};
use riskmesh_node::api::{
    AccessRequestInput, AuditView, CHALLENGE_NONCE_BYTES, ChallengeAnswer, DecisionInput, ExportQuery,
    HeldFields, PublishRequest, RosterAnswer, RosterOffer, RosterView, verify_challenge,
};
use riskmesh_node::config::{API_SOCKET_FILE, TOKEN_FILE};
use riskmesh_node::config_file::{ConfigError, ConfigFile, read_capped};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long to wait for the node to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request (other than an export's body) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest token file read.
const MAX_TOKEN_BYTES: u64 = 4096;
/// Largest error or JSON answer read from the node (an export streams).
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// How the CLI reaches its node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// The Unix socket `api.sock` in the node's data directory, checked to
    /// be this user's before anything is sent.
    #[default]
    Unix,
    /// TCP on 127.0.0.1 at the config's `api_port`; the listener must prove
    /// it holds the token before the token or a request is sent.
    Tcp,
}

/// Where the node's API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A Unix socket inside the data directory `dir`.
    Unix {
        /// The socket.
        socket: PathBuf,
        /// The data directory that holds it.
        dir: PathBuf,
    },
    /// A TCP address on loopback.
    Tcp(SocketAddr),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix { socket, .. } => write!(f, "{}", socket.display()),
            Endpoint::Tcp(addr) => write!(f, "{addr}"),
        }
    }
}

/// What `export` asks the node for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// riskmesh's JSON document (wire bytes, views, TLP labels).
    Json,
    /// A STIX 2.1 bundle.
    Stix,
}

/// Why a call to the node failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// There is no config file where the CLI looked.
    #[error(
        "no config file at {0}: pass --config <node directory>/config.toml or set RISKMESH_CONFIG \
         (`riskmesh init` writes it)"
    )]
    NoConfig(PathBuf),
    /// The config file is unreadable or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The API token could not be read.
    #[error(
        "cannot read the API token {path}: {error}. The node writes it when it first starts: is \
         `riskmesh node --config {config}` running, and may this user read its data directory?"
    )]
    Token {
        /// The token file.
        path: PathBuf,
        /// The config file it was derived from.
        config: PathBuf,
        /// The underlying error.
        error: io::Error,
    },
    /// The socket or its data directory is not safe to talk to: nothing was
    /// sent.
    #[error("refusing to talk to the node through {path}: {problem}. Nothing was sent")]
    UnsafeSocket {
        /// The socket or data directory at fault.
        path: PathBuf,
        /// What is wrong and what to do.
        problem: String,
    },
    /// The TCP listener could not prove it holds the token: it is not this
    /// node. Nothing secret was sent.
    #[error(
        "the listener at {addr} is not your node: it could not prove it holds the API token ({why}). \
         Neither the token nor the request was sent. Another program may hold the port while the \
         node is down: check `riskmesh node --config {config}` is running, or use the Unix socket \
         (leave out --api tcp)"
    )]
    Unauthenticated {
        /// The TCP address.
        addr: SocketAddr,
        /// The config file.
        config: PathBuf,
        /// What the listener answered.
        why: String,
    },
    /// Nothing answered at the API address.
    #[error(
        "could not reach the node at {endpoint}: is `riskmesh node` running? (API address from {config}; {error})"
    )]
    Unreachable {
        /// The socket or TCP address.
        endpoint: String,
        /// The config file.
        config: PathBuf,
        /// What failed.
        error: String,
    },
    /// The node accepted the connection but did not answer in time.
    #[error("the node at {endpoint} did not answer within {secs} s; it may be overloaded, try again")]
    Timeout {
        /// The socket or TCP address.
        endpoint: String,
        /// The timeout.
        secs: u64,
    },
    /// The node refused the request; `message` is its explanation.
    #[error("{message} (HTTP {status})")]
    Api {
        /// HTTP status code.
        status: u16,
        /// The node's message, with a hint where one helps.
        message: String,
        /// The typed fields beside the message (for example a refused
        /// roster's `roster_error`), if any.
        fields: serde_json::Map<String, serde_json::Value>,
    },
    /// The node answered something this CLI does not understand.
    #[error("unexpected answer from the node: {0}; are the CLI and the node the same version?")]
    Protocol(String),
    /// Writing the output failed.
    #[error("writing the output: {0}")]
    Output(io::Error),
}

/// Query parameters as name/value pairs.
pub type Params = Vec<(&'static str, String)>;

/// A client of one node's API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    endpoint: Endpoint,
    token: String,
    config: PathBuf,
}

/// Reads a config file, telling a missing one apart from a broken one.
pub fn read_config(path: &Path) -> Result<ConfigFile, ClientError> {
    ConfigFile::read(path).map_err(|e| match e {
        ConfigError::Read { path, error } if error.kind() == io::ErrorKind::NotFound => {
            ClientError::NoConfig(path)
        }
        other => ClientError::Config(other),
    })
}

/// The directory paths in a config file are relative to.
pub fn config_base(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new(""))
}

/// Checks that the data directory and the socket in it belong to this
/// user and that nobody else may enter the directory, so whatever answers
/// on the socket is this user's own process.
fn check_socket(socket: &Path, dir: &Path) -> Result<(), ClientError> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let me = rustix::process::geteuid().as_raw();
    let unsafe_path = |path: &Path, problem: String| ClientError::UnsafeSocket {
        path: path.to_path_buf(),
        problem,
    };
    // A missing directory or socket means no node: reported by the connect.
    let Ok(dir_meta) = std::fs::metadata(dir) else {
        return Ok(());
    };
    if dir_meta.uid() != me {
        return Err(unsafe_path(
            dir,
            format!(
                "the data directory is owned by uid {}, not by you (uid {me}); run the CLI as the \
                 node's user",
                dir_meta.uid()
            ),
        ));
    }
    let mode = dir_meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(unsafe_path(
            dir,
            format!(
                "the data directory has mode {mode:04o}, so other users could plant a socket or read \
                 the token; run `chmod 700 {}`",
                dir.display()
            ),
        ));
    }
    let Ok(socket_meta) = std::fs::symlink_metadata(socket) else {
        return Ok(());
    };
    if !socket_meta.file_type().is_socket() {
        return Err(unsafe_path(
            socket,
            "it is not a socket; stop the node, remove it, and start the node again".into(),
        ));
    }
    if socket_meta.uid() != me {
        return Err(unsafe_path(
            socket,
            format!(
                "the socket is owned by uid {}, not by you (uid {me}): it is not your node",
                socket_meta.uid()
            ),
        ));
    }
    Ok(())
}

impl ApiClient {
    /// A client for the node whose config file is `path`: over `transport`,
    /// the Unix socket `data_dir/api.sock` or 127.0.0.1 at `api_port`; the
    /// token in `data_dir/api-token`.
    pub fn from_config(path: &Path, transport: Transport) -> Result<ApiClient, ClientError> {
        let file = read_config(path)?;
        let data_dir = config_base(path).join(&file.data_dir);
        let endpoint = match transport {
            Transport::Unix => Endpoint::Unix {
                socket: data_dir.join(API_SOCKET_FILE),
                dir: data_dir.clone(),
            },
            Transport::Tcp => Endpoint::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, file.api_port))),
        };
        if let Endpoint::Unix { socket, dir } = &endpoint {
            check_socket(socket, dir)?;
        }
        let token_path = data_dir.join(TOKEN_FILE);
        let token = read_capped(&token_path, MAX_TOKEN_BYTES)
            .and_then(|bytes| {
                String::from_utf8(bytes)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
            })
            .map_err(|error| ClientError::Token {
                path: token_path.clone(),
                config: path.to_path_buf(),
                error,
            })?;
        Ok(ApiClient::new(
            endpoint,
            token.trim().to_string(),
            path.to_path_buf(),
        ))
    }

    /// A client for the API at `endpoint` with `token`; `config` only labels errors.
    pub fn new(endpoint: Endpoint, token: String, config: PathBuf) -> ApiClient {
        ApiClient {
            endpoint,
            token,
            config,
        }
    }

    /// The request target: path and percent-encoded query.
    fn target(&self, path: &str, params: &[(&'static str, String)]) -> String {
        let mut url = path.to_string();
        for (i, (name, value)) in params.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(name);
            url.push('=');
            url.push_str(&percent_encode(value));
        }
        url
    }

    /// The `Host` header: the TCP address, or `localhost` on the socket.
    fn host(&self) -> String {
        match &self.endpoint {
            Endpoint::Unix { .. } => "localhost".into(),
            Endpoint::Tcp(addr) => addr.to_string(),
        }
    }

    fn unreachable(&self, error: impl std::fmt::Display) -> ClientError {
        ClientError::Unreachable {
            endpoint: self.endpoint.to_string(),
            config: self.config.clone(),
            error: error.to_string(),
        }
    }

    /// Opens one HTTP/1.1 connection to the node. On TCP the listener
    /// first proves it holds the token; nothing secret is sent before.
    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let handshake = async {
            match &self.endpoint {
                Endpoint::Unix { socket, dir } => {
                    // Checked again right before connecting: the node may
                    // have been restarted since the client was built.
                    check_socket(socket, dir)?;
                    let stream = tokio::net::UnixStream::connect(socket)
                        .await
                        .map_err(|e| self.unreachable(e))?;
                    self.handshake(TokioIo::new(stream)).await
                }
                Endpoint::Tcp(addr) => {
                    let stream = tokio::net::TcpStream::connect(addr)
                        .await
                        .map_err(|e| self.unreachable(e))?;
                    let mut sender = self.handshake(TokioIo::new(stream)).await?;
                    self.authenticate_listener(*addr, &mut sender).await?;
                    Ok(sender)
                }
            }
        };
        tokio::time::timeout(CONNECT_TIMEOUT, handshake)
            .await
            .map_err(|_| self.unreachable(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())))?
    }

    async fn handshake<T>(&self, io: T) -> Result<SendRequest<Full<Bytes>>, ClientError>
    where
        T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| self.unreachable(e))?;
        tokio::spawn(async move {
            // The connection ends with the command; its errors surface on
            // the request that was in flight.
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// The challenge: a fresh nonce out, `HMAC(token, nonce)` back, checked
    /// in constant time. Only then does the token go over this connection.
    async fn authenticate_listener(
        &self,
        addr: SocketAddr,
        sender: &mut SendRequest<Full<Bytes>>,
    ) -> Result<(), ClientError> {
        let fail = |why: String| ClientError::Unauthenticated {
            addr,
            config: self.config.clone(),
            why,
        };
        let nonce: [u8; CHALLENGE_NONCE_BYTES] = rand::random();
        let request = Request::builder()
            .method(Method::GET)
            .uri(format!("/challenge?nonce={}", hex::encode(nonce)))
            .header(hyper::header::HOST, self.host())
            .body(Full::new(Bytes::new()))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| fail(format!("no valid HTTP answer: {}", root_cause(&e))))?;
        let status = response.status();
        let bytes = read_limited(response.into_body(), 4096)
            .await
            .map_err(|e| fail(format!("no complete answer: {e}")))?;
        if status != StatusCode::OK {
            return Err(fail(format!("it answered HTTP {}", status.as_u16())));
        }
        let proof = serde_json::from_slice::<ChallengeAnswer>(&bytes)
            .ok()
            .and_then(|answer| hex::decode(answer.proof).ok())
            .ok_or_else(|| fail("its answer holds no proof".into()))?;
        if !verify_challenge(&self.token, &nonce, &proof) {
            return Err(fail("its proof is wrong".into()));
        }
        Ok(())
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        params: &[(&'static str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>, ClientError> {
        let mut sender = self.connect().await?;
        let mut request = Request::builder()
            .method(method)
            .uri(self.target(path, params))
            .header(hyper::header::HOST, self.host())
            .header(hyper::header::AUTHORIZATION, format!("Bearer {}", self.token));
        if body.is_some() {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| ClientError::Protocol(root_cause(&e)))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let text = read_limited(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(ClientError::Protocol)?;
        let text = String::from_utf8_lossy(&text).into_owned();
        let mut fields = match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(fields)) => fields,
            _ => serde_json::Map::new(),
        };
        let message = match fields.remove("error") {
            Some(serde_json::Value::String(message)) => message,
            _ => text,
        };
        let message = if status == StatusCode::UNAUTHORIZED {
            format!(
                "the node refused the API token ({message}); the token is read from the data directory \
                 named in {}: check that --config is this node's config",
                self.config.display()
            )
        } else {
            message
        };
        Err(ClientError::Api {
            status: status.as_u16(),
            message,
            fields,
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        params: &[(&'static str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        let call = async {
            let response = self.send(method, path, params, body).await?;
            read_limited(response.into_body(), MAX_ANSWER_BYTES)
                .await
                .map_err(ClientError::Protocol)
        };
        let bytes =
            tokio::time::timeout(REQUEST_TIMEOUT, call)
                .await
                .map_err(|_| ClientError::Timeout {
                    endpoint: self.endpoint.to_string(),
                    secs: REQUEST_TIMEOUT.as_secs(),
                })??;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&'static str, String)],
    ) -> Result<T, ClientError> {
        self.json(Method::GET, path, params, None).await
    }

    /// `GET /v1/status`.
    pub async fn status(&self) -> Result<StatusView, ClientError> {
        self.get("/v1/status", &[]).await
    }

    /// `GET /v1/peers`.
    pub async fn peers(&self) -> Result<PeerList, ClientError> {
        self.get("/v1/peers", &[]).await
    }

    /// `GET /v1/entries` with query parameters.
    pub async fn list(&self, params: &[(&'static str, String)]) -> Result<EntryList, ClientError> {
        self.get("/v1/entries", params).await
    }

    /// `GET /v1/entries/{id}`.
    pub async fn show(&self, id: &str) -> Result<EntryDetail, ClientError> {
        self.get(&format!("/v1/entries/{}", percent_encode(id)), &[])
            .await
    }

    /// `POST /v1/entries`.
    pub async fn publish(&self, request: &PublishRequest) -> Result<EntryDetail, ClientError> {
        let body = encode(request)?;
        self.json(Method::POST, "/v1/entries", &[], Some(body)).await
    }

    /// `POST /v1/entries/{id}/requests`: asks for withheld fields of a
    /// hazardous entry; returns the published access request.
    pub async fn request_access(
        &self,
        id: &str,
        input: &AccessRequestInput,
    ) -> Result<EntryDetail, ClientError> {
        let body = encode(input)?;
        let path = format!("/v1/entries/{}/requests", percent_encode(id));
        self.json(Method::POST, &path, &[], Some(body)).await
    }

    /// `POST /v1/requests/{id}/approve` (`grant`) or `…/deny`: returns the
    /// published access decision.
    pub async fn decide(
        &self,
        request: &str,
        grant: bool,
        input: &DecisionInput,
    ) -> Result<EntryDetail, ClientError> {
        let body = encode(input)?;
        let verb = if grant { "approve" } else { "deny" };
        let path = format!("/v1/requests/{}/{verb}", percent_encode(request));
        self.json(Method::POST, &path, &[], Some(body)).await
    }

    /// `GET /v1/logs/{author}/{seq}`: the entry at `seq` of `author`'s log.
    pub async fn log_entry(&self, author: &str, seq: u64) -> Result<EntryDetail, ClientError> {
        self.get(&format!("/v1/logs/{}/{seq}", percent_encode(author)), &[])
            .await
    }

    /// `GET /v1/roster`.
    pub async fn roster(&self) -> Result<RosterView, ClientError> {
        self.get("/v1/roster", &[]).await
    }

    /// `POST /v1/roster`: offers a signed roster (or, with `dry_run`, has
    /// the node check it without applying it).
    pub async fn offer_roster(&self, offer: &RosterOffer) -> Result<RosterAnswer, ClientError> {
        let body = encode(offer)?;
        self.json(Method::POST, "/v1/roster", &[], Some(body)).await
    }

    /// `GET /v1/entries/{id}/audit`.
    pub async fn audit(&self, id: &str) -> Result<AuditView, ClientError> {
        self.get(&format!("/v1/entries/{}/audit", percent_encode(id)), &[])
            .await
    }

    /// `GET /v1/entries/{id}/withheld`: the withheld fields this
    /// organization holds (an API error with status 404 when none).
    pub async fn withheld(&self, id: &str) -> Result<HeldFields, ClientError> {
        self.get(&format!("/v1/entries/{}/withheld", percent_encode(id)), &[])
            .await
    }

    /// `GET /v1/export` (or `/v1/export/stix`), streamed into `out`; returns
    /// the bytes written. A transfer the node breaks off is an error, never a
    /// silent truncation.
    pub async fn export_to(
        &self,
        format: ExportFormat,
        query: &ExportQuery,
        out: &mut impl Write,
    ) -> Result<u64, ClientError> {
        let mut params = Params::new();
        if let Some(tier) = &query.max_tier {
            params.push(("max_tier", tier.clone()));
        }
        let path = match format {
            ExportFormat::Json => "/v1/export",
            ExportFormat::Stix => "/v1/export/stix",
        };
        let response = self.send(Method::GET, path, &params, None).await?;
        let mut body = response.into_body();
        let mut written = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                ClientError::Protocol(format!(
                    "the export was cut off after {written} bytes ({}); nothing complete was written, run it again",
                    root_cause(&e)
                ))
            })?;
            if let Ok(chunk) = frame.into_data() {
                out.write_all(&chunk).map_err(ClientError::Output)?;
                written += chunk.len() as u64;
            }
        }
        out.flush().map_err(ClientError::Output)?;
        Ok(written)
    }
}

/// Reads a whole answer body, refusing one over `limit` bytes.
async fn read_limited(mut body: Incoming, limit: usize) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| root_cause(&e))?;
        if let Ok(chunk) = frame.into_data() {
            if bytes.len() + chunk.len() > limit {
                return Err(format!("an answer over {limit} bytes"));
            }
            bytes.extend_from_slice(&chunk);
        }
    }
    Ok(bytes)
}

fn encode(value: &impl Serialize) -> Result<Vec<u8>, ClientError> {
    serde_json::to_vec(value).map_err(|e| ClientError::Protocol(e.to_string()))
}

/// The innermost error message (hyper's own is often just "error sending request").
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &(dyn std::error::Error + 'static) = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_client(addr: SocketAddr, token: &str) -> ApiClient {
        ApiClient::new(Endpoint::Tcp(addr), token.into(), PathBuf::from("cfg.toml"))
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(percent_encode("cyber-offense"), "cyber-offense");
        assert_eq!(percent_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        let client = tcp_client("127.0.0.1:4620".parse().expect("addr"), "t");
        assert_eq!(
            client.target(
                "/v1/entries",
                &[("tier", "public".into()), ("author", "x y".into())]
            ),
            "/v1/entries?tier=public&author=x%20y"
        );
    }

    #[test]
    fn a_missing_config_or_token_says_what_to_do() {
        let dir = tempfile::tempdir().expect("dir");
        let missing = dir.path().join("config.toml");
        let err = ApiClient::from_config(&missing, Transport::Unix).expect_err("no config");
        assert!(matches!(err, ClientError::NoConfig(_)), "{err}");
        assert!(err.to_string().contains("RISKMESH_CONFIG"), "{err}");
        std::fs::write(&missing, "api_port = 1\n").expect("write");
        let err = ApiClient::from_config(&missing, Transport::Unix).expect_err("no token");
        assert!(err.to_string().contains("riskmesh node --config"), "{err}");
    }

    /// A stand-in node on `listener` that answers every request on one
    /// connection with `answer` and returns what it received.
    async fn stand_in<L>(listener: L, answer: String) -> Vec<u8>
    where
        L: StandIn,
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut socket = listener.accept_one().await;
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = socket.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buf[..n]);
            if received.windows(4).any(|w| w == b"\r\n\r\n") {
                let _ = socket.write_all(answer.as_bytes()).await;
                break;
            }
        }
        received
    }

    trait StandIn {
        type Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin;
        async fn accept_one(self) -> Self::Stream;
    }

    impl StandIn for tokio::net::TcpListener {
        type Stream = tokio::net::TcpStream;
        async fn accept_one(self) -> Self::Stream {
            self.accept().await.expect("accept").0
        }
    }

    impl StandIn for tokio::net::UnixListener {
        type Stream = tokio::net::UnixStream;
        async fn accept_one(self) -> Self::Stream {
            self.accept().await.expect("accept").0
        }
    }

    /// A node's data directory is 0700 (`riskmesh init` makes it so); a
    /// temporary directory's mode depends on the umask.
    fn private_dir(dir: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).expect("chmod 700");
    }

    fn answer(status: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    #[tokio::test]
    async fn a_refused_token_points_at_the_config() {
        // A stand-in node on a private socket that refuses any token, as the
        // real one does.
        let dir = tempfile::tempdir().expect("dir");
        private_dir(dir.path());
        let socket = dir.path().join("api.sock");
        let listener = tokio::net::UnixListener::bind(&socket).expect("bind");
        let server = tokio::spawn(stand_in(
            listener,
            answer("401 Unauthorized", r#"{"error":"missing or wrong bearer token"}"#),
        ));
        let endpoint = Endpoint::Unix {
            socket,
            dir: dir.path().to_path_buf(),
        };
        let client = ApiClient::new(endpoint, "wrong".into(), PathBuf::from("cfg.toml"));
        let err = client.status().await.expect_err("bad token");
        // Checked before waiting for the stand-in, which a client that
        // never connected would leave waiting.
        assert!(matches!(&err, ClientError::Api { status: 401, .. }), "{err}");
        server.await.expect("server");
        assert!(
            err.to_string()
                .contains("named in cfg.toml: check that --config is this node's config"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_tcp_listener_without_the_token_gets_neither_token_nor_request() {
        let token = "ab".repeat(32);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let proof = format!(r#"{{"proof":"{}"}}"#, "00".repeat(32));
        let server = tokio::spawn(stand_in(listener, answer("200 OK", &proof)));
        let err = tcp_client(addr, &token).status().await.expect_err("not the node");
        let received = server.await.expect("server");
        assert!(matches!(&err, ClientError::Unauthenticated { .. }), "{err}");
        assert!(err.to_string().contains("is not your node"), "{err}");
        let text = String::from_utf8_lossy(&received);
        assert!(text.starts_with("GET /challenge?nonce="), "{text}");
        assert!(!text.contains(&token) && !text.contains("/v1/"), "{text}");
    }

    #[test]
    fn a_data_directory_open_to_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let socket = dir.path().join("api.sock");
        private_dir(dir.path());
        if let Err(e) = check_socket(&socket, dir.path()) {
            panic!("0700 and ours: {e}");
        }
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let err = check_socket(&socket, dir.path()).expect_err("0755");
        assert!(err.to_string().contains("chmod 700"), "{err}");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
        std::fs::write(&socket, "not a socket").expect("write");
        let err = check_socket(&socket, dir.path()).expect_err("a file");
        assert!(err.to_string().contains("not a socket"), "{err}");
    }

    #[tokio::test]
    async fn a_stopped_node_is_reported_as_unreachable() {
        // Bind then drop a listener so the port is very likely closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let client = tcp_client(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), "t");
        let err = client.status().await.expect_err("nothing listens");
        let text = err.to_string();
        assert!(
            text.contains(&format!(
                "could not reach the node at 127.0.0.1:{port}: is `riskmesh node` running?"
            )),
            "{text}"
        );
    }
}
