//! The per-frame work shared by search and watch: sample frames, detect
//! faces, track them, embed what the tracker asks for.

use std::time::{Duration, Instant};

use facecmp::{Face, Photo, Pipeline};
use image::RgbImage;

use crate::source::Frame;
use crate::tracker::{Detection, FrameUpdate, Tracker, TrackerConfig, sharpness};

/// Picks frames at a steady rate by their presentation time, whatever the
/// source's own (possibly variable) frame rate.
#[derive(Debug, Clone, Copy)]
pub struct Sampler {
    step: f64,
    /// The grid cell of the last frame taken.
    last_cell: Option<i64>,
}

/// Slack on the sampling grid, so that 25 fps sampled at 5 fps takes every
/// 5th frame rather than missing one on a rounding error.
const SLACK_S: f64 = 1e-3;

impl Sampler {
    /// `fps` samples per second of video; 0 or less takes every frame.
    pub fn new(fps: f64) -> Sampler {
        Sampler { step: if fps > 0.0 { 1.0 / fps } else { 0.0 }, last_cell: None }
    }

    pub fn step(&self) -> f64 {
        self.step
    }

    /// Whether the frame at `time` is sampled: the first frame of each
    /// step-long cell of video time, so that 25 fps sampled at 10 takes
    /// 10 frames a second (alternately every 3rd and 2nd), and after a gap
    /// the next frame.
    pub fn take(&mut self, time: f64) -> bool {
        if self.step <= 0.0 {
            return true;
        }
        let cell = ((time + SLACK_S) / self.step).floor() as i64;
        if self.last_cell.is_some_and(|last| cell <= last) {
            return false;
        }
        self.last_cell = Some(cell);
        true
    }

    /// The same rule as [`take`](Self::take), as an ffmpeg `select` filter:
    /// put before the scaling, it spares ffmpeg scaling and converting the
    /// frames that would be dropped here anyway (most of its work on
    /// 1080p). Every frame it lets through is taken by `take`, since both
    /// see the same presentation times. None when every frame is taken.
    pub fn ffmpeg_select(&self) -> Option<String> {
        (self.step > 0.0).then(|| {
            let cell = |t: &str| format!("floor(({t}+{SLACK_S})/{:.9})", self.step);
            format!("select='isnan(prev_selected_t)+gt({},{})'", cell("t"), cell("prev_selected_t"))
        })
    }
}

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
    /// The picture changed completely since the last sample (a cut).
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
        let cut =
            self.thumbnail.as_ref().is_some_and(|previous| mean_difference(previous, &thumbnail) > 40.0);
        self.thumbnail = Some(thumbnail);
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
        let update = self.tracker.update(
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
            |track| cut || must_embed(track),
        )?;
        for assignment in update.assignments.iter().filter(|a| a.new_best) {
            let crop = crop_face(&photo.image, &photo.faces[tracked[assignment.detection]]);
            self.tracker.attach_crop(assignment.track, frame.time, crop);
        }
        Ok(Analysed { time: frame.time, wall_time: frame.wall_time, photo, tracked, update, cut })
    }
}

/// The face box with a margin, at most [`CROP_SIDE`] pixels on its longer side.
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
    fn sampling_follows_presentation_times() {
        let mut sampler = Sampler::new(5.0);
        let taken: Vec<usize> = (0..50).filter(|&i| sampler.take(i as f64 / 25.0)).collect();
        assert_eq!(taken, vec![0, 5, 10, 15, 20, 25, 30, 35, 40, 45]);
        // Variable frame rate: after a gap, the next frame.
        let mut sampler = Sampler::new(5.0);
        let times = [0.0, 0.05, 1.0, 1.1, 1.2, 1.3];
        let taken: Vec<f64> = times.iter().copied().filter(|&t| sampler.take(t)).collect();
        assert_eq!(taken, vec![0.0, 1.0, 1.2]);
        let mut every = Sampler::new(0.0);
        assert!((0..5).all(|i| every.take(i as f64 * 0.01)));
        assert_eq!(every.ffmpeg_select(), None);
        assert_eq!(
            Sampler::new(5.0).ffmpeg_select().unwrap(),
            "select='isnan(prev_selected_t)+gt(floor((t+0.001)/0.200000000),floor((prev_selected_t+0.001)/0.200000000))'"
        );
        // 25 fps at 10: ten a second, not every third frame.
        let mut sampler = Sampler::new(10.0);
        assert_eq!((0..50).filter(|&i| sampler.take(i as f64 / 25.0)).count(), 20);
    }

    #[test]
    fn cuts_are_noticed() {
        let dark = RgbImage::from_pixel(64, 36, [10; 3].into());
        let light = RgbImage::from_pixel(64, 36, [200; 3].into());
        assert!(mean_difference(&thumbnail(&dark), &thumbnail(&light)) > 40.0);
        assert_eq!(mean_difference(&thumbnail(&dark), &thumbnail(&dark)), 0.0);
    }
}
