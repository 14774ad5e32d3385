//! Stage 7 of a study: the three losses compared fairly. The study's own loss variants run
//! at the baseline's learning rate with He-scaled logits, a setting tuned for softmax
//! cross-entropy; a loss that does badly there may only have been run at the wrong rate.
//! Here each loss (softmax cross-entropy, sigmoid cross-entropy, squared error) gets the
//! same treatment, as a user tuning it would give it:
//!
//! 1. the classifier layer starts at zero, so every loss starts from the same uniform
//!    prediction instead of large random logits;
//! 2. the learning rate is swept over [`LR_SCALES`] x the study's rate (the first seed), each
//!    run evaluated on a validation split held out of the training images (a quarter of the
//!    training set's size), never on the test set;
//! 3. the rate with the best final validation accuracy is then trained on the study's usual
//!    training images with every seed, and evaluated on the test set, with conv1 measured
//!    against both dictionaries as the study measures every run.
//!
//! A run whose loss stopped being finite is "diverged"; one that ends within
//! [`COLLAPSE_MARGIN`] of chance (a constant predictor scores chance) is "collapsed". Both
//! are reported and neither is chosen nor averaged. The runs live under `losses/`; each is
//! an ordinary `cnn train` folder and resumes like the study's other runs.

use super::layout;
use super::measure::{Measuring, against_dictionary};
use super::params::ValidStudyParams;
use super::plan::{self, Run};
use super::training::{Images, diverged_in, train_into};
use crate::cnn::checkpoint::Checkpoint;
use crate::cnn::log::epoch_bank;
use crate::cnn::loss::Loss;
use crate::cnn::params::Choice;
use crate::error::Result;
use crate::io::npy;
use crate::io::table::Table;
use crate::observer::Progress;
use crate::study::cell;
use crate::viz::montage::Bank;
use crate::viz::plots::{Labels, Series, series_plot};
use std::path::{Path, PathBuf};

/// The losses compared, in table order.
pub const LOSSES: [Loss; 3] = [
    Loss::SoftmaxCrossEntropy,
    Loss::SigmoidCrossEntropy,
    Loss::SquaredError,
];

/// The swept learning rates as multiples of the study's `lr`: 1.5 decades around it, wide
/// enough that the squared error's best rate (its gradient scale differs from the
/// cross-entropies') need not sit at the grid's edge.
pub const LR_SCALES: [f32; 4] = [0.3, 1.0, 3.0, 10.0];

/// A final accuracy below chance plus this is a collapse: 5 points, against a validation
/// standard error of under 1 point at the full study's 5,000 validation images.
pub const COLLAPSE_MARGIN: f64 = 0.05;

/// The columns of `losses_summary.csv`; the report shows all but the rate lists.
pub const SUMMARY_HEADER: [&str; 15] = [
    "loss",
    "rates_tried",
    "rates_failed",
    "chosen_lr",
    "chosen_at_grid_edge",
    "validation_accuracy",
    "seeds",
    "failed_seeds",
    "test_accuracy_mean",
    "test_accuracy_sd",
    "input_matched_minus_null_mean",
    "input_matched_minus_null_sd",
    "kodak_matched_minus_null_mean",
    "gabor_r2_ge_0.7_mean",
    "activation_zero_fraction_mean",
];

/// Which set a run is evaluated on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The learning-rate sweep: a validation split of the training images.
    Validation,
    /// The chosen rate, on the study's training images, scored on the test set.
    Test,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Validation => "validation",
            Phase::Test => "test",
        }
    }
}

/// One training run of the stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossRun {
    pub loss: Loss,
    pub lr: f32,
    pub seed: u64,
    pub phase: Phase,
}

impl LossRun {
    pub fn name(&self) -> String {
        format!(
            "{}-lr{}-{}-s{}",
            self.loss.name(),
            self.lr,
            self.phase.name(),
            self.seed
        )
    }

    pub fn dir(&self, out: &Path) -> PathBuf {
        out.join(layout::LOSSES).join(self.name())
    }

    /// The plain variant's settings with this run's loss, rate and seed, the classifier
    /// at zero, and (in the sweep) `validation` images held out.
    fn params(
        &self,
        c: &ValidStudyParams,
        out: &Path,
        validation: usize,
    ) -> crate::cnn::TrainParams {
        let plain = plan::variants()[0];
        let run = Run {
            variant: plain,
            seed: self.seed,
        };
        crate::cnn::TrainParams {
            loss: self.loss,
            lr: self.lr,
            zero_init_head: true,
            validation: (self.phase == Phase::Validation).then_some(validation),
            ..plan::train_params(c, &run, out)
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Finished,
    Diverged,
    Collapsed,
    /// Not trained to the end (a report made while the study still trains).
    Unfinished,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Finished => "finished",
            Status::Diverged => "diverged",
            Status::Collapsed => "collapsed",
            Status::Unfinished => "unfinished",
        }
    }
}

