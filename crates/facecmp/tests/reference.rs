//! The Rust pipeline against fixtures produced once with ONNX Runtime and
//! numpy (`tools/reference/make_reference.py`).

use std::path::{Path, PathBuf};

use facecmp::detect::{self, Detector, DetectorConfig};
use facecmp::embed::SFace;
use facecmp::runtime::{Network, TractNetwork};
use facecmp::{Config, FaceChoice, ModelSource, Pipeline};
use serde_json::Value;

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

#[test]
fn folded_sface_matches_onnxruntime_within_1e4() {
    let model = ModelSource::Bundled.embedder().unwrap();
    let network = TractNetwork::load("SFace", &model.bytes, &SFace::network_spec()).unwrap();
    let crop = image::open(data("reference/obama_aligned.png")).unwrap().into_rgb8();
    let aligned = facecmp::AlignedFace { image: crop, transform: facecmp::align::Similarity::IDENTITY };
    let output = network.run(facecmp::embed::rgb_batch(&[&aligned])).unwrap().swap_remove(0);
    let expected = floats(&reference("sface_obama_aligned.json")["raw"]);
    assert_eq!(output.data.len(), expected.len());
    let max_diff = output.data.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(max_diff <= 1e-4, "max abs difference {max_diff}");
}

#[test]
fn yunet_decoding_matches_the_reference_detections() {
    let model = ModelSource::Bundled.detector().unwrap();
    let network = TractNetwork::load("YuNet", &model.bytes, &detect::network_spec()).unwrap();
    let detector = Detector::new(Box::new(network), DetectorConfig::default());
    // The exact 640×640 letterboxed input the reference ran on.
    let input = image::open(data("reference/yunet_obama_input640.png")).unwrap().into_rgb8();
    let faces = detector.detect(&input).unwrap();
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
    let pipeline = Pipeline::load(Config::default()).unwrap();
    let embed = |name: &str| {
        let photo = pipeline.open(&data(name)).unwrap();
        pipeline.embed_one(&photo, FaceChoice::Largest).unwrap().1
    };
    let [obama, obama2, obama3, biden] = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"].map(embed);
    let threshold = facecmp::SFACE_COSINE_THRESHOLD;
    for (a, b, same) in
        [(&obama, &obama2, true), (&obama, &obama3, true), (&obama, &biden, false), (&obama3, &biden, false)]
    {
        let similarity = a.cosine(b);
        eprintln!("similarity {similarity:.4} (same: {same})");
        assert_eq!(similarity >= threshold, same, "similarity {similarity}");
    }
}
