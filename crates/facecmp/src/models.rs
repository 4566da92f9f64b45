//! The pretrained models: bundled into the binary, or read from a folder.
//!
//! YuNet and SFace are OpenCV Zoo models (MIT, Apache-2.0), dlib's ResNet is
//! CC0, converted to ONNX by `tools/dlib/convert.py`: all commercially
//! usable. `models/PROVENANCE.md` says where each file comes from and its
//! sha256.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

pub const DETECTOR_FILE: &str = "face_detection_yunet_2023mar.onnx";
pub const EMBEDDER_FILE: &str = "face_recognition_sface_2021dec_int8bq.onnx";
pub const DLIB_FILE: &str = "dlib_face_recognition_resnet_model_v1.onnx";

static BUNDLED_DETECTOR: &[u8] = include_bytes!("../../../models/face_detection_yunet_2023mar.onnx");
static BUNDLED_EMBEDDER: &[u8] = include_bytes!("../../../models/face_recognition_sface_2021dec_int8bq.onnx");
// 22 MB of float32 weights, bundled like the others: one binary that needs no
// download is worth more than a smaller one (BENCHMARKS.md has the sizes).
static BUNDLED_DLIB: &[u8] = include_bytes!("../../../models/dlib_face_recognition_resnet_model_v1.onnx");

/// Where the model files come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ModelSource {
    /// The copies compiled into the binary.
    #[default]
    Bundled,
    /// A folder holding files named like the bundled ones.
    Dir(PathBuf),
}

/// One model file's bytes and where they came from.
#[derive(Debug, Clone)]
pub struct ModelFile {
    pub name: &'static str,
    pub origin: String,
    pub bytes: Cow<'static, [u8]>,
}

impl ModelFile {
    /// Hex sha256 of the file, the model's identity in galleries and reports.
    pub fn sha256(&self) -> String {
        crate::digest::sha256_hex(&self.bytes)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot read model file {path}: {source}")]
pub struct ModelFileError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl ModelSource {
    pub fn detector(&self) -> Result<ModelFile, ModelFileError> {
        self.file(DETECTOR_FILE, BUNDLED_DETECTOR)
    }

    pub fn embedder(&self) -> Result<ModelFile, ModelFileError> {
        self.file(EMBEDDER_FILE, BUNDLED_EMBEDDER)
    }

    /// dlib's face-recognition ResNet, in ONNX.
    pub fn dlib(&self) -> Result<ModelFile, ModelFileError> {
        self.file(DLIB_FILE, BUNDLED_DLIB)
    }

    fn file(&self, name: &'static str, bundled: &'static [u8]) -> Result<ModelFile, ModelFileError> {
        match self {
            ModelSource::Bundled => {
                Ok(ModelFile { name, origin: format!("bundled:{name}"), bytes: Cow::Borrowed(bundled) })
            }
            ModelSource::Dir(dir) => read_model(&dir.join(name), name),
        }
    }
}

fn read_model(path: &Path, name: &'static str) -> Result<ModelFile, ModelFileError> {
    let bytes = std::fs::read(path).map_err(|source| ModelFileError { path: path.to_path_buf(), source })?;
    Ok(ModelFile { name, origin: path.display().to_string(), bytes: Cow::Owned(bytes) })
}
