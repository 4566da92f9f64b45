//! Scoring: cosine similarity of two embeddings against a threshold.

use serde::{Deserialize, Serialize};

use crate::embed::Embedding;

/// OpenCV's published same-person threshold for SFace cosine similarity,
/// used until `facecmp eval` calibrates one for a target false-accept rate.
pub const SFACE_COSINE_THRESHOLD: f32 = 0.363;

/// The outcome of comparing two faces.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Cosine similarity in [−1, 1]; higher is more alike.
    pub similarity: f32,
    pub threshold: f32,
    /// `similarity >= threshold`.
    pub same: bool,
}

pub fn compare(a: &Embedding, b: &Embedding, threshold: f32) -> Comparison {
    let similarity = a.cosine(b);
    Comparison { similarity, threshold, same: similarity >= threshold }
}
