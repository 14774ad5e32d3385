//! The `simplecell` binary: parse arguments, run, print the error with its causes, and exit
//! with 0 (success), 2 (bad usage or input), 1 (failure while running) or 130 (interrupted,
//! state saved). A panic is caught and reported as an internal error, never a backtrace dump.

use clap::Parser;
use simplecell::cli::{Cli, run};
use std::process::ExitCode;

// Measured faster than the system allocator on every job we time (README, dependencies).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap exits 0 for --help/--version and 2 for usage errors.
            let code = e.exit_code();
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    std::panic::set_hook(Box::new(|info| {
        eprintln!("simplecell: internal error: {info}");
        eprintln!("this is a bug; please report it with the command line that caused it");
    }));
    match std::panic::catch_unwind(|| run(cli)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(err)) => {
            eprintln!("simplecell: error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(err.exit_code() as u8)
        }
        Err(_) => ExitCode::from(1),
    }
}
