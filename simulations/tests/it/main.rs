//! Integration tests of the simulator: real nodes on loopback, scenarios
//! run end to end, invariants and each adversary's expected outcome
//! asserted. Runs are serialized (two 2-core simulations side by side would
//! only measure each other).

mod adversaries;
mod bare;
mod default;
mod membership;
mod partition;
mod support;
