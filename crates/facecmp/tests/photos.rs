//! The pipeline on real photos in every common format, rotated by EXIF,
//! cropped tight to the face, and as hostile files.
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use facecmp::detect::{BoundingBox, Point};
use facecmp::image::{DecodeLimits, ImageError};
use facecmp::{Config, Embedding, Error, FaceChoice, Pipeline, RgbImage};
use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageEncoder, ImageFormat};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(name)
}

fn pipeline() -> &'static Pipeline {
    static PIPELINE: OnceLock<Pipeline> = OnceLock::new();
    PIPELINE.get_or_init(|| Pipeline::load(Config::default()).unwrap())
}

fn embed_bytes(name: &str, bytes: &[u8]) -> Result<Embedding, Error> {
    let photo = pipeline().open_bytes(name, bytes)?;
    Ok(pipeline().embed_one(&photo, FaceChoice::Largest)?.1)
}

fn reference_embedding() -> Embedding {
    embed_bytes("obama2.jpg", &std::fs::read(data("obama2.jpg")).unwrap()).unwrap()
}

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    image.write_to(&mut bytes, format).unwrap();
    bytes.into_inner()
}

#[test]
fn every_common_format_gives_the_same_face() {
    let original = image::open(data("obama2.jpg")).unwrap();
    let reference = reference_embedding();
    let variants: Vec<(&str, Vec<u8>)> = vec![
        ("png-16bit", encode(&DynamicImage::ImageRgb16(original.to_rgb16()), ImageFormat::Png)),
        ("png-rgba", encode(&DynamicImage::ImageRgba8(original.to_rgba8()), ImageFormat::Png)),
        ("png-gray", encode(&DynamicImage::ImageLuma8(original.to_luma8()), ImageFormat::Png)),
        ("webp", encode(&original, ImageFormat::WebP)),
        ("bmp", encode(&original, ImageFormat::Bmp)),
        ("tiff", encode(&original, ImageFormat::Tiff)),
    ];
    let expected = pipeline().open(&data("obama2.jpg")).unwrap().faces;
    assert_eq!(expected.len(), 1);
    for (name, bytes) in variants {
        let photo = pipeline().open_bytes(name, &bytes).unwrap();
        assert_eq!(photo.faces.len(), 1, "{name}");
        assert!(photo.faces[0].bbox.iou(&expected[0].bbox) > 0.9, "{name}: {:?}", photo.faces[0].bbox);
        let similarity = embed_bytes(name, &bytes).unwrap().cosine(&reference).unwrap();
        // Grayscale loses colour, the others nothing: all stay far above 0.363.
        assert!(similarity > 0.8, "{name}: similarity {similarity}");
    }
}

/// A box within `tolerance` pixels of `(x, y, width, height)`.
fn near(bbox: &BoundingBox, (x, y, width, height): (f32, f32, f32, f32), tolerance: f32) -> bool {
    [(bbox.x, x), (bbox.y, y), (bbox.width, width), (bbox.height, height)]
        .iter()
        .all(|(got, want)| (got - want).abs() <= tolerance)
}

#[test]
fn faces_are_found_where_they_are() {
    let photo = pipeline().open(&data("obama.jpg")).unwrap();
    assert_eq!(photo.faces.len(), 1);
    let face = &photo.faces[0];
    // Measured once and checked by eye on the drawing `facecmp detect --draw` makes.
    assert!(near(&face.bbox, (371.0, 90.0, 240.0, 329.0), 12.0), "{:?}", face.bbox);
    assert!(face.score > 0.9, "{}", face.score);
    let [right_eye, left_eye, nose, right_mouth, left_mouth] = face.landmarks;
    let inside = |p: Point| {
        p.x > face.bbox.x
            && p.x < face.bbox.x + face.bbox.width
            && p.y > face.bbox.y
            && p.y < face.bbox.y + face.bbox.height
    };
    assert!(face.landmarks.iter().all(|&p| inside(p)), "{face:?}");
    // The subject's right eye and mouth corner appear on the image's left;
    // eyes above the nose, the nose above the mouth.
    assert!(right_eye.x < left_eye.x && right_mouth.x < left_mouth.x, "{face:?}");
    assert!(right_eye.y.max(left_eye.y) < nose.y && nose.y < right_mouth.y.min(left_mouth.y), "{face:?}");
}

#[test]
fn every_face_of_a_group_photo_is_found_once_inside_it() {
    let photo = pipeline().open(&data("bald_guys.jpg")).unwrap();
    assert_eq!(photo.faces.len(), 24);
    let (width, height) = (photo.image.width() as f32, photo.image.height() as f32);
    for (i, face) in photo.faces.iter().enumerate() {
        let centre = (face.bbox.x + face.bbox.width / 2.0, face.bbox.y + face.bbox.height / 2.0);
        assert!(centre.0 > 0.0 && centre.0 < width && centre.1 > 0.0 && centre.1 < height, "{face:?}");
        assert!(face.size() > 20.0 && face.size() < width / 2.0, "{face:?}");
        for other in &photo.faces[i + 1..] {
            assert!(face.bbox.iou(&other.bbox) <= 0.3, "two boxes for one face: {face:?} {other:?}");
        }
    }
    assert!(photo.faces.windows(2).all(|pair| pair[0].score >= pair[1].score), "strongest first");
}

/// A minimal little-endian TIFF block holding only an Orientation tag.
fn exif_orientation(value: u16) -> Vec<u8> {
    let mut exif = b"II*\0\x08\0\0\0\x01\0".to_vec();
    exif.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0]);
    exif.extend_from_slice(&u32::from(value).to_le_bytes());
    exif.extend_from_slice(&[0, 0, 0, 0]);
    exif
}

