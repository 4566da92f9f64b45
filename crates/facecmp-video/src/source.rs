//! Video sources as users name them, how they are read, and what comes out:
//! the plain types of the video crate (ffmpeg itself runs in `decoder`,
//! the reader thread in `stream`).
//!
//! Frames from any video source are decoded by the `ffmpeg` program.
//!
//! facecmp does not link libav*: it runs `ffmpeg … -f rawvideo -pix_fmt
//! rgb24 pipe:1` and reads packed RGB frames from the pipe. Each frame's
//! exact presentation time comes from ffmpeg's `showinfo` filter on stderr
//! (its `pts_time`, so variable-frame-rate files are timed right), printed
//! just before the frame leaves the filter graph; with `-fps_mode
//! passthrough` ffmpeg neither duplicates nor drops frames after it, so the
//! n-th `showinfo` line belongs to the n-th frame on stdout.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use image::RgbImage;

use crate::sampler::Sampler;

/// How long to wait for ffmpeg to report a frame before calling it stalled,
/// when the caller sets no other limit.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The environment variable naming the ffmpeg program (default: `ffmpeg` on `PATH`).
pub const FFMPEG_ENV: &str = "FACECMP_FFMPEG";

/// What kind of input a source names, which decides how ffmpeg opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// A video file (any container and codec ffmpeg reads).
    File(PathBuf),
    /// A network stream: `rtsp://`, `rtsps://`, `http(s)://`, `tcp://`, `udp://`.
    Stream(String),
    /// A webcam: `/dev/videoN`, read with `-f v4l2`.
    Device(PathBuf),
    /// ffmpeg's synthetic test input, e.g. `lavfi:testsrc2=size=1280x720:rate=25`.
    Lavfi(String),
}

/// A video source as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoSource {
    /// The name used in messages and results (as given).
    pub name: String,
    pub kind: SourceKind,
}

impl VideoSource {
    pub fn parse(text: &str) -> VideoSource {
        let lower = text.to_ascii_lowercase();
        let kind = if let Some(graph) = text.strip_prefix("lavfi:") {
            SourceKind::Lavfi(graph.to_string())
        } else if ["rtsp://", "rtsps://", "http://", "https://", "tcp://", "udp://"]
            .iter()
            .any(|scheme| lower.starts_with(scheme))
        {
            SourceKind::Stream(text.to_string())
        } else if text.starts_with("/dev/video") {
            SourceKind::Device(PathBuf::from(text))
        } else {
            SourceKind::File(PathBuf::from(text))
        };
        VideoSource { name: text.to_string(), kind }
    }

    /// A camera: frames arrive in real time and the stream has no end, so
    /// ffmpeg exiting means "reconnect", not "done".
    pub fn is_live(&self) -> bool {
        matches!(self.kind, SourceKind::Stream(_) | SourceKind::Device(_))
    }

    /// ffmpeg's arguments for reading this source as raw RGB on stdout.
    pub fn ffmpeg_args(&self, options: &ReadOptions) -> Vec<String> {
        let mut args: Vec<String> =
            ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info"].map(String::from).to_vec();
        let input = match &self.kind {
            SourceKind::File(path) => {
                if options.start_at > 0.0 {
                    args.extend(["-ss".into(), format!("{:.3}", options.start_at)]);
                }
                path.display().to_string()
            }
            SourceKind::Stream(url) => {
                if url.to_ascii_lowercase().starts_with("rtsp") {
                    // UDP transport loses packets on busy networks: smeared frames.
                    args.extend(["-rtsp_transport", "tcp"].map(String::from));
                }
                // A silent camera otherwise hangs ffmpeg for minutes (microseconds).
                args.extend(["-timeout", "5000000"].map(String::from));
                url.clone()
            }
            SourceKind::Device(path) => {
                args.extend(["-f", "v4l2"].map(String::from));
                path.display().to_string()
            }
            SourceKind::Lavfi(graph) => {
                args.extend(["-f", "lavfi"].map(String::from));
                graph.clone()
            }
        };
        if options.realtime {
            args.push("-re".into());
        }
        args.extend(["-i".into(), input]);
        // Frames that will not be analysed are dropped before they are scaled.
        let mut filters: Vec<String> = Sampler::new(options.sample_fps).ffmpeg_select().into_iter().collect();
        if let Some(side) = options.max_side {
            // Fit within side × side, never upscaling.
            filters.push(format!(
                "scale='min(iw,{side})':'min(ih,{side})':force_original_aspect_ratio=decrease:flags=bilinear"
            ));
        }
        filters.extend(["format=rgb24".to_string(), "showinfo=checksum=0".to_string()]);
        args.extend(
            [
                "-map",
                "0:v:0",
                "-an",
                "-sn",
                "-dn",
                "-vf",
                &filters.join(","),
                "-fps_mode",
                "passthrough",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "pipe:1",
            ]
            .map(String::from),
        );
        args
    }
}

