//! HNSW against exact search: graph build time, query latency and recall@1 on clustered synthetic data.
//!
//! ```text
//! cargo run --release -p facecmp-search --features hnsw --example approximate -- [samples]
//! ```
//! Recall@1: the share of queries whose best person is the exact search's best person. Queries are new
//! photos of enrolled persons (the usual identify case) and, separately, faces of strangers (where the
//! best match is just the nearest of many unrelated persons, which is harder for a graph).
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report

use std::time::{Duration, Instant};

use facecmp_search::synthetic::{Gallery, Rng};
use facecmp_search::{ApproximateIndex, ApproximateOptions, PersonId, SearchIndex};

const DIMENSION: usize = 128;
const SAMPLES_PER_PERSON: usize = 5;
const QUERIES: usize = 200;

fn main() {
    let samples: usize = std::env::args().nth(1).map_or(100_000, |arg| arg.parse().expect("a sample count"));
    let persons = samples / SAMPLES_PER_PERSON;
    let gallery = Gallery::generate(persons, SAMPLES_PER_PERSON, DIMENSION, 42);
    let mut exact = SearchIndex::with_capacity(DIMENSION, samples);
    for (sample, person, vector) in gallery.samples() {
        exact.insert(sample, person, vector).expect("valid synthetic vector");
    }
    let started = Instant::now();
    let mut index = ApproximateIndex::from_exact(exact, ApproximateOptions::default()).expect("graph");
    println!(
        "{samples} samples: HNSW build {:.1?} on {} threads",
        started.elapsed(),
        rayon::current_num_threads()
    );

    let mut rng = Rng::new(7);
    let enrolled: Vec<Vec<f32>> = (0..QUERIES)
        .map(|_| gallery.probe((rng.next_u64() % persons as u64) as PersonId, &mut rng))
        .collect();
    let strangers: Vec<Vec<f32>> = (0..QUERIES).map(|_| rng.unit_vector(DIMENSION)).collect();
    for expansion_search in [16, 64, 256] {
        index.set_expansion_search(expansion_search);
        for (kind, queries) in [("enrolled", &enrolled), ("strangers", &strangers)] {
            let (mut exact_times, mut approximate_times, mut agreed) = (Vec::new(), Vec::new(), 0);
            for query in queries {
                let started = Instant::now();
                let truth = index.exact().search(query, 5).expect("valid query");
                exact_times.push(started.elapsed());
                let started = Instant::now();
                let found = index.search(query, 5).expect("valid query");
                approximate_times.push(started.elapsed());
                agreed +=
                    usize::from(found.first().map(|hit| hit.person) == truth.first().map(|hit| hit.person));
            }
            println!(
                "  ef {expansion_search:>3}, {kind:<9}: exact median {}, HNSW median {}, recall@1 {:.1} %",
                ms(median(&mut exact_times)),
                ms(median(&mut approximate_times)),
                100.0 * agreed as f64 / queries.len() as f64
            );
        }
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1e3)
}
