//! The `facecmp` binary run the way a user or a script runs it: real photos,
//! real models, checking exit statuses and the output contracts.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(name).display().to_string()
}

fn facecmp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facecmp")).args(args).output().expect("facecmp runs")
}

fn status(output: &Output) -> i32 {
    output.status.code().expect("facecmp exits normally, not by a signal")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Standard error without the warning `--runtime auto` prints when ONNX
/// Runtime is not installed on the machine running the tests.
fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone())
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with("facecmp: warning:"))
        .map(|line| format!("{line}\n"))
        .collect()
}

fn json(output: &Output) -> Value {
    serde_json::from_str(&stdout(output)).unwrap_or_else(|e| panic!("{e}: {}", stdout(output)))
}

#[test]
fn same_person_exits_0_and_different_people_exit_1() {
    for (a, b, expected) in [
        ("obama.jpg", "obama2.jpg", 0),
        ("obama.jpg", "obama3.jpg", 0),
        ("obama.jpg", "biden.jpg", 1),
        ("obama3.jpg", "biden.jpg", 1),
    ] {
        let output = facecmp(&["compare", &data(a), &data(b)]);
        assert_eq!(status(&output), expected, "{a} vs {b}: {}{}", stdout(&output), stderr(&output));
        let verdict = if expected == 0 { "same person" } else { "different people" };
        assert!(stdout(&output).contains(verdict), "{}", stdout(&output));
    }
}

#[test]
fn compare_json_is_the_documented_contract() {
    let output = facecmp(&["compare", "--json", &data("obama.jpg"), &data("obama2.jpg")]);
    assert_eq!(status(&output), 0);
    let report = json(&output);
    let similarity = report["similarity"].as_f64().unwrap();
    assert!(similarity > 0.363 && similarity <= 1.0);
    assert_eq!(report["threshold"].as_f64().unwrap() as f32, 0.363);
    assert_eq!(report["same"], Value::Bool(true));
    for side in ["a", "b"] {
        assert!(report[side]["file"].as_str().unwrap().ends_with(".jpg"));
        assert_eq!(report[side]["face"], 0);
        assert!(report[side]["box"]["width"].as_f64().unwrap() > 100.0);
        assert!(report[side]["score"].as_f64().unwrap() > 0.6);
        assert_eq!(report[side]["landmarks"].as_array().unwrap().len(), 5);
    }
}

#[test]
fn the_threshold_decides() {
    let strict = facecmp(&["compare", "--threshold", "0.99", &data("obama.jpg"), &data("obama2.jpg")]);
    assert_eq!(status(&strict), 1);
    let lax = facecmp(&["compare", "--threshold", "-0.5", &data("obama.jpg"), &data("biden.jpg")]);
    assert_eq!(status(&lax), 0);
}

#[test]
fn an_rgba_png_compares_like_its_jpeg() {
    let output = facecmp(&["compare", &data("32bit.png"), &data("obama.jpg")]);
    assert_eq!(status(&output), 0, "{}", stderr(&output));
}

#[test]
fn bald_guys_has_at_least_20_faces() {
    let output = facecmp(&["detect", "--json", &data("bald_guys.jpg")]);
    assert_eq!(status(&output), 0);
    let report = json(&output);
    let faces = report["faces"].as_array().unwrap();
    assert!(faces.len() >= 20, "{} faces", faces.len());
    assert_eq!((report["width"].as_u64(), report["height"].as_u64()), (Some(1986), Some(1545)));
    for face in faces {
        assert!(face["score"].as_f64().unwrap() >= 0.6);
        assert_eq!(face["landmarks"].as_array().unwrap().len(), 5);
    }
}

