//! The write pipeline's policy: jobs wait here, in order, when the writer's
//! queue is full; intake slows before the backlog grows (gossip is ignored,
//! sync fetches pause, local publishes are refused as busy); and entries
//! accepted while a batch is ingested are gathered into one write job.
//! Acknowledgements ride inside the jobs and are carried out only after the
//! writer reports the commit. Sans-IO: the writer is a `submit` closure.

use std::collections::VecDeque;

/// Jobs that may wait in the loop for the writer. Producers check
/// [`WriteBacklog::admits`] before they accept work, so the backlog exceeds
/// this only by the few jobs of one step (an accepted release writes three).
pub const WRITE_BACKLOG: usize = 1024;
/// Backlog beyond which gossip and verified sync ranges are ignored; peers
/// resend by sync later.
pub const INTAKE_BACKLOG: usize = 256;
/// Room kept for local publishes and control writes (rosters, proofs,
/// release records) above the intake threshold.
const LOCAL_RESERVE: usize = 8;

/// Who wants to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// A gossiped entry or a verified sync range.
    Network,
    /// A local publish, or a control write this node decided on.
    Local,
}

/// Write jobs waiting for room in the writer's queue, in order.
#[derive(Debug)]
pub struct WriteBacklog<J> {
    // bounded: WRITE_BACKLOG, by admission (see `admits`).
    waiting: VecDeque<J>,
}

impl<J> Default for WriteBacklog<J> {
    fn default() -> Self {
        WriteBacklog {
            // bounded: WRITE_BACKLOG, by admission.
            waiting: VecDeque::new(),
        }
    }
}

impl<J> WriteBacklog<J> {
    /// An empty backlog.
    pub fn new() -> Self {
        Self::default()
    }

    /// Jobs waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Whether new work of this kind may be accepted now.
    pub fn admits(&self, intake: Intake) -> bool {
        match intake {
            Intake::Network => self.waiting.len() < INTAKE_BACKLOG,
            Intake::Local => self.waiting.len() + LOCAL_RESERVE < WRITE_BACKLOG,
        }
    }

    /// Whether new sync fetches should wait: anything waiting means the
    /// writer is behind.
    pub fn fetch_paused(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Hands `job` to the writer (`submit` gives it back when the writer's
    /// queue is full), or queues it behind earlier jobs so order holds.
    pub fn push(&mut self, job: J, submit: impl FnOnce(J) -> Result<(), J>) {
        if !self.waiting.is_empty() {
            self.waiting.push_back(job);
            return;
        }
        if let Err(job) = submit(job) {
            self.waiting.push_back(job);
        }
    }

    /// Hands waiting jobs to the writer, in order, until it is full.
    pub fn flush(&mut self, mut submit: impl FnMut(J) -> Result<(), J>) {
        while let Some(job) = self.waiting.pop_front() {
            if let Err(job) = submit(job) {
                self.waiting.push_front(job);
                break;
            }
        }
    }

    /// Takes every waiting job (shutdown hands them over blocking).
    pub fn drain(&mut self) -> impl Iterator<Item = J> + '_ {
        self.waiting.drain(..)
    }
}

/// Entries and acknowledgements gathered while a batch is ingested, so a
/// batch becomes one write job (one commit, one slot in the writer's queue).
/// Batches nest: only the outermost `end` hands out what was gathered.
#[derive(Debug)]
pub struct Batch<E, A> {
    gathered: Option<(Vec<E>, Vec<A>)>,
    depth: usize,
}

impl<E, A> Default for Batch<E, A> {
    fn default() -> Self {
        Batch {
            gathered: None,
            depth: 0,
        }
    }
}

impl<E, A> Batch<E, A> {
    /// No batch open.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens a batch (or a nested one).
    pub fn begin(&mut self) {
        self.depth += 1;
        if self.gathered.is_none() {
            self.gathered = Some((Vec::new(), Vec::new()));
        }
    }

