//! Bank comparison end to end: a bank against a shifted, sign-flipped and shuffled copy of
//! itself is matched exactly with the right shifts and signs; against phase-randomised
//! surrogates the similarity falls to the null level; the commands refuse bad input with
//! exit code 2 and write nothing, and give the same bytes for the same inputs.

mod common;
use common::{simplecell, stderr};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use simplecell::analysis::compare::{CompareOptions, compare};
use simplecell::analysis::gabor::GaborParams;
use simplecell::analysis::measures::MeasureOptions;
use simplecell::analysis::similarity;
use simplecell::observer::Silent;
use simplecell::viz::montage::Bank;

const SIZE: usize = 16;

/// 12 compact Gabors (envelope sigma 1.6-2.2 px) so a shift of a few pixels loses almost
/// nothing off the patch edge.
fn bank() -> Vec<f32> {
    let mut data = Vec::new();
    for k in 0..12 {
        let g = GaborParams {
            x0: 0.0,
            y0: 0.0,
            theta: (k as f64 * 15.0).to_radians(),
            frequency: 0.14 + 0.02 * (k % 4) as f64,
            phase: (k as f64 * 50.0).to_radians(),
            sigma_x: 1.6 + 0.1 * (k % 3) as f64,
            sigma_y: 2.2,
            amplitude: 1.0,
        };
        data.extend(g.render(SIZE).into_iter().map(|v| v as f32));
    }
    data
}

/// Filter moved by (dx columns right, dy rows down), zero-filled.
fn moved(f: &[f32], dx: i32, dy: i32) -> Vec<f32> {
    let k = SIZE as i32;
    let mut out = vec![0f32; f.len()];
    for r in 0..k {
        for c in 0..k {
            let (sr, sc) = (r - dy, c - dx);
            if (0..k).contains(&sr) && (0..k).contains(&sc) {
                out[(r * k + c) as usize] = f[(sr * k + sc) as usize];
            }
        }
    }
    out
}

fn options(null_draws: usize) -> CompareOptions {
    CompareOptions {
        max_shift: Some(3),
        null_draws,
        seed: 5,
        min_r2: 0.5,
        measure: MeasureOptions::default(),
    }
}

#[test]
fn shifted_flipped_shuffled_copy_is_matched_with_its_shifts_and_signs() {
    let a = bank();
    let pixels = SIZE * SIZE;
    // B[j] = sign_j * A[perm_j] moved by (dx_j, dy_j); B must move by (-dx, -dy) to line up.
    let perm = [3usize, 7, 0, 11, 5, 1, 9, 2, 10, 4, 8, 6];
    let mut b = Vec::new();
    let mut truth = Vec::new();
    for (j, &i) in perm.iter().enumerate() {
        let (dx, dy) = ((j as i32 % 5) - 2, (j as i32 % 3) - 1);
        let sign = if j % 2 == 0 { -1.0 } else { 1.0 };
        b.extend(
            moved(&a[i * pixels..(i + 1) * pixels], dx, dy)
                .iter()
                .map(|v| v * sign),
        );
        truth.push((i, j, -dx, -dy, sign as i8));
    }
    let bank_a = Bank::new(&a[..], 12, 1, SIZE);
    let bank_b = Bank::new(&b[..], 12, 1, SIZE);
    let c = compare(&bank_a, &bank_b, &options(4), &Silent);
    for (i, j, sx, sy, sign) in truth {
        let p = c.pairs.iter().find(|p| p.a == i).unwrap();
        assert_eq!(
            (p.b, p.shift_x, p.shift_y, p.sign),
            (j, sx, sy, sign),
            "{p:?}"
        );
        // The moved copy loses only the envelope tail that leaves the patch (< 2% of the
        // norm for these envelopes and shifts of at most 2 pixels).
        assert!(p.similarity > 0.98, "{p:?}");
    }
    let (null_mean, _, z) = c.null();
    assert!(
        c.matched_mean() > 0.98 && null_mean < 0.9 && z > 5.0,
        "{:?}",
        c.null()
    );
}

