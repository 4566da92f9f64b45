//! Stands in for `train.rs` in a build without the `train` feature (no
//! burn): `train`, `synth` and `--embedder` (which `eval --calibrate` needs) end with an
//! error that names the feature, exit status 2.

use std::path::Path;

use facecmp::compare::Calibration;
use facecmp_eval::dataset::Split;

use crate::args::{GlobalArgs, SynthArgs, TrainArgs};
use crate::{CliError, Outcome};

/// No model card can exist without the `train` feature.
pub enum ModelCard {}

pub fn run(_: &GlobalArgs, _: &TrainArgs) -> Result<Outcome, CliError> {
    Err(CliError::NeedsTrainFeature("train"))
}

pub fn synth(_: &SynthArgs) -> Result<Outcome, CliError> {
    Err(CliError::NeedsTrainFeature("synth"))
}

pub fn model_card(global: &GlobalArgs) -> Result<Option<ModelCard>, CliError> {
    match global.embedder {
        Some(_) => Err(CliError::NeedsTrainFeature("--embedder")),
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
    Err(CliError::NeedsTrainFeature("--embedder"))
}
