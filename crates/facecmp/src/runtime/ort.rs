//! ONNX Runtime, the fast path: loaded at run time from `libonnxruntime.so`
//! (shipped inside the PyPI wheel `onnxruntime==1.32.0`), so the binary still
//! builds offline and runs without it, falling back to tract.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::ep::CPU;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;
use prost::Message;

use super::graph::{Weights, prepare, runs_as_declared};
use super::matmul_nbits::use_matmul_nbits;
use super::{NchwTensor, Network, NetworkSpec, OutputTensor, RuntimeError};

/// The library file facecmp is built and tested against.
pub const LIBRARY_FILE: &str = "libonnxruntime.so.1.32.0";
/// Environment variable naming the library file, overriding the default place.
pub const LIBRARY_ENV: &str = "FACECMP_ORT_LIB";
/// ONNX Runtime's opt-out of its telemetry. Since 1.29 it collects telemetry
/// on Linux too: creating its environment writes a device identifier and an
/// event database under `~/.cache/Microsoft/DeveloperTools/.onnxruntime`, for
/// upload. Only this variable, set before the library is loaded, prevents
/// that (1.32 reads this name; `DisableTelemetryEvents`, which
/// [`load_library`] also calls, comes after the environment exists). The
/// `facecmp` binary sets it first thing unless the user has set it; a program
/// that uses this library should do the same.
pub const TELEMETRY_OPT_OUT_ENV: &str = "ORT_DISABLE_TELEMETRY";

/// Where facecmp looks for ONNX Runtime: `$FACECMP_ORT_LIB`, else
/// `$XDG_DATA_HOME/facecmp/onnxruntime/` (by default under `~/.local/share`),
/// where `scripts/install-onnxruntime.sh` puts it.
pub fn default_library_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(LIBRARY_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))?;
    Some(data_home.join("facecmp/onnxruntime").join(LIBRARY_FILE))
}

/// The loaded library: where it came from and what it says about itself.
#[derive(Debug, Clone)]
pub struct OrtLibrary {
    pub path: PathBuf,
    /// The version the library reports, e.g. "1.32.0".
    pub version: String,
    pub build_info: String,
}

struct Loaded {
    library: OrtLibrary,
    environment: Environment,
}

static LOADED: OnceLock<Loaded> = OnceLock::new();

/// Loads ONNX Runtime from `path` (once per process; later calls return the
/// library already loaded).
pub fn load_library(path: &Path) -> Result<&'static OrtLibrary, RuntimeError> {
    if let Some(loaded) = LOADED.get() {
        return Ok(&loaded.library);
    }
    let failed = |reason: String| RuntimeError::Library { path: path.to_path_buf(), reason };
    if !path.is_file() {
        return Err(failed("no such file".into()));
    }
    // A foreign .so can trip assertions inside the loader; that must be an
    // error to fall back from, not a crash.
    let environment = std::panic::catch_unwind(|| {
        ort::init_from(path)
            .map_err(|e| e.to_string())?
            .with_name("facecmp")
            .with_telemetry(false)
            .build()
            .map_err(|e| e.to_string())
    })
    .map_err(|_| failed("the library could not be initialised".into()))?
    .map_err(failed)?;
    let library = OrtLibrary {
        path: path.to_path_buf(),
        version: library_version(path).unwrap_or_else(|| "unknown".into()),
        build_info: ort::info().trim().to_string(),
    };
    Ok(&LOADED.get_or_init(|| Loaded { library, environment }).library)
}

/// Asks the library for its version through the C API's entry point; `ort`
/// only logs it.
#[allow(unsafe_code)] // a C entry point; the block below says why it is sound.
fn library_version(path: &Path) -> Option<String> {
    type GetApiBase = unsafe extern "C" fn() -> *const ort::sys::OrtApiBase;
    // SAFETY: the library was just loaded and initialised by `ort` from the
    // same path, so opening it again only takes another reference, and
    // `OrtGetApiBase` has this signature in every ONNX Runtime release. The
    // version string is static inside the library, which stays loaded.
    unsafe {
        let library = libloading::Library::new(path).ok()?;
        let get_api_base = library.get::<GetApiBase>(b"OrtGetApiBase").ok()?;
        let base = get_api_base();
        if base.is_null() {
            return None;
        }
        let version = ((*base).GetVersionString)();
        (!version.is_null()).then(|| std::ffi::CStr::from_ptr(version).to_string_lossy().into_owned())
    }
}

