//! Lift-like clips built from the fixture photos with the ffmpeg program,
//! and a gallery to watch them with: shared by the video and serve tests
//! (each includes this file with `#[path]`, so each uses only a part of it).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(name).display().to_string()
}

pub fn facecmp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facecmp")).args(args).output().expect("facecmp runs")
}

pub fn status(output: &Output) -> i32 {
    output.status.code().expect("facecmp exits normally, not by a signal")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// A scene: a fixture photo (cropped to head and shoulders) moving across
/// a grey 640×480 canvas from `start` to `end` seconds.
pub struct Scene {
    pub photo: &'static str,
    pub crop: &'static str,
    pub start: f64,
    pub end: f64,
    pub x: &'static str,
}

/// Obama (two other photos than the reference), nobody, Biden, nobody, Obama.
pub const LIFT: [Scene; 3] = [
    Scene { photo: "obama2.jpg", crop: "iw*0.8:ih*0.6:0:0", start: 0.0, end: 3.0, x: "40+30*t" },
    Scene { photo: "biden.jpg", crop: "iw:ih*0.4:0:0", start: 5.0, end: 8.0, x: "150-30*(t-5)" },
    Scene { photo: "obama3.jpg", crop: "iw*0.6:ih*0.4:iw*0.2:0", start: 10.0, end: 13.0, x: "100+20*(t-10)" },
];
pub const LIFT_SECONDS: f64 = 14.0;

/// Encodes the scenes as a 25 fps H.264 MP4, `lift.mp4`.
pub fn make_clip(dir: &Path, scenes: &[Scene], seconds: f64) -> PathBuf {
    make_shots(dir, "lift.mp4", scenes, seconds, &[])
}

/// Like [`make_clip`], with a shot change at each of `cuts` (seconds): the
/// canvas turns from grey to light grey and back, as a cut to another
/// camera changes the whole picture.
pub fn make_shots(dir: &Path, name: &str, scenes: &[Scene], seconds: f64, cuts: &[f64]) -> PathBuf {
    let out = dir.join(name);
    let mut args: Vec<String> =
        ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"].map(String::from).to_vec();
    let mut canvas = format!("color=c=0x505050:s=640x480:r=25:d={seconds}");
    let mut bounds: Vec<f64> = cuts.to_vec();
    bounds.push(seconds);
    for shot in bounds.windows(2).step_by(2) {
        canvas.push_str(&format!(
            ",drawbox=x=0:y=0:w=iw:h=ih:color=0xd0d0d0:t=fill:enable='gte(t,{})*lt(t,{})'",
            shot[0], shot[1]
        ));
    }
    args.push(canvas);
    for scene in scenes {
        args.extend(["-i".into(), data(scene.photo)]);
    }
    let mut graph = Vec::new();
    let mut last = "0".to_string();
    for (i, scene) in scenes.iter().enumerate() {
        // Decoded and scaled once, then repeated: cheap to encode.
        graph.push(format!("[{}]crop={},scale=-2:400,loop=loop=-1:size=1[p{i}]", i + 1, scene.crop));
        graph.push(format!(
            "[{last}][p{i}]overlay=x='{}':y=40:enable='between(t,{},{})'[v{i}]",
            scene.x, scene.start, scene.end
        ));
        last = format!("v{i}");
    }
    if graph.is_empty() {
        args.extend(["-map", "0:v"].map(String::from));
    } else {
        args.extend(["-filter_complex".into(), graph.join(";"), "-map".into(), format!("[{last}]")]);
    }
    args.extend(
        ["-t", &seconds.to_string(), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
            .map(String::from),
    );
    args.push(out.display().to_string());
    let output = Command::new("ffmpeg").args(&args).output().expect("ffmpeg runs");
    assert!(output.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&output.stderr));
    out
}

/// A gallery with Obama granted `zone` and Biden enrolled without it.
pub fn gallery_granting(dir: &Path, zone: &str) -> String {
    let db = dir.join("building.db").display().to_string();
    for args in [
        vec!["gallery", "init", &db],
        vec!["enroll", "--db", &db, "--name", "Obama", "--zone", zone, &data("obama.jpg")],
        vec!["enroll", "--db", &db, "--name", "Biden", &data("biden.jpg")],
    ] {
        let output = facecmp(&args);
        assert_eq!(status(&output), 0, "{args:?}: {}{}", stdout(&output), stderr(&output));
    }
    db
}
