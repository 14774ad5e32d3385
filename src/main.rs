//! The `simplecell` binary: parse arguments, run, print the error with its causes, and exit
//! with 0 (success), 2 (bad usage or input), 1 (failure while running) or 130 (interrupted,
//! state saved). A panic is caught and reported as an internal error, never a backtrace dump.
//!
//! Built with the `mpi` feature, the binary is an MPI program (README, "MPI"): it joins the
//! job it was launched in (a job of one rank without a launcher), errors name the rank, and
//! a rank that fails ends the whole job (`MPI_Abort`) so that no rank waits forever for it.

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
    #[cfg(feature = "mpi")]
    let session = match simplecell::distributed::mpi::start() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("simplecell: error: {e}");
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    #[cfg(feature = "mpi")]
    let who = if session.size() > 1 {
        format!("simplecell (rank {} of {})", session.rank(), session.size())
    } else {
        "simplecell".to_string()
    };
    #[cfg(not(feature = "mpi"))]
    let who = "simplecell".to_string();
    let panic_who = who.clone();
    std::panic::set_hook(Box::new(move |info| {
        eprintln!("{panic_who}: internal error: {info}");
        eprintln!("this is a bug; please report it with the command line that caused it");
    }));
    let code = match std::panic::catch_unwind(|| run(cli)) {
        Ok(Ok(())) => 0,
        // An interrupt is agreed by every rank (they stop together), so rank 0 alone says so.
        #[cfg(feature = "mpi")]
        Ok(Err(simplecell::Error::Interrupted { .. })) if session.rank() != 0 => 130,
        Ok(Err(err)) => {
            eprintln!("{who}: error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            #[cfg(feature = "mpi")]
            if session.size() > 1 && !matches!(err, simplecell::Error::Interrupted { .. }) {
                session.abort(err.exit_code());
            }
            err.exit_code()
        }
        Err(_) => {
            #[cfg(feature = "mpi")]
            if session.size() > 1 {
                session.abort(1);
            }
            1
        }
    };
    // Under MPI the session is dropped here, finalising MPI before the process exits.
    ExitCode::from(code as u8)
}