/// The last epoch's first layer against the two dictionaries, and its activation sparsity.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv1Numbers {
    /// Matched similarity minus its null mean, against the input dictionary.
    pub input_matched_minus_null: f64,
    /// The same against the Kodak (whitened) dictionary.
    pub kodak_matched_minus_null: f64,
    pub gabor_r2_good_fraction: f64,
    pub energy80_median: f64,
    pub filter_hoyer: f64,
    /// Fraction of conv1's ReLU outputs that are zero on the activation sample.
    pub activation_zero_fraction: f64,
}

/// One run's outcome, a row of `losses.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct LossRecord {
    pub run: LossRun,
    pub status: Status,
    pub epochs: usize,
    pub train_accuracy: f64,
    /// On the validation split (sweep) or the test set (final runs).
    pub accuracy: f64,
    /// Final runs that finished only.
    pub conv1: Option<Conv1Numbers>,
}

/// What the stage found, for the report.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LossesOutcome {
    pub records: Vec<LossRecord>,
    /// Validation images held out in the sweep.
    pub validation_images: usize,
    pub chance: f64,
}

impl LossesOutcome {
    /// The rate chosen for `loss`: the best final validation accuracy among the sweep's
    /// finished runs (the smaller rate on a tie), if any finished.
    pub fn chosen(&self, loss: Loss) -> Option<&LossRecord> {
        chosen(&self.records, loss)
    }
}

fn chosen(records: &[LossRecord], loss: Loss) -> Option<&LossRecord> {
    records
        .iter()
        .filter(|r| r.run.loss == loss && r.run.phase == Phase::Validation)
        .filter(|r| r.status == Status::Finished)
        .fold(None, |best: Option<&LossRecord>, r| match best {
            Some(b) if b.accuracy >= r.accuracy => Some(b),
            _ => Some(r),
        })
}

/// `x` rounded to six significant digits, so that 0.3 x 0.01 is the rate 0.003 (in run
/// names and tables) and not its nearest f32 product 0.0030000001.
fn decimal(x: f32) -> f32 {
    format!("{x:.5e}").parse().unwrap_or(x)
}

/// The swept learning rates for a study rate `lr`, in increasing order.
pub fn sweep_rates(lr: f32) -> Vec<f32> {
    LR_SCALES.iter().map(|&k| decimal(k * lr)).collect()
}

/// Trains what is missing (unless `report_only`), measures every run, and writes
/// `losses.csv`, `losses_summary.csv` and `losses.png` into `out`.
pub fn run(
    out: &Path,
    c: &ValidStudyParams,
    images: &mut Images,
    measuring: &Measuring,
    report_only: bool,
    progress: &dyn Progress,
) -> Result<LossesOutcome> {
    let seeds = c.replicate_seeds();
    let plain = Run {
        variant: plan::variants()[0],
        seed: seeds[0],
    };
    let (train_images, classes) = {
        let data = images.for_run(c, &plain)?;
        (data.train.len(), data.train.class_names.len())
    };
    let validation = (train_images / 4).max(1);
    let chance = 1.0 / classes.max(1) as f64;
    let mut records = Vec::new();
    for loss in LOSSES {
        for lr in sweep_rates(c.lr) {
            let run = LossRun {
                loss,
                lr,
                seed: seeds[0],
                phase: Phase::Validation,
            };
            records.push(one_run(
                out,
                c,
                run,
                validation,
                chance,
                None,
                images,
                report_only,
                progress,
            )?);
        }
        let Some(best) = chosen(&records, loss).map(|r| r.run.lr) else {
            continue;
        };
        for &seed in &seeds {
            let run = LossRun {
                loss,
                lr: best,
                seed,
                phase: Phase::Test,
            };
            records.push(one_run(
                out,
                c,
                run,
                validation,
                chance,
                Some(measuring),
                images,
                report_only,
                progress,
            )?);
        }
    }
    let outcome = LossesOutcome {
        records,
        validation_images: validation,
        chance,
    };
    write_tables(out, &outcome)?;
    figure(out, &outcome, c.lr)?;
    Ok(outcome)
}

