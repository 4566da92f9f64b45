//! The lean binary, built without the `train` feature (no burn):
//!
//! ```sh
//! cargo test -p facecmp-cli --no-default-features --features onnxruntime --test lean
//! ```
//!
//! It still evaluates SFace, and refuses what needs training with exit
//! status 2 and one line naming the feature. With the default features this
//! file compiles to nothing.
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report
#![cfg(not(feature = "train"))]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(name)
}

fn facecmp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facecmp")).args(args).output().expect("facecmp runs")
}

fn stderr_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|l| !l.starts_with("facecmp: warning:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn training_commands_and_trained_models_name_the_missing_feature() {
    let root = tempfile::tempdir().unwrap();
    let (out, model) = (root.path().join("out"), root.path().join("model"));
    let (obama, obama2) = (data("obama.jpg"), data("obama2.jpg"));
    let cases: [(&str, Vec<&str>); 4] = [
        ("train", vec!["train", obama.to_str().unwrap(), "--out", out.to_str().unwrap()]),
        ("synth", vec!["synth", out.to_str().unwrap()]),
        (
            "--embedder MODEL_DIR",
            vec![
                "compare",
                "--embedder",
                model.to_str().unwrap(),
                obama.to_str().unwrap(),
                obama2.to_str().unwrap(),
            ],
        ),
        (
            "--embedder MODEL_DIR",
            vec!["eval", "--embedder", model.to_str().unwrap(), root.path().to_str().unwrap()],
        ),
    ];
    for (what, args) in cases {
        let output = facecmp(&args);
        let lines = stderr_lines(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {lines:?}");
        assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
        assert!(lines[0].contains(&format!("`{what}` needs the `train` feature")), "{args:?}: {lines:?}");
    }
    assert!(!out.exists(), "nothing was written");
}

#[test]
fn the_lean_binary_compares_and_evaluates_sface() {
    let output =
        facecmp(&["compare", data("obama.jpg").to_str().unwrap(), data("obama2.jpg").to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{:?}", stderr_lines(&output));

    let root = tempfile::tempdir().unwrap();
    let people = root.path().join("people");
    for (person, files) in [("obama", &["obama.jpg", "obama2.jpg"][..]), ("biden", &["biden.jpg"])] {
        std::fs::create_dir_all(people.join(person)).unwrap();
        for file in files {
            std::fs::copy(data(file), people.join(person).join(file)).unwrap();
        }
    }
    let output = facecmp(&["eval", "--json", people.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{:?}", stderr_lines(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["verification"]["pairs"]["genuine"], 1);
    assert_eq!(report["verification"]["pairs"]["impostor"], 2);
    assert_eq!(report["verification"]["auc"], 1.0, "SFace separates obama from biden");
    assert!(report["people_trained_on"].is_null(), "SFace has no training split");
}
