//! `facecmp search` and `facecmp watch` on real video: clips built here from
//! the fixture photos with the ffmpeg program, and a real RTSP server on
//! loopback (GStreamer's gst-rtsp-server, when installed).
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "support/clips.rs"]
mod clips;
use clips::{LIFT, LIFT_SECONDS, data, facecmp, gallery_granting, make_clip, status, stderr, stdout};

fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// Sampling at 5 fps: a time is right within one step (and one frame).
const STEP: f64 = 0.2 + 0.04 + 1e-6;

fn number(value: &Value, key: &str) -> f64 {
    value[key].as_f64().unwrap_or_else(|| panic!("`{key}` is not a number in {value}"))
}

#[test]
fn search_finds_obamas_scenes_and_not_bidens_with_a_contact_sheet() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), &LIFT, LIFT_SECONDS);
    let sheet = dir.path().join("sheet.png");
    let snapshots = dir.path().join("snapshots");
    let output = facecmp(&[
        "search",
        "--json",
        "--face",
        &data("obama.jpg"),
        "--fps",
        "5",
        "--contact-sheet",
        sheet.to_str().unwrap(),
        "--snapshots",
        snapshots.to_str().unwrap(),
        clip.to_str().unwrap(),
    ]);
    assert_eq!(status(&output), 0, "{}{}", stdout(&output), stderr(&output));
    let found = json_lines(&output);
    let spans: Vec<(f64, f64)> = found.iter().map(|a| (number(a, "start"), number(a, "end"))).collect();
    assert_eq!(found.len(), 2, "Obama's two scenes, not Biden's: {spans:?}");
    for (appearance, scene) in found.iter().zip([&LIFT[0], &LIFT[2]]) {
        assert_eq!(appearance["source"], clip.to_str().unwrap());
        assert_eq!(appearance["target"], data("obama.jpg").as_str());
        let (start, end) = (number(appearance, "start"), number(appearance, "end"));
        assert!((start - scene.start).abs() <= STEP, "start {start}, scene starts at {}", scene.start);
        assert!((end - scene.end).abs() <= STEP, "end {end}, scene ends at {}", scene.end);
        assert!(number(appearance, "similarity") >= 0.364);
        assert!(appearance["track"].as_u64().is_some());
        let best = number(appearance, "best_time");
        assert!(start <= best && best <= end);
    }
    let sheet = image::open(&sheet).expect("a contact sheet PNG").to_rgb8();
    assert!(sheet.width() >= 400 && sheet.height() >= 200, "{}×{}", sheet.width(), sheet.height());
    assert_eq!(std::fs::read_dir(&snapshots).unwrap().count(), 2);
    eprintln!("search on a {LIFT_SECONDS} s clip: {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn search_of_the_gallery_names_everyone_once_per_appearance() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), &LIFT, LIFT_SECONDS);
    let db = gallery_granting(dir.path(), "lift");
    let output = facecmp(&["search", "--json", "--gallery", "--db", &db, clip.to_str().unwrap()]);
    assert_eq!(status(&output), 0, "{}{}", stdout(&output), stderr(&output));
    let names: Vec<String> =
        json_lines(&output).iter().map(|a| a["target"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["Obama", "Biden", "Obama"]);
    // Only Biden: his scene alone.
    let output = facecmp(&["search", "--json", "--person", "Biden", "--db", &db, clip.to_str().unwrap()]);
    let found = json_lines(&output);
    assert_eq!(found.len(), 1, "{}", stdout(&output));
    assert!((number(&found[0], "start") - 5.0).abs() <= STEP);
    // Nobody of interest: exit 1.
    let empty = make_clip(dir.path(), &[], 2.0);
    let output = facecmp(&["search", "--face", &data("obama.jpg"), empty.to_str().unwrap()]);
    assert_eq!(status(&output), 1, "{}{}", stdout(&output), stderr(&output));
    assert_eq!(stdout(&output), "");
}

fn decisions_of(output: &Output) -> Vec<Value> {
    let decisions = json_lines(output);
    for d in &decisions {
        for key in
            ["time", "wall_time", "similarity_or_null", "zone", "allowed", "reason", "track", "event_id"]
        {
            if key == "similarity_or_null" {
                assert!(d["similarity"].is_null() || d["similarity"].is_f64(), "{d}");
                continue;
            }
            assert!(!d[key].is_null(), "`{key}` missing in {d}");
        }
        assert!(d["time"].is_f64() && d["allowed"].is_boolean());
    }
    decisions
}

#[test]
fn watch_allows_the_granted_person_once_per_appearance_and_nobody_else() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), &LIFT, LIFT_SECONDS);
    let db = gallery_granting(dir.path(), "lift");
    let relay = dir.path().join("relay.log");
    let on_allow = format!("echo \"$FACECMP_PERSON $FACECMP_ZONE $FACECMP_EVENT_ID\" >> {}", relay.display());
    let output = facecmp(&[
        "watch",
        clip.to_str().unwrap(),
        "--zone",
        "lift",
        "--db",
        &db,
        "--json",
        "--cooldown",
        "3",
        "--on-allow",
        &on_allow,
        "--name",
        "lift-north",
    ]);
    assert_eq!(status(&output), 0, "{}{}", stdout(&output), stderr(&output));
    let decisions = decisions_of(&output);
    let allows: Vec<&Value> = decisions.iter().filter(|d| d["allowed"] == true).collect();
    let summary: Vec<String> = decisions
        .iter()
        .map(|d| format!("{:.2} {} {} {}", number(d, "time"), d["allowed"], d["reason"], d["person"]))
        .collect();
    assert_eq!(allows.len(), 2, "one allow per appearance of Obama: {summary:?}");
    for (allow, scene) in allows.iter().zip([&LIFT[0], &LIFT[2]]) {
        assert_eq!(allow["person"], "Obama");
        assert_eq!(allow["reason"], "granted");
        assert_eq!(allow["source"], "lift-north", "--name is the recorded source");
        let time = number(allow, "time");
        // Three of five frames at 10 fps: decided within a second of entering.
        assert!(time >= scene.start && time <= scene.start + 1.0, "allowed at {time}: {summary:?}");
    }
    assert_ne!(allows[0]["track"], allows[1]["track"]);
    let biden: Vec<&Value> =
        decisions.iter().filter(|d| number(d, "time") > 4.0 && number(d, "time") < 9.0).collect();
    assert_eq!(biden.len(), 1, "one decision for Biden: {summary:?}");
    assert_eq!(biden[0]["allowed"], false);
    assert_eq!(biden[0]["reason"], "not_granted");
    // Every decision is in the audit trail, and only allows ran the relay.
    let events = facecmp(&["events", "--db", &db, "--json"]);
    assert_eq!(stdout(&events).lines().count(), decisions.len(), "{}", stdout(&events));
    for event in stdout(&events).lines().map(|line| serde_json::from_str::<Value>(line).unwrap()) {
        assert_eq!(event["source"], "lift-north", "{event}");
    }
    let relay = std::fs::read_to_string(&relay).unwrap();
    let expected: Vec<String> = allows.iter().map(|a| format!("Obama lift {}", a["event_id"])).collect();
    assert_eq!(relay.lines().collect::<Vec<_>>(), expected);

    // A stranger (Biden erased) is denied as unknown; where the zone keeps
    // probe crops, the face that matched nobody is kept for an operator.
    for step in
        [vec!["remove", "--db", &db, "Biden"], vec!["zone", "--db", &db, "lift", "--keep-probe-crops", "1h"]]
    {
        let output = facecmp(&step);
        assert_eq!(status(&output), 0, "{step:?}: {}", stderr(&output));
    }
    let output = facecmp(&["watch", clip.to_str().unwrap(), "--zone", "lift", "--db", &db, "--json"]);
    let stranger: Vec<Value> = decisions_of(&output)
        .into_iter()
        .filter(|d| number(d, "time") > 4.0 && number(d, "time") < 9.0)
        .collect();
    assert_eq!(stranger.len(), 1, "{}", stdout(&output));
    assert_eq!(stranger[0]["reason"], "unknown");
    let events = facecmp(&["events", "--db", &db, "--json", "--decision", "deny"]);
    let unknown: Vec<Value> = stdout(&events)
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|event| event["reason"] == "unknown")
        .collect();
    assert_eq!(unknown.len(), 1, "{}", stdout(&events));
    assert_eq!(unknown[0]["has_probe_crop"], true, "{}", unknown[0]);
    eprintln!("watch on a {LIFT_SECONDS} s clip: {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn bad_sources_exit_2_with_one_line_naming_them_in_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a video\n").unwrap();
    let missing = dir.path().join("missing.mp4");
    // A "camera" that accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("rtsp://{}/stream", silent.local_addr().unwrap());
    let face = data("obama.jpg");
    for source in
        [missing.to_str().unwrap(), text.to_str().unwrap(), "rtsp://127.0.0.1:1/stream", &silent_url]
    {
        let started = Instant::now();
        let output = facecmp(&["search", "--face", &face, "--stall-timeout", "3", source]);
        assert_eq!(status(&output), 2, "{source}: {}{}", stdout(&output), stderr(&output));
        let message = stderr(&output);
        let lines: Vec<&str> = message.lines().filter(|l| !l.starts_with("facecmp: warning:")).collect();
        assert_eq!(lines.len(), 1, "{source}: {message}");
        assert!(lines[0].starts_with(&format!("facecmp: {source}: ")), "{message}");
        assert!(started.elapsed() < Duration::from_secs(60), "{source}: {:?}", started.elapsed());
    }
    let output = Command::new(env!("CARGO_BIN_EXE_facecmp"))
        .args(["search", "--face", &face, missing.to_str().unwrap()])
        .env("FACECMP_FFMPEG", "/nonexistent/ffmpeg")
        .output()
        .unwrap();
    assert_eq!(status(&output), 2);
    assert!(stderr(&output).contains("install ffmpeg"), "{}", stderr(&output));
}