#[test]
fn several_faces_use_the_largest_and_say_so() {
    let output = facecmp(&["compare", &data("bald_guys.jpg"), &data("obama.jpg")]);
    assert_eq!(status(&output), 1, "{}", stderr(&output));
    assert!(stdout(&output).contains("the largest of 24 (--face-a N picks another)"), "{}", stdout(&output));
    let picked = facecmp(&["compare", "--json", "--face-a", "3", &data("bald_guys.jpg"), &data("obama.jpg")]);
    assert_eq!(json(&picked)["a"]["face"], 3);
    let missing = facecmp(&["compare", "--face-b", "7", &data("bald_guys.jpg"), &data("obama.jpg")]);
    assert_eq!(status(&missing), 2);
    assert!(stderr(&missing).contains("obama.jpg: there is no face 7"), "{}", stderr(&missing));
}

#[test]
fn all_prints_the_matrix_of_every_pair() {
    let output = facecmp(&["compare", "--all", "--json", &data("bald_guys.jpg"), &data("obama.jpg")]);
    let report = json(&output);
    let rows = report["similarity"].as_array().unwrap();
    let faces_a = report["a"]["faces"].as_array().unwrap().len();
    let too_small = report["a"]["too_small"].as_array().unwrap().len();
    assert_eq!(faces_a + too_small, 24);
    assert_eq!(rows.len(), faces_a);
    assert!(rows.iter().all(|row| row.as_array().unwrap().len() == 1));
    // No one in the collage is Obama.
    assert_eq!(status(&output), 1);
    let mirror = facecmp(&["compare", "--all", &data("obama.jpg"), &data("obama2.jpg")]);
    assert_eq!(status(&mirror), 0);
}

#[test]
fn bad_inputs_exit_2_with_one_line_naming_the_file() {
    for (name, reason) in [
        ("not_an_image.txt", "not an image"),
        ("empty.jpg", "file is empty"),
        ("truncated.jpg", "truncated"),
        ("no_face.png", "no face found"),
        ("does-not-exist.jpg", "cannot read file"),
    ] {
        let output = facecmp(&["compare", &data("obama.jpg"), &data(name)]);
        assert_eq!(status(&output), 2, "{name}");
        let message = stderr(&output);
        assert_eq!(message.lines().count(), 1, "{name}: {message}");
        assert!(message.contains(name) && message.contains(reason), "{name}: {message}");
        assert!(!message.contains("panicked"), "{message}");
        assert!(stdout(&output).is_empty(), "no verdict on error");
    }
}

#[test]
fn a_tiny_face_exits_2() {
    let folder = tempfile::tempdir().unwrap();
    let tiny = folder.path().join("tiny.png");
    image::open(data("obama.jpg"))
        .unwrap()
        .resize(90, 120, image::imageops::FilterType::Triangle)
        .save(&tiny)
        .unwrap();
    let output = facecmp(&["compare", tiny.to_str().unwrap(), &data("obama.jpg")]);
    assert_eq!(status(&output), 2);
    assert!(stderr(&output).contains("tiny.png: face 0 is too small"), "{}", stderr(&output));
}

#[test]
fn detect_draws_boxes_on_a_copy_of_the_photo() {
    let folder = tempfile::tempdir().unwrap();
    let drawing = folder.path().join("faces.png");
    let output = facecmp(&["detect", &data("obama.jpg"), "--draw", drawing.to_str().unwrap()]);
    assert_eq!(status(&output), 0);
    assert!(stdout(&output).contains("1 face"));
    let original = image::open(data("obama.jpg")).unwrap().into_rgb8();
    let drawn = image::open(&drawing).unwrap().into_rgb8();
    assert_eq!(drawn.dimensions(), original.dimensions());
    assert_ne!(drawn, original, "something was drawn");
}

#[test]
fn detect_exits_1_when_a_photo_has_no_face_and_2_on_errors() {
    assert_eq!(status(&facecmp(&["detect", &data("obama.jpg"), &data("no_face.png")])), 1);
    let output = facecmp(&["detect", "--json", &data("not_an_image.txt"), &data("obama.jpg")]);
    assert_eq!(status(&output), 2);
    // The readable photo is still reported.
    assert_eq!(stdout(&output).lines().count(), 1);
}

