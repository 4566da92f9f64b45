//! Face detection with YuNet: boxes, confidence and five landmarks.
//!
//! YuNet is fully convolutional: its graph is declared 1×3×640×640 but runs at
//! any height and width that are multiples of 32, so the input is sized to the
//! photo (downscaled to at most `max_input_side`, then padded) instead of
//! always paying for 640×640.

use ::image::RgbImage;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer, images::Image};
use serde::{Deserialize, Serialize};

use crate::runtime::{Dim, NchwTensor, Network, NetworkSpec, OutputTensor, RuntimeError};

/// YuNet's feature-map strides, coarsest last, and the network's alignment.
const STRIDES: [usize; 3] = [8, 16, 32];
const INPUT_MULTIPLE: usize = 32;

/// The input and output layout of YuNet 2023mar.
pub fn network_spec() -> NetworkSpec {
    NetworkSpec {
        input: [Dim::Fixed(1), Dim::Fixed(3), Dim::Variable("H"), Dim::Variable("W")],
        outputs: [
            "cls_8", "cls_16", "cls_32", "obj_8", "obj_16", "obj_32", "bbox_8", "bbox_16", "bbox_32",
            "kps_8", "kps_16", "kps_32",
        ]
        .map(Into::into)
        .to_vec(),
        // Photo sizes vary; each size is planned when first seen.
        warm_shape: None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DetectorConfig {
    /// Minimum confidence of a reported face (YuNet's default is 0.6).
    pub score_threshold: f32,
    /// Overlap above which the weaker of two boxes is suppressed.
    pub nms_iou: f32,
    /// Photos are downscaled so their longer side is at most this.
    pub max_input_side: u32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self { score_threshold: 0.6, nms_iou: 0.3, max_input_side: 640 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

/// An axis-aligned box in image pixels: top-left corner and size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BoundingBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

impl BoundingBox {
    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    pub fn iou(&self, other: &BoundingBox) -> f32 {
        let left = self.x.max(other.x);
        let top = self.y.max(other.y);
        let right = (self.x + self.width).min(other.x + other.width);
        let bottom = (self.y + self.height).min(other.y + other.height);
        let intersection = (right - left).max(0.0) * (bottom - top).max(0.0);
        let union = self.area() + other.area() - intersection;
        if union > 0.0 { intersection / union } else { 0.0 }
    }
}

/// Landmark names in YuNet's order. "Right eye" is the subject's right eye,
/// which appears on the image's left.
pub const LANDMARK_NAMES: [&str; 5] =
    ["right_eye", "left_eye", "nose_tip", "right_mouth_corner", "left_mouth_corner"];

/// A detected face in the coordinates of the photo it was found in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Face {
    #[serde(rename = "box")]
    pub bbox: BoundingBox,
    pub score: f32,
    pub landmarks: [Point; 5],
}

impl Face {
    /// The shorter side of the box: what limits how much detail the face has.
    pub fn size(&self) -> f32 {
        self.bbox.width.min(self.bbox.height)
    }

    fn translated(mut self, dx: f32, dy: f32, scale: f32) -> Face {
        let map = |p: Point| Point { x: (p.x - dx) / scale, y: (p.y - dy) / scale };
        let corner = map(Point { x: self.bbox.x, y: self.bbox.y });
        self.bbox = BoundingBox {
            x: corner.x,
            y: corner.y,
            width: self.bbox.width / scale,
            height: self.bbox.height / scale,
        };
        self.landmarks = self.landmarks.map(map);
        self
    }
}

pub struct Detector {
    network: Box<dyn Network>,
    config: DetectorConfig,
}

impl Detector {
    pub fn new(network: Box<dyn Network>, config: DetectorConfig) -> Self {
        Self { network, config }
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// Finds every face, strongest first.
    ///
    /// YuNet misses a face that fills the whole frame (a passport-style crop),
    /// so when nothing is found the photo is tried once more centred on a
    /// canvas twice its size.
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<Face>, RuntimeError> {
        let faces = self.detect_on_canvas(image, 1.0)?;
        if !faces.is_empty() || image.width() == 0 || image.height() == 0 {
            return Ok(faces);
        }
        self.detect_on_canvas(image, 2.0)
    }

    /// Runs the network on `image` scaled to fit a canvas `canvas_factor`
    /// times its size, the photo centred, and maps faces back to the photo.
    fn detect_on_canvas(&self, image: &RgbImage, canvas_factor: f32) -> Result<Vec<Face>, RuntimeError> {
        let longer_side = image.width().max(image.height()) as f32 * canvas_factor;
        let scale = (self.config.max_input_side as f32 / longer_side).min(1.0);
        let scaled = resize(image, scale);
        let canvas_w = (scaled.width() as f32 * canvas_factor).ceil() as usize;
        let canvas_h = (scaled.height() as f32 * canvas_factor).ceil() as usize;
        let offset_x = (canvas_w - scaled.width() as usize) / 2;
        let offset_y = (canvas_h - scaled.height() as usize) / 2;
        let input = bgr_tensor(&scaled, round_up(canvas_w), round_up(canvas_h), offset_x, offset_y);
        // `scaled` may round each side, so map back with the exact ratio.
        let scale_x = scaled.width() as f32 / image.width() as f32;
        // The network's run is a detection's peak of memory: the resized
        // copy is not needed for it.
        drop(scaled);
        let (input_h, input_w) = (input.shape[2], input.shape[3]);
        let outputs = self.network.run(input)?;
        let candidates = decode_outputs(&outputs, input_h, input_w, self.config.score_threshold);
        let faces = non_max_suppression(candidates, self.config.nms_iou);
        Ok(faces.into_iter().map(|face| face.translated(offset_x as f32, offset_y as f32, scale_x)).collect())
    }
}

fn round_up(n: usize) -> usize {
    n.div_ceil(INPUT_MULTIPLE).max(1) * INPUT_MULTIPLE
}

/// Downscales with an antialiasing filter; returns the image itself at scale 1.
fn resize(image: &RgbImage, scale: f32) -> std::borrow::Cow<'_, RgbImage> {
    if scale >= 1.0 {
        return std::borrow::Cow::Borrowed(image);
    }
    let width = ((image.width() as f32 * scale).round() as u32).max(1);
    let height = ((image.height() as f32 * scale).round() as u32).max(1);
    let source = fast_image_resize::images::ImageRef::new(
        image.width(),
        image.height(),
        image.as_raw(),
        PixelType::U8x3,
    )
    .expect("an RgbImage buffer always holds width×height RGB pixels");
    let mut target = Image::new(width, height, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    Resizer::new().resize(&source, &mut target, &options).expect("source and target are both U8x3");
    std::borrow::Cow::Owned(
        RgbImage::from_raw(width, height, target.into_vec())
            .expect("the resized buffer holds width×height RGB pixels"),
    )
}

/// YuNet wants BGR, 0..255 floats, NCHW, without normalisation; the padding
/// around the photo stays black.
fn bgr_tensor(image: &RgbImage, width: usize, height: usize, offset_x: usize, offset_y: usize) -> NchwTensor {
    let mut tensor = NchwTensor::zeros([1, 3, height, width]);
    let plane = width * height;
    for (x, y, pixel) in image.enumerate_pixels() {
        let at = (y as usize + offset_y) * width + x as usize + offset_x;
        let [r, g, b] = pixel.0;
        tensor.data[at] = f32::from(b);
        tensor.data[plane + at] = f32::from(g);
        tensor.data[2 * plane + at] = f32::from(r);
    }
    tensor
}

/// Turns the per-stride score, box and landmark maps into candidate faces in
/// input-tensor pixels.
fn decode_outputs(outputs: &[OutputTensor], input_h: usize, input_w: usize, threshold: f32) -> Vec<Face> {
    let mut faces = Vec::new();
    for (level, &stride) in STRIDES.iter().enumerate() {
        let [cls, obj, bbox, kps] = [0, 1, 2, 3].map(|kind| &outputs[kind * STRIDES.len() + level].data);
        let cols = input_w / stride;
        let cells = (input_h / stride) * cols;
        let s = stride as f32;
        for cell in 0..cells.min(cls.len()) {
            let score = (cls[cell].clamp(0.0, 1.0) * obj[cell].clamp(0.0, 1.0)).sqrt();
            if score < threshold {
                continue;
            }
            let (row, col) = ((cell / cols) as f32, (cell % cols) as f32);
            let b = &bbox[cell * 4..cell * 4 + 4];
            let (cx, cy) = ((col + b[0]) * s, (row + b[1]) * s);
            let (w, h) = (b[2].exp() * s, b[3].exp() * s);
            let k = &kps[cell * 10..cell * 10 + 10];
            let landmarks =
                std::array::from_fn(|i| Point { x: (col + k[2 * i]) * s, y: (row + k[2 * i + 1]) * s });
            faces.push(Face {
                bbox: BoundingBox { x: cx - w / 2.0, y: cy - h / 2.0, width: w, height: h },
                score,
                landmarks,
            });
        }
    }
    faces
}

/// Greedy non-maximum suppression: keeps the strongest of overlapping boxes.
fn non_max_suppression(mut candidates: Vec<Face>, iou_threshold: f32) -> Vec<Face> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Face> = Vec::new();
    for candidate in candidates {
        if kept.iter().all(|face| face.bbox.iou(&candidate.bbox) <= iou_threshold) {
            kept.push(candidate);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face_at(x: f32, score: f32) -> Face {
        Face {
            bbox: BoundingBox { x, y: 0.0, width: 10.0, height: 10.0 },
            score,
            landmarks: [Point { x: 0.0, y: 0.0 }; 5],
        }
    }

    #[test]
    fn iou_of_identical_and_disjoint_boxes() {
        let a = face_at(0.0, 1.0).bbox;
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&face_at(20.0, 1.0).bbox), 0.0);
        // Half overlap: 50 / (100 + 100 - 50).
        assert!((a.iou(&face_at(5.0, 1.0).bbox) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn nms_keeps_the_strongest_of_overlapping_boxes() {
        let kept = non_max_suppression(vec![face_at(1.0, 0.7), face_at(0.0, 0.9), face_at(50.0, 0.8)], 0.3);
        let scores: Vec<f32> = kept.iter().map(|f| f.score).collect();
        assert_eq!(scores, vec![0.9, 0.8]);
    }

    #[test]
    fn input_sides_round_up_to_multiples_of_32() {
        assert_eq!(round_up(1), 32);
        assert_eq!(round_up(32), 32);
        assert_eq!(round_up(481), 512);
    }
}
