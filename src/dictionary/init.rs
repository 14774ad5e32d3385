//! Initial dictionaries: random training patches (the default, as SPAMS and scikit-learn
//! do), Gaussian noise, or a given `.npy` file of shape (atoms, pixels). Every atom starts at
//! unit norm.

use super::data::{STREAM_INIT, rng_for, shuffle_in_place};
use super::normalize_columns;
use crate::error::{Error, Result};
use crate::patches::PatchSource;
use nalgebra::DMatrix;
use rand_distr::{Distribution, StandardNormal};
use std::path::{Path, PathBuf};

/// How to start a dictionary.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// Distinct random training patches.
    Data,
    /// Independent standard normal entries.
    Noise,
    /// A float32 `.npy` of shape (atoms, pixels).
    File(PathBuf),
}

/// Builds a unit-norm pixels x atoms dictionary.
pub fn initial_dictionary(
    init: &Init,
    source: &PatchSource,
    train: &[u32],
    atoms: usize,
    seed: u64,
) -> Result<DMatrix<f32>> {
    let p = source.pixels();
    let mut rng = rng_for(seed, STREAM_INIT);
    let mut d = match init {
        Init::Data => {
            if train.len() < atoms {
                return Err(Error::param(
                    "atoms",
                    atoms,
                    format!(
                        "`init` data needs at least as many training patches ({}) as atoms",
                        train.len()
                    ),
                ));
            }
            let mut picks: Vec<u32> = train.to_vec();
            shuffle_in_place(&mut picks, &mut rng);
            let mut d = DMatrix::zeros(p, atoms);
            source.gather(&picks[..atoms], &mut d);
            d
        }
        Init::Noise => DMatrix::from_fn(p, atoms, |_, _| StandardNormal.sample(&mut rng)),
        Init::File(path) => read_dictionary(path, atoms, p)?,
    };
    // A zero patch (flat image region) makes a zero atom; replace it with noise.
    for mut col in d.column_iter_mut() {
        if col.norm() <= 1e-12 {
            col.iter_mut()
                .for_each(|v| *v = StandardNormal.sample(&mut rng));
        }
    }
    normalize_columns(&mut d);
    Ok(d)
}

/// Reads an (atoms, pixels) dictionary file and checks its shape.
pub fn read_dictionary(path: &Path, atoms: usize, pixels: usize) -> Result<DMatrix<f32>> {
    let (rows, cols, data) = crate::io::npy::read_matrix(path)?;
    if rows != atoms || cols != pixels {
        return Err(Error::bad_input(
            path,
            "shape",
            format!("({rows}, {cols})"),
            format!("expected ({atoms}, {pixels}) = (`atoms`, pixels of the patch file)"),
        ));
    }
    if data.iter().any(|v| !v.is_finite()) {
        return Err(Error::bad_input(
            path,
            "data",
            "NaN or inf",
            "the dictionary must be finite",
        ));
    }
    Ok(DMatrix::from_vec(pixels, atoms, data))
}
