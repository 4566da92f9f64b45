//! Alignment: the five landmarks are mapped onto a fixed 112×112 template by
//! the least-squares similarity transform (rotation, uniform scale,
//! translation; Umeyama 1991), and the face is resampled bilinearly.
//! Every embedder sees faces in the same pose, at the same scale.

use ::image::{Rgb, RgbImage};
use serde::{Deserialize, Serialize};

use crate::detect::Point;

/// Side of the aligned crop, in pixels.
pub const ALIGNED_SIZE: u32 = 112;

/// Where the five landmarks (in YuNet's order) land in the aligned crop: the
/// ArcFace template that SFace was trained with.
pub const TEMPLATE: [Point; 5] = [
    Point { x: 38.2946, y: 51.6963 },
    Point { x: 73.5318, y: 51.5014 },
    Point { x: 56.0252, y: 71.7366 },
    Point { x: 41.5493, y: 92.3655 },
    Point { x: 70.7299, y: 92.2041 },
];

/// A similarity transform `p ↦ [a −b; b a]·p + t`, stored as the 2×3 matrix
/// `[[a, −b, tx], [b, a, ty]]` (OpenCV's convention).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Similarity {
    pub matrix: [[f64; 3]; 2],
}

impl Similarity {
    pub const IDENTITY: Similarity = Similarity { matrix: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]] };

    /// The least-squares similarity taking each `from[i]` to `to[i]`.
    ///
    /// In the complex plane a similarity is `q = z·p + t`; centring both point
    /// sets removes `t`, and the best `z` is then the linear least-squares
    /// solution `Σ conj(p̃)·q̃ / Σ |p̃|²`. This is Umeyama's estimate restricted
    /// to proper rotations, without an SVD.
    pub fn estimate(from: &[Point], to: &[Point]) -> Similarity {
        assert_eq!(from.len(), to.len(), "point sets must pair up");
        let n = from.len() as f64;
        let mean = |points: &[Point]| {
            let (sx, sy) =
                points.iter().fold((0.0, 0.0), |(sx, sy), p| (sx + f64::from(p.x), sy + f64::from(p.y)));
            (sx / n, sy / n)
        };
        let (from_x, from_y) = mean(from);
        let (to_x, to_y) = mean(to);
        let (mut dot, mut cross, mut norm) = (0.0, 0.0, 0.0);
        for (p, q) in from.iter().zip(to) {
            let (px, py) = (f64::from(p.x) - from_x, f64::from(p.y) - from_y);
            let (qx, qy) = (f64::from(q.x) - to_x, f64::from(q.y) - to_y);
            dot += px * qx + py * qy;
            cross += px * qy - py * qx;
            norm += px * px + py * py;
        }
        if norm == 0.0 {
            // All landmarks coincide: no rotation or scale can be recovered.
            return Similarity { matrix: [[1.0, 0.0, to_x - from_x], [0.0, 1.0, to_y - from_y]] };
        }
        let (a, b) = (dot / norm, cross / norm);
        let tx = to_x - (a * from_x - b * from_y);
        let ty = to_y - (b * from_x + a * from_y);
        Similarity { matrix: [[a, -b, tx], [b, a, ty]] }
    }

    pub fn apply(&self, p: Point) -> Point {
        let [[a, c, tx], [b, d, ty]] = self.matrix;
        let (x, y) = (f64::from(p.x), f64::from(p.y));
        Point { x: (a * x + c * y + tx) as f32, y: (b * x + d * y + ty) as f32 }
    }

    pub fn inverse(&self) -> Similarity {
        let [[a, _, tx], [b, _, ty]] = self.matrix;
        let det = a * a + b * b;
        let (ia, ib) = (a / det, -b / det);
        Similarity { matrix: [[ia, -ib, -(ia * tx - ib * ty)], [ib, ia, -(ib * tx + ia * ty)]] }
    }
}

/// A face resampled onto the template, ready for an embedder: always
/// [`ALIGNED_SIZE`]×[`ALIGNED_SIZE`] pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct AlignedFace {
    image: RgbImage,
    transform: Similarity,
}

/// An image that cannot be an aligned face: its size is not the template's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an aligned face is {ALIGNED_SIZE}×{ALIGNED_SIZE} pixels, not {width}×{height}")]
pub struct NotAligned {
    pub width: u32,
    pub height: u32,
}

impl AlignedFace {
    /// A face already resampled onto the template, with the transform that
    /// maps photo coordinates to crop coordinates.
    pub fn new(image: RgbImage, transform: Similarity) -> Result<AlignedFace, NotAligned> {
        let (width, height) = image.dimensions();
        if (width, height) != (ALIGNED_SIZE, ALIGNED_SIZE) {
            return Err(NotAligned { width, height });
        }
        Ok(AlignedFace { image, transform })
    }

