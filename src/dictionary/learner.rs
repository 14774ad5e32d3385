//! The learner: one run's state and its step. Each step takes a minibatch from a
//! [`PatchSource`] in a seeded order, sparse-codes it, re-seeds dead atoms and updates the
//! dictionary; every `validate_every` steps a history row records an exactly coded held-out
//! objective. Driving the steps to the end, with checkpoints and montages, is
//! [`super::run`]'s job.
//!
//! Every step is a pure function of the learner's state (dictionary, rule statistics, step
//! count, per-atom last use) and the seed: the data order comes from [`Schedule`], the coder
//! starts each batch from zero codes, and nothing else is random. So a run restored from a
//! [`super::checkpoint`] continues bit-identically. The coders and the update cut their work
//! into pieces that do not depend on the thread count, so the number of threads changes the
//! speed, not the bytes (tests/learn_resume.rs checks one against two).
//!
//! Under MPI ([`crate::distributed`]) the ranks share each batch's coding block by block
//! ([`crate::coding::shared`]) and all receive the whole result, so every rank holds the
//! same state and runs the same update: the rank count, too, changes only the speed.

use super::data::Schedule;
use super::init::initial_dictionary;
use super::mod_rule::Mod;
use super::olshausen::OlshausenField;
use super::online::{OnlineBcd, SplitPolicy};
use super::params::{LearnParams, StopRule};
use super::{DictionaryUpdate, UpdateKind, normalize_columns};
use crate::coding::shared::{Share, encode_shared};
use crate::coding::{Coder, CodingParams, CodingReport, PreparedDictionary, SparseCoder};
use crate::distributed::Collective;
use crate::error::{Error, Result};
use crate::linalg::gemm_nn;
use crate::params::Valid;
use crate::patches::PatchSource;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Builds the update rule the parameters name, for the process's world: under MPI the
/// online rule's ranks may split its statistics pass (README, "MPI").
pub fn rule_for(config: &LearnParams, pixels: usize) -> Result<Box<dyn DictionaryUpdate>> {
    Ok(match config.update {
        UpdateKind::Online => Box::new(OnlineBcd::shared(
            pixels,
            config.atoms,
            crate::distributed::world(),
            SplitPolicy::from_env()?,
        )),
        UpdateKind::Of => Box::new(OlshausenField::new(pixels, config.atoms, config.of)),
        UpdateKind::Mod => Box::new(Mod::new(pixels, config.atoms)),
    })
}

/// One line of `history.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    pub step: u64,
    pub seconds: f64,
    pub patches_seen: u64,
    /// Mean training-batch objective over the steps since the previous row (NaN at step 0).
    #[serde(deserialize_with = "null_as_nan")]
    pub train_objective: f64,
    /// Held-out objective with exact codes (None without a validation split).
    pub validation_objective: Option<f64>,
    /// Mean fraction of nonzero training codes since the previous row (NaN at step 0).
    #[serde(deserialize_with = "null_as_nan")]
    pub nonzero_fraction: f64,
    pub atoms_reseeded: u64,
    /// ||D - D_prev||_F / ||D_prev||_F against the previous row's dictionary.
    pub relative_dictionary_change: f64,
}

/// serde_json writes NaN as null; read it back as NaN.
fn null_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Running sums between history rows, and the timings of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    pub steps: u64,
    pub objective_sum: f64,
    pub nonzero_sum: f64,
    pub reseeded: u64,
    pub reseeded_total: u64,
    pub seconds: f64,
    pub coding_seconds: f64,
    pub update_seconds: f64,
    pub validation_seconds: f64,
}

/// The part of the learner's state that is not an array; checkpoints store it as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    pub step: u64,
    pub last_used: Vec<u64>,
    pub history: Vec<HistoryRow>,
    pub tally: Tally,
}

/// A learning run in progress.
pub struct Learner {
    /// Resolved against the source (see [`Valid::resolve`]).
    config: LearnParams,
    source: PatchSource,
    schedule: Schedule,
    coder: Box<dyn SparseCoder>,
    train_params: Valid<CodingParams>,
    exact_coder: Box<dyn SparseCoder>,
    exact_params: Valid<CodingParams>,
    rule: Box<dyn DictionaryUpdate>,
    d: DMatrix<f32>,
    state: LoopState,
    /// The dictionary at the previous history row.
    d_at_row: DMatrix<f32>,
    val_x: DMatrix<f32>,
    val_codes: DMatrix<f32>,
    indices: Vec<u32>,
    x: DMatrix<f32>,
    codes: DMatrix<f32>,
    residual: DMatrix<f32>,
    residual_order: Vec<(f32, usize)>,
    reseeded_now: Vec<usize>,
    last_report: CodingReport,
    /// Top eigenvector of the last Gram matrix (warm start of the power iteration).
    top_vector: nalgebra::DVector<f32>,
    /// The ranks that share the coding: the process's world ([`Solo`] outside MPI).
    ///
    /// [`Solo`]: crate::distributed::Solo
    comm: &'static dyn Collective,
}

