//! The built-in photographs: six Kodak test images (released by Eastman Kodak for
//! unrestricted use), converted to 8-bit grayscale PNG and compiled into the binary so that
//! `extract` and `demo` work without a data folder. `data/builtin/README.md` says where they
//! came from and how they were converted; they are decoded like any PNG file (sRGB -> linear
//! luminance).

/// (name, PNG bytes) of each built-in photograph, in the order their patches are written.
pub const PHOTOS: &[(&str, &[u8])] = &[
    (
        "kodim01.png",
        include_bytes!("../../data/builtin/kodim01.png"),
    ),
    (
        "kodim05.png",
        include_bytes!("../../data/builtin/kodim05.png"),
    ),
    (
        "kodim08.png",
        include_bytes!("../../data/builtin/kodim08.png"),
    ),
    (
        "kodim13.png",
        include_bytes!("../../data/builtin/kodim13.png"),
    ),
    (
        "kodim19.png",
        include_bytes!("../../data/builtin/kodim19.png"),
    ),
    (
        "kodim21.png",
        include_bytes!("../../data/builtin/kodim21.png"),
    ),
];

/// The shorter side of every built-in photograph, in pixels (they are 768x512 or 512x768).
pub const SHORT_SIDE: usize = 512;

/// How a built-in photograph is named in messages and sidecars.
pub fn label(name: &str) -> String {
    format!("builtin:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_photo_decodes_to_a_kodak_sized_grey_image() {
        for (name, bytes) in PHOTOS {
            let img =
                crate::io::images::decode_luminance(bytes, std::path::Path::new(name)).unwrap();
            let mut dims = [img.width, img.height];
            dims.sort();
            assert_eq!(dims, [SHORT_SIDE, 768], "{name}");
            assert!(img.data.iter().all(|v| (0.0..=1.0).contains(v)), "{name}");
        }
    }
}