/// Trains (unless `report_only`) and reads back one run; `measuring` is given for the
/// final runs, whose first layer is measured.
#[allow(clippy::too_many_arguments)]
fn one_run(
    out: &Path,
    c: &ValidStudyParams,
    run: LossRun,
    validation: usize,
    chance: f64,
    measuring: Option<&Measuring>,
    images: &mut Images,
    report_only: bool,
    progress: &dyn Progress,
) -> Result<LossRecord> {
    super::run::stop_if_asked(out)?;
    let dir = run.dir(out);
    if !report_only {
        train_into(
            &dir,
            &run.name(),
            run.params(c, out, validation),
            images,
            progress,
        )
        .map_err(|e| match e {
            crate::error::Error::Interrupted { .. } => super::run::interrupted(out),
            e => e,
        })?;
    }
    let Ok((ck, _)) = Checkpoint::read(&dir) else {
        return Ok(LossRecord {
            run,
            status: Status::Unfinished,
            epochs: 0,
            train_accuracy: f64::NAN,
            accuracy: f64::NAN,
            conv1: None,
        });
    };
    let last = ck.metrics.last().expect("a checkpoint logs epoch 0");
    let status = if diverged_in(&dir) {
        Status::Diverged
    } else if ck.epochs_done < c.epochs {
        Status::Unfinished
    } else if last.test_accuracy < chance + COLLAPSE_MARGIN {
        Status::Collapsed
    } else {
        Status::Finished
    };
    let conv1 = match measuring {
        Some(m) if status == Status::Finished => {
            let path = epoch_bank(&dir, ck.epochs_done);
            let a = npy::read(&path)?;
            let bank = Bank::from_shape(&a.data, &a.shape, &path)?;
            let input = against_dictionary(&bank, m.input);
            let kodak = against_dictionary(&bank, m.kodak);
            Some(Conv1Numbers {
                input_matched_minus_null: input.matched_similarity - input.null_mean,
                kodak_matched_minus_null: kodak.matched_similarity - kodak.null_mean,
                gabor_r2_good_fraction: input.r2_good_fraction,
                energy80_median: input.energy80_median,
                filter_hoyer: input.filter_hoyer,
                activation_zero_fraction: last.conv1_zero_fraction,
            })
        }
        _ => None,
    };
    Ok(LossRecord {
        run,
        status,
        epochs: ck.epochs_done,
        train_accuracy: last.train_accuracy,
        accuracy: last.test_accuracy,
        conv1,
    })
}

/// Mean and sample standard deviation (NaN for fewer than two values).
fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = v.iter().sum::<f64>() / n;
    let sd = if v.len() < 2 {
        f64::NAN
    } else {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    };
    (mean, sd)
}

