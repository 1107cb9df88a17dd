//! End-to-end tests of the real `riskmesh` binary.

mod durability;
mod e2e;
mod local_channel;
mod membership;
mod setup;
mod stix_in;
mod support;
