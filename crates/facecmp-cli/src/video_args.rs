//! Arguments of the video commands (`search`, `watch`).

use std::path::PathBuf;

use clap::{ArgGroup, Args};

use crate::gallery_args::{DbArg, ThresholdArgs};
use crate::mqtt_args::MqttArgs;
use crate::value_parsers::parse_source_name;

/// How a video source is read.
#[derive(Debug, Clone, Args)]
pub struct VideoArgs {
    /// Pace a file like a camera (frames at their own rate, only the newest
    /// analysed) instead of as fast as possible.
    #[arg(long)]
    pub realtime: bool,
    /// ffmpeg scales frames down so neither side exceeds this many pixels
    /// (0: full size).
    #[arg(long, value_name = "PX", default_value_t = 1280)]
    pub max_side: u32,
    /// A camera that sends no frame for this many seconds is reconnected.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = parse_positive)]
    pub stall_timeout: f64,
    /// Stop after this many seconds of video (cameras run until stopped otherwise).
    #[arg(long, value_name = "SECONDS", value_parser = parse_positive)]
    pub duration: Option<f64>,
    /// At the end, print on stderr what was decoded, analysed and dropped,
    /// and the time spent detecting and embedding.
    #[arg(long)]
    pub stats: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("targets").required(true).args(["faces", "people", "gallery"])))]
pub struct SearchArgs {
    /// Video files, rtsp:// (and other stream) URLs, /dev/videoN webcams, or lavfi:GRAPH test input.
    #[arg(required = true, value_name = "SOURCE")]
    pub sources: Vec<String>,
    /// Look for the largest face of this photo (repeatable: each photo is a target).
    #[arg(long = "face", value_name = "IMG")]
    pub faces: Vec<PathBuf>,
    /// Look for this enrolled person (repeatable; needs --db).
    #[arg(long = "person", value_name = "NAME")]
    pub people: Vec<String>,
    /// Look for every enrolled person (needs --db).
    #[arg(long)]
    pub gallery: bool,
    /// The gallery for --person and --gallery.
    #[arg(long, env = "FACECMP_DB", value_name = "DB")]
    pub db: Option<PathBuf>,
    #[command(flatten)]
    pub threshold: ThresholdArgs,
    /// Frames analysed per second of video.
    #[arg(long, value_name = "FPS", default_value_t = 5.0, value_parser = parse_positive)]
    pub fps: f64,
    #[command(flatten)]
    pub video: VideoArgs,
    /// Save the best face of each appearance here as PNG.
    #[arg(long, value_name = "DIR")]
    pub snapshots: Option<PathBuf>,
    /// Draw every appearance (face, target, time, similarity) into one PNG.
    #[arg(long, value_name = "OUT.png")]
    pub contact_sheet: Option<PathBuf>,
    /// One JSON object per appearance.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// A camera (rtsp://…, /dev/videoN) or a video file.
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// The zone the camera guards (e.g. the lift's floor).
    #[arg(long)]
    pub zone: String,
    /// The camera's name, recorded as the source of every decision in the
    /// audit trail (default: SOURCE, a URL without its user and password).
    #[arg(long, value_name = "NAME", value_parser = parse_source_name)]
    pub name: Option<String>,
    #[command(flatten)]
    pub db: DbArg,
    #[command(flatten)]
    pub threshold: ThresholdArgs,
    /// Frames analysed per second.
    #[arg(long, value_name = "FPS", default_value_t = 10.0, value_parser = parse_positive)]
    pub fps: f64,
    /// Frames (of the last --window) that must name the same person to allow.
    #[arg(long, value_name = "K", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub confirm: u32,
    /// Frames of a track considered for a decision.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub window: u32,
    /// Seconds within which a decided person who is back where they were,
    /// with nobody else in view and no cut in between, is the same presence
    /// and is not announced again.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub cooldown: f64,
    #[command(flatten)]
    pub video: VideoArgs,
    /// Run this shell command for every allow, with the decision in
    /// FACECMP_* environment variables (never for a deny).
    #[arg(long, value_name = "CMD")]
    pub on_allow: Option<String>,
    /// One JSON object per decision.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub mqtt: MqttArgs,
}

pub fn parse_positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value > 0.0 && value.is_finite() => Ok(value),
        _ => Err(format!("`{text}` is not a positive number")),
    }
}
