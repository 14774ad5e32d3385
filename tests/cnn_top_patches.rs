//! `simplecell cnn visualize --top-patches N` end to end on a tiny trained run: the montage
//! has one row of N tiles per unit at the layer's receptive field, the sidecar lists N
//! distinct test images per unit strongest first, and a bad count fails naming its flag
//! before anything is written.

mod common;

use common::labelled::two_bars_folder;
use common::{simplecell, stderr};

#[test]
fn top_patches_montage_and_sidecar_of_a_trained_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("bars");
    two_bars_folder(&data, 20);
    let run = tmp.path().join("run");
    let train = simplecell(&[
        "--quiet",
        "cnn",
        "train",
        "--data",
        &format!("folder:{}", data.display()),
        "--out",
        run.to_str().unwrap(),
        "--epochs",
        "1",
        "--conv1-filters",
        "4",
        "--conv2-filters",
        "4",
        "--batch-size",
        "8",
    ]);
    assert!(train.status.success(), "{}", stderr(&train));
    let png = tmp.path().join("top.png");
    let visualize = |extra: &[&str]| {
        let mut args = vec![
            "--quiet",
            "cnn",
            "visualize",
            "--run",
            run.to_str().unwrap(),
            "--layer",
            "conv2",
            "--out",
            png.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        simplecell(&args)
    };
    let bad = visualize(&["--top-patches", "0"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("--top-patches"), "{}", stderr(&bad));
    assert!(!png.exists());

    let ok = visualize(&["--top-patches", "3", "--images", "30"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let side: serde_json::Value =
        serde_json::from_slice(&std::fs::read(png.with_extension("json")).unwrap()).unwrap();
    assert_eq!(side["layer"], "conv2");
    assert_eq!(side["images_searched"], 30);
    let size = side["receptive_field"]["size"].as_u64().unwrap() as u32;
    let units = side["units"].as_array().unwrap();
    assert_eq!(units.len(), 4);
    for u in units {
        let images: Vec<u64> = u["image"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        let mut distinct = images.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 3, "{u}");
        assert!(images.iter().all(|&i| i < 30));
        let a: Vec<f64> = u["activation"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!(a.windows(2).all(|w| w[0] >= w[1]), "strongest first: {a:?}");
    }
    // Tiles of size * zoom pixels (zoom 48 / size) and 1-pixel borders: 3 columns, 4 rows.
    let tile = size * (48 / size).max(1) + 1;
    let img = image::open(&png).unwrap();
    assert_eq!((img.width(), img.height()), (3 * tile + 1, 4 * tile + 1));
}
