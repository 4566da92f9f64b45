//! `--embedder sface|dlib|fused` and `--embedder-onnx MODEL --embedder-card
//! CARD`, run as a user runs them: the README's decisions with every bundled
//! embedder, both raw scores beside the fused one, a user's own ONNX network
//! described by a card, and wrong cards refused with exit status 2.
#![allow(clippy::unwrap_used)] // a test: a panic is its failure report

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path).display().to_string()
}

fn facecmp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facecmp")).args(args).output().expect("facecmp runs")
}

fn compare(embedder_args: &[&str], a: &str, b: &str) -> (i32, Value) {
    let (a, b) = (repo(&format!("tests/data/{a}")), repo(&format!("tests/data/{b}")));
    let mut args = embedder_args.to_vec();
    args.extend(["compare", "--json", &a, &b]);
    if args.contains(&"--embedder-card") {
        // A user's network comes with no calibration: the threshold is theirs.
        args.extend(["--threshold", "0.363"]);
    }
    let output = facecmp(&args);
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&output.stderr)));
    (output.status.code().unwrap(), value)
}

#[test]
fn every_bundled_embedder_gives_the_readmes_decisions() {
    for embedder in ["sface", "dlib", "fused"] {
        let (same, json) = compare(&["--embedder", embedder], "obama.jpg", "obama2.jpg");
        assert_eq!(same, 0, "{embedder}: {json}");
        let (different, other) = compare(&["--embedder", embedder], "obama.jpg", "biden.jpg");
        assert_eq!(different, 1, "{embedder}: {other}");
        assert!(json["similarity"].as_f64().unwrap() > other["similarity"].as_f64().unwrap());
        assert_eq!(json["scores"].is_object(), embedder == "fused", "{json}");
    }
}

#[test]
fn fused_output_keeps_both_raw_scores_and_its_calibrated_threshold() {
    let (_, fused) = compare(&["--embedder", "fused"], "obama.jpg", "obama2.jpg");
    let (_, sface) = compare(&["--embedder", "sface"], "obama.jpg", "obama2.jpg");
    let (_, dlib) = compare(&["--embedder", "dlib"], "obama.jpg", "obama2.jpg");
    let close = |a: &Value, b: &Value| (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-3;
    assert!(close(&fused["scores"]["sface"], &sface["similarity"]), "{fused} {sface}");
    assert!(close(&fused["scores"]["dlib"], &dlib["similarity"]), "{fused} {dlib}");
    assert_eq!(fused["embedder"], "fused-sface-dlib");
    // The fused threshold is its own FAR 1e-3 point, not SFace's.
    let threshold = fused["threshold"].as_f64().unwrap();
    assert!(threshold > 0.5 && threshold < 0.95, "{fused}");
}

fn card(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const SFACE_CARD: &str = r#"
name = "my-arcface"
input_size = 112
channel_order = "rgb"
mean = [0.0, 0.0, 0.0]
std = [1.0, 1.0, 1.0]
template = "arcface"
output = "fc1"
dimension = 128
"#;

/// SFace is an ArcFace-family network under Apache-2.0: described by a card
/// it must embed exactly as the bundled SFace does.
#[test]
fn an_onnx_embedder_described_by_its_card_embeds_like_the_bundled_network() {
    let dir = tempfile::tempdir().unwrap();
    let model = repo("models/face_recognition_sface_2021dec_int8bq.onnx");
    let good = card(dir.path(), "card.toml", SFACE_CARD);
    let plugged = ["--embedder-onnx", &model, "--embedder-card", good.to_str().unwrap()];
    let (same, json) = compare(&plugged, "obama.jpg", "obama2.jpg");
    let (_, bundled) = compare(&["--embedder", "sface"], "obama.jpg", "obama2.jpg");
    assert_eq!(same, 0, "{json}");
    assert_eq!(json["embedder"], "my-arcface");
    let (a, b) = (json["similarity"].as_f64().unwrap(), bundled["similarity"].as_f64().unwrap());
    assert!((a - b).abs() < 1e-4, "card {a} vs bundled {b}");

    // The same network fed BGR is another function: the card is obeyed.
    let bgr = card(dir.path(), "bgr.toml", &SFACE_CARD.replace("\"rgb\"", "\"bgr\""));
    let swapped = ["--embedder-onnx", &model, "--embedder-card", bgr.to_str().unwrap()];
    let (_, json) = compare(&swapped, "obama.jpg", "obama2.jpg");
    assert!((json["similarity"].as_f64().unwrap() - b).abs() > 1e-3, "{json}");
}

#[test]
fn a_card_that_does_not_fit_its_network_is_refused_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let model = repo("models/face_recognition_sface_2021dec_int8bq.onnx");
    let photo = repo("tests/data/obama.jpg");
    let cases = [
        ("dimension.toml", SFACE_CARD.replace("dimension = 128", "dimension = 512"), "dimension"),
        ("size.toml", SFACE_CARD.replace("input_size = 112", "input_size = 96"), "input_size"),
        ("typo.toml", format!("{SFACE_CARD}\nchanel_order = \"bgr\"\n"), "chanel_order"),
        ("output.toml", SFACE_CARD.replace("\"fc1\"", "\"fc9\""), "fc9"),
    ];
    for (name, text, named) in cases {
        let path = card(dir.path(), name, &text);
        let output =
            facecmp(&["--embedder-onnx", &model, "--embedder-card", path.to_str().unwrap(), "embed", &photo]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(named) && stderr.contains(name), "{name}: {stderr}");
        assert!(output.stdout.is_empty(), "{name}");
    }
    let missing = facecmp(&["--embedder-onnx", &model, "embed", &photo]);
    assert_eq!(missing.status.code(), Some(2), "--embedder-onnx needs its card");
}

fn run(args: &[&str]) -> (i32, String, String) {
    let output = facecmp(args);
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.code().unwrap(), text(&output.stdout), text(&output.stderr))
}

