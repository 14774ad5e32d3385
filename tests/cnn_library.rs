//! The CNN jobs through the library alone, as a Rust user drives them: checked params, one
//! call each for training, evaluation and visualisation, and errors that name the field.

mod common;

use common::labelled::two_bars_folder;
use simplecell::Error;
use simplecell::cnn::checkpoint::{self, Checkpoint};
use simplecell::cnn::data::DataSource;
use simplecell::cnn::{
    AscentParams, ConvLayer, EvalParams, Split, Start, TrainParams, evaluate_run, train_run,
    visualize_run,
};
use simplecell::observer::Silent;
use simplecell::params::Params;
use std::path::{Path, PathBuf};

#[test]
fn train_evaluate_and_visualize_are_one_call_each() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("bars");
    two_bars_folder(&data, 20);
    let source = DataSource::Folder(data);
    let run = tmp.path().join("run");
    let params = TrainParams {
        conv1_filters: Some(4),
        conv2_filters: 4,
        batch_size: 8,
        lr: 0.05,
        epochs: 2,
        seed: 2,
        ..TrainParams::default()
    }
    .check()
    .unwrap();
    let start = Start::Fresh { overwrite: false };
    let summary = train_run(&source, &params, &run, start, &Silent).unwrap();
    assert_eq!(
        summary.metrics.iter().map(|m| m.epoch).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert!(run.join("conv1_epoch_002.npy").is_file());

    // A second fresh start refuses to overwrite, naming a file of the run.
    match train_run(&source, &params, &run, start, &Silent) {
        Err(Error::OutputExists { path }) => assert!(path.starts_with(&run)),
        other => panic!("{other:?}"),
    }

    // Evaluation on the run's own test split reproduces the logged accuracy.
    let e = evaluate_run(&run, &EvalParams::default(), None, false).unwrap();
    assert_eq!((e.split, e.images), (Split::Test, 40));
    let logged = summary.metrics.last().unwrap().test_accuracy;
    assert!(
        (e.accuracy - logged).abs() < 1e-12,
        "{} vs {logged}",
        e.accuracy
    );

    let png = tmp.path().join("conv1.png");
    let ascent = AscentParams {
        steps: 5,
        ..AscentParams::default()
    }
    .check()
    .unwrap();
    let conv1 = ConvLayer::new(1).unwrap();
    let v = visualize_run(&run, conv1, &ascent, &png, false).unwrap();
    assert_eq!(v.units, 4);
    let side: serde_json::Value =
        serde_json::from_slice(&std::fs::read(png.with_extension("json")).unwrap()).unwrap();
    assert_eq!(side["layer"], "conv1");
    assert_eq!(side["options"]["steps"], 5);
    // The reference network has two convolutions; a third is refused, naming the field.
    let conv3 = ConvLayer::new(3).unwrap();
    let other = tmp.path().join("conv3.png");
    match visualize_run(&run, conv3, &ascent, &other, false) {
        Err(Error::Param { field, .. }) => assert_eq!(field, "layer"),
        r => panic!("{r:?}"),
    }
    assert!(!other.exists());
}

/// Eight bar images in `dir`, a run folder beside them and the smallest network on them
/// (2 + 2 filters, epoch 0 only): what the checkpoint tests train.
fn tiny_bars_run(dir: &Path) -> (DataSource, PathBuf, TrainParams) {
    let data = dir.join("bars");
    two_bars_folder(&data, 4);
    let params = TrainParams {
        conv1_filters: Some(2),
        conv2_filters: 2,
        epochs: 0,
        ..TrainParams::default()
    };
    (DataSource::Folder(data), dir.join("run"), params)
}

