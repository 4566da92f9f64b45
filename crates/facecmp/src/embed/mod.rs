//! Embedding: a face becomes a unit vector; faces of one person land close
//! together. SFace is the default embedder, dlib's ResNet a second,
//! independent one, and [`Fused`] both at once; a trained network is another
//! implementation of the same [`Embedder`] trait.
//!
//! Every network that embeds faces has its own file here behind that trait
//! (`sface.rs`, `dlib.rs`, `card.rs` for a user's network described by a
//! model card; `fusion.rs` combines SFace and dlib). This module holds what
//! they share: the trait, the [`Embedding`] they produce, the
//! [`EmbedderIdentity`] that keeps vectors of different networks apart, the
//! cosine they are compared with, the network loaded on first use
//! ([`LazyNetwork`]) and the batch helpers ([`rgb_batch`], [`rgb_images`],
//! [`split_embeddings`]) for ONNX networks.

use once_cell::sync::OnceCell;
use serde::{Deserialize, Serialize};

mod card;
mod dlib;
pub mod dlib_landmarks;
mod fusion;
mod sface;

pub use card::{CardEmbedder, CardError, ChannelOrder, EmbedderCard};
pub(crate) use dlib::DLIB_NAME;
pub use dlib::{
    DLIB_CHIP_SIZE, DLIB_DIMENSION, DLIB_TEMPLATE, DlibResNet, dlib_chip, dlib_chip_from_aligned,
};
pub use fusion::{FUSED_DIMENSION, FUSED_NAME, Fused, FusedScores, SFACE_WEIGHT};
pub(crate) use sface::SFACE_NAME;
pub use sface::{FACES_PER_RUN, SFACE_COSINE_THRESHOLD, SFACE_DIMENSION, SFace, bundled_sface_calibration};

use ::image::RgbImage;

use crate::align::{ALIGNED_SIZE, AlignedFace, align};
use crate::calibration::Calibration;
use crate::detect::Point;
use crate::models::ModelFile;
use crate::runtime::{Engine, NchwTensor, Network, NetworkSpec, RuntimeError};

/// A network loaded on first use, once: commands that never embed
/// (`facecmp detect`) never pay for its weights, and a service loads it up
/// front ([`Embedder::preload`]).
pub struct LazyNetwork {
    label: &'static str,
    model: ModelFile,
    engine: Engine,
    threads: usize,
    spec: NetworkSpec,
    network: OnceCell<Box<dyn Network>>,
}

impl LazyNetwork {
    /// `model`, to be run on `engine` with `threads` threads (0: every
    /// core) as `spec` says; `label` names it in errors.
    pub fn new(
        label: &'static str,
        model: ModelFile,
        engine: Engine,
        threads: usize,
        spec: NetworkSpec,
    ) -> Self {
        LazyNetwork { label, model, engine, threads, spec, network: OnceCell::new() }
    }

    /// The network, loaded and optimised now if it is not loaded yet.
    pub fn get(&self) -> Result<&dyn Network, RuntimeError> {
        let network = self
            .network
            .get_or_try_init(|| self.engine.load(self.label, &self.model.bytes, &self.spec, self.threads))?;
        Ok(network.as_ref())
    }

    pub fn model(&self) -> &ModelFile {
        &self.model
    }
}

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

    /// Cosine similarity in [−1, 1] (see [`cosine`]); embeddings of
    /// different dimensions come from different embedders and are refused.
    pub fn cosine(&self, other: &Embedding) -> Result<f32, DimensionMismatch> {
        cosine(&self.0, &other.0)
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
    #[error(transparent)]
    Card(#[from] CardError),
}

/// A face where it was found: its photo and its five landmarks there. Each
/// network aligns it onto its own template ([`Embedder::embed_in_photos`]).
#[derive(Debug, Clone, Copy)]
pub struct FaceInPhoto<'a> {
    pub image: &'a RgbImage,
    pub landmarks: &'a [Point; 5],
}

/// Anything that embeds faces.
pub trait Embedder: Send + Sync {
    fn identity(&self) -> &EmbedderIdentity;
    /// Embeds a batch of faces already aligned onto the 112×112 ArcFace
    /// template, one embedding per face, in order.
    fn embed(&self, faces: &[&AlignedFace]) -> Result<Vec<Embedding>, EmbedError>;
    /// Embeds faces in their photos. A network with its own alignment (dlib's
    /// 150×150 chip) cuts it from the photo; the others see the ArcFace crop.
    fn embed_in_photos(&self, faces: &[FaceInPhoto<'_>]) -> Result<Vec<Embedding>, EmbedError> {
        let aligned: Vec<AlignedFace> = faces.iter().map(|face| align(face.image, face.landmarks)).collect();
        self.embed(&aligned.iter().collect::<Vec<_>>())
    }
    /// Whether [`Embedder::embed_in_photos`] sees more than the ArcFace crop
    /// (dlib's chip reaches further down the chin): its embeddings of faces
    /// that exist only as crops are then not quite those of the photo.
    fn aligns_itself(&self) -> bool {
        false
    }
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

/// Packs aligned crops into an NCHW RGB batch of 0..255 floats.
pub fn rgb_batch(faces: &[&AlignedFace]) -> NchwTensor {
    let images: Vec<&RgbImage> = faces.iter().map(|face| face.image()).collect();
    rgb_images(&images, ALIGNED_SIZE)
}

/// Packs `side`×`side` images (each must be that size) into an NCHW RGB
/// batch of 0..255 floats.
pub fn rgb_images(images: &[&RgbImage], side: u32) -> NchwTensor {
    let side = side as usize;
    let plane = side * side;
    let mut batch = NchwTensor::zeros([images.len(), 3, side, side]);
    for (image, chunk) in images.iter().zip(batch.data.chunks_exact_mut(3 * plane)) {
        debug_assert_eq!(image.dimensions(), (side as u32, side as u32));
        for (i, pixel) in image.pixels().enumerate() {
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
    fn degenerate_outputs_are_refused() {
        assert!(Embedding::from_raw(vec![0.0; 4]).is_none());
        assert!(Embedding::from_raw(vec![f32::NAN, 1.0]).is_none());
    }
}
