//! `facecmp`: the command-line face comparer. This binary only parses
//! arguments, calls the `facecmp` library and prints; every decision about
//! faces is made in the library.

#[macro_use]
mod outcome;
mod args;
mod commands;
mod draw;
mod footage_args;
mod gallery_args;
mod mqtt_args;
mod pipeline;
mod report;
#[cfg(feature = "train")]
mod trained_model;
#[cfg(not(feature = "train"))]
#[path = "untrained_model.rs"]
mod trained_model;
mod value_parsers;
mod video_args;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::outcome::{CliError, Outcome};

// burn's CPU training allocates and frees many tensors a step: mimalloc
// measured +50 % training throughput over the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
            | Command::Index(_)
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

fn run(cli: &Cli) -> Result<Outcome, CliError> {
    match &cli.command {
        Command::Compare(args) => commands::compare::run(&cli.global, args),
        Command::Detect(args) => commands::detect::run(&cli.global, args),
        Command::Embed(args) => commands::embed::run(&cli.global, args),
        Command::Doctor(args) => commands::doctor::run(&cli.global, args),
        Command::Gallery(command) => commands::gallery_move::run(&cli.global, command),
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
        Command::Index(args) => commands::index::run(&cli.global, args),
        Command::Find(args) => commands::find::run(&cli.global, args),
        Command::Clusters(args) => commands::clusters::run(&cli.global, args),
    }
}
