//! How every command loads the models: as configured, with the embedder
//! that `--embedder` names. Separate from main.rs so that the commands call it
//! without importing the crate root.

use std::path::Path;

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
    if let (Some(model), Some(card)) = (&global.embedder_onnx, &global.embedder_card) {
        let embedder = card_embedder(&pipeline, model, card)?;
        return Ok(pipeline.with_embedder(Box::new(embedder)));
    }
    let Some(dir) = global.trained_embedder() else { return Ok(pipeline) };
    Ok(pipeline.with_embedder(crate::trained_model::load_embedder(dir)?))
}

/// `--embedder-onnx MODEL --embedder-card CARD`, loaded and checked against
/// each other now: a card that does not fit its network fails before any
/// photo is read.
fn card_embedder(
    pipeline: &facecmp::Pipeline,
    model: &Path,
    card: &Path,
) -> Result<facecmp::embed::CardEmbedder, CliError> {
    let problem = |path: &Path, reason: String| CliError::EmbedderCard { path: path.to_path_buf(), reason };
    let text = std::fs::read_to_string(card).map_err(|e| problem(card, e.to_string()))?;
    let card_value =
        facecmp::embed::EmbedderCard::from_toml(&text).map_err(|e| problem(card, e.to_string()))?;
    let bytes = std::fs::read(model).map_err(|e| problem(model, e.to_string()))?;
    let embedder = facecmp::embed::CardEmbedder::new(
        card_value,
        bytes,
        pipeline.engine().clone(),
        pipeline.config().threads,
    );
    embedder.load().map_err(|e| problem(card, format!("with {}: {e}", model.display())))?;
    Ok(embedder)
}
