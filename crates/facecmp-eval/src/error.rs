//! One error type for evaluation: each variant names the input it concerns.
//! None names a command-line flag: the command line adds its own hints.
//! [`LfwError`] lives here too (re-exported as `lfw::LfwError`), so that
//! errors sit below every module that can fail.

use std::path::PathBuf;

use plotters::backend::{BitMapBackend, DrawingBackend};
use plotters::drawing::DrawingAreaErrorKind;

/// What drawing a PNG plot can fail with.
pub type DrawError = DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: no images found (expected DATA/<person>/<image> or a CSV of path,person)", path.display())]
    NoImages { path: PathBuf },
    #[error("{}: {source}", path.display())]
    Csv { path: PathBuf, source: csv::Error },
    #[error("{}: line {line}: expected `{expected}`", path.display())]
    BadRow { path: PathBuf, line: usize, expected: &'static str },
    #[error("{}: {source}", path.display())]
    LfwPairs { path: PathBuf, source: LfwError },
    #[error(
        "{data}: needs at least two people and one person with two usable photos to form genuine and impostor pairs"
    )]
    TooFewPairs { data: String },
    #[error("{}: too few scorable pairs for 10-fold evaluation", path.display())]
    TooFewFolds { path: PathBuf },
    #[error(
        "only one side of a model's split was asked for, but the embedder has no split (it is not a trained model)"
    )]
    NoSplit,
    /// Thresholds measured on people the model learned would promise a
    /// false-accept rate it only reaches on them.
    #[error("{data}: not calibrating on {people} people the model was trained on")]
    CalibrationOnTrainedPeople { data: String, people: usize },
    #[error("cannot draw {}: {source}", path.display())]
    Plot { path: PathBuf, source: DrawError },
    #[error(transparent)]
    Pipeline(#[from] facecmp::Error),
}

impl EvalError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> EvalError {
        EvalError::Io { path: path.to_path_buf(), source }
    }
}

/// What is wrong with a pairs file; each names its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LfwError {
    #[error("empty file")]
    Empty,
    #[error("line 1: expected `folds pairs-per-kind`")]
    Header,
    #[error("fold {fold}: the file ends early")]
    EndsEarly { fold: usize },
    #[error("line {line}: more pairs than the header announces")]
    ExtraPairs { line: usize },
    #[error("line {line}: expected a matched pair `name i j`")]
    NotMatched { line: usize },
    #[error("line {line}: expected a mismatched pair `name1 i name2 j`")]
    NotMismatched { line: usize },
    #[error("line {line}: `{text}` is not a number ≥ 1")]
    NotANumber { line: usize, text: String },
}
