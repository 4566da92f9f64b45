//! dlib's 5-point face landmarker (`shape_predictor_5_face_landmarks`, CC0;
//! Davis King, 2017): the landmarks dlib's own pipeline places its chip by.
//! dlib's ResNet learnt faces cut at those points (two corners of each eye
//! and the base of the nose), and YuNet's points (eye centres, nose tip,
//! mouth corners) sit elsewhere by a few pixels that vary from face to face;
//! placing the chip by dlib's own landmarks is what makes the port score as
//! dlib does.
//!
//! The predictor is an ensemble of regression trees (Kazemi and Sullivan,
//! 2014): 15 cascades of 500 trees, each comparing pairs of grey pixels
//! placed relative to the current shape and adding its leaf's correction.
//! `tools/dlib/shape_predictor.py` converts dlib's file once into fixed-width
//! arrays, which are read here where they lie in the binary. This is
//! `dlib::shape_predictor::operator()` step for step (`dlib/image_processing/
//! shape_predictor.h`); `tests/dlib.rs` holds it to dlib's own landmarks.

use std::sync::OnceLock;

use ::image::RgbImage;

use crate::align::Similarity;
use crate::detect::Point;

static BUNDLED: &[u8] = include_bytes!("../../../../models/dlib_shape_predictor_5.bin");
const MAGIC: &[u8; 4] = b"FCSP";
const FORMAT: u32 = 1;
const HEADER_BYTES: usize = 28;
/// A split is two feature-pixel indices and a threshold, 4 bytes each.
const SPLIT_BYTES: usize = 12;
pub const PARTS: usize = 5;

/// A face's box as dlib's `rectangle` holds it: inclusive pixel edges, so
/// `right − left` is one less than the width. The predictor's shapes live in
/// the unit square mapped onto these corners.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceBox {
    pub left: f32,
    pub top: f32,
    pub right: f32,
    pub bottom: f32,
}

/// Where dlib's frontal face detector puts its box for a face, from YuNet's
/// five landmarks. The predictor was trained on that detector's boxes and
/// starts from a mean shape placed in one, so it needs a box like them: the
/// landmarks' centroid and spread (root-mean-square distance from the
/// centroid) give the box's centre and side. The four constants are fitted
/// by `tools/dlib/fit_face_box.py` on the LFW photos outside the View 2
/// pairs (the evaluation never sees them), which writes them to
/// `tools/dlib/face_box.json`: the reference script reads them there, and a
/// test holds these to that file. Its edges are whole pixels, as dlib's
/// `rectangle` holds them, so that dlib's own predictor can be given the same
/// box (the reference test does).
impl FaceBox {
    pub const CENTRE_X: f32 = -0.1779;
    pub const CENTRE_Y: f32 = -0.0684;
    pub const WIDTH: f32 = 3.9401;
    pub const HEIGHT: f32 = 3.9097;

    pub fn around(landmarks: &[Point; 5]) -> FaceBox {
        let n = landmarks.len() as f32;
        let cx = landmarks.iter().map(|p| p.x).sum::<f32>() / n;
        let cy = landmarks.iter().map(|p| p.y).sum::<f32>() / n;
        let spread =
            (landmarks.iter().map(|p| (p.x - cx).powi(2) + (p.y - cy).powi(2)).sum::<f32>() / n).sqrt();
        let (centre_x, centre_y) = (cx + Self::CENTRE_X * spread, cy + Self::CENTRE_Y * spread);
        let (half_width, half_height) = (Self::WIDTH * spread / 2.0, Self::HEIGHT * spread / 2.0);
        let edge = |value: f32| (value + 0.5).floor();
        FaceBox {
            left: edge(centre_x - half_width),
            top: edge(centre_y - half_height),
            right: edge(centre_x + half_width),
            bottom: edge(centre_y + half_height),
        }
    }

    /// The unit square's point `(u, v)` in the photo (dlib's
    /// `unnormalizing_tform`).
    fn in_photo(&self, u: f32, v: f32) -> (f64, f64) {
        let (left, top) = (f64::from(self.left), f64::from(self.top));
        (
            left + f64::from(u) * (f64::from(self.right) - left),
            top + f64::from(v) * (f64::from(self.bottom) - top),
        )
    }
}

/// The converted predictor, read in place.
pub struct ShapePredictor {
    data: &'static [u8],
    cascades: usize,
    trees: usize,
    depth: usize,
    features: usize,
    initial_shape: [f32; 2 * PARTS],
}

/// What is wrong with a converted predictor file.
#[derive(Debug, thiserror::Error)]
#[error("dlib shape predictor: {0}")]
pub struct ShapePredictorError(String);

