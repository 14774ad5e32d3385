//! Study stage: every first layer as an unsupervised front end. Each bank the study has (the
//! CNN's trained conv1 of every finished plain seed and its initialisation, the analytic
//! Gabor bank, the random bank, the two sparse-coding dictionaries) and three banks the
//! feature pipeline learns from the same images without labels (spherical k-means, random
//! patches, sparse coding, all with the CNN's filter count) goes through the same
//! `features` pipeline (Coates and Ng): windows at the CNN's kernel size and stride 1 over
//! the CNN's grayscale training images, the soft threshold (alpha 0.25), 4-quadrant sum
//! pooling and an L2-SVM whose lambda is chosen on a fifth of the training images held out.
//! So every first layer gets a test accuracy on one scale, beside the CNN's own.
//!
//! Pixel-space banks (the CNN's filters, the Gabor and random banks, the dictionary of the
//! CNN's own input) act on contrast-normalised windows, as the CNN's filters act on
//! pixels; banks learned on whitened patches act on whitened windows. The trained conv1 of
//! the first seed and the Gabor bank also run on whitened windows, to show what whitening
//! alone changes.
//!
//! Each bank's result is saved as it finishes (`front_ends/<name>.json`), so an interrupted
//! study resumes at the next bank and a finished one reuses them all.

use super::layout;
use super::params::ValidStudyParams;
use super::plan::Run;
use super::run::stop_if_asked;
use crate::cnn::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::features::bank::load_bank;
use crate::features::{self, BankSpace, DictionaryKind, FeaturesParams};
use crate::io::atomic;
use crate::io::labelled::LabelledImages;
use crate::observer::Progress;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Candidate L2 weights of the classifier: a decade grid reaching below the `features`
/// default, since these runs have few features (4 x 2K, K = the CNN's filter count) for
/// their training images, so weak regularisation is expected to win.
pub const LAMBDAS: [f64; 4] = [1e-4, 1e-3, 1e-2, 1e-1];

/// Windows the whitening and the learned dictionaries are estimated from (at most).
const MAX_WINDOWS: usize = 100_000;

/// One first layer through the feature pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontEndRecord {
    /// What the bank is, e.g. "cnn conv1 (trained)".
    pub bank: String,
    /// The file it came from (relative to the study), or how the pipeline learned it.
    pub source: String,
    /// The CNN seed of a conv1 bank; none for the others.
    pub seed: Option<u64>,
    /// "normalised" (contrast-normalised windows) or "whitened" (then ZCA-whitened).
    pub space: String,
    pub atoms: usize,
    pub features: usize,
    pub lambda: f64,
    pub train_accuracy: f64,
    pub validation_accuracy: f64,
    pub test_accuracy: f64,
    pub seconds: f64,
}

/// Where a bank comes from.
enum Source {
    File(PathBuf),
    Learned(DictionaryKind),
}

/// One planned front end.
struct Planned {
    bank: &'static str,
    source: Source,
    seed: Option<u64>,
    space: BankSpace,
}

impl Planned {
    /// File name of its saved result under `front_ends/`.
    fn file_name(&self) -> String {
        let space = space_name(self.space);
        let seed = self.seed.map_or(String::new(), |s| format!("-s{s}"));
        let bank: String = self
            .bank
            .chars()
            .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' })
            .collect();
        format!(
            "{}{seed}-{space}.json",
            bank.trim_matches('-').replace("--", "-")
        )
    }
}

fn space_name(space: BankSpace) -> &'static str {
    match space {
        BankSpace::Normalized => "normalised",
        BankSpace::Whitened => "whitened",
    }
}

/// The front ends of a study whose plain runs in `plain` (seed order) have finished.
fn plan(out: &Path, plain: &[&Run], epochs: usize) -> Vec<Planned> {
    let conv1 = |run: &Run, epoch: usize| {
        Source::File(crate::cnn::log::epoch_stem(&run.dir(out), epoch).with_extension("npy"))
    };
    let file = |rel: &str| Source::File(out.join(rel));
    let mut v = Vec::new();
    for run in plain {
        v.push(Planned {
            bank: "cnn conv1 (trained)",
            source: conv1(run, epochs),
            seed: Some(run.seed),
            space: BankSpace::Normalized,
        });
    }
    if let Some(first) = plain.first() {
        v.push(Planned {
            bank: "cnn conv1 (trained)",
            source: conv1(first, epochs),
            seed: Some(first.seed),
            space: BankSpace::Whitened,
        });
        v.push(Planned {
            bank: "cnn conv1 (initial)",
            source: conv1(first, 0),
            seed: Some(first.seed),
            space: BankSpace::Normalized,
        });
    }
    for (bank, source, space) in [
        ("gabor", file(layout::GABOR), BankSpace::Normalized),
        ("gabor", file(layout::GABOR), BankSpace::Whitened),
        ("random", file(layout::RANDOM), BankSpace::Normalized),
        (
            "input dictionary",
            file(layout::INPUT_DICTIONARY),
            BankSpace::Normalized,
        ),
        (
            "kodak dictionary",
            file(layout::DICTIONARY),
            BankSpace::Whitened,
        ),
        (
            "k-means",
            Source::Learned(DictionaryKind::Kmeans),
            BankSpace::Whitened,
        ),
        (
            "random patches",
            Source::Learned(DictionaryKind::RandomPatches),
            BankSpace::Whitened,
        ),
        (
            "sparse coding",
            Source::Learned(DictionaryKind::SparseCoding),
            BankSpace::Whitened,
        ),
    ] {
        v.push(Planned {
            bank,
            source,
            seed: None,
            space,
        });
    }
    v
}

