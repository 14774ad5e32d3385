//! The filter bank: `count` filters of `channels` x `size` x `size` values, row-major
//! (PyTorch's (filters, channels, k, k) layout; a dictionary is one channel). Every command
//! that takes a bank (montage, analyze, compare, cnn train --conv1-init, the study) reads it
//! with [`Bank::read`], so a bank file means the same thing everywhere.
//!
//! A bank either owns its values (read from a file) or borrows them (a view of a dictionary
//! or of normalised filters in memory); both are the one type, through `Cow`.

use crate::error::{Error, Result};
use std::borrow::Cow;
use std::path::Path;

/// A bank of square filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Bank<'a> {
    /// `count * channels * size * size` values, filter after filter.
    pub data: Cow<'a, [f32]>,
    pub count: usize,
    pub channels: usize,
    pub size: usize,
}

impl<'a> Bank<'a> {
    /// A bank of `count` filters over `data`.
    ///
    /// # Panics
    /// If `data` does not hold exactly `count * channels * size * size` values.
    pub fn new(
        data: impl Into<Cow<'a, [f32]>>,
        count: usize,
        channels: usize,
        size: usize,
    ) -> Self {
        let data = data.into();
        assert_eq!(
            data.len(),
            count * channels * size * size,
            "bank values do not match its shape"
        );
        Self {
            data,
            count,
            channels,
            size,
        }
    }

    /// Interprets values of shape (atoms, pixels) with square patches, or
    /// (filters, channels, k, k) with square kernels. `path` labels errors.
    pub fn from_shape(
        data: impl Into<Cow<'a, [f32]>>,
        shape: &[usize],
        path: &Path,
    ) -> Result<Self> {
        let wrong = |reason: &str| {
            Error::bad_input(path, "shape", format!("{shape:?}"), reason.to_string())
        };
        let (count, channels, size) = match *shape {
            [count, pixels] => {
                let size = (pixels as f64).sqrt().round() as usize;
                if size * size != pixels || pixels == 0 {
                    return Err(wrong(
                        "a 2-D filter bank needs square patches: (atoms, size*size)",
                    ));
                }
                (count, 1, size)
            }
            [count, channels, h, w] if h == w && h > 0 && channels > 0 => (count, channels, h),
            _ => {
                return Err(wrong(
                    "expected (atoms, size*size) or (filters, channels, k, k) with square kernels",
                ));
            }
        };
        let data = data.into();
        if data.len() != count * channels * size * size {
            return Err(wrong("the number of values does not match the shape"));
        }
        Ok(Self {
            data,
            count,
            channels,
            size,
        })
    }

    /// Values per filter.
    pub fn filter_len(&self) -> usize {
        self.channels * self.size * self.size
    }

    /// The values of filter `i`.
    pub fn filter(&self, i: usize) -> &[f32] {
        let n = self.filter_len();
        &self.data[i * n..(i + 1) * n]
    }

    /// The `.npy` shape it is written with: (filters, channels, k, k).
    pub fn shape(&self) -> [usize; 4] {
        [self.count, self.channels, self.size, self.size]
    }

    /// A borrowed view of the same values.
    pub fn view(&self) -> Bank<'_> {
        Bank {
            data: Cow::Borrowed(&self.data),
            count: self.count,
            channels: self.channels,
            size: self.size,
        }
    }

    /// Fails, naming the first offending filter and element, unless every value is finite.
    pub fn check_finite(&self, path: &Path) -> Result<()> {
        crate::io::npy::ensure_finite(
            path,
            &self.data,
            self.filter_len(),
            ("filter", "element"),
            "filter values must be finite (no NaN or infinity)",
        )
    }
}

impl Bank<'static> {
    /// Reads a bank file: float32 or float64 `.npy` of shape (atoms, size*size) or
    /// (filters, channels, k, k), with at least one filter. Values are not checked here:
    /// a montage shows NaN as grey, while analysis refuses it ([`Bank::check_finite`]).
    pub fn read(path: &Path) -> Result<Self> {
        Ok(Self::read_with_shape(path)?.0)
    }

    /// [`Bank::read`], with the array's shape as stored in the file (for provenance).
    pub fn read_with_shape(path: &Path) -> Result<(Self, Vec<usize>)> {
        let array = crate::io::npy::read(path)?;
        let bank = Bank::from_shape(array.data, &array.shape, path)?;
        if bank.count == 0 {
            return Err(Error::bad_input(
                path,
                "shape",
                format!("{:?}", array.shape),
                "the bank has no filters",
            ));
        }
        Ok((bank, array.shape))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_layouts_and_refuses_empty_or_non_square_banks() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        let values: Vec<f32> = (0..2 * 9).map(|v| v as f32).collect();
        crate::io::npy::write(&path("dict.npy"), &[2, 9], &values, false).unwrap();
        crate::io::npy::write(&path("cnn.npy"), &[1, 2, 3, 3], &values, false).unwrap();
        let dict = Bank::read(&path("dict.npy")).unwrap();
        assert_eq!(dict.shape(), [2, 1, 3, 3]);
        assert_eq!(dict.filter(1), &values[9..]);
        let cnn = Bank::read(&path("cnn.npy")).unwrap();
        assert_eq!(cnn.shape(), [1, 2, 3, 3]);
        assert_eq!(cnn.filter(0), &values[..]);

        crate::io::npy::write(&path("empty.npy"), &[0, 9], &[], false).unwrap();
        crate::io::npy::write(&path("oblong.npy"), &[3, 6], &values, false).unwrap();
        for (name, needle) in [("empty.npy", "no filters"), ("oblong.npy", "square")] {
            let msg = Bank::read(&path(name)).unwrap_err().to_string();
            assert!(msg.contains(name) && msg.contains(needle), "{msg}");
        }
    }

    #[test]
    fn non_finite_values_are_named_by_filter_and_element() {
        let mut values = [0.5f32; 2 * 4];
        values[6] = f32::NAN;
        let bank = Bank::new(&values[..], 2, 1, 2);
        let msg = bank
            .check_finite(Path::new("b.npy"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("filter 1 element 2"), "{msg}");
        assert!(
            Bank::new(vec![0.0; 4], 1, 1, 2)
                .check_finite(Path::new("ok.npy"))
                .is_ok()
        );
    }
}
