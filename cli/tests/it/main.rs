//! End-to-end tests of the real `riskmesh` binary.

mod durability;
mod e2e;
mod setup;
mod support;
