//! Reading a filter bank for the feature pipeline from a `.npy` file: (atoms, channels *
//! size * size) or (filters, channels, size, size), PyTorch's layout, so a CNN's first
//! layer or an analytic Gabor bank loads as it is. The file is checked before any work
//! starts: its shape against the window and the images' channels, and every value finite;
//! each error names the file, the field and the value. All-zero atoms are refused (they
//! cannot be normalised); atoms are scaled to unit norm by the pipeline for the soft
//! threshold and the lasso.

use super::pipeline::GivenBank;
use crate::error::{Error, Result};
use crate::io::npy;
use nalgebra::DMatrix;
use std::path::Path;

/// Loads and checks a bank for `channels`-channel images and `size` x `size` windows.
pub fn load_bank(path: &Path, channels: usize, size: usize) -> Result<GivenBank> {
    let array = npy::read(path)?;
    let dim = channels * size * size;
    let shape = array.shape.clone();
    let atoms = match *shape.as_slice() {
        [k, d] if d == dim && k > 0 => k,
        [k, c, h, w] if c == channels && h == size && w == size && k > 0 => k,
        _ => {
            return Err(Error::bad_input(
                path,
                "shape",
                format!("{shape:?}"),
                format!(
                    "a bank for {size}x{size} windows of {channels}-channel images must be \
                     (atoms, {dim}) or (atoms, {channels}, {size}, {size}); pass the matching \
                     --patch-size, or --grayscale for a one-channel bank"
                ),
            ));
        }
    };
    npy::ensure_finite(
        path,
        &array.data,
        dim,
        ("atom", "value"),
        "a bank must hold finite numbers",
    )?;
    // (atoms, dim) row-major is dim x atoms column-major: the same bytes.
    let bank = DMatrix::from_vec(dim, atoms, array.data);
    if let Some(j) = bank.column_iter().position(|c| c.iter().all(|&v| v == 0.0)) {
        return Err(Error::bad_input(
            path,
            &format!("atom {j}"),
            "all zeros",
            "every atom needs a nonzero value",
        ));
    }
    Ok(GivenBank {
        bank,
        name: path.display().to_string(),
    })
}
