//! facecmp: compare faces with a Siamese embedding network.
//!
//! The pipeline is a chain of small stages over plain types:
//!
//! ```text
//! bytes ──image──▶ RgbImage ──detect──▶ Face (box, 5 landmarks)
//!       ──align──▶ AlignedFace (112×112) ──embed──▶ Embedding (unit vector)
//!       ──compare──▶ Comparison (cosine similarity, threshold, same?)
//! ```
//!
//! [`Pipeline`] holds the loaded models and runs the chain. Nothing here
//! knows about command lines, HTTP or databases.

pub mod align;
mod calibration;
pub mod compare;
pub mod config;
pub mod detect;
pub mod digest;
pub mod embed;
pub mod error;
pub mod image;
pub mod models;
mod photo;
pub mod pipeline;
pub mod runtime;
pub mod select;

pub use align::AlignedFace;
pub use compare::{
    Comparison, DimensionMismatch, SFACE_COSINE_THRESHOLD, Threshold, ThresholdChoice, compare, cosine,
};
pub use config::{Config, EmbedderChoice};
pub use detect::{BoundingBox, Face, Point};
pub use embed::{Embedder, EmbedderIdentity, Embedding, FaceInPhoto, FusedScores};
pub use error::Error;
pub use models::ModelSource;
pub use pipeline::{Photo, Pipeline};
pub use select::{FaceChoice, FacePolicy, NoUsableFace, Several, UsableFaces};

/// The image type every stage works on.
pub use ::image::RgbImage;
