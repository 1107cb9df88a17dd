//! The riskmesh node: storage, networking and the local HTTP API. The
//! `riskmesh` binary in `cli/` parses arguments, talks to the API and calls
//! this library.

#![deny(missing_docs)]

pub mod api;
pub mod config;
pub mod config_file;
pub mod console;
pub mod metrics;
pub mod net;
mod node;
pub mod plaintext;
pub mod reverify;
pub mod runtime;
pub mod sealed;
pub mod setup;
pub mod stix;
pub mod store;
#[cfg(feature = "testnet")]
pub mod testnet;
pub mod utc;

pub use node::{RunningNode, StartError, TOKEN_HEX_LEN, ensure_token, start, write_private};
pub use runtime::{NodeError, NodeHandle, Refusal};
