//! A patch set as the learner and the encoder read it: a (patches, pixels) float32 `.npy`
//! memory-mapped (so it may be larger than RAM), a file read into memory when it cannot be
//! mapped (float64 or Fortran order), or values already in memory.

use crate::error::{Error, Result};
use crate::io::npy::{self, MappedNpy};
use nalgebra::DMatrix;
use std::path::Path;

/// A patch set, row-major (patches, pixels).
#[allow(clippy::large_enum_variant)] // one per run; boxing buys nothing
pub enum PatchSource {
    Mapped(MappedNpy),
    Memory { pixels: usize, data: Vec<f32> },
}

impl PatchSource {
    /// Maps a (patches, pixels) float32 `.npy` file.
    pub fn open(path: &Path) -> Result<Self> {
        let mapped = MappedNpy::open(path)?;
        if mapped.shape().len() != 2 {
            return Err(Error::bad_input(
                path,
                "shape",
                format!("{:?}", mapped.shape()),
                "a patch file must be 2-D (patches, pixels)",
            ));
        }
        Ok(PatchSource::Mapped(mapped))
    }

    /// Maps the file when it is float32 in C order (bounded memory), otherwise (float64,
    /// Fortran order) reads it into memory as float32.
    pub fn open_or_read(path: &Path) -> Result<Self> {
        match Self::open(path) {
            Err(Error::BadInput { field, .. }) if field == "descr" => {
                let array = npy::read(path)?;
                match *array.shape.as_slice() {
                    [_, pixels] if pixels > 0 => Ok(PatchSource::Memory {
                        pixels,
                        data: array.data,
                    }),
                    _ => Err(Error::bad_input(
                        path,
                        "shape",
                        format!("{:?}", array.shape),
                        "a patch file must be 2-D (patches, pixels)",
                    )),
                }
            }
            other => other,
        }
    }

    /// Patches held in memory, row-major (patches, pixels).
    pub fn from_rows(pixels: usize, data: Vec<f32>) -> Self {
        assert!(pixels > 0 && data.len().is_multiple_of(pixels));
        PatchSource::Memory { pixels, data }
    }

    pub fn pixels(&self) -> usize {
        match self {
            PatchSource::Mapped(m) => m.rows_cols().1,
            PatchSource::Memory { pixels, .. } => *pixels,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            PatchSource::Mapped(m) => m.rows_cols().0,
            PatchSource::Memory { pixels, data } => data.len() / pixels,
        }
    }

    /// Every value, row-major (patches, pixels).
    pub fn data(&self) -> &[f32] {
        match self {
            PatchSource::Mapped(m) => m.data(),
            PatchSource::Memory { data, .. } => data,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Patch `i`.
    pub fn patch(&self, i: usize) -> &[f32] {
        match self {
            PatchSource::Mapped(m) => m.row(i),
            PatchSource::Memory { pixels, data } => &data[i * pixels..(i + 1) * pixels],
        }
    }

    /// Copies the patches `indices` into the columns of `out` (pixels x indices.len()).
    pub fn gather(&self, indices: &[u32], out: &mut DMatrix<f32>) {
        let p = self.pixels();
        let dst = out.as_mut_slice();
        for (slot, &i) in indices.iter().enumerate() {
            dst[slot * p..(slot + 1) * p].copy_from_slice(self.patch(i as usize));
        }
    }
}