// ---- RTSP on loopback ------------------------------------------------------

/// gst-rtsp-server serving a clip, killed when dropped.
struct RtspServer {
    child: Child,
}

impl RtspServer {
    fn start(port: u16, clip: &Path) -> Option<RtspServer> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/video_rtsp_server.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(port.to_string())
            .arg("/lift")
            .arg(clip)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .ok()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).ok()?;
        if line.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        Some(RtspServer { child })
    }

    fn signal(&self, signal: &str) {
        Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status().unwrap();
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.signal("CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The RTSP tests need gst-rtsp-server; CI installs it (`.ci/run`), and
/// FACECMP_REQUIRE_RTSP=1 turns its absence into a failure.
fn rtsp_available() -> bool {
    let available = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer",
        ])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        assert!(
            std::env::var_os("FACECMP_REQUIRE_RTSP").is_none(),
            "gst-rtsp-server (python3-gi) is not installed"
        );
        eprintln!("skipped: gst-rtsp-server (python3-gi) is not installed");
    }
    available
}

#[test]
fn search_reads_an_rtsp_camera() {
    if !rtsp_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), &LIFT, LIFT_SECONDS);
    let port = free_port();
    let _server = RtspServer::start(port, &clip).expect("the RTSP server starts");
    let url = format!("rtsp://127.0.0.1:{port}/lift");
    let output = facecmp(&["search", "--json", "--face", &data("obama.jpg"), "--duration", "5", &url]);
    assert_eq!(status(&output), 0, "{}{}", stdout(&output), stderr(&output));
    let found = json_lines(&output);
    assert_eq!(found.len(), 1, "{}", stdout(&output));
    assert_eq!(found[0]["source"], url.as_str());
    assert!(number(&found[0], "start") < 1.5, "{}", stdout(&output));
}

