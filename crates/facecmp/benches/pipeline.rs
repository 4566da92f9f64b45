//! Per-stage timings: `cargo bench -p facecmp`. Results and the machine they
//! were measured on are recorded in BENCHMARKS.md.
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use facecmp::align::align;
use facecmp::detect::DetectorConfig;
use facecmp::runtime::{self, RuntimeChoice};
use facecmp::{Config, FaceChoice, Pipeline, RgbImage};
use image::imageops::FilterType;

fn photo(name: &str) -> RgbImage {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(name);
    image::open(path).unwrap().into_rgb8()
}

/// A crop of the group photo with the aspect ratio of `width`×`height`,
/// resized to exactly that: a camera frame with several faces.
fn frame(width: u32, height: u32) -> RgbImage {
    let group = photo("bald_guys.jpg");
    let crop_height = group.width() * height / width;
    let crop =
        image::imageops::crop_imm(&group, 0, 0, group.width(), crop_height.min(group.height())).to_image();
    image::imageops::resize(&crop, width, height, FilterType::Triangle)
}

fn pipeline_with(runtime: RuntimeChoice, threads: usize, max_input_side: u32) -> Pipeline {
    let detector = DetectorConfig { max_input_side, ..DetectorConfig::default() };
    Pipeline::load(Config { detector, runtime, threads, ..Config::default() }).unwrap()
}

/// tract always; ONNX Runtime when its library is installed.
fn engines() -> Vec<(&'static str, RuntimeChoice)> {
    let mut engines = vec![("tract", RuntimeChoice::Tract)];
    match runtime::Engine::select(RuntimeChoice::Ort, None) {
        Ok(_) => engines.push(("onnxruntime", RuntimeChoice::Ort)),
        Err(reason) => eprintln!("not benchmarking ONNX Runtime: {reason}"),
    }
    engines
}

fn stages(c: &mut Criterion) {
    let portrait_photo = photo("obama.jpg");
    let (vga, hd) = (frame(640, 480), frame(1280, 720));
    for (engine, choice) in engines() {
        for threads in [1, 2] {
            let pipeline = pipeline_with(choice, threads, 640);
            let full_resolution = pipeline_with(choice, threads, 1280);
            let mut group = c.benchmark_group(format!("{engine}/{threads}-thread"));
            group.measurement_time(Duration::from_secs(4));
            bench_stages(&mut group, &pipeline, &full_resolution, &portrait_photo, &vga, &hd);
            group.finish();
        }
    }
}

fn bench_stages(
    group: &mut criterion::BenchmarkGroup<criterion::measurement::WallTime>,
    pipeline: &Pipeline,
    full_resolution: &Pipeline,
    portrait_photo: &RgbImage,
    vga: &RgbImage,
    hd: &RgbImage,
) {
    let portrait = pipeline.find_faces("obama".into(), portrait_photo.clone()).unwrap();
    let face = facecmp::FacePolicy::largest(0.0).choose(&portrait, FaceChoice::Largest).unwrap();
    let aligned = portrait.align(face);
    let batch: Vec<_> = std::iter::repeat_n(&aligned, 8).collect();
    group.bench_function("detect/640x480", |b| {
        b.iter(|| pipeline.find_faces("vga".into(), black_box(vga.clone())))
    });
    group.bench_function("detect/1280x720 (downscaled to 640)", |b| {
        b.iter(|| pipeline.find_faces("hd".into(), black_box(hd.clone())))
    });
    group.bench_function("detect/1280x720 (full resolution)", |b| {
        b.iter(|| full_resolution.find_faces("hd".into(), black_box(hd.clone())))
    });
    group.bench_function("align", |b| {
        b.iter(|| align(black_box(&portrait.image), &portrait.faces[face].landmarks))
    });
    for size in [1, 8] {
        group.bench_with_input(BenchmarkId::new("embed", size), &batch[..size], |b, faces| {
            b.iter(|| pipeline.embed_aligned("bench", black_box(faces)))
        });
    }
    group.bench_function("compare obama.jpg obama2.jpg (decode+detect+align+embed ×2)", |b| {
        b.iter(|| {
            let embed = |name: &str| {
                let photo = pipeline
                    .open(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(name))?;
                pipeline.embed_one(&photo, FaceChoice::Largest).map(|(_, e)| e)
            };
            let (a, b) = (embed("obama.jpg").unwrap(), embed("obama2.jpg").unwrap());
            facecmp::compare(&a, &b, 0.363).unwrap()
        })
    });
}

fn startup(c: &mut Criterion) {
    let mut group = c.benchmark_group("startup");
    group.sample_size(10);
    for (engine, runtime) in engines() {
        group.bench_function(format!("{engine}: load + optimise YuNet and SFace"), |b| {
            b.iter(|| Pipeline::load(Config { runtime, ..Config::default() }).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, stages, startup);
criterion_main!(benches);
