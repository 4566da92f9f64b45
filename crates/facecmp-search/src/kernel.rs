//! Dot products of one query against many contiguous rows, stored as `f32` or as `i8` codes.
//!
//! A scan reads every stored vector once per query (512 MB of `f32` at 1 M × 128), so it is close to
//! memory-bound, but only if the arithmetic keeps up. Measured on the 2-vCPU AVX2 host
//! (`examples/kernels.rs`, BENCHMARKS.md): a plain iterator sum is latency-bound (131 ms at 1 M rows),
//! a 32-lane auto-vectorised loop and `simsimd`'s per-pair dot both took ≈ 55 ms, because reducing
//! each short row to a scalar costs as much as the multiplications; `gemm`'s matrix × vector took
//! ≈ 42 ms. This hand kernel scores four rows at a time with fused multiply-adds and two accumulators
//! per row, so eight independent chains hide the FMA latency and the query is loaded once for four rows.
//! It is selected at run time when the CPU has AVX2 and FMA; otherwise a portable loop of the same shape
//! runs.
//!
//! Every row is computed by the same sequence of operations wherever it sits in a block, so a row's score
//! does not depend on its position: re-scoring one row gives bit-identical results to the scan.

/// Lanes per row accumulated before the final reduction: two AVX registers.
const LANES: usize = 16;

/// Writes `query · row` for each of the `scores.len()` rows stored back to back in `rows`.
pub fn score_rows(rows: &[f32], query: &[f32], scores: &mut [f32]) {
    assert_eq!(rows.len(), query.len() * scores.len(), "rows and scores disagree");
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked above); lengths were checked by the assert.
        unsafe { avx2::score_rows(rows, query, scores) };
        return;
    }
    for (row, score) in rows.chunks_exact(query.len().max(1)).zip(scores.iter_mut()) {
        *score = portable_dot(row, query, |&x| x);
    }
    if query.is_empty() {
        scores.fill(0.0);
    }
}

/// Writes `scale · (query · codes_row)` for each row of `i8` codes: the dot product with the row's
/// quantised copy, from a quarter of the bytes.
pub fn score_codes(codes: &[i8], scales: &[f32], query: &[f32], scores: &mut [f32]) {
    assert_eq!(codes.len(), query.len() * scores.len(), "codes and scores disagree");
    assert_eq!(scales.len(), scores.len(), "scales and scores disagree");
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked above); lengths were checked by the asserts.
        unsafe { avx2::score_codes(codes, scales, query, scores) };
        return;
    }
    for ((row, score), &scale) in codes.chunks_exact(query.len().max(1)).zip(scores.iter_mut()).zip(scales) {
        *score = scale * portable_dot(row, query, |&x| x as f32);
    }
    if query.is_empty() {
        scores.fill(0.0);
    }
}

/// `a · b`, bit-identical to the score [`score_rows`] gives the same row.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut score = [0.0];
    score_rows(a, b, &mut score);
    score[0]
}

