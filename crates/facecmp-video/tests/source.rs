//! Frames from the real ffmpeg program: exact times, every frame of a file,
//! only the newest of a paced source, and clear errors.
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use facecmp_video::{FrameStream, ReadOptions, VideoError, VideoSource};

fn ffmpeg(args: &[&str]) {
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "ffmpeg {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

fn read_all(source: &str, options: &ReadOptions) -> Result<Vec<(f64, u32, u32)>, VideoError> {
    let mut stream = FrameStream::open(&VideoSource::parse(source), options)?;
    let mut frames = Vec::new();
    while let Some(frame) = stream.next_frame() {
        let frame = frame?;
        frames.push((frame.time, frame.image.width(), frame.image.height()));
    }
    Ok(frames)
}

/// `frames` frames of ffmpeg's test pattern (`size:rate`), retimed by the
/// `setpts` expression `pts` and kept variable-rate, as `dir/vfr.mkv`.
fn variable_rate_clip(dir: &Path, pattern: &str, frames: u32, pts: &str) -> PathBuf {
    let clip = dir.join("vfr.mkv");
    let (input, frames, retime) =
        (format!("testsrc2=size={pattern}"), frames.to_string(), format!("setpts='{pts}'"));
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &input,
        "-frames:v",
        &frames,
        "-vf",
        &retime,
        "-fps_mode",
        "vfr",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        clip.to_str().unwrap(),
    ]);
    clip
}

/// With a sampling rate, ffmpeg passes on exactly the frames the analysis
/// samples (before scaling them), still with their own times.
#[test]
fn a_sampling_rate_drops_frames_in_ffmpeg_by_the_sampler_rule() {
    let dir = tempfile::tempdir().unwrap();
    // 25 fps for 2 s, then a gap, then 5 fps: 0.00 0.04 … 1.96, 3.0 3.2 … 4.8.
    // In ticks of the input's 1/25 s time base, so that every time is exact.
    let clip = variable_rate_clip(dir.path(), "320x240:rate=25", 60, "if(lt(N,50),N,75+(N-50)*5)");
    let all = read_all(clip.to_str().unwrap(), &ReadOptions::default()).unwrap();
    assert_eq!(all.len(), 60);
    // 5 fps: every 5th frame, then all; 10 fps: every 3rd and 2nd alternately, then all.
    for (fps, count) in [(5.0, 10 + 10), (10.0, 20 + 10)] {
        let mut sampler = facecmp_video::Sampler::new(fps);
        let expected: Vec<f64> = all.iter().map(|f| f.0).filter(|&t| sampler.take(t)).collect();
        let options = ReadOptions { sample_fps: fps, max_side: Some(160), ..ReadOptions::default() };
        let sampled = read_all(clip.to_str().unwrap(), &options).unwrap();
        let times: Vec<f64> = sampled.iter().map(|f| f.0).collect();
        assert_eq!(times, expected, "{fps} fps");
        assert_eq!(times.len(), count, "{fps} fps: {times:?}");
        assert!(sampled.iter().all(|&(_, width, height)| (width, height) == (160, 120)));
    }
}

#[test]
fn variable_frame_rate_files_are_timed_exactly_and_every_frame_arrives() {
    let dir = tempfile::tempdir().unwrap();
    // Ten frames 0.1 s apart, then twenty 0.5 s apart: a constant-rate
    // guess (frame / fps) would be wrong by seconds at the end.
    let clip = variable_rate_clip(dir.path(), "160x120:rate=10", 30, "if(lt(N,10),N*0.1,1+(N-10)*0.5)/TB");
    let frames = read_all(clip.to_str().unwrap(), &ReadOptions::default()).unwrap();
    assert_eq!(frames.len(), 30);
    for (n, (time, width, height)) in frames.iter().enumerate() {
        let expected = if n < 10 { n as f64 * 0.1 } else { 1.0 + (n - 10) as f64 * 0.5 };
        assert!((time - expected).abs() < 2e-3, "frame {n}: {time} s, expected {expected} s");
        assert_eq!((*width, *height), (160, 120));
    }
}

