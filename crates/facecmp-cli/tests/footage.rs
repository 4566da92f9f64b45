//! `facecmp index` and `facecmp find` on real footage (clips built here from
//! the fixture photos with the ffmpeg program) and a real SQLite gallery:
//! found by photo and by name at the right times, nothing for a stranger,
//! no duplicates on a second run or after a kill, erasure.
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "support/clips.rs"]
mod clips;
use clips::{
    LIFT, LIFT_SECONDS, Scene, data, facecmp, gallery_granting, make_clip, make_shots, status, stderr, stdout,
};

/// Sampling at 5 fps: a time is right within one step (and one frame).
const STEP: f64 = 0.2 + 0.04 + 1e-6;

fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn ok(args: &[&str]) -> Output {
    let output = facecmp(args);
    assert_eq!(status(&output), 0, "{args:?}: {}{}", stdout(&output), stderr(&output));
    output
}

/// (start, end) of every appearance of the gallery, by the database itself.
fn stored_spans(db: &str) -> Vec<(i64, i64)> {
    let connection = rusqlite::Connection::open(db).unwrap();
    let mut statement = connection
        .prepare("SELECT media_start_ms, media_end_ms FROM appearances ORDER BY media_start_ms")
        .unwrap();
    statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?))).unwrap().map(Result::unwrap).collect()
}

#[test]
fn indexed_footage_is_found_by_photo_and_by_name_and_not_for_a_stranger() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), &LIFT, LIFT_SECONDS);
    let db = gallery_granting(dir.path(), "lift");
    let indexed = json_lines(&ok(&["index", "--db", &db, "--json", clip.to_str().unwrap()]));
    assert_eq!(indexed.len(), 3, "one appearance a scene: {indexed:?}");
    let people: Vec<&str> = indexed.iter().map(|a| a["person"].as_str().unwrap_or("-")).collect();
    assert_eq!(people, ["Obama", "Biden", "Obama"], "matched to the enrolled people at indexing");

    for query in [vec!["--face", &data("obama.jpg")], vec!["--person", "Obama"]] {
        let mut args = vec!["find", "--db", &db, "--json"];
        args.extend(query.iter().copied());
        let found = json_lines(&ok(&args));
        let mut spans: Vec<(f64, f64)> =
            found.iter().map(|a| (a["start"].as_f64().unwrap(), a["end"].as_f64().unwrap())).collect();
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(spans.len(), 2, "{query:?}: Obama's two scenes: {spans:?}");
        for ((start, end), scene) in spans.iter().zip([&LIFT[0], &LIFT[2]]) {
            assert!((start - scene.start).abs() <= STEP && (end - scene.end).abs() <= STEP, "{spans:?}");
        }
        assert!(found.iter().all(|a| a["matched"] == true && a["source"] == clip.to_str().unwrap()));
    }
    // Only a time range: the second scene.
    let late = json_lines(&ok(&["find", "--db", &db, "--json", "--person", "Obama", "--from", "0:09"]));
    assert_eq!(late.len(), 1, "{late:?}");
    // A stranger (the largest face of bald_guys.jpg) is in none of it.
    let stranger = facecmp(&["find", "--db", &db, "--face", &data("bald_guys.jpg")]);
    assert_eq!(status(&stranger), 1, "{}{}", stdout(&stranger), stderr(&stranger));
    assert_eq!(stdout(&stranger), "");
    // A contact sheet of what was found, from the stored thumbnails.
    let sheet = dir.path().join("found.png");
    ok(&["find", "--db", &db, "--person", "Obama", "--contact-sheet", sheet.to_str().unwrap()]);
    assert!(image::open(&sheet).unwrap().width() >= 200);

    // Erasing Obama erases the appearances matched to him.
    ok(&["remove", "--db", &db, "Obama"]);
    let after = facecmp(&["find", "--db", &db, "--face", &data("obama.jpg"), "--json"]);
    assert_eq!(status(&after), 1, "{}", stdout(&after));
    assert_eq!(stored_spans(&db).len(), 1, "Biden's appearance is all that is left");
}