#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// The fallback, shaped like the AVX2 kernel (16 lanes, halved pairwise) so that it vectorises too.
#[inline(always)]
fn portable_dot<T>(row: &[T], query: &[f32], to_f32: impl Fn(&T) -> f32) -> f32 {
    let (row_blocks, row_tail) = row.as_chunks::<LANES>();
    let (query_blocks, query_tail) = query.as_chunks::<LANES>();
    let mut sums = [0.0f32; LANES];
    for (row_block, query_block) in row_blocks.iter().zip(query_blocks) {
        for lane in 0..LANES {
            sums[lane] += to_f32(&row_block[lane]) * query_block[lane];
        }
    }
    let mut width = LANES / 2;
    while width > 0 {
        for lane in 0..width {
            sums[lane] += sums[lane + width];
        }
        width /= 2;
    }
    row_tail.iter().zip(query_tail).fold(sums[0], |sum, (x, &y)| sum + to_f32(x) * y)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::LANES;

    /// Rows scored together; their accumulators stay in registers (2 per row).
    const ROWS_AT_ONCE: usize = 4;

    /// How one row element is turned into eight `f32` lanes.
    trait Element: Copy {
        /// Loads 8 elements at `at`.
        unsafe fn load8(at: *const Self) -> __m256;
        fn to_f32(self) -> f32;
    }

    impl Element for f32 {
        #[inline(always)]
        unsafe fn load8(at: *const Self) -> __m256 {
            // SAFETY: the caller points `at` at 8 readable f32s (AVX2 checked by the caller).
            unsafe { _mm256_loadu_ps(at) }
        }
        fn to_f32(self) -> f32 {
            self
        }
    }

    impl Element for i8 {
        #[inline(always)]
        unsafe fn load8(at: *const Self) -> __m256 {
            // SAFETY: the caller points `at` at 8 readable i8s (AVX2 checked by the caller).
            unsafe { _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(at.cast()))) }
        }
        fn to_f32(self) -> f32 {
            self as f32
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn score_rows(rows: &[f32], query: &[f32], scores: &mut [f32]) {
        // SAFETY: AVX2 and FMA are enabled here; the caller checked the lengths.
        unsafe { score(rows, query, scores) }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn score_codes(codes: &[i8], scales: &[f32], query: &[f32], scores: &mut [f32]) {
        // SAFETY: AVX2 and FMA are enabled here; the caller checked the lengths.
        unsafe { score(codes, query, scores) };
        for (score, &scale) in scores.iter_mut().zip(scales) {
            *score *= scale;
        }
    }

    /// Caller guarantees AVX2 and FMA, and `rows.len() == query.len() * scores.len()`.
    #[inline(always)]
    unsafe fn score<T: Element>(rows: &[T], query: &[f32], scores: &mut [f32]) {
        let dimension = query.len();
        let mut first = 0;
        while first + ROWS_AT_ONCE <= scores.len() {
            // SAFETY: row `first + i` < scores.len() starts inside `rows`, which holds
            // `scores.len()` rows of `dimension` elements.
            let starts: [*const T; ROWS_AT_ONCE] =
                std::array::from_fn(|i| unsafe { rows.as_ptr().add((first + i) * dimension) });
            // SAFETY: each start has `dimension` readable elements (as above); AVX2 and FMA are
            // guaranteed by the caller.
            let sums = unsafe { dot_rows(starts, query) };
            scores[first..first + ROWS_AT_ONCE].copy_from_slice(&sums);
            first += ROWS_AT_ONCE;
        }
        for (row, score) in scores.iter_mut().enumerate().skip(first) {
            // SAFETY: row < scores.len(), so the row lies inside `rows`; AVX2 and FMA as above.
            [*score] = unsafe { dot_rows([rows.as_ptr().add(row * dimension)], query) };
        }
    }

    /// Dot products of `N` rows (each `query.len()` long) with `query`. Each row's arithmetic is the
    /// same whatever `N` is, so results do not depend on how rows were grouped.
    #[inline(always)]
    unsafe fn dot_rows<T: Element, const N: usize>(rows: [*const T; N], query: &[f32]) -> [f32; N] {
        let full = query.len() / LANES * LANES;
        // SAFETY: every read is at an offset below `query.len()`, within `query` and within each
        // row (the caller gives rows of `query.len()` elements); AVX2 and FMA by the caller.
        unsafe {
            let mut low = [_mm256_setzero_ps(); N];
            let mut high = [_mm256_setzero_ps(); N];
            let mut at = 0;
            while at < full {
                let query_low = _mm256_loadu_ps(query.as_ptr().add(at));
                let query_high = _mm256_loadu_ps(query.as_ptr().add(at + 8));
                for row in 0..N {
                    low[row] = _mm256_fmadd_ps(T::load8(rows[row].add(at)), query_low, low[row]);
                    high[row] = _mm256_fmadd_ps(T::load8(rows[row].add(at + 8)), query_high, high[row]);
                }
                at += LANES;
            }
            std::array::from_fn(|row| {
                let mut sum = horizontal_sum(_mm256_add_ps(low[row], high[row]));
                for (offset, &q) in query[full..].iter().enumerate() {
                    sum = (*rows[row].add(full + offset)).to_f32().mul_add(q, sum);
                }
                sum
            })
        }
    }

    #[inline(always)]
    unsafe fn horizontal_sum(v: __m256) -> f32 {
        // SAFETY: register-only intrinsics; AVX is guaranteed by the caller.
        unsafe {
            let halves = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let pairs = _mm_add_ps(halves, _mm_movehl_ps(halves, halves));
            _mm_cvtss_f32(_mm_add_ss(pairs, _mm_shuffle_ps(pairs, pairs, 1)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
    }

    fn sample_rows(dimension: usize, rows: usize) -> (Vec<f32>, Vec<f32>) {
        let query: Vec<f32> = (0..dimension).map(|i| (i as f32 * 0.37).sin()).collect();
        let matrix: Vec<f32> = (0..dimension * rows).map(|i| (i as f32 * 0.11).cos()).collect();
        (query, matrix)
    }

    #[test]
    fn rows_match_a_naive_dot_product_for_any_dimension() {
        for dimension in [0, 1, 7, 8, 15, 16, 17, 33, 128, 130] {
            let (query, rows) = sample_rows(dimension, 7);
            let mut scores = [f32::NAN; 7];
            score_rows(&rows, &query, &mut scores);
            for (row, &score) in scores.iter().enumerate() {
                let expected = naive_dot(&rows[row * dimension..(row + 1) * dimension], &query);
                assert!((score as f64 - expected).abs() < 1e-4, "dimension {dimension} row {row}");
            }
        }
    }

    #[test]
    fn the_portable_fallback_matches_a_naive_dot_product() {
        for dimension in [0, 3, 16, 130] {
            let (query, row) = sample_rows(dimension, 1);
            let expected = naive_dot(&row, &query);
            assert!((portable_dot(&row, &query, |&x| x) as f64 - expected).abs() < 1e-4);
        }
    }

    #[test]
    fn a_row_scores_the_same_wherever_it_sits() {
        let (query, rows) = sample_rows(130, 9);
        let mut scores = [0.0; 9];
        score_rows(&rows, &query, &mut scores);
        for (row, &score) in scores.iter().enumerate() {
            assert_eq!(dot(&rows[row * 130..(row + 1) * 130], &query).to_bits(), score.to_bits());
        }
    }

    #[test]
    fn codes_match_a_naive_scaled_dot_product() {
        for dimension in [0, 5, 16, 128, 131] {
            let (query, _) = sample_rows(dimension, 0);
            let codes: Vec<i8> =
                (0..dimension * 6).map(|i| ((i * 37) % 255) as i32 - 127).map(|c| c as i8).collect();
            let scales = [0.5, 1.0, 0.01, 2.0, 0.0, 1.5];
            let mut scores = [f32::NAN; 6];
            score_codes(&codes, &scales, &query, &mut scores);
            for (row, &score) in scores.iter().enumerate() {
                let decoded: Vec<f32> =
                    codes[row * dimension..(row + 1) * dimension].iter().map(|&c| c as f32).collect();
                let expected = scales[row] as f64 * naive_dot(&decoded, &query);
                assert!((score as f64 - expected).abs() < 1e-3, "dimension {dimension} row {row}");
            }
        }
    }
}
