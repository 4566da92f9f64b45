//! What a command ends with: an [`Outcome`] (the exit status) or a
//! [`CliError`], and `outln!`, which prints a result line and ends the command
//! with [`CliError::Stdout`] when standard output fails. Kept apart from
//! main.rs so that the commands, which all return these, import nothing from
//! the crate root: main.rs only wires arguments to commands.

use std::process::ExitCode;

/// `println!` for results: a failed write (a full disk, a closed
/// descriptor) ends the command with one line and status 2, where
/// `println!` would panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err($crate::outcome::CliError::Stdout)?
    }};
}

/// Exit statuses, like `cmp`: 0 same, 1 different, 2 trouble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Same person / everything found.
    Yes = 0,
    /// Different people / something not found.
    No = 1,
    Error = 2,
}

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> ExitCode {
        ExitCode::from(outcome as u8)
    }
}

/// Everything that can stop a command, each naming what it concerns.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Face(#[from] facecmp::Error),
    #[error("cannot write {}: {source}", path.display())]
    Write { path: std::path::PathBuf, source: Box<dyn std::error::Error + Send + Sync> },
    #[error(transparent)]
    Gallery(#[from] facecmp_gallery::GalleryError),
    #[error(transparent)]
    Identify(#[from] facecmp_gallery::IdentifyError),
    #[error(transparent)]
    Migrate(#[from] facecmp_gallery::migrate::MigrateError),
    #[error("{0}{hint}", hint = calibration_hint(.0))]
    Calibration(#[from] facecmp::compare::CalibrationError),
    #[error("cannot write to standard output: {0}")]
    Stdout(std::io::Error),
    #[error("{listen}: {source}")]
    Service { listen: std::net::SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Eval(#[from] facecmp_eval::EvalError),
    /// Training and trained-model errors (each names its input).
    #[cfg(feature = "train")]
    #[error(transparent)]
    Train(#[from] facecmp_train::training::TrainError),
    /// Only a build without the `train` feature has these commands refuse.
    #[cfg(not(feature = "train"))]
    #[error("`{0}` needs the `train` feature: this facecmp was built without training (no burn)")]
    NeedsTrainFeature(&'static str),
    /// A command line that cannot be run as written, and what to write.
    #[error("{0}")]
    Usage(String),
    #[error("{option} {value}: expected {expected}")]
    InvalidOption { option: &'static str, value: String, expected: &'static str },
    /// `--embedder-onnx` / `--embedder-card`: the file named and what is wrong.
    #[error("{}: {reason}", path.display())]
    EmbedderCard { path: std::path::PathBuf, reason: String },
    /// A library error with what to do about it on this command line.
    #[error("{error}; {hint}")]
    Hinted { error: Box<CliError>, hint: String },
    /// `--mqtt`: its URL, its TLS files (the password never shows).
    #[error(transparent)]
    Mqtt(#[from] facecmp_server::mqtt::MqttError),
    /// Video sources, tracking and watch (each names its source).
    #[error("{0}")]
    Video(String),
}

impl CliError {
    #[cfg(feature = "train")]
    pub fn invalid(option: &'static str, value: impl ToString, expected: &'static str) -> CliError {
        CliError::InvalidOption { option, value: value.to_string(), expected }
    }

    pub fn hinted(error: impl Into<CliError>, hint: impl Into<String>) -> CliError {
        CliError::Hinted { error: Box::new(error.into()), hint: hint.into() }
    }

    pub fn write(
        path: &std::path::Path,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> CliError {
        CliError::Write { path: path.to_path_buf(), source: source.into() }
    }
}

/// What the user can do about a threshold the calibration cannot give: the
/// library's errors name no flags or commands, the CLI does.
fn calibration_hint(error: &facecmp::compare::CalibrationError) -> &'static str {
    use facecmp::compare::CalibrationError;
    match error {
        CalibrationError::BeyondData { .. } => {
            "; pass --threshold explicitly, or calibrate on more photos (SFace: tools/calibration/; \
             a trained model: `facecmp eval --embedder DIR --calibrate`)"
        }
        CalibrationError::Missing { .. } => "; pass --threshold explicitly",
        CalibrationError::OutOfRange { .. } => "",
    }
}
