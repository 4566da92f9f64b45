//! Embedding: an aligned face becomes a unit vector; faces of one person
//! land close together. SFace is the bundled embedder; a trained network is
//! another implementation of the same [`Embedder`] trait.

use std::sync::OnceLock;

use once_cell::sync::OnceCell;
use serde::{Deserialize, Serialize};

use crate::align::{ALIGNED_SIZE, AlignedFace};
use crate::compare::{Calibration, DimensionMismatch};
use crate::models::ModelFile;
use crate::runtime::{Dim, Engine, NchwTensor, Network, NetworkSpec, RuntimeError};

/// An L2-normalised face embedding: finite, unit length. Deserialising one
/// goes through the same check and normalisation as [`Embedding::from_raw`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<f32>", into = "Vec<f32>")]
pub struct Embedding(Vec<f32>);

/// A vector that cannot be an embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an embedding: the vector is empty, all zeros, or holds NaN or infinity")]
pub struct Degenerate;

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

    /// Cosine similarity in [−1, 1] (see [`crate::compare::cosine`]);
    /// embeddings of different dimensions come from different embedders and
    /// are refused.
    pub fn cosine(&self, other: &Embedding) -> Result<f32, DimensionMismatch> {
        crate::compare::cosine(&self.0, &other.0)
    }
}

impl TryFrom<Vec<f32>> for Embedding {
    type Error = Degenerate;

    fn try_from(values: Vec<f32>) -> Result<Embedding, Degenerate> {
        Embedding::from_raw(values).ok_or(Degenerate)
    }
}

impl From<Embedding> for Vec<f32> {
    fn from(embedding: Embedding) -> Vec<f32> {
        embedding.0
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
    /// The same-person threshold the model's authors published, if any.
    fn published_threshold(&self) -> Option<f32> {
        None
    }
    /// Loads whatever the embedder loads on first use now (a server should
    /// not make its first request wait for it).
    fn preload(&self) -> Result<(), RuntimeError> {
        Ok(())
    }
}

/// SFace (OpenCV Zoo, 2021dec, int8 block-quantised): 128-d, trained with
/// the ArcFace template alignment.
///
/// The network is loaded on first use, so that commands which never embed
/// (`facecmp detect`) never pay for its 10 M weights; its identity (the
/// file's sha256) and calibration are likewise worked out when first asked.
pub struct SFace {
    model: ModelFile,
    engine: Engine,
    threads: usize,
    network: OnceCell<Box<dyn Network>>,
    identity: OnceLock<EmbedderIdentity>,
    calibration: OnceLock<Option<Calibration>>,
}

pub const SFACE_DIMENSION: usize = 128;
const SFACE_NAME: &str = "sface-2021dec-int8bq";
/// The most faces SFace runs on at once. A batch amortises each run's fixed
/// cost up to about 8 faces, while the network's intermediate tensors grow
/// with it: ONNX Runtime, 2 threads, 25.7 ms a face at 4, 22.7 ms at 8 and
/// 22.4 ms at 32, for +14, +38 and +186 MiB (BENCHMARKS.md, Throughput). A crowd
/// photo is embedded 8 faces at a time, at the same speed.
pub const FACES_PER_RUN: usize = 8;

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

    /// SFace from `model`, to be run on `engine` with `threads` threads
    /// (0: every core) once it is first needed.
    pub fn new(model: ModelFile, engine: Engine, threads: usize) -> Self {
        Self {
            model,
            engine,
            threads,
            network: OnceCell::new(),
            identity: OnceLock::new(),
            calibration: OnceLock::new(),
        }
    }

    /// Loads and optimises the network now, if it is not loaded yet.
    pub fn load(&self) -> Result<&dyn Network, RuntimeError> {
        let network = self.network.get_or_try_init(|| {
            self.engine.load("SFace", &self.model.bytes, &Self::network_spec(), self.threads)
        })?;
        Ok(network.as_ref())
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
        self.identity.get_or_init(|| EmbedderIdentity {
            name: SFACE_NAME.into(),
            sha256: self.model.sha256(),
            dimension: SFACE_DIMENSION,
            preprocessing: "yunet-5pt-arcface112-rgb-0..255".into(),
        })
    }

    fn published_threshold(&self) -> Option<f32> {
        Some(crate::compare::SFACE_COSINE_THRESHOLD)
    }

    fn calibration(&self) -> Option<&Calibration> {
        self.calibration.get_or_init(|| bundled_sface_calibration(&self.identity().sha256)).as_ref()
    }

    fn embed(&self, faces: &[&AlignedFace]) -> Result<Vec<Embedding>, EmbedError> {
        if faces.is_empty() {
            return Ok(Vec::new());
        }
        let network = self.load()?;
        let mut values = Vec::with_capacity(faces.len() * SFACE_DIMENSION);
        for run in faces.chunks(FACES_PER_RUN) {
            values.extend(network.run(rgb_batch(run))?.swap_remove(0).data);
        }
        split_embeddings(values, faces.len(), SFACE_DIMENSION, SFACE_NAME)
    }

    fn preload(&self) -> Result<(), RuntimeError> {
        self.load().map(|_| ())
    }
}

/// Packs aligned crops into an NCHW RGB batch of 0..255 floats.
pub fn rgb_batch(faces: &[&AlignedFace]) -> NchwTensor {
    let side = ALIGNED_SIZE as usize;
    let plane = side * side;
    let mut batch = NchwTensor::zeros([faces.len(), 3, side, side]);
    for (face, chunk) in faces.iter().zip(batch.data.chunks_exact_mut(3 * plane)) {
        for (i, pixel) in face.image().pixels().enumerate() {
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
        assert!((a.cosine(&b).unwrap() - 0.96).abs() < 1e-6);
        assert_eq!(a.cosine(&b), b.cosine(&a));
        assert!((a.cosine(&a).unwrap() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn embeddings_of_different_dimensions_are_not_compared() {
        let a = Embedding::from_raw(vec![1.0, 0.0]).unwrap();
        let b = Embedding::from_raw(vec![1.0, 0.0, 0.0]).unwrap();
        assert_eq!(a.cosine(&b), Err(DimensionMismatch { left: 2, right: 3 }));
    }

    #[test]
    fn deserialising_checks_and_normalises_like_from_raw() {
        let parsed: Embedding = serde_json::from_str("[3.0, 4.0]").unwrap();
        assert_eq!(parsed.as_slice(), &[0.6, 0.8]);
        assert!(serde_json::from_str::<Embedding>("[0.0, 0.0]").is_err());
        assert!(serde_json::from_str::<Embedding>("[]").is_err());
        assert!(serde_json::from_str::<Embedding>("[1e39, 1.0]").is_err());
        let round_trip: Embedding = serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
        assert!((round_trip.cosine(&parsed).unwrap() - 1.0).abs() < 1e-6);
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
