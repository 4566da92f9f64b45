//! `facecmp`: the command-line face comparer. This binary only parses
//! arguments, calls the `facecmp` library and prints; every decision about
//! faces is made in the library.

mod args;
mod commands;
mod draw;
mod report;

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
    restore_default_sigpipe();
    // A bug must still end with one line and status 2, never a backtrace that
    // a calling script would mistake for output.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("facecmp: internal error: {info}");
    }));
    let cli = Cli::parse();
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
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
    /// Training, evaluation and trained-model errors (each names its input).
    #[error("{0}")]
    Train(String),
}

/// Rust ignores SIGPIPE, so `facecmp detect … | head -1` would fail on its
/// next write with a "broken pipe" panic. Like other Unix tools, end quietly
/// instead when the reader has gone.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any other thread exists;
    // SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Loads the models as configured, warning once when ONNX Runtime was wanted
/// (`--runtime auto`) but tract had to stand in.
pub fn load_pipeline(config: facecmp::Config) -> Result<facecmp::Pipeline, CliError> {
    let pipeline = facecmp::Pipeline::load(config)?;
    if let Some(reason) = pipeline.runtime_fallback() {
        eprintln!("facecmp: warning: {reason}; using tract (slower). Run `facecmp doctor` for details.");
    }
    Ok(pipeline)
}

/// Like [`load_pipeline`], with the embedder that `--embedder` names (a
/// trained model, returned with its model card) in place of SFace.
pub fn load_pipeline_with_embedder(
    global: &args::GlobalArgs,
    config: facecmp::Config,
) -> Result<(facecmp::Pipeline, Option<facecmp_train::artifacts::ModelCard>), CliError> {
    let pipeline = load_pipeline(config)?;
    let Some(dir) = &global.embedder else { return Ok((pipeline, None)) };
    let embedder = facecmp_train::TrainedEmbedder::load(dir).map_err(|e| CliError::Train(e.to_string()))?;
    let card = embedder.card().clone();
    Ok((pipeline.with_embedder(Box::new(embedder)), Some(card)))
}

fn run(cli: &Cli) -> Result<Outcome, CliError> {
    match &cli.command {
        Command::Compare(args) => commands::compare::run(&cli.global, args),
        Command::Detect(args) => commands::detect::run(&cli.global, args),
        Command::Embed(args) => commands::embed::run(&cli.global, args),
        Command::Doctor(args) => commands::doctor::run(&cli.global, args),
        Command::Train(args) => commands::train::run(&cli.global, args),
        Command::Eval(args) => commands::eval::run(&cli.global, args),
        Command::Synth(args) => commands::train::synth(args),
    }
}
