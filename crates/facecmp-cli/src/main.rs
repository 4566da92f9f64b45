//! `facecmp`: the command-line face comparer. This binary only parses
//! arguments, calls the `facecmp` library and prints; every decision about
//! faces is made in the library.

/// `println!` for results: a failed write (a full disk, a closed
/// descriptor) ends the command with one line and status 2, where
/// `println!` would panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err($crate::CliError::Stdout)?
    }};
}

mod args;
mod commands;
mod draw;
mod gallery_args;
mod report;
mod video_args;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

// burn's CPU training allocates and frees many tensors a step: mimalloc
// measured +50 % training throughput over the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

fn main() -> ExitCode {
    keep_onnx_runtime_telemetry_off();
    restore_default_sigpipe();
    // A bug must still end with one line and status 2, never a backtrace that
    // a calling script would mistake for output.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("facecmp: internal error: {info}");
    }));
    let cli = Cli::parse();
    if !runs_a_loop(&cli.command) {
        return_large_blocks_to_the_system();
        if cli.global.runtime != args::Runtime::Tract {
            return_rust_memory_promptly();
        }
    }
    let result = std::panic::catch_unwind(|| run(&cli));
    match result {
        Ok(Ok(outcome)) => outcome.into(),
        Ok(Err(error)) => {
            eprintln!("facecmp: {error}");
            Outcome::Error.into()
        }
        Err(_) => Outcome::Error.into(),
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
    #[error("`{0}` needs the `train` feature: this facecmp was built without training (no burn)")]
    NeedsTrainFeature(&'static str),
    #[cfg(feature = "train")]
    #[error("{option} {value}: expected {expected}")]
    InvalidOption { option: &'static str, value: String, expected: &'static str },
    /// A library error with what to do about it on this command line.
    #[error("{error}; {hint}")]
    Hinted { error: Box<CliError>, hint: String },
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

/// ONNX Runtime would write a device identifier under the user's home and
/// queue events for upload (`facecmp::runtime::ort::TELEMETRY_OPT_OUT_ENV`).
/// A face comparison or a door has no business reporting to a third party,
/// so facecmp opts out, unless the user has set the variable themselves.
#[cfg(feature = "onnxruntime")]
#[allow(unsafe_code)] // std::env::set_var; the block below says why it is sound.
fn keep_onnx_runtime_telemetry_off() {
    use facecmp::runtime::ort::TELEMETRY_OPT_OUT_ENV;
    if std::env::var_os(TELEMETRY_OPT_OUT_ENV).is_none() {
        // SAFETY: the first statement of `main`: no other thread exists yet
        // that could read or write the environment at the same time.
        unsafe { std::env::set_var(TELEMETRY_OPT_OUT_ENV, "1") };
    }
}

#[cfg(not(feature = "onnxruntime"))]
fn keep_onnx_runtime_telemetry_off() {}

/// Commands that analyse frame after frame, request after request or batch
/// after batch. They keep the allocators' defaults, which reuse freed memory:
/// handing every large block back to the system and faulting it in again on
/// the next frame cost `search` with ONNX Runtime 1.8× its wall time (5 M page
/// faults, 13 s of system time over a 60 s 720p clip; BENCHMARKS.md, Video).
fn runs_a_loop(command: &Command) -> bool {
    matches!(
        command,
        Command::Search(_)
            | Command::Watch(_)
            | Command::Serve(_)
            | Command::Train(_)
            | Command::Eval(_)
            | Command::Synth(_)
    )
}

/// ONNX Runtime allocates through the C library's `malloc`. glibc raises its
/// mmap threshold to the size of the largest block freed (up to 32 MiB), and
/// from then on multi-megabyte tensors come from heap arenas that keep what
/// is freed: measured +70 MiB peak on `compare` (BENCHMARKS.md). Setting the
/// threshold fixes it at its default, so large blocks go back when freed.
#[allow(unsafe_code)] // libc's mallopt(); the block below says why it is sound.
fn return_large_blocks_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called before any other thread exists and before any model or
    // image is loaded; mallopt only changes allocator tuning.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// mimalloc v3's option number for the purge delay (`mi_option_e` in
/// libmimalloc-sys 0.1.49's c_src/mimalloc/v3/include/mimalloc.h): recheck it
/// when mimalloc is updated.
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

#[allow(unsafe_code)] // mimalloc's own C entry point; see its caller.
mod mimalloc_options {
    unsafe extern "C" {
        pub fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    }
}

/// mimalloc keeps freed pages for 10 ms (×10 for arenas) before handing them
/// back; a one-shot command peaks while the models load, so purging at once
/// lowers its peak at no CPU cost with ONNX Runtime (BENCHMARKS.md, Memory).
/// Not with `--runtime tract`: tract allocates through Rust, and purging at
/// once cost its `compare` +0.3 s CPU. Loops keep the default (see above).
/// (Committing arena memory on demand rather than up front is mimalloc's
/// compile-time default here: `.cargo/config.toml`.)
#[allow(unsafe_code)] // mimalloc's mi_option_set(); the block below says why it is sound.
fn return_rust_memory_promptly() {
    // SAFETY: mi_option_set only records a tuning value that mimalloc reads
    // when it next purges memory; any delay is a valid value.
    unsafe {
        mimalloc_options::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
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

/// Rust ignores SIGPIPE, so `facecmp detect … | head -1` would fail on its
/// next write with a "broken pipe" panic. Like other Unix tools, end quietly
/// instead when the reader has gone.
#[allow(unsafe_code)] // libc's signal(); the block below says why it is sound.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any other thread exists;
    // SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

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
pub fn load_pipeline(
    global: &args::GlobalArgs,
    config: facecmp::Config,
) -> Result<facecmp::Pipeline, CliError> {
    let pipeline = load_models(config)?;
    let Some(dir) = &global.embedder else { return Ok(pipeline) };
    Ok(pipeline.with_embedder(commands::train::load_embedder(dir)?))
}

fn run(cli: &Cli) -> Result<Outcome, CliError> {
    match &cli.command {
        Command::Compare(args) => commands::compare::run(&cli.global, args),
        Command::Detect(args) => commands::detect::run(&cli.global, args),
        Command::Embed(args) => commands::embed::run(&cli.global, args),
        Command::Doctor(args) => commands::doctor::run(&cli.global, args),
        Command::Gallery(command) => commands::gallery::init(&cli.global, command),
        Command::Enroll(args) => commands::gallery::enroll(&cli.global, args),
        Command::People(args) => commands::gallery::people(args),
        Command::Remove(args) => commands::gallery::remove(args),
        Command::Grant(args) => commands::gallery::grant(args),
        Command::Revoke(args) => commands::gallery::revoke(args),
        Command::Zones(args) => commands::gallery::zones(args),
        Command::Zone(args) => commands::gallery::zone(args),
        Command::Events(args) => commands::gallery::events(args),
        Command::Identify(args) => commands::access::identify(&cli.global, args),
        Command::Access(args) => commands::access::access(&cli.global, args),
        Command::Serve(args) => commands::serve::run(&cli.global, args),
        Command::Keys(command) => commands::keys::run(command),
        Command::Train(args) => commands::train::run(&cli.global, args),
        Command::Eval(args) => commands::eval::run(&cli.global, args),
        Command::Synth(args) => commands::train::synth(args),
        Command::Search(args) => commands::search::run(&cli.global, args),
        Command::Watch(args) => commands::watch::run(&cli.global, args),
    }
}
