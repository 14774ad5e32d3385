//! Bilinear resampling of a square plane to another size, with the geometry of PyTorch's
//! `F.interpolate(mode="bilinear", align_corners=False)` without antialiasing: output pixel
//! centre `i + 0.5` maps to input position `(i + 0.5) * from / to - 0.5`, clamped to the edge
//! pixels. Used to bring two filter banks of different sizes together for comparison, and
//! to fit a bank to a convolution's kernel size.

/// Resamples a row-major `from x from` plane to `to x to`, in float64. A plane already of
/// the wanted size is returned as it is.
pub fn resample_bilinear(values: &[f64], from: usize, to: usize) -> Vec<f64> {
    assert!(values.len() >= from * from, "resample: plane too small");
    if from == to {
        return values[..from * from].to_vec();
    }
    let scale = from as f64 / to as f64;
    // Input rows (or columns) either side of output index i, and the weight of the second.
    let coord = |i: usize| {
        let p = ((i as f64 + 0.5) * scale - 0.5).clamp(0.0, (from - 1) as f64);
        let lo = p.floor() as usize;
        let hi = (lo + 1).min(from - 1);
        (lo, hi, p - lo as f64)
    };
    let mut out = Vec::with_capacity(to * to);
    for r in 0..to {
        let (r0, r1, wr) = coord(r);
        for c in 0..to {
            let (c0, c1, wc) = coord(c);
            let top = values[r0 * from + c0] * (1.0 - wc) + values[r0 * from + c1] * wc;
            let bottom = values[r1 * from + c0] * (1.0 - wc) + values[r1 * from + c1] * wc;
            out.push(top * (1.0 - wr) + bottom * wr);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_constants_and_the_same_size() {
        let constant = vec![3.0; 16];
        assert!(resample_bilinear(&constant, 4, 7).iter().all(|&v| v == 3.0));
        assert!(resample_bilinear(&constant, 4, 3).iter().all(|&v| v == 3.0));
        let plane: Vec<f64> = (0..9).map(|i| i as f64 * 0.5 - 1.0).collect();
        assert_eq!(resample_bilinear(&plane, 3, 3), plane);
    }

    #[test]
    fn matches_pytorch_on_a_two_by_two_upsampling() {
        // F.interpolate(torch.tensor([[[[0., 1.], [2., 3.]]]]), size=4, mode="bilinear",
        // align_corners=False): rows are [0, .25, .75, 1] + 2 * [0, .25, .75, 1] per row,
        // all sums of quarters, exact in float64.
        let up = resample_bilinear(&[0.0, 1.0, 2.0, 3.0], 2, 4);
        let edge = [0.0, 0.25, 0.75, 1.0];
        for r in 0..4 {
            for c in 0..4 {
                assert_eq!(up[r * 4 + c], edge[c] + 2.0 * edge[r], "({r}, {c})");
            }
        }
    }

    #[test]
    fn downsampling_by_two_averages_each_block() {
        // Output centre (i + 0.5) * 2 - 0.5 = 2i + 0.5 sits midway between two inputs.
        let plane: Vec<f64> = (0..16).map(|i| i as f64).collect();
        let down = resample_bilinear(&plane, 4, 2);
        assert_eq!(down, vec![2.5, 4.5, 10.5, 12.5]);
    }
}
