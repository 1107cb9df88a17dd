//! The analysts' client for the node's local HTTP API: finds the port and
//! the bearer token from the node's config file, sends JSON, and turns every
//! failure into an error that says what to do.

use reqwest::{Method, StatusCode};
use riskmesh_node::api::views::{EntryDetail, EntryList, PeerList, StatusView};
use riskmesh_node::api::{
    AccessRequestInput, AuditView, DecisionInput, ExportQuery, HeldFields, PublishRequest,
};
use riskmesh_node::config::TOKEN_FILE;
use riskmesh_node::config_file::{ConfigError, ConfigFile, read_capped};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long to wait for the node to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request (other than an export) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest token file read.
const MAX_TOKEN_BYTES: u64 = 4096;

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
    /// Nothing answered at the API address.
    #[error(
        "could not reach the node at {addr}: is `riskmesh node` running? (API port from {config}; {error})"
    )]
    Unreachable {
        /// The API address.
        addr: SocketAddr,
        /// The config file.
        config: PathBuf,
        /// What failed.
        error: String,
    },
    /// The node accepted the connection but did not answer in time.
    #[error("the node at {addr} did not answer within {secs} s; it may be overloaded, try again")]
    Timeout {
        /// The API address.
        addr: SocketAddr,
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
    http: reqwest::Client,
    addr: SocketAddr,
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

impl ApiClient {
    /// A client for the node whose config file is `path`: the API is on
    /// 127.0.0.1 at `api_port`, the token in `data_dir/api-token`.
    pub fn from_config(path: &Path) -> Result<ApiClient, ClientError> {
        let file = read_config(path)?;
        let token_path = config_base(path).join(&file.data_dir).join(TOKEN_FILE);
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
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, file.api_port));
        Ok(ApiClient::new(addr, token.trim().to_string(), path.to_path_buf()))
    }

    /// A client for the API at `addr` with `token`; `config` only labels errors.
    pub fn new(addr: SocketAddr, token: String, config: PathBuf) -> ApiClient {
        // The API is on loopback: never send it (or its token) through a proxy.
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        ApiClient {
            http,
            addr,
            token,
            config,
        }
    }

    fn url(&self, path: &str, params: &[(&'static str, String)]) -> String {
        let mut url = format!("http://{}{path}", self.addr);
        for (i, (name, value)) in params.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(name);
            url.push('=');
            url.push_str(&percent_encode(value));
        }
        url
    }

    fn transport(&self, error: reqwest::Error) -> ClientError {
        if error.is_timeout() {
            ClientError::Timeout {
                addr: self.addr,
                secs: REQUEST_TIMEOUT.as_secs(),
            }
        } else if error.is_connect() {
            ClientError::Unreachable {
                addr: self.addr,
                config: self.config.clone(),
                error: root_cause(&error),
            }
        } else {
            ClientError::Protocol(root_cause(&error))
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        params: &[(&'static str, String)],
        body: Option<Vec<u8>>,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, ClientError> {
        let mut request = self
            .http
            .request(method, self.url(path, params))
            .bearer_auth(&self.token);
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = request.send().await.map_err(|e| self.transport(e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let text = response.text().await.map_err(|e| self.transport(e))?;
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(|m| m.as_str()).map(str::to_string))
            .unwrap_or(text);
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
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        params: &[(&'static str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        let response = self
            .send(method, path, params, body, Some(REQUEST_TIMEOUT))
            .await?;
        let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
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

    /// `GET /v1/export`, streamed into `out`; returns the bytes written. A
    /// transfer the node breaks off is an error, never a silent truncation.
    pub async fn export_to(&self, query: &ExportQuery, out: &mut impl Write) -> Result<u64, ClientError> {
        let mut params = Params::new();
        if let Some(tier) = &query.max_tier {
            params.push(("max_tier", tier.clone()));
        }
        let mut response = self.send(Method::GET, "/v1/export", &params, None, None).await?;
        let mut written = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(|e| ClientError::Protocol(format!(
            "the export was cut off after {written} bytes ({}); nothing complete was written, run it again",
            root_cause(&e)
        )))? {
            out.write_all(&chunk).map_err(ClientError::Output)?;
            written += chunk.len() as u64;
        }
        out.flush().map_err(ClientError::Output)?;
        Ok(written)
    }
}

fn encode(value: &impl Serialize) -> Result<Vec<u8>, ClientError> {
    serde_json::to_vec(value).map_err(|e| ClientError::Protocol(e.to_string()))
}

/// The innermost error message (reqwest's own is often just "error sending request").
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

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(percent_encode("cyber-offense"), "cyber-offense");
        assert_eq!(percent_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        let client = ApiClient::new(
            "127.0.0.1:4620".parse().expect("addr"),
            "t".into(),
            PathBuf::from("config.toml"),
        );
        assert_eq!(
            client.url(
                "/v1/entries",
                &[("tier", "public".into()), ("author", "x y".into())]
            ),
            "http://127.0.0.1:4620/v1/entries?tier=public&author=x%20y"
        );
    }

    #[test]
    fn a_missing_config_or_token_says_what_to_do() {
        let dir = tempfile::tempdir().expect("dir");
        let missing = dir.path().join("config.toml");
        let err = ApiClient::from_config(&missing).expect_err("no config");
        assert!(matches!(err, ClientError::NoConfig(_)), "{err}");
        assert!(err.to_string().contains("RISKMESH_CONFIG"), "{err}");
        std::fs::write(&missing, "api_port = 1\n").expect("write");
        let err = ApiClient::from_config(&missing).expect_err("no token");
        assert!(err.to_string().contains("riskmesh node --config"), "{err}");
    }

    #[tokio::test]
    async fn a_refused_token_points_at_the_config() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // A stand-in node that refuses any token, as the real one does.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let body = r#"{"error":"missing or wrong bearer token"}"#;
            let answer = format!(
                "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.expect("answer");
        });
        let client = ApiClient::new(addr, "wrong".into(), PathBuf::from("cfg.toml"));
        let err = client.status().await.expect_err("bad token");
        server.await.expect("server");
        assert!(matches!(&err, ClientError::Api { status: 401, .. }), "{err}");
        assert!(
            err.to_string()
                .contains("named in cfg.toml: check that --config is this node's config"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_stopped_node_is_reported_as_unreachable() {
        // Bind then drop a listener so the port is very likely closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let client = ApiClient::new(
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            "t".into(),
            PathBuf::from("config.toml"),
        );
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
