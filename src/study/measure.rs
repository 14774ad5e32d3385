//! Stage 4 of a study, the measurements. Each filter bank is measured against the study's
//! dictionary: matched similarity with its phase-randomised null baseline, the Gabor-fit
//! and localization distributions, the two-sample tests of orientation, frequency, nx and
//! ny, and the filters' own sparsity; one call per (run, epoch) in [`measure_run`]. The
//! second layer of the plain run is shown by its units' preferred inputs ([`conv2`]) and,
//! with the first, by the dataset patches that most excite each unit ([`top9`]). The
//! report turns the records into CSV rows.

use super::input_reference::{
    InputStatistics, log_correlation, orientation_selectivity, radial_power,
};
use super::params::ValidStudyParams;
use super::plan;
use super::plan::Run;
use super::report::{Conv2Record, RunRecord, TopPatchRecord, TuningRecord};
use super::training::Images;
use super::tuning;
use super::zeros::{self, ZeroSplit};
use crate::analysis::compare::{CompareOptions, compare_measured, measure_luminance};
use crate::analysis::gabor::FitOptions;
use crate::analysis::measures::{FilterMeasures, MeasureOptions, measure_bank};
use crate::analysis::planes::{ColourMode, planes};
use crate::analysis::stats::summarise;
use crate::cnn::checkpoint::Checkpoint;
use crate::cnn::data::NetworkInputs;
use crate::cnn::log::{epoch_bank, epoch_bias};
use crate::cnn::net::Network;
use crate::cnn::top_patches::{self, TOP};
use crate::cnn::train::build_network;
use crate::cnn::visualize::preferred_inputs_of;
use crate::cnn::{AscentParams, ConvLayer};
use crate::error::Result;
use crate::io::npy;
use crate::observer::Silent;
use crate::params::Params;
use crate::viz::montage::{self, Bank, MontageOptions};
use std::path::Path;

/// Gabor fits at or above this R^2 count as "Gabor-like" (the emergence test's threshold).
pub const GOOD_R2: f64 = 0.7;

/// One bank's numbers against the reference dictionary.
#[derive(Debug, Clone, PartialEq)]
pub struct BankMeasures {
    pub matched_similarity: f64,
    pub null_mean: f64,
    pub null_sd: f64,
    /// (matched - null mean) / null sd.
    pub z: f64,
    pub r2_median: f64,
    pub r2_good_fraction: f64,
    /// Median fraction of the patch area holding 80% of a filter's energy.
    pub energy80_median: f64,
    pub orientation_p: f64,
    pub frequency_p: f64,
    pub nx_p: f64,
    pub ny_p: f64,
    /// Mean Hoyer sparsity and excess kurtosis of the filters' own weights.
    pub filter_hoyer: f64,
    pub filter_kurtosis: f64,
    /// Per-filter measures of the bank's luminance planes (for parameter tables).
    pub filters: Vec<FilterMeasures>,
}

/// The dictionary, with its per-filter measures taken once for all the banks compared
/// with it (every epoch of every run).
pub struct Reference<'a> {
    pub bank: Bank<'a>,
    pub measures: Vec<FilterMeasures>,
    options: CompareOptions,
}

impl<'a> Reference<'a> {
    /// `null_draws` and `seed` fix the null surrogates and the fits' random starts.
    pub fn new(bank: Bank<'a>, null_draws: usize, seed: u64) -> Self {
        let options = CompareOptions {
            max_shift: None,
            null_draws,
            seed,
            min_r2: GOOD_R2,
            measure: MeasureOptions {
                fit: FitOptions::default(),
                seed,
            },
        };
        let measures = measure_luminance(&bank, &options, &Silent);
        Self {
            bank,
            measures,
            options,
        }
    }
}

/// Measures `bank` against the reference dictionary (colour banks through their luminance
/// projection).
pub fn against_dictionary(bank: &Bank, reference: &Reference) -> BankMeasures {
    let c = compare_measured(
        bank,
        &reference.bank,
        reference.measures.clone(),
        &reference.options,
        &Silent,
    );
    let (null_mean, null_sd, z) = c.null();
    let ms = &c.measures_a;
    let r2: Vec<f64> = ms
        .iter()
        .map(|m| m.gabor.map_or(f64::NAN, |g| g.r2))
        .collect();
    let finite_r2 = r2.iter().filter(|v| v.is_finite()).count();
    let good = r2.iter().filter(|&&v| v >= GOOD_R2).count();
    let p = |name: &str| {
        c.parameter_tests
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(f64::NAN, |(_, t)| t.p_value)
    };
    let mean_of =
        |f: fn(&FilterMeasures) -> f64| summarise(&ms.iter().map(f).collect::<Vec<_>>()).mean;
    BankMeasures {
        matched_similarity: c.matched_mean(),
        null_mean,
        null_sd,
        z,
        r2_median: summarise(&r2).median,
        r2_good_fraction: if finite_r2 == 0 {
            f64::NAN
        } else {
            good as f64 / ms.len() as f64
        },
        energy80_median: summarise(
            &ms.iter()
                .map(|m| m.energy80_area_fraction)
                .collect::<Vec<_>>(),
        )
        .median,
        orientation_p: p("orientation_deg"),
        frequency_p: p("frequency_cycles_per_pixel"),
        nx_p: p("nx"),
        ny_p: p("ny"),
        filter_hoyer: mean_of(|m| m.hoyer),
        filter_kurtosis: mean_of(|m| m.excess_kurtosis),
        filters: c.measures_a,
    }
}

