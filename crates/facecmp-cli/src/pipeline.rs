//! How every command loads the models: as configured, with the embedder
//! that `--embedder` names. Separate from main.rs so that the commands call it
//! without importing the crate root.

use crate::args::GlobalArgs;
use crate::outcome::CliError;

/// Loads the models as configured, warning once when ONNX Runtime was wanted
/// (`--runtime auto`) but tract had to stand in. For commands that only
/// detect and align; everything that embeds goes through [`load_pipeline`].
pub fn load_models(config: facecmp::Config) -> Result<facecmp::Pipeline, CliError> {
    let pipeline = facecmp::Pipeline::load(config)?;
    if let Some(reason) = pipeline.runtime_fallback() {
        eprintln!("facecmp: warning: {reason}; using tract (slower). Run `facecmp doctor` for details.");
    }
    Ok(pipeline)
}

/// The pipeline every embedding command uses: the models as configured,
/// embedding with the model that `--embedder` names (in place of SFace)
/// whatever the command, so that no command silently ignores it.
pub fn load_pipeline(global: &GlobalArgs, config: facecmp::Config) -> Result<facecmp::Pipeline, CliError> {
    let pipeline = load_models(config)?;
    let Some(dir) = &global.embedder else { return Ok(pipeline) };
    Ok(pipeline.with_embedder(crate::trained_model::load_embedder(dir)?))
}
