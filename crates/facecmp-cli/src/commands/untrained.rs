//! Stands in for `train.rs` in a build without the `train` feature (no
//! burn): `train` and `synth` end with an error that names the feature, exit
//! status 2.

use crate::args::{GlobalArgs, SynthArgs, TrainArgs};
use crate::outcome::{CliError, Outcome};

pub fn run(_: &GlobalArgs, _: &TrainArgs) -> Result<Outcome, CliError> {
    Err(CliError::NeedsTrainFeature("train"))
}

pub fn synth(_: &SynthArgs) -> Result<Outcome, CliError> {
    Err(CliError::NeedsTrainFeature("synth"))
}
