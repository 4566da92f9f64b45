//! What Python passes as an image: a path (`str` or `os.PathLike`), encoded
//! bytes, or an H×W×3 `uint8` array of RGB pixels (any strides: a BGR frame
//! reversed as `frame[:, :, ::-1]` is read correctly).

use std::borrow::Cow;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use facecmp::image::{DecodeLimits, ImageError};
use facecmp::{Photo, Pipeline, RgbImage};
use numpy::{PyArray3, PyArrayDescrMethods, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView, PyString};

use crate::errors::Failure;

/// An image argument, read while attached to Python, used while detached.
pub enum Image<'a> {
    Path(PathBuf),
    /// Encoded bytes (JPEG, PNG, …); borrowed from a `bytes` object, which
    /// is immutable, else copied.
    Encoded {
        name: String,
        bytes: Cow<'a, [u8]>,
    },
    /// Pixels copied out of an array.
    Pixels {
        name: String,
        image: RgbImage,
    },
    /// An array that is not an RGB image (wrong shape or dtype, no pixels):
    /// `why` says what is wrong with it.
    Refused {
        name: String,
        why: String,
    },
}

impl<'a> Image<'a> {
    /// Reads the argument `arg` (named so in messages unless it is a path);
    /// an array that is not an RGB image raises `BadImage`.
    pub fn extract(value: &'a Bound<'_, PyAny>, arg: &str) -> PyResult<Image<'a>> {
        match Image::extract_any(value, arg)? {
            Image::Refused { name, why } => Err(Failure::BadArray { input: name, why }.into()),
            image => Ok(image),
        }
    }

    /// As [`Image::extract`], but an array that is not an RGB image is
    /// returned as [`Image::Refused`] (for `access`, which records it as a
    /// denial instead of raising).
    pub fn extract_any(value: &'a Bound<'_, PyAny>, arg: &str) -> PyResult<Image<'a>> {
        if let Ok(bytes) = value.cast::<PyBytes>() {
            let bytes = bytes.as_bytes();
            return Ok(Image::Encoded { name: encoded_name(arg, bytes.len()), bytes: Cow::Borrowed(bytes) });
        }
        if value.is_instance_of::<PyByteArray>() || value.is_instance_of::<PyMemoryView>() {
            let copy = value.py().get_type::<PyBytes>().call1((value,))?;
            let bytes = copy.cast::<PyBytes>()?.as_bytes().to_vec();
            return Ok(Image::Encoded { name: encoded_name(arg, bytes.len()), bytes: Cow::Owned(bytes) });
        }
        if let Ok(array) = value.cast::<PyUntypedArray>() {
            return pixels(array, arg);
        }
        if value.is_instance_of::<PyString>() || value.hasattr("__fspath__")? {
            return Ok(Image::Path(value.extract()?));
        }
        // PIL images and other array-likes.
        if value.hasattr("__array_interface__")? || value.hasattr("__array__")? {
            let array = value.py().import("numpy")?.call_method1("asarray", (value,))?;
            if let Ok(array) = array.cast::<PyUntypedArray>() {
                return pixels(array, arg);
            }
        }
        Err(Failure::Type(format!(
            "{arg}: an image is a path (str or os.PathLike), bytes, or an H×W×3 uint8 numpy array (RGB), \
             not {}",
            value.get_type().name()?
        ))
        .into())
    }

    /// How the image is named in messages.
    pub fn name(&self) -> String {
        match self {
            Image::Path(path) => path.display().to_string(),
            Image::Encoded { name, .. } | Image::Pixels { name, .. } | Image::Refused { name, .. } => {
                name.clone()
            }
        }
    }

    /// Decodes the image and finds its faces.
    pub fn open(self, pipeline: &Pipeline) -> Result<Photo, facecmp::Error> {
        match self {
            Image::Path(path) => pipeline.open(&path),
            Image::Encoded { name, bytes } => pipeline.open_bytes(&name, &bytes),
            Image::Pixels { name, image } => {
                check_size(&name, &image, pipeline.config().decode)?;
                pipeline.find_faces(name, image)
            }
            Image::Refused { name, why } => Err(refused(name, why)),
        }
    }

    /// The image as an encoded file, for the gallery's calls, which take
    /// bytes (and record their sha256): a file's bytes as they are, an
    /// array as an uncompressed BMP (lossless, and quick to write and read).
    pub fn encoded(&self, limits: DecodeLimits) -> Result<Cow<'_, [u8]>, facecmp::Error> {
        match self {
            Image::Path(path) => read_file(path, limits).map(Cow::Owned),
            Image::Encoded { bytes, .. } => Ok(Cow::Borrowed(bytes)),
            Image::Pixels { name, image } => {
                check_size(name, image, limits)?;
                let mut bmp = Cursor::new(Vec::new());
                image.write_to(&mut bmp, ::image::ImageFormat::Bmp).map_err(|error| {
                    facecmp::Error::Image {
                        input: name.clone(),
                        source: ImageError::Corrupt(format!("cannot pass the pixels on: {error}")),
                    }
                })?;
                Ok(Cow::Owned(bmp.into_inner()))
            }
            Image::Refused { name, why } => Err(refused(name.clone(), why.clone())),
        }
    }
}

