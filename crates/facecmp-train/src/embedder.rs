//! A trained tower as a `facecmp::Embedder`: `compare`, `embed` and `eval`
//! use it through the same interface as the bundled SFace.

use std::path::Path;
use std::sync::Mutex;

use burn::tensor::Device;
use facecmp::compare::Calibration;
use facecmp::embed::{EmbedError, split_embeddings};
use facecmp::{AlignedFace, Embedder, EmbedderIdentity, Embedding};

use crate::artifacts::{ModelCard, sha256_file};
use crate::checkpoint::load_weights;
use crate::data;
use crate::model::Tower;
use crate::training::{TrainError, input_tensor};

pub struct TrainedEmbedder {
    // burn modules are Send but not Sync; one embedding batch at a time.
    model: Mutex<Tower>,
    card: ModelCard,
    identity: EmbedderIdentity,
    device: Device,
}

impl TrainedEmbedder {
    /// Loads `model.json` and the weights it names from `dir`, refusing
    /// weights whose sha256 differs from the one recorded at training.
    pub fn load(dir: &Path) -> Result<TrainedEmbedder, TrainError> {
        let card = ModelCard::read(dir)?;
        let weights = dir.join(&card.weights);
        let sha256 = sha256_file(&weights)?;
        if sha256 != card.weights_sha256 {
            return Err(TrainError::WeightsChanged {
                path: weights,
                found: sha256,
                expected: card.weights_sha256,
            });
        }
        let device = Device::flex();
        let model = load_weights(card.tower.init(&device), &weights)?;
        let identity = EmbedderIdentity {
            name: format!(
                "facecmp-{}-{}d-{}",
                card.tower.architecture.name(),
                card.tower.embedding_dim,
                &sha256[..12]
            ),
            sha256,
            dimension: card.tower.embedding_dim,
            preprocessing: card.preprocessing.clone(),
        };
        Ok(TrainedEmbedder { model: Mutex::new(model), card, identity, device })
    }

    pub fn card(&self) -> &ModelCard {
        &self.card
    }
}

impl Embedder for TrainedEmbedder {
    fn identity(&self) -> &EmbedderIdentity {
        &self.identity
    }

    fn calibration(&self) -> Option<&Calibration> {
        self.card.calibration.as_ref()
    }

    fn embed(&self, faces: &[&AlignedFace]) -> Result<Vec<Embedding>, EmbedError> {
        if faces.is_empty() {
            return Ok(Vec::new());
        }
        let size = self.card.tower.input_size as u32;
        let crops: Vec<_> = faces.iter().map(|f| data::downscale(f.image(), size)).collect();
        let indices: Vec<usize> = (0..crops.len()).collect();
        let input = input_tensor(&crops, &indices, None, &self.device);
        let output = self.model.lock().unwrap_or_else(|e| e.into_inner()).forward(input);
        let values = output.into_data().as_slice::<f32>().map(<[f32]>::to_vec).unwrap_or_default();
        split_embeddings(values, faces.len(), self.identity.dimension, &self.identity.name)
    }
}
