//! Every appearance gets exactly one decision, on both engines: a stranger
//! who takes the place of a just-allowed person, the granted person coming
//! back after someone else, and one person in two shots separated by a cut.
//! The clips are built here from the fixture photos with the ffmpeg program.
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report

use std::path::Path;
use std::process::Output;

use serde_json::Value;

#[path = "support/clips.rs"]
mod clips;
use clips::{Scene, data, facecmp, make_shots, status, stderr, stdout};

/// The engines to check: tract always, ONNX Runtime where it is installed
/// (CI installs it and requires it).
fn engines() -> Vec<&'static str> {
    if !ort_installed() {
        assert!(std::env::var_os("FACECMP_REQUIRE_ORT").is_none(), "ONNX Runtime is required");
        eprintln!("ONNX Runtime is not installed: tract only");
        return vec!["tract"];
    }
    vec!["tract", "ort"]
}

fn ort_installed() -> bool {
    let output = facecmp(&["--runtime", "ort", "doctor", "--json"]);
    status(&output) == 0
}

/// A gallery where Obama may use `lift`, with Biden enrolled (not granted) or not at all.
fn gallery(dir: &Path, with_biden: bool) -> String {
    let db = dir.join(format!("lift-{with_biden}.db")).display().to_string();
    let mut steps = vec![
        vec!["gallery".to_string(), "init".into(), db.clone()],
        ["enroll", "--db", &db, "--name", "Obama", "--zone", "lift", &data("obama.jpg")]
            .map(String::from)
            .to_vec(),
    ];
    if with_biden {
        steps.push(["enroll", "--db", &db, "--name", "Biden", &data("biden.jpg")].map(String::from).to_vec());
    }
    for step in steps {
        let args: Vec<&str> = step.iter().map(String::as_str).collect();
        let output = facecmp(&args);
        assert_eq!(status(&output), 0, "{step:?}: {}", stderr(&output));
    }
    db
}

/// `watch --json` on `clip` with `engine`; the decisions as (time, allowed, reason, person).
fn watch(engine: &str, clip: &Path, db: &str) -> Vec<(f64, bool, String, Option<String>)> {
    let output = facecmp(&[
        "--runtime",
        engine,
        "watch",
        clip.to_str().unwrap(),
        "--zone",
        "lift",
        "--db",
        db,
        "--json",
    ]);
    assert_eq!(status(&output), 0, "{}{}", stdout(&output), stderr(&output));
    let decisions = decisions(&output);
    let events = facecmp(&["events", "--db", db, "--json"]);
    assert_eq!(stdout(&events).lines().count(), decisions.len(), "every decision is in the audit trail");
    decisions
}

fn decisions(output: &Output) -> Vec<(f64, bool, String, Option<String>)> {
    stdout(output)
        .lines()
        .map(|line| {
            let d: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let person = d["person"].as_str().map(String::from);
            (d["time"].as_f64().unwrap(), d["allowed"] == true, d["reason"].as_str().unwrap().into(), person)
        })
        .collect()
}

#[test]
fn a_stranger_who_takes_the_allowed_persons_place_is_denied() {
    let dir = tempfile::tempdir().unwrap();
    // No gap: the stranger's face is in the next frame, where Obama's was.
    // Then the stranger again, elsewhere, for 0.3 s only: too short for 5
    // frames of evidence, and still denied once gone.
    let scenes = [
        Scene { photo: "obama2.jpg", crop: "iw*0.8:ih*0.6:0:0", start: 0.0, end: 3.0, x: "120" },
        Scene { photo: "biden.jpg", crop: "iw:ih*0.4:0:0", start: 3.0, end: 6.0, x: "120" },
        Scene { photo: "biden.jpg", crop: "iw:ih*0.4:0:0", start: 7.0, end: 7.3, x: "320" },
    ];
    let clip = make_shots(dir.path(), "stranger.mp4", &scenes, 9.0, &[]);
    for engine in engines() {
        let db = gallery(dir.path(), false);
        let decisions = watch(engine, &clip, &db);
        let summary: Vec<(bool, &str)> = decisions.iter().map(|d| (d.1, d.2.as_str())).collect();
        assert_eq!(
            summary,
            [(true, "granted"), (false, "unknown"), (false, "unknown")],
            "{engine}: {decisions:?}"
        );
        assert_eq!(decisions[0].3.as_deref(), Some("Obama"));
        let times: Vec<f64> = decisions.iter().map(|d| d.0).collect();
        assert!(times[0] < 1.0, "{engine}: {decisions:?}");
        assert!(
            (3.0..4.5).contains(&times[1]),
            "{engine}: decided within 1.5 s of stepping in: {decisions:?}"
        );
        assert!((7.0..8.6).contains(&times[2]), "{engine}: the glimpse is denied once gone: {decisions:?}");
        std::fs::remove_file(&db).unwrap();
    }
}

