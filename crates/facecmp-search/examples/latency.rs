//! Identify latency of the exact index at several gallery sizes, on clustered synthetic embeddings.
//!
//! ```text
//! cargo run --release -p facecmp-search --example latency -- [samples ...]
//! ```
//! Defaults to 1 000, 100 000 and 1 000 000 samples (5 per person, dimension 128). Each query is a fresh
//! photo of an enrolled person; the report is the median and 90th percentile of `search(query, 5)`.
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report

use std::time::{Duration, Instant};

use facecmp_search::synthetic::{Gallery, Rng};
use facecmp_search::{PersonId, SearchIndex};

const DIMENSION: usize = 128;
const SAMPLES_PER_PERSON: usize = 5;
const QUERIES: usize = 50;

fn main() {
    let sizes: Vec<usize> =
        std::env::args().skip(1).map(|arg| arg.parse().expect("a sample count")).collect();
    let sizes = if sizes.is_empty() { vec![1_000, 100_000, 1_000_000] } else { sizes };
    println!("threads: {}", rayon::current_num_threads());
    for samples in sizes {
        measure(samples);
    }
}

fn measure(samples: usize) {
    let persons = samples.div_ceil(SAMPLES_PER_PERSON);
    let started = Instant::now();
    let gallery = Gallery::generate(persons, SAMPLES_PER_PERSON, DIMENSION, 42);
    let generated = started.elapsed();
    let started = Instant::now();
    let mut index = SearchIndex::with_capacity(DIMENSION, gallery.len());
    for (sample, person, vector) in gallery.samples() {
        index.insert(sample, person, vector).expect("valid synthetic vector");
    }
    let loaded = started.elapsed();

    let mut rng = Rng::new(7);
    let probes: Vec<(PersonId, Vec<f32>)> = (0..QUERIES)
        .map(|_| {
            let person = (rng.next_u64() % persons as u64) as PersonId;
            (person, gallery.probe(person, &mut rng))
        })
        .collect();
    let mut correct = 0;
    let mut times = Vec::with_capacity(QUERIES);
    for (person, query) in &probes {
        let started = Instant::now();
        let hits = index.search(query, 5).expect("valid query");
        times.push(started.elapsed());
        correct += usize::from(hits.first().is_some_and(|hit| hit.person == *person));
    }
    let mut full_scan_times = Vec::with_capacity(QUERIES);
    for (_, query) in &probes {
        let started = Instant::now();
        index.search_full_scan(query, 5).expect("valid query");
        full_scan_times.push(started.elapsed());
    }
    let mut filtered_times = Vec::with_capacity(QUERIES);
    for (_, query) in &probes {
        let started = Instant::now();
        index.search_among(query, 5, &|person| person % 2 == 0).expect("valid query");
        filtered_times.push(started.elapsed());
    }
    println!(
        "{samples:>9} samples ({persons} persons): generate {generated:.2?}, insert {loaded:.2?}; \
         search top-5 median {} p90 {}; f32-only scan median {}; search_among (half allowed) median {}; rank-1 correct {correct}/{QUERIES}",
        ms(percentile(&mut times, 0.5)),
        ms(percentile(&mut times, 0.9)),
        ms(percentile(&mut full_scan_times, 0.5)),
        ms(percentile(&mut filtered_times, 0.5)),
    );
}

fn percentile(times: &mut [Duration], fraction: f64) -> Duration {
    times.sort();
    times[((times.len() - 1) as f64 * fraction).round() as usize]
}

fn ms(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1e3)
}
