//! The one configuration type for the whole pipeline.

use serde::{Deserialize, Serialize};

use crate::detect::DetectorConfig;
use crate::image::DecodeLimits;
use crate::models::ModelSource;
use crate::runtime::RuntimeChoice;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    #[serde(skip)]
    pub models: ModelSource,
    pub detector: DetectorConfig,
    pub decode: DecodeLimits,
    /// Faces whose box is narrower or shorter than this many pixels carry too
    /// little detail to embed reliably and are refused.
    pub min_face_size: f32,
    /// Inference threads; 0 uses every core.
    pub threads: usize,
    /// Inference engine.
    pub runtime: RuntimeChoice,
    /// The ONNX Runtime library; `None` looks in the default place
    /// (see [`crate::runtime::ort::default_library_path`]).
    pub ort_library: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            models: ModelSource::Bundled,
            detector: DetectorConfig::default(),
            decode: DecodeLimits::default(),
            min_face_size: 32.0,
            threads: 0,
            runtime: RuntimeChoice::Auto,
            ort_library: None,
        }
    }
}