    /// A crop that is already aligned (from a cache, a data set of aligned
    /// faces, or a generator): the photo is the crop itself.
    pub fn from_crop(image: RgbImage) -> Result<AlignedFace, NotAligned> {
        AlignedFace::new(image, Similarity::IDENTITY)
    }

    /// The 112×112 crop.
    pub fn image(&self) -> &RgbImage {
        &self.image
    }

    /// Maps photo coordinates to crop coordinates.
    pub fn transform(&self) -> &Similarity {
        &self.transform
    }

    pub fn into_image(self) -> RgbImage {
        self.image
    }
}

/// Aligns the face whose landmarks are `landmarks` in `photo`.
pub fn align(photo: &RgbImage, landmarks: &[Point; 5]) -> AlignedFace {
    let transform = Similarity::estimate(landmarks, &TEMPLATE);
    // `warp` makes an image of exactly the size asked for.
    AlignedFace { image: warp(photo, &transform, ALIGNED_SIZE), transform }
}

/// Resamples `source` through `transform` (source → output coordinates) into
/// a `size`×`size` image: each output pixel samples the source bilinearly at
/// the inverse-mapped position, with black outside the photo (like OpenCV's
/// `warpAffine` with a constant border).
pub fn warp(source: &RgbImage, transform: &Similarity, size: u32) -> RgbImage {
    let [[a, c, tx], [b, d, ty]] = transform.inverse().matrix;
    RgbImage::from_fn(size, size, |x, y| {
        let (x, y) = (f64::from(x), f64::from(y));
        sample_bilinear(source, a * x + c * y + tx, b * x + d * y + ty)
    })
}

fn sample_bilinear(image: &RgbImage, x: f64, y: f64) -> Rgb<u8> {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as i64, y0 as i64);
    let texel = |xi: i64, yi: i64| -> [f64; 3] {
        if xi < 0 || yi < 0 || xi >= i64::from(image.width()) || yi >= i64::from(image.height()) {
            return [0.0; 3];
        }
        image.get_pixel(xi as u32, yi as u32).0.map(f64::from)
    };
    let (p00, p10, p01, p11) = (texel(x0, y0), texel(x0 + 1, y0), texel(x0, y0 + 1), texel(x0 + 1, y0 + 1));
    Rgb(std::array::from_fn(|ch| {
        let top = p00[ch] * (1.0 - fx) + p10[ch] * fx;
        let bottom = p01[ch] * (1.0 - fx) + p11[ch] * fx;
        (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Point, b: Point, tolerance: f32) -> bool {
        (a.x - b.x).abs() <= tolerance && (a.y - b.y).abs() <= tolerance
    }

    #[test]
    fn the_template_maps_onto_itself_exactly() {
        let transform = Similarity::estimate(&TEMPLATE, &TEMPLATE);
        for (row, expected) in transform.matrix.iter().zip(Similarity::IDENTITY.matrix) {
            for (value, want) in row.iter().zip(expected) {
                assert!((value - want).abs() < 1e-12, "{:?}", transform.matrix);
            }
        }
    }

    #[test]
    fn aligning_a_crop_already_on_the_template_returns_it_unchanged() {
        let crop =
            RgbImage::from_fn(ALIGNED_SIZE, ALIGNED_SIZE, |x, y| Rgb([x as u8, y as u8, (x ^ y) as u8]));
        assert_eq!(align(&crop, &TEMPLATE).image(), &crop);
    }

    #[test]
    fn only_112_by_112_crops_are_aligned_faces() {
        assert!(AlignedFace::from_crop(RgbImage::new(ALIGNED_SIZE, ALIGNED_SIZE)).is_ok());
        assert_eq!(AlignedFace::from_crop(RgbImage::new(64, 64)), Err(NotAligned { width: 64, height: 64 }));
        assert!(AlignedFace::new(RgbImage::new(112, 111), Similarity::IDENTITY).is_err());
    }

    #[test]
    fn recovers_a_known_rotation_scale_and_shift() {
        let (angle, scale): (f64, f64) = (0.3, 2.5);
        let known = Similarity {
            matrix: [
                [scale * angle.cos(), -scale * angle.sin(), 17.0],
                [scale * angle.sin(), scale * angle.cos(), -4.0],
            ],
        };
        let moved = TEMPLATE.map(|p| known.apply(p));
        let estimated = Similarity::estimate(&moved, &TEMPLATE);
        for (p, q) in moved.iter().zip(TEMPLATE) {
            assert!(close(estimated.apply(*p), q, 1e-4));
        }
        let round_trip = estimated.inverse();
        assert!(close(round_trip.apply(TEMPLATE[0]), moved[0], 1e-3));
    }

    #[test]
    fn never_reflects_mirrored_landmarks() {
        let mirrored = TEMPLATE.map(|p| Point { x: 112.0 - p.x, y: p.y });
        let transform = Similarity::estimate(&mirrored, &TEMPLATE);
        let [[a, c, _], [b, d, _]] = transform.matrix;
        assert!(a * d - b * c > 0.0, "a similarity keeps orientation");
    }
}
