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
    /// Which bundled network embeds faces.
    #[serde(default)]
    pub embedder: EmbedderChoice,
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
            embedder: EmbedderChoice::default(),
            runtime: RuntimeChoice::Auto,
            ort_library: None,
        }
    }
}

/// The bundled embedders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmbedderChoice {
    /// SFace (128-d MobileFaceNet, ArcFace alignment): fast and small.
    #[default]
    Sface,
    /// dlib's face-recognition ResNet (128-d, its own 150×150 chip).
    Dlib,
    /// Both, one fused score ([`crate::embed::Fused`]).
    Fused,
}

impl EmbedderChoice {
    pub const ALL: [EmbedderChoice; 3] = [EmbedderChoice::Sface, EmbedderChoice::Dlib, EmbedderChoice::Fused];

    /// The name on command lines and in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            EmbedderChoice::Sface => "sface",
            EmbedderChoice::Dlib => "dlib",
            EmbedderChoice::Fused => "fused",
        }
    }

    pub fn from_name(name: &str) -> Option<EmbedderChoice> {
        EmbedderChoice::ALL.into_iter().find(|choice| choice.name() == name)
    }

    /// The bundled embedder whose vectors carry this identity's name (as a
    /// gallery records it), if any: what lets a gallery choose its own
    /// embedder when the user names none.
    pub fn of_identity(identity: &crate::embed::EmbedderIdentity) -> Option<EmbedderChoice> {
        EmbedderChoice::ALL.into_iter().find(|choice| choice.identity_name() == identity.name)
    }

    /// The name the embedder's identity (and so every gallery) records.
    pub fn identity_name(self) -> &'static str {
        match self {
            EmbedderChoice::Sface => crate::embed::SFACE_NAME,
            EmbedderChoice::Dlib => crate::embed::DLIB_NAME,
            EmbedderChoice::Fused => crate::embed::FUSED_NAME,
        }
    }
}
