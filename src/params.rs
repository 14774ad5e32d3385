//! The checked-parameters idiom every job follows.
//!
//! A job's parameters are a plain struct with `Default` (each field's doc gives its default
//! and range) that implements [`Params`]. [`Params::check`] validates every field and returns
//! a [`Valid`] wrapper; jobs accept only `&Valid<...>`, so nothing runs on unchecked values
//! and nothing is checked twice. [`Valid`] has no public constructor and no `Deserialize`:
//! parameters read back from a file are checked again.
//!
//! ```
//! use simplecell::coding::CodingParams;
//! use simplecell::params::Params;
//!
//! let params = CodingParams { lambda: 0.5, ..CodingParams::default() }.check()?;
//! assert_eq!(params.lambda, 0.5); // `Valid` dereferences to the params
//! let err = CodingParams { lambda: -1.0, ..CodingParams::default() }.check().unwrap_err();
//! assert!(err.to_string().contains("`lambda`"));
//! # Ok::<(), simplecell::Error>(())
//! ```
//!
//! Errors are [`Error::Param`], naming the field; the command line maps fields to flags
//! (`cli::flags`).

use crate::error::{Error, Result};
use std::ops::Deref;

/// A job's parameters: validate them once with [`Params::check`].
pub trait Params: Clone {
    /// Checks every field and fills in automatic values (a default that depends on other
    /// fields). Errors are [`Error::Param`] naming the field.
    fn validate(&mut self) -> Result<()>;

    /// The checked parameters, or the first field out of range.
    fn check(&self) -> Result<Valid<Self>> {
        let mut params = self.clone();
        params.validate()?;
        Ok(Valid(params))
    }
}

/// Parameters that passed [`Params::check`]. Read them through `Deref`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct Valid<P>(P);

impl<P> Valid<P> {
    /// The parameters themselves, to change and check again.
    pub fn into_inner(self) -> P {
        self.0
    }
}

impl<P> Deref for Valid<P> {
    type Target = P;
    fn deref(&self) -> &P {
        &self.0
    }
}

/// Fails with [`Error::Param`] for `field` unless `ok`: the one-line form of every range
/// check (`ensure((2..=64).contains(&size), "patch_size", size, "must be in 2..=64")?`).
pub fn ensure(
    ok: bool,
    field: &str,
    value: impl std::fmt::Display,
    reason: impl Into<String>,
) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::param(field, value, reason))
    }
}

/// `value` is finite and > 0.
pub fn ensure_positive(field: &str, value: f64) -> Result<()> {
    ensure(
        value > 0.0 && value.is_finite(),
        field,
        value,
        "must be a finite number > 0",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Default)]
    struct Window {
        width: usize,
        /// 0 means "twice the width".
        stride: usize,
    }

    impl Params for Window {
        fn validate(&mut self) -> Result<()> {
            ensure(self.width >= 1, "width", self.width, "must be at least 1")?;
            if self.stride == 0 {
                self.stride = 2 * self.width;
            }
            Ok(())
        }
    }

    #[test]
    fn check_names_the_field_and_fills_automatic_values() {
        let err = Window::default().check().unwrap_err();
        assert!(matches!(&err, Error::Param { field, .. } if field == "width"));
        assert_eq!(err.exit_code(), 2);
        let valid = Window {
            width: 3,
            stride: 0,
        }
        .check()
        .unwrap();
        assert_eq!((valid.width, valid.stride), (3, 6));
        // The caller's value is untouched: only the checked copy carries the filled field.
        assert_eq!(valid.into_inner().stride, 6);
    }
}
