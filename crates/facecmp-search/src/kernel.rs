//! Dot products of one query against many contiguous rows.
//!
//! The scan reads every stored vector once per query (512 MB at 1 M × 128 f32), so it is bound by memory
//! bandwidth; the kernel only has to keep up with it. A plain loop over 32 independent accumulators lets
//! the compiler emit packed multiply-adds; on x86-64 the same loop is compiled a second time with AVX2
//! enabled and picked at run time, since the default target only assumes SSE2.

const LANES: usize = 32;

/// Writes `query · row` for each of the `scores.len()` rows stored back to back in `rows`.
pub(crate) fn score_rows(rows: &[f32], query: &[f32], scores: &mut [f32]) {
    debug_assert_eq!(rows.len(), query.len() * scores.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { score_rows_avx2(rows, query, scores) };
        return;
    }
    score_rows_portable(rows, query, scores);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn score_rows_avx2(rows: &[f32], query: &[f32], scores: &mut [f32]) {
    score_rows_portable(rows, query, scores);
}

#[inline(always)]
fn score_rows_portable(rows: &[f32], query: &[f32], scores: &mut [f32]) {
    let dimension = query.len();
    for (row, score) in scores.iter_mut().enumerate() {
        *score = dot(&rows[row * dimension..(row + 1) * dimension], query);
    }
}

#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (a_blocks, a_tail) = a.as_chunks::<LANES>();
    let (b_blocks, b_tail) = b.as_chunks::<LANES>();
    let mut sums = [0.0f32; LANES];
    for (a_block, b_block) in a_blocks.iter().zip(b_blocks) {
        for lane in 0..LANES {
            sums[lane] += a_block[lane] * b_block[lane];
        }
    }
    let tail: f32 = a_tail.iter().zip(b_tail).map(|(x, y)| x * y).sum();
    sums.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
    }

    #[test]
    fn matches_a_naive_dot_product_for_any_dimension() {
        for dimension in [0, 1, 7, 31, 32, 33, 128, 130] {
            let query: Vec<f32> = (0..dimension).map(|i| (i as f32 * 0.37).sin()).collect();
            let rows: Vec<f32> = (0..dimension * 3).map(|i| (i as f32 * 0.11).cos()).collect();
            let mut scores = [f32::NAN; 3];
            score_rows(&rows, &query, &mut scores);
            for (row, &score) in scores.iter().enumerate() {
                let expected = naive_dot(&rows[row * dimension..(row + 1) * dimension], &query);
                assert!((score as f64 - expected).abs() < 1e-4, "dimension {dimension} row {row}");
            }
        }
    }
}
