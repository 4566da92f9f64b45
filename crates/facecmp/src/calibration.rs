//! FAR calibration: thresholds measured for target false-accept rates, and
//! how a rate becomes a threshold. Apart from `compare` because embedders
//! carry a calibration and `compare` chooses thresholds from embedders: both
//! import this, it imports neither. Re-exported as `facecmp::compare::…`.

use serde::{Deserialize, Serialize};

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

/// A calibration file of `models/` (`tools/calibration/`), if it was measured
/// on the model whose sha256 is `model_sha256`: a threshold belongs to the
/// exact weights it was measured with.
pub(crate) fn bundled_calibration(json: &str, model_sha256: &str) -> Option<Calibration> {
    #[derive(Deserialize)]
    struct CalibrationFile {
        embedder: MeasuredOn,
        #[serde(flatten)]
        calibration: Calibration,
    }
    #[derive(Deserialize)]
    struct MeasuredOn {
        sha256: String,
    }
    let file: CalibrationFile =
        serde_json::from_str(json).expect("the bundled calibrations are valid JSON (tested)");
    (file.embedder.sha256 == model_sha256).then_some(file.calibration)
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
