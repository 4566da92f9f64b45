//! Indexing footage: every confirmed track of a source becomes an
//! appearance — its times, its best faces with their embeddings and crops —
//! handed out in batches, each with the time from which a resumed run must
//! read again. Who the faces are is decided later, by whoever searches the
//! index; here nothing is compared with anybody.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use facecmp::{Embedding, Face, Photo, Pipeline};
use image::RgbImage;

use crate::sampler::Sampler;
use crate::scan::{Analyser, Timings, crop_face};
use crate::search::SearchError;
use crate::stream::FrameStream;
use crate::tracker::{Track, TrackerConfig};

/// How a source is indexed.
#[derive(Debug, Clone, Copy)]
pub struct IndexConfig {
    /// Frames analysed per second of video.
    pub fps: f64,
    pub tracker: TrackerConfig,
    /// Seconds of video after which the appearances that ended are handed
    /// out, even if fewer than a batch: what a kill loses at most.
    pub commit_every: f64,
    /// A resumed run: appearances that ended at or before this media time
    /// were handed out by the run before (its last batch's `read_to`).
    pub skip_ended_before: f64,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self {
            fps: 5.0,
            tracker: TrackerConfig::default(),
            commit_every: 10.0,
            skip_ended_before: f64::NEG_INFINITY,
        }
    }
}

/// One of an appearance's best faces.
#[derive(Debug, Clone)]
pub struct IndexedFace {
    /// Seconds from the start of the source.
    pub time: f64,
    pub face: Face,
    pub embedding: Embedding,
    pub crop: Option<RgbImage>,
}

/// One track: someone in view from `start` to `end`.
#[derive(Debug, Clone)]
pub struct IndexedAppearance {
    pub track: u64,
    /// Seconds from the start of the source (media time).
    pub start: f64,
    pub end: f64,
    /// Unix seconds when the first and last frames arrived (cameras: when
    /// they happened; files: when they were read).
    pub wall_start: f64,
    pub wall_end: f64,
    /// Best first (size × detector score × sharpness); one to three.
    pub faces: Vec<IndexedFace>,
}

/// The appearances that ended since the last batch, and where a run that
/// is killed after it must resume: at `resume_at`, where every appearance
/// that started before it is in this batch or an earlier one, skipping
/// what ended by `read_to` (handed out already). So each appearance is
/// found once.
#[derive(Debug, Clone, Default)]
pub struct IndexBatch {
    pub appearances: Vec<IndexedAppearance>,
    pub resume_at: f64,
    /// The media time of the latest frame analysed: every appearance that
    /// ended by then is in this batch or an earlier one.
    pub read_to: f64,
    /// The source was read to its end.
    pub finished: bool,
}

/// Indexes one source to its end (files) or until `keep_going` says stop,
/// handing every batch to `commit`; a batch `commit` refuses stops the run
/// with its error. `progress` is called with each frame's time and the
/// source's duration, when known.
pub fn index_source(
    pipeline: &Pipeline,
    stream: &mut FrameStream,
    config: &IndexConfig,
    mut commit: impl FnMut(IndexBatch) -> Result<(), String>,
    mut progress: impl FnMut(f64, Option<f64>),
    mut keep_going: impl FnMut() -> bool,
) -> Result<Timings, SearchError> {
    let source = stream.source.name.clone();
    let mut analyser = Analyser::new(pipeline, config.tracker, &source);
    let mut sampler = Sampler::new(config.fps);
    let mut batch = IndexBatch::default();
    let mut clock = Clock::default();
    let mut last_commit = f64::NEG_INFINITY;
    let mut ran_to_end = true;
    loop {
        if !keep_going() {
            ran_to_end = false;
            break;
        }
        let Some(frame) = stream.next_frame() else { break };
        let frame = frame?;
        analyser.timings.frames += 1;
        progress(frame.time, stream.stats().duration());
        if !sampler.take(frame.time) {
            continue;
        }
        clock = Clock { media: frame.time, wall: frame.wall_time };
        let analysed = analyser.analyse(frame, |_| false)?;
        batch.appearances.extend(
            analysed
                .update
                .ended
                .iter()
                .filter_map(|t| appearance(t, &config.tracker, config.skip_ended_before, clock)),
        );
        if clock.media - last_commit >= config.commit_every {
            batch.resume_at = resume_point(analyser.tracker.tracks(), clock.media);
            batch.read_to = clock.media;
            commit(std::mem::take(&mut batch)).map_err(SearchError::Targets)?;
            last_commit = clock.media;
        }
    }
    // A stopped run keeps its open tracks for the next one to find again;
    // a finished source hands them out.
    if ran_to_end {
        let open = analyser.tracker.finish();
        batch.appearances.extend(
            open.iter().filter_map(|t| appearance(t, &config.tracker, config.skip_ended_before, clock)),
        );
        batch.resume_at = clock.media;
        batch.finished = true;
    } else {
        batch.resume_at = resume_point(analyser.tracker.tracks(), clock.media);
    }
    batch.read_to = clock.media;
    commit(batch).map_err(SearchError::Targets)?;
    Ok(analyser.timings)
}

