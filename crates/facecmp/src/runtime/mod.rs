//! Neural-network inference behind one small interface.
//!
//! The detector and the embedder only see [`Network`]: a batch of NCHW f32
//! images in, named f32 tensors out. That keeps preprocessing identical
//! whichever engine runs the graph, and lets a faster engine slot in without
//! touching the pipeline stages.

mod fold;
mod tract;

pub use fold::{FoldReport, fold_constant_weights};
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
    pub outputs: Vec<&'static str>,
}

/// A loaded, optimised network, safe to share between threads.
pub trait Network: Send + Sync {
    fn run(&self, input: NchwTensor) -> Result<Vec<OutputTensor>, RuntimeError>;
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot load the {model} network: {reason}")]
    Load { model: String, reason: String },
    #[error("inference failed in the {model} network: {reason}")]
    Run { model: String, reason: String },
}

/// Sets how many threads the inference kernels may use (0 = all cores).
/// Process-wide, so call it once at start-up.
pub fn set_threads(threads: usize) {
    tract::set_threads(threads);
}

pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
