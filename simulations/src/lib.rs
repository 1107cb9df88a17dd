//! Multi-node simulations of riskmesh on one machine: real nodes on
//! loopback, scenario files, fault and adversary injection, reports.
//!
//! Not built yet; the crate exists so the workspace layout and the `riskmesh`
//! binary's dependency on it are fixed from the start.
