//! Starting a whole node: the runtime (swarm, store, event loop) and the
//! local HTTP API side by side. The API holds a [`NodeHandle`]; the runtime
//! knows nothing of the API.
//!
//! Before anything else, `start` takes an exclusive lock on the data
//! directory (`node.lock`), held for the node's lifetime: two nodes on one
//! directory would both sign as the organization and fork its log.

use crate::config::{LOCK_FILE, NodeConfig, TOKEN_FILE};
use crate::runtime::{self, NodeHandle};
use crate::store::Store;
use libp2p::Multiaddr;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Length of the API token in hex digits (32 random bytes).
pub const TOKEN_HEX_LEN: usize = 64;

/// Why a node did not start. Each message names the file or address at
/// fault and says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The runtime (database, roster, network) or the API's TCP listener
    /// failed.
    #[error(transparent)]
    Runtime(#[from] runtime::StartError),
    /// Another process holds the data directory's lock.
    #[error(
        "another riskmesh node is running on {dir} ({holder}); stop it first: two nodes on one \
         data directory would both sign as this organization and fork its log"
    )]
    DataDirInUse {
        /// The data directory.
        dir: PathBuf,
        /// Who holds it, as recorded in the lock file (`pid 1234`), or
        /// `pid unknown`.
        holder: String,
    },
    /// The lock file could not be created or locked.
    #[error("cannot lock the data directory {dir} ({LOCK_FILE}): {error}")]
    Lock {
        /// The data directory.
        dir: PathBuf,
        /// What failed.
        error: String,
    },
    /// The API token file exists but is not safe to trust: other users may
    /// read or write it, it is not ours, or it does not hold a token.
    #[error(
        "the API token file {path} {problem}; the node does not trust it. Delete it (the node \
         writes a fresh one, mode 0600, at start) or fix it"
    )]
    UnsafeToken {
        /// The token file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The API's Unix socket could not be set up.
    #[error("api socket {path}: {error}")]
    ApiSocket {
        /// The socket path.
        path: PathBuf,
        /// What failed and what to do.
        error: String,
    },
}

impl From<crate::store::StoreError> for StartError {
    fn from(error: crate::store::StoreError) -> Self {
        StartError::Runtime(error.into())
    }
}

/// A started node: runtime and API.
#[derive(Debug)]
pub struct RunningNode {
    /// Handle for commands.
    pub handle: NodeHandle,
    /// libp2p listen addresses actually bound (with `/p2p/<peer id>`).
    pub listen_addrs: Vec<Multiaddr>,
    /// The local API's bound TCP address.
    pub api_addr: SocketAddr,
    /// The local API's Unix socket (`api.sock` in the data directory).
    pub api_socket: PathBuf,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<Result<(), String>>,
}

impl RunningNode {
    /// Stops the node: finishes in-flight commits, closes the store.
    pub async fn shutdown(self) -> Result<(), String> {
        let _ = self.shutdown.send(true);
        self.task.await.map_err(|e| e.to_string())?
    }

    /// Waits until the node stops by itself (fatal store error) or `signal`
    /// resolves, then shuts down.
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) -> Result<(), String> {
        let shutdown = self.shutdown;
        let mut task = self.task;
        tokio::select! {
            result = &mut task => return result.map_err(|e| e.to_string())?,
            () = signal => {}
        }
        let _ = shutdown.send(true);
        task.await.map_err(|e| e.to_string())?
    }
}

