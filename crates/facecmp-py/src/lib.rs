//! `facecmp._facecmp`, the native part of the `facecmp` Python package:
//! `compare`, `detect`, `embed` and the `Gallery`, over the same library
//! calls and defaults as the `facecmp` command. The pure-Python part
//! (python/facecmp/) holds the exception classes and the type stubs.
//!
//! Every call does its work detached from the interpreter (the GIL is
//! released), so Python threads run in parallel. Each runtime (`auto`,
//! `tract`, `ort`) has one pipeline per process, built at its first use and
//! shared by every thread: the models load once.

mod errors;
mod gallery;
mod input;
mod types;

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};

use facecmp::runtime::RuntimeChoice;
use facecmp::{Config, FaceChoice, Pipeline, ThresholdChoice};
use numpy::{IntoPyArray, PyArray1, PyArray2};
use once_cell::sync::OnceCell;
use pyo3::exceptions::PyRuntimeWarning;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::errors::Failure;
use crate::input::Image;
use crate::types::{Face, Match};

/// The CLI's `--runtime` default comes from this variable too.
const RUNTIME_ENV: &str = "FACECMP_RUNTIME";

/// One pipeline per runtime choice, in the order of [`slot`].
static PIPELINES: [OnceCell<Pipeline>; 3] = [OnceCell::new(), OnceCell::new(), OnceCell::new()];
/// Whether the fallback from ONNX Runtime to tract has been warned about.
static WARNED: [AtomicBool; 3] = [AtomicBool::new(false), AtomicBool::new(false), AtomicBool::new(false)];

fn slot(choice: RuntimeChoice) -> usize {
    match choice {
        RuntimeChoice::Auto => 0,
        RuntimeChoice::Tract => 1,
        RuntimeChoice::Ort => 2,
    }
}

/// `runtime=`, else `$FACECMP_RUNTIME`, else `auto`: as the CLI's `--runtime`.
fn runtime_choice(runtime: Option<&str>) -> PyResult<RuntimeChoice> {
    let from_env = std::env::var(RUNTIME_ENV).ok().filter(|value| !value.is_empty());
    let (text, source) = match runtime {
        Some(text) => (text.to_string(), "runtime"),
        None => (from_env.unwrap_or_else(|| "auto".into()), RUNTIME_ENV),
    };
    match text.as_str() {
        "auto" => Ok(RuntimeChoice::Auto),
        "tract" => Ok(RuntimeChoice::Tract),
        "ort" => Ok(RuntimeChoice::Ort),
        other => Err(Failure::Value(format!(
            "{source}: `{other}` is not a runtime; use \"auto\" (ONNX Runtime when its library loads, \
             else tract), \"tract\" or \"ort\""
        ))
        .into()),
    }
}

