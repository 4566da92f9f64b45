//! How long `find` takes over a large footage index: N synthetic
//! appearances (one 128-d unit vector each, as from 20 cameras) written
//! through the store in batches, then the first search (which loads the
//! index) and the median of repeated ones — unfiltered, one source, and
//! time ranges across every source (2 hours of one day, and 12 hours).
//!
//! ```sh
//! cargo run --release -p facecmp-gallery --example find -- 1000000
//! ```
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report

use std::time::{Duration, Instant};

use facecmp::{EmbedderIdentity, Embedding};
use facecmp_gallery::{
    AppearanceBatch, AppearanceFilter, FaceBox, FaceVector, Gallery, GalleryLocation, NewAppearance,
    NewSource, SourceKind,
};
use facecmp_search::synthetic::Rng;

const DIMENSION: usize = 128;
const CAMERAS: usize = 20;
const BATCH: usize = 10_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let appearances: usize = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("facecmp-find-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let location = GalleryLocation::Sqlite(dir.join("bench.db"));
    let embedder = EmbedderIdentity {
        name: "synthetic".into(),
        sha256: "0".repeat(64),
        dimension: DIMENSION,
        preprocessing: "none".into(),
    };
    let gallery = Gallery::create(&location, &embedder)?;
    let mut rng = Rng::new(22);
    let started = Instant::now();
    let sources: Vec<i64> = (0..CAMERAS)
        .map(|c| {
            let new = NewSource {
                kind: SourceKind::Camera,
                name: format!("camera-{c}"),
                sha256: None,
                retention_s: None,
            };
            gallery.upsert_source(&new).map(|s| s.id)
        })
        .collect::<Result<_, _>>()?;
    // Every camera records at once: batch after batch of each camera's next 10 000 appearances.
    let mut written = 0;
    let mut per_camera = [0usize; CAMERAS];
    while written < appearances {
        let count = BATCH.min(appearances - written);
        let camera = (written / BATCH) % CAMERAS;
        let first = per_camera[camera];
        let batch = AppearanceBatch {
            source: sources[camera],
            appearances: (first..first + count).map(|i| appearance(&mut rng, &embedder, i)).collect(),
            indexed_until_ms: 0,
            indexed_until_bytes: 0,
            complete: false,
        };
        gallery.write_appearances(&batch)?;
        per_camera[camera] += count;
        written += count;
    }
    println!("wrote {appearances} appearances in {:.1} s", started.elapsed().as_secs_f64());

    let query = Embedding::from_raw(rng.unit_vector(DIMENSION)).unwrap();
    let started = Instant::now();
    gallery.find_appearances(std::slice::from_ref(&query), &AppearanceFilter::default(), 20, 0.363)?;
    println!("first find (loads the index): {:.2} s", started.elapsed().as_secs_f64());
    let (hour, day) = (3_600_000, 86_400_000);
    let wall_range = |from: i64, until: i64| AppearanceFilter {
        wall_from_ms: Some(from),
        wall_until_ms: Some(until),
        ..AppearanceFilter::default()
    };
    let cases = [
        ("all footage", AppearanceFilter::default()),
        ("one camera", AppearanceFilter { source: Some(sources[0]), ..AppearanceFilter::default() }),
        ("9–11 on the second day, every camera", wall_range(day + 9 * hour, day + 11 * hour)),
        ("12 hours, every camera", wall_range(day, day + 12 * hour)),
    ];
    for (label, filter) in cases {
        let mut times: Vec<Duration> = (0..20)
            .map(|_| {
                let started = Instant::now();
                gallery.find_appearances(std::slice::from_ref(&query), &filter, 20, 0.363).unwrap();
                started.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "find, {label}: median {:.1} ms, worst {:.1} ms (20 runs)",
            times[10].as_secs_f64() * 1e3,
            times[19].as_secs_f64() * 1e3
        );
    }
    println!("index memory: {} appearances held", gallery.indexed_appearances());
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// A camera's appearance `n`: 10 s long, one every 10 s, day after day
/// (1 M appearances of 20 cameras: 5.8 days each).
fn appearance(rng: &mut Rng, embedder: &EmbedderIdentity, n: usize) -> NewAppearance {
    let start = n as i64 * 10_000;
    NewAppearance {
        track: n as i64,
        media_start_ms: start,
        media_end_ms: start + 10_000,
        wall_start_ms: Some(start),
        wall_end_ms: Some(start + 10_000),
        face: FaceBox { x: 10.0, y: 10.0, w: 100.0, h: 100.0 },
        detector_score: 0.9,
        vectors: vec![FaceVector {
            vector: rng.unit_vector(DIMENSION),
            embedder_sha256: embedder.sha256.clone(),
        }],
        thumbnail_jpeg: None,
        person: None,
        cluster: None,
    }
}
