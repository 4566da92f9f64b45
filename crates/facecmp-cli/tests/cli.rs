//! The `facecmp` binary run the way a user or a script runs it: real photos,
//! real models, checking exit statuses and the output contracts.
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report

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

/// Models load when first needed: detection never parses SFace, so a
/// broken SFace file only stops the commands that embed.
#[test]
fn detect_never_loads_the_embedder() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let folder = tempfile::tempdir().unwrap();
    std::fs::copy(
        models.join("face_detection_yunet_2023mar.onnx"),
        folder.path().join("face_detection_yunet_2023mar.onnx"),
    )
    .unwrap();
    std::fs::write(folder.path().join("face_recognition_sface_2021dec_int8bq.onnx"), "not a network")
        .unwrap();
    let dir = folder.path().to_str().unwrap();
    let detect = facecmp(&["--models", dir, "detect", &data("obama.jpg")]);
    assert_eq!(status(&detect), 0, "{}", stderr(&detect));
    assert!(stdout(&detect).contains("1 face"), "{}", stdout(&detect));
    let compare = facecmp(&["--models", dir, "compare", &data("obama.jpg"), &data("obama2.jpg")]);
    assert_eq!(status(&compare), 2);
    assert!(stderr(&compare).contains("cannot load the SFace network"), "{}", stderr(&compare));
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

/// ONNX Runtime 1.32 writes `~/.cache/Microsoft/DeveloperTools/.onnxruntime`
/// (a device id and an event database) when its environment is created,
/// unless told not to; facecmp must leave no such trace. `CI` is removed from
/// the child's environment because ONNX Runtime also stays quiet in CI.
#[cfg(feature = "onnxruntime")]
#[test]
fn onnx_runtime_telemetry_stays_off() {
    let Some(library) = facecmp::runtime::ort::default_library_path().filter(|path| path.is_file()) else {
        assert!(std::env::var_os("FACECMP_REQUIRE_ORT").is_none(), "ONNX Runtime is required");
        return eprintln!("skipping: ONNX Runtime is not installed");
    };
    let home = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_facecmp"))
        .args(["--runtime", "ort", "detect", &data("obama.jpg")])
        .env("FACECMP_ORT_LIB", &library)
        .env("HOME", home.path())
        .env_remove("XDG_CACHE_HOME")
        .env_remove("CI")
        .env_remove(facecmp::runtime::ort::TELEMETRY_OPT_OUT_ENV)
        .output()
        .unwrap();
    assert_eq!(status(&output), 0, "{}", stderr(&output));
    let written: Vec<_> = walk(home.path());
    assert!(written.is_empty(), "ONNX Runtime wrote {written:?}");
}

#[cfg(feature = "onnxruntime")]
fn walk(folder: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(folder)
        .unwrap()
        .flat_map(|entry| {
            let path = entry.unwrap().path();
            if path.is_dir() { walk(&path) } else { vec![path] }
        })
        .collect()
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
    // Quietly means like `cat`: ended by SIGPIPE, or done before it came;
    // never the error status 2 or a panic's 101.
    use std::os::unix::process::ExitStatusExt;
    const SIGPIPE: i32 = 13;
    assert!(
        output.status.success() || output.status.signal() == Some(SIGPIPE),
        "{:?}: {message}",
        output.status
    );
}

// ---- the gallery, access control and their durability ------------------

fn facecmp_in(dir: &Path, args: &[&str]) -> Output {
    let db = dir.join("gallery.db");
    Command::new(env!("CARGO_BIN_EXE_facecmp"))
        .env("FACECMP_DB", &db)
        .args(args)
        .output()
        .expect("facecmp runs")
}

