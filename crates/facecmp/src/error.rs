//! The pipeline's error type: every variant that concerns an input names it.

use crate::compare::DimensionMismatch;
use crate::embed::EmbedError;
use crate::image::ImageError;
use crate::models::ModelFileError;
use crate::runtime::RuntimeError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{input}: {source}")]
    Image { input: String, source: ImageError },
    #[error("{input}: no face found")]
    NoFace { input: String },
    #[error("{input}: face {index} is too small ({size:.0} px; at least {min:.0} px needed)")]
    FaceTooSmall { input: String, index: usize, size: f32, min: f32 },
    #[error("{input}: {count} faces found; exactly one must be in view")]
    SeveralFaces { input: String, count: usize },
    #[error("{input}: face {index}: the detector is not confident enough ({score:.2} < {min:.2})")]
    LowScore { input: String, index: usize, score: f32, min: f32 },
    #[error("{input}: there is no face {index} (faces are numbered 0 to {last})", last = .count.saturating_sub(1))]
    NoSuchFace { input: String, index: usize, count: usize },
    #[error("{input}: {source}")]
    Detect { input: String, source: RuntimeError },
    #[error("{input}: {source}")]
    Embed { input: String, source: EmbedError },
    #[error(transparent)]
    Dimension(#[from] DimensionMismatch),
    #[error(transparent)]
    ModelFile(#[from] ModelFileError),
    #[error(transparent)]
    ModelLoad(#[from] RuntimeError),
}

impl Error {
    /// True when the fault lies with the input, not with facecmp or its models.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            Error::Image { .. }
                | Error::NoFace { .. }
                | Error::FaceTooSmall { .. }
                | Error::SeveralFaces { .. }
                | Error::LowScore { .. }
                | Error::NoSuchFace { .. }
        )
    }
}