#[test]
fn the_granted_person_is_decided_again_after_someone_else_was_in_view() {
    let dir = tempfile::tempdir().unwrap();
    let scenes = [
        Scene { photo: "obama2.jpg", crop: "iw*0.8:ih*0.6:0:0", start: 0.0, end: 3.0, x: "120" },
        Scene { photo: "biden.jpg", crop: "iw:ih*0.4:0:0", start: 3.5, end: 5.5, x: "120" },
        Scene { photo: "obama3.jpg", crop: "iw*0.6:ih*0.4:iw*0.2:0", start: 6.0, end: 9.0, x: "120" },
    ];
    let clip = make_shots(dir.path(), "back.mp4", &scenes, 10.0, &[]);
    for engine in engines() {
        let db = gallery(dir.path(), true);
        // Within the default 10 s cooldown: Biden in between makes Obama's
        // return a new appearance.
        let decisions = watch(engine, &clip, &db);
        let summary: Vec<(bool, &str)> = decisions.iter().map(|d| (d.1, d.2.as_str())).collect();
        assert_eq!(
            summary,
            [(true, "granted"), (false, "not_granted"), (true, "granted")],
            "{engine}: {decisions:?}"
        );
        for ((time, ..), scene) in decisions.iter().zip(&scenes) {
            assert!(*time >= scene.start && *time <= scene.start + 1.5, "{engine}: {decisions:?}");
        }
        std::fs::remove_file(&db).unwrap();
    }
}

#[test]
fn a_cut_ends_every_appearance_in_search_and_in_watch() {
    let dir = tempfile::tempdir().unwrap();
    // Obama in one shot, a cut at 3 s, Obama again (another photo, another place).
    let scenes = [
        Scene { photo: "obama2.jpg", crop: "iw*0.8:ih*0.6:0:0", start: 0.0, end: 3.0, x: "60" },
        Scene { photo: "obama3.jpg", crop: "iw*0.6:ih*0.4:iw*0.2:0", start: 3.0, end: 6.0, x: "200" },
    ];
    let clip = make_shots(dir.path(), "cut.mp4", &scenes, 6.5, &[3.0]);
    for engine in engines() {
        let output = facecmp(&[
            "--runtime",
            engine,
            "search",
            "--json",
            "--fps",
            "10",
            "--face",
            &data("obama.jpg"),
            clip.to_str().unwrap(),
        ]);
        assert_eq!(status(&output), 0, "{}{}", stdout(&output), stderr(&output));
        let spans: Vec<(f64, f64)> = stdout(&output)
            .lines()
            .map(|line| {
                let a: Value = serde_json::from_str(line).unwrap();
                (a["start"].as_f64().unwrap(), a["end"].as_f64().unwrap())
            })
            .collect();
        let [(first_start, first_end), (second_start, second_end)] = spans.as_slice() else {
            panic!("{engine}: two appearances, one a shot: {spans:?}");
        };
        assert!(*first_start <= 0.2 && *first_end < 3.0 && *first_end >= 2.7, "{engine}: {spans:?}");
        assert!(*second_start >= 3.0 && *second_start <= 3.2 && *second_end >= 5.7, "{engine}: {spans:?}");

        let db = gallery(dir.path(), false);
        let decisions = watch(engine, &clip, &db);
        let allows: Vec<f64> = decisions.iter().filter(|d| d.1).map(|d| d.0).collect();
        assert_eq!(decisions.len(), 2, "{engine}: {decisions:?}");
        assert!(allows.len() == 2 && allows[1] >= 3.0, "{engine}: one allow a shot: {decisions:?}");
        std::fs::remove_file(&db).unwrap();
    }
}