impl Learner {
    /// Starts a run on `source` with checked parameters.
    pub fn new(params: &Valid<LearnParams>, source: PatchSource) -> Result<Self> {
        let config = params.resolve(source.len())?;
        let schedule = Schedule::new(
            source.len(),
            config.validation_len(),
            config.seed,
            config.shuffle,
        );
        let d = initial_dictionary(
            &config.init,
            &source,
            schedule.train_indices(),
            config.atoms,
            config.seed,
        )?;
        let state = LoopState {
            step: 0,
            last_used: vec![0; config.atoms],
            history: Vec::new(),
            tally: Tally::default(),
        };
        Self::assemble(config, source, schedule, d, state, None, None)
    }

    /// Restores a run from its parts (see [`super::checkpoint`]).
    pub(crate) fn assemble(
        config: LearnParams,
        source: PatchSource,
        schedule: Schedule,
        d: DMatrix<f32>,
        state: LoopState,
        rule_state: Option<&[f32]>,
        extra: Option<(DMatrix<f32>, DMatrix<f32>)>,
    ) -> Result<Self> {
        let p = source.pixels();
        let k = config.atoms;
        let mut rule = rule_for(&config, p)?;
        if let Some(s) = rule_state {
            rule.restore(s)?;
        }
        let v = schedule.validation.len();
        let mut val_x = DMatrix::zeros(p, v);
        source.gather(&schedule.validation, &mut val_x);
        let (d_at_row, val_codes) = extra.unwrap_or_else(|| (d.clone(), DMatrix::zeros(k, v)));
        let b = config.batch;
        Ok(Self {
            coder: config.coder.build(),
            train_params: config.train_coding()?,
            exact_coder: Coder::Cd.build(),
            exact_params: config.exact_coding()?,
            rule,
            schedule,
            d_at_row,
            val_x,
            val_codes,
            indices: vec![0; b],
            x: DMatrix::zeros(p, b),
            codes: DMatrix::zeros(k, b),
            residual: DMatrix::zeros(p, b),
            residual_order: Vec::with_capacity(b),
            reseeded_now: Vec::with_capacity(k),
            last_report: CodingReport::default(),
            top_vector: nalgebra::DVector::from_fn(k, |i, _| 1.0 + (i as f32 * 0.618).fract()),
            comm: crate::distributed::world(),
            d,
            state,
            source,
            config,
        })
    }

    /// The run's parameters, resolved against its patch set.
    pub fn config(&self) -> &LearnParams {
        &self.config
    }

    /// The dictionary as the rule holds it (pixels x atoms).
    pub fn dictionary(&self) -> &DMatrix<f32> {
        &self.d
    }

    /// The dictionary with unit-norm atoms, as it is written to disk.
    pub fn unit_dictionary(&self) -> DMatrix<f32> {
        let mut d = self.d.clone();
        if !self.rule.keeps_unit_norm() {
            normalize_columns(&mut d);
        }
        d
    }

    pub fn rule(&self) -> &dyn DictionaryUpdate {
        self.rule.as_ref()
    }

    pub fn state(&self) -> &LoopState {
        &self.state
    }

    pub fn step_count(&self) -> u64 {
        self.state.step
    }

    pub fn patches_seen(&self) -> u64 {
        self.state.step * self.config.batch as u64
    }

    pub fn history(&self) -> &[HistoryRow] {
        &self.state.history
    }

    pub fn source(&self) -> &PatchSource {
        &self.source
    }

    /// Codes of the last training batch (atoms x batch), after re-seeding.
    pub fn last_codes(&self) -> &DMatrix<f32> {
        &self.codes
    }

    /// Atoms re-seeded during the last step.
    pub fn last_reseeded(&self) -> &[usize] {
        &self.reseeded_now
    }

    pub fn last_report(&self) -> &CodingReport {
        &self.last_report
    }

    pub(crate) fn arrays(&self) -> (&DMatrix<f32>, &DMatrix<f32>, &DMatrix<f32>) {
        (&self.d, &self.d_at_row, &self.val_codes)
    }

    pub fn train_patches(&self) -> usize {
        self.schedule.train_len()
    }

    /// Steps this run will take, if the stop rule fixes them.
    pub fn total_steps(&self) -> Option<u64> {
        self.config.total_steps(self.schedule.train_len())
    }