/// Reads the bank at `path` and measures it against the dictionary.
pub fn bank_file(path: &Path, reference: &Reference) -> Result<BankMeasures> {
    let a = npy::read(path)?;
    let bank = Bank::from_shape(&a.data, &a.shape, path)?;
    Ok(against_dictionary(&bank, reference))
}

/// The numbers of one logged conv1 beyond its comparison with the input dictionary.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochExtra {
    /// Matched similarity and its null against the Kodak (whitened) dictionary.
    pub kodak_matched: f64,
    pub kodak_null: f64,
    /// Log-log correlation over radial frequency of the filters' mean power with the
    /// input's whitening spectrum (1 / input power), and with the input power itself.
    pub energy_vs_whitening: f64,
    pub energy_vs_input: f64,
    /// Mean orientation selectivity of the filters in whitened coordinates (C^(1/2) w).
    pub selectivity_whitened: f64,
    /// The same for the filters as they are.
    pub selectivity_raw: f64,
    pub zeros: ZeroSplit,
}

/// What measuring a run needs besides the run: the two dictionaries, the input's
/// statistics, and the test images for the zero split.
pub struct Measuring<'a> {
    pub input: &'a Reference<'a>,
    pub kodak: &'a Reference<'a>,
    pub stats: &'a InputStatistics,
}

/// The luminance plane of each filter of a (filters, channels, k, k) bank.
fn luminance(bank: &[f32], channels: usize, k: usize) -> Vec<Vec<f32>> {
    bank.chunks_exact(channels * k * k)
        .map(|f| {
            (0..k * k)
                .map(|i| (0..channels).map(|c| f[c * k * k + i]).sum::<f32>() / channels as f32)
                .collect()
        })
        .collect()
}

/// Energy profile and orientation selectivity of one bank.
fn spectral(bank: &[f32], shape: &[usize], stats: &InputStatistics) -> (f64, f64, f64, f64) {
    let (channels, k) = (shape[1], shape[3]);
    let planes = luminance(bank, channels, k);
    let mut power = vec![0.0; stats.radii.len()];
    for p in &planes {
        let row = radial_power(p, k, &stats.radii);
        power.iter_mut().zip(&row).for_each(|(a, b)| *a += b);
    }
    let mean = |v: Vec<f64>| {
        let f: Vec<f64> = v.into_iter().filter(|x| x.is_finite()).collect();
        f.iter().sum::<f64>() / f.len().max(1) as f64
    };
    let whitened = mean(
        planes
            .iter()
            .map(|p| orientation_selectivity(&stats.to_whitened(p), k))
            .collect(),
    );
    let raw = mean(
        planes
            .iter()
            .map(|p| orientation_selectivity(p, k))
            .collect(),
    );
    (
        log_correlation(&power, &stats.whitening()),
        log_correlation(&power, &stats.power),
        whitened,
        raw,
    )
}

/// Every logged epoch's first layer of `run` against the input dictionary, with the run's
/// metrics and the extra numbers of [`EpochExtra`].
pub fn measure_run(
    out: &Path,
    c: &ValidStudyParams,
    run: &Run,
    m: &Measuring,
    images: &mut Images,
) -> Result<RunRecord> {
    let dir = run.dir(out);
    let (ck, _) = Checkpoint::read(&dir)?;
    let data = images.for_run(c, run)?;
    let inputs = NetworkInputs::new(&data.test, &ck.standardiser, ck.input_whitening.as_ref());
    let mut banks = Vec::new();
    let mut extra = Vec::new();
    for epoch in 0..=ck.epochs_done {
        let path = epoch_bank(&dir, epoch);
        let a = npy::read(&path)?;
        let bank = Bank::from_shape(&a.data, &a.shape, &path)?;
        banks.push(against_dictionary(&bank, m.input));
        let kodak = against_dictionary(&bank, m.kodak);
        let (energy_vs_whitening, energy_vs_input, selectivity_whitened, selectivity_raw) =
            spectral(&a.data, &a.shape, m.stats);
        let bias_path = epoch_bias(&dir, epoch);
        let zeros = if bias_path.exists() {
            let bias = npy::read(&bias_path)?.data;
            zeros::split(
                &ck.spec,
                &a.data,
                &bias,
                &inputs,
                c.activation_sample,
                c.seed,
            )
        } else {
            ZeroSplit::not_split(f64::NAN)
        };
        extra.push(EpochExtra {
            kodak_matched: kodak.matched_similarity,
            kodak_null: kodak.null_mean,
            energy_vs_whitening,
            energy_vs_input,
            selectivity_whitened,
            selectivity_raw,
            zeros,
        });
    }
    Ok(RunRecord {
        run: run.clone(),
        metrics: ck.metrics,
        banks,
        extra,
        diverged: false,
    })
}