/// Starts a node: locks its data directory, then its runtime (see
/// [`runtime::launch`]) and, beside it, the local API on `config.api_listen`
/// and on the Unix socket `api.sock` in the data directory, with the token
/// from the data directory.
pub async fn start(config: NodeConfig) -> Result<RunningNode, StartError> {
    let lock = lock_data_dir(&config.data_dir)?;
    let token = ensure_token(&config.data_dir)?;
    let api_error = |e: std::io::Error| runtime::StartError::Api {
        addr: config.api_listen,
        error: e.to_string(),
    };
    let listener = tokio::net::TcpListener::bind(config.api_listen)
        .await
        .map_err(api_error)?;
    let api_addr = listener.local_addr().map_err(api_error)?;
    let api_socket = config.api_socket_path();
    let unix_listener = bind_api_socket(&api_socket).await?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let core = runtime::launch(&config, shutdown_rx.clone()).await?;
    let api_store = Store::open_read_only(config.db_path())?;
    let api = crate::api::serve(
        crate::api::Listeners {
            tcp: listener,
            unix: unix_listener,
        },
        crate::api::ApiState::new(core.handle.clone(), api_store, token, config.org.clone()),
        shutdown_rx,
    );
    let runtime_task = core.task;
    let socket_path = api_socket.clone();
    let task = tokio::spawn(async move {
        let api_task = tokio::spawn(api);
        let result = runtime_task.await.map_err(|e| e.to_string()).and_then(|r| r);
        if result.is_err() {
            // A fatal stop did not signal the API; stop it here.
            api_task.abort();
        }
        let _ = api_task.await;
        // Nothing answers on the socket any more; the next start would
        // remove it anyway, but a clean stop leaves no stale file.
        let _ = std::fs::remove_file(&socket_path);
        // The lock is released last, once nothing of this node runs.
        drop(lock);
        result
    });
    Ok(RunningNode {
        handle: core.handle,
        listen_addrs: core.listen_addrs,
        api_addr,
        api_socket,
        shutdown: shutdown_tx,
        task,
    })
}