#[test]
fn embed_prints_one_unit_vector_per_face() {
    let output = facecmp(&["embed", "--all-faces", &data("bald_guys.jpg"), &data("obama.jpg")]);
    assert_eq!(status(&output), 0, "{}", stderr(&output));
    let lines: Vec<Value> = stdout(&output).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() >= 21, "{} lines", lines.len());
    for line in &lines {
        let embedding: Vec<f64> =
            line["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(embedding.len(), 128);
        let norm = embedding.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
        assert!(line["file"].is_string() && line["box"].is_object() && line["face"].is_u64());
    }
    let largest_only = facecmp(&["embed", &data("bald_guys.jpg")]);
    assert_eq!(stdout(&largest_only).lines().count(), 1);
}

#[test]
fn models_can_come_from_a_folder() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let output =
        facecmp(&["--models", models.to_str().unwrap(), "compare", &data("obama.jpg"), &data("obama2.jpg")]);
    assert_eq!(status(&output), 0, "{}", stderr(&output));
    let empty = tempfile::tempdir().unwrap();
    let missing = facecmp(&[
        "--models",
        empty.path().to_str().unwrap(),
        "compare",
        &data("obama.jpg"),
        &data("obama2.jpg"),
    ]);
    assert_eq!(status(&missing), 2);
    assert!(stderr(&missing).contains("cannot read model file"), "{}", stderr(&missing));
}

#[test]
fn help_states_where_the_default_threshold_comes_from() {
    let output = facecmp(&["compare", "--help"]);
    assert_eq!(status(&output), 0);
    assert!(stdout(&output).contains("OpenCV's published threshold for SFace"));
}

#[test]
fn doctor_reports_the_engine_and_the_model_digests() {
    let output = facecmp(&["doctor", "--json", "--runtime", "tract"]);
    assert_eq!(status(&output), 0, "{}", stderr(&output));
    let report = json(&output);
    assert_eq!(report["runtime"], "tract");
    assert!(report["threads"].as_u64().unwrap() >= 1);
    let digests: Vec<&str> =
        report["models"].as_array().unwrap().iter().map(|m| m["sha256"].as_str().unwrap()).collect();
    assert_eq!(
        digests,
        [
            "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
            "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
        ]
    );
}

#[test]
fn a_broken_onnx_runtime_falls_back_to_tract_under_auto_and_fails_under_ort() {
    let folder = tempfile::tempdir().unwrap();
    let fake = folder.path().join("libonnxruntime.so.1.32.0");
    std::fs::write(&fake, "not a shared library").unwrap();
    let run = |runtime: &str| {
        Command::new(env!("CARGO_BIN_EXE_facecmp"))
            .args(["--runtime", runtime, "compare", &data("obama.jpg"), &data("obama2.jpg")])
            .env("FACECMP_ORT_LIB", &fake)
            .output()
            .unwrap()
    };
    let auto = run("auto");
    assert_eq!(status(&auto), 0);
    let warning = String::from_utf8(auto.stderr.clone()).unwrap();
    assert_eq!(warning.lines().count(), 1, "{warning}");
    assert!(warning.contains("warning") && warning.contains("using tract"), "{warning}");
    let forced = run("ort");
    assert_eq!(status(&forced), 2);
    assert!(stderr(&forced).contains("cannot load ONNX Runtime"), "{}", stderr(&forced));
    assert!(stdout(&forced).is_empty());
}

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_facecmp"))
        // The second photo is written after the reader has gone.
        .args(["embed", "--all-faces", &data("bald_guys.jpg"), &data("obama.jpg")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one byte, then hang up, as `| head -c1` does.
    let mut first = [0u8; 1];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let output = child.wait_with_output().unwrap();
    let message = String::from_utf8(output.stderr).unwrap();
    assert!(!message.contains("panicked") && !message.contains("internal error"), "{message}");
}