#[test]
fn phase_randomised_copy_matches_at_the_null_level() {
    let a = bank();
    let bank_a = Bank::new(&a[..], 12, 1, SIZE);
    let (na, _, _) = similarity::prepare_pair(&bank_a, &bank_a);
    // A surrogate of A from a seed that the null draws (seed 5, streams 0..) do not use.
    let mut rng = ChaCha8Rng::seed_from_u64(999);
    let surrogate = similarity::phase_randomised(&na, &mut rng);
    let b = surrogate.data.clone();
    let bank_b = Bank::new(&b[..], 12, 1, SIZE);
    let c = compare(&bank_a, &bank_b, &options(20), &Silent);
    let (null_mean, null_sd, z) = c.null();
    // The surrogate is itself one more draw from the null distribution, so its z-score is
    // an ordinary standard score: within 3 with probability above 99%.
    assert!(
        z.abs() < 3.0,
        "matched {} null {null_mean} +- {null_sd} z {z}",
        c.matched_mean()
    );
    assert!(c.matched_mean() < 0.9, "{}", c.matched_mean());
}

/// [`common::write_npy`], as the string a command line takes.
fn write(dir: &std::path::Path, name: &str, shape: &[usize], data: &[f32]) -> String {
    common::write_npy(dir, name, shape, data)
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn bad_inputs_exit_2_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.npy", &[12, 256], &bank());
    let mut nan = bank();
    nan[300] = f32::NAN;
    let nan = write(dir.path(), "nan.npy", &[12, 256], &nan);
    let three_d = write(dir.path(), "three_d.npy", &[2, 4, 4], &[0.5; 32]);
    let not_square = write(dir.path(), "not_square.npy", &[4, 10], &[0.5; 40]);
    let out = dir.path().join("out");
    let out_s = out.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["analyze", "--filters", &nan, "--out", out_s], "NaN"),
        (
            vec!["analyze", "--filters", &three_d, "--out", out_s],
            "shape",
        ),
        (
            vec!["analyze", "--filters", &not_square, "--out", out_s],
            "square",
        ),
        (
            vec!["analyze", "--codes", &three_d, "--out", out_s],
            "shape",
        ),
        (vec!["analyze", "--codes", &nan, "--out", out_s], "NaN"),
        (
            vec!["compare", "--a", &good, "--b", &nan, "--out", out_s],
            "NaN",
        ),
        (
            vec!["compare", "--a", &good, "--b", &not_square, "--out", out_s],
            "square",
        ),
        (
            vec![
                "compare",
                "--a",
                &good,
                "--b",
                &good,
                "--out",
                out_s,
                "--max-shift",
                "16",
            ],
            "--max-shift",
        ),
        (
            vec![
                "compare",
                "--a",
                &good,
                "--b",
                &good,
                "--out",
                out_s,
                "--null-draws",
                "1",
            ],
            "--null-draws",
        ),
        (
            vec!["gabor", "--out", out_s, "--frequencies", "0.7"],
            "--frequencies",
        ),
    ];
    for (args, needle) in cases {
        let o = simplecell(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}");
        assert!(!out.exists(), "{args:?} wrote {}", out.display());
    }
}