#[test]
fn the_elevator_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gallery.db").display().to_string();
    assert_eq!(status(&facecmp(&["gallery", "init", &db])), 0);
    assert_eq!(status(&facecmp(&["gallery", "init", &db])), 2, "an existing gallery is never overwritten");

    let enrolled = facecmp_in(
        dir.path(),
        &["enroll", "--name", "Obama", "--zone", "5", &data("obama.jpg"), &data("obama3.jpg")],
    );
    assert_eq!(status(&enrolled), 0, "{}{}", stdout(&enrolled), stderr(&enrolled));
    assert!(stdout(&enrolled).contains("may enter 5"), "{}", stdout(&enrolled));
    let refused = facecmp_in(
        dir.path(),
        &["enroll", "--json", "--name", "Crowd", &data("bald_guys.jpg"), &data("nope.jpg")],
    );
    assert_eq!(status(&refused), 1);
    let reasons: Vec<String> = stdout(&refused)
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reasons, ["multiple_faces", "bad_image"]);

    for (image, expected_status, expected_reason) in [
        ("obama2.jpg", 0, "granted"),
        ("biden.jpg", 1, "unknown"),
        ("no_face.png", 1, "no_face"),
        ("bald_guys.jpg", 1, "multiple_faces"),
        ("not_an_image.txt", 1, "bad_image"),
        ("missing.jpg", 1, "bad_image"),
    ] {
        let decision = facecmp_in(dir.path(), &["access", "--zone", "5", "--json", &data(image)]);
        assert_eq!(status(&decision), expected_status, "{image}: {}{}", stdout(&decision), stderr(&decision));
        assert_eq!(json(&decision)["reason"], expected_reason, "{image}");
    }
    let text = facecmp_in(dir.path(), &["access", "--zone", "5", &data("obama2.jpg")]);
    assert!(stdout(&text).starts_with("ALLOW zone 5 Obama: granted"), "{}", stdout(&text));

    let identified = facecmp_in(dir.path(), &["identify", "--json", &data("obama2.jpg")]);
    assert_eq!(status(&identified), 0);
    assert_eq!(json(&identified)["faces"][0]["candidates"][0]["person"], "Obama");
    assert_eq!(status(&facecmp_in(dir.path(), &["identify", &data("biden.jpg")])), 1);

    let events = facecmp_in(dir.path(), &["events", "--decision", "deny"]);
    assert_eq!(stdout(&events).lines().count(), 5, "{}", stdout(&events));
    assert_eq!(status(&facecmp_in(dir.path(), &["revoke", "Obama", "--zone", "5"])), 0);
    let revoked = facecmp_in(dir.path(), &["access", "--zone", "5", "--json", &data("obama2.jpg")]);
    assert_eq!((status(&revoked), json(&revoked)["reason"].as_str()), (1, Some("not_granted")));

    assert_eq!(status(&facecmp_in(dir.path(), &["remove", "Obama"])), 0);
    let people = facecmp_in(dir.path(), &["people", "--json"]);
    assert_eq!(json(&people), serde_json::json!([]));
    let gone = facecmp_in(dir.path(), &["remove", "Obama"]);
    assert_eq!(status(&gone), 2);
    assert_eq!(stderr(&gone), "facecmp: no person named `Obama`\n");

    let key = facecmp_in(dir.path(), &["keys", "create", "--role", "camera", "--name", "lift"]);
    assert_eq!(status(&key), 0);
    assert!(stdout(&key).starts_with("fck_"), "{}", stdout(&key));
    assert_eq!(
        status(&facecmp(&["people", "--db", &dir.path().join("missing.db").display().to_string()])),
        2
    );
}

#[test]
fn far_targets_pick_calibrated_thresholds_and_refuse_what_the_data_cannot_vouch_for() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gallery.db").display().to_string();
    assert_eq!(status(&facecmp(&["gallery", "init", &db])), 0);
    let strict = facecmp_in(dir.path(), &["identify", "--json", "--far", "1e-4", &data("obama2.jpg")]);
    let loose = facecmp_in(dir.path(), &["identify", "--json", "--far", "1e-1", &data("obama2.jpg")]);
    let (strict, loose) =
        (json(&strict)["threshold"].as_f64().unwrap(), json(&loose)["threshold"].as_f64().unwrap());
    assert!(strict > loose, "{strict} vs {loose}");
    let beyond = facecmp_in(dir.path(), &["identify", "--far", "1e-7", &data("obama2.jpg")]);
    assert_eq!(status(&beyond), 2);
    assert!(stderr(&beyond).contains("cannot be promised"), "{}", stderr(&beyond));
}

/// Photos of Obama that are all different files: the same picture at
/// different sizes, so that each is a new sample.
fn distinct_photos(dir: &Path, count: usize) -> Vec<String> {
    let original = image::open(data("obama.jpg")).unwrap();
    (0..count)
        .map(|i| {
            let path = dir.join(format!("obama-{i}.jpg"));
            let width = 500 + 10 * i as u32;
            original
                .resize(width, width * 2, image::imageops::FilterType::Triangle)
                .to_rgb8()
                .save(&path)
                .unwrap();
            path.display().to_string()
        })
        .collect()
}

#[test]
fn killing_an_enrolment_midway_loses_nothing_it_acknowledged() {
    use std::io::{BufRead, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gallery.db");
    assert_eq!(status(&facecmp(&["gallery", "init", &db.display().to_string()])), 0);
    let photos = distinct_photos(dir.path(), 40);
    let mut enrolment = Command::new(env!("CARGO_BIN_EXE_facecmp"))
        .args(["enroll", "--json", "--db", &db.display().to_string(), "--name", "Obama"])
        .args(&photos)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut acknowledged = Vec::new();
    for line in BufReader::new(enrolment.stdout.take().unwrap()).lines() {
        let line: Value = serde_json::from_str(&line.unwrap()).unwrap();
        assert_eq!(line["accepted"], true, "{line}");
        acknowledged.push(line["sample"].as_i64().unwrap());
        if acknowledged.len() == 5 {
            enrolment.kill().unwrap(); // SIGKILL: no destructors, no flushing
            break;
        }
    }
    enrolment.wait().unwrap();
    assert_eq!(acknowledged.len(), 5, "the enrolment ended before it could be killed");

    let connection = rusqlite::Connection::open(&db).unwrap();
    let check: String = connection.query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    assert_eq!(check, "ok");
    let stored: Vec<i64> = connection
        .prepare("SELECT id FROM samples ORDER BY id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for sample in &acknowledged {
        assert!(stored.contains(sample), "acknowledged sample {sample} is lost: {stored:?}");
    }
    assert!(stored.len() < photos.len(), "the kill came too late to prove anything");
    drop(connection);
    // And the gallery still opens and works.
    let people = facecmp(&["people", "--json", "--db", &db.display().to_string()]);
    assert_eq!(json(&people)[0]["samples"], stored.len());
}
