//! Fusion: one decision from SFace and dlib's ResNet.
//!
//! The fused score is a weighted sum of the two cosines,
//! `w·cos_sface + (1 − w)·cos_dlib`: a logistic combination of two scores
//! decides by exactly such a line, and the threshold is calibrated on the sum
//! like any other score. The sum is folded into one vector,
//! `[√w·e_sface, √(1 − w)·e_dlib]` (unit length when both parts are), whose
//! cosine *is* the fused score, so a gallery, the search index and every
//! comparison use fused vectors unchanged, and each raw score can be read
//! back from the two halves ([`FusedScores::of`]).

use std::sync::OnceLock;

use super::dlib::{DLIB_DIMENSION, DlibResNet};
use super::sface::{SFACE_DIMENSION, SFace};
use super::{EmbedError, Embedder, EmbedderIdentity, Embedding, FaceInPhoto};
use crate::align::AlignedFace;
use crate::calibration::{Calibration, bundled_calibration};
use crate::runtime::RuntimeError;

/// SFace's share of the fused score: chosen on the calibration photos (not
/// on LFW, which reports it), where it refuses the fewest genuine pairs at
/// the strictest thresholds and, among the weights tied on that, leaves the
/// widest margin (`tools/calibration/README.md`, "Fusion").
pub const SFACE_WEIGHT: f32 = 0.45;
pub const FUSED_DIMENSION: usize = SFACE_DIMENSION + DLIB_DIMENSION;
/// The fused embedder's name in its identity (galleries, reports).
pub const FUSED_NAME: &str = "fused-sface-dlib";

/// SFace and dlib's ResNet, embedding each face with both.
pub struct Fused {
    sface: SFace,
    dlib: DlibResNet,
    identity: OnceLock<EmbedderIdentity>,
    calibration: OnceLock<Option<Calibration>>,
}

/// The two raw scores behind a fused one.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FusedScores {
    pub sface: f32,
    pub dlib: f32,
}

impl FusedScores {
    /// The SFace and dlib cosines of two embeddings made by `embedder`;
    /// `None` unless it is the fused embedder.
    pub fn of_embedder(embedder: &EmbedderIdentity, a: &Embedding, b: &Embedding) -> Option<FusedScores> {
        (embedder.name == FUSED_NAME).then(|| FusedScores::of(a, b)).flatten()
    }

    /// The SFace and dlib cosines of two fused embeddings; `None` for
    /// vectors of another dimension.
    pub fn of(a: &Embedding, b: &Embedding) -> Option<FusedScores> {
        let (a, b) = (a.as_slice(), b.as_slice());
        if a.len() != FUSED_DIMENSION || b.len() != FUSED_DIMENSION {
            return None;
        }
        let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
        let (sface_a, dlib_a) = a.split_at(SFACE_DIMENSION);
        let (sface_b, dlib_b) = b.split_at(SFACE_DIMENSION);
        Some(FusedScores {
            sface: (dot(sface_a, sface_b) / SFACE_WEIGHT).clamp(-1.0, 1.0),
            dlib: (dot(dlib_a, dlib_b) / (1.0 - SFACE_WEIGHT)).clamp(-1.0, 1.0),
        })
    }
}

impl Fused {
    pub fn new(sface: SFace, dlib: DlibResNet) -> Self {
        Self { sface, dlib, identity: OnceLock::new(), calibration: OnceLock::new() }
    }

    fn fuse(sface: Vec<Embedding>, dlib: Vec<Embedding>) -> Result<Vec<Embedding>, EmbedError> {
        let (sface_scale, dlib_scale) = (SFACE_WEIGHT.sqrt(), (1.0 - SFACE_WEIGHT).sqrt());
        sface
            .iter()
            .zip(&dlib)
            .map(|(s, d)| {
                let parts = s.as_slice().iter().map(|v| v * sface_scale);
                let values = parts.chain(d.as_slice().iter().map(|v| v * dlib_scale)).collect();
                Embedding::from_raw(values).ok_or(EmbedError::Degenerate { model: FUSED_NAME.into() })
            })
            .collect()
    }
}

impl Embedder for Fused {
    fn identity(&self) -> &EmbedderIdentity {
        self.identity.get_or_init(|| {
            let (sface, dlib) = (self.sface.identity(), self.dlib.identity());
            let recipe = format!("{}+{}@{SFACE_WEIGHT}", sface.sha256, dlib.sha256);
            EmbedderIdentity {
                name: FUSED_NAME.into(),
                sha256: crate::digest::sha256_hex(recipe.as_bytes()),
                dimension: FUSED_DIMENSION,
                preprocessing: format!("{} + {}", sface.preprocessing, dlib.preprocessing),
            }
        })
    }

    fn calibration(&self) -> Option<&Calibration> {
        self.calibration
            .get_or_init(|| {
                bundled_calibration(
                    include_str!("../../../../models/fused-calibration.json"),
                    &self.identity().sha256,
                )
            })
            .as_ref()
    }

    fn aligns_itself(&self) -> bool {
        true
    }

    fn embed(&self, faces: &[&AlignedFace]) -> Result<Vec<Embedding>, EmbedError> {
        Fused::fuse(self.sface.embed(faces)?, self.dlib.embed(faces)?)
    }

    fn embed_in_photos(&self, faces: &[FaceInPhoto<'_>]) -> Result<Vec<Embedding>, EmbedError> {
        Fused::fuse(self.sface.embed_in_photos(faces)?, self.dlib.embed_in_photos(faces)?)
    }

    /// One network after the other: a load is a process's moment of peak
    /// memory (the engine parses the graph beside the weights it copies),
    /// and two at once add their peaks (BENCHMARKS.md, "Embedders").
    fn preload(&self) -> Result<(), RuntimeError> {
        self.sface.preload()?;
        self.dlib.preload()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(dimension: usize, seed: u32) -> Embedding {
        Embedding::from_raw((0..dimension).map(|i| ((i as u32 * 7 + seed * 13) % 17) as f32 - 8.0).collect())
            .unwrap()
    }

    #[test]
    fn the_fused_cosine_is_the_weighted_sum_of_the_two_and_both_read_back() {
        let (sa, sb, da, db) = (unit(128, 1), unit(128, 2), unit(128, 3), unit(128, 5));
        let fused = Fused::fuse(vec![sa.clone(), da.clone()], vec![db.clone(), sb.clone()]).unwrap();
        let (a, b) = (&fused[0], &fused[1]);
        let (sface, dlib) = (sa.cosine(&da).unwrap(), db.cosine(&sb).unwrap());
        let expected = SFACE_WEIGHT * sface + (1.0 - SFACE_WEIGHT) * dlib;
        assert!((a.cosine(b).unwrap() - expected).abs() < 1e-5);
        let scores = FusedScores::of(a, b).unwrap();
        assert!((scores.sface - sface).abs() < 1e-5 && (scores.dlib - dlib).abs() < 1e-5, "{scores:?}");
        assert!(FusedScores::of(&sa, &sb).is_none());
    }
}
