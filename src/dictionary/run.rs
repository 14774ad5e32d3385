//! Driving a [`Learner`] to its stop rule, with hooks for what a long run needs around the
//! steps: a checkpoint every so often, a live picture of the dictionary, a stop on Ctrl-C,
//! and the final outputs. The time budget is the stop rule itself
//! ([`super::StopRule::Seconds`]). [`super::folder`] implements the hooks for a run folder;
//! [`Learner::run`] runs with none.
//!
//! Under MPI every rank runs this loop; the decisions to stop are taken together
//! ([`crate::distributed::agree`]) so that all ranks take the same steps, the hooks are
//! called on rank 0 only (the caller gives the other ranks [`NoHooks`]), and the ranks
//! compare dictionary hashes at every history row and at the end.

use super::learner::Learner;
use crate::error::Result;
use crate::observer::Progress;
use std::time::{Duration, Instant};

/// How often a run saves itself and refreshes its picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunIntervals {
    /// Between checkpoints. Default 5 minutes.
    pub checkpoint_every: Duration,
    /// Between refreshed montages. Default 2 minutes.
    pub montage_every: Duration,
}

impl Default for RunIntervals {
    fn default() -> Self {
        Self {
            checkpoint_every: Duration::from_secs(300),
            montage_every: Duration::from_secs(120),
        }
    }
}

/// What a run does around its steps. Every method has a do-nothing default.
pub trait RunHooks {
    /// Saves resumable state: after the first history row of a fresh run, every
    /// [`RunIntervals::checkpoint_every`], on an interrupt and at the end.
    fn checkpoint(&mut self, _learner: &Learner) -> Result<()> {
        Ok(())
    }

    /// Refreshes the picture of the dictionary: after the first history row, every
    /// [`RunIntervals::montage_every`] and on an interrupt.
    fn montage(&mut self, _learner: &Learner) -> Result<()> {
        Ok(())
    }

    /// Writes the results once the stop rule is met (after the last checkpoint).
    fn finish(&mut self, _learner: &Learner) -> Result<()> {
        Ok(())
    }

    /// Whether to stop now, between steps. Default: the process-wide Ctrl-C flag
    /// ([`crate::interrupt`]), which stays false unless a handler was installed.
    fn interrupted(&self) -> bool {
        crate::interrupt::requested()
    }
}

/// Hooks that do nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHooks;

impl RunHooks for NoHooks {}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// The stop rule was met and [`RunHooks::finish`] ran.
    Finished,
    /// [`RunHooks::interrupted`] asked to stop; the state was checkpointed.
    Interrupted,
}

impl Learner {
    /// Runs to the stop rule with no hooks: the entry point for tests and embedding.
    pub fn run(&mut self, progress: &dyn Progress) -> Result<RunEnd> {
        self.run_with(&mut NoHooks, RunIntervals::default(), progress)
    }

    /// Runs to the stop rule. A fresh run records its step-0 history row and calls the
    /// checkpoint and montage hooks before the first step; after each step a history row is
    /// recorded when due, and the hooks are called when their interval has passed.
    pub fn run_with(
        &mut self,
        hooks: &mut dyn RunHooks,
        every: RunIntervals,
        progress: &dyn Progress,
    ) -> Result<RunEnd> {
        if self.history().is_empty() {
            self.record_row()?;
            hooks.checkpoint(self)?;
            hooks.montage(self)?;
        }
        let mut last_checkpoint = Instant::now();
        let mut last_montage = Instant::now();
        progress.start("learn", self.total_steps());
        loop {
            let (interrupted, finished) =
                crate::distributed::agree(self.collective(), hooks.interrupted(), self.finished());
            if finished {
                break;
            }
            if interrupted {
                hooks.checkpoint(self)?;
                hooks.montage(self)?;
                progress.finish("interrupted; checkpoint written");
                return Ok(RunEnd::Interrupted);
            }
            self.step()?;
            if self.row_due() {
                self.record_row()?;
                self.check_replicas()?;
            }
            if last_checkpoint.elapsed() >= every.checkpoint_every {
                hooks.checkpoint(self)?;
                last_checkpoint = Instant::now();
            }
            if last_montage.elapsed() >= every.montage_every {
                hooks.montage(self)?;
                last_montage = Instant::now();
            }
            progress.advance(self.step_count(), &self.status());
        }
        if self.history().last().map(|r| r.step) != Some(self.step_count()) {
            self.record_row()?;
        }
        self.check_replicas()?;
        hooks.checkpoint(self)?;
        hooks.finish(self)?;
        progress.finish(&self.status());
        Ok(RunEnd::Finished)
    }
}
