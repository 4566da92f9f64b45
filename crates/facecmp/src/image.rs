//! Decoding photos into upright RGB pixels.
//!
//! Every common format is accepted (JPEG, PNG including RGBA and 16-bit, WebP,
//! BMP, TIFF, GIF, grayscale), the EXIF orientation is applied so faces are
//! upright, and size limits are enforced from the header, before any pixel
//! buffer is allocated, so a decompression bomb is refused cheaply: the
//! dimensions, the pixel count, and the bytes decoding would allocate (which
//! depend on the bit depth and the channels: a 16-bit RGBA pixel is 8 bytes).
//!
//! Decoders do not guess. JPEG goes through zune-jpeg in strict mode, so a
//! scan that ends early or a corrupt entropy-coded segment is an error, not a
//! photo padded with grey (the `image` crate turns strict mode off).

use std::io::{Cursor, Read};
use std::path::Path;

use ::image::metadata::Orientation;
use ::image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;

/// Largest image accepted: per side, in pixels, in bytes decoding may
/// allocate, and in encoded file size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DecodeLimits {
    pub max_side: u32,
    pub max_pixels: u64,
    /// Bytes of pixel buffers one decode may hold: the decoder's own buffer
    /// (width × height × bytes per pixel of the file's colour type) plus the
    /// 8-bit RGB copy the pipeline works on.
    #[serde(default = "default_max_decoded_bytes")]
    pub max_decoded_bytes: u64,
    /// Largest file read from disk.
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
}

fn default_max_decoded_bytes() -> u64 {
    512 << 20
}

fn default_max_file_bytes() -> u64 {
    256 << 20
}

impl Default for DecodeLimits {
    fn default() -> Self {
        // 16k per side and 100 megapixels: any real camera, no bombs. 512 MiB
        // of buffers: 100 megapixels of 8-bit RGB (300 MB), but not a
        // 16-bit RGBA file of that size (800 MB before conversion).
        Self {
            max_side: 16_384,
            max_pixels: 100_000_000,
            max_decoded_bytes: default_max_decoded_bytes(),
            max_file_bytes: default_max_file_bytes(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot read file: {0}")]
    Read(#[from] std::io::Error),
    #[error("not a regular file ({0}); give the path of an image file")]
    NotAFile(&'static str),
    #[error("file is larger than {max} bytes, the limit for an image")]
    FileTooLarge { max: u64 },
    #[error("file is empty")]
    Empty,
    #[error("not an image (unrecognised format)")]
    UnknownFormat,
    #[error(
        "image is too large ({width}×{height}; the limit is {max_side} px per side and {max_pixels} pixels)"
    )]
    TooLarge { width: u32, height: u32, max_side: u32, max_pixels: u64 },
    #[error(
        "image would need {needed} MiB to decode ({width}×{height} at {bytes_per_pixel} bytes per pixel); the limit is {max} MiB",
        needed = .bytes >> 20, max = .max >> 20
    )]
    TooManyBytes { width: u32, height: u32, bytes_per_pixel: u64, bytes: u64, max: u64 },
    #[error("image is corrupt or truncated: {0}")]
    Corrupt(String),
}

/// What the header says about an image: its size and what decoding it
/// costs in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub width: u32,
    pub height: u32,
    /// Bytes per pixel of the decoder's output (channels × bytes per sample).
    pub bytes_per_pixel: u64,
}

impl Header {
    /// The bytes a decode holds at its peak: the decoder's buffer and,
    /// unless that already is 8-bit RGB, the RGB copy.
    pub fn decoded_bytes(&self) -> u64 {
        let pixels = u64::from(self.width) * u64::from(self.height);
        let copy = if self.bytes_per_pixel == 3 { 0 } else { 3 };
        pixels.saturating_mul(self.bytes_per_pixel + copy)
    }

    fn check(&self, limits: DecodeLimits) -> Result<(), ImageError> {
        let Header { width, height, bytes_per_pixel } = *self;
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
        let bytes = self.decoded_bytes();
        if bytes > limits.max_decoded_bytes {
            return Err(ImageError::TooManyBytes {
                width,
                height,
                bytes_per_pixel,
                bytes,
                max: limits.max_decoded_bytes,
            });
        }
        Ok(())
    }
}