#[test]
fn resuming_needs_a_checkpoint_and_the_same_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let (source, run, params) = tiny_bars_run(tmp.path());
    match train_run(
        &source,
        &params.check().unwrap(),
        &run,
        Start::Resume,
        &Silent,
    ) {
        Err(Error::Param { field, .. }) => assert_eq!(field, "resume"),
        other => panic!("{other:?}"),
    }
    let fresh = Start::Fresh { overwrite: false };
    train_run(&source, &params.check().unwrap(), &run, fresh, &Silent).unwrap();
    let changed = TrainParams {
        lr: 0.02,
        ..params.clone()
    };
    match train_run(
        &source,
        &changed.check().unwrap(),
        &run,
        Start::Resume,
        &Silent,
    ) {
        Err(Error::Param { field, reason, .. }) => {
            assert_eq!(field, "resume");
            assert!(
                reason.contains("`lr` was 0.01 and is now 0.02"),
                "names the setting and both values: {reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    // More epochs is the one change a resumed run accepts.
    let longer = TrainParams {
        epochs: 1,
        ..params
    };
    let summary = train_run(
        &source,
        &longer.check().unwrap(),
        &run,
        Start::Resume,
        &Silent,
    );
    assert_eq!(summary.unwrap().metrics.len(), 2);
}

#[test]
fn a_damaged_checkpoint_or_a_non_finite_weight_is_refused_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (source, run, params) = tiny_bars_run(tmp.path());
    let params = params.check().unwrap();
    train_run(
        &source,
        &params,
        &run,
        Start::Fresh { overwrite: false },
        &Silent,
    )
    .unwrap();
    let file = checkpoint::path(&run);
    let good = std::fs::read(&file).unwrap();
    let eval = || evaluate_run(&run, &EvalParams::default(), None, false);
    assert!(eval().is_ok());
    // One flipped bit anywhere in the weights (the file's second half) fails the checksum.
    let mut bad = good.clone();
    let at = good.len() * 3 / 4;
    bad[at] ^= 0x01;
    std::fs::write(&file, &bad).unwrap();
    let msg = eval().unwrap_err().to_string();
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    // A checkpoint whose checksum holds but whose weights are not finite is refused too.
    std::fs::write(&file, &good).unwrap();
    let (mut ck, _) = Checkpoint::read(&run).unwrap();
    ck.params[0][0] = f32::NAN;
    ck.write(&run).unwrap();
    match eval() {
        Err(Error::BadInput { path, field, .. }) => {
            assert_eq!((path, field.as_str()), (file, "params"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_validation_split_is_held_out_of_training_and_stands_in_for_the_test_set() {
    use simplecell::cnn::data::{DataOptions, load};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("bars");
    two_bars_folder(&data, 20);
    let source = DataSource::Folder(data);
    let options = |validation, train_limit| DataOptions {
        grayscale: false,
        test_fraction: 0.2,
        train_limit,
        test_limit: None,
        validation,
    };
    let all = load(&source, &options(None, None)).unwrap();
    let split = load(&source, &options(Some(10), None)).unwrap();
    assert!(split.validation && !all.validation);
    assert_eq!((split.train.len(), split.test.len()), (30, 10));
    // Every training image lands in exactly one of the two parts: the image bytes of the
    // parts together are the training set's (the generated images are all distinct).
    let images = |set: &simplecell::io::labelled::LabelledImages| -> Vec<Vec<u8>> {
        (0..set.len()).map(|i| set.image(i).to_vec()).collect()
    };
    let mut joined = images(&split.train);
    joined.extend(images(&split.test));
    joined.sort();
    let mut whole = images(&all.train);
    whole.sort();
    assert_eq!(joined, whole);
    // `train_limit` picks from what the split leaves, never from the validation images.
    let limited = load(&source, &options(Some(10), Some(12))).unwrap();
    assert_eq!(limited.train.len(), 12);
    assert_eq!(images(&limited.test), images(&split.test), "a fixed split");
    for img in images(&limited.train) {
        assert!(!images(&split.test).contains(&img));
    }

    // Trained with it: the run evaluates on the validation images and says so, and the
    // test set stays reachable for the final number.
    let run = tmp.path().join("run");
    let params = TrainParams {
        conv1_filters: Some(4),
        conv2_filters: 4,
        batch_size: 8,
        epochs: 1,
        validation: Some(10),
        ..TrainParams::default()
    }
    .check()
    .unwrap();
    let summary = train_run(
        &source,
        &params,
        &run,
        Start::Fresh { overwrite: false },
        &Silent,
    )
    .unwrap();
    let header = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert!(header.starts_with(
        "epoch,seconds,lr,train_loss,train_accuracy,validation_loss,validation_accuracy,"
    ));
    let side: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(
        (side["train_images"].as_u64(), side["test_images"].as_u64()),
        (Some(30), Some(10))
    );
    assert_eq!(side["test_is_validation_split"], true);
    let on = |split| {
        let p = EvalParams {
            split,
            ..EvalParams::default()
        };
        evaluate_run(&run, &p, None, false).unwrap()
    };
    let validation = on(Split::Validation);
    assert_eq!(validation.images, 10);
    let logged = summary.metrics.last().unwrap().test_accuracy;
    assert!((validation.accuracy - logged).abs() < 1e-12);
    assert_eq!(on(Split::Test).images, 40);
    assert_eq!(on(Split::Train).images, 30);

    // Holding out every training image is refused, naming the field, before any output.
    let all_out = TrainParams {
        validation: Some(40),
        ..TrainParams::default()
    }
    .check()
    .unwrap();
    let none = tmp.path().join("none");
    match train_run(
        &source,
        &all_out,
        &none,
        Start::Fresh { overwrite: false },
        &Silent,
    ) {
        Err(Error::Param { field, .. }) => assert_eq!(field, "validation"),
        other => panic!("{other:?}"),
    }
    assert!(!none.exists());
    // And a run without the split has no validation images to evaluate.
    let plain = tmp.path().join("plain");
    let p = TrainParams {
        conv1_filters: Some(2),
        conv2_filters: 2,
        epochs: 0,
        ..TrainParams::default()
    };
    train_run(
        &source,
        &p.check().unwrap(),
        &plain,
        Start::Fresh { overwrite: false },
        &Silent,
    )
    .unwrap();
    let p = EvalParams {
        split: Split::Validation,
        ..EvalParams::default()
    };
    match evaluate_run(&plain, &p, None, false) {
        Err(Error::Param { field, .. }) => assert_eq!(field, "split"),
        other => panic!("{other:?}"),
    }
}