/// A resumed index reads a file from where it stopped, and its frames keep
/// their times in the file.
#[test]
fn a_file_read_from_a_start_time_keeps_its_times() {
    let dir = tempfile::tempdir().unwrap();
    let clip = variable_rate_clip(dir.path(), "160x120:rate=10", 30, "N*0.1/TB");
    let options = ReadOptions { start_at: 2.0, ..ReadOptions::default() };
    let frames = read_all(clip.to_str().unwrap(), &options).unwrap();
    let times: Vec<f64> = frames.iter().map(|f| f.0).collect();
    assert_eq!(times.len(), 10, "{times:?}");
    for (n, time) in times.iter().enumerate() {
        assert!((time - (2.0 + n as f64 * 0.1)).abs() < 2e-3, "{times:?}");
    }
}

#[test]
fn large_frames_are_scaled_down_by_ffmpeg_keeping_their_shape() {
    let frames =
        read_all("lavfi:testsrc2=size=1920x1080:rate=10:duration=0.3", &ReadOptions::default()).unwrap();
    assert_eq!(frames.len(), 3);
    assert!(frames.iter().all(|&(_, w, h)| (w, h) == (1280, 720)), "{frames:?}");
    let full = ReadOptions { max_side: None, ..ReadOptions::default() };
    let frames = read_all("lavfi:testsrc2=size=1920x1080:rate=10:duration=0.1", &full).unwrap();
    assert_eq!((frames[0].1, frames[0].2), (1920, 1080));
}

#[test]
fn a_paced_source_hands_over_only_the_newest_frame() {
    // 100 frames a second, taken every 100 ms: about nine of ten must be
    // dropped, and what is taken is recent rather than ever older.
    let options = ReadOptions { realtime: true, ..ReadOptions::default() };
    let mut stream =
        FrameStream::open(&VideoSource::parse("lavfi:testsrc2=size=320x240:rate=100"), &options).unwrap();
    let mut times = Vec::new();
    for _ in 0..10 {
        let frame = stream.next_frame().unwrap().unwrap();
        times.push(frame.time);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        stream.stats().dropped() >= 20,
        "dropped {} of {}",
        stream.stats().dropped(),
        stream.stats().decoded()
    );
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().skip(1).all(|&gap| gap > 0.05), "consecutive frames taken: {times:?}");
}

#[test]
fn unreadable_sources_fail_with_a_message_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a video at all\n").unwrap();
    let audio = dir.path().join("tone.m4a");
    ffmpeg(&["-f", "lavfi", "-i", "sine=duration=0.5", audio.to_str().unwrap()]);
    let missing = dir.path().join("missing.mp4");
    for (source, expected) in [
        (missing.to_str().unwrap(), "No such file or directory"),
        (text.to_str().unwrap(), "Invalid data found"),
        (audio.to_str().unwrap(), "matches no streams"),
        ("rtsp://127.0.0.1:1/camera", "Connection refused"),
    ] {
        let started = Instant::now();
        let error = read_all(source, &ReadOptions::default()).unwrap_err().to_string();
        assert!(error.starts_with(source) && error.contains(expected), "{error}");
        assert!(started.elapsed() < Duration::from_secs(30), "{source} took {:?}", started.elapsed());
    }
    let nowhere = ReadOptions { ffmpeg: "/nonexistent/ffmpeg".into(), ..ReadOptions::default() };
    let error = read_all(missing.to_str().unwrap(), &nowhere).unwrap_err().to_string();
    assert!(error.contains("cannot run /nonexistent/ffmpeg") && error.contains("install ffmpeg"), "{error}");
    assert!(!Path::new("/nonexistent/ffmpeg").exists());
}