pub struct OrtNetwork {
    name: String,
    outputs: Vec<String>,
    // `Session::run` takes `&mut self`; ONNX Runtime parallelises inside a
    // run with its own intra-op threads, so calls are simply serialised.
    session: Mutex<Session>,
}

impl OrtNetwork {
    /// Builds a session for the prepared graph, with `threads` intra-op
    /// threads. The weights stay quantised: ONNX Runtime folds the
    /// convolutions' itself, and a fully connected layer on blocked int8
    /// weights runs on them as they are (see `use_matmul_nbits`); both keep
    /// facecmp's peak memory down. The reference tests hold both engines to
    /// the Python reference's outputs.
    pub fn load(
        name: &str,
        onnx_bytes: &[u8],
        spec: &NetworkSpec,
        threads: usize,
    ) -> Result<Self, RuntimeError> {
        let failed = |reason: String| RuntimeError::Load { model: name.to_string(), reason };
        let Some(loaded) = LOADED.get() else {
            return Err(failed("ONNX Runtime is not loaded".into()));
        };
        // Encoded in a block of its own: the parsed graph is gone before
        // ONNX Runtime makes its copies. A graph that needs no preparation
        // goes as it is.
        let prepared;
        let graph: &[u8] = if runs_as_declared(onnx_bytes, spec) {
            onnx_bytes
        } else {
            let mut model = prepare(onnx_bytes, spec, Weights::Keep).map_err(|e| failed(format!("{e:#}")))?;
            use_matmul_nbits(&mut model);
            prepared = model.encode_to_vec();
            &prepared
        };
        let session = Session::builder(&loaded.environment)
            .and_then(|b| b.with_optimization_level(GraphOptimizationLevel::Level3).map_err(Into::into))
            // Memory: the CPU arena grows in doubling chunks and keeps them,
            // and memory patterns pre-plan one buffer per input shape (YuNet
            // sees a new shape per photo size); without both, intermediate
            // tensors are allocated and freed per run by the process
            // allocator. Measured in BENCHMARKS.md (peak RSS and speed).
            .and_then(|b| {
                b.with_execution_providers([CPU::default().with_arena_allocator(false).build()])
                    .map_err(Into::into)
            })
            .and_then(|b| b.with_memory_pattern(false).map_err(Into::into))
            .and_then(|b| b.with_intra_threads(threads).map_err(Into::into))
            .and_then(|b| b.with_inter_threads(1).map_err(Into::into))
            // Spinning workers steal the core that the other photo of a
            // `compare` is being processed on (measured: slower with 2 threads).
            .and_then(|b| b.with_config_entry("session.intra_op.allow_spinning", "0").map_err(Into::into))
            // Without this, ONNX Runtime keeps weight-only DequantizeLinear
            // nodes for QDQ fusion and dequantises SFace's 10 M weights on
            // every run; with it, it folds them once at load.
            .and_then(|b| b.with_config_entry("session.disable_quant_qdq", "1").map_err(Into::into))
            .and_then(|mut b| b.commit_from_memory(graph))
            .map_err(|e| failed(e.to_string()))?;
        let outputs = spec.outputs.iter().map(|name| name.to_string()).collect();
        Ok(Self { name: name.to_string(), outputs, session: Mutex::new(session) })
    }
}

impl Network for OrtNetwork {
    fn run(&self, input: NchwTensor) -> Result<Vec<OutputTensor>, RuntimeError> {
        let failed = |reason: String| RuntimeError::Run { model: self.name.clone(), reason };
        let shape = input.shape.map(|d| d as i64);
        let tensor = Tensor::from_array((shape, input.data)).map_err(|e| failed(e.to_string()))?;
        let mut session = self.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let outputs = session.run(ort::inputs![tensor]).map_err(|e| failed(e.to_string()))?;
        self.outputs
            .iter()
            .map(|name| {
                let value =
                    outputs.get(name.as_str()).ok_or_else(|| failed(format!("no output named {name}")))?;
                let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| failed(e.to_string()))?;
                Ok(OutputTensor { shape: shape.iter().map(|&d| d as usize).collect(), data: data.to_vec() })
            })
            .collect()
    }
}
