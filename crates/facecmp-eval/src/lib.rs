//! Evaluation for facecmp: honest verification numbers for any embedder.
//!
//! ```text
//! DATA/<person>/*.jpg | CSV | LFW pairs.txt ──dataset / lfw──▶ labelled photos
//!   ──crops (YuNet + align, cached by sha256)──▶ aligned crops per person
//!   ──report::embed_prepared (the pipeline's Embedder)──▶ embeddings
//!   ──pairs (all genuine + seeded impostors, or LFW's)──▶ scored pairs
//!   ──metrics──▶ ROC, AUC, EER, TAR@FAR, k-fold, groups, calibration
//!   ──report, plots──▶ report.md, report.json, roc.png, histogram.png
//! ```
//!
//! [`evaluate`] runs the whole chain. The embedder under test is the one in
//! the caller's `facecmp::Pipeline`: the bundled SFace, or a trained model
//! plugged in as a `Box<dyn facecmp::Embedder>`; this crate never links the
//! training stack (burn). `facecmp-train` uses [`metrics`], [`dataset`] and
//! [`crops`] for its validation.

pub mod crops;
pub mod dataset;
pub mod error;
pub mod evaluate;
pub mod lfw;
pub mod metrics;
pub mod plots;
pub mod progress;
pub mod report;
pub mod rng;

pub use error::EvalError;
pub use evaluate::{Evaluation, FolderOptions, Setup};
pub use report::EvalReport;