/// File extensions of the photo formats decoded here: what a walk over a
/// folder of footage treats as photos (`facecmp index`), and what the
/// console shows as a picture rather than plays.
pub const PHOTO_EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff"];

/// Whether `path` is named like a photo ([`PHOTO_EXTENSIONS`], any case).
pub fn has_photo_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| PHOTO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Reads and decodes an image file. Only regular files are read (a FIFO
/// would block, `/dev/zero` never end), and at most `max_file_bytes`.
pub fn load(path: &Path, limits: DecodeLimits) -> Result<RgbImage, ImageError> {
    decode(&read_file(path, limits.max_file_bytes)?, limits)
}

fn read_file(path: &Path, max: u64) -> Result<Vec<u8>, ImageError> {
    // Checked before opening: opening a FIFO for reading blocks until a
    // writer comes.
    let kind = std::fs::metadata(path)?.file_type();
    if !kind.is_file() {
        return Err(ImageError::NotAFile(file_kind(&kind)));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(ImageError::FileTooLarge { max });
    }
    Ok(bytes)
}

fn file_kind(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() { "a directory" } else { "not a file" }
}

/// Reads an encoded image's header and checks it against `limits`, without
/// decoding any pixels: what a caller needs to budget memory for a decode.
pub fn inspect(bytes: &[u8], limits: DecodeLimits) -> Result<Header, ImageError> {
    let header = match format(bytes)? {
        ImageFormat::Jpeg => jpeg_header(&mut jpeg_decoder(bytes, limits))?,
        _ => {
            let decoder = ImageReader::new(Cursor::new(bytes))
                .with_guessed_format()?
                .into_decoder()
                .map_err(classify)?;
            header_of(&decoder)
        }
    };
    header.check(limits)?;
    Ok(header)
}

/// Decodes an encoded image held in memory.
pub fn decode(bytes: &[u8], limits: DecodeLimits) -> Result<RgbImage, ImageError> {
    match format(bytes)? {
        ImageFormat::Jpeg => decode_jpeg(bytes, limits),
        _ => decode_other(bytes, limits),
    }
}

fn format(bytes: &[u8]) -> Result<ImageFormat, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    ImageReader::new(Cursor::new(bytes)).with_guessed_format()?.format().ok_or(ImageError::UnknownFormat)
}

fn header_of(decoder: &impl ImageDecoder) -> Header {
    let (width, height) = decoder.dimensions();
    Header { width, height, bytes_per_pixel: u64::from(decoder.color_type().bytes_per_pixel()) }
}

fn decode_other(bytes: &[u8], limits: DecodeLimits) -> Result<RgbImage, ImageError> {
    let reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
    let mut decoder = reader.into_decoder().map_err(classify)?;
    header_of(&decoder).check(limits)?;
    decoder.set_limits(allocation_limits(limits)).map_err(classify)?;
    // A broken EXIF block should not make a readable photo unusable.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(classify)?;
    image.apply_orientation(orientation);
    Ok(to_rgb(image))
}

/// The JPEG decoder, strict: any missing or corrupt data is an error.
fn jpeg_decoder(bytes: &[u8], limits: DecodeLimits) -> zune_jpeg::JpegDecoder<ZCursor<&[u8]>> {
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(limits.max_side as usize)
        .set_max_height(limits.max_side as usize);
    zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options)
}

fn jpeg_header(decoder: &mut zune_jpeg::JpegDecoder<ZCursor<&[u8]>>) -> Result<Header, ImageError> {
    decoder.decode_headers().map_err(jpeg_error)?;
    let (width, height) =
        decoder.dimensions().ok_or_else(|| ImageError::Corrupt("no frame header".into()))?;
    let channels = jpeg_output(decoder.input_colorspace().unwrap_or(ColorSpace::RGB)).num_components();
    let side = |value: usize| u32::try_from(value).unwrap_or(u32::MAX);
    Ok(Header { width: side(width), height: side(height), bytes_per_pixel: channels as u64 })
}

/// The colour space zune-jpeg decodes to: grey stays grey, everything else
/// (YCbCr, CMYK, YCCK) becomes RGB.
fn jpeg_output(input: ColorSpace) -> ColorSpace {
    match input {
        ColorSpace::Luma => ColorSpace::Luma,
        _ => ColorSpace::RGB,
    }
}