/// The pipeline's settings for one front end of study `c`.
fn params_for(c: &ValidStudyParams, planned: &Planned, images: usize) -> FeaturesParams {
    // At most 8 windows per training image, so a tiny study (the tests') learns its
    // whitening and dictionaries from few windows; a full study (20,000 images) is capped
    // by MAX_WINDOWS first.
    let windows_available = images * 8;
    FeaturesParams {
        dictionary: match planned.source {
            Source::File(_) => DictionaryKind::Given,
            Source::Learned(kind) => kind,
        },
        atoms: c.filters,
        patch_size: c.kernel,
        patches: MAX_WINDOWS
            .min(c.patches)
            .min(windows_available)
            .max(c.filters),
        bank_space: planned.space,
        lambdas: LAMBDAS.to_vec(),
        learning_curve: Vec::new(),
        seed: c.seed,
        ..FeaturesParams::default()
    }
}

/// Runs (or reads back) every front end of the study in `out` on the CNN's grayscale
/// images. `plain` are the plain runs, in seed order; only those whose checkpoint has all
/// `c.epochs` epochs take part. Returns nothing when no plain run has finished.
pub fn front_ends(
    out: &Path,
    c: &ValidStudyParams,
    plain: &[&Run],
    train: &LabelledImages,
    test: &LabelledImages,
    progress: &dyn Progress,
) -> Result<Vec<FrontEndRecord>> {
    let finished: Vec<&Run> = plain
        .iter()
        .copied()
        .filter(|run| {
            Checkpoint::read(&run.dir(out)).is_ok_and(|(ck, _)| ck.epochs_done == c.epochs)
        })
        .collect();
    if finished.is_empty() {
        return Ok(Vec::new());
    }
    let dir = out.join(layout::FRONT_ENDS);
    atomic::ensure_dir(&dir)?;
    let mut records = Vec::new();
    for planned in plan(out, &finished, c.epochs) {
        stop_if_asked(out)?;
        let saved = dir.join(planned.file_name());
        if let Some(record) = read_saved(&saved)? {
            records.push(record);
            continue;
        }
        progress.note(&format!(
            "study: front end {} ({} windows){}",
            planned.bank,
            space_name(planned.space),
            planned
                .seed
                .map_or(String::new(), |s| format!(", seed {s}"))
        ));
        let record = run_one(out, c, &planned, train, test, progress)?;
        let json = serde_json::to_vec_pretty(&record)
            .map_err(|e| Error::failed("saving a front end", e.to_string()))?;
        atomic::write_bytes(&saved, &json, true)?;
        records.push(record);
    }
    Ok(records)
}

/// A saved result, if the file exists; a damaged one is an error naming it (not silently
/// recomputed, so a resumed study never mixes results without saying so).
fn read_saved(path: &Path) -> Result<Option<FrontEndRecord>> {
    if !path.exists() {
        return Ok(None);
    }
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        Error::bad_input(
            path,
            "json",
            "unreadable",
            format!("{e}; delete it to recompute this front end"),
        )
    })
}

fn run_one(
    out: &Path,
    c: &ValidStudyParams,
    planned: &Planned,
    train: &LabelledImages,
    test: &LabelledImages,
    progress: &dyn Progress,
) -> Result<FrontEndRecord> {
    let started = Instant::now();
    let params = params_for(c, planned, train.len()).check()?;
    params.check_images(train.height, train.width)?;
    let given = match &planned.source {
        Source::File(path) => Some(load_bank(path, train.channels, c.kernel)?),
        Source::Learned(_) => None,
    };
    let run = features::run(&params, train, test, given.as_ref(), progress)?;
    let source = match &planned.source {
        Source::File(path) => path.strip_prefix(out).unwrap_or(path).display().to_string(),
        Source::Learned(kind) => format!("learned by the pipeline ({})", kind.name()),
    };
    Ok(FrontEndRecord {
        bank: planned.bank.into(),
        source,
        seed: planned.seed,
        space: space_name(planned.space).into(),
        atoms: run.bank.ncols(),
        features: run.feature_len,
        lambda: run.chosen_lambda,
        train_accuracy: run.train.value(),
        validation_accuracy: run.validation.value(),
        test_accuracy: run.test.value(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_names_are_distinct_and_plain() {
        let run = |seed| Run {
            variant: crate::study::plan::variants()
                .into_iter()
                .find(|v| v.name == "plain")
                .expect("plain variant"),
            seed,
        };
        let (a, b) = (run(1), run(2));
        let names: Vec<String> = plan(Path::new("s"), &[&a, &b], 5)
            .iter()
            .map(Planned::file_name)
            .collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert!(
            names.iter().all(|n| n
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-.".contains(ch))),
            "{names:?}"
        );
        assert!(names.contains(&"cnn-conv1-trained-s2-normalised.json".to_string()));
    }
}
