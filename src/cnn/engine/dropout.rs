//! Dropout on one chunk: in training each value is zeroed with probability p and the others
//! scaled by 1 / (1 - p) (inverted dropout, so evaluation is the identity). The mask comes
//! from a generator seeded by the batch seed, the layer and the chunk, so it does not depend
//! on which thread runs the chunk; it is kept for the backward pass.

use super::{Chunk, Mode, mix_seed, sized, split_pair};
use crate::cnn::net::Network;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub(super) fn forward(ch: &mut Chunk, net: &Network, l: usize, p: f32, mode: Mode, seed: u64) {
    let out_len = ch.n * net.shapes[l + 1].len();
    let (x, y) = split_pair(&mut ch.acts, l);
    let y = sized(y, out_len);
    if mode == Mode::Eval || p == 0.0 {
        y.copy_from_slice(&x[..out_len]);
        // An empty mask tells the backward pass this was the identity.
        ch.cache[l].clear();
        return;
    }
    let keep = 1.0 / (1.0 - p);
    let mut rng = ChaCha8Rng::seed_from_u64(mix_seed(seed, l as u64, ch.index as u64));
    let mask = sized(&mut ch.cache[l], out_len);
    for ((o, &i), m) in y.iter_mut().zip(x.iter()).zip(mask.iter_mut()) {
        *m = if rng.random::<f32>() < p { 0.0 } else { keep };
        *o = i * *m;
    }
}

pub(super) fn backward(ch: &mut Chunk, net: &Network, l: usize, p: f32) {
    let in_len = ch.n * net.shapes[l].len();
    let (dx, dy) = split_pair(&mut ch.grads, l);
    let dx = sized(dx, in_len);
    if p == 0.0 || ch.cache[l].len() < in_len {
        dx.copy_from_slice(&dy[..in_len]);
    } else {
        for ((d, &g), &m) in dx.iter_mut().zip(dy.iter()).zip(ch.cache[l].iter()) {
            *d = g * m;
        }
    }
}
