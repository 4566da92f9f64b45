//! SFace, the bundled embedder (OpenCV Zoo, 2021dec): loading its network,
//! running it in batches, its published threshold and bundled calibration.
//! One file per network, so that another embedder is a file beside this one.

use std::sync::OnceLock;

use super::{EmbedError, Embedder, EmbedderIdentity, Embedding, LazyNetwork, rgb_batch, split_embeddings};
use crate::align::{ALIGNED_SIZE, AlignedFace};
use crate::calibration::{Calibration, bundled_calibration};
use crate::models::ModelFile;
use crate::runtime::{Dim, Engine, Network, NetworkSpec, RuntimeError};

/// OpenCV's published same-person threshold for SFace cosine similarity,
/// used until `facecmp eval` calibrates one for a target false-accept rate.
pub const SFACE_COSINE_THRESHOLD: f32 = 0.363;

/// SFace (OpenCV Zoo, 2021dec, int8 block-quantised): 128-d, trained with
/// the ArcFace template alignment.
///
/// The network is loaded on first use, so that commands which never embed
/// (`facecmp detect`) never pay for its 10 M weights; its identity (the
/// file's sha256) and calibration are likewise worked out when first asked.
pub struct SFace {
    network: LazyNetwork,
    identity: OnceLock<EmbedderIdentity>,
    calibration: OnceLock<Option<Calibration>>,
}

pub const SFACE_DIMENSION: usize = 128;
pub(crate) const SFACE_NAME: &str = "sface-2021dec-int8bq";
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
            outputs: vec!["fc1".into()],
            warm_shape: Some([1, 3, side, side]),
        }
    }

    /// SFace from `model`, to be run on `engine` with `threads` threads
    /// (0: every core) once it is first needed.
    pub fn new(model: ModelFile, engine: Engine, threads: usize) -> Self {
        Self {
            network: LazyNetwork::new("SFace", model, engine, threads, Self::network_spec()),
            identity: OnceLock::new(),
            calibration: OnceLock::new(),
        }
    }

    /// Loads and optimises the network now, if it is not loaded yet.
    pub fn load(&self) -> Result<&dyn Network, RuntimeError> {
        self.network.get()
    }
}

/// The FAR calibration measured for the bundled SFace file by
/// `tools/calibration/`; it applies only to the exact file it was measured on.
pub fn bundled_sface_calibration(model_sha256: &str) -> Option<Calibration> {
    bundled_calibration(include_str!("../../../../models/sface-calibration.json"), model_sha256)
}

impl Embedder for SFace {
    fn identity(&self) -> &EmbedderIdentity {
        self.identity.get_or_init(|| EmbedderIdentity {
            name: SFACE_NAME.into(),
            sha256: self.network.model().sha256(),
            dimension: SFACE_DIMENSION,
            preprocessing: "yunet-5pt-arcface112-rgb-0..255".into(),
        })
    }

    fn published_threshold(&self) -> Option<f32> {
        Some(SFACE_COSINE_THRESHOLD)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_calibration_belongs_to_the_bundled_sface() {
        let sface = crate::models::ModelSource::Bundled.embedder().unwrap();
        let calibration = bundled_sface_calibration(&sface.sha256()).expect("calibrated");
        assert!(calibration.impostor_pairs > 0);
        assert!(calibration.threshold_for(1e-2).is_ok());
        assert!(bundled_sface_calibration(&"0".repeat(64)).is_none());
    }
}
