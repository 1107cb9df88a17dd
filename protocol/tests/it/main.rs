//! Integration tests of the protocol crate: one binary, one module per concern.

mod cose_interop;
mod entries;
mod props;
mod vectors;
mod vectors_build;
