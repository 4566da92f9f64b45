//! The dlib ResNet port against dlib itself: descriptors that dlib 20.0.1
//! computed on 28 fixture chips (`tools/reference/make_dlib_reference.py`),
//! dlib's own 5-point landmarks in the same boxes, the chips facecmp cuts
//! from the photos, and the whole pipeline.
#![allow(clippy::unwrap_used)] // a test: a panic is its failure report

use std::path::{Path, PathBuf};

use facecmp::detect::Point;
use facecmp::embed::dlib_landmarks::{FaceBox, ShapePredictor};
use facecmp::embed::{DLIB_TEMPLATE, DlibResNet, dlib_chip};
use facecmp::{Config, EmbedderChoice, Embedding, FaceChoice, ModelSource, Pipeline, RgbImage};
use serde_json::Value;

mod engines;
use engines::{engines, runtime_choice};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(name)
}

struct ReferenceFace {
    name: String,
    image: String,
    landmarks: [Point; 5],
    /// The box facecmp derives from `landmarks`, and dlib's landmarks in it.
    face_box: [f32; 4],
    dlib_landmarks: [Point; 5],
    chip: RgbImage,
    /// The photo around the face as the reference decoded it (libjpeg),
    /// black where neither the landmarker nor the chip reads, and where its
    /// top-left corner lies in the photo.
    region: RgbImage,
    region_corner: Point,
    descriptor: Embedding,
}

impl ReferenceFace {
    /// YuNet's landmarks in the region's coordinates.
    fn landmarks_in_region(&self) -> [Point; 5] {
        self.landmarks.map(|p| Point { x: p.x - self.region_corner.x, y: p.y - self.region_corner.y })
    }
}

fn reference_faces() -> Vec<ReferenceFace> {
    let text = std::fs::read_to_string(data("reference/dlib/descriptors.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    let floats =
        |v: &Value| v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect::<Vec<_>>();
    json["faces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|face| {
            let points = |key: &str| -> [Point; 5] {
                let points: Vec<Point> = face[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        let xy = floats(p);
                        Point { x: xy[0], y: xy[1] }
                    })
                    .collect();
                points.try_into().unwrap()
            };
            let chip_file = data("reference/dlib").join(face["chip_png"].as_str().unwrap());
            let region = &face["photo_region"];
            let region_file = data("reference/dlib").join(region["file"].as_str().unwrap());
            let corner = |key: &str| region[key].as_u64().unwrap() as f32;
            ReferenceFace {
                name: face["name"].as_str().unwrap().into(),
                image: face["image"].as_str().unwrap().into(),
                landmarks: points("yunet_landmarks"),
                face_box: floats(&face["face_box"]).try_into().unwrap(),
                dlib_landmarks: points("dlib_landmarks"),
                chip: image::open(chip_file).unwrap().into_rgb8(),
                region: image::open(region_file).unwrap().into_rgb8(),
                region_corner: Point { x: corner("left"), y: corner("top") },
                descriptor: Embedding::from_raw(floats(&face["descriptor"])).unwrap(),
            }
        })
        .collect()
}

fn dlib_on(engine: &facecmp::runtime::Engine) -> DlibResNet {
    DlibResNet::new(ModelSource::Bundled.dlib().unwrap(), engine.clone(), 0)
}

#[test]
fn the_port_gives_dlibs_own_descriptors_on_dlibs_input() {
    let faces = reference_faces();
    assert_eq!(faces.len(), 28);
    let chips: Vec<&RgbImage> = faces.iter().map(|f| &f.chip).collect();
    for engine in engines() {
        // One batch of all 28 (runs of 8 inside): batching must not change a face.
        let embeddings = dlib_on(&engine).embed_chips(&chips).unwrap();
        for (face, embedding) in faces.iter().zip(&embeddings) {
            let cosine = embedding.cosine(&face.descriptor).unwrap();
            assert!(
                cosine >= 0.9999,
                "{} on {}: cosine {cosine} to dlib's descriptor",
                face.name,
                engine.name()
            );
        }
    }
}

