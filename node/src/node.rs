//! Starting a whole node: the runtime (swarm, store, event loop) and the
//! local HTTP API side by side. The API holds a [`NodeHandle`]; the runtime
//! knows nothing of the API.

use crate::config::{NodeConfig, TOKEN_FILE};
use crate::runtime::{self, NodeHandle, StartError};
use crate::store::Store;
use libp2p::Multiaddr;
use std::net::SocketAddr;
use std::path::Path;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A started node: runtime and API.
#[derive(Debug)]
pub struct RunningNode {
    /// Handle for commands.
    pub handle: NodeHandle,
    /// libp2p listen addresses actually bound (with `/p2p/<peer id>`).
    pub listen_addrs: Vec<Multiaddr>,
    /// The local API's bound address.
    pub api_addr: SocketAddr,
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

/// Starts a node: its runtime (see [`runtime::launch`]) and, beside it, the
/// local API on `config.api_listen` with the token from the data directory.
pub async fn start(config: NodeConfig) -> Result<RunningNode, StartError> {
    let token = ensure_token(&config.data_dir)?;
    let listener = tokio::net::TcpListener::bind(config.api_listen)
        .await
        .map_err(|e| StartError::Api {
            addr: config.api_listen,
            error: e.to_string(),
        })?;
    let api_addr = listener.local_addr().map_err(|e| StartError::Api {
        addr: config.api_listen,
        error: e.to_string(),
    })?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let core = runtime::launch(&config, shutdown_rx.clone()).await?;
    let api_store = Store::open_read_only(config.db_path())?;
    let api = crate::api::serve(
        listener,
        crate::api::ApiState::new(core.handle.clone(), api_store, token, config.org.clone()),
        shutdown_rx,
    );
    let runtime_task = core.task;
    let task = tokio::spawn(async move {
        let api_task = tokio::spawn(api);
        let result = runtime_task.await.map_err(|e| e.to_string()).and_then(|r| r);
        if result.is_err() {
            // A fatal stop did not signal the API; stop it here.
            api_task.abort();
        }
        let _ = api_task.await;
        result
    });
    Ok(RunningNode {
        handle: core.handle,
        listen_addrs: core.listen_addrs,
        api_addr,
        shutdown: shutdown_tx,
        task,
    })
}

/// Reads the API token, creating a random one (mode 0600) if missing.
pub fn ensure_token(data_dir: &Path) -> Result<String, StartError> {
    let path = data_dir.join(TOKEN_FILE);
    let err = |e: std::io::Error| StartError::Token {
        path: path.display().to_string(),
        error: e.to_string(),
    };
    match std::fs::read_to_string(&path) {
        Ok(token) => Ok(token.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = hex::encode(rand::random::<[u8; 32]>());
            write_private(&path, token.as_bytes()).map_err(err)?;
            Ok(token)
        }
        Err(e) => Err(err(e)),
    }
}

/// Writes a file readable only by its owner.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
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
