//! `facecmp doctor`: what this binary runs on, checked by loading it all.

use facecmp::models::ModelFile;
use facecmp::runtime::{Engine, available_threads};
use serde::Serialize;

use crate::args::{DoctorArgs, GlobalArgs};
use crate::outcome::{CliError, Outcome};
use crate::report::print_json;

#[derive(Serialize)]
struct DoctorJson {
    version: &'static str,
    runtime: &'static str,
    ort_library: Option<String>,
    ort_version: Option<String>,
    ort_build: Option<String>,
    /// Why ONNX Runtime is not in use, when it was wanted.
    ort_unavailable: Option<String>,
    threads: usize,
    cores: usize,
    models: Vec<ModelJson>,
    embedder: String,
    cpu_features: Vec<&'static str>,
    /// The ffmpeg program that reads video (`search`, `watch`), or why there is none.
    ffmpeg: Option<facecmp_video::source::FfmpegInfo>,
    ffmpeg_unavailable: Option<String>,
}

#[derive(Serialize)]
struct ModelJson {
    file: &'static str,
    origin: String,
    sha256: String,
}

impl From<&ModelFile> for ModelJson {
    fn from(file: &ModelFile) -> ModelJson {
        ModelJson { file: file.name, origin: file.origin.clone(), sha256: file.sha256() }
    }
}

pub fn run(global: &GlobalArgs, args: &DoctorArgs) -> Result<Outcome, CliError> {
    let config = global.config();
    let models = [
        config.models.detector().map_err(facecmp::Error::from)?,
        config.models.embedder().map_err(facecmp::Error::from)?,
    ];
    // Loading proves the models parse and optimise on the chosen engine.
    let pipeline = facecmp::Pipeline::load(config.clone())?;
    pipeline.preload()?;
    let (ort_library, ort_version, ort_build) = match pipeline.engine() {
        Engine::Tract => (None, None, None),
        Engine::Ort(library) => (
            Some(library.path.display().to_string()),
            Some(library.version.clone()),
            Some(library.build_info.clone()),
        ),
    };
    let ffmpeg = facecmp_video::source::ffmpeg_info();
    let report = DoctorJson {
        version: env!("CARGO_PKG_VERSION"),
        runtime: pipeline.engine().name(),
        ort_library,
        ort_version,
        ort_build,
        ort_unavailable: pipeline.runtime_fallback().map(ToString::to_string),
        threads: if config.threads == 0 { available_threads() } else { config.threads },
        cores: available_threads(),
        models: models.iter().map(ModelJson::from).collect(),
        embedder: pipeline.embedder().name.clone(),
        cpu_features: cpu_features(),
        ffmpeg: ffmpeg.as_ref().ok().cloned(),
        ffmpeg_unavailable: ffmpeg.err(),
    };
    if args.json {
        print_json(&report)?;
    } else {
        print_text(&report)?;
    }
    Ok(Outcome::Yes)
}

fn print_text(report: &DoctorJson) -> Result<(), CliError> {
    outln!("facecmp {}", report.version);
    outln!("runtime       {}", report.runtime);
    if let (Some(path), Some(version), Some(build)) =
        (&report.ort_library, &report.ort_version, &report.ort_build)
    {
        outln!("  library     {path}");
        outln!("  version     {version}");
        outln!("  build       {build}");
    }
    if let Some(reason) = &report.ort_unavailable {
        outln!("  ONNX Runtime unavailable: {reason}");
    }
    outln!("threads       {} of {} cores", report.threads, report.cores);
    for model in &report.models {
        outln!("model         {}  ({})", model.file, model.origin);
        outln!("  sha256      {}", model.sha256);
    }
    outln!("embedder      {}", report.embedder);
    outln!("cpu features  {}", report.cpu_features.join(" "));
    match (&report.ffmpeg, &report.ffmpeg_unavailable) {
        (Some(ffmpeg), _) => outln!("ffmpeg        {}  ({})", ffmpeg.version, ffmpeg.path),
        (None, Some(reason)) => outln!("ffmpeg        unavailable: {reason} (search and watch need it)"),
        (None, None) => {}
    }
    Ok(())
}

/// The SIMD extensions the inference kernels can use on this CPU.
fn cpu_features() -> Vec<&'static str> {
    let mut found = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! probe {
            ($($feature:tt),*) => {
                $(if std::arch::is_x86_feature_detected!($feature) { found.push($feature); })*
            };
        }
        probe!(
            "sse4.1",
            "avx",
            "avx2",
            "fma",
            "f16c",
            "avx512f",
            "avx512bw",
            "avx512vl",
            "avx512vnni",
            "avx512bf16"
        );
    }
    #[cfg(target_arch = "aarch64")]
    {
        macro_rules! probe {
            ($($feature:tt),*) => {
                $(if std::arch::is_aarch64_feature_detected!($feature) { found.push($feature); })*
            };
        }
        probe!("neon", "fp16", "dotprod", "i8mm", "bf16");
    }
    found
}
