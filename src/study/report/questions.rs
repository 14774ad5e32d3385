//! The opening of `report.md`: the lecture's five questions, each answered in a sentence
//! or two from the seed statistics of [`super::criteria`], with its numbers and figure,
//! then the criteria table (copied from `criteria.csv`). An answer the runs do not support
//! says "not shown" and what would settle it; the wording follows the measured numbers,
//! not the hoped-for ones.

use super::StudyResults;
use super::criteria::{self, SeedStat, at, rise};
use crate::error::Result;
use crate::study::layout;
use std::fmt::Write as _;
use std::path::Path;

fn pct(s: &SeedStat) -> String {
    if s.n == 0 {
        return "not measured".into();
    }
    if s.n == 1 {
        return format!("{:.1}% (1 seed)", 100.0 * s.mean);
    }
    format!("{:.1} ± {:.1}% (n = {})", 100.0 * s.mean, 100.0 * s.sd, s.n)
}

/// Welch's t of the difference of two seed samples' means (NaN with fewer than 2 each).
fn welch(a: &SeedStat, b: &SeedStat) -> f64 {
    let se = (a.sd.powi(2) / a.n as f64 + b.sd.powi(2) / b.n as f64).sqrt();
    (a.mean - b.mean) / se
}

/// The top-9 dataset patches in one sentence: per layer, how alike a unit's nine patches
/// are in the trained network against the same network as initialised, over the finished
/// plain seeds, with the paired t of the difference.
fn top9_sentence(r: &StudyResults) -> String {
    let mean_of =
        |rec: &super::TopPatchRecord| crate::analysis::stats::summarise(&rec.coherence).mean;
    let stat = |layer: &str, network: &str| {
        let v: Vec<f64> = r
            .top9
            .iter()
            .filter(|t| t.layer == layer && t.network == network)
            .map(mean_of)
            .collect();
        SeedStat::of(&v)
    };
    // Patches at random places, the same for both networks of a run.
    let random = |layer: &str| {
        let v: Vec<f64> = r
            .top9
            .iter()
            .filter(|t| t.layer == layer && t.network == "trained")
            .map(|t| crate::analysis::stats::summarise(&t.random_coherence).mean)
            .collect();
        SeedStat::of(&v)
    };
    // Paired by run: the trained network against its own initialisation.
    let paired = |layer: &str| {
        let diffs: Vec<f64> = r
            .top9
            .iter()
            .filter(|t| t.layer == layer && t.network == "trained")
            .filter_map(|t| {
                r.top9
                    .iter()
                    .find(|i| i.layer == layer && i.network == "initial" && i.run == t.run)
                    .map(|i| mean_of(t) - mean_of(i))
            })
            .collect();
        SeedStat::of(&diffs)
    };
    let Some(first) = r.top9.first() else {
        return "The top-9 dataset patches were not computed (no finished plain run).".into();
    };
    let verdict = |layer: &str| {
        let d = paired(layer);
        match d.t() {
            t if t.is_nan() && d.n == 1 => format!(
                "{} by {:+.3} in the one seed (not settled: one seed)",
                if d.mean > 0.0 { "higher" } else { "not higher" },
                d.mean
            ),
            t if t.is_nan() => "not compared".into(),
            t if t > 2.0 => format!("higher after training (paired t = {t:.1})"),
            t => format!("not clearly higher after training (paired t = {t:.1})"),
        }
    };
    format!(
        "The {top} test images (of the first {images}) that most excite each unit, one patch \
         per image cropped to the unit's receptive field (Zeiler & Fergus; {c1}x{c1} pixels \
         for conv1, {c2}x{c2} for conv2; every unit's list in `{csv}`), say how consistent a \
         unit is on real images: the mean pairwise correlation of a unit's patches is, for \
         conv1, {} trained against {} as initialised and {} for patches at random places, \
         {}; for conv2, {} against {} and {}, {} (`{summary}`). A random filter is a template \
         too, so the initial network's value, not zero, is the null for what training adds.",
        stat("conv1", "trained").text(3),
        stat("conv1", "initial").text(3),
        random("conv1").text(3),
        verdict("conv1"),
        stat("conv2", "trained").text(3),
        stat("conv2", "initial").text(3),
        random("conv2").text(3),
        verdict("conv2"),
        top = first.patches.top,
        images = first.patches.images,
        c1 = r
            .top9
            .iter()
            .find(|t| t.layer == "conv1")
            .map_or(0, |t| t.patches.field.size),
        c2 = r
            .top9
            .iter()
            .find(|t| t.layer == "conv2")
            .map_or(0, |t| t.patches.field.size),
        csv = layout::TOP9,
        summary = layout::TOP9_SUMMARY,
    )
}