/// The network of `run` as trained (its checkpoint) and as initialised (rebuilt from the
/// same settings and seed: the epoch-0 network, the null of the deeper-layer measures).
pub fn trained_and_initial(
    out: &Path,
    c: &ValidStudyParams,
    run: &Run,
) -> Result<(Network, Network)> {
    let (_, trained) = Checkpoint::read(&run.dir(out))?;
    let params = plan::train_params(c, run, out).check()?;
    let initial = build_network(&params, trained.shapes[0], trained.spec.outputs())?;
    Ok((trained, initial))
}

/// Preferred inputs of the second convolution's units in `net` (of run `name`): written
/// as a montage at `png`, and measured like filters (through their luminance).
pub fn conv2(net: &Network, name: String, c: &ValidStudyParams, png: &Path) -> Result<Conv2Record> {
    let ascent = AscentParams {
        steps: c.ascent_steps,
        seed: c.seed,
        ..AscentParams::default()
    }
    .check()?;
    let conv2 = ConvLayer::new(2).expect("2 >= 1");
    let p = preferred_inputs_of(net, conv2, &ascent)?;
    let shape = [p.units, p.channels, p.side, p.side];
    let bank = Bank::from_shape(&p.data, &shape, png)?;
    montage::write_png(
        &montage::render(&bank, &MontageOptions::default()),
        png,
        true,
    )?;
    let measures = measure_bank(
        &planes(&bank, ColourMode::Luminance),
        &MeasureOptions {
            seed: c.seed,
            ..Default::default()
        },
        &Silent,
    );
    Ok(Conv2Record {
        run: name,
        responses: p.responses,
        measures,
    })
}

/// Grating tuning of conv1 and conv2 of `net`.
pub fn tunings(net: &Network, run: &str, network: &'static str) -> Result<Vec<TuningRecord>> {
    let mut out = Vec::new();
    for (n, layer) in [(1, "conv1"), (2, "conv2")] {
        let index = ConvLayer::new(n).expect("n >= 1").index_in(net)?;
        out.push(TuningRecord {
            run: run.to_string(),
            network,
            layer,
            units: tuning::tuning(net, index),
        });
    }
    Ok(out)
}

/// Test images searched for each unit's top patches: the first ones of the run's test set.
/// Enough that a unit's nine strongest images are rare ones (the top 0.45%), few enough
/// that both layers of both networks cost seconds.
pub const TOP_PATCH_IMAGES: usize = 2000;

/// The [`TOP`] test-image patches that most excite each unit of conv1 and conv2 of `net`
/// (the trained or the initial network of `run`, named by `network`), among the first
/// [`TOP_PATCH_IMAGES`] test images as the run's network sees them (its standardisation and
/// input whitening); with `pngs`, each layer's montage is written there (conv1, conv2).
pub fn top9(
    out: &Path,
    c: &ValidStudyParams,
    run: &Run,
    images: &mut Images,
    net: &Network,
    network: &'static str,
    pngs: Option<[&Path; 2]>,
) -> Result<Vec<TopPatchRecord>> {
    let (ck, _) = Checkpoint::read(&run.dir(out))?;
    let data = images.for_run(c, run)?;
    let inputs = NetworkInputs::new(&data.test, &ck.standardiser, ck.input_whitening.as_ref());
    let mut records = Vec::new();
    for (n, layer) in [(1, "conv1"), (2, "conv2")] {
        let conv = ConvLayer::new(n).expect("n >= 1");
        let patches = top_patches::top_patches(net, conv, &inputs, TOP_PATCH_IMAGES, TOP)?;
        if let Some(pngs) = pngs {
            montage::write_png(&patches.montage(), pngs[n - 1], true)?;
        }
        let (h, w) = (data.test.height, data.test.width);
        let coherence = patches.coherence(h, w);
        // Each run's null from its own seed, so the seeds' spread covers the draw.
        let random_coherence = patches
            .random_like(&data.test, c.seed ^ run.seed)
            .coherence(h, w);
        records.push(TopPatchRecord {
            run: run.name(),
            network,
            layer,
            patches,
            coherence,
            random_coherence,
        });
    }
    Ok(records)
}