/// The shared pipeline for `runtime`, loaded on first use (detached: other
/// threads keep running while a first caller loads it). A fallback from
/// ONNX Runtime to tract is warned about once, as the CLI does.
pub(crate) fn pipeline(py: Python<'_>, runtime: Option<&str>) -> PyResult<&'static Pipeline> {
    let choice = runtime_choice(runtime)?;
    let slot = slot(choice);
    let pipeline = py
        .detach(|| {
            PIPELINES[slot]
                .get_or_try_init(|| Pipeline::load(Config { runtime: choice, ..Config::default() }))
        })
        .map_err(Failure::from)?;
    if let Some(reason) = pipeline.runtime_fallback()
        && !WARNED[slot].swap(true, Ordering::Relaxed)
    {
        let message = format!(
            "facecmp: {reason}; using tract (slower). Set {} to the path of {}, or pass \
             runtime=\"tract\".",
            facecmp::runtime::ort::LIBRARY_ENV,
            facecmp::runtime::ort::LIBRARY_FILE
        );
        let message = CString::new(message.replace('\0', " ")).map_err(|e| Failure::Value(e.to_string()))?;
        PyErr::warn(py, &py.get_type::<PyRuntimeWarning>(), &message, 1)?;
    }
    Ok(pipeline)
}

/// An explicit threshold or a false-accept rate, as the CLI's `--threshold`
/// and `--far` (which exclude each other) take them.
pub(crate) fn threshold_choice(threshold: Option<f64>, far: Option<f64>) -> PyResult<ThresholdChoice> {
    if threshold.is_some() && far.is_some() {
        return Err(Failure::Value("pass threshold or far, not both".into()).into());
    }
    if let Some(value) = threshold
        && !(-1.0..=1.0).contains(&value)
    {
        return Err(Failure::Value(format!(
            "threshold {value} is outside [-1, 1], the range of cosine similarity"
        ))
        .into());
    }
    Ok(ThresholdChoice { threshold: threshold.map(|value| value as f32), far })
}

/// Compares the largest face of image `a` with the largest face of image `b`.
#[pyfunction]
#[pyo3(signature = (a, b, *, threshold=None, far=None, face_a=None, face_b=None, runtime=None))]
#[allow(clippy::too_many_arguments)] // Python keyword arguments.
fn compare(
    py: Python<'_>,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    threshold: Option<f64>,
    far: Option<f64>,
    face_a: Option<usize>,
    face_b: Option<usize>,
    runtime: Option<&str>,
) -> PyResult<Match> {
    let choice = threshold_choice(threshold, far)?;
    let (a, b) = (Image::extract(a, "a")?, Image::extract(b, "b")?);
    let pipeline = pipeline(py, runtime)?;
    let pick = |face: Option<usize>| face.map_or(FaceChoice::Largest, FaceChoice::Index);
    let (photo_a, photo_b, index_a, index_b, comparison) = py.detach(|| -> Result<_, Failure> {
        // The CLI's order: the threshold first (a bad `far` fails before any
        // work), the embedder before the photos (lower peak memory).
        let threshold = pipeline.threshold(choice)?.value;
        pipeline.load_embedder()?;
        // Both photos are decoded and searched at once.
        let (photo_a, photo_b) = std::thread::scope(|scope| {
            let photo_a = scope.spawn(|| a.open(pipeline));
            let photo_b = b.open(pipeline);
            (photo_a.join().expect("opening a photo does not panic"), photo_b)
        });
        let (photo_a, photo_b) = (photo_a?, photo_b?);
        let (index_a, embedding_a) = pipeline.embed_one(&photo_a, pick(face_a))?;
        let (index_b, embedding_b) = pipeline.embed_one(&photo_b, pick(face_b))?;
        let comparison =
            facecmp::compare(&embedding_a, &embedding_b, threshold).map_err(facecmp::Error::from)?;
        Ok((photo_a, photo_b, index_a, index_b, comparison))
    })?;
    Ok(Match {
        similarity: comparison.similarity.into(),
        threshold: comparison.threshold.into(),
        same: comparison.same,
        a: Py::new(py, Face::of(&photo_a, index_a))?,
        b: Py::new(py, Face::of(&photo_b, index_b))?,
    })
}

/// Every face in an image, strongest first; an empty list when there is none.
#[pyfunction]
#[pyo3(signature = (image, *, runtime=None))]
fn detect(py: Python<'_>, image: &Bound<'_, PyAny>, runtime: Option<&str>) -> PyResult<Vec<Face>> {
    let image = Image::extract(image, "image")?;
    let pipeline = pipeline(py, runtime)?;
    let photo = py.detach(|| image.open(pipeline)).map_err(Failure::from)?;
    Ok((0..photo.faces.len()).map(|index| Face::of(&photo, index)).collect())
}

/// The 128-value unit embedding of the largest face, or of every face large
/// enough with `all_faces`.
#[pyfunction]
#[pyo3(signature = (image, all_faces=false, *, runtime=None))]
fn embed<'py>(
    py: Python<'py>,
    image: &Bound<'_, PyAny>,
    all_faces: bool,
    runtime: Option<&str>,
) -> PyResult<Bound<'py, PyAny>> {
    let image = Image::extract(image, "image")?;
    let pipeline = pipeline(py, runtime)?;
    let embeddings = py.detach(|| -> Result<_, Failure> {
        let photo = image.open(pipeline)?;
        let policy = pipeline.face_policy();
        // As `facecmp embed --all-faces`: faces too small to embed are left
        // out, unless no face at all is usable.
        let faces = if all_faces {
            policy.usable_or_why(&photo)?.usable
        } else {
            vec![policy.choose(&photo, FaceChoice::Largest)?]
        };
        Ok(pipeline.embed(&photo, &faces)?)
    })?;
    let dimension = pipeline.embedder().dimension;
    if !all_faces {
        let values = embeddings.into_iter().next().map(|e| e.as_slice().to_vec()).unwrap_or_default();
        return Ok(PyArray1::from_vec(py, values).into_any());
    }
    let rows = embeddings.len();
    let values: Vec<f32> = embeddings.iter().flat_map(|e| e.as_slice().iter().copied()).collect();
    let matrix = numpy::ndarray::Array2::from_shape_vec((rows, dimension), values)
        .map_err(|error| Failure::Value(format!("embeddings of unequal length: {error}")))?;
    let matrix: Bound<'py, PyArray2<f32>> = matrix.into_pyarray(py);
    Ok(matrix.into_any())
}

/// The inference engine a runtime choice resolves to: `"onnxruntime"` or `"tract"`.
#[pyfunction]
#[pyo3(signature = (runtime=None))]
fn engine(py: Python<'_>, runtime: Option<&str>) -> PyResult<&'static str> {
    Ok(pipeline(py, runtime)?.engine().name())
}

#[pymodule]
fn _facecmp(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    module.add_function(wrap_pyfunction!(compare, module)?)?;
    module.add_function(wrap_pyfunction!(detect, module)?)?;
    module.add_function(wrap_pyfunction!(embed, module)?)?;
    module.add_function(wrap_pyfunction!(engine, module)?)?;
    module.add_class::<Face>()?;
    module.add_class::<Match>()?;
    module.add_class::<gallery::Gallery>()?;
    module.add_class::<types::Enrolled>()?;
    module.add_class::<types::Candidate>()?;
    module.add_class::<types::FaceCandidates>()?;
    module.add_class::<types::Decision>()?;
    module.add_class::<types::Event>()?;
    module.add_class::<types::Person>()?;
    module.add("LANDMARK_NAMES", PyTuple::new(py, facecmp::detect::LANDMARK_NAMES)?)?;
    module.add("DEFAULT_FAR", facecmp::compare::DEFAULT_FAR)?;
    module.add("TELEMETRY_OPT_OUT_ENV", facecmp::runtime::ort::TELEMETRY_OPT_OUT_ENV)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