fn write_tables(out: &Path, o: &LossesOutcome) -> Result<()> {
    let conv1_cell =
        |r: &LossRecord, f: fn(&Conv1Numbers) -> f64| cell(r.conv1.as_ref().map_or(f64::NAN, f));
    let mut t = Table::new(&[
        "loss",
        "lr",
        "phase",
        "seed",
        "status",
        "epochs",
        "train_accuracy",
        "accuracy",
        "input_matched_minus_null",
        "kodak_matched_minus_null",
        "gabor_r2_ge_0.7",
        "energy80_area_median",
        "filter_hoyer",
        "activation_zero_fraction",
        "run",
    ]);
    for r in &o.records {
        t.push(vec![
            r.run.loss.name().into(),
            r.run.lr.to_string(),
            r.run.phase.name().into(),
            r.run.seed.to_string(),
            r.status.name().into(),
            r.epochs.to_string(),
            cell(r.train_accuracy),
            cell(r.accuracy),
            conv1_cell(r, |c| c.input_matched_minus_null),
            conv1_cell(r, |c| c.kodak_matched_minus_null),
            conv1_cell(r, |c| c.gabor_r2_good_fraction),
            conv1_cell(r, |c| c.energy80_median),
            conv1_cell(r, |c| c.filter_hoyer),
            conv1_cell(r, |c| c.activation_zero_fraction),
            format!("{}/{}", layout::LOSSES, r.run.name()),
        ]);
    }
    t.write(&out.join(layout::LOSSES_CSV), true)?;

    let mut s = Table::new(&SUMMARY_HEADER);
    for loss in LOSSES {
        let sweep: Vec<&LossRecord> = o
            .records
            .iter()
            .filter(|r| r.run.loss == loss && r.run.phase == Phase::Validation)
            .collect();
        let failed = |r: &&&LossRecord| matches!(r.status, Status::Diverged | Status::Collapsed);
        let finals: Vec<&LossRecord> = o
            .records
            .iter()
            .filter(|r| r.run.loss == loss && r.run.phase == Phase::Test)
            .collect();
        let good: Vec<&LossRecord> = finals
            .iter()
            .copied()
            .filter(|r| r.status == Status::Finished)
            .collect();
        let stat =
            |f: fn(&LossRecord) -> f64| mean_sd(&good.iter().map(|r| f(r)).collect::<Vec<_>>());
        // Only finished final runs are measured, so every run in `good` has its numbers.
        let conv1 = |f: fn(&Conv1Numbers) -> f64| {
            mean_sd(
                &good
                    .iter()
                    .filter_map(|r| r.conv1.as_ref().map(f))
                    .collect::<Vec<_>>(),
            )
        };
        let choice = o.chosen(loss);
        let lrs: Vec<f32> = sweep.iter().map(|r| r.run.lr).collect();
        let at_edge =
            choice.map(|ch| lrs.first() == Some(&ch.run.lr) || lrs.last() == Some(&ch.run.lr));
        let (acc, acc_sd) = stat(|r| r.accuracy);
        let (mmn, mmn_sd) = conv1(|c| c.input_matched_minus_null);
        s.push(vec![
            loss.name().into(),
            lrs.iter().map(f32::to_string).collect::<Vec<_>>().join(";"),
            sweep
                .iter()
                .filter(failed)
                .map(|r| format!("{} ({})", r.run.lr, r.status.name()))
                .collect::<Vec<_>>()
                .join(";"),
            choice.map_or("none".into(), |r| r.run.lr.to_string()),
            at_edge.map_or("-".into(), |e| e.to_string()),
            cell(choice.map_or(f64::NAN, |r| r.accuracy)),
            good.len().to_string(),
            finals
                .iter()
                .filter(failed)
                .map(|r| format!("s{} ({})", r.run.seed, r.status.name()))
                .collect::<Vec<_>>()
                .join(";"),
            cell(acc),
            cell(acc_sd),
            cell(mmn),
            cell(mmn_sd),
            cell(conv1(|c| c.kodak_matched_minus_null).0),
            cell(conv1(|c| c.gabor_r2_good_fraction).0),
            cell(conv1(|c| c.activation_zero_fraction).0),
        ]);
    }
    s.write(&out.join(layout::LOSSES_SUMMARY), true)
}

/// Validation accuracy against the learning rate, one curve per loss, with chance as a
/// dashed line; a run that diverged or collapsed is drawn at chance level.
fn figure(out: &Path, o: &LossesOutcome, lr: f32) -> Result<()> {
    let curves: Vec<(String, Vec<(f64, f64)>)> = LOSSES
        .iter()
        .map(|&loss| {
            let points = o
                .records
                .iter()
                .filter(|r| r.run.loss == loss && r.run.phase == Phase::Validation)
                .map(|r| {
                    let y = match r.status {
                        Status::Finished => r.accuracy,
                        Status::Diverged | Status::Collapsed => o.chance,
                        Status::Unfinished => f64::NAN,
                    };
                    ((r.run.lr as f64).log10(), y)
                })
                .collect();
            (loss.name().to_string(), points)
        })
        .collect();
    let xs: Vec<f64> = sweep_rates(lr)
        .iter()
        .map(|&r| (r as f64).log10())
        .collect();
    let (x0, x1) = (xs[0] - 0.15, xs[xs.len() - 1] + 0.15);
    let mut series: Vec<Series> = curves
        .iter()
        .map(|(label, points)| Series {
            label,
            points: points.clone(),
            joined: true,
            dashed: false,
        })
        .collect();
    series.push(Series {
        label: "chance (diverged or collapsed runs drawn here)",
        points: vec![(x0, o.chance), (x1, o.chance)],
        joined: true,
        dashed: true,
    });
    let ys = curves.iter().flat_map(|(_, p)| p.iter().map(|q| q.1));
    let hi = ys.filter(|y| y.is_finite()).fold(o.chance, f64::max);
    let title = format!(
        "Learning-rate sweep per loss ({} validation images, classifier at zero)",
        o.validation_images
    );
    let img = series_plot(
        &series,
        (x0, x1),
        (0.0, (hi + 0.05).min(1.0)),
        &Labels {
            title: &title,
            x: "log10 learning rate",
            y: "final validation accuracy",
            empty: "no sweep run has finished: nothing to plot",
        },
    )?;
    crate::viz::montage::write_png(&img, &out.join(layout::LOSSES_PNG), true)
}