/// A refused array as a library error, for the calls that take one (callers
/// turn [`Image::Refused`] into [`Failure::BadArray`] before they get here).
fn refused(input: String, why: String) -> facecmp::Error {
    facecmp::Error::Image { input, source: ImageError::Corrupt(why) }
}

fn encoded_name(arg: &str, len: usize) -> String {
    format!("{arg} ({len} bytes)")
}

/// Copies an H×W×3 `uint8` array into an RGB image, whatever its strides.
fn pixels(array: &Bound<'_, PyUntypedArray>, arg: &str) -> PyResult<Image<'static>> {
    let shape = array.shape().to_vec();
    let dtype = array.dtype();
    let name = match shape.as_slice() {
        [height, width, 3] => format!("{arg} (array {height}×{width}×3)"),
        _ => format!("{arg} (array of shape {shape:?})"),
    };
    let wrong = |why: String| Ok(Image::Refused { name: name.clone(), why });
    let [height, width, 3] = shape[..] else {
        return wrong(
            "an array image must be H×W×3 (RGB); for OpenCV's BGR pass frame[:, :, ::-1], for \
             greyscale numpy.dstack([gray] * 3)"
                .into(),
        );
    };
    if !dtype.is_equiv_to(&numpy::dtype::<u8>(array.py())) {
        return wrong(format!("an array image must be of dtype uint8, not {dtype}"));
    }
    if height == 0 || width == 0 {
        return wrong("the array has no pixels".into());
    }
    let (Ok(height), Ok(width)) = (u32::try_from(height), u32::try_from(width)) else {
        return wrong("the array is too large to be an image".into());
    };
    let array = array.cast::<PyArray3<u8>>()?.try_readonly()?;
    let view = array.as_array();
    // Row-major in logical order, whatever the strides (negative included).
    let data: Vec<u8> = match view.as_slice() {
        Some(contiguous) => contiguous.to_vec(),
        None => view.iter().copied().collect(),
    };
    match RgbImage::from_raw(width, height, data) {
        Some(image) => Ok(Image::Pixels { name, image }),
        None => wrong("inconsistent shape".into()),
    }
}

/// The decoder's size limits hold for pixels given directly too.
fn check_size(name: &str, image: &RgbImage, limits: DecodeLimits) -> Result<(), facecmp::Error> {
    let (width, height) = image.dimensions();
    if width > limits.max_side
        || height > limits.max_side
        || u64::from(width) * u64::from(height) > limits.max_pixels
    {
        return Err(facecmp::Error::Image {
            input: name.to_string(),
            source: ImageError::TooLarge {
                width,
                height,
                max_side: limits.max_side,
                max_pixels: limits.max_pixels,
            },
        });
    }
    Ok(())
}

/// Reads an image file as the decoder would: only a regular file, at most
/// the limit's size; errors name the path.
fn read_file(path: &Path, limits: DecodeLimits) -> Result<Vec<u8>, facecmp::Error> {
    let input = || path.display().to_string();
    let failed = |source: ImageError| facecmp::Error::Image { input: input(), source };
    let metadata = std::fs::metadata(path).map_err(|error| failed(ImageError::Read(error)))?;
    if metadata.is_dir() {
        return Err(failed(ImageError::NotAFile("a directory")));
    }
    if !metadata.is_file() {
        return Err(failed(ImageError::NotAFile("a special file")));
    }
    if metadata.len() > limits.max_file_bytes {
        return Err(failed(ImageError::FileTooLarge { max: limits.max_file_bytes }));
    }
    std::fs::read(path).map_err(|error| failed(ImageError::Read(error)))
}
