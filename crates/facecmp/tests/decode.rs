//! Decoding hostile and corrupt input: truncated and holed JPEGs, a
//! decompression bomb, files that are not files, and a bounded fuzz run of
//! mutated images through every decoder.
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report

use std::io::Cursor;
use std::path::Path;

use facecmp::image::{DecodeLimits, ImageError, decode, inspect, load};
use image::{DynamicImage, ImageFormat};

fn photo(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../../tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Where the entropy-coded data of the first scan starts and ends: after
/// the SOS segment, up to the first marker that is not stuffing or a restart.
fn scan_data(jpeg: &[u8]) -> std::ops::Range<usize> {
    let sos = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let length = usize::from(u16::from_be_bytes([jpeg[sos + 2], jpeg[sos + 3]]));
    let start = sos + 2 + length;
    let end = (start..jpeg.len() - 1)
        .find(|&at| jpeg[at] == 0xFF && jpeg[at + 1] != 0 && !(0xD0..=0xD7).contains(&jpeg[at + 1]))
        .unwrap();
    start..end
}

fn assert_corrupt(bytes: &[u8], what: &str) {
    match decode(bytes, DecodeLimits::default()) {
        Err(ImageError::Corrupt(_)) => {}
        other => {
            panic!("{what}: expected a corrupt-image error, got {:?}", other.map(|i| i.dimensions()))
        }
    }
}

/// A small deterministic generator (xorshift64*): the fuzz cases are
/// the same on every run, so a failure names its case.
struct Cases(u64);

impl Cases {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Flips bits, overwrites, deletes, duplicates and truncates, more often
/// near the start where the headers are.
fn mutate(cases: &mut Cases, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + cases.below(4) {
        let len = bytes.len().max(1);
        let at = if cases.below(2) == 0 { cases.below(len.min(64)) } else { cases.below(len) };
        let last = at.min(bytes.len() - 1);
        match cases.below(6) {
            0 => bytes[last] ^= 1 << cases.below(8),
            1 => bytes[last] = [0x00, 0xFF, 0x7F, 0x80][cases.below(4)],
            2 => {
                let end = (at + 1 + cases.below(32)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            3 => {
                let end = (at + 1 + cases.below(32)).min(bytes.len());
                let chunk = bytes[at.min(end)..end].to_vec();
                bytes.splice(at..at, chunk);
            }
            4 => bytes.truncate(at),
            _ => bytes[last..].iter_mut().take(4).for_each(|b| *b = 0xFF),
        }
        if bytes.is_empty() {
            break;
        }
    }
    bytes
}

/// Small seeds of every decoder path: JPEG (colour and grey), PNG
/// (8-bit, 16-bit, alpha), WebP, BMP, GIF, TIFF.
fn fuzz_seeds() -> Vec<Vec<u8>> {
    let face = image::load_from_memory(&photo("obama.jpg")).unwrap().thumbnail(48, 48);
    let mut seeds = vec![photo("32bit.png")];
    let encodings: [(DynamicImage, ImageFormat); 8] = [
        (face.clone(), ImageFormat::Jpeg),
        (DynamicImage::ImageLuma8(face.to_luma8()), ImageFormat::Jpeg),
        (face.clone(), ImageFormat::Png),
        (DynamicImage::ImageRgba16(face.to_rgba16()), ImageFormat::Png),
        (DynamicImage::ImageRgba8(face.to_rgba8()), ImageFormat::WebP),
        (face.clone(), ImageFormat::Bmp),
        (DynamicImage::ImageRgba8(face.to_rgba8()), ImageFormat::Gif),
        (face.clone(), ImageFormat::Tiff),
    ];
    for (image, format) in encodings {
        let mut bytes = Cursor::new(Vec::new());
        image.write_to(&mut bytes, format).unwrap();
        seeds.push(bytes.into_inner());
    }
    seeds
}

fn fuzz_decoding(cases: usize) {
    let seeds = fuzz_seeds();
    let mut generator = Cases(0x5EED_FACE_C0DE);
    let (mut decoded, mut refused) = (0, 0);
    for case in 0..cases {
        let seed = &seeds[case % seeds.len()];
        let bytes = mutate(&mut generator, seed);
        // No panic, and what decodes has a size its header allowed.
        let inspected = inspect(&bytes, DecodeLimits::default());
        match std::panic::catch_unwind(|| decode(&bytes, DecodeLimits::default())) {
            Ok(Ok(image)) => {
                decoded += 1;
                let header =
                    inspected.unwrap_or_else(|e| panic!("case {case}: decoded but inspect said {e}"));
                assert!(image.width() <= header.width.max(header.height), "case {case}");
            }
            Ok(Err(_)) => refused += 1,
            Err(_) => panic!("case {case}: decoding panicked"),
        }
    }
    eprintln!("fuzzed decoding: {cases} cases, {decoded} decoded, {refused} refused");
    assert_eq!(decoded + refused, cases);
}

#[test]
fn mutated_images_never_panic_the_decoders() {
    fuzz_decoding(600);
}

/// The longer run for CI or by hand:
/// `FACECMP_FUZZ_CASES=100000 cargo test --workspace --test decode -- --ignored fuzz`.
#[test]
#[ignore]
fn fuzz_decoding_long() {
    let cases = std::env::var("FACECMP_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    fuzz_decoding(cases);
}

#[test]
fn the_test_photos_decode() {
    for name in ["obama.jpg", "obama2.jpg", "biden.jpg", "bald_guys.jpg", "no_face.png", "32bit.png"] {
        let image = decode(&photo(name), DecodeLimits::default()).unwrap();
        assert!(image.width() > 100 && image.height() > 100, "{name}");
    }
}

#[test]
fn a_truncated_jpeg_with_an_end_marker_appended_is_corrupt() {
    let whole = photo("obama.jpg");
    let scan = scan_data(&whole);
    for fraction in [0.3, 0.9, 0.99] {
        let cut = scan.start + ((scan.end - scan.start) as f64 * fraction) as usize;
        let mut bytes = whole[..cut].to_vec();
        bytes.extend_from_slice(&[0xFF, 0xD9]);
        assert_corrupt(&bytes, &format!("cut at {fraction} of the scan, FF D9 appended"));
    }
}

#[test]
fn a_jpeg_missing_part_of_its_scan_data_is_corrupt() {
    for name in ["obama.jpg", "obama2.jpg", "biden.jpg"] {
        let whole = photo(name);
        let scan = scan_data(&whole);
        let length = scan.end - scan.start;
        let middle = scan.start + length / 2;
        let mut bytes = whole[..middle].to_vec();
        bytes.extend_from_slice(&whole[middle + length / 20..]);
        assert_corrupt(&bytes, &format!("{name} with 5 % of its scan cut from the middle"));
    }
}

/// A PNG header for an image that would decode to `width × height`
/// 16-bit RGBA pixels (8 bytes each), with a token of pixel data.
fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[16, 6, 0, 0, 0]); // 16 bits, RGBA
    chunk(&mut png, b"IHDR", &header);
    chunk(&mut png, b"IDAT", &[0x78, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(&mut png, b"IEND", &[]);
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn a_decompression_bomb_is_refused_from_its_header_by_its_bytes_not_only_its_pixels() {
    // 10000×10000 is within the pixel limit; at 8 bytes a pixel it
    // would take 800 MB before the RGB copy.
    let bomb = png_bomb(10_000, 10_000);
    let header =
        inspect(&bomb, DecodeLimits { max_decoded_bytes: u64::MAX, ..DecodeLimits::default() }).unwrap();
    assert_eq!((header.width, header.height, header.bytes_per_pixel), (10_000, 10_000, 8));
    assert_eq!(header.decoded_bytes(), 1_100_000_000);
    match decode(&bomb, DecodeLimits::default()) {
        Err(error @ ImageError::TooManyBytes { .. }) => {
            assert!(error.to_string().contains("1049 MiB"), "{error}");
        }
        other => panic!("expected a refusal by size, got {:?}", other.map(|i| i.dimensions())),
    }
    assert!(matches!(inspect(&bomb, DecodeLimits::default()), Err(ImageError::TooManyBytes { .. })));
}

#[test]
fn only_regular_files_are_read_and_no_more_than_the_limit() {
    let dir = std::env::temp_dir();
    let error = load(&dir, DecodeLimits::default()).unwrap_err();
    assert_eq!(error.to_string(), "not a regular file (a directory); give the path of an image file");
    #[cfg(unix)]
    {
        let error = load(Path::new("/dev/zero"), DecodeLimits::default()).unwrap_err();
        assert!(error.to_string().contains("a character device"), "{error}");
    }
    let small = DecodeLimits { max_file_bytes: 1000, ..DecodeLimits::default() };
    let error = load(Path::new(&format!("{}/../../tests/data/obama.jpg", env!("CARGO_MANIFEST_DIR"))), small)
        .unwrap_err();
    assert!(matches!(error, ImageError::FileTooLarge { max: 1000 }), "{error}");
}
