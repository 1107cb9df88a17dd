//! `riskmesh node`: run this organization's node in the foreground until
//! SIGINT or SIGTERM, with structured logs (tracing-subscriber) on stderr.

use anyhow::Context;
use libp2p::Multiaddr;
use riskmesh_node::config_file::{self, Overrides};
use std::path::PathBuf;

/// Arguments of `riskmesh node`.
#[derive(Debug, Clone, clap::Args)]
#[command(
    about = "Run this organization's node until interrupted",
    long_about = "Run this organization's node in the foreground: connect to the roster's other nodes, \
    gossip and sync entries, store them in SQLite, and serve the local HTTP API for analysts on the \
    Unix socket api.sock in the data directory and on 127.0.0.1. Refuses to start while another node \
    runs on the same data directory. Stops cleanly on Ctrl-C or SIGTERM after finishing in-flight commits. Logs go to \
    stderr; set RUST_LOG (for example RUST_LOG=debug or RUST_LOG=riskmesh_node=debug) for more."
)]
pub struct NodeArgs {
    /// The node's config file (written by `riskmesh init`).
    #[arg(
        long,
        env = "RISKMESH_CONFIG",
        default_value = "config.toml",
        value_name = "PATH"
    )]
    pub config: PathBuf,
    /// Emit logs as JSON lines instead of text.
    #[arg(long)]
    pub json_logs: bool,
    /// Flags that replace config-file values.
    #[command(flatten)]
    pub overrides: OverrideArgs,
}

/// Command-line flags that take precedence over the config file; each one,
/// when given, replaces the file's value (see [`Overrides`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct OverrideArgs {
    /// libp2p listen multiaddr, replacing the config file's `listen`
    /// (repeat for several).
    #[arg(long = "listen", value_name = "MULTIADDR")]
    pub listen: Option<Vec<Multiaddr>>,
    /// Port of the local HTTP API on 127.0.0.1, replacing `api_port`.
    #[arg(long = "api-port", value_name = "PORT")]
    pub api_port: Option<u16>,
    /// Data directory, replacing `data_dir` (relative to the working directory).
    #[arg(long = "data-dir", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Peer to dial, ending in `/p2p/<peer id>`, replacing the config file's
    /// `bootstrap` (repeat for several).
    #[arg(long = "bootstrap", value_name = "MULTIADDR")]
    pub bootstrap: Option<Vec<Multiaddr>>,
}

impl From<&OverrideArgs> for Overrides {
    fn from(args: &OverrideArgs) -> Overrides {
        Overrides {
            listen: args.listen.clone(),
            api_port: args.api_port,
            data_dir: args.data_dir.clone(),
            bootstrap: args.bootstrap.clone(),
        }
    }
}

/// Sends logs to stderr: `RUST_LOG` picks what, `json` the format.
fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,libp2p_gossipsub=warn,libp2p_swarm=warn")
    });
    // Colour codes only for a person at a terminal: in a log file or a
    // journal they are noise that breaks grep.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Keeps secrets out of core dumps and away from same-user debuggers: the
/// node holds the organization's keys and, in memory, withheld details it
/// releases or shows its analysts. Best effort: a failure is logged.
fn harden_process() {
    use rustix::process::{DumpableBehavior, Resource, Rlimit, set_dumpable_behavior, setrlimit};
    let none = Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    if let Err(e) = setrlimit(Resource::Core, none) {
        tracing::warn!(error = %e, "could not disable core dumps");
    }
    // Not dumpable also refuses ptrace from other processes of this user.
    if let Err(e) = set_dumpable_behavior(DumpableBehavior::NotDumpable) {
        tracing::warn!(error = %e, "could not mark the process non-dumpable");
    }
}

/// Runs the node until a signal arrives.
pub fn run(args: &NodeArgs) -> anyhow::Result<()> {
    init_logging(args.json_logs);
    harden_process();
    let config = config_file::load_with(&args.config, &Overrides::from(&args.overrides))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("riskmesh")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let org = config.org.org.clone();
        let node = riskmesh_node::start(config)
            .await
            .with_context(|| format!("starting the node from {}", args.config.display()))?;
        let status = node.handle.status().await?;
        tracing::info!(
            org = %org,
            network = %status.network,
            peer_id = %status.peer_id,
            roster_version = status.roster_version,
            entries = status.entries,
            "node started"
        );
        for addr in &node.listen_addrs {
            tracing::info!(%addr, "listening");
        }
        tracing::info!(
            socket = %node.api_socket.display(),
            tcp = %node.api_addr,
            "local API (token in the data directory's api-token file)"
        );
        node.run_until(shutdown_signal())
            .await
            .map_err(anyhow::Error::msg)?;
        tracing::info!("stopped cleanly");
        Ok(())
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