    /// True when the stop rule is met.
    pub fn finished(&self) -> bool {
        match self.config.stop {
            StopRule::Seconds(s) => self.state.tally.seconds >= s,
            _ => self.state.step >= self.total_steps().unwrap_or(0),
        }
    }

    /// Replaces the stop rule (a resumed run may be extended).
    pub fn set_stop(&mut self, stop: StopRule) -> Result<()> {
        let config = LearnParams {
            stop,
            ..self.config.clone()
        };
        self.config = config.check()?.resolve(self.source.len())?;
        Ok(())
    }

    /// Wall-clock seconds spent so far, over all sessions.
    pub fn seconds(&self) -> f64 {
        self.state.tally.seconds
    }

    /// One minibatch: code it, re-seed dead atoms, update the dictionary.
    pub fn step(&mut self) -> Result<()> {
        let started = Instant::now();
        let b = self.config.batch;
        self.schedule
            .batch(self.state.step * b as u64, &mut self.indices);
        self.source.gather(&self.indices, &mut self.x);
        self.codes.as_mut_slice().fill(0.0);
        let prepared = self.prepare();
        let report = self.encode_batch(&prepared)?;
        if !report.objective.is_finite() {
            return Err(Error::failed(
                format!("step {}", self.state.step),
                "the coding objective is not finite (lambda or data out of range?)",
            ));
        }
        let coded = Instant::now();

        let step = self.state.step;
        // Column by column over the raw slice (memory order), with a select instead of a
        // branch so the loop vectorises: nalgebra's element iterators kept it scalar, 3% of an
        // epoch on one thread.
        let k = self.codes.nrows();
        for col in self.codes.as_slice().chunks_exact(k.max(1)) {
            for (last, &v) in self.state.last_used.iter_mut().zip(col) {
                *last = if v != 0.0 { step } else { *last };
            }
        }
        self.reseed_dead_atoms();
        self.rule.update(&mut self.d, &self.x, &self.codes);
        let updated = Instant::now();

        let tally = &mut self.state.tally;
        tally.steps += 1;
        tally.objective_sum += report.objective;
        tally.nonzero_sum += report.nonzero_fraction;
        tally.reseeded += self.reseeded_now.len() as u64;
        tally.reseeded_total += self.reseeded_now.len() as u64;
        tally.coding_seconds += (coded - started).as_secs_f64();
        tally.update_seconds += (updated - coded).as_secs_f64();
        tally.seconds += (updated - started).as_secs_f64();
        self.last_report = report;
        self.state.step += 1;
        Ok(())
    }

    /// Codes the training batch, shared among the ranks (every rank gets every code).
    fn encode_batch(&mut self, prepared: &PreparedDictionary) -> Result<CodingReport> {
        Ok(encode_shared(
            self.coder.as_ref(),
            prepared,
            &self.x,
            &mut self.codes,
            &self.train_params,
            self.comm,
            Share::All,
        )?
        .expect("Share::All returns a report on every rank"))
    }

