//! Failures as Python exceptions. The classes are defined in Python
//! (`python/facecmp/_errors.py`, so that they can also derive from
//! `ValueError`, `FileNotFoundError`, …); here each library error is mapped
//! to one of them. The message is the library's own, which names the input.

use facecmp::compare::CalibrationError;
use facecmp::image::ImageError;
use facecmp_gallery::{GalleryError, IdentifyError, Rejection};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

/// Everything that can go wrong in a call, held without the GIL (work runs
/// detached) and turned into a Python exception once it is attached again.
#[derive(Debug)]
pub enum Failure {
    Face(facecmp::Error),
    Gallery(GalleryError),
    Calibration(CalibrationError),
    /// A photo refused for enrolment; `input` names it.
    Rejected {
        input: String,
        rejection: Rejection,
    },
    /// An array that is not an RGB image: `BadImage`, "<input>: <why>".
    BadArray {
        input: String,
        why: String,
    },
    /// A bad argument: `ValueError`.
    Value(String),
    /// An argument of the wrong type: `TypeError`.
    Type(String),
}

impl From<facecmp::Error> for Failure {
    fn from(error: facecmp::Error) -> Failure {
        Failure::Face(error)
    }
}

impl From<GalleryError> for Failure {
    fn from(error: GalleryError) -> Failure {
        Failure::Gallery(error)
    }
}

impl From<CalibrationError> for Failure {
    fn from(error: CalibrationError) -> Failure {
        Failure::Calibration(error)
    }
}

impl From<IdentifyError> for Failure {
    fn from(error: IdentifyError) -> Failure {
        match error {
            IdentifyError::Photo(error) => Failure::Face(error),
            IdentifyError::Gallery(error) => Failure::Gallery(error),
        }
    }
}

impl From<Failure> for PyErr {
    fn from(failure: Failure) -> PyErr {
        Python::attach(|py| failure.into_pyerr(py))
    }
}

impl Failure {
    fn into_pyerr(self, py: Python<'_>) -> PyErr {
        let (class, message) = match self {
            Failure::Value(message) => return PyValueError::new_err(message),
            Failure::Type(message) => return PyTypeError::new_err(message),
            Failure::Face(error) => (face_error_class(&error), error.to_string()),
            Failure::Calibration(error) => ("ThresholdError", error.to_string()),
            Failure::BadArray { input, why } => ("BadImage", format!("{input}: {why}")),
            Failure::Gallery(error) => (gallery_error_class(&error), gallery_message(&error)),
            Failure::Rejected { input, rejection } => {
                let message = match &rejection {
                    // Its detail already names the input.
                    Rejection::BadImage { detail } => detail.clone(),
                    other => format!("{input}: {other}"),
                };
                (rejection_class(&rejection), message)
            }
        };
        raise(py, class, message)
    }
}

/// The exception class for a pipeline error: input problems by kind, and
/// failures of facecmp itself (models, engine) as `ModelError`.
fn face_error_class(error: &facecmp::Error) -> &'static str {
    use facecmp::Error;
    match error {
        Error::Image { source: ImageError::Read(io), .. } if io.kind() == std::io::ErrorKind::NotFound => {
            "ImageNotFound"
        }
        Error::Image { .. } => "BadImage",
        Error::NoFace { .. } => "NoFace",
        Error::FaceTooSmall { .. } => "TooSmall",
        Error::SeveralFaces { .. } => "MultipleFaces",
        Error::LowScore { .. } => "LowScore",
        Error::NoSuchFace { .. } => "NoSuchFace",
        Error::Detect { .. }
        | Error::Embed { .. }
        | Error::Dimension(_)
        | Error::ModelFile(_)
        | Error::ModelLoad(_) => "ModelError",
    }
}

/// The exception class for a refused enrolment: the one `compare` raises
/// for the same fault where there is one.
fn rejection_class(rejection: &Rejection) -> &'static str {
    match rejection {
        Rejection::BadImage { .. } => "BadImage",
        Rejection::NoFace => "NoFace",
        Rejection::MultipleFaces { .. } => "MultipleFaces",
        Rejection::TooSmall { .. } => "TooSmall",
        Rejection::LowScore { .. } => "LowScore",
        Rejection::AlreadyEnrolled => "AlreadyEnrolled",
        Rejection::CloserToOther { .. } => "CloserToOther",
    }
}

fn gallery_error_class(error: &GalleryError) -> &'static str {
    match error {
        GalleryError::Missing { .. } => "GalleryNotFound",
        GalleryError::AlreadyExists { .. } => "GalleryExists",
        GalleryError::EmbedderMismatch { .. } => "EmbedderMismatch",
        GalleryError::Unavailable { .. } => "GalleryUnavailable",
        GalleryError::NoSuchPerson(_) => "NoSuchPerson",
        GalleryError::NoSuchZone(_) => "NoSuchZone",
        GalleryError::Invalid(_) | GalleryError::EmptyWindow { .. } => "InvalidArgument",
        _ => "GalleryError",
    }
}

/// The library's message; a missing gallery's hint also names the Python way.
fn gallery_message(error: &GalleryError) -> String {
    match error {
        GalleryError::Missing { .. } => format!("{error}, or open it with facecmp.Gallery(…, create=True)"),
        _ => error.to_string(),
    }
}

/// An instance of `facecmp._errors.<class>` carrying `message`.
pub fn raise(py: Python<'_>, class: &str, message: String) -> PyErr {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let made = MODULE
        .get_or_try_init(py, || PyModule::import(py, "facecmp._errors").map(Bound::unbind))
        .and_then(|module| module.bind(py).getattr(class))
        .and_then(|class| class.call1((message.clone(),)));
    match made {
        Ok(instance) => PyErr::from_value(instance),
        // The package is incomplete (its Python part is missing): still say what failed.
        Err(error) => {
            PyValueError::new_err(format!("{message} (and facecmp._errors.{class} is unavailable: {error})"))
        }
    }
}