/// How a source is read.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Scale frames down (in ffmpeg) so neither side exceeds this.
    pub max_side: Option<u32>,
    /// The frames per second of video the caller analyses (0: every
    /// frame): ffmpeg passes on only those, with [`Sampler`]'s rule.
    pub sample_fps: f64,
    /// Pace a file like a camera (`-re`): frames arrive at their own rate and
    /// the reader keeps only the newest.
    pub realtime: bool,
    /// Kill ffmpeg when no frame arrives for this long.
    pub stall_timeout: Duration,
    /// Live sources: keep reconnecting even when the first connection fails
    /// (a service waiting for its camera); otherwise that is an error.
    pub retry_first_connection: bool,
    /// The ffmpeg program.
    pub ffmpeg: PathBuf,
    /// Files: start reading at this many seconds (ffmpeg's exact input
    /// seek), frames keeping their times in the file. Resumes an index.
    pub start_at: f64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            max_side: Some(1280),
            sample_fps: 0.0,
            realtime: false,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            retry_first_connection: false,
            ffmpeg: ffmpeg_program(),
            start_at: 0.0,
        }
    }
}

/// The ffmpeg program: `$FACECMP_FFMPEG`, else `ffmpeg` on `PATH`.
pub fn ffmpeg_program() -> PathBuf {
    std::env::var_os(FFMPEG_ENV).map_or_else(|| PathBuf::from("ffmpeg"), PathBuf::from)
}

/// The ffmpeg that would run: its full path and version (`facecmp doctor`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct FfmpegInfo {
    pub path: String,
    pub version: String,
}

/// Finds and asks the ffmpeg program for its version.
pub fn ffmpeg_info() -> Result<FfmpegInfo, String> {
    let program = ffmpeg_program();
    let path = if program.components().count() > 1 {
        Some(program.clone())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths).map(|dir| dir.join(&program)).find(|candidate| candidate.is_file())
        })
    };
    let path = path.ok_or_else(|| format!("{} not found on PATH", program.display()))?;
    let output = Command::new(&path)
        .args(["-hide_banner", "-version"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    // "ffmpeg version 5.1.9-0+deb12u1 Copyright (c) …"
    let version = text.split_whitespace().nth(2).unwrap_or("unknown").to_string();
    Ok(FfmpegInfo { path: path.display().to_string(), version })
}

/// Why a source cannot be read. Every message starts with the source's name.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VideoError {
    #[error(
        "{input}: cannot run {program}: {reason} (install ffmpeg, e.g. `apt-get install ffmpeg`, or name it in ${FFMPEG_ENV})"
    )]
    FfmpegMissing { input: String, program: String, reason: String },
    #[error("{input}: cannot read video: {message}")]
    Unreadable { input: String, message: String },
    #[error("{input}: no frame for {seconds:.0} s; gave up")]
    Stalled { input: String, seconds: f64 },
    #[error("{input}: reading frames from ffmpeg: {reason}")]
    Pipe { input: String, reason: String },
}

/// One decoded frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Seconds from the start of the source: the frame's presentation time
    /// (for live sources, continued across reconnects).
    pub time: f64,
    /// When the frame arrived from ffmpeg.
    pub wall_time: SystemTime,
    pub image: RgbImage,
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn sources_are_recognised_by_their_names() {
        assert!(matches!(VideoSource::parse("clip.mp4").kind, SourceKind::File(_)));
        assert!(matches!(VideoSource::parse("RTSP://cam/1").kind, SourceKind::Stream(_)));
        assert!(matches!(VideoSource::parse("/dev/video0").kind, SourceKind::Device(_)));
        assert!(matches!(VideoSource::parse("lavfi:testsrc2").kind, SourceKind::Lavfi(_)));
        assert!(VideoSource::parse("udp://0.0.0.0:5000").is_live());
        assert!(!VideoSource::parse("clip.mkv").is_live());
    }

    #[test]
    fn rtsp_is_read_over_tcp_with_a_socket_timeout() {
        let args = VideoSource::parse("rtsp://127.0.0.1:8554/live").ffmpeg_args(&ReadOptions::default());
        let joined = args.join(" ");
        assert!(joined.contains("-rtsp_transport tcp -timeout 5000000 -i rtsp://"), "{joined}");
        assert!(joined.ends_with("-f rawvideo -pix_fmt rgb24 pipe:1"), "{joined}");
        let http = VideoSource::parse("http://cam/stream").ffmpeg_args(&ReadOptions::default()).join(" ");
        assert!(!http.contains("rtsp_transport"), "{http}");
    }
}
