//! The dlib ResNet port against dlib itself: descriptors that dlib 20.0.1
//! computed on 28 fixture chips (`tools/reference/make_dlib_reference.py`),
//! the chips facecmp cuts from the photos, and the whole pipeline.
#![allow(clippy::unwrap_used)] // a test: a panic is its failure report

use std::path::{Path, PathBuf};

use facecmp::detect::Point;
use facecmp::embed::{DlibResNet, dlib_chip};
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
    chip: RgbImage,
    descriptor: Embedding,
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
            let points: Vec<Point> = face["yunet_landmarks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let xy = floats(p);
                    Point { x: xy[0], y: xy[1] }
                })
                .collect();
            let chip_file = data("reference/dlib").join(face["chip_png"].as_str().unwrap());
            ReferenceFace {
                name: face["name"].as_str().unwrap().into(),
                image: face["image"].as_str().unwrap().into(),
                landmarks: points.try_into().unwrap(),
                chip: image::open(chip_file).unwrap().into_rgb8(),
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
fn facecmp_cuts_the_chip_the_reference_was_computed_on() {
    let dlib = dlib_on(&engines()[0]);
    let mut photos = std::collections::HashMap::new();
    for face in reference_faces() {
        let photo = photos
            .entry(face.image.clone())
            .or_insert_with(|| facecmp::image::load(&data(&face.image), Default::default()).unwrap());
        let chip = dlib_chip(photo, &face.landmarks);
        let differences = chip.as_raw().iter().zip(face.chip.as_raw()).map(|(a, b)| a.abs_diff(*b));
        let mean = differences.map(f64::from).sum::<f64>() / chip.as_raw().len() as f64;
        // The reference decoded the JPEGs with libjpeg (Pillow), facecmp with
        // zune-jpeg: their IDCTs differ by a grey level here and there.
        assert!(mean < 0.5, "{}: chips differ by {mean:.3} grey levels on average", face.name);
        let cosine = dlib.embed_chips(&[&chip]).unwrap()[0].cosine(&face.descriptor).unwrap();
        assert!(cosine >= 0.999, "{}: cosine {cosine} to dlib's descriptor of the reference chip", face.name);
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
        assert!(
            cosine >= 0.995,
            "{}: cosine {cosine} to dlib's descriptor of the reference chip",
            engine.name()
        );
    }
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