#[test]
fn indexing_twice_or_after_a_kill_finds_each_appearance_once() {
    let dir = tempfile::tempdir().unwrap();
    // Ten scenes of 2 s, a second apart: 30 s, several commits (every 10 s of video).
    let scenes: Vec<Scene> = (0..10)
        .map(|i| {
            let (photo, crop) =
                if i % 2 == 0 { ("obama2.jpg", "iw*0.8:ih*0.6:0:0") } else { ("biden.jpg", "iw:ih*0.4:0:0") };
            let start = i as f64 * 3.0;
            Scene { photo, crop, start, end: start + 2.0, x: "100" }
        })
        .collect();
    let clip = make_shots(dir.path(), "long.mp4", &scenes, 30.0, &[]);
    let clip = clip.to_str().unwrap();

    let clean = dir.path().join("clean.db").display().to_string();
    ok(&["gallery", "init", &clean]);
    ok(&["index", "--db", &clean, clip]);
    let expected = stored_spans(&clean);
    assert_eq!(expected.len(), 10, "{expected:?}");
    let again = ok(&["index", "--db", &clean, clip]);
    assert!(stderr(&again).contains("indexed already"), "{}", stderr(&again));
    assert_eq!(stored_spans(&clean), expected, "a second run adds nothing");

    // Killed (SIGKILL) once the first batch is in: what was committed stays,
    // and the next run adds the rest, each appearance once.
    let killed = dir.path().join("killed.db").display().to_string();
    ok(&["gallery", "init", &killed]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_facecmp"))
        .args(["--runtime", "tract", "index", "--db", &killed, clip])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while stored_spans(&killed).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let committed = stored_spans(&killed);
    assert!(!committed.is_empty() && committed.len() < 10, "killed part-way: {committed:?}");
    ok(&["index", "--db", &killed, clip]);
    let resumed = stored_spans(&killed);
    assert_eq!(resumed.len(), 10, "{resumed:?}");
    for ((start, end), (want_start, want_end)) in resumed.iter().zip(&expected) {
        assert!(
            (start - want_start).abs() <= 250 && (end - want_end).abs() <= 250,
            "{resumed:?} vs {expected:?}"
        );
    }
}

#[test]
fn unusable_sources_and_queries_exit_2_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db").display().to_string();
    ok(&["gallery", "init", &db]);
    let missing = dir.path().join("missing.mp4");
    let output = facecmp(&["index", "--db", &db, missing.to_str().unwrap()]);
    assert_eq!(status(&output), 2);
    assert!(stderr(&output).contains("missing.mp4"), "{}", stderr(&output));
    let output = facecmp(&["find", "--db", &db, "--person", "Nobody"]);
    assert_eq!(status(&output), 2, "{}", stderr(&output));
    let output = facecmp(&["find", "--db", &db, "--face", &data("no_face.png")]);
    assert_eq!(status(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("no_face.png"), "{}", stderr(&output));
    let output = facecmp(&["find", "--db", &db, "--face", &data("obama.jpg"), "--source", "nowhere.mp4"]);
    assert_eq!(status(&output), 2, "{}", stderr(&output));
    let output = facecmp(&["index", "--db", &db, "--retention", "1s", &data("obama.jpg")]);
    assert_eq!(status(&output), 2, "{}", stderr(&output));
    // A folder of photos: each face an appearance; the unreadable files are not photos to it.
    let photos = dir.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    for name in ["obama2.jpg", "biden.jpg"] {
        std::fs::copy(data(name), photos.join(name)).unwrap();
    }
    let indexed = json_lines(&ok(&["index", "--db", &db, "--json", photos.to_str().unwrap()]));
    assert_eq!(indexed.len(), 2, "{indexed:?}");
    let found = json_lines(&ok(&["find", "--db", &db, "--json", "--face", &data("obama.jpg")]));
    assert_eq!(found.len(), 1);
    assert!(found[0]["source"].as_str().unwrap().ends_with("obama2.jpg"), "{found:?}");
}

/// The clusters of `db`, as `facecmp clusters --json` lists them (after clustering).
fn clusters(db: &str) -> Vec<Value> {
    json_lines(&ok(&["clusters", "--db", db, "--json"]))
}

#[test]
fn unknown_people_are_clustered_into_the_right_people_and_a_named_cluster_is_enrolled() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), &LIFT, LIFT_SECONDS);
    let db = dir.path().join("nobody.db").display().to_string();
    ok(&["gallery", "init", &db]);
    ok(&["index", "--db", &db, clip.to_str().unwrap()]);

    // Obama's two scenes (0–3 s, 10–13 s) are one candidate person, Biden's (5–8 s) another.
    let found = clusters(&db);
    assert_eq!(found.len(), 2, "{found:?}");
    let starts = |cluster: &Value| {
        (
            cluster["first_seen"]["media_start_ms"].as_i64().unwrap(),
            cluster["last_seen"]["media_start_ms"].as_i64().unwrap(),
        )
    };
    let (obama, biden) = (&found[0], &found[1]);
    assert_eq!(
        (obama["appearances"].as_u64(), biden["appearances"].as_u64()),
        (Some(2), Some(1)),
        "{found:?}"
    );
    let (first, last) = starts(obama);
    assert!(first < 1000 && (10_000..11_000).contains(&last), "{obama}");
    assert!((5_000..6_000).contains(&starts(biden).0), "{biden}");
    assert_eq!(clusters(&db).len(), 2, "clustering again changes nothing");
    let info: Value = serde_json::from_str(&stdout(&ok(&["gallery", "info", &db, "--json"]))).unwrap();
    assert_eq!(info["indexed_appearances"], 3, "{info}");

    // Naming the cluster enrols its faces: Obama can then be found by name, in both scenes.
    let id = obama["id"].as_i64().unwrap().to_string();
    let named = ok(&["clusters", "--db", &db, "--name", &id, "Obama"]);
    assert!(stdout(&named).contains("is Obama: 2 of 2 faces enrolled"), "{}", stdout(&named));
    let by_name = json_lines(&ok(&["find", "--db", &db, "--json", "--person", "Obama"]));
    assert_eq!(by_name.len(), 2, "{by_name:?}");
    assert_eq!(clusters(&db)[0]["name"], "Obama");

    // Merging moves the appearances; a cluster that is not a face leaves the search.
    let biden_id = biden["id"].as_i64().unwrap().to_string();
    ok(&["clusters", "--db", &db, "--not-a-face", &biden_id]);
    let biden_found = json_lines(&facecmp(&["find", "--db", &db, "--json", "--face", &data("biden.jpg")]));
    assert!(biden_found.is_empty(), "{biden_found:?}");
    ok(&["clusters", "--db", &db, "--merge", &id, &biden_id]);
    let merged = clusters(&db);
    assert_eq!(merged.len(), 1, "{merged:?}");
    assert_eq!(merged[0]["appearances"], 3);
}
