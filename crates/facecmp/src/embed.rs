//! Embedding: an aligned face becomes a unit vector; faces of one person
//! land close together. SFace is the bundled embedder; a trained network is
//! another implementation of the same [`Embedder`] trait.

use serde::{Deserialize, Serialize};

use crate::align::{ALIGNED_SIZE, AlignedFace};
use crate::compare::Calibration;
use crate::models::ModelFile;
use crate::runtime::{Dim, NchwTensor, Network, NetworkSpec, RuntimeError};

/// An L2-normalised face embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Embedding(Vec<f32>);

impl Embedding {
    /// Normalises a raw network output; `None` if it has no direction (all
    /// zeros) or holds NaN/∞, which must never compare as anything.
    pub fn from_raw(mut values: Vec<f32>) -> Option<Embedding> {
        let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
        if !norm.is_finite() || norm <= f32::EPSILON {
            return None;
        }
        values.iter_mut().for_each(|v| *v /= norm);
        Some(Embedding(values))
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }

    pub fn dimension(&self) -> usize {
        self.0.len()
    }

    /// Cosine similarity in [−1, 1]; both vectors are unit length, so this is
    /// their dot product.
    pub fn cosine(&self, other: &Embedding) -> f32 {
        self.0.iter().zip(&other.0).map(|(a, b)| a * b).sum::<f32>().clamp(-1.0, 1.0)
    }
}

/// What produced an embedding: vectors from different identities must never
/// be compared with each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedderIdentity {
    pub name: String,
    /// sha256 of the model weights.
    pub sha256: String,
    pub dimension: usize,
    /// How the aligned crop is turned into the network's input.
    pub preprocessing: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("the {model} network returned {got} values for {faces} faces; expected {dimension} per face")]
    BadOutput { model: String, got: usize, faces: usize, dimension: usize },
    #[error("the {model} network returned an embedding without direction (zero or NaN)")]
    Degenerate { model: String },
}

/// Anything that embeds aligned faces.
pub trait Embedder: Send + Sync {
    fn identity(&self) -> &EmbedderIdentity;
    /// Embeds a batch of faces, one embedding per face, in order.
    fn embed(&self, faces: &[&AlignedFace]) -> Result<Vec<Embedding>, EmbedError>;
    /// Thresholds measured for target false-accept rates, if any.
    fn calibration(&self) -> Option<&Calibration> {
        None
    }
}

/// SFace (OpenCV Zoo, 2021dec, int8 block-quantised): 128-d, trained with
/// the ArcFace template alignment.
pub struct SFace {
    network: Box<dyn Network>,
    identity: EmbedderIdentity,
    calibration: Option<Calibration>,
}

pub const SFACE_DIMENSION: usize = 128;

impl SFace {
    /// Input: a batch of aligned 112×112 RGB crops as 0..255 floats (the graph
    /// normalises internally). Output `fc1`: one 128-d vector per face.
    pub fn network_spec() -> NetworkSpec {
        let side = ALIGNED_SIZE as usize;
        NetworkSpec {
            input: [Dim::Variable("N"), Dim::Fixed(3), Dim::Fixed(side), Dim::Fixed(side)],
            outputs: vec!["fc1"],
            warm_shape: Some([1, 3, side, side]),
        }
    }

    pub fn new(network: Box<dyn Network>, model: &ModelFile) -> Self {
        let identity = EmbedderIdentity {
            name: "sface-2021dec-int8bq".into(),
            sha256: model.sha256(),
            dimension: SFACE_DIMENSION,
            preprocessing: "yunet-5pt-arcface112-rgb-0..255".into(),
        };
        let calibration = bundled_sface_calibration(&identity.sha256);
        Self { network, identity, calibration }
    }
}

/// The FAR calibration measured for the bundled SFace file by
/// `tools/calibration/`; it applies only to the exact file it was measured on.
pub fn bundled_sface_calibration(model_sha256: &str) -> Option<Calibration> {
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
    let file: CalibrationFile = serde_json::from_str(include_str!("../../../models/sface-calibration.json"))
        .expect("the bundled calibration is valid JSON (tested)");
    (file.embedder.sha256 == model_sha256).then_some(file.calibration)
}

impl Embedder for SFace {
    fn identity(&self) -> &EmbedderIdentity {
        &self.identity
    }

    fn calibration(&self) -> Option<&Calibration> {
        self.calibration.as_ref()
    }

    fn embed(&self, faces: &[&AlignedFace]) -> Result<Vec<Embedding>, EmbedError> {
        if faces.is_empty() {
            return Ok(Vec::new());
        }
        let output = self.network.run(rgb_batch(faces))?.swap_remove(0);
        split_embeddings(output.data, faces.len(), SFACE_DIMENSION, &self.identity.name)
    }
}

/// Packs aligned crops into an NCHW RGB batch of 0..255 floats.
pub fn rgb_batch(faces: &[&AlignedFace]) -> NchwTensor {
    let side = ALIGNED_SIZE as usize;
    let plane = side * side;
    let mut batch = NchwTensor::zeros([faces.len(), 3, side, side]);
    for (face, chunk) in faces.iter().zip(batch.data.chunks_exact_mut(3 * plane)) {
        for (i, pixel) in face.image.pixels().enumerate() {
            for (channel, value) in pixel.0.iter().enumerate() {
                chunk[channel * plane + i] = f32::from(*value);
            }
        }
    }
    batch
}

/// Cuts a flat `faces × dimension` output into normalised embeddings.
pub fn split_embeddings(
    values: Vec<f32>,
    faces: usize,
    dimension: usize,
    model: &str,
) -> Result<Vec<Embedding>, EmbedError> {
    if values.len() != faces * dimension {
        return Err(EmbedError::BadOutput { model: model.into(), got: values.len(), faces, dimension });
    }
    values
        .chunks_exact(dimension)
        .map(|raw| Embedding::from_raw(raw.to_vec()).ok_or(EmbedError::Degenerate { model: model.into() }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_are_unit_length_and_cosine_is_symmetric() {
        let a = Embedding::from_raw(vec![3.0, 4.0]).unwrap();
        let b = Embedding::from_raw(vec![4.0, 3.0]).unwrap();
        assert!((a.as_slice().iter().map(|v| v * v).sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((a.cosine(&b) - 0.96).abs() < 1e-6);
        assert_eq!(a.cosine(&b), b.cosine(&a));
        assert!((a.cosine(&a) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn the_bundled_calibration_belongs_to_the_bundled_sface() {
        let sface = crate::models::ModelSource::Bundled.embedder().unwrap();
        let calibration = bundled_sface_calibration(&sface.sha256()).expect("calibrated");
        assert!(calibration.impostor_pairs > 0);
        assert!(calibration.threshold_for(1e-2).is_ok());
        assert!(bundled_sface_calibration(&"0".repeat(64)).is_none());
    }

    #[test]
    fn degenerate_outputs_are_refused() {
        assert!(Embedding::from_raw(vec![0.0; 4]).is_none());
        assert!(Embedding::from_raw(vec![f32::NAN, 1.0]).is_none());
    }
}
