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
//! - [`storage`]: per-author byte budgets by role and the free-disk floor;
//!
//! and [`Picker`], the seeded generator behind their random choices (which
//! peers to dial, whom to ask in a sync round, when).

pub mod peers;
pub mod release;
pub mod storage;
pub mod sync;
pub mod writes;

use std::time::Duration;

/// A small deterministic generator (SplitMix64) for the policies' random
/// choices; the driver seeds it, tests fix the seed.
#[derive(Debug, Clone)]
pub struct Picker(u64);

impl Picker {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Picker(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform index below `n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `base` scaled by a uniform factor in [0.5, 1.5).
    pub fn jitter(&mut self, base: Duration) -> Duration {
        let factor = 0.5 + (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        base.mul_f64(factor)
    }
}
