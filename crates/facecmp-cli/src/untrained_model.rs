//! Stands in for `trained_model.rs` in a build without the `train` feature
//! (no burn): `--embedder` (which `eval --calibrate` needs) ends with an error
//! that names the feature, exit status 2.

use std::path::Path;

use facecmp::compare::Calibration;
use facecmp_eval::dataset::Split;

use crate::args::GlobalArgs;
use crate::outcome::CliError;

/// No model card can exist without the `train` feature.
pub enum ModelCard {}

pub fn model_card(global: &GlobalArgs) -> Result<Option<ModelCard>, CliError> {
    match global.trained_embedder() {
        Some(_) => Err(CliError::NeedsTrainFeature("--embedder MODEL_DIR")),
        None => Ok(None),
    }
}

pub fn split(card: &ModelCard) -> &Split {
    match *card {}
}

pub fn store_calibration(_: &Path, card: ModelCard, _: Calibration) -> Result<(), CliError> {
    match card {}
}

pub fn load_embedder(_: &Path) -> Result<Box<dyn facecmp::Embedder>, CliError> {
    Err(CliError::NeedsTrainFeature("--embedder MODEL_DIR"))
}
