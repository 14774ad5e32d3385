//! In which order a learning run sees its patches.
//!
//! The patches come from a [`crate::patches::PatchSource`] (usually a memory-mapped file, so
//! a file larger than RAM costs only the pages in use). A run holds two index lists of 4
//! bytes per patch (the training set and the current epoch's order): 80 MB for ten million
//! patches.
//!
//! Order is a pure function of the seed: a seeded permutation sets aside the validation
//! patches, and epoch `e` visits the training patches in a permutation drawn from stream `e`
//! of the seed, or, without shuffling, in file order every epoch (for a file that is
//! already shuffled, or to replay the order another tool visits, as
//! `bench/heldout_orders.py --paired` does with SPAMS's). A batch that crosses an epoch
//! boundary takes the rest of one epoch and the start of the next, so a run's position in
//! the data is just the number of patches seen.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Stream tags, so every use of the seed draws independent numbers.
pub const STREAM_SPLIT: u64 = 1 << 62;
pub const STREAM_INIT: u64 = (1 << 62) + 1;
pub const STREAM_EPOCH_BASE: u64 = 1 << 40;

/// The RNG for one purpose (`stream`) of a run with `seed`.
pub fn rng_for(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Fisher-Yates shuffle driven by `rng`.
pub fn shuffle_in_place(values: &mut [u32], rng: &mut ChaCha8Rng) {
    for i in (1..values.len()).rev() {
        let j = rng.random_range(0..=i);
        values.swap(i, j);
    }
}

/// The validation/training split and the per-epoch order.
pub struct Schedule {
    seed: u64,
    shuffle: bool,
    /// Validation patch indices (sorted, for locality when reading them).
    pub validation: Vec<u32>,
    /// Training patch indices (ascending without shuffling, when they are also the order).
    train: Vec<u32>,
    epoch: u64,
    order: Vec<u32>,
}

impl Schedule {
    /// Splits `count` patches, holding out `validation` of them; `shuffle` draws a new
    /// order every epoch, otherwise the training patches come in ascending file order.
    pub fn new(count: usize, validation: usize, seed: u64, shuffle: bool) -> Self {
        let mut all: Vec<u32> = (0..count as u32).collect();
        shuffle_in_place(&mut all, &mut rng_for(seed, STREAM_SPLIT));
        // Draining the front keeps the training indices in `all`'s own buffer instead of a
        // transient copy. (The peak is unchanged: it is the training list plus the epoch's
        // order, 8 bytes per patch; 118 MB anonymous resident at ten million patches.)
        let mut held: Vec<u32> = all.drain(..validation).collect();
        held.sort_unstable();
        let mut train = all;
        if !shuffle {
            train.sort_unstable();
        }
        let mut s = Self {
            seed,
            shuffle,
            validation: held,
            train,
            epoch: u64::MAX,
            order: Vec::new(),
        };
        s.set_epoch(0);
        s
    }

    pub fn train_len(&self) -> usize {
        self.train.len()
    }

    pub fn train_indices(&self) -> &[u32] {
        &self.train
    }

    fn set_epoch(&mut self, epoch: u64) {
        // Without shuffling every epoch's order is `train` itself, so no copy is kept.
        if self.epoch == epoch || !self.shuffle {
            return;
        }
        self.order.clear();
        self.order.extend_from_slice(&self.train);
        shuffle_in_place(
            &mut self.order,
            &mut rng_for(self.seed, STREAM_EPOCH_BASE + epoch),
        );
        self.epoch = epoch;
    }

    /// Fills `out` with the training indices at positions `start..start + out.len()` of the
    /// endless sequence of epochs.
    pub fn batch(&mut self, start: u64, out: &mut [u32]) {
        let n = self.train.len() as u64;
        for (slot, value) in out.iter_mut().enumerate() {
            let q = start + slot as u64;
            self.set_epoch(q / n);
            let order = if self.shuffle {
                &self.order
            } else {
                &self.train
            };
            *value = order[(q % n) as usize];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_visit_every_training_patch_once_and_skip_validation() {
        let mut s = Schedule::new(100, 10, 7, true);
        let mut seen = vec![0u32; 100];
        let mut batch = vec![0u32; 30];
        for b in 0..3 {
            s.batch(b * 30, &mut batch);
            batch.iter().for_each(|&i| seen[i as usize] += 1);
        }
        // 90 positions = one full epoch of 90 training patches.
        assert_eq!(seen.iter().filter(|&&c| c == 1).count(), 90);
        for &v in &s.validation {
            assert_eq!(seen[v as usize], 0);
        }
        // A second schedule from the same seed gives the same order.
        let mut again = Schedule::new(100, 10, 7, true);
        let mut first = vec![0u32; 30];
        again.batch(60, &mut first);
        s.batch(60, &mut batch);
        assert_eq!(first, batch);
    }

    #[test]
    fn without_shuffling_every_epoch_is_the_training_patches_in_file_order() {
        let mut s = Schedule::new(50, 5, 3, false);
        let expected: Vec<u32> = (0..50u32).filter(|i| !s.validation.contains(i)).collect();
        assert_eq!(expected.len(), 45);
        // Two and a half epochs in batches of 9 that straddle the epoch boundaries.
        let mut seen = Vec::new();
        let mut batch = vec![0u32; 9];
        for b in 0..12 {
            s.batch(b * 9, &mut batch);
            seen.extend_from_slice(&batch);
        }
        let want: Vec<u32> = expected.iter().cycle().take(seen.len()).copied().collect();
        assert_eq!(seen, want);
        // The validation split is the shuffled one's: the flag changes the order only.
        assert_eq!(s.validation, Schedule::new(50, 5, 3, true).validation);
    }
}
