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
pub mod runtime;
pub mod sealed;
pub mod setup;
pub mod store;
#[cfg(feature = "testnet")]
pub mod testnet;
