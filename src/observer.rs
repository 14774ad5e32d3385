//! How long-running library code reports progress without printing. The command line
//! implements [`Progress`] with indicatif bars on a terminal and plain log lines elsewhere;
//! tests and library users pass [`Silent`].

/// Receives progress reports from long work. Implementations must be cheap: callers may
/// report often, and the implementation decides how much to show.
pub trait Progress: Send + Sync {
    /// A new phase of work starts; `total` is in the phase's own units, if known.
    fn start(&self, task: &str, total: Option<u64>);
    /// `done` units of the current phase are finished; `message` is a short status
    /// (for example the current objective).
    fn advance(&self, done: u64, message: &str);
    /// Something the user should know that is not an error (a skipped file, say).
    fn warn(&self, message: &str);
    /// A line worth showing that is neither progress nor a warning: a stage starting, what
    /// was loaded. Implementations that show no such lines keep this default.
    fn note(&self, _message: &str) {}
    /// The current phase is over.
    fn finish(&self, message: &str);
}

/// Ignores every report.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _task: &str, _total: Option<u64>) {}
    fn advance(&self, _done: u64, _message: &str) {}
    fn warn(&self, _message: &str) {}
    fn finish(&self, _message: &str) {}
}
