//! How fast a process follows the store, and how long a node takes to
//! rebuild its index at start-up, on synthetic unit vectors written
//! straight through the store (`GalleryStore::import`).
//!
//! ```sh
//! cargo run --release -p facecmp-gallery --example reload -- 100000            # a temporary SQLite file
//! cargo run --release -p facecmp-gallery --example reload -- 100000 postgres://postgres@127.0.0.1:5432/bench
//! ```
//!
//! Prints: the import time, the start-up (open + index rebuild) time, the
//! cost of the per-request revision check when nothing changed, and the
//! time for a second handle to see one enrolment made by the first.
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report

use std::time::{Duration, Instant};

use facecmp::{EmbedderIdentity, Embedding};
use facecmp_gallery::store::SampleRecord;
use facecmp_gallery::{EnrolPolicy, Gallery, GalleryLocation, NewSample};
use facecmp_search::synthetic::Rng;

const DIMENSION: usize = 128;
const SAMPLES_PER_PERSON: usize = 3;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let samples: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(100_000);
    let dir = tempfile_dir()?;
    let location = match args.next() {
        Some(url) => GalleryLocation::parse(&url),
        None => GalleryLocation::Sqlite(dir.join("bench.db")),
    };
    let embedder = EmbedderIdentity {
        name: "synthetic".into(),
        sha256: "0".repeat(64),
        dimension: DIMENSION,
        preprocessing: "none".into(),
    };
    let writer = Gallery::create(&location, &embedder)?;
    let mut rng = Rng::new(7);

    let started = Instant::now();
    let names: Vec<String> =
        (0..samples.div_ceil(SAMPLES_PER_PERSON)).map(|p| format!("person-{p}")).collect();
    let digests: Vec<String> = (0..samples).map(|s| format!("{s:064x}")).collect();
    for chunk in (0..samples).collect::<Vec<_>>().chunks(10_000) {
        let vectors: Vec<Vec<f32>> = chunk.iter().map(|_| rng.unit_vector(DIMENSION)).collect();
        let records: Vec<SampleRecord<'_>> = chunk
            .iter()
            .zip(&vectors)
            .map(|(&s, vector)| SampleRecord {
                name: &names[s / SAMPLES_PER_PERSON],
                external_id: None,
                vector,
                embedder_sha256: &embedder.sha256,
                detector_score: 0.9,
                face_size: 120.0,
                image_sha256: &digests[s],
                thumbnail_jpeg: None,
                time: 0,
            })
            .collect();
        writer.store().import(&records)?;
    }
    println!("import of {samples} samples: {:.1} s", started.elapsed().as_secs_f64());

    let started = Instant::now();
    let reader = Gallery::open(&location, &embedder)?;
    let startup = started.elapsed();
    assert_eq!(reader.sample_count(), samples);
    println!("start-up (open + index rebuild of {samples}): {:.2} s", startup.as_secs_f64());

    let mut idle = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        reader.refresh()?;
        idle.push(started.elapsed());
    }
    println!("revision check, nothing changed: median {:?}", median(&mut idle));

    let mut follow = Vec::new();
    for round in 0..50 {
        let sample = NewSample {
            embedding: Embedding::from_raw(rng.unit_vector(DIMENSION)).expect("a unit vector"),
            detector_score: 0.9,
            face_size: 120.0,
            image_sha256: format!("{round:0>64}"),
            thumbnail_jpeg: None,
        };
        writer
            .enrol(&format!("new-{round}"), None, &sample, EnrolPolicy::default().strict)?
            .expect("accepted");
        let started = Instant::now();
        reader.refresh()?;
        follow.push(started.elapsed());
        assert_eq!(reader.revision(), writer.revision());
    }
    println!("one enrolment seen by the other handle: median {:?}", median(&mut follow));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("facecmp-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