impl ShapePredictor {
    /// The bundled predictor, checked once.
    pub fn bundled() -> &'static ShapePredictor {
        static PREDICTOR: OnceLock<ShapePredictor> = OnceLock::new();
        // The bundled file is in SHA256SUMS and read by the tests: a failure
        // here is a broken build, not bad input.
        PREDICTOR
            .get_or_init(|| ShapePredictor::parse(BUNDLED).expect("the bundled shape predictor is valid"))
    }

    /// Checks the header and that the file is exactly as long as it says.
    pub fn parse(data: &'static [u8]) -> Result<ShapePredictor, ShapePredictorError> {
        let fail = |why: &str| ShapePredictorError(why.into());
        if data.len() < HEADER_BYTES || &data[..4] != MAGIC {
            return Err(fail("not a converted predictor (tools/dlib/shape_predictor.py)"));
        }
        let word = |i: usize| read_u32(data, 4 + 4 * i) as usize;
        let (format, parts, cascades, trees, depth, features) =
            (word(0), word(1), word(2), word(3), word(4), word(5));
        if format != FORMAT as usize || parts != PARTS {
            return Err(fail(&format!(
                "format {format} with {parts} parts; this build reads format 1, 5 parts"
            )));
        }
        if !(1..=16).contains(&depth) || features == 0 || features > u32::MAX as usize {
            return Err(fail(&format!("trees of depth {depth} over {features} pixels")));
        }
        let mut predictor =
            ShapePredictor { data, cascades, trees, depth, features, initial_shape: [0.0; 2 * PARTS] };
        if predictor.expected_len() != Some(data.len()) {
            return Err(fail(&format!("{} bytes, not the length its header gives", data.len())));
        }
        for (i, value) in predictor.initial_shape.iter_mut().enumerate() {
            *value = read_f32(data, HEADER_BYTES + 4 * i);
        }
        predictor.check_indices()?;
        Ok(predictor)
    }

    /// dlib's landmarks of the face in `face_box`: each eye's outer and inner
    /// corner (the eye at the image's right first), then the base of the
    /// nose. Whole pixels, as dlib gives them.
    pub fn predict(&self, photo: &RgbImage, face_box: &FaceBox) -> [Point; PARTS] {
        let mut shape = self.initial_shape;
        let mut pixels = vec![0.0f32; self.features];
        for cascade in 0..self.cascades {
            self.read_pixels(photo, face_box, cascade, &shape, &mut pixels);
            for tree in 0..self.trees {
                let leaf = self.leaf_of(cascade, tree, &pixels);
                for (value, correction) in shape.iter_mut().zip(self.leaf_values(cascade, tree, leaf)) {
                    *value += correction;
                }
            }
        }
        std::array::from_fn(|i| {
            let (x, y) = face_box.in_photo(shape[2 * i], shape[2 * i + 1]);
            Point { x: round_half_up(x) as f32, y: round_half_up(y) as f32 }
        })
    }

    /// The grey value under each of a cascade's feature pixels: each is an
    /// offset from one point of the mean shape, carried onto the current
    /// shape by the similarity between the two (dlib's
    /// `extract_feature_pixel_values`); 0 outside the photo.
    fn read_pixels(
        &self,
        photo: &RgbImage,
        face_box: &FaceBox,
        cascade: usize,
        shape: &[f32; 2 * PARTS],
        pixels: &mut [f32],
    ) {
        let [[a, c, _], [b, d, _]] =
            Similarity::estimate(&points(&self.initial_shape), &points(shape)).matrix;
        let (a, b, c, d) = (a as f32, b as f32, c as f32, d as f32);
        let anchors = self.anchors_offset(cascade);
        let deltas = anchors + 4 * self.features;
        for (i, pixel) in pixels.iter_mut().enumerate() {
            let anchor = read_u32(self.data, anchors + 4 * i) as usize;
            let (dx, dy) = (read_f32(self.data, deltas + 8 * i), read_f32(self.data, deltas + 8 * i + 4));
            let u = a * dx + c * dy + shape[2 * anchor];
            let v = b * dx + d * dy + shape[2 * anchor + 1];
            let (x, y) = face_box.in_photo(u, v);
            *pixel = grey_at(photo, round_half_up(x), round_half_up(y));
        }
    }

    /// Walks one tree: left where the pixel difference exceeds the split's
    /// threshold, breadth-first numbering as dlib stores it.
    fn leaf_of(&self, cascade: usize, tree: usize, pixels: &[f32]) -> usize {
        let splits = self.splits_per_tree();
        let base = self.splits_offset() + (cascade * self.trees + tree) * splits * SPLIT_BYTES;
        let mut node = 0;
        while node < splits {
            let at = base + node * SPLIT_BYTES;
            let (first, second) = (read_u32(self.data, at) as usize, read_u32(self.data, at + 4) as usize);
            let threshold = read_f32(self.data, at + 8);
            node = if pixels[first] - pixels[second] > threshold { 2 * node + 1 } else { 2 * node + 2 };
        }
        node - splits
    }

    fn leaf_values(&self, cascade: usize, tree: usize, leaf: usize) -> impl Iterator<Item = f32> + '_ {
        let leaves = self.splits_per_tree() + 1;
        let start = self.leaves_offset() + ((cascade * self.trees + tree) * leaves + leaf) * 2 * PARTS * 4;
        (0..2 * PARTS).map(move |i| read_f32(self.data, start + 4 * i))
    }

    /// Every split names a feature pixel and every feature pixel a shape
    /// point that exist, so that prediction never reads out of bounds.
    fn check_indices(&self) -> Result<(), ShapePredictorError> {
        for cascade in 0..self.cascades {
            let anchors = self.anchors_offset(cascade);
            if (0..self.features).any(|i| read_u32(self.data, anchors + 4 * i) as usize >= PARTS) {
                return Err(ShapePredictorError(format!(
                    "cascade {cascade} anchors a pixel to no shape point"
                )));
            }
        }
        let splits = self.cascades * self.trees * self.splits_per_tree();
        let bad_split = (0..splits).any(|s| {
            let at = self.splits_offset() + s * SPLIT_BYTES;
            read_u32(self.data, at) as usize >= self.features
                || read_u32(self.data, at + 4) as usize >= self.features
        });
        if bad_split {
            return Err(ShapePredictorError("a split names a pixel that does not exist".into()));
        }
        Ok(())
    }

    fn splits_per_tree(&self) -> usize {
        (1 << self.depth) - 1
    }

    /// Each cascade's pixels: `features` u32 anchors, then `features` (x, y)
    /// f32 offsets.
    fn anchors_offset(&self, cascade: usize) -> usize {
        HEADER_BYTES + 4 * 2 * PARTS + cascade * 12 * self.features
    }

    fn splits_offset(&self) -> usize {
        self.anchors_offset(self.cascades)
    }

    fn leaves_offset(&self) -> usize {
        self.splits_offset() + self.cascades * self.trees * self.splits_per_tree() * SPLIT_BYTES
    }

    fn expected_len(&self) -> Option<usize> {
        let leaves = self.cascades.checked_mul(self.trees)?.checked_mul(self.splits_per_tree() + 1)?;
        self.leaves_offset().checked_add(leaves.checked_mul(2 * PARTS * 4)?)
    }
}