#[test]
fn same_inputs_same_bytes_and_no_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.npy", &[12, 256], &bank());
    let gabor = dir.path().join("g.npy");
    let o = simplecell(&[
        "gabor",
        "--size",
        "16",
        "--orientations",
        "4",
        "--out",
        gabor.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let g = simplecell::io::npy::read(&gabor).unwrap();
    assert_eq!(g.shape, vec![16, 1, 16, 16]);
    for f in g.data.chunks(256) {
        let mean = f.iter().sum::<f32>() / 256.0;
        let norm = f.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!(
            mean.abs() < 1e-6 && (norm - 1.0).abs() < 1e-5,
            "mean {mean} norm {norm}"
        );
    }
    let mut outputs = Vec::new();
    for run in ["one", "two"] {
        let out = dir.path().join(run);
        let o = simplecell(&[
            "compare",
            "--a",
            &a,
            "--b",
            gabor.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--null-draws",
            "3",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let o = simplecell(&[
            "analyze",
            "--filters",
            &a,
            "--out",
            out.join("an").to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let bytes: Vec<Vec<u8>> = [
            "pairs.csv",
            "matrix.csv",
            "summary.csv",
            "pairs.png",
            "an/filters.csv",
            "an/summary.csv",
            "an/nx_ny.png",
        ]
        .iter()
        .map(|n| std::fs::read(out.join(n)).unwrap())
        .collect();
        outputs.push(bytes);
    }
    assert_eq!(outputs[0], outputs[1]);
    let out = dir.path().join("one");
    let again = simplecell(&[
        "compare",
        "--a",
        &a,
        "--b",
        &a,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--force"));
    assert_eq!(std::fs::read(out.join("pairs.csv")).unwrap(), outputs[0][0]);
}

#[test]
fn analyze_codes_writes_population_and_lifetime_tables() {
    let dir = tempfile::tempdir().unwrap();
    // 4 samples x 3 units; sample 0 is one-hot, unit 2 is always zero.
    let codes = write(
        dir.path(),
        "codes.npy",
        &[4, 3],
        &[2.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.5, 0.5, 0.0, 0.0, 3.0, 0.0],
    );
    let out = dir.path().join("codes");
    let o = simplecell(&["analyze", "--codes", &codes, "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let pop = std::fs::read_to_string(out.join("population.csv")).unwrap();
    let lines: Vec<&str> = pop.lines().collect();
    assert_eq!(
        lines[0],
        "sample,hoyer,excess_kurtosis,gini,fraction_zero,fraction_above_1pct_max"
    );
    assert_eq!(lines.len(), 5);
    // Sample 0 is one-hot: Hoyer 1, two of three entries zero.
    let row0: Vec<f64> = lines[1].split(',').map(|s| s.parse().unwrap()).collect();
    assert!((row0[1] - 1.0).abs() < 1e-12 && (row0[4] - 2.0 / 3.0).abs() < 1e-12);
    let life = std::fs::read_to_string(out.join("lifetime.csv")).unwrap();
    assert_eq!(life.lines().count(), 4);
    assert!(
        life.lines()
            .nth(3)
            .unwrap()
            .starts_with("2,nan,nan,nan,1,0"),
        "{life}"
    );
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert!(
        summary.contains("hoyer,4,") && summary.contains(",lifetime"),
        "{summary}"
    );
}

#[test]
fn colour_bank_is_projected_to_luminance_or_split_per_channel() {
    let dir = tempfile::tempdir().unwrap();
    // 2 filters x 3 channels x 8 x 8: a Gabor in every channel with different gains.
    let g = GaborParams {
        x0: 0.0,
        y0: 0.0,
        theta: 0.5,
        frequency: 0.2,
        phase: 0.0,
        sigma_x: 1.5,
        sigma_y: 2.0,
        amplitude: 1.0,
    }
    .render(8);
    let mut data = Vec::new();
    for f in 0..2 {
        for gain in [1.0, -0.5, 0.25] {
            data.extend(g.iter().map(|v| (v * gain * (f + 1) as f64) as f32));
        }
    }
    let bank = write(dir.path(), "rgb.npy", &[2, 3, 8, 8], &data);
    for (flag, rows, first_channel) in [(None, 2, "luma"), (Some("--per-channel"), 6, "0")] {
        let out = dir.path().join(format!("rgb_{rows}"));
        let mut args = vec![
            "analyze",
            "--filters",
            &bank,
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(flag);
        let o = simplecell(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let csv = std::fs::read_to_string(out.join("filters.csv")).unwrap();
        let lines: Vec<&str> = csv.lines().skip(1).collect();
        assert_eq!(lines.len(), rows, "{csv}");
        assert_eq!(lines[0].split(',').nth(1).unwrap(), first_channel);
        // Luminance of filter 0 is (0.299 - 0.5 * 0.587 + 0.25 * 0.114) g = 0.034 g, so its
        // norm is 0.034 times the Gabor's; each channel keeps its own gain.
        let norm: f64 = lines[0].split(',').nth(2).unwrap().parse().unwrap();
        let g_norm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        let gain = if rows == 2 {
            0.299 - 0.5 * 0.587 + 0.25 * 0.114
        } else {
            1.0
        };
        assert!((norm / g_norm - gain).abs() < 1e-5, "{norm} {g_norm}");
    }
}
