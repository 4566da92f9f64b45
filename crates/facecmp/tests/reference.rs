//! The Rust pipeline against fixtures produced once with ONNX Runtime and
//! numpy (`tools/reference/make_reference.py`).
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report

use std::path::{Path, PathBuf};

use facecmp::detect::{self, Detector, DetectorConfig};
use facecmp::embed::SFace;
use facecmp::runtime::Engine;
use facecmp::{Config, FaceChoice, ModelSource, Pipeline};
use serde_json::Value;

mod engines;
use engines::{engines, runtime_choice};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(name)
}

fn reference(name: &str) -> Value {
    let text = std::fs::read_to_string(data("reference").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn floats(value: &Value) -> Vec<f32> {
    value.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect()
}

/// The largest difference from the Python reference's raw SFace output an
/// engine may show. tract folds every weight to fp32 as the reference does;
/// ONNX Runtime runs the fully connected layer with int8 dot products on the
/// weights' own int8 blocks (`runtime::ort`), its input quantised per block,
/// which moves raw outputs (about ±1) by up to ~2.5e-3.
fn sface_tolerance(engine: &Engine) -> (f32, f32) {
    match engine {
        Engine::Tract => (1e-4, 0.999_999),
        _ => (5e-3, 0.999_99),
    }
}

#[test]
fn sface_matches_the_python_reference() {
    let model = ModelSource::Bundled.embedder().unwrap();
    let crop = image::open(data("reference/obama_aligned.png")).unwrap().into_rgb8();
    let aligned = facecmp::AlignedFace::from_crop(crop).unwrap();
    let expected = floats(&reference("sface_obama_aligned.json")["raw"]);
    for engine in engines() {
        let (max_abs, min_cosine) = sface_tolerance(&engine);
        let network = engine.load("SFace", &model.bytes, &SFace::network_spec(), 0).unwrap();
        // A batch of three copies: batching must not change any face's output.
        let output =
            network.run(facecmp::embed::rgb_batch(&[&aligned, &aligned, &aligned])).unwrap().swap_remove(0);
        assert_eq!(output.data.len(), 3 * expected.len());
        for copy in output.data.chunks_exact(expected.len()) {
            let max_diff = copy.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(max_diff <= max_abs, "{}: max abs difference {max_diff}", engine.name());
            let cosine = raw_cosine(copy, &expected);
            assert!(cosine >= min_cosine, "{}: cosine {cosine} to the reference", engine.name());
        }
    }
}

fn raw_cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

#[test]
fn yunet_decoding_matches_the_reference_detections() {
    let model = ModelSource::Bundled.detector().unwrap();
    // The exact 640×640 letterboxed input the reference ran on.
    let input = image::open(data("reference/yunet_obama_input640.png")).unwrap().into_rgb8();
    for engine in engines() {
        let network = engine.load("YuNet", &model.bytes, &detect::network_spec(), 0).unwrap();
        let detector = Detector::new(network, DetectorConfig::default());
        check_reference_detections(&detector.detect(&input).unwrap());
    }
}

fn check_reference_detections(faces: &[facecmp::Face]) {
    let expected = reference("yunet_obama.json");
    let expected_faces = expected["faces"].as_array().unwrap();
    assert_eq!(faces.len(), expected_faces.len());
    // The reference reports original-photo pixels; undo its letterbox scale.
    let to_input = 512.0 / 910.0;
    let (face, want) = (&faces[0], &expected_faces[0]);
    assert!((face.score - want["score"].as_f64().unwrap() as f32).abs() < 1e-3);
    for (landmark, want) in face.landmarks.iter().zip(want["landmarks"].as_array().unwrap()) {
        let want = floats(want);
        assert!((landmark.x - want[0] * to_input).abs() < 0.5, "{landmark:?} vs {want:?}");
        assert!((landmark.y - want[1] * to_input).abs() < 0.5, "{landmark:?} vs {want:?}");
    }
}

#[test]
fn end_to_end_decisions_agree_with_the_reference_pipeline() {
    for engine in engines() {
        let pipeline =
            Pipeline::load(Config { runtime: runtime_choice(&engine), ..Config::default() }).unwrap();
        assert_eq!(pipeline.engine().name(), engine.name());
        check_decisions(&pipeline);
    }
}

fn check_decisions(pipeline: &Pipeline) {
    let embed = |name: &str| {
        let photo = pipeline.open(&data(name)).unwrap();
        pipeline.embed_one(&photo, FaceChoice::Largest).unwrap().1
    };
    let [obama, obama2, obama3, biden] = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"].map(embed);
    let threshold = facecmp::SFACE_COSINE_THRESHOLD;
    for (a, b, same) in
        [(&obama, &obama2, true), (&obama, &obama3, true), (&obama, &biden, false), (&obama3, &biden, false)]
    {
        let similarity = a.cosine(b).unwrap();
        eprintln!("similarity {similarity:.4} (same: {same})");
        assert_eq!(similarity >= threshold, same, "similarity {similarity}");
    }
}

/// A crowd photo (24 faces) is embedded [`facecmp::embed::FACES_PER_RUN`]
/// faces per network run; each face must come out as it does on its own, in
/// its place.
#[test]
fn a_crowd_is_embedded_a_few_faces_per_run_each_face_as_on_its_own() {
    for engine in engines() {
        let pipeline =
            Pipeline::load(Config { runtime: runtime_choice(&engine), ..Config::default() }).unwrap();
        let photo = pipeline.open(&data("bald_guys.jpg")).unwrap();
        let faces = pipeline.face_policy().usable_or_why(&photo).unwrap().usable;
        assert!(faces.len() > 2 * facecmp::embed::FACES_PER_RUN, "{} faces", faces.len());
        let together = pipeline.embed(&photo, &faces).unwrap();
        for (&face, embedding) in faces.iter().zip(&together) {
            let alone = pipeline.embed(&photo, &[face]).unwrap().swap_remove(0);
            let cosine = embedding.cosine(&alone).unwrap();
            assert!(cosine > 0.9999, "{}: face {face}: cosine {cosine}", engine.name());
        }
    }
}
