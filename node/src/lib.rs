//! The riskmesh node: storage, networking and the local HTTP API. The
//! `riskmesh` binary in `cli/` parses arguments, talks to the API and calls
//! this library.

#![deny(missing_docs)]

pub mod api;
pub mod config;
pub mod config_file;
pub mod metrics;
pub mod net;
pub mod reverify;
pub mod runtime;
pub mod sealed;
pub mod setup;
pub mod store;
pub mod testnet;
