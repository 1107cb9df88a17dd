//! Integration tests of the node: real libp2p swarms on 127.0.0.1 with
//! port 0, real SQLite files in temporary directories.

mod adversary;
mod api;
mod api_hazard;
mod console;
mod hazard;
mod membership;
mod network;
