//! Identify latency: one query, top 5 persons, over 1 k, 100 k and 1 M clustered synthetic samples
//! (dimension 128, 5 samples per person).
//!
//! ```text
//! cargo bench -p facecmp-search --bench search
//! ```
//! `search` is the index's exact search (int8 scan, f32 re-scoring of a proven shortlist);
//! `search_full_scan` scores every f32 row and is the reference it must equal.
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use facecmp_search::SearchIndex;
use facecmp_search::synthetic::{Gallery, Rng};

const DIMENSION: usize = 128;
const SAMPLES_PER_PERSON: usize = 5;
const QUERIES: usize = 32;

fn identify(c: &mut Criterion) {
    let mut group = c.benchmark_group("identify_top5");
    group.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    for samples in [1_000, 100_000, 1_000_000] {
        let persons = samples / SAMPLES_PER_PERSON;
        let gallery = Gallery::generate(persons, SAMPLES_PER_PERSON, DIMENSION, 42);
        let mut index = SearchIndex::with_capacity(DIMENSION, samples);
        for (sample, person, vector) in gallery.samples() {
            index.insert(sample, person, vector).expect("valid synthetic vector");
        }
        let mut rng = Rng::new(7);
        let queries: Vec<Vec<f32>> =
            (0..QUERIES).map(|_| gallery.probe((rng.next_u64() % persons as u64) as i64, &mut rng)).collect();
        let mut next = 0;
        group.bench_function(BenchmarkId::new("search", samples), |b| {
            b.iter(|| {
                next = (next + 1) % QUERIES;
                black_box(index.search(&queries[next], 5).expect("valid query"))
            })
        });
        group.bench_function(BenchmarkId::new("search_full_scan", samples), |b| {
            b.iter(|| {
                next = (next + 1) % QUERIES;
                black_box(index.search_full_scan(&queries[next], 5).expect("valid query"))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, identify);
criterion_main!(benches);