/// A photo as a source: each face large enough to track (the pipeline's
/// `min_face_size`) is an appearance at time 0, its own best face.
pub fn photo_appearances(pipeline: &Pipeline, photo: &Photo) -> Result<IndexBatch, facecmp::Error> {
    let faces: Vec<usize> = (0..photo.faces.len())
        .filter(|&i| photo.faces[i].size() >= pipeline.config().min_face_size)
        .collect();
    let embeddings = pipeline.embed(photo, &faces)?;
    let appearances = faces
        .iter()
        .zip(embeddings)
        .map(|(&index, embedding)| {
            let face = photo.faces[index];
            let best = IndexedFace { time: 0.0, face, embedding, crop: Some(crop_face(&photo.image, &face)) };
            IndexedAppearance {
                track: index as u64,
                start: 0.0,
                end: 0.0,
                wall_start: 0.0,
                wall_end: 0.0,
                faces: vec![best],
            }
        })
        .collect();
    Ok(IndexBatch { appearances, resume_at: 0.0, read_to: 0.0, finished: true })
}

/// The media time of the latest analysed frame and when it arrived.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub media: f64,
    pub wall: SystemTime,
}

impl Default for Clock {
    fn default() -> Self {
        Clock { media: 0.0, wall: SystemTime::now() }
    }
}

impl Clock {
    /// Unix seconds of an earlier media time (frames arrive in order).
    fn wall_at(&self, media: f64) -> f64 {
        let back = Duration::from_secs_f64((self.media - media).max(0.0));
        self.wall
            .checked_sub(back)
            .unwrap_or(self.wall)
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    }
}

/// Where a resumed run must start: before every open track began, so that
/// none of them is lost (they were not handed out yet).
fn resume_point(open: &[Track], now: f64) -> f64 {
    open.iter().map(|t| t.first_seen).fold(now, f64::min)
}

/// A finished track as an appearance, if it was confirmed (by `tracker`'s
/// rule) and embedded, and did not end by `skip_ended_before` (handed out
/// by an earlier run).
pub(crate) fn appearance(
    track: &Track,
    tracker: &TrackerConfig,
    skip_ended_before: f64,
    clock: Clock,
) -> Option<IndexedAppearance> {
    if !track.is_confirmed(tracker) || track.best.is_empty() || track.last_seen <= skip_ended_before {
        return None;
    }
    let faces = track
        .best
        .iter()
        .map(|b| IndexedFace {
            time: b.time,
            face: b.face,
            embedding: b.embedding.clone(),
            crop: b.crop.clone(),
        })
        .collect();
    Some(IndexedAppearance {
        track: track.id,
        start: track.first_seen,
        end: track.last_seen,
        wall_start: clock.wall_at(track.first_seen),
        wall_end: clock.wall_at(track.last_seen),
        faces,
    })
}