    /// Gathers entries into the open batch; with no batch open, hands them
    /// straight back to be written now.
    pub fn add(&mut self, entries: Vec<E>, acks: Vec<A>) -> Option<(Vec<E>, Vec<A>)> {
        match self.gathered.as_mut() {
            Some((e, a)) => {
                e.extend(entries);
                a.extend(acks);
                None
            }
            None => Some((entries, acks)),
        }
    }

    /// Closes a batch. The outermost close returns everything gathered,
    /// if anything was.
    pub fn end(&mut self) -> Option<(Vec<E>, Vec<A>)> {
        self.depth = self.depth.saturating_sub(1);
        if self.depth > 0 {
            return None;
        }
        self.gathered
            .take()
            .filter(|(e, a)| !e.is_empty() || !a.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose queue holds `room` more jobs.
    struct Writer {
        room: usize,
        got: Vec<u32>,
    }

    impl Writer {
        fn submit(&mut self, job: u32) -> Result<(), u32> {
            if self.room == 0 {
                return Err(job);
            }
            self.room -= 1;
            self.got.push(job);
            Ok(())
        }
    }

    #[test]
    fn a_full_writer_keeps_jobs_in_order_and_slows_intake() {
        let mut w = Writer {
            room: 2,
            got: Vec::new(),
        };
        let mut backlog = WriteBacklog::new();
        for job in 0..(INTAKE_BACKLOG as u32 + 2) {
            assert!(backlog.admits(Intake::Network));
            backlog.push(job, |j| w.submit(j));
        }
        assert_eq!(w.got, vec![0, 1]);
        assert_eq!(backlog.len(), INTAKE_BACKLOG);
        assert!(backlog.fetch_paused());
        assert!(!backlog.admits(Intake::Network), "gossip is ignored now");
        assert!(backlog.admits(Intake::Local), "a publish still has room");
        // The writer drains a little: jobs leave in order.
        w.room = 3;
        backlog.flush(|j| w.submit(j));
        assert_eq!(w.got, vec![0, 1, 2, 3, 4]);
        // A new job never overtakes waiting ones.
        w.room = 1;
        backlog.push(999, |j| w.submit(j));
        assert_eq!(w.got.last(), Some(&4));
        w.room = usize::MAX;
        backlog.flush(|j| w.submit(j));
        assert_eq!(w.got.last(), Some(&999));
        assert!(backlog.is_empty());
        assert!(!backlog.fetch_paused());
    }

    #[test]
    fn local_writes_are_refused_before_the_hard_cap() {
        let mut backlog = WriteBacklog::new();
        let mut accepted = 0;
        for job in 0..(2 * WRITE_BACKLOG as u32) {
            if backlog.admits(Intake::Local) {
                backlog.push(job, Err);
                accepted += 1;
            }
        }
        assert!(accepted < WRITE_BACKLOG);
        assert!(backlog.len() <= WRITE_BACKLOG);
    }

    /// Regression for 220fec0: a sync batch nested in a verifier's batch
    /// dropped the outer batch's accepted entries.
    #[test]
    fn nested_batches_keep_everything_and_only_the_outermost_writes() {
        let mut batch: Batch<u32, &str> = Batch::new();
        batch.begin();
        assert_eq!(batch.add(vec![1, 2], vec!["gossip-1"]), None);
        batch.begin();
        assert_eq!(batch.add(vec![3], vec![]), None);
        assert_eq!(batch.end(), None, "the inner end writes nothing");
        assert_eq!(batch.add(vec![4], vec!["gossip-4"]), None);
        assert_eq!(
            batch.end(),
            Some((vec![1, 2, 3, 4], vec!["gossip-1", "gossip-4"]))
        );
        // No batch open: entries are handed straight back.
        assert_eq!(batch.add(vec![5], vec![]), Some((vec![5], vec![])));
        // An empty batch writes nothing.
        batch.begin();
        assert_eq!(batch.end(), None);
    }
}
