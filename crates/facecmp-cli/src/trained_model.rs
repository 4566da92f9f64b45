//! What `--embedder MODEL_DIR` needs of a trained model: its model card (split
//! and calibration) and its embedder. Links burn (the `train` feature;
//! `untrained_model.rs` stands in without it). Apart from the `train` command
//! because every command that embeds loads it, `eval` among them.

use std::path::Path;

use facecmp::compare::Calibration;
use facecmp_eval::dataset::Split;
use facecmp_train::TrainedEmbedder;
use facecmp_train::artifacts;

use crate::args::GlobalArgs;
use crate::outcome::CliError;

pub use facecmp_train::artifacts::ModelCard;

/// `--embedder MODEL_DIR`'s model card (its split and calibration).
pub fn model_card(global: &GlobalArgs) -> Result<Option<ModelCard>, CliError> {
    Ok(global.trained_embedder().map(ModelCard::read).transpose()?)
}

pub fn split(card: &ModelCard) -> &Split {
    &card.split
}

/// `eval --calibrate`: the measured thresholds replace the model's.
pub fn store_calibration(dir: &Path, mut card: ModelCard, calibration: Calibration) -> Result<(), CliError> {
    card.recalibrate(calibration);
    card.write(dir)?;
    let measured = card.calibration.iter().flat_map(|c| &c.points).filter(|p| p.threshold.is_some());
    eprintln!(
        "facecmp: {} FAR thresholds stored in {}",
        measured.count(),
        dir.join(artifacts::MODEL_JSON).display()
    );
    Ok(())
}

/// The embedder `--embedder MODEL_DIR` names.
pub fn load_embedder(dir: &Path) -> Result<Box<dyn facecmp::Embedder>, CliError> {
    Ok(Box::new(TrainedEmbedder::load(dir)?))
}
