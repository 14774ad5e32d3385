//! One process-wide Ctrl-C flag for every long job (learn, encode, cnn train, study).
//!
//! The handler only sets a flag; each library loop polls [`requested`] at a point where its
//! state is consistent, saves what it needs to resume, and stops (the command line then exits
//! 130). Keeping the handler this small is what makes it safe to run at any instant. The
//! flag stays false until [`install`] is called, so an embedding program that does not want
//! the handler never sees a job stop early.

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C / SIGTERM handler. Calling it again is harmless: the first handler
/// stays and the flag is shared.
pub fn install() {
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
}

/// Whether the user asked the process to stop.
pub fn requested() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
