//! Neural-network inference behind one small interface.
//!
//! The detector and the embedder only see [`Network`]: a batch of NCHW f32
//! images in, named f32 tensors out. That keeps preprocessing identical
//! whichever engine runs the graph, and lets a faster engine slot in without
//! touching the pipeline stages.

mod fold;
mod graph;
#[cfg(feature = "onnxruntime")]
mod matmul_nbits;
#[cfg(feature = "onnxruntime")]
pub mod ort;
mod tract;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use fold::{FoldReport, fold_constant_weights};
pub use graph::{Weights, prepare};

/// The name of an ONNX file's first output.
pub fn first_output_name(onnx_bytes: &[u8]) -> Result<String, RuntimeError> {
    graph::first_output_name(onnx_bytes)
        .map_err(|error| RuntimeError::Load { model: "the embedder".into(), reason: error.to_string() })
}
pub use tract::TractNetwork;

/// A dense f32 image batch in NCHW layout.
#[derive(Debug, Clone)]
pub struct NchwTensor {
    pub shape: [usize; 4],
    pub data: Vec<f32>,
}

impl NchwTensor {
    pub fn zeros(shape: [usize; 4]) -> Self {
        Self { shape, data: vec![0.0; shape.iter().product()] }
    }
}

/// One output of a network, flattened in row-major order.
#[derive(Debug, Clone)]
pub struct OutputTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// A dimension of a network's input: fixed, or chosen per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    Fixed(usize),
    Variable(&'static str),
}

/// How a network is to be loaded: its input shape and the outputs wanted, in
/// the order [`Network::run`] must return them.
#[derive(Debug, Clone)]
pub struct NetworkSpec {
    pub input: [Dim; 4],
    /// The bundled networks' names are static; a model card's is read at run time.
    pub outputs: Vec<std::borrow::Cow<'static, str>>,
    /// A shape worth preparing at load time, so the first call is not slower
    /// than the rest (SFace: one face).
    pub warm_shape: Option<[usize; 4]>,
}

/// A loaded, optimised network, safe to share between threads.
pub trait Network: Send + Sync {
    fn run(&self, input: NchwTensor) -> Result<Vec<OutputTensor>, RuntimeError>;
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot load ONNX Runtime from {path}: {reason}")]
    Library { path: PathBuf, reason: String },
    #[error("ONNX Runtime was requested, but this build of facecmp has no ONNX Runtime support")]
    NotBuilt,
    #[error(
        "ONNX Runtime was requested, but no library path is known (set {var} or HOME)",
        var = "FACECMP_ORT_LIB"
    )]
    NoLibraryPath,
    #[error("cannot load the {model} network: {reason}")]
    Load { model: String, reason: String },
    #[error("inference failed in the {model} network: {reason}")]
    Run { model: String, reason: String },
}

/// Which inference engine to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeChoice {
    /// ONNX Runtime when its library loads, else tract.
    #[default]
    Auto,
    /// tract: pure Rust, always available.
    Tract,
    /// ONNX Runtime: faster; an error if its library cannot be loaded.
    Ort,
}

/// The engine a pipeline actually runs on.
#[derive(Debug, Clone)]
pub enum Engine {
    Tract,
    #[cfg(feature = "onnxruntime")]
    Ort(ort::OrtLibrary),
}

impl Engine {
    /// Resolves `choice` to an engine, loading ONNX Runtime from `library`
    /// (or its default place) when it is wanted. Under `Auto` an unusable
    /// ONNX Runtime is no error: tract is chosen and the reason is returned
    /// alongside, for the caller to report.
    pub fn select(
        choice: RuntimeChoice,
        library: Option<&Path>,
    ) -> Result<(Engine, Option<RuntimeError>), RuntimeError> {
        match choice {
            RuntimeChoice::Tract => Ok((Engine::Tract, None)),
            RuntimeChoice::Ort => Ok((Engine::load_ort(library)?, None)),
            RuntimeChoice::Auto => match Engine::load_ort(library) {
                Ok(engine) => Ok((engine, None)),
                Err(reason) => Ok((Engine::Tract, Some(reason))),
            },
        }
    }

    #[cfg(feature = "onnxruntime")]
    fn load_ort(library: Option<&Path>) -> Result<Engine, RuntimeError> {
        let path = library
            .map(Path::to_path_buf)
            .or_else(ort::default_library_path)
            .ok_or(RuntimeError::NoLibraryPath)?;
        Ok(Engine::Ort(ort::load_library(&path)?.clone()))
    }

    #[cfg(not(feature = "onnxruntime"))]
    fn load_ort(_library: Option<&Path>) -> Result<Engine, RuntimeError> {
        Err(RuntimeError::NotBuilt)
    }

    /// Loads a network on this engine.
    #[cfg_attr(not(feature = "onnxruntime"), allow(unused_variables))]
    pub fn load(
        &self,
        name: &str,
        onnx_bytes: &[u8],
        spec: &NetworkSpec,
        threads: usize,
    ) -> Result<Box<dyn Network>, RuntimeError> {
        match self {
            // tract's thread count is process-wide: see `set_threads`.
            Engine::Tract => Ok(Box::new(TractNetwork::load(name, onnx_bytes, spec, spec.warm_shape)?)),
            #[cfg(feature = "onnxruntime")]
            Engine::Ort(_) => {
                let threads = if threads == 0 { available_threads() } else { threads };
                Ok(Box::new(ort::OrtNetwork::load(name, onnx_bytes, spec, threads)?))
            }
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Engine::Tract => "tract",
            #[cfg(feature = "onnxruntime")]
            Engine::Ort(_) => "onnxruntime",
        }
    }
}

/// Sets how many threads the inference kernels may use (0 = all cores).
/// Process-wide, so call it once at start-up.
pub fn set_threads(threads: usize) {
    tract::set_threads(threads);
}

pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
