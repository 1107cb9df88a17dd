//! The node's policies as sans-IO state machines: no tokio, no clock, no
//! sockets. Each takes events and the current time as arguments and returns
//! what the driver (`runtime/event_loop.rs`) must do, so each is tested with
//! virtual time, adversarial inputs included, in milliseconds.
//!
//! - [`peers`]: the roster's peers, redial backoff, strikes and bans, and
//!   per-author gossip budgets;
//! - [`sync`]: whom to ask for heads, which peer serves which gap, what an
//!   answer means and who is at fault;
//! - [`release`]: delivering granted releases (one in flight per request,
//!   retries, give-up);
//! - [`writes`]: the write backlog, admission (back-pressure) and batches;
//! - [`storage`]: per-author byte budgets by role and the free-disk floor.

pub mod peers;
pub mod release;
pub mod storage;
pub mod sync;
pub mod writes;
