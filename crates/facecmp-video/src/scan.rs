//! The per-frame work shared by search and watch: sample frames, detect
//! faces, track them, embed what the tracker asks for.

use std::time::{Duration, Instant};

use facecmp::{Face, Photo, Pipeline};
use image::RgbImage;

use crate::source::Frame;
use crate::tracker::{Detection, FrameUpdate, Tracker, TrackerConfig, sharpness};

/// Where the time went, for `--verbose`-style summaries and benchmarks.
#[derive(Debug, Default, Clone, Copy)]
pub struct Timings {
    pub frames: u64,
    pub sampled: u64,
    pub faces: u64,
    pub embedded: u64,
    pub detect: Duration,
    pub embed: Duration,
}

/// One analysed frame.
pub struct Analysed {
    pub time: f64,
    pub wall_time: std::time::SystemTime,
    pub photo: Photo,
    /// Faces large enough to track (indices into `photo.faces`), in detection order.
    pub tracked: Vec<usize>,
    pub update: FrameUpdate,
    /// The picture changed completely since the last sample (a cut): every
    /// track alive before it ended (they are in `update.ended`), and
    /// whoever is in view now starts a track of their own.
    pub cut: bool,
}

/// Detection and tracking over the frames of one source.
pub struct Analyser<'p> {
    pipeline: &'p Pipeline,
    pub tracker: Tracker,
    thumbnail: Option<Vec<u8>>,
    pub timings: Timings,
    input: String,
}

/// Crops kept for best faces are at most this large (memory, snapshots).
const CROP_SIDE: u32 = 192;

/// Mean grey-level difference (0–255) between two samples' 32×18
/// thumbnails above which the shot changed. A person walking in front of
/// a fixed camera changes a fifth of the picture by at most ~60 levels
/// (≈ 12 on average); a cut changes most of it.
const CUT_DIFFERENCE: f32 = 40.0;

impl<'p> Analyser<'p> {
    pub fn new(pipeline: &'p Pipeline, tracker: TrackerConfig, input: &str) -> Analyser<'p> {
        Analyser {
            pipeline,
            tracker: Tracker::new(tracker),
            thumbnail: None,
            timings: Timings::default(),
            input: input.to_string(),
        }
    }

    /// Detects, tracks and (where needed) embeds the faces of one frame.
    /// `must_embed` forces embedding of a track's face (see [`Tracker::update`]).
    pub fn analyse(
        &mut self,
        frame: Frame,
        must_embed: impl Fn(u64) -> bool,
    ) -> Result<Analysed, facecmp::Error> {
        self.timings.sampled += 1;
        let thumbnail = thumbnail(&frame.image);
        let cut = self
            .thumbnail
            .as_ref()
            .is_some_and(|previous| mean_difference(previous, &thumbnail) > CUT_DIFFERENCE);
        self.thumbnail = Some(thumbnail);
        // A shot change ends every appearance: whoever is in view after it
        // may stand where someone else stood, and an appearance must end at
        // the last frame its person was seen, not carry on into the next shot.
        let ended_by_cut = if cut { self.tracker.finish() } else { Vec::new() };
        let started = Instant::now();
        let photo =
            self.pipeline.find_faces(format!("{} at {:.2} s", self.input, frame.time), frame.image)?;
        self.timings.detect += started.elapsed();
        let min_size = self.pipeline.config().min_face_size;
        let tracked: Vec<usize> =
            (0..photo.faces.len()).filter(|&i| photo.faces[i].size() >= min_size).collect();
        self.timings.faces += tracked.len() as u64;
        let detections: Vec<Detection> = tracked
            .iter()
            .map(|&i| Detection { face: photo.faces[i], sharpness: sharpness(&photo.image, &photo.faces[i]) })
            .collect();
        let (pipeline, timings) = (self.pipeline, &mut self.timings);
        let mut update = self.tracker.update(
            frame.time,
            &detections,
            |wanted| {
                let started = Instant::now();
                let faces: Vec<usize> = wanted.iter().map(|&d| tracked[d]).collect();
                let embeddings = pipeline.embed(&photo, &faces);
                timings.embed += started.elapsed();
                timings.embedded += faces.len() as u64;
                embeddings
            },
            must_embed,
        )?;
        update.ended.splice(0..0, ended_by_cut);
        for assignment in update.assignments.iter().filter(|a| a.new_best) {
            let crop = crop_face(&photo.image, &photo.faces[tracked[assignment.detection]]);
            self.tracker.attach_crop(assignment.track, frame.time, crop);
        }
        Ok(Analysed { time: frame.time, wall_time: frame.wall_time, photo, tracked, update, cut })
    }
}

/// The face box with a margin, at most `CROP_SIDE` (192) pixels on its longer side.
pub fn crop_face(image: &RgbImage, face: &Face) -> RgbImage {
    let (width, height) = image.dimensions();
    let margin = face.bbox.width.max(face.bbox.height) * 0.25;
    let x0 = (face.bbox.x - margin).max(0.0) as u32;
    let y0 = (face.bbox.y - margin).max(0.0) as u32;
    let x1 = ((face.bbox.x + face.bbox.width + margin) as u32).min(width).max(x0 + 1);
    let y1 = ((face.bbox.y + face.bbox.height + margin) as u32).min(height).max(y0 + 1);
    let crop =
        image::imageops::crop_imm(image, x0.min(width - 1), y0.min(height - 1), x1 - x0, y1 - y0).to_image();
    let longer = crop.width().max(crop.height());
    if longer <= CROP_SIDE {
        return crop;
    }
    let scale = CROP_SIDE as f32 / longer as f32;
    image::imageops::resize(
        &crop,
        ((crop.width() as f32 * scale) as u32).max(1),
        ((crop.height() as f32 * scale) as u32).max(1),
        image::imageops::FilterType::Triangle,
    )
}

/// A 32×18 grey thumbnail: enough to notice a cut.
fn thumbnail(image: &RgbImage) -> Vec<u8> {
    let (width, height) = image.dimensions();
    let mut out = Vec::with_capacity(32 * 18);
    for ty in 0..18 {
        for tx in 0..32 {
            let x = (tx * width / 32 + width / 64).min(width - 1);
            let y = (ty * height / 18 + height / 36).min(height - 1);
            let p = image.get_pixel(x, y).0;
            out.push(((p[0] as u32 * 77 + p[1] as u32 * 150 + p[2] as u32 * 29) >> 8) as u8);
        }
    }
    out
}

fn mean_difference(a: &[u8], b: &[u8]) -> f32 {
    if a.len() != b.len() || a.is_empty() {
        return 255.0;
    }
    a.iter().zip(b).map(|(&x, &y)| (x as f32 - y as f32).abs()).sum::<f32>() / a.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_are_noticed() {
        let dark = RgbImage::from_pixel(64, 36, [10; 3].into());
        let light = RgbImage::from_pixel(64, 36, [200; 3].into());
        assert!(mean_difference(&thumbnail(&dark), &thumbnail(&light)) > 40.0);
        assert_eq!(mean_difference(&thumbnail(&dark), &thumbnail(&dark)), 0.0);
    }
}
