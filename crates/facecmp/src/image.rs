//! Decoding photos into upright RGB pixels.
//!
//! Every common format is accepted (JPEG, PNG including RGBA and 16-bit, WebP,
//! BMP, TIFF, GIF, grayscale), the EXIF orientation is applied so faces are
//! upright, and size limits are enforced from the header, before any pixel
//! buffer is allocated, so a decompression bomb is refused cheaply.

use std::io::Cursor;
use std::path::Path;

use ::image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

/// Largest image accepted, per side and in decoded bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DecodeLimits {
    pub max_side: u32,
    pub max_pixels: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        // 16k per side and 100 megapixels: any real camera, no bombs.
        Self { max_side: 16_384, max_pixels: 100_000_000 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot read file: {0}")]
    Read(#[from] std::io::Error),
    #[error("file is empty")]
    Empty,
    #[error("not an image (unrecognised format)")]
    UnknownFormat,
    #[error(
        "image is too large ({width}×{height}; the limit is {max_side} px per side and {max_pixels} pixels)"
    )]
    TooLarge { width: u32, height: u32, max_side: u32, max_pixels: u64 },
    #[error("image is corrupt or truncated: {0}")]
    Corrupt(String),
}

/// Reads and decodes an image file.
pub fn load(path: &Path, limits: DecodeLimits) -> Result<RgbImage, ImageError> {
    let bytes = std::fs::read(path)?;
    decode(&bytes, limits)
}

/// Decodes an encoded image held in memory.
pub fn decode(bytes: &[u8], limits: DecodeLimits) -> Result<RgbImage, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    let reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
    match reader.format() {
        None => return Err(ImageError::UnknownFormat),
        // The JPEG decoder pads a truncated scan with grey instead of failing;
        // a half-grey face must not reach the detector.
        Some(ImageFormat::Jpeg) if !jpeg_is_complete(bytes) => {
            return Err(ImageError::Corrupt("the JPEG data ends before its end-of-image marker".into()));
        }
        Some(_) => {}
    }
    let mut decoder = reader.into_decoder().map_err(classify)?;
    let (width, height) = decoder.dimensions();
    if width > limits.max_side
        || height > limits.max_side
        || u64::from(width) * u64::from(height) > limits.max_pixels
    {
        return Err(ImageError::TooLarge {
            width,
            height,
            max_side: limits.max_side,
            max_pixels: limits.max_pixels,
        });
    }
    decoder.set_limits(allocation_limits(limits)).map_err(classify)?;
    // A broken EXIF block should not make a readable photo unusable.
    let orientation = decoder.orientation().unwrap_or(::image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(classify)?;
    image.apply_orientation(orientation);
    Ok(to_rgb(image))
}

fn allocation_limits(limits: DecodeLimits) -> Limits {
    let mut alloc = Limits::default();
    alloc.max_image_width = Some(limits.max_side);
    alloc.max_image_height = Some(limits.max_side);
    // RGBA at 16 bits per channel is the widest buffer a decoder makes.
    alloc.max_alloc = Some(limits.max_pixels.saturating_mul(8));
    alloc
}

/// Flattens any colour type to 8-bit RGB; transparent pixels are composited
/// over white, the way viewers show them, rather than exposing whatever colour
/// the encoder left under alpha 0.
fn to_rgb(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let (width, height) = rgba.dimensions();
    RgbImage::from_fn(width, height, |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over_white = |c: u8| {
            let alpha = u32::from(a);
            ((u32::from(c) * alpha + 255 * (255 - alpha) + 127) / 255) as u8
        };
        ::image::Rgb([over_white(r), over_white(g), over_white(b)])
    })
}

fn classify(error: ::image::ImageError) -> ImageError {
    match error {
        ::image::ImageError::Limits(limit) => {
            ImageError::Corrupt(format!("exceeds the decoding limits: {limit}"))
        }
        other => ImageError::Corrupt(other.to_string()),
    }
}

/// Walks the JPEG marker segments up to the end-of-image marker. Entropy-coded
/// scan data is skipped byte-wise: inside it `FF` is always followed by `00`
/// (stuffing) or a restart marker, so the next other marker ends the scan.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    const SOI: u8 = 0xD8;
    const EOI: u8 = 0xD9;
    const SOS: u8 = 0xDA;
    let is_restart = |marker: u8| (0xD0..=0xD7).contains(&marker);
    if bytes.len() < 4 || bytes[0] != 0xFF || bytes[1] != SOI {
        return false;
    }
    let mut at = 2;
    while at + 1 < bytes.len() {
        if bytes[at] != 0xFF {
            return false;
        }
        let marker = bytes[at + 1];
        match marker {
            0xFF => at += 1, // fill byte before a marker
            EOI => return true,
            m if is_restart(m) || m == 0x01 => at += 2,
            _ => {
                let Some(length) =
                    bytes.get(at + 2..at + 4).map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
                else {
                    return false;
                };
                at += 2 + length;
                if marker == SOS {
                    at = skip_scan_data(bytes, at);
                }
            }
        }
    }
    false
}

/// Returns the position of the first marker after entropy-coded data.
fn skip_scan_data(bytes: &[u8], mut at: usize) -> usize {
    while at + 1 < bytes.len() {
        let next = bytes[at + 1];
        if bytes[at] == 0xFF && next != 0x00 && !(0xD0..=0xD7).contains(&next) {
            return at;
        }
        at += 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jpeg_cut_anywhere_is_incomplete() {
        let whole =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/obama.jpg")).unwrap();
        assert!(jpeg_is_complete(&whole));
        for fraction in [0.1, 0.4, 0.9, 0.999] {
            let cut = (whole.len() as f64 * fraction) as usize;
            assert!(!jpeg_is_complete(&whole[..cut]), "cut at {cut}");
        }
    }
}
