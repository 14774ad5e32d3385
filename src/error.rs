//! The crate's one error type. Every variant carries what a user needs to fix the problem:
//! the file, the parameter or option, and the offending value. The library names parameters
//! by their field ([`Error::Param`]); the command line renames them to its flags
//! (`cli::flags`), so a library user reads `lambda` where a shell user reads `--lambda`. The
//! binary maps variants to exit codes: 2 for bad usage or bad input (the user can fix it), 1
//! for a failure while running, 130 for an interrupt that was handled cleanly.

use std::path::PathBuf;

/// Everything that can go wrong in simplecell.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter of a library job is out of range. `field` is its name in the params type
    /// (see [`crate::params`]); `reason` may name other fields in backquotes (`` `batch` ``),
    /// which the command line rewrites to flags too.
    #[error("invalid value for `{field}`: {value}: {reason}")]
    Param {
        field: String,
        value: String,
        reason: String,
    },

    /// A command-line option is out of range or malformed.
    #[error("invalid value for {option}: {value}: {reason}")]
    Usage {
        option: String,
        value: String,
        reason: String,
    },

    /// An input file exists but its contents are unusable.
    #[error("{}: field `{field}` = {value}: {reason}", path.display())]
    BadInput {
        path: PathBuf,
        field: String,
        value: String,
        reason: String,
    },

    /// An input file or folder could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// An output could not be written (full disk, no permission, ...).
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The output is already there and `--force` was not given.
    #[error("{} already exists; pass --force to overwrite it", path.display())]
    OutputExists { path: PathBuf },

    /// A computation failed while running (numerical breakdown, inconsistent state).
    #[error("{context}: {reason}")]
    Failed { context: String, reason: String },

    /// The user interrupted a long run; the state was saved where `resume` names.
    #[error("interrupted; resume with {resume}")]
    Interrupted { resume: String },
}

/// The crate-wide result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Process exit code for this error: 2 for what the user can fix in their input,
    /// 1 for failures while running, 130 for a handled interrupt (the shell convention).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Param { .. }
            | Error::Usage { .. }
            | Error::BadInput { .. }
            | Error::Read { .. }
            | Error::OutputExists { .. } => 2,
            Error::Write { .. } | Error::Failed { .. } => 1,
            Error::Interrupted { .. } => 130,
        }
    }

    /// The field a parameter error names (None for any other error).
    pub fn param_field(&self) -> Option<&str> {
        match self {
            Error::Param { field, .. } => Some(field),
            _ => None,
        }
    }

    /// Shorthand for an out-of-range parameter, named by its field.
    pub fn param(field: &str, value: impl std::fmt::Display, reason: impl Into<String>) -> Self {
        Error::Param {
            field: field.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// Shorthand for an out-of-range command-line option.
    pub fn usage(option: &str, value: impl std::fmt::Display, reason: impl Into<String>) -> Self {
        Error::Usage {
            option: option.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// Shorthand for a malformed input file.
    pub fn bad_input(
        path: impl Into<PathBuf>,
        field: &str,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        Error::BadInput {
            path: path.into(),
            field: field.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// Shorthand for a failure while running.
    pub fn failed(context: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Failed {
            context: context.into(),
            reason: reason.into(),
        }
    }
}
