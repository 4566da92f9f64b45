//! Who appears when: every confirmed track of a video matched against
//! targets (reference photos or enrolled people), one result per
//! appearance.

use facecmp::{BoundingBox, Embedding, Pipeline};
use facecmp_gallery::Gallery;
use image::RgbImage;
use serde::Serialize;

use crate::sampler::Sampler;
use crate::scan::{Analyser, Timings};
use crate::source::VideoError;
use crate::stream::FrameStream;
use crate::tracker::{Track, TrackerConfig, vote};

/// What a face is compared with: ranks the targets for an embedding.
pub trait Targets {
    /// The best two targets for the embedding, best first, with their similarity.
    fn rank(&self, embedding: &Embedding) -> Result<Vec<(String, f32)>, String>;
}

/// Reference faces from photos, each its own target.
pub struct ReferenceFaces(pub Vec<(String, Embedding)>);

impl Targets for ReferenceFaces {
    fn rank(&self, embedding: &Embedding) -> Result<Vec<(String, f32)>, String> {
        let mut ranked: Vec<(String, f32)> = self
            .0
            .iter()
            .map(|(name, reference)| Ok((name.clone(), reference.cosine(embedding)?)))
            .collect::<Result<_, facecmp::DimensionMismatch>>()
            .map_err(|e| e.to_string())?;
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked.truncate(2);
        Ok(ranked)
    }
}

/// Enrolled people of a gallery, optionally only some of them.
pub struct GalleryPeople<'g> {
    pub gallery: &'g Gallery,
    /// Only these people are targets (others still count as "someone else").
    pub only: Option<Vec<String>>,
}

impl Targets for GalleryPeople<'_> {
    fn rank(&self, embedding: &Embedding) -> Result<Vec<(String, f32)>, String> {
        let found = self.gallery.identify(embedding, 2, None, 1.0).map_err(|e| e.to_string())?;
        let ranked: Vec<(String, f32)> = found.into_iter().map(|i| (i.person, i.similarity)).collect();
        Ok(match &self.only {
            // Another enrolled person ranking first is not the target, and
            // the target only counts if it is the best.
            Some(only) => ranked
                .into_iter()
                .enumerate()
                .map(
                    |(rank, (name, s))| {
                        if rank == 0 && !only.contains(&name) { (String::new(), s) } else { (name, s) }
                    },
                )
                .collect(),
            None => ranked,
        })
    }
}

/// One person's appearance in a source.
#[derive(Debug, Clone, Serialize)]
pub struct Appearance {
    pub source: String,
    pub target: String,
    /// Seconds from the start of the source.
    pub start: f64,
    pub end: f64,
    /// The best similarity between the track's faces and the target.
    pub similarity: f32,
    /// The time and box of the face with that similarity.
    pub best_time: f64,
    #[serde(rename = "box")]
    pub bbox: BoundingBox,
    pub track: u64,
    #[serde(skip)]
    pub crop: Option<RgbImage>,
}

/// Settings of a search.
#[derive(Debug, Clone, Copy)]
pub struct SearchConfig {
    /// Frames analysed per second of video.
    pub fps: f64,
    pub threshold: f32,
    pub tracker: TrackerConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Video(#[from] VideoError),
    #[error(transparent)]
    Face(#[from] facecmp::Error),
    #[error("{0}")]
    Targets(String),
}

/// Searches one source to its end (files) or until `keep_going` says stop.
/// `progress` is called with each frame's time and the source's duration
/// (when ffmpeg announced one).
pub fn search_source(
    pipeline: &Pipeline,
    stream: &mut FrameStream,
    targets: &dyn Targets,
    config: &SearchConfig,
    mut progress: impl FnMut(f64, Option<f64>),
    mut keep_going: impl FnMut() -> bool,
) -> Result<(Vec<Appearance>, Timings), SearchError> {
    let source = stream.source.name.clone();
    let mut analyser = Analyser::new(pipeline, config.tracker, &source);
    let mut sampler = Sampler::new(config.fps);
    let mut appearances = Vec::new();
    while keep_going() {
        let Some(frame) = stream.next_frame() else { break };
        let frame = frame?;
        analyser.timings.frames += 1;
        progress(frame.time, stream.stats().duration());
        if !sampler.take(frame.time) {
            continue;
        }
        let analysed = analyser.analyse(frame, |_| false)?;
        for track in &analysed.update.ended {
            appearances.extend(appearance(&source, track, targets, config)?);
        }
    }
    for track in analyser.tracker.finish() {
        appearances.extend(appearance(&source, &track, targets, config)?);
    }
    appearances.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.track.cmp(&b.track)));
    Ok((appearances, analyser.timings))
}

/// The target a finished track shows, by a vote over its best faces
/// weighted by face size and by how clearly each face picks its target.
///
/// Only faces that reach the threshold vote. A face below it is no
/// evidence against anyone: a turned or laughing face of the right person
/// scores low, and letting it outvote the one face that matched lost
/// three-quarter faces in the audience of a broadcast. A stranger must
/// still reach the calibrated threshold on one of the track's best faces,
/// and a face that matches another enrolled person better votes against.
pub fn appearance(
    source: &str,
    track: &Track,
    targets: &dyn Targets,
    config: &SearchConfig,
) -> Result<Option<Appearance>, SearchError> {
    if !track.is_confirmed(&config.tracker) || track.best.is_empty() {
        return Ok(None);
    }
    let mut ballots = Vec::new();
    let mut ranked_faces = Vec::new();
    for best in &track.best {
        let ranked = targets.rank(&best.embedding).map_err(SearchError::Targets)?;
        let (first, second) = (ranked.first(), ranked.get(1).map_or(-1.0, |r| r.1));
        let size = best.face.size();
        if let Some((name, similarity)) = first.filter(|(_, s)| *s >= config.threshold) {
            // An empty name is someone else who ranks first (see GalleryPeople).
            let label = (!name.is_empty()).then(|| name.clone());
            ballots.push((label, size * (similarity - second.max(config.threshold)).max(0.01)));
        }
        ranked_faces.push((best, ranked));
    }
    let Some(target) = vote(&ballots) else { return Ok(None) };
    let (best, similarity) = ranked_faces
        .iter()
        .filter_map(|(best, ranked)| {
            ranked.iter().find(|(name, _)| *name == target).map(|(_, s)| (*best, *s))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("the winner was voted for by at least one face");
    Ok(Some(Appearance {
        source: source.to_string(),
        target,
        start: track.first_seen,
        end: track.last_seen,
        similarity,
        best_time: best.time,
        bbox: best.face.bbox,
        track: track.id,
        crop: best.crop.clone(),
    }))
}
