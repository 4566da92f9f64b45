//! Scoring: cosine similarity of two embeddings against a threshold.

use serde::{Deserialize, Serialize};

use crate::embed::{Embedder, Embedding};

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

/// Scores two embeddings against `threshold`.
pub fn compare(a: &Embedding, b: &Embedding, threshold: f32) -> Result<Comparison, DimensionMismatch> {
    let similarity = a.cosine(b)?;
    Ok(Comparison { similarity, threshold, same: similarity >= threshold })
}

/// Two vectors of different lengths: they cannot come from one embedder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot compare embeddings of {left} and {right} dimensions (made by different models)")]
pub struct DimensionMismatch {
    pub left: usize,
    pub right: usize,
}

/// Cosine similarity of two unit vectors, in [−1, 1]: their dot product,
/// clamped against rounding. The one implementation every crate scores
/// embeddings with (the search index's kernels are held to it by tests).
pub fn cosine(a: &[f32], b: &[f32]) -> Result<f32, DimensionMismatch> {
    if a.len() != b.len() {
        return Err(DimensionMismatch { left: a.len(), right: b.len() });
    }
    Ok(a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>().clamp(-1.0, 1.0))
}

/// The false-accept rate that `access`, `serve` and a trained model's
/// `compare` default to: one stranger in a thousand comparisons.
pub const DEFAULT_FAR: f64 = 1e-3;

/// Thresholds measured for target false-accept rates (FAR: the share of
/// pairs of different people scored as the same person).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// What the thresholds were measured on.
    pub dataset: String,
    pub genuine_pairs: usize,
    pub impostor_pairs: usize,
    /// Operating points; a `None` threshold is a FAR the data cannot vouch for.
    pub points: Vec<OperatingPoint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    pub far: f64,
    pub threshold: Option<f32>,
    /// True-accept rate at the threshold.
    pub tar: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalibrationError {
    #[error("{far} is not a false-accept rate (it must be in (0, 1))")]
    OutOfRange { far: f64 },
    #[error(
        "a false-accept rate of {far} cannot be promised: the calibration measured {impostor_pairs} \
         impostor pairs on {dataset} and vouches for rates down to {lowest}"
    )]
    BeyondData { far: f64, lowest: f64, dataset: String, impostor_pairs: usize },
    #[error("{embedder} has no calibration, so no false-accept rate can be promised")]
    Missing { embedder: String },
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

impl Calibration {
    /// The threshold that keeps the false-accept rate at or below `far`:
    /// the threshold of the largest measured rate not above it. Rates
    /// between measured points get the stricter point; rates below the
    /// lowest one are refused rather than extrapolated.
    pub fn threshold_for(&self, far: f64) -> Result<f32, CalibrationError> {
        if !(far > 0.0 && far < 1.0) {
            return Err(CalibrationError::OutOfRange { far });
        }
        let vouched = self.points.iter().filter_map(|point| Some((point.far, point.threshold?)));
        let best =
            vouched.clone().filter(|&(point_far, _)| point_far <= far).max_by(|a, b| a.0.total_cmp(&b.0));
        best.map(|(_, threshold)| threshold).ok_or_else(|| CalibrationError::BeyondData {
            far,
            lowest: vouched.map(|(point_far, _)| point_far).fold(f64::INFINITY, f64::min),
            dataset: self.dataset.clone(),
            impostor_pairs: self.impostor_pairs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calibration() -> Calibration {
        let point = |far, threshold, tar| OperatingPoint { far, threshold, tar };
        Calibration {
            dataset: "test".into(),
            genuine_pairs: 10,
            impostor_pairs: 5000,
            points: vec![
                point(1e-1, Some(0.2), Some(0.99)),
                point(1e-2, Some(0.3), Some(0.97)),
                point(1e-3, Some(0.4), Some(0.9)),
                point(1e-4, None, None),
            ],
        }
    }

    #[test]
    fn a_far_target_takes_the_strictest_threshold_that_meets_it() {
        let calibration = calibration();
        assert_eq!(calibration.threshold_for(1e-2), Ok(0.3));
        assert_eq!(calibration.threshold_for(0.05), Ok(0.3));
        assert_eq!(calibration.threshold_for(0.5), Ok(0.2));
        assert_eq!(calibration.threshold_for(1e-3), Ok(0.4));
    }

    #[test]
    fn rates_the_data_cannot_vouch_for_are_refused() {
        let calibration = calibration();
        assert!(
            matches!(calibration.threshold_for(1e-4), Err(CalibrationError::BeyondData { lowest, .. }) if lowest == 1e-3)
        );
        assert!(matches!(calibration.threshold_for(0.0), Err(CalibrationError::OutOfRange { .. })));
        assert!(matches!(calibration.threshold_for(f64::NAN), Err(CalibrationError::OutOfRange { .. })));
    }
}
