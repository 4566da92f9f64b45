//! `facecmp synth`, `train`, `eval` and `compare --embedder` run the way a
//! user runs them: tiny settings, real files, exit statuses and outputs.
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(name)
}

fn facecmp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facecmp")).args(args).output().expect("facecmp runs")
}

fn status(output: &Output) -> i32 {
    output.status.code().expect("facecmp exits normally, not by a signal")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(output: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", text(&output.stdout), text(&output.stderr))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn is_png(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|bytes| bytes.starts_with(b"\x89PNG"))
}

/// A small model on synthetic people (seconds, not a quality test: that is
/// `crates/facecmp-train/tests/learns.rs`).
fn train_tiny(root: &Path) -> PathBuf {
    let (people, model) = (root.join("people"), root.join("model"));
    let synth =
        facecmp(&["synth", people.to_str().unwrap(), "--identities", "20", "--photos", "4", "--seed", "1"]);
    assert_eq!(status(&synth), 0, "{}", describe(&synth));
    #[rustfmt::skip]
    let args = [
        "train", people.to_str().unwrap(), "--out", model.to_str().unwrap(), "--aligned",
        "--epochs", "2", "--pairs-per-epoch", "64", "--batch-size", "16", "--input-size", "16", "--width", "4",
        "--embedding-dim", "16", "--val-fraction", "0.5",
    ];
    let output = facecmp(&args);
    assert_eq!(status(&output), 0, "{}", describe(&output));
    assert!(text(&output.stdout).contains("validation (10 people never trained on"), "{}", describe(&output));
    model
}

#[test]
fn synth_train_eval_compare_round_trip() {
    let root = tempfile::tempdir().unwrap();
    let model = train_tiny(root.path());
    for file in ["model.safetensors", "model.json", "metrics.csv", "checkpoint/state.json"] {
        assert!(model.join(file).is_file(), "{file} missing");
    }
    for plot in ["loss.png", "accuracy.png", "roc.png", "histogram.png"] {
        assert!(is_png(&model.join(plot)), "{plot} is not a PNG");
    }
    let csv = std::fs::read_to_string(model.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "header + one row per epoch:\n{csv}");
    let card = read_json(&model.join("model.json"));
    assert_eq!(card["tower"]["architecture"], "compact");
    assert_eq!(card["split"]["train"].as_array().unwrap().len(), 10);
    assert_eq!(card["split"]["val"].as_array().unwrap().len(), 10);

    // Evaluation on people of another seed: none of them was trained on.
    let others = root.path().join("others");
    assert_eq!(
        status(&facecmp(&[
            "synth",
            others.to_str().unwrap(),
            "--identities",
            "8",
            "--photos",
            "3",
            "--seed",
            "2"
        ])),
        0
    );
    let report_dir = root.path().join("report");
    #[rustfmt::skip]
    let output = facecmp(&[
        "eval", others.to_str().unwrap(), "--aligned", "--embedder", model.to_str().unwrap(),
        "--out", report_dir.to_str().unwrap(), "--calibrate",
    ]);
    assert_eq!(status(&output), 0, "{}", describe(&output));
    assert!(text(&output.stdout).contains("| ROC AUC |"), "{}", describe(&output));
    let report = read_json(&report_dir.join("report.json"));
    assert_eq!(report["verification"]["pairs"]["genuine"], 8 * 3);
    assert_eq!(report["verification"]["pairs"]["impostor"], 24 * 23 / 2 - 24);
    assert_eq!(report["people_trained_on"], 0);
    assert!(is_png(&report_dir.join("roc.png")) && is_png(&report_dir.join("histogram.png")));
    let card = read_json(&model.join("model.json"));
    let calibration = &card["calibration"];
    assert_eq!(calibration["points"][0]["far"], 0.1, "eval --calibrate stored the thresholds");
    assert_eq!(calibration["impostor_pairs"], 24 * 23 / 2 - 24, "measured on eval's pairs");

    // Calibrating on the people it was trained on would promise too much.
    #[rustfmt::skip]
    let output = facecmp(&[
        "eval", root.path().join("people").to_str().unwrap(), "--aligned",
        "--embedder", model.to_str().unwrap(), "--calibrate",
    ]);
    assert_eq!(status(&output), 2, "{}", describe(&output));
    assert!(text(&output.stderr).contains("not calibrating on 10 people"), "{}", describe(&output));
    assert_eq!(read_json(&model.join("model.json"))["calibration"], card["calibration"], "unchanged");

    // The trained model as compare's embedder, with a calibrated threshold.
    let (a, b) = (others.join("s2_person_00000/000.png"), others.join("s2_person_00000/001.png"));
    let compare = |extra: &[&str]| {
        let mut args = vec!["compare", "--json", "--embedder", model.to_str().unwrap()];
        args.extend_from_slice(extra);
        facecmp(&args)
    };
    // Synthetic crops have no detectable face: compare needs a real photo.
    let output = compare(&["--far", "0.1", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(status(&output), 2, "{}", describe(&output));
    let output =
        compare(&["--far", "0.1", data("obama.jpg").to_str().unwrap(), data("obama2.jpg").to_str().unwrap()]);
    assert!([0, 1].contains(&status(&output)), "{}", describe(&output));
    let result: Value = serde_json::from_str(&text(&output.stdout)).unwrap();
    assert_eq!(
        result["threshold"].as_f64().unwrap() as f32,
        calibration["points"][0]["threshold"].as_f64().unwrap() as f32
    );
    let output = compare(&[
        "--far",
        "1e-4",
        data("obama.jpg").to_str().unwrap(),
        data("obama2.jpg").to_str().unwrap(),
    ]);
    assert_eq!(status(&output), 2, "{}", describe(&output));
    // 252 impostor pairs cannot vouch for one false accept in 10 000.
    assert!(text(&output.stderr).contains("cannot be promised"), "{}", describe(&output));

    // A gallery made with the trained model embeds with it, and refuses SFace.
    let db = root.path().join("gallery.db");
    let (db, model_dir) = (db.to_str().unwrap(), model.to_str().unwrap());
    let output = facecmp(&["gallery", "init", db, "--embedder", model_dir]);
    assert_eq!(status(&output), 0, "{}", describe(&output));
    let obama = data("obama.jpg");
    let enrol = |extra: &[&str]| {
        let mut args = vec!["enroll", "--db", db, "--name", "Obama", obama.to_str().unwrap()];
        args.extend_from_slice(extra);
        facecmp(&args)
    };
    let output = enrol(&[]);
    assert_eq!(status(&output), 2, "{}", describe(&output));
    assert!(
        text(&output.stderr).contains("facecmp-compact-16d"),
        "names the gallery's embedder: {}",
        describe(&output)
    );
    let output = enrol(&["--embedder", model_dir]);
    assert_eq!(status(&output), 0, "{}", describe(&output));

    // --resume continues from the checkpoint to a later epoch.
    #[rustfmt::skip]
    let output = facecmp(&[
        "train", root.path().join("people").to_str().unwrap(), "--out", model.to_str().unwrap(), "--aligned",
        "--epochs", "3", "--pairs-per-epoch", "64", "--batch-size", "16", "--input-size", "16", "--width", "4",
        "--embedding-dim", "16", "--val-fraction", "0.5", "--resume",
    ]);
    assert_eq!(status(&output), 0, "{}", describe(&output));
    let stderr = text(&output.stderr);
    let epochs: Vec<&str> = stderr.lines().filter(|l| l.starts_with("epoch")).collect();
    assert_eq!(epochs.len(), 1, "only epoch 3 is trained: {epochs:?}");
    assert_eq!(std::fs::read_to_string(model.join("metrics.csv")).unwrap().lines().count(), 4);
}

#[test]
fn sface_eval_on_real_photos_and_skipped_photos_are_named() {
    let root = tempfile::tempdir().unwrap();
    let people = root.path().join("people");
    for (person, files) in
        [("obama", &["obama.jpg", "obama2.jpg", "obama3.jpg", "no_face.png"][..]), ("biden", &["biden.jpg"])]
    {
        std::fs::create_dir_all(people.join(person)).unwrap();
        for file in files {
            std::fs::copy(data(file), people.join(person).join(file)).unwrap();
        }
    }
    let output = facecmp(&["eval", "--json", people.to_str().unwrap()]);
    assert_eq!(status(&output), 0, "{}", describe(&output));
    assert!(text(&output.stderr).contains("no_face.png: no face found"), "{}", describe(&output));
    let report: Value = serde_json::from_str(&text(&output.stdout)).unwrap();
    assert_eq!(report["verification"]["pairs"]["genuine"], 3);
    assert_eq!(report["verification"]["pairs"]["impostor"], 3);
    assert_eq!(report["verification"]["auc"], 1.0, "SFace separates obama from biden");
    assert_eq!(report["skipped"].as_array().unwrap().len(), 1);
}

#[test]
fn bad_inputs_exit_2_with_one_line_naming_them() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("missing");
    let out = root.path().join("model");
    for args in [
        vec!["train", missing.to_str().unwrap(), "--out", out.to_str().unwrap()],
        vec!["eval", missing.to_str().unwrap()],
        vec![
            "compare",
            "--embedder",
            missing.to_str().unwrap(),
            data("obama.jpg").to_str().unwrap(),
            data("obama2.jpg").to_str().unwrap(),
        ],
    ] {
        let output = facecmp(&args);
        assert_eq!(status(&output), 2, "{args:?}: {}", describe(&output));
        let stderr = text(&output.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("facecmp: warning:")).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
        assert!(lines[0].contains(missing.to_str().unwrap()), "{args:?}: {stderr}");
    }
    let output = facecmp(&[
        "eval",
        "--lfw-pairs",
        data("../../data/lfw/pairs.txt").to_str().unwrap(),
        "--images",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(status(&output), 2, "{}", describe(&output));
}