pub(super) fn opening(out: &Path, r: &StudyResults) -> Result<String> {
    let _ = out;
    let last = r.config.epochs;
    let mut s = String::new();
    let _ = writeln!(s, "# simplecell study report\n");
    let _ = writeln!(
        s,
        "## The five questions\n\nAll numbers are mean ± sd over seeds (n = seeds that \
         finished the epoch); t is the seed-spread t statistic. Thresholds of the criteria \
         are fixed in `src/study/report/criteria.rs`.\n"
    );
    // Why OF-like?
    let share0 = at(r, "plain", 0, criteria::gabor_share);
    let share = at(r, "plain", last, criteria::gabor_share);
    let diff = at(r, "plain", last, criteria::input_difference);
    let diff0 = at(r, "plain", 0, criteria::input_difference);
    let ew = at(r, "plain", last, criteria::energy_vs_whitening);
    let ei = at(r, "plain", last, criteria::energy_vs_input);
    let white = at(r, "whitened-input", last, criteria::gabor_share);
    let _ = writeln!(
        s,
        "### Why OF-like?\n\nIn the converging regime, conv1 goes from {} to {} of filters \
         with a Gabor fit R² ≥ 0.7 in {last} epochs, and its matched similarity to a \
         dictionary of its own input exceeds the same epoch's null by {} at the end (t = \
         {:.1}; {} at epoch 0). The filters' radial power correlates r = {} with the input's \
         whitening spectrum and r = {} with the input spectrum itself, so {}; with \
         ZCA-whitened input the Gabor share is {}.\n\n\
         ![Gabor share](gabor_share.png) ![matched minus null](matched_minus_null.png) \
         ![energy profile](energy_profile.png)\n",
        pct(&share0),
        pct(&share),
        diff.text(4),
        diff.t(),
        diff0.text(4),
        ew.text(2),
        ei.text(2),
        if ew.mean.is_nan() {
            "the energy profile is not measured".to_string()
        } else if ew.mean >= criteria::ENERGY_CORRELATION_AT_LEAST {
            "the learned filters carry the whitening spectrum's shape, as Chowers and Weiss \
             predict"
                .to_string()
        } else if ei.mean > ew.mean {
            "their energy follows the input's own spectrum (the high-variance, low-frequency \
             directions gradient descent moves fastest) rather than the whitening spectrum: \
             the whitening prediction is not shown at this kernel size"
                .to_string()
        } else {
            "neither spectrum predicts their energy well: not shown".to_string()
        },
        pct(&white),
    );
    // Implicit sparsity?
    let z0 = at(r, "plain", 0, criteria::zeros_actual);
    let z1 = at(r, "plain", last, criteria::zeros_actual);
    let zb0 = at(r, "plain", 0, criteria::zeros_zero_bias);
    let zb1 = at(r, "plain", last, criteria::zeros_zero_bias);
    let zp1 = at(r, "plain", last, criteria::zeros_phase_randomised);
    let b1 = at(r, "plain", last, criteria::bias_mean);
    let actual_rise = z1.mean - z0.mean;
    let shape_rise = zb1.mean - zb0.mean;
    let reading = if !(actual_rise.is_finite() && shape_rise.is_finite()) {
        "not shown (the split was not measured)".to_string()
    } else if actual_rise.abs() < 0.02 {
        "the fraction barely moves, so there is no implicit sparsity to explain".to_string()
    } else if shape_rise.abs() < 0.5 * actual_rise.abs() {
        format!(
            "most of the change comes from the biases (with biases set to 0 the same filters \
             give {:+.3}), so the filter shapes are not the cause: implicit sparsity of the \
             shapes is not shown",
            shape_rise
        )
    } else {
        format!(
            "the filter shapes carry most of it (with biases 0: {shape_rise:+.3}), and \
             phase-randomised filters with the same biases give {}",
            zp1.text(3)
        )
    };
    let _ = writeln!(
        s,
        "### Implicit sparsity?\n\nThe fraction of conv1 activations the ReLU zeroes goes \
         from {} to {} (mean bias {} at the end); {reading}.\n\n![zero split](zero_split.png) \
         ![activation sparsity](sparsity_curve.png)\n",
        z0.text(3),
        z1.text(3),
        b1.text(3),
    );
    // Gabors instead?
    let acc = |v: &str| at(r, v, last, criteria::test_accuracy);
    let (plain, gabor, random, dict) = (
        acc("plain"),
        acc("gabor-fixed"),
        acc("random-fixed"),
        acc("dictionary-fixed"),
    );
    let _ = writeln!(
        s,
        "### Gabors instead?\n\nA fixed Gabor first layer reaches test accuracy {} against \
         {} for the learned one (Welch t = {:.1} over seeds), a fixed Kodak dictionary {} and \
         fixed random filters {}; {}.\n\n![accuracy](accuracy.png)\n",
        gabor.text(3),
        plain.text(3),
        welch(&gabor, &plain),
        dict.text(3),
        random.text(3),
        match welch(&gabor, &plain) {
            t if t.is_nan() => "the comparison needs two seeds of each: not shown".to_string(),
            t if t.abs() < 2.0 => "within the seed spread, Gabors do as well as learning".into(),
            t if t < 0.0 => "Gabors do worse than the learned layer".into(),
            _ => "Gabors do better than the learned layer".into(),
        }
    );
    // Learned without labels?
    let rl = at(r, "random-labels", last, criteria::gabor_share);
    let rld = at(r, "random-labels", last, criteria::input_difference);
    let rls = SeedStat::of(&rise(
        r,
        "random-labels",
        last,
        criteria::selectivity_whitened,
    ));
    let pls = SeedStat::of(&rise(r, "plain", last, criteria::selectivity_whitened));
    let _ = writeln!(
        s,
        "### Learned without labels?\n\nWith shuffled labels conv1 reaches {} Gabor-like \
         filters (true labels: {}), matched − null {} (true: {}), and its orientation \
         selectivity in whitened coordinates rises by {} (true: {}). Criteria 5 (1a)-(4) \
         below say which properties hold without labels; what holds there comes from the \
         image statistics, what does not comes from the task.\n\n\
         ![random labels](runs/random-labels-s{seed}/conv1_epoch_{last:03}.png) \
         ![true labels](runs/plain-s{seed}/conv1_epoch_{last:03}.png)\n",
        pct(&rl),
        pct(&share),
        rld.text(4),
        diff.text(4),
        rls.text(3),
        pls.text(3),
        seed = r.config.seed,
    );
    // Deeper layers?
    let layer_stat = |network: &str,
                      layer: &str,
                      f: fn(&crate::study::tuning::UnitTuning) -> f64| {
        let values: Vec<f64> = r
            .tuning
            .iter()
            .filter(|t| t.network == network && t.layer == layer)
            .map(|t| {
                crate::analysis::stats::summarise(&t.units.iter().map(f).collect::<Vec<_>>()).median
            })
            .collect();
        SeedStat::of(&values)
    };
    let osi = |u: &crate::study::tuning::UnitTuning| u.orientation_selectivity;
    let hwhh = |u: &crate::study::tuning::UnitTuning| u.orientation_hwhh_deg;
    let (c2t, c2i) = (
        layer_stat("trained", "conv2", osi),
        layer_stat("initial", "conv2", osi),
    );
    let (c1t, c1i) = (
        layer_stat("trained", "conv1", osi),
        layer_stat("initial", "conv1", osi),
    );
    let (h2t, h2i) = (
        layer_stat("trained", "conv2", hwhh),
        layer_stat("initial", "conv2", hwhh),
    );
    let t2 = welch(&c2t, &c2i);
    let deeper = if c2t.n == 0 {
        "Not shown: no plain run has finished yet.".to_string()
    } else {
        format!(
            "{} The median orientation selectivity of conv2 units to gratings is {} trained \
             against {} for the same network as initialised (Welch t = {t2:.1} over seeds; \
             conv1: {} against {}), with median orientation half-width {}° against {}°. \
             conv2's preferred inputs are shown beside the initial network's. {}\n\n\
             ![conv2 trained]({}) ![conv2 initial]({})\n\n\
             ![conv1 top 9]({}) ![conv1 top 9, epoch 0]({}) ![conv2 top 9]({}) \
             ![conv2 top 9, epoch 0]({})",
            if t2.is_finite() && t2 > 2.0 && c2t.mean > c2i.mean {
                "conv2 becomes more orientation-tuned with training."
            } else if t2.is_nan() {
                "Not settled: the comparison needs two finished plain seeds."
            } else {
                "Not shown: conv2's orientation tuning is not clearly above the initial network's."
            },
            c2t.text(3),
            c2i.text(3),
            c1t.text(3),
            c1i.text(3),
            h2t.text(1),
            h2i.text(1),
            top9_sentence(r),
            layout::CONV2_PNG,
            layout::CONV2_INITIAL_PNG,
            layout::CONV1_TOP9_PNG,
            layout::CONV1_TOP9_INITIAL_PNG,
            layout::CONV2_TOP9_PNG,
            layout::CONV2_TOP9_INITIAL_PNG,
        )
    };
    let _ = writeln!(s, "### Deeper layers?\n\n{deeper}\n");
    let _ = writeln!(
        s,
        "## Criteria\n\nCriteria 1-4 for the baseline, and (criterion 5) the same for the \
         random-labels control:\n"
    );
    let _ = writeln!(
        s,
        "Source: `{}`\n\n| criterion | variant | measure | value | threshold | result |\n\
         |---|---|---|---|---|---|",
        layout::CRITERIA
    );
    for v in criteria::verdicts(r) {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            v.criterion,
            v.variant,
            v.measure,
            v.value,
            v.threshold,
            v.result()
        );
    }
    s.push('\n');
    let diverged: Vec<String> = r
        .runs
        .iter()
        .filter(|rec| rec.diverged)
        .map(|rec| {
            format!(
                "`{}` (after {} epochs)",
                rec.run.name(),
                rec.banks.len() - 1
            )
        })
        .collect();
    let unfinished: Vec<String> = r
        .runs
        .iter()
        .filter(|rec| !rec.diverged && rec.banks.len() <= last)
        .map(|rec| {
            format!(
                "`{}` ({} of {last} epochs)",
                rec.run.name(),
                rec.banks.len() - 1
            )
        })
        .collect();
    let _ = writeln!(
        s,
        "Diverged runs (loss not finite; reported with the epochs they completed): {}.\n",
        if diverged.is_empty() {
            "none".to_string()
        } else {
            diverged.join(", ")
        }
    );
    if !unfinished.is_empty() {
        let _ = writeln!(
            s,
            "Runs still training when this report was written: {}.\n",
            unfinished.join(", ")
        );
    }
    Ok(s)
}