    /// The ranks this learner shares its work with.
    pub fn collective(&self) -> &'static dyn Collective {
        self.comm
    }

    /// Fails on every rank unless every rank holds the same dictionary and step: the check
    /// that the replicated updates stayed replicated (a different build, CPU or library on
    /// one node could break it).
    pub fn check_replicas(&self) -> Result<()> {
        let mut digest = crate::distributed::hash_f32(self.d.as_slice());
        digest.extend_from_slice(&self.state.step.to_le_bytes());
        crate::distributed::check_same(
            self.comm,
            &format!("dictionary at step {}", self.state.step),
            &digest,
            "",
            "the ranks' updates diverged; run every rank with the same simplecell binary on \
             the same kind of CPU",
        )
    }

    /// The coder's view of the current dictionary, with the largest eigenvalue of the Gram
    /// matrix by a power iteration warm-started from the previous step's top eigenvector (the
    /// dictionary moves little between steps, so a few iterations suffice), with the same 1%
    /// margin as [`PreparedDictionary::new`].
    fn prepare(&mut self) -> PreparedDictionary {
        let v = &mut self.top_vector;
        PreparedDictionary::with_lipschitz(self.d.clone(), |gram| {
            crate::linalg::power::largest_eigenvalue(gram, v, 100, 1e-5) * 1.01 + 1e-6
        })
    }

    /// Re-seeds every atom unused for `dead_after` patches with the residual of one of the
    /// batch's worst-represented patches (a different patch for each atom), zeroes its codes
    /// in this batch and makes the rule forget it.
    fn reseed_dead_atoms(&mut self) {
        self.reseeded_now.clear();
        let step = self.state.step;
        let window = self.config.dead_after;
        let b = self.config.batch as u64;
        for (j, &last) in self.state.last_used.iter().enumerate() {
            if (step - last) * b >= window {
                self.reseeded_now.push(j);
            }
        }
        if self.reseeded_now.is_empty() {
            return;
        }
        self.residual.copy_from(&self.x);
        gemm_nn(-1.0, &self.d, &self.codes, 1.0, &mut self.residual);
        self.residual_order.clear();
        for (i, col) in self.residual.column_iter().enumerate() {
            self.residual_order.push((col.norm_squared(), i));
        }
        // Largest residual first; ties broken by position so the order is deterministic.
        self.residual_order
            .sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for (taken, &j) in self.reseeded_now.iter().enumerate() {
            let Some(&(norm2, i)) = self.residual_order.get(taken) else {
                break;
            };
            if norm2 <= 1e-20 {
                continue;
            }
            let inv = 1.0 / norm2.sqrt();
            for r in 0..self.d.nrows() {
                self.d[(r, j)] = self.residual[(r, i)] * inv;
            }
            self.codes.row_mut(j).fill(0.0);
            self.rule.reset_atom(&mut self.d, j);
            self.state.last_used[j] = step;
        }
    }

    /// Mean held-out objective with exact codes (the active-set CD coder at `exact_tol`,
    /// warm-started from the previous evaluation),
    /// on the unit-norm dictionary. None without a validation split.
    pub fn validate(&mut self) -> Result<Option<CodingReport>> {
        if self.val_x.ncols() == 0 {
            return Ok(None);
        }
        let started = Instant::now();
        let prepared = PreparedDictionary::new(self.unit_dictionary());
        let report = encode_shared(
            self.exact_coder.as_ref(),
            &prepared,
            &self.val_x,
            &mut self.val_codes,
            &self.exact_params,
            self.comm,
            Share::All,
        )?
        .expect("Share::All returns a report on every rank");
        self.state.tally.validation_seconds += started.elapsed().as_secs_f64();
        Ok(Some(report))
    }

    /// Usage of each atom: nonzero held-out codes (or, without a validation split, nonzero
    /// codes of the last batch).
    pub fn usage(&self) -> Vec<usize> {
        let codes = if self.val_codes.ncols() > 0 {
            &self.val_codes
        } else {
            &self.codes
        };
        codes
            .row_iter()
            .map(|r| r.iter().filter(|&&v| v != 0.0).count())
            .collect()
    }

    /// Closes the current history row: validates and appends a row.
    pub fn record_row(&mut self) -> Result<HistoryRow> {
        let validation = self.validate()?.map(|r| r.objective);
        let tally = &mut self.state.tally;
        let n = tally.steps.max(1) as f64;
        let prev_norm = self.d_at_row.norm();
        let change = if prev_norm > 0.0 {
            (&self.d - &self.d_at_row).norm() / prev_norm
        } else {
            0.0
        };
        let row = HistoryRow {
            step: self.state.step,
            seconds: tally.seconds + tally.validation_seconds,
            patches_seen: self.state.step * self.config.batch as u64,
            train_objective: if tally.steps > 0 {
                tally.objective_sum / n
            } else {
                f64::NAN
            },
            validation_objective: validation,
            nonzero_fraction: if tally.steps > 0 {
                tally.nonzero_sum / n
            } else {
                f64::NAN
            },
            atoms_reseeded: tally.reseeded,
            relative_dictionary_change: change as f64,
        };
        tally.steps = 0;
        tally.objective_sum = 0.0;
        tally.nonzero_sum = 0.0;
        tally.reseeded = 0;
        self.d_at_row.copy_from(&self.d);
        self.state.history.push(row.clone());
        Ok(row)
    }

    /// True when a history row is due after the current step: every `validate_every`
    /// steps and after the last step of a fixed count. (A time budget's last row is
    /// recorded by [`Self::run_with`] once the ranks agree the time is up: one rank's clock
    /// must not decide alone, since recording a row is collective under MPI.)
    pub fn row_due(&self) -> bool {
        self.state.step.is_multiple_of(self.config.validate_every)
            || (!matches!(self.config.stop, StopRule::Seconds(_)) && self.finished())
    }

    /// A short status line: objectives and sparsity.
    pub fn status(&self) -> String {
        let last = self.state.history.last();
        let val = last
            .and_then(|r| r.validation_objective)
            .map(|v| format!(" held-out {v:.5}"))
            .unwrap_or_default();
        format!(
            "objective {:.5}{val} nonzero {:.2}%",
            self.last_report.objective,
            100.0 * self.last_report.nonzero_fraction
        )
    }
}
