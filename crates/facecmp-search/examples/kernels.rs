//! Compares dot-product kernels for the exact scan: one query against 1 M × 128 f32 rows.
//!
//! ```text
//! cargo run --release -p facecmp-search --features compare-kernels --example kernels
//! ```
#![allow(clippy::unwrap_used)]
// a test or a measurement: a panic is its failure report
// Measures kernels, gemm's among them: its API is unsafe, each call with a SAFETY comment.
#![allow(unsafe_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use facecmp_search::kernel;
use facecmp_search::synthetic::Rng;
use rayon::prelude::*;
use simsimd::SpatialSimilarity;

const ROWS: usize = 1_000_000;
const DIMENSION: usize = 128;
const REPEATS: usize = 15;

fn main() {
    let mut rng = Rng::new(1);
    // Plain noise is fine here: only the arithmetic is timed, not the ranking.
    let matrix: Vec<f32> = (0..ROWS * DIMENSION).map(|_| rng.normal() / (DIMENSION as f32).sqrt()).collect();
    let query = rng.unit_vector(DIMENSION);
    let codes: Vec<i8> = matrix.iter().map(|&x| (x * 400.0).round().clamp(-127.0, 127.0) as i8).collect();
    let mut scores = vec![0.0f32; ROWS];

    report("naive iterator sum, 1 thread", || {
        for (row, score) in matrix.chunks_exact(DIMENSION).zip(scores.iter_mut()) {
            *score = row.iter().zip(&query).map(|(a, b)| a * b).sum();
        }
    });
    report("32-lane auto-vectorised loop (AVX2), 1 thread", || {
        score_rows_32_lanes(&matrix, &query, &mut scores);
    });
    report("facecmp kernel (4 rows at once, AVX2 + FMA), 1 thread", || {
        kernel::score_rows(&matrix, &query, &mut scores);
    });
    report("simsimd f32 dot per row, 1 thread", || {
        for (row, score) in matrix.chunks_exact(DIMENSION).zip(scores.iter_mut()) {
            *score = f32::dot(row, &query).unwrap_or(0.0) as f32;
        }
    });
    // SAFETY: the pointers cover `matrix` (ROWS × DIMENSION), `query` and
    // `scores` with the strides given; nothing else aliases them.
    report("gemm 0.19 matrix × vector, 1 thread", || unsafe {
        gemm::gemm(
            ROWS,
            1,
            DIMENSION,
            scores.as_mut_ptr(),
            ROWS as isize,
            1,
            false,
            matrix.as_ptr(),
            1,
            DIMENSION as isize,
            query.as_ptr(),
            DIMENSION as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    });
    report("facecmp kernel, rayon over 16 k-row chunks", || {
        matrix
            .par_chunks(16 * 1024 * DIMENSION)
            .zip(scores.par_chunks_mut(16 * 1024))
            .for_each(|(rows, scores)| kernel::score_rows(rows, &query, scores));
    });
    // SAFETY: as above.
    report("gemm 0.19 matrix × vector, rayon parallelism", || unsafe {
        gemm::gemm(
            ROWS,
            1,
            DIMENSION,
            scores.as_mut_ptr(),
            ROWS as isize,
            1,
            false,
            matrix.as_ptr(),
            1,
            DIMENSION as isize,
            query.as_ptr(),
            DIMENSION as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0),
        )
    });
    let scales = vec![1.0 / 400.0; ROWS];
    report("facecmp int8 kernel (a quarter of the bytes), 1 thread", || {
        kernel::score_codes(&codes, &scales, &query, &mut scores);
    });
    report("facecmp int8 kernel, rayon over 16 k-row chunks", || {
        let chunk = 16 * 1024;
        codes
            .par_chunks(chunk * DIMENSION)
            .zip(scales.par_chunks(chunk))
            .zip(scores.par_chunks_mut(chunk))
            .for_each(|((codes, scales), scores)| kernel::score_codes(codes, scales, &query, scores));
    });
    black_box(&scores);
}

/// The first kernel: 32 accumulators, left to the auto-vectoriser, compiled for AVX2.
fn score_rows_32_lanes(rows: &[f32], query: &[f32], scores: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { score_rows_32_lanes_avx2(rows, query, scores) };
        return;
    }
    score_rows_32_lanes_portable(rows, query, scores);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn score_rows_32_lanes_avx2(rows: &[f32], query: &[f32], scores: &mut [f32]) {
    score_rows_32_lanes_portable(rows, query, scores);
}

#[inline(always)]
fn score_rows_32_lanes_portable(rows: &[f32], query: &[f32], scores: &mut [f32]) {
    for (row, score) in rows.chunks_exact(DIMENSION).zip(scores.iter_mut()) {
        let mut sums = [0.0f32; 32];
        for (a, b) in row.as_chunks::<32>().0.iter().zip(query.as_chunks::<32>().0) {
            for lane in 0..32 {
                sums[lane] += a[lane] * b[lane];
            }
        }
        *score = sums.iter().sum();
    }
}

fn report(name: &str, mut run: impl FnMut()) {
    run();
    let mut times: Vec<Duration> = (0..REPEATS)
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "{name:<60} median {:7.2} ms  min {:7.2} ms",
        times[REPEATS / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3
    );
}