fn points(shape: &[f32; 2 * PARTS]) -> [Point; PARTS] {
    std::array::from_fn(|i| Point { x: shape[2 * i], y: shape[2 * i + 1] })
}

/// dlib's conversion of a real point to a pixel: `floor(x + 0.5)`.
fn round_half_up(value: f64) -> i64 {
    (value + 0.5).floor() as i64
}

/// dlib's grey of an RGB pixel, `(r + g + b) / 3` in integers; 0 outside.
fn grey_at(photo: &RgbImage, x: i64, y: i64) -> f32 {
    if x < 0 || y < 0 || x >= i64::from(photo.width()) || y >= i64::from(photo.height()) {
        return 0.0;
    }
    let [r, g, b] = photo.get_pixel(x as u32, y as u32).0;
    ((u32::from(r) + u32::from(g) + u32::from(b)) / 3) as f32
}

fn read_u32(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

fn read_f32(data: &[u8], at: usize) -> f32 {
    f32::from_bits(read_u32(data, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_predictor_is_dlibs_five_point_model() {
        let predictor = ShapePredictor::bundled();
        assert_eq!(
            (predictor.cascades, predictor.trees, predictor.depth, predictor.features),
            (15, 500, 4, 800)
        );
        // The mean shape lies inside the unit square of the face's box.
        assert!(predictor.initial_shape.iter().all(|v| (0.0..1.0).contains(v)));
    }

    #[test]
    fn damaged_files_are_refused() {
        let truncated: &'static [u8] = &BUNDLED[..BUNDLED.len() - 4];
        assert!(ShapePredictor::parse(truncated).is_err());
        assert!(ShapePredictor::parse(b"FCSP").is_err());
        let mut wrong_parts = BUNDLED.to_vec();
        wrong_parts[8] = 68;
        assert!(ShapePredictor::parse(Vec::leak(wrong_parts)).is_err());
        let mut bad_split = BUNDLED.to_vec();
        let at = ShapePredictor::bundled().splits_offset();
        bad_split[at..at + 4].copy_from_slice(&800u32.to_le_bytes());
        assert!(ShapePredictor::parse(Vec::leak(bad_split)).is_err());
    }

    #[test]
    fn the_box_is_centred_on_the_landmarks_and_scales_with_them() {
        let small = [(10.0, 10.0), (30.0, 10.0), (20.0, 20.0), (12.0, 30.0), (28.0, 30.0)]
            .map(|(x, y)| Point { x, y });
        let large = small.map(|p| Point { x: 2.0 * p.x + 5.0, y: 2.0 * p.y + 7.0 });
        let (a, b) = (FaceBox::around(&small), FaceBox::around(&large));
        // Whole-pixel edges: within a pixel of the exact scaling.
        assert!(((b.right - b.left) - 2.0 * (a.right - a.left)).abs() <= 2.0);
        assert!(((b.left + b.right) / 2.0 - ((a.left + a.right) + 5.0)).abs() <= 1.0);
        assert!([a.left, a.top, a.right, a.bottom].iter().all(|v| v.fract() == 0.0));
    }
}
