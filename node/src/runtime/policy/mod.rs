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
//! peers to dial, whom to ask in a sync round, when), and [`next_tick`],
//! when the driver next runs the policies' timers.

pub mod peers;
pub mod release;
pub mod storage;
pub mod sync;
pub mod writes;

use std::time::{Duration, Instant};

/// The shortest time between two runs of the policies' timers, and their
/// period while something is being repaired (a gap to fetch, a release to
/// deliver, the writer behind).
pub const TICK: Duration = Duration::from_millis(250);
/// The longest time between two runs while nothing is due (free disk space
/// is read this often).
pub const IDLE_TICK: Duration = Duration::from_secs(5);

/// When the driver next runs the policies' timers, the last run being at
/// `last`: [`TICK`] after it while `busy`, else at the earliest of the
/// machines' own wake-ups (`None`: nothing scheduled), and never sooner
/// than [`TICK`] nor later than [`IDLE_TICK`] after it. A synced, idle
/// node wakes for its next sync round, redial or disk check instead of
/// four times a second (at 500 nodes in one process those wake-ups cost
/// more CPU than the gossip itself).
pub fn next_tick(last: Instant, busy: bool, wakeups: impl IntoIterator<Item = Option<Instant>>) -> Instant {
    let soonest = last + TICK;
    if busy {
        return soonest;
    }
    let due = wakeups.into_iter().flatten().min();
    due.unwrap_or(last + IDLE_TICK).clamp(soonest, last + IDLE_TICK)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_tick_is_the_earliest_wakeup_within_its_bounds() {
        let t = Instant::now();
        // Busy: the short period, whatever is scheduled.
        assert_eq!(next_tick(t, true, [Some(t + IDLE_TICK)]), t + TICK);
        // Idle with nothing scheduled: the long period.
        assert_eq!(next_tick(t, false, [None, None]), t + IDLE_TICK);
        // The earliest wake-up in between.
        let a = t + Duration::from_secs(1);
        let b = t + Duration::from_secs(3);
        assert_eq!(next_tick(t, false, [Some(b), None, Some(a)]), a);
        // Due now or overdue: not sooner than the short period.
        assert_eq!(next_tick(t, false, [Some(t)]), t + TICK);
        // Far off: the disk is still read on the long period.
        assert_eq!(
            next_tick(t, false, [Some(t + Duration::from_secs(60))]),
            t + IDLE_TICK
        );
    }
}