fn info(db: &str) -> Value {
    let (status, stdout, stderr) = run(&["gallery", "info", db, "--json"]);
    assert_eq!(status, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn a_gallery_keeps_its_embedder_and_moves_to_another_from_its_thumbnails() {
    let dir = tempfile::tempdir().unwrap();
    let sface = dir.path().join("sface.db").display().to_string();
    let fused = dir.path().join("fused.db").display().to_string();
    let photo = |name: &str| repo(&format!("tests/data/{name}"));
    assert_eq!(run(&["gallery", "init", &sface]).0, 0);
    let (status, _, stderr) =
        run(&["enroll", "--db", &sface, "--name", "Obama", "--zone", "5", &photo("obama.jpg")]);
    assert_eq!(status, 0, "{stderr}");

    // Moving needs the embedder named; then every sample moves, with its zone and grant.
    assert_eq!(run(&["gallery", "migrate", &sface, "--to", &fused]).0, 2);
    let (status, stdout, stderr) =
        run(&["--embedder", "fused", "gallery", "migrate", &sface, "--to", &fused, "--json"]);
    assert_eq!(status, 0, "{stdout} {stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((report["samples_moved"].as_u64(), report["grants"].as_u64()), (Some(1), Some(1)), "{report}");
    assert_eq!(report["samples_left"], serde_json::json!([]));

    let (old, new) = (info(&sface), info(&fused));
    assert_eq!((old["bundled"].as_str(), new["bundled"].as_str()), (Some("sface"), Some("fused")));
    assert_eq!(new["embedder"]["dimension"], 256);
    assert_eq!(
        (new["people"].as_u64(), new["samples"].as_u64(), new["grants"].as_u64()),
        (Some(1), Some(1), Some(1))
    );

    // With no --embedder, each gallery decides with its own embedder.
    for db in [&sface, &fused] {
        let (allowed, stdout, stderr) = run(&["access", "--db", db, "--zone", "5", &photo("obama2.jpg")]);
        assert_eq!(allowed, 0, "{db}: {stdout} {stderr}");
        assert_eq!(run(&["access", "--db", db, "--zone", "5", &photo("biden.jpg")]).0, 1, "{db}");
    }
    // A named embedder that is not the gallery's is refused, naming both.
    let (status, _, stderr) =
        run(&["--embedder", "sface", "access", "--db", &fused, "--zone", "5", &photo("obama2.jpg")]);
    assert_eq!(status, 2, "{stderr}");
    assert!(stderr.contains("fused-sface-dlib") && stderr.contains("sface-2021dec-int8bq"), "{stderr}");
}
