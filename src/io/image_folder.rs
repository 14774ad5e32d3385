//! Image folders in torchvision's ImageFolder convention: `DIR/CLASS/*.png|jpg|...`, one
//! subfolder per class, classes numbered in sorted name order. If `DIR/train` and
//! `DIR/test` both exist, each is such a folder and they form the train/test split.
//! Every image must have the same size; images are colour (RGB) unless all are grayscale.

use super::labelled::LabelledImages;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

const EXTENSIONS: [&str; 7] = ["png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff"];

fn is_image(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| EXTENSIONS.contains(&e.as_str()))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let err = |source| Error::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        out.push(entry.map_err(err)?.path());
    }
    out.sort();
    Ok(out)
}

/// Class names (sorted subfolder names) of an ImageFolder-style folder.
pub fn class_names(dir: &Path) -> Result<Vec<String>> {
    let names: Vec<String> = sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|n| !n.starts_with('.'))
        .collect();
    if names.is_empty() {
        return Err(Error::bad_input(
            dir,
            "class folders",
            "none",
            "an image folder needs one subfolder per class",
        ));
    }
    if names.len() == 1 {
        return Err(Error::bad_input(
            dir,
            "class folders",
            format!("1 ({})", names[0]),
            "a classifier needs at least 2 classes (one subfolder per class)",
        ));
    }
    if names.len() > u16::MAX as usize {
        return Err(Error::bad_input(
            dir,
            "class folders",
            names.len(),
            "too many classes",
        ));
    }
    Ok(names)
}

/// Reads one ImageFolder-style folder with the given class names. In a training folder
/// (`every_class`) each class folder must hold an image, since an empty one would still be
/// counted as a class; a test split may lack some classes, but not every one.
pub fn read_classes(dir: &Path, names: &[String], every_class: bool) -> Result<LabelledImages> {
    let mut files = Vec::new();
    for (label, name) in names.iter().enumerate() {
        let class_dir = dir.join(name);
        let before = files.len();
        if class_dir.is_dir() {
            for path in sorted_entries(&class_dir)? {
                if path.is_file() && is_image(&path) {
                    files.push((path, label as u16));
                }
            }
        }
        if every_class && files.len() == before {
            return Err(Error::bad_input(
                &class_dir,
                "images",
                "none",
                format!(
                    "the class folder holds no image files ({}); remove it or add images",
                    EXTENSIONS.join(", ")
                ),
            ));
        }
    }
    if files.is_empty() {
        return Err(Error::bad_input(
            dir,
            "images",
            "none",
            format!(
                "no image files ({}) in the class folders",
                EXTENSIONS.join(", ")
            ),
        ));
    }
    let decoded: Vec<image::DynamicImage> = files
        .iter()
        .map(|(path, _)| {
            image::open(path)
                .map_err(|e| Error::bad_input(path, "image", "undecodable", e.to_string()))
        })
        .collect::<Result<_>>()?;
    let (w, h) = (decoded[0].width() as usize, decoded[0].height() as usize);
    let gray = decoded.iter().all(|im| {
        matches!(
            im.color(),
            image::ColorType::L8
                | image::ColorType::L16
                | image::ColorType::La8
                | image::ColorType::La16
        )
    });
    let channels = if gray { 1 } else { 3 };
    let mut out = LabelledImages::empty(h, w, channels, names.to_vec());
    out.pixels.reserve(files.len() * h * w * channels);
    for ((path, label), im) in files.iter().zip(&decoded) {
        if im.width() as usize != w || im.height() as usize != h {
            return Err(Error::bad_input(
                path,
                "size",
                format!("{}x{}", im.width(), im.height()),
                format!("every image must be {w}x{h} like {}", files[0].0.display()),
            ));
        }
        if gray {
            out.pixels.extend_from_slice(im.to_luma8().as_raw());
        } else {
            out.pixels.extend_from_slice(im.to_rgb8().as_raw());
        }
        out.labels.push(*label);
    }
    Ok(out)
}

/// Reads a folder: (training images, test images if `DIR/train` and `DIR/test` exist).
pub fn read_dir(dir: &Path) -> Result<(LabelledImages, Option<LabelledImages>)> {
    let (train_dir, test_dir) = (dir.join("train"), dir.join("test"));
    if train_dir.is_dir() && test_dir.is_dir() {
        let names = class_names(&train_dir)?;
        // A test class unknown to training would be dropped without a word.
        if let Some(extra) = sorted_entries(&test_dir)?
            .into_iter()
            .filter(|p| p.is_dir())
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .find(|n| !n.starts_with('.') && !names.contains(n))
        {
            return Err(Error::bad_input(
                test_dir.join(&extra),
                "class",
                &extra,
                format!(
                    "is not a class of the training folder {} ({})",
                    train_dir.display(),
                    names.join(", ")
                ),
            ));
        }
        let train = read_classes(&train_dir, &names, true)?;
        let test = read_classes(&test_dir, &names, false)?;
        if (test.height, test.width) != (train.height, train.width) {
            return Err(Error::bad_input(
                &test_dir,
                "size",
                format!("{}x{}", test.width, test.height),
                format!(
                    "test images must match the training size {}x{}",
                    train.width, train.height
                ),
            ));
        }
        let channels = train.channels.max(test.channels);
        Ok((widen(train, channels), Some(widen(test, channels))))
    } else {
        let names = class_names(dir)?;
        Ok((read_classes(dir, &names, true)?, None))
    }
}

/// Repeats a grayscale channel to RGB when the other split is in colour.
fn widen(images: LabelledImages, channels: usize) -> LabelledImages {
    if images.channels == channels {
        return images;
    }
    let pixels = images.pixels.iter().flat_map(|&v| [v, v, v]).collect();
    LabelledImages {
        channels,
        pixels,
        ..images
    }
}
