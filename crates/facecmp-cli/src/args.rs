//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use facecmp::runtime::RuntimeChoice;
use facecmp::{Config, ModelSource};

pub use crate::gallery_args::*;

#[derive(Debug, Parser)]
#[command(
    name = "facecmp",
    version,
    about = "Compare faces in photos with a Siamese embedding network (YuNet + SFace, bundled)"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Read the models from this folder instead of the copies built into the
    /// binary (file names as in the repository's models/ folder).
    #[arg(long, global = true, value_name = "DIR")]
    pub models: Option<PathBuf>,
    /// Inference threads (default: every core).
    #[arg(long, global = true, value_name = "N", default_value_t = 0, hide_default_value = true)]
    pub threads: usize,
    /// Refuse faces whose box is smaller than this many pixels on its shorter side.
    #[arg(long, global = true, value_name = "PX", default_value_t = 32.0)]
    pub min_face_size: f32,
    /// Inference engine: ONNX Runtime when its library loads (auto), else the
    /// built-in tract. See `facecmp doctor`.
    #[arg(long, global = true, value_enum, default_value_t = Runtime::Auto, env = "FACECMP_RUNTIME")]
    pub runtime: Runtime,
    /// Photos are downscaled so their longer side is at most this before
    /// detection; raise it to find small faces in large photos (slower).
    #[arg(long, global = true, value_name = "PX", default_value_t = 640, value_parser = clap::value_parser!(u32).range(32..=8192))]
    pub detection_size: u32,
    /// Minimum detector confidence for a face.
    #[arg(long, global = true, value_name = "SCORE", default_value_t = 0.6)]
    pub detection_threshold: f32,
}

impl GlobalArgs {
    pub fn config(&self) -> Config {
        let mut config = Config::default();
        if let Some(dir) = &self.models {
            config.models = ModelSource::Dir(dir.clone());
        }
        config.threads = self.threads;
        config.runtime = match self.runtime {
            Runtime::Auto => RuntimeChoice::Auto,
            Runtime::Tract => RuntimeChoice::Tract,
            Runtime::Ort => RuntimeChoice::Ort,
        };
        config.min_face_size = self.min_face_size;
        config.detector.score_threshold = self.detection_threshold;
        config.detector.max_input_side = self.detection_size;
        config
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Runtime {
    /// ONNX Runtime if its library loads, else tract (with one warning line).
    Auto,
    /// tract: pure Rust, built in.
    Tract,
    /// ONNX Runtime (libonnxruntime.so.1.32.0 from $FACECMP_ORT_LIB or
    /// ~/.local/share/facecmp/onnxruntime/); an error if it cannot be loaded.
    Ort,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compare the faces in two photos. Exit status: 0 same person, 1 different people, 2 error.
    Compare(CompareArgs),
    /// List every face in photos: box, score and five landmarks. Exit status: 0 faces found in
    /// every photo, 1 some photo has none, 2 error.
    Detect(DetectArgs),
    /// Print the embedding of faces, one JSON line per face.
    Embed(EmbedArgs),
    /// Show what facecmp runs on: engine, library, models and their digests, threads, CPU features.
    Doctor(DoctorArgs),
    /// Create a gallery of enrolled people.
    #[command(subcommand)]
    Gallery(GalleryCommand),
    /// Enrol photos of a person. Exit status: 0 every photo accepted, 1 some refused (each with its
    /// reason), 2 error.
    Enroll(EnrollArgs),
    /// List the enrolled people, their sample counts and zones.
    People(ListArgs),
    /// Erase a person: samples, grants, and their identity in the audit trail.
    Remove(RemoveArgs),
    /// Allow a person into a zone, optionally within a time window.
    Grant(GrantArgs),
    /// Withdraw a person's grant for a zone.
    Revoke(RevokeArgs),
    /// List the zones.
    Zones(ListArgs),
    /// Create a zone or change its policy.
    Zone(ZoneArgs),
    /// Show the access audit trail, newest first.
    Events(EventsArgs),
    /// Who is in this photo? Ranks enrolled people for each face. Exit status: 0 someone matched,
    /// 1 nobody did, 2 error.
    Identify(IdentifyArgs),
    /// Decide whether the person in the photo may enter a zone, and record it. Exit status: 0 allow,
    /// 1 deny (with a reason), 2 error (the door stays shut).
    Access(AccessArgs),
    /// Serve the gallery over HTTP (JSON API under /v1, see /openapi.json).
    Serve(ServeArgs),
    /// Manage the service's API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    pub a: PathBuf,
    pub b: PathBuf,
    /// Cosine similarity at or above which the faces are the same person.
    /// The default, 0.363, is OpenCV's published threshold for SFace; it will be
    /// replaced by one calibrated with `facecmp eval` for a target false-accept rate.
    #[arg(long, value_name = "T", default_value_t = facecmp::SFACE_COSINE_THRESHOLD,
          allow_negative_numbers = true, value_parser = parse_cosine)]
    pub threshold: f32,
    /// Use face N of A (as numbered by `facecmp detect`) instead of the largest.
    #[arg(long, value_name = "N", conflicts_with = "all")]
    pub face_a: Option<usize>,
    /// Use face N of B (as numbered by `facecmp detect`) instead of the largest.
    #[arg(long, value_name = "N", conflicts_with = "all")]
    pub face_b: Option<usize>,
    /// Compare every face of A with every face of B and print the matrix;
    /// exit 0 if any pair is the same person.
    #[arg(long)]
    pub all: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    #[arg(required = true, value_name = "IMG")]
    pub images: Vec<PathBuf>,
    /// Print one JSON object per photo instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write the photo with boxes and landmarks drawn. With several photos, a
    /// folder that receives `<name>.faces.png` for each.
    #[arg(long, value_name = "OUT.png")]
    pub draw: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EmbedArgs {
    #[arg(required = true, value_name = "IMG")]
    pub images: Vec<PathBuf>,
    /// JSON Lines output (the only format; accepted for symmetry with the other commands).
    #[arg(long)]
    pub json: bool,
    /// Embed every face of each photo, not only the largest.
    #[arg(long)]
    pub all_faces: bool,
}

/// A cosine similarity threshold: a number in [−1, 1].
pub fn parse_cosine(text: &str) -> Result<f32, String> {
    let value: f32 = text.parse().map_err(|_| format!("`{text}` is not a number"))?;
    if (-1.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is outside [-1, 1], the range of cosine similarity"))
    }
}
