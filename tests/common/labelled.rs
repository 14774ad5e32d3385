//! Labelled image folders for the CNN and study tests (torchvision's ImageFolder layout,
//! `DIR/{train,test}/CLASS/NNN.png`).

use std::path::Path;

/// Two classes of 12x12 grey images, a bright horizontal or vertical bar at a random row or
/// column on dim noise, `per_class` images per class in each split: separable by orientation.
pub fn two_bars_folder(dir: &Path, per_class: usize) {
    two_bars_folder_seeded(dir, per_class, 3);
}

/// [`two_bars_folder`] drawn from another seed (tests whose thresholds were set on it).
pub fn two_bars_folder_seeded(dir: &Path, per_class: usize, seed: u64) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for split in ["train", "test"] {
        for (c, name) in ["horizontal", "vertical"].iter().enumerate() {
            let d = dir.join(split).join(name);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..per_class {
                let mut img = image::GrayImage::new(12, 12);
                let at = rng.random_range(2..10);
                for y in 0..12 {
                    for x in 0..12 {
                        let on = if c == 0 { y == at } else { x == at };
                        let v = if on { 200 } else { rng.random_range(0..60) };
                        img.put_pixel(x, y, image::Luma([v as u8]));
                    }
                }
                img.save(d.join(format!("{i:03}.png"))).unwrap();
            }
        }
    }
}

/// Three classes of 16x16 grey images (a bright bar, horizontal, vertical or diagonal, at a
/// random offset, on dim noise), `train` and `test` images per class.
pub fn three_bars_folder(dir: &Path, train: usize, test: usize) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    for (split, per_class) in [("train", train), ("test", test)] {
        for (c, name) in ["horizontal", "vertical", "diagonal"].iter().enumerate() {
            let d = dir.join(split).join(name);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..per_class {
                let at: i32 = rng.random_range(3..13);
                let img = image::GrayImage::from_fn(16, 16, |x, y| {
                    let (x, y) = (x as i32, y as i32);
                    let on = match c {
                        0 => y == at,
                        1 => x == at,
                        _ => x - y == at - 8,
                    };
                    image::Luma([if on { 210 } else { rng.random_range(0..70) }])
                });
                img.save(d.join(format!("{i:03}.png"))).unwrap();
            }
        }
    }
}