#[test]
fn watch_survives_a_stalled_and_a_restarted_rtsp_camera() {
    if !rtsp_available() {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), &LIFT, LIFT_SECONDS);
    let db = gallery_granting(dir.path(), "lift");
    let port = free_port();
    let server = RtspServer::start(port, &clip).expect("the RTSP server starts");
    let url = format!("rtsp://127.0.0.1:{port}/lift");
    let watch = Command::new(env!("CARGO_BIN_EXE_facecmp"))
        .args(["watch", &url, "--zone", "lift", "--db", &db, "--json", "--cooldown", "1"])
        .args(["--stall-timeout", "2", "--duration", "15", "--stats"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Obama is allowed in the first seconds; then the camera freezes
    // (SIGSTOP: the connection stays open, nothing arrives), then dies and
    // comes back (a new server on the same port, serving from the start).
    std::thread::sleep(Duration::from_secs(4));
    server.signal("STOP");
    std::thread::sleep(Duration::from_secs(4));
    drop(server);
    let _restarted = RtspServer::start(port, &clip).expect("the RTSP server restarts");
    let output = watch.wait_with_output().unwrap();
    assert_eq!(status(&output), 0, "{}{}", stdout(&output), stderr(&output));
    let decisions = decisions_of(&output);
    let allows: Vec<f64> =
        decisions.iter().filter(|d| d["allowed"] == true).map(|d| number(d, "time")).collect();
    assert!(decisions.iter().filter(|d| d["allowed"] == true).all(|d| d["person"] == "Obama"));
    assert!(allows.iter().any(|&t| t < 4.0), "allowed before the stall: {allows:?}");
    assert!(allows.iter().any(|&t| t > 8.0), "allowed after the restart: {allows:?}\n{}", stderr(&output));
    assert!(stderr(&output).contains("reconnecting"), "{}", stderr(&output));
    eprintln!("RTSP stall and restart: {:.1} s", started.elapsed().as_secs_f64());
}