#[test]
fn the_landmarker_finds_dlibs_own_landmarks_in_the_same_box() {
    let mut photos = std::collections::HashMap::new();
    for face in reference_faces() {
        let face_box = FaceBox::around(&face.landmarks);
        let [left, top, right, bottom] = face.face_box;
        assert_eq!(face_box, FaceBox { left, top, right, bottom }, "{}: the box", face.name);
        let photo = photos
            .entry(face.image.clone())
            .or_insert_with(|| facecmp::image::load(&data(&face.image), Default::default()).unwrap());
        let found = ShapePredictor::bundled().predict(photo, &face_box);
        // Whole pixels both. On the same decoded pixels the port is exact
        // (tools/dlib/shape_predictor.py's check); here the reference decoded
        // with libjpeg and facecmp with zune-jpeg, whose grey levels tip a
        // split now and then: a few pixels at most.
        for (ours, dlibs) in found.iter().zip(&face.dlib_landmarks) {
            assert!(
                (ours.x - dlibs.x).abs() <= 3.0 && (ours.y - dlibs.y).abs() <= 3.0,
                "{}: {found:?} against dlib's {:?}",
                face.name,
                face.dlib_landmarks
            );
        }
    }
}

#[test]
fn the_chip_template_is_the_converters() {
    let text = std::fs::read_to_string(data("../../tools/dlib/chip_template.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    for (ours, listed) in DLIB_TEMPLATE.iter().zip(json["dlib5_points"].as_array().unwrap()) {
        let (x, y) = (listed[0].as_f64().unwrap() as f32, listed[1].as_f64().unwrap() as f32);
        assert!((ours.x - x).abs() < 1e-4 && (ours.y - y).abs() < 1e-4, "{ours:?} against {listed}");
    }
}

#[test]
fn the_face_box_is_the_fitted_one() {
    let text = std::fs::read_to_string(data("../../tools/dlib/face_box.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    let fitted = [FaceBox::CENTRE_X, FaceBox::CENTRE_Y, FaceBox::WIDTH, FaceBox::HEIGHT];
    for (ours, key) in fitted.into_iter().zip(["centre_x", "centre_y", "width", "height"]) {
        assert_eq!(ours, json[key].as_f64().unwrap() as f32, "{key}");
    }
}

#[test]
fn on_the_pixels_dlib_saw_the_landmarker_finds_exactly_dlibs_landmarks() {
    for face in reference_faces() {
        let found =
            ShapePredictor::bundled().predict(&face.region, &FaceBox::around(&face.landmarks_in_region()));
        let corner = face.region_corner;
        let in_photo = found.map(|p| Point { x: p.x + corner.x, y: p.y + corner.y });
        assert_eq!(in_photo, face.dlib_landmarks, "{}", face.name);
    }
}

#[test]
fn facecmp_cuts_the_chip_the_reference_was_computed_on() {
    let dlib = dlib_on(&engines()[0]);
    for face in reference_faces() {
        let chip = dlib_chip(&face.region, &face.landmarks_in_region());
        // The same pixels and landmarks: the chips differ only where the
        // warp's rounding tips (the similarity is fitted in f32 here, f64 there).
        let differences = chip.as_raw().iter().zip(face.chip.as_raw()).map(|(&a, &b)| a.abs_diff(b));
        let (largest, total) = differences.fold((0, 0u64), |(max, sum), d| (max.max(d), sum + u64::from(d)));
        let mean = total as f64 / chip.as_raw().len() as f64;
        assert!(
            largest <= 1 && mean < 0.01,
            "{}: chips differ by up to {largest}, {mean:.3} on average",
            face.name
        );
        let cosine = dlib.embed_chips(&[&chip]).unwrap()[0].cosine(&face.descriptor).unwrap();
        assert!(
            cosine >= 0.9999,
            "{}: cosine {cosine} to dlib's descriptor of the reference chip",
            face.name
        );
    }
}

#[test]
fn facecmp_decodes_the_photos_near_enough_for_the_same_descriptor() {
    let dlib = dlib_on(&engines()[0]);
    let mut photos = std::collections::HashMap::new();
    for face in reference_faces() {
        let photo = photos
            .entry(face.image.clone())
            .or_insert_with(|| facecmp::image::load(&data(&face.image), Default::default()).unwrap());
        let chip = dlib_chip(photo, &face.landmarks);
        // zune-jpeg's grey levels are not libjpeg's: a landmark may move a
        // pixel or two (above), and the chip with it. What must hold is that
        // the network sees the same face.
        let cosine = dlib.embed_chips(&[&chip]).unwrap()[0].cosine(&face.descriptor).unwrap();
        assert!(cosine >= 0.995, "{}: cosine {cosine} to dlib's descriptor of the reference chip", face.name);
    }
}

#[test]
fn the_dlib_pipeline_embeds_a_photo_as_dlib_does() {
    let faces = reference_faces();
    let obama = faces.iter().find(|f| f.name == "obama").unwrap();
    for engine in engines() {
        let config =
            Config { embedder: EmbedderChoice::Dlib, runtime: runtime_choice(&engine), ..Config::default() };
        let pipeline = Pipeline::load(config).unwrap();
        assert_eq!(pipeline.embedder().name, "dlib-resnet-v1");
        assert_eq!(pipeline.embedder().dimension, 128);
        let photo = pipeline.open(&data("obama.jpg")).unwrap();
        let (_, embedding) = pipeline.embed_one(&photo, FaceChoice::Largest).unwrap();
        let cosine = embedding.cosine(&obama.descriptor).unwrap();
        // Rust's YuNet run puts the landmarks within a fraction of a pixel
        // of the reference's (Python, letterboxed): the chip moves that much.
        // And the pipeline's embedding is the mean with the mirror image's (below).
        assert!(
            cosine >= 0.995,
            "{}: cosine {cosine} to dlib's descriptor of the reference chip",
            engine.name()
        );
    }
}

#[test]
fn a_face_is_embedded_with_its_mirror_image() {
    let pipeline = Pipeline::load(Config { embedder: EmbedderChoice::Dlib, ..Config::default() }).unwrap();
    let photo = pipeline.open(&data("obama.jpg")).unwrap();
    let (index, embedding) = pipeline.embed_one(&photo, FaceChoice::Largest).unwrap();
    let chip = dlib_chip(&photo.image, &photo.faces[index].landmarks);
    let mirror = image::imageops::flip_horizontal(&chip);
    let chips = dlib_on(&engines()[0]).embed_chips(&[&chip, &mirror]).unwrap();
    let sum = chips[0].as_slice().iter().zip(chips[1].as_slice()).map(|(a, b)| a + b).collect();
    let mean = Embedding::from_raw(sum).unwrap();
    assert!(embedding.cosine(&mean).unwrap() >= 0.99999, "the pipeline's embedding is the mean of the two");
    // The two differ enough that the mean is not either one.
    let between = chips[0].cosine(&chips[1]).unwrap();
    assert!(between < 0.999, "a chip and its mirror image: cosine {between}");
}

#[test]
fn fused_embeddings_carry_both_scores() {
    let pipeline = |embedder| Pipeline::load(Config { embedder, ..Config::default() }).unwrap();
    let (sface, dlib, fused) =
        (pipeline(EmbedderChoice::Sface), pipeline(EmbedderChoice::Dlib), pipeline(EmbedderChoice::Fused));
    let embed = |pipeline: &Pipeline, name: &str| {
        let photo = pipeline.open(&data(name)).unwrap();
        pipeline.embed_one(&photo, FaceChoice::Largest).unwrap().1
    };
    let cosine =
        |pipeline: &Pipeline, a: &str, b: &str| embed(pipeline, a).cosine(&embed(pipeline, b)).unwrap();
    assert_eq!(fused.embedder().dimension, 256);
    for (a, b) in [("obama.jpg", "obama2.jpg"), ("obama.jpg", "biden.jpg")] {
        let scores = facecmp::FusedScores::of(&embed(&fused, a), &embed(&fused, b)).unwrap();
        assert!((scores.sface - cosine(&sface, a, b)).abs() < 1e-4, "{a} {b}: {scores:?}");
        assert!((scores.dlib - cosine(&dlib, a, b)).abs() < 1e-4, "{a} {b}: {scores:?}");
        let weight = facecmp::embed::SFACE_WEIGHT;
        let expected = weight * scores.sface + (1.0 - weight) * scores.dlib;
        assert!((cosine(&fused, a, b) - expected).abs() < 1e-4);
    }
}
