//! Scoring: cosine similarity of two embeddings against a threshold, and
//! the one rule that chooses the threshold. The calibration it reads and the
//! cosine it scores with live below it (`calibration.rs`, `embed`), and are
//! re-exported here.

use serde::{Deserialize, Serialize};

pub use crate::calibration::{Calibration, CalibrationError, DEFAULT_FAR, OperatingPoint};
pub use crate::embed::{DimensionMismatch, SFACE_COSINE_THRESHOLD, cosine};
use crate::embed::{Embedder, Embedding};

/// The outcome of comparing two faces.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Cosine similarity in [−1, 1]; higher is more alike.
    pub similarity: f32,
    pub threshold: f32,
    /// `similarity >= threshold`.
    pub same: bool,
}

/// Scores two embeddings against `threshold`.
pub fn compare(a: &Embedding, b: &Embedding, threshold: f32) -> Result<Comparison, DimensionMismatch> {
    let similarity = a.cosine(b)?;
    Ok(Comparison { similarity, threshold, same: similarity >= threshold })
}

/// What a caller asks for: an explicit threshold, a false-accept rate, or
/// neither (the embedder's default).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ThresholdChoice {
    pub threshold: Option<f32>,
    pub far: Option<f64>,
}

/// Where a threshold came from, for reports and logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Provenance {
    /// Given by the caller.
    Explicit,
    /// The embedder's calibration for a false-accept rate.
    Calibrated { far: f64, dataset: String },
    /// The threshold the embedder's authors published (SFace:
    /// [`SFACE_COSINE_THRESHOLD`]).
    Published,
}

/// A resolved threshold and its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    pub value: f32,
    #[serde(flatten)]
    pub provenance: Provenance,
}

impl ThresholdChoice {
    pub fn explicit(threshold: f32) -> ThresholdChoice {
        ThresholdChoice { threshold: Some(threshold), far: None }
    }

    pub fn far(far: f64) -> ThresholdChoice {
        ThresholdChoice { threshold: None, far: Some(far) }
    }

    /// The one rule every command and the service follow: an explicit
    /// threshold wins; else the embedder's calibrated threshold for the
    /// rate asked for; with neither, the embedder's published threshold
    /// (bundled SFace: OpenCV's 0.363), else its calibrated threshold for
    /// [`DEFAULT_FAR`] — a published number means nothing for another
    /// network. A rate the calibration cannot vouch for is an error, never
    /// a guess.
    pub fn resolve(&self, embedder: &dyn Embedder) -> Result<Threshold, CalibrationError> {
        if let Some(value) = self.threshold {
            return Ok(Threshold { value, provenance: Provenance::Explicit });
        }
        let far = match (self.far, embedder.published_threshold()) {
            (Some(far), _) => far,
            (None, Some(value)) => return Ok(Threshold { value, provenance: Provenance::Published }),
            (None, None) => DEFAULT_FAR,
        };
        let calibration = embedder
            .calibration()
            .ok_or_else(|| CalibrationError::Missing { embedder: embedder.identity().name.clone() })?;
        let value = calibration.threshold_for(far)?;
        Ok(Threshold {
            value,
            provenance: Provenance::Calibrated { far, dataset: calibration.dataset.clone() },
        })
    }
}
