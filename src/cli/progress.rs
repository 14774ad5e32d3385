//! Turns library progress reports into indicatif bars (with rate and ETA) when stderr is a
//! terminal, and into plain, rate-limited log lines when it is not (CI logs, nohup files).

use crate::observer::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The command line's [`Progress`] implementation.
pub struct Reporter {
    quiet: bool,
    terminal: bool,
    state: Mutex<State>,
}

struct State {
    bar: Option<ProgressBar>,
    task: String,
    total: Option<u64>,
    started: Instant,
    last_line: Instant,
}

/// Plain log lines are written at most this often, so a long run's log stays readable.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

impl Reporter {
    pub fn new(quiet: bool) -> Self {
        Self {
            quiet,
            terminal: std::io::stderr().is_terminal(),
            state: Mutex::new(State {
                bar: None,
                task: String::new(),
                total: None,
                started: Instant::now(),
                last_line: Instant::now(),
            }),
        }
    }

    /// Prints a line to stderr unless quiet, without disturbing a bar.
    pub fn info(&self, message: &str) {
        if self.quiet {
            return;
        }
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match &state.bar {
            Some(bar) => bar.println(message),
            None => eprintln!("{message}"),
        }
    }
}

impl Progress for Reporter {
    fn start(&self, task: &str, total: Option<u64>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bar) = state.bar.take() {
            bar.finish_and_clear();
        }
        state.task = task.to_string();
        state.total = total;
        state.started = Instant::now();
        state.last_line = Instant::now();
        if self.quiet {
            return;
        }
        if self.terminal {
            let bar = match total {
                Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()).with_style(
                    ProgressStyle::with_template(
                        "{prefix} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} {per_sec} ETA {eta} {msg}",
                    )
                    .expect("valid template"),
                ),
                None => ProgressBar::new_spinner().with_style(
                    ProgressStyle::with_template("{prefix} [{elapsed_precise}] {spinner} {human_pos} {msg}")
                        .expect("valid template"),
                ),
            };
            bar.set_prefix(task.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            state.bar = Some(bar);
        } else {
            eprintln!("{task}: started");
        }
    }

    fn advance(&self, done: u64, message: &str) {
        if self.quiet {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bar) = &state.bar {
            bar.set_position(done);
            bar.set_message(message.to_string());
        } else if state.last_line.elapsed() >= LOG_INTERVAL {
            state.last_line = Instant::now();
            let elapsed = state.started.elapsed().as_secs_f64();
            let eta = match state.total {
                Some(t) if done > 0 && t > done => {
                    format!(", ETA {:.0} s", elapsed * (t - done) as f64 / done as f64)
                }
                _ => String::new(),
            };
            let of = state.total.map(|t| format!("/{t}")).unwrap_or_default();
            eprintln!(
                "{}: {done}{of} after {elapsed:.1} s{eta} {message}",
                state.task
            );
        }
    }

    fn warn(&self, message: &str) {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match &state.bar {
            Some(bar) => bar.println(format!("warning: {message}")),
            None => eprintln!("warning: {message}"),
        }
    }

    fn note(&self, message: &str) {
        self.info(message);
    }

    fn finish(&self, message: &str) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bar) = state.bar.take() {
            bar.finish_and_clear();
        }
        if !self.quiet {
            let elapsed = state.started.elapsed().as_secs_f64();
            eprintln!("{}: done in {elapsed:.1} s {message}", state.task);
        }
    }
}
