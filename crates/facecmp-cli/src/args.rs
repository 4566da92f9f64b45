//! Command-line arguments.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use facecmp::runtime::RuntimeChoice;
use facecmp::{Config, EmbedderChoice, ModelSource};

pub use crate::footage_args::*;
pub use crate::gallery_args::*;
use crate::value_parsers::{MAX_THREADS, parse_cosine, parse_face_size, parse_rate, parse_score};
pub use crate::video_args::*;

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
    #[arg(long, global = true, value_name = "N", default_value_t = 0, hide_default_value = true,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=MAX_THREADS as u64))]
    pub threads: usize,
    /// Refuse faces whose box is smaller than this many pixels on its shorter side.
    #[arg(long, global = true, value_name = "PX", default_value_t = 32.0, value_parser = parse_face_size)]
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
    #[arg(long, global = true, value_name = "SCORE", default_value_t = 0.6, value_parser = parse_score)]
    pub detection_threshold: f32,
    /// The embedding network: sface (default: fast, small), dlib (dlib's
    /// ResNet), fused (both, one score; the most accurate), or the MODEL_DIR
    /// of a model trained by `facecmp train` (write ./sface for a folder of
    /// that name).
    #[arg(long, global = true, value_name = "sface|dlib|fused|MODEL_DIR", value_parser = parse_embedder)]
    pub embedder: Option<EmbedderArg>,
    /// Embed with your own ArcFace-family ONNX network, described by
    /// --embedder-card (docs/embedders.md).
    #[arg(
        long,
        global = true,
        value_name = "MODEL.onnx",
        requires = "embedder_card",
        conflicts_with = "embedder"
    )]
    pub embedder_onnx: Option<PathBuf>,
    /// The model card (TOML) of --embedder-onnx: input size, channel order,
    /// mean/std, template, output and dimension.
    #[arg(long, global = true, value_name = "CARD.toml", requires = "embedder_onnx")]
    pub embedder_card: Option<PathBuf>,
}

/// What `--embedder` names.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbedderArg {
    Bundled(EmbedderChoice),
    Trained(PathBuf),
}

impl std::fmt::Display for EmbedderArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmbedderArg::Bundled(choice) => f.write_str(choice.name()),
            EmbedderArg::Trained(dir) => write!(f, "{}", dir.display()),
        }
    }
}

fn parse_embedder(value: &str) -> Result<EmbedderArg, String> {
    if value.is_empty() {
        return Err("name sface, dlib, fused or a trained model's folder".into());
    }
    Ok(EmbedderChoice::from_name(value)
        .map(EmbedderArg::Bundled)
        .unwrap_or_else(|| EmbedderArg::Trained(PathBuf::from(value))))
}

impl GlobalArgs {
    /// The folder of the trained model `--embedder` names, if it names one.
    pub fn trained_embedder(&self) -> Option<&Path> {
        match &self.embedder {
            Some(EmbedderArg::Trained(dir)) => Some(dir),
            _ => None,
        }
    }

