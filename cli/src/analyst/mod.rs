//! The analyst commands: `publish`, `correct`, `retract`, `ack`, `list`,
//! `show`, `status`, `peers`, `export`, and the hazardous tier's `request`,
//! `approve`, `deny` and `audit` (through the node's local API, see
//! [`crate::client`]) and `verify` (offline, straight from the database).
//! Human tables by default, `--json` for scripts; every error says what went
//! wrong and what to do.

pub mod access;
mod publish;
mod read;
mod stix_in;
pub mod text;
pub mod verify;

pub use access::{ApproveArgs, AuditArgs, DenyArgs, RequestArgs};
pub use publish::{AckArgs, CorrectArgs, PublishArgs, RetractArgs};
pub use read::{ExportArgs, ListArgs, PeersArgs, ShowArgs, StatusArgs};
pub use verify::VerifyArgs;

use crate::client::{ApiClient, ClientError, Transport};
use serde::Serialize;
use std::io::{self, Write};
use std::path::PathBuf;

/// How the analyst commands reach the node, and how they print.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// The node's config file; the API port and the token's location are read from it.
    #[arg(
        long,
        env = "RISKMESH_CONFIG",
        default_value = "config.toml",
        value_name = "PATH"
    )]
    pub config: PathBuf,
    /// How to reach the node: `unix`, its socket in the data directory
    /// (checked to be yours before anything is sent), or `tcp`, 127.0.0.1 at
    /// the config's api_port (the listener must first prove it holds the
    /// token).
    #[arg(long, env = "RISKMESH_API", value_enum, default_value_t = Transport::Unix, value_name = "HOW")]
    pub api: Transport,
    /// Print JSON instead of a table (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// The analyst commands, flattened into `riskmesh`'s own subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AnalystCommand {
    // A variant's doc comment becomes its `about` and clears any
    // `long_about`, so long help is set here rather than on the structs.
    /// Publish a bulletin from flags, a TOML or JSON file, stdin (`--file -`) or a STIX 2.1 report (`--stix`).
    #[command(long_about = publish::PUBLISH_LONG_ABOUT)]
    Publish(PublishArgs),
    /// Publish a correction that supersedes one of your organization's entries.
    #[command(long_about = publish::CORRECT_LONG_ABOUT)]
    Correct(CorrectArgs),
    /// Retract one of your organization's entries, optionally purging its body everywhere.
    #[command(long_about = publish::RETRACT_LONG_ABOUT)]
    Retract(RetractArgs),
    /// Acknowledge a bulletin: reproduced, not affected, or mitigated.
    Ack(AckArgs),
    /// List entries, newest first, with filters.
    List(ListArgs),
    /// Show one entry with its body (if your organization may read it), or
    /// with --withheld the hazardous fields your organization holds.
    Show(ShowArgs),
    /// Ask for the withheld fields of a hazardous entry, with a reason every member sees.
    #[command(long_about = access::REQUEST_LONG_ABOUT)]
    Request(RequestArgs),
    /// Approve an access request, as an approver its entry's release policy names.
    #[command(long_about = access::APPROVE_LONG_ABOUT)]
    Approve(ApproveArgs),
    /// Deny an access request, with a reason every member sees.
    #[command(long_about = access::DENY_LONG_ABOUT)]
    Deny(DenyArgs),
    /// Show a hazardous entry's release trail: who asked, why, who decided, who received.
    #[command(long_about = access::AUDIT_LONG_ABOUT)]
    Audit(AuditArgs),
    /// Show the node: peers, per-author heads and lag, equivocations.
    Status(StatusArgs),
    /// List the roster's peers and whether they are connected.
    Peers(PeersArgs),
    /// Re-verify the whole local database offline: signatures, chains,
    /// commitments. Exits non-zero on any problem.
    #[command(long_about = verify::VERIFY_LONG_ABOUT)]
    Verify(VerifyArgs),
    /// Export every entry as JSON with wire bytes and TLP labels, or as a STIX 2.1 bundle (--stix).
    #[command(long_about = read::EXPORT_LONG_ABOUT)]
    Export(ExportArgs),
}

/// Why an analyst command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// Talking to the node failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The command's input is unusable; the message says why and what to do.
    #[error("{0}")]
    Input(String),
    /// `verify` found problems (they were printed).
    #[error("verification found {count} problem(s) in {database}; see the list above")]
    VerifyFailed {
        /// Number of problems.
        count: u64,
        /// The database checked.
        database: PathBuf,
    },
    /// `verify` could not even start (config, roster or database unusable).
    #[error("{0}")]
    Verify(String),
    /// Writing the output failed.
    #[error("writing the output: {0}")]
    Output(io::Error),
    /// A roster or setup step failed (files, member files, drafts).
    #[error(transparent)]
    Setup(#[from] riskmesh_node::setup::SetupError),
}

/// Runs an analyst command.
pub fn run(command: &AnalystCommand) -> Result<(), CliError> {
    match command {
        AnalystCommand::Verify(args) => verify::run(args),
        AnalystCommand::Publish(args) => block_on(publish::publish(args)),
        AnalystCommand::Correct(args) => block_on(publish::correct(args)),
        AnalystCommand::Retract(args) => block_on(publish::retract(args)),
        AnalystCommand::Ack(args) => block_on(publish::ack(args)),
        AnalystCommand::List(args) => block_on(read::list(args)),
        AnalystCommand::Show(args) => block_on(read::show(args)),
        AnalystCommand::Request(args) => block_on(access::request(args)),
        AnalystCommand::Approve(args) => block_on(access::approve(args)),
        AnalystCommand::Deny(args) => block_on(access::deny(args)),
        AnalystCommand::Audit(args) => block_on(access::audit(args)),
        AnalystCommand::Status(args) => block_on(read::status(args)),
        AnalystCommand::Peers(args) => block_on(read::peers(args)),
        AnalystCommand::Export(args) => block_on(read::export(args)),
    }
}

pub(crate) fn block_on<F: std::future::Future<Output = Result<(), CliError>>>(
    future: F,
) -> Result<(), CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Input(format!("cannot start the async runtime: {e}")))?
        .block_on(future)
}

pub(crate) fn client(common: &Common) -> Result<ApiClient, CliError> {
    Ok(ApiClient::from_config(&common.config, common.api)?)
}

/// Writes text to standard output; a closed pipe is an error, not a panic.
fn emit(text: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(CliError::Output)
}

/// Writes pretty JSON and a newline to standard output.
fn emit_json(value: &impl Serialize) -> Result<(), CliError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| CliError::Output(e.into()))?;
    text.push('\n');
    emit(&text)
}
