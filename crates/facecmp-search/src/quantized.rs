//! The `i8` copy of each row that lets a search read a quarter of the bytes and still be exact.
//!
//! Each row `v` is stored as codes `c` and a scale `s` (`v ≈ s·c`, `|c| ≤ 127`), plus a bound `b` on how
//! far any scanned score of the copy can be from the `f32` scan's score of the original:
//!
//! ```text
//! |score_f32(q, v) − score_i8(q, s·c)| ≤ |q| · b
//! ```
//!
//! `b` covers the quantisation error `|v − s·c|` (by Cauchy–Schwarz, `|q·v − q·s·c| ≤ |q|·|v − s·c|`,
//! computed exactly in `f64` per row, then inflated by 1 %) and the `f32` rounding of both dot products
//! and of the bound arithmetic itself (each below `(d + 1)·2⁻²⁴·|q|·|v|`; four times that is allowed for
//! both together). So every row whose upper bound falls below the `k`-th best person's lower bound can
//! be skipped without changing the result, and the rest are re-scored from the `f32` matrix.

/// Covers absolute rounding in the subnormal range, where relative bounds no longer hold.
pub(crate) const ABSOLUTE_SLACK: f32 = 1e-30;

/// Appends `vector`'s codes to `codes` and returns its scale and error bound.
pub(crate) fn quantize(vector: &[f32], codes: &mut Vec<i8>) -> (f32, f32) {
    let largest = vector.iter().fold(0.0f32, |largest, x| largest.max(x.abs()));
    let scale = largest / 127.0;
    let mut squared_error = 0.0f64;
    let mut squared_length = 0.0f64;
    for &x in vector {
        let code = if scale > 0.0 { (x / scale).round().clamp(-127.0, 127.0) as i8 } else { 0 };
        codes.push(code);
        // Exact in f64: an f32 times an integer below 2⁷ needs at most 31 significant bits.
        let decoded = scale as f64 * code as f64;
        squared_error += (x as f64 - decoded).powi(2);
        squared_length += (x as f64).powi(2);
    }
    let rounding = 8.0 * (vector.len() + 1) as f64 * f32::EPSILON as f64 / 2.0 * squared_length.sqrt();
    let bound = 1.01 * squared_error.sqrt() + rounding;
    (scale, (bound as f32).next_up())
}

/// `|query|`, rounded up, for scaling the per-row bounds.
pub(crate) fn length_upper_bound(query: &[f32]) -> f32 {
    let squared: f64 = query.iter().map(|&x| (x as f64).powi(2)).sum();
    ((squared.sqrt() * (1.0 + 1e-6)) as f32).next_up()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel;
    use crate::synthetic::Rng;

    #[test]
    fn the_bound_holds_for_random_and_awkward_vectors() {
        let mut rng = Rng::new(11);
        let mut vectors: Vec<Vec<f32>> = (0..200).map(|_| rng.unit_vector(128)).collect();
        vectors.push(vec![0.0; 128]);
        vectors.push((0..128).map(|i| if i == 3 { 1.0 } else { 0.0 }).collect());
        vectors.push((0..128).map(|i| (i as f32 - 64.0) * 1e3).collect());
        vectors.push((0..128).map(|i| (i as f32 * 0.7).sin() * 1e-20).collect());
        let queries: Vec<Vec<f32>> = (0..20).map(|_| rng.unit_vector(128)).chain([vec![3.0; 128]]).collect();
        for vector in &vectors {
            let mut codes = Vec::new();
            let (scale, bound) = quantize(vector, &mut codes);
            for query in &queries {
                let exact = kernel::dot(vector, query);
                let mut approximate = [0.0];
                kernel::score_codes(&codes, &[scale], query, &mut approximate);
                let margin = bound * length_upper_bound(query) + ABSOLUTE_SLACK;
                assert!((exact - approximate[0]).abs() <= margin, "{exact} vs {} ± {margin}", approximate[0]);
            }
        }
    }

    #[test]
    fn unit_vectors_get_a_tight_bound() {
        let mut codes = Vec::new();
        let (_, bound) = quantize(&Rng::new(12).unit_vector(128), &mut codes);
        assert!(bound < 0.02, "bound {bound} would shortlist too many rows");
    }
}
