//! Library errors name parameters by their field (`train_tol`); the command line names them
//! by flag (`--tol`). Each subcommand lists the fields whose flag is not the field's name with
//! `_` and `.` written as `-`, and passes its library errors through [`WithFlags::flags`], so
//! the user reads the flag they typed.
//!
//! ```
//! use simplecell::cli::flags::WithFlags;
//! use simplecell::Error;
//!
//! const FLAGS: &[(&str, &str)] = &[("train_tol", "--tol")];
//! let err: Result<(), Error> = Err(Error::param("train_tol", 2, "must be in (0, 1)"));
//! let msg = err.flags(FLAGS).unwrap_err().to_string();
//! assert_eq!(msg, "invalid value for --tol: 2: must be in (0, 1)");
//! ```

use crate::error::{Error, Result};

/// Fields whose flag is not derived from the name: (field, flag).
pub type FlagNames = &'static [(&'static str, &'static str)];

/// The flag of `field`: from `names`, else `--` and the field with `_` and `.` as `-`.
pub fn flag(field: &str, names: &[(&str, &str)]) -> String {
    names
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, flag)| flag.to_string())
        .unwrap_or_else(|| format!("--{}", field.replace(['_', '.'], "-")))
}

/// Rewrites the fields a reason mentions in backquotes (`` `batch` ``) as flags.
fn rewrite_mentions(reason: &str, names: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut parts = reason.split('`');
    out.push_str(parts.next().unwrap_or(""));
    let mut inside = true;
    for part in parts {
        if inside {
            out.push_str(&flag(part, names));
        } else {
            out.push_str(part);
        }
        inside = !inside;
    }
    out
}

/// Turns a library error into the command line's wording: a parameter error becomes a usage
/// error naming the flag, and fields mentioned in reasons become flags too.
pub fn name_flags(err: Error, names: &[(&str, &str)]) -> Error {
    match err {
        Error::Param {
            field,
            value,
            reason,
        } => Error::Usage {
            option: flag(&field, names),
            value,
            reason: rewrite_mentions(&reason, names),
        },
        Error::BadInput {
            path,
            field,
            value,
            reason,
        } => Error::BadInput {
            path,
            field,
            value,
            reason: rewrite_mentions(&reason, names),
        },
        other => other,
    }
}

/// [`name_flags`] on a result.
pub trait WithFlags<T> {
    fn flags(self, names: &[(&str, &str)]) -> Result<T>;
}

impl<T> WithFlags<T> for Result<T> {
    fn flags(self, names: &[(&str, &str)]) -> Result<T> {
        self.map_err(|e| name_flags(e, names))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_mentions_become_flags() {
        let names = [("stop.seconds", "--time")];
        let err = Error::param("dead_after", 3, "must be 0 or at least `batch` (256)");
        assert_eq!(
            name_flags(err, &names).to_string(),
            "invalid value for --dead-after: 3: must be 0 or at least --batch (256)"
        );
        let err = Error::param("stop.seconds", -1, "must be a positive duration");
        assert!(name_flags(err, &names).to_string().contains("--time"));
        let err = Error::bad_input("d.npy", "shape", "(2, 3)", "expected (`atoms`, pixels)");
        assert!(
            name_flags(err, &names)
                .to_string()
                .contains("(--atoms, pixels)")
        );
        // Other errors pass unchanged.
        let err = Error::failed("x", "`y` stays");
        assert_eq!(name_flags(err, &names).to_string(), "x: `y` stays");
    }
}
