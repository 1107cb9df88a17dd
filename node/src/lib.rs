//! The riskmesh node: storage, networking, the local HTTP API and the
//! analyst CLI. The binary in `cli/` is a thin wrapper over this library.

#![deny(missing_docs)]

pub mod api;
pub mod cli_analyst;
pub mod cli_node;
pub mod cli_setup;
pub mod client;
pub mod config;
pub mod config_file;
pub mod metrics;
pub mod net;
mod node;
pub mod runtime;
pub mod sealed;
pub mod setup;
pub mod store;
pub mod testnet;

pub use node::{RunningNode, ensure_token, start, write_private};
pub use runtime::{NodeError, NodeHandle, Refusal, StartError};
