//! End-to-end tests of the real `riskmesh` binary.

mod durability;
mod setup;
mod support;