/// Takes the data directory's exclusive lock (`node.lock`) and records this
/// process's id in it. The lock lasts as long as the returned file is open,
/// and the OS drops it when the process dies, so a crash leaves no stale
/// lock behind.
fn lock_data_dir(dir: &Path) -> Result<File, StartError> {
    let path = dir.join(LOCK_FILE);
    let error = |e: std::io::Error| StartError::Lock {
        dir: dir.to_path_buf(),
        error: e.to_string(),
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(error)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut recorded = String::new();
            let _ = file.take(32).read_to_string(&mut recorded);
            let holder = match recorded.trim().parse::<u32>() {
                Ok(pid) => format!("pid {pid}"),
                Err(_) => "pid unknown".to_string(),
            };
            return Err(StartError::DataDirInUse {
                dir: dir.to_path_buf(),
                holder,
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(error(e)),
    }
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .map_err(error)?;
    Ok(file)
}

/// Binds the API's Unix socket with mode 0600. A socket file left by a
/// node that stopped uncleanly is removed, but only if nothing answers on
/// it; anything else at that path is left alone and reported.
async fn bind_api_socket(path: &Path) -> Result<tokio::net::UnixListener, StartError> {
    let error = |error: String| StartError::ApiSocket {
        path: path.to_path_buf(),
        error,
    };
    match std::fs::symlink_metadata(path) {
        Ok(metadata) => {
            use std::os::unix::fs::FileTypeExt;
            if !metadata.file_type().is_socket() {
                return Err(error(
                    "a file that is not a socket is in the way; move it out of the data directory".into(),
                ));
            }
            if tokio::net::UnixStream::connect(path).await.is_ok() {
                return Err(error(
                    "something already answers on this socket; is another node running?".into(),
                ));
            }
            std::fs::remove_file(path).map_err(|e| error(format!("cannot remove the stale socket: {e}")))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(error(e.to_string())),
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(|e| {
        error(format!(
            "cannot listen: {e} (a socket path must be shorter than about 100 bytes; use a shorter data_dir)"
        ))
    })?;
    // The data directory is 0700 already; 0600 on the socket keeps it
    // private even if the directory's mode is loosened later.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| error(format!("cannot set its mode to 0600: {e}")))?;
    Ok(listener)
}

/// Reads the API token, creating a random one (mode 0600) if missing. An
/// existing token file is trusted only if it is a regular file owned by
/// this user, readable by nobody else, and holds 64 hex digits.
pub fn ensure_token(data_dir: &Path) -> Result<String, StartError> {
    let path = data_dir.join(TOKEN_FILE);
    let err = |e: std::io::Error| runtime::StartError::Token {
        path: path.display().to_string(),
        error: e.to_string(),
    };
    let unsafe_token = |problem: String| StartError::UnsafeToken {
        path: path.clone(),
        problem,
    };
    match std::fs::symlink_metadata(&path) {
        Ok(metadata) => {
            use std::os::unix::fs::MetadataExt;
            if !metadata.file_type().is_file() {
                return Err(unsafe_token("is not a regular file".into()));
            }
            let me = rustix::process::geteuid().as_raw();
            if metadata.uid() != me {
                return Err(unsafe_token(format!(
                    "is owned by uid {}, not by this user (uid {me})",
                    metadata.uid()
                )));
            }
            let mode = metadata.mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(unsafe_token(format!(
                    "has mode {mode:04o}: other users may read or change it (run `chmod 600 {}`)",
                    path.display()
                )));
            }
            let text = std::fs::read_to_string(&path).map_err(err)?;
            let token = text.trim();
            if token.len() != TOKEN_HEX_LEN || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(unsafe_token(format!(
                    "does not hold a token of {TOKEN_HEX_LEN} hex digits"
                )));
            }
            Ok(token.to_string())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = hex::encode(rand::random::<[u8; 32]>());
            write_private(&path, token.as_bytes()).map_err(err)?;
            Ok(token)
        }
        Err(e) => Err(err(e).into()),
    }
}

/// Writes a file readable only by its owner.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testnet::{Cluster, ClusterSpec};
    use std::os::unix::fs::PermissionsExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn solo() -> Cluster {
        Cluster::prepare(&ClusterSpec {
            members: vec!["solo".into()],
            observers: Vec::new(),
            extra_nodes: Vec::new(),
            author_rate_per_minute: 600,
        })
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn a_second_node_on_the_same_data_directory_is_refused_until_the_first_stops() {
        let cluster = solo();
        let first = start(cluster.config(0)).await.expect("first node starts");
        let err = start(cluster.config(0)).await.expect_err("second node refused");
        assert!(matches!(err, StartError::DataDirInUse { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("another riskmesh node is running on")
                && text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        // The refused start left the running node's socket alone.
        assert_eq!(mode(&first.api_socket), 0o600);
        first.shutdown().await.expect("stop");
        let second = start(cluster.config(0))
            .await
            .expect("starts once the first stopped");
        second.shutdown().await.expect("stop");
    }

    #[tokio::test]
    async fn a_stale_api_socket_is_replaced_but_a_live_one_is_not() {
        let cluster = solo();
        let config = cluster.config(0);
        let socket = config.api_socket_path();
        // A socket file nothing answers on, as a killed node leaves it.
        drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind"));
        let node = start(config.clone()).await.expect("starts over a stale socket");
        assert_eq!(mode(&socket), 0o600);
        node.shutdown().await.expect("stop");
        assert!(!socket.exists(), "a clean stop removes the socket");
        // Something alive on the socket (not a node: it holds no lock).
        let _live = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
        let err = start(config).await.expect_err("live socket");
        assert!(matches!(err, StartError::ApiSocket { .. }), "{err}");
        assert!(err.to_string().contains("already answers"), "{err}");
    }

    #[test]
    fn an_unsafe_or_malformed_token_file_stops_the_node() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(TOKEN_FILE);
        let token = ensure_token(dir.path()).expect("creates a token");
        assert_eq!((token.len(), mode(&path)), (TOKEN_HEX_LEN, 0o600));
        assert_eq!(ensure_token(dir.path()).expect("reads it"), token);

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = ensure_token(dir.path()).expect_err("world-readable");
        assert!(matches!(err, StartError::UnsafeToken { .. }), "{err}");
        assert!(err.to_string().contains("mode 0644"), "{err}");

        std::fs::remove_file(&path).expect("remove");
        write_private(&path, b"guessable").expect("write");
        let err = ensure_token(dir.path()).expect_err("not a token");
        assert!(matches!(err, StartError::UnsafeToken { .. }), "{err}");
        assert!(err.to_string().contains("64 hex digits"), "{err}");

        std::fs::remove_file(&path).expect("remove");
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &path).expect("symlink");
        let err = ensure_token(dir.path()).expect_err("a symlink");
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    #[tokio::test]
    async fn an_unsafe_token_file_is_a_typed_start_error() {
        let cluster = solo();
        let config = cluster.config(0);
        std::fs::write(config.token_path(), "ab".repeat(32)).expect("write");
        std::fs::set_permissions(config.token_path(), std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let err = start(config).await.expect_err("refused");
        assert!(matches!(err, StartError::UnsafeToken { .. }), "{err}");
    }

    #[test]
    fn database_wal_and_shm_files_are_private() {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("riskmesh.db");
        Store::create(&db).expect("create").close().expect("close");
        let store = Store::open(&db).expect("open");
        let _reader = Store::open_read_only(&db).expect("open read-only");
        for suffix in ["", "-wal", "-shm"] {
            let path = PathBuf::from(format!("{}{suffix}", db.display()));
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
        drop(store);

        // A database an older version left world-readable is tightened on open.
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        Store::open(&db).expect("open");
        assert_eq!(mode(&db), 0o600);
    }

    /// Sends a raw HTTP/1.1 request and returns the status code and body.
    async fn raw(addr: SocketAddr, request: String) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {answer}"));
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
        (status, body)
    }

    #[tokio::test]
    async fn requests_for_another_host_or_from_another_origin_are_refused() {
        let cluster = solo();
        let node = start(cluster.config(0)).await.expect("start");
        let addr = node.api_addr;
        let port = addr.port();
        let get =
            |path: &str, headers: &str| format!("GET {path} HTTP/1.1\r\n{headers}Connection: close\r\n\r\n");
        // DNS rebinding: the browser sends the attacker's name as Host.
        for path in ["/healthz", "/metrics"] {
            let (status, body) = raw(addr, get(path, &format!("Host: evil.example:{port}\r\n"))).await;
            assert_eq!(status, 421, "{path}: {body}");
            assert!(body.contains("\"error\""), "{body}");
        }
        let (status, _) = raw(
            addr,
            get("/healthz", &format!("Host: 127.0.0.1:{}\r\n", port ^ 1)),
        )
        .await;
        assert_eq!(status, 421, "another port");
        let (status, _) = raw(addr, get("/healthz", "")).await;
        assert_eq!(status, 421, "no Host");
        let (status, body) = raw(
            addr,
            get(
                "/metrics",
                &format!("Host: 127.0.0.1:{port}\r\nOrigin: http://evil.example\r\n"),
            ),
        )
        .await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("cross-origin"), "{body}");
        // The API's own names pass, with or without their own Origin.
        for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
            let (status, body) = raw(addr, get("/healthz", &format!("Host: {host}\r\n"))).await;
            assert_eq!((status, body.as_str()), (200, "ok"), "{host}");
            let headers = format!("Host: {host}\r\nOrigin: http://{host}\r\n");
            let (status, _) = raw(addr, get("/healthz", &headers)).await;
            assert_eq!(status, 200, "{host} same origin");
        }
        node.shutdown().await.expect("stop");
    }

    #[tokio::test]
    async fn the_challenge_proves_the_listener_holds_the_token() {
        let cluster = solo();
        let node = start(cluster.config(0)).await.expect("start");
        let token = std::fs::read_to_string(cluster.config(0).token_path()).expect("token");
        let nonce = [7u8; crate::api::CHALLENGE_NONCE_BYTES];
        let request = format!(
            "GET /challenge?nonce={} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            hex::encode(nonce),
            node.api_addr
        );
        let (status, body) = raw(node.api_addr, request).await;
        assert_eq!(status, 200, "{body}");
        let answer: crate::api::ChallengeAnswer = serde_json::from_str(&body).expect("json");
        let proof = hex::decode(answer.proof).expect("hex");
        assert!(crate::api::verify_challenge(token.trim(), &nonce, &proof));
        assert!(!crate::api::verify_challenge("other", &nonce, &proof));
        node.shutdown().await.expect("stop");
    }
}