#[test]
fn exif_orientation_is_applied_before_detection() {
    let upright = image::open(data("obama2.jpg")).unwrap().into_rgb8();
    // Store the pixels rotated a quarter turn anticlockwise and tag the file
    // "rotate 90° clockwise to display", as a phone held sideways does.
    let stored = image::imageops::rotate270(&upright);
    let mut bytes = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut bytes, 95);
    encoder.set_exif_metadata(exif_orientation(6)).unwrap();
    encoder
        .write_image(stored.as_raw(), stored.width(), stored.height(), image::ExtendedColorType::Rgb8)
        .unwrap();

    let decoded = facecmp::image::decode(&bytes, DecodeLimits::default()).unwrap();
    assert_eq!(decoded.dimensions(), upright.dimensions());
    let photo = pipeline().find_faces("rotated".into(), decoded).unwrap();
    let face = &photo.faces[0];
    let [right_eye, left_eye, ..] = face.landmarks;
    assert!(right_eye.x < left_eye.x && (right_eye.y - left_eye.y).abs() < 20.0, "eyes level: {face:?}");
    let similarity =
        pipeline().embed_one(&photo, FaceChoice::Largest).unwrap().1.cosine(&reference_embedding()).unwrap();
    assert!(similarity > 0.9, "similarity {similarity}");
}

#[test]
fn a_crop_filled_by_the_face_is_still_found() {
    let photo = image::open(data("obama.jpg")).unwrap().into_rgb8();
    // Just inside the detected box (371,90 240×329): no background at all.
    let crop: RgbImage = image::imageops::crop_imm(&photo, 380, 110, 220, 290).to_image();
    let found = pipeline().find_faces("tight crop".into(), crop).unwrap();
    assert_eq!(found.faces.len(), 1);
    let whole = pipeline().open(&data("obama.jpg")).unwrap();
    let tight = pipeline().embed_one(&found, FaceChoice::Largest).unwrap().1;
    let full = pipeline().embed_one(&whole, FaceChoice::Largest).unwrap().1;
    let similarity = tight.cosine(&full).unwrap();
    assert!(similarity > 0.5, "similarity {similarity}");
}

#[test]
fn a_face_below_the_minimum_size_is_refused() {
    let small =
        image::open(data("obama.jpg")).unwrap().resize(100, 125, image::imageops::FilterType::Triangle);
    let photo = pipeline().find_faces("small".into(), small.into_rgb8()).unwrap();
    assert_eq!(photo.faces.len(), 1, "the detector still sees it");
    let error = pipeline().embed_one(&photo, FaceChoice::Largest).unwrap_err();
    assert!(matches!(error, Error::FaceTooSmall { .. }), "{error}");
    assert!(error.to_string().starts_with("small: face 0 is too small"), "{error}");
}

#[test]
fn a_decompression_bomb_is_refused_from_its_header() {
    // A BMP header claiming 60000×60000 pixels (10.8 GB decoded), no pixels.
    let mut bmp = b"BM".to_vec();
    bmp.extend_from_slice(&[0; 8]);
    bmp.extend_from_slice(&54u32.to_le_bytes());
    bmp.extend_from_slice(&40u32.to_le_bytes());
    bmp.extend_from_slice(&60_000i32.to_le_bytes());
    bmp.extend_from_slice(&60_000i32.to_le_bytes());
    bmp.extend_from_slice(&1u16.to_le_bytes());
    bmp.extend_from_slice(&24u16.to_le_bytes());
    bmp.extend_from_slice(&[0; 24]);
    let error = facecmp::image::decode(&bmp, DecodeLimits::default()).unwrap_err();
    assert!(matches!(error, ImageError::TooLarge { width: 60_000, height: 60_000, .. }), "{error}");
}

#[test]
fn hostile_files_give_errors_that_name_them() {
    for (name, expected) in [
        ("not_an_image.txt", "not an image"),
        ("empty.jpg", "file is empty"),
        ("truncated.jpg", "truncated"),
        ("no_face.png", "no face found"),
        ("missing.jpg", "cannot read file"),
    ] {
        let error = pipeline()
            .open(&data(name))
            .and_then(|photo| pipeline().embed_one(&photo, FaceChoice::Largest))
            .unwrap_err();
        let message = error.to_string();
        assert!(message.contains(name) && message.contains(expected), "{name}: {message}");
        assert!(error.is_input_error(), "{name}: {message}");
    }
}

#[test]
fn garbage_after_a_valid_header_never_panics() {
    let whole = std::fs::read(data("obama2.jpg")).unwrap();
    let png = encode(&image::open(data("no_face.png")).unwrap(), ImageFormat::Png);
    for source in [&whole, &png] {
        for cut in [10, 100, 1000, source.len() / 2] {
            let mut bytes = source[..cut].to_vec();
            bytes.extend(std::iter::repeat_n(0xA5, 500));
            // A partial decode may still be a photo; else an input error naming it.
            match pipeline().open_bytes("garbage", &bytes) {
                Ok(photo) => {
                    let original = image::load_from_memory(source).unwrap();
                    assert_eq!(photo.image.dimensions(), (original.width(), original.height()), "cut {cut}");
                }
                Err(error) => {
                    assert!(error.is_input_error(), "cut {cut}: {error}");
                    assert!(error.to_string().starts_with("garbage: "), "cut {cut}: {error}");
                }
            }
        }
    }
}
