//! Siamese training for facecmp, on burn. Data sets, crops, metrics and
//! reports are `facecmp-eval`'s (which has no burn): validation here is
//! judged by the same code as `facecmp eval`.
//!
//! ```text
//! DATA/<person>/*.jpg ──data──▶ aligned crops (cached) ──split by person──▶ train | val
//!   train ──PairSampler──▶ balanced pairs ──Tower (one module, both faces)──▶ embeddings
//!         ──loss::contrastive──▶ SGD/Adam step            (training)
//!   val   ──all genuine + sampled impostor pairs──▶ ROC, accuracy, calibration (artifacts, plots)
//! MODEL_DIR ──TrainedEmbedder──▶ facecmp::Embedder (--embedder: compare, embed, eval, the gallery)
//! ```

pub mod artifacts;
pub mod augment;
pub mod checkpoint;
pub mod data;
pub mod embedder;
pub mod loss;
pub mod model;
pub mod schedule;
pub mod synthetic;
pub mod training;

pub use embedder::TrainedEmbedder;
pub use model::{Architecture, Tower, TowerConfig};
pub use training::{TrainConfig, train};