fn decode_jpeg(bytes: &[u8], limits: DecodeLimits) -> Result<RgbImage, ImageError> {
    // The decoder pads a truncated scan with grey even in strict mode when
    // the data simply stops; a half-grey face must not reach the detector.
    if !jpeg_is_complete(bytes) {
        return Err(ImageError::Corrupt("the JPEG data ends before its end-of-image marker".into()));
    }
    if !restart_intervals_complete(bytes) {
        return Err(ImageError::Corrupt("the JPEG scan is missing restart intervals (cut short)".into()));
    }
    let mut decoder = jpeg_decoder(bytes, limits);
    let header = jpeg_header(&mut decoder)?;
    header.check(limits)?;
    let output = jpeg_output(decoder.input_colorspace().unwrap_or(ColorSpace::RGB));
    decoder.set_options(decoder.options().jpeg_set_out_colorspace(output));
    let orientation = decoder
        .exif()
        .and_then(|exif| Orientation::from_exif_chunk(exif))
        .unwrap_or(Orientation::NoTransforms);
    let pixels = decoder.decode().map_err(jpeg_error)?;
    let wrong_size = || ImageError::Corrupt("the decoded JPEG does not match its header's size".into());
    let mut image = match output {
        ColorSpace::Luma => DynamicImage::ImageLuma8(
            ::image::GrayImage::from_raw(header.width, header.height, pixels).ok_or_else(wrong_size)?,
        ),
        _ => DynamicImage::ImageRgb8(
            RgbImage::from_raw(header.width, header.height, pixels).ok_or_else(wrong_size)?,
        ),
    };
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

fn jpeg_error(error: zune_jpeg::errors::DecodeErrors) -> ImageError {
    ImageError::Corrupt(format!("JPEG: {error}"))
}

fn allocation_limits(limits: DecodeLimits) -> Limits {
    let mut alloc = Limits::default();
    alloc.max_image_width = Some(limits.max_side);
    alloc.max_image_height = Some(limits.max_side);
    alloc.max_alloc = Some(limits.max_decoded_bytes);
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

/// For a baseline JPEG with restart markers (most camera files): whether
/// its scan holds every restart interval the headers promise. zune-jpeg,
/// even strict, ends a scan quietly at an end-of-image marker, so a file cut
/// short and closed with `FF D9` would otherwise decode padded with grey.
/// Files without restart markers, and progressive ones, are left to the
/// decoder.
fn restart_intervals_complete(bytes: &[u8]) -> bool {
    let (mut interval, mut mcus) = (0usize, 0usize);
    let mut at = 2;
    while at + 4 <= bytes.len() && bytes[at] == 0xFF {
        let marker = bytes[at + 1];
        if marker == 0xD9 {
            break;
        }
        let length = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        let segment = bytes.get(at + 4..at + 2 + length).unwrap_or_default();
        match marker {
            0xDD if segment.len() >= 2 => {
                interval = usize::from(u16::from_be_bytes([segment[0], segment[1]]))
            }
            0xC0 | 0xC1 if segment.len() >= 6 => {
                let height = usize::from(u16::from_be_bytes([segment[1], segment[2]]));
                let width = usize::from(u16::from_be_bytes([segment[3], segment[4]]));
                let components = segment.get(6..).unwrap_or_default().chunks(3).take(usize::from(segment[5]));
                let (h, v) = components
                    .filter(|c| c.len() == 3)
                    .fold((1, 1), |(h, v), c| (h.max(usize::from(c[1] >> 4)), v.max(usize::from(c[1] & 15))));
                mcus = width.div_ceil(8 * h.max(1)) * height.div_ceil(8 * v.max(1));
            }
            0xDA => {
                let interleaved = segment.first().is_some_and(|&n| n > 1);
                let start = at + 2 + length;
                let end = skip_scan_data(bytes, start);
                if interval == 0 || mcus == 0 || !interleaved {
                    return true;
                }
                let restarts = bytes[start.min(end)..end]
                    .windows(2)
                    .filter(|w| w[0] == 0xFF && (0xD0..=0xD7).contains(&w[1]))
                    .count();
                return restarts + 1 >= mcus.div_ceil(interval);
            }
            _ => {}
        }
        at += 2 + length;
    }
    true
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