    pub fn config(&self) -> Config {
        let mut config = Config::default();
        if let Some(EmbedderArg::Bundled(choice)) = self.embedder {
            config.embedder = choice;
        }
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

    /// The configuration for work on the gallery at `db`: when no embedder
    /// is named, the gallery's own (if it is a bundled one), so that a
    /// gallery made with `--embedder fused` needs no flag afterwards. A
    /// gallery that cannot be read is left for opening it to report.
    pub fn config_for_gallery(&self, db: Option<&facecmp_gallery::GalleryLocation>) -> Config {
        let mut config = self.config();
        if !self.names_embedder()
            && let Some(db) = db
            && let Ok(Some(choice)) = facecmp_gallery::Gallery::bundled_embedder_of(db)
        {
            config.embedder = choice;
        }
        config
    }

    /// Whether the command line names an embedder (bundled, trained or card).
    pub fn names_embedder(&self) -> bool {
        self.embedder.is_some() || self.embedder_onnx.is_some()
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
    /// Train a Siamese embedding tower on identity folders (or a CSV) and write MODEL_DIR.
    Train(TrainArgs),
    /// Evaluate an embedder (SFace or --embedder MODEL_DIR) on identity folders or LFW pairs.
    /// Exit status: 0 done, 2 error.
    Eval(EvalArgs),
    /// Write synthetic identities (aligned 112×112 face-like crops) for training and tests.
    Synth(SynthArgs),
    // ---- video (facecmp-video) ----
    /// Find when people appear in videos, streams or webcams. Exit status: 0 someone was found,
    /// 1 nobody, 2 error.
    Search(SearchArgs),
    /// Live access control from a camera: one decision per person in view, recorded in the gallery.
    Watch(WatchArgs),
    /// Index footage and photos once into the gallery: every face seen, to be found later by `find`.
    Index(IndexArgs),
    /// Find a face (a photo, or an enrolled person) in all the indexed footage, without decoding it.
    /// Exit status: 0 found, 1 not found, 2 error.
    Find(FindArgs),
    /// The unknown people of the indexed footage, grouped into candidate people: list them,
    /// name one (its best faces are enrolled), merge two, or mark one as not a face.
    Clusters(ClustersArgs),
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    pub a: PathBuf,
    pub b: PathBuf,
    /// Cosine similarity at or above which the faces are the same person.
    /// The default for the bundled SFace, 0.363, is OpenCV's published threshold
    /// for SFace (its calibration gives 0.364 for FAR 1e-3); a trained model's
    /// default is its calibrated threshold for FAR 1e-3.
    #[arg(long, value_name = "T", allow_negative_numbers = true, value_parser = parse_cosine)]
    pub threshold: Option<f32>,
    /// Use the embedder's threshold calibrated for this false-accept rate
    /// (e.g. 1e-3): `models/sface-calibration.json` for SFace, `model.json`
    /// for a trained model.
    #[arg(long, value_name = "RATE", conflicts_with = "threshold", value_parser = parse_rate)]
    pub far: Option<f64>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ArchitectureArg {
    /// Small residual CNN (default).
    Compact,
    /// The original two-convolution design as an embedding tower.
    Seed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OptimizerArg {
    /// SGD with Nesterov momentum.
    Sgd,
    Adam,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// DATA/PERSON/IMAGE folders, or a CSV of `path,person`.
    pub data: PathBuf,
    /// Where to write the model (weights, model.json, metrics.csv, plots, checkpoint/).
    #[arg(long, value_name = "MODEL_DIR")]
    pub out: PathBuf,
    /// The images already are aligned 112×112 crops (e.g. `facecmp synth` output): skip detection.
    #[arg(long)]
    pub aligned: bool,
    /// Cache of aligned crops, keyed by file sha256 (default: MODEL_DIR/crops).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = ArchitectureArg::Compact)]
    pub arch: ArchitectureArg,
    /// Side of the network input; aligned crops are resized to it.
    #[arg(long, value_name = "PX", default_value_t = 64, value_parser = clap::value_parser!(u32).range(16..=112))]
    pub input_size: u32,
    #[arg(long, value_name = "D", default_value_t = 128, value_parser = clap::value_parser!(u32).range(2..=1024))]
    pub embedding_dim: u32,
    /// Channels of the first stage (later stages double it).
    #[arg(long, value_name = "C", default_value_t = 16, value_parser = clap::value_parser!(u32).range(4..=128))]
    pub width: u32,
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub epochs: u32,
    /// Pairs drawn (afresh) per epoch.
    #[arg(long, value_name = "N", default_value_t = 8192, value_parser = clap::value_parser!(u32).range(1..))]
    pub pairs_per_epoch: u32,
    /// Pairs per optimisation step.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u32).range(2..))]
    pub batch_size: u32,
    /// Genuine pairs per impostor pair (1 = balanced 1:1).
    #[arg(long, value_name = "R", default_value_t = 1.0)]
    pub genuine_ratio: f32,
    /// Pair each anchor with its hardest in-batch impostor instead of a random one.
    #[arg(long)]
    pub hard_negatives: bool,
    /// Contrastive-loss margin on the embedding distance (unit vectors: 0..2).
    #[arg(long, default_value_t = 1.0)]
    pub margin: f32,
    #[arg(long, value_enum, default_value_t = OptimizerArg::Sgd)]
    pub optimizer: OptimizerArg,
    /// Initial learning rate (default: 0.05 for SGD, 0.001 for Adam).
    #[arg(long, value_name = "LR")]
    pub lr: Option<f64>,
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f32,
    /// Keep the learning rate constant instead of cosine decay.
    #[arg(long)]
    pub constant_lr: bool,
    /// Train without augmentation (flip, affine jitter, brightness/contrast).
    #[arg(long)]
    pub no_augment: bool,
    /// Share of people held out for validation (split by person, seeded).
    #[arg(long, default_value_t = 0.2)]
    pub val_fraction: f32,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Continue from MODEL_DIR/checkpoint (same settings; --epochs may grow).
    #[arg(long)]
    pub resume: bool,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// DATA/PERSON/IMAGE folders or a CSV of `path,person` (not with --lfw-pairs).
    #[arg(required_unless_present = "lfw_pairs", conflicts_with = "lfw_pairs")]
    pub data: Option<PathBuf>,
    /// LFW View-2 protocol file (data/lfw/pairs.txt): 10-fold evaluation.
    #[arg(long, value_name = "pairs.txt", requires = "images")]
    pub lfw_pairs: Option<PathBuf>,
    /// The LFW images, as DIR/NAME/NAME_0001.jpg.
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// The images already are aligned 112×112 crops: skip detection.
    #[arg(long)]
    pub aligned: bool,
    /// Impostor pairs to sample (all genuine pairs are always used).
    #[arg(long, value_name = "N", default_value_t = 100_000, conflicts_with = "lfw_pairs",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub impostors: usize,
    /// Seed of the impostor sampling.
    #[arg(long, default_value_t = 1, conflicts_with = "lfw_pairs")]
    pub seed: u64,
    /// Only the people of this side of the --embedder model's split.
    #[arg(long, value_enum, requires = "embedder", conflicts_with = "lfw_pairs")]
    pub split: Option<SplitSide>,
    /// `person,group` CSV: per-group FMR/FNMR and TAR@FAR (identity folders only).
    #[arg(long, value_name = "groups.csv", conflicts_with = "lfw_pairs")]
    pub groups: Option<PathBuf>,
    /// Write report.md, report.json, roc.png and histogram.png here.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the report as JSON instead of Markdown.
    #[arg(long)]
    pub json: bool,
    /// Store the FAR thresholds measured here in the --embedder model's model.json.
    #[arg(long, requires = "embedder")]
    pub calibrate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitSide {
    Train,
    Val,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Folder to fill with OUT/PERSON/NNN.png.
    pub out: PathBuf,
    #[arg(long, value_name = "N", default_value_t = 300)]
    pub identities: usize,
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub photos: u32,
    /// Different seeds give different people: use another seed for a disjoint test set.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}
