//! A face tracker: the same person from frame to frame, so that video gives
//! one answer per person instead of one per frame.
//!
//! Detections are matched to tracks by box overlap, and by embedding
//! similarity whenever the boxes alone are not convincing (two people near
//! each other, a jump in the face's size or position, a gap in detections,
//! a long time since the last check): two people who cross keep their
//! tracks, and another person at the same place starts a new one, however
//! well the boxes overlap. An embedded face joins a track only if it looks
//! like the track's own best faces by [`TrackerConfig::same_person`].
//! Embedding costs more than detecting, so a detection is embedded only
//! when matching needs it, when it is among its track's best faces
//! (size × detector score × sharpness), or when the caller asks.

use facecmp::{Embedding, Face};
use image::RgbImage;

/// A face found in one frame, with what the tracker needs to rank it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub face: Face,
    /// Variance of the Laplacian over the face box: blur lowers it.
    pub sharpness: f32,
}

impl Detection {
    /// How useful the face is for recognition: larger, surer and sharper is
    /// better. Sharpness saturates: past a point a face is simply in focus.
    pub fn quality(&self) -> f32 {
        let sharpness = self.sharpness.max(0.0);
        self.face.size() * self.face.score * (sharpness / (sharpness + 50.0))
    }
}

/// How much better (in [`Detection::quality`]) a face must be than the
/// worst of a track's best faces to replace it.
const BETTER_FACE_FACTOR: f32 = 1.1;

/// Seconds without a detection after which the next face may be someone
/// else (the person left and another came): its identity is checked.
/// Several samples at the rates search and watch use (5 and 10 fps).
const GAP_S: f64 = 0.35;

/// A face this many times larger or smaller than the track's last one
/// jumped (someone stepped closer in the other's place): its identity is
/// checked. Walking towards a camera changes the size far less per sample.
const SIZE_JUMP: f32 = 1.25;

/// A centre that moved more than this share of the face's size since the
/// last sample jumped: its identity is checked. Someone walking past a
/// camera at 5 fps moves about a third of their face's width.
const POSITION_JUMP: f32 = 0.5;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    /// Frames with a detection before a track counts as a person.
    pub min_hits: u32,
    /// Seconds without a detection before a track ends.
    pub max_age: f64,
    /// Box overlap below which a detection may still join a track only if
    /// its embedding agrees (fast motion between samples).
    pub iou_gate: f32,
    /// Overlap at or above which, with no competitor, the box alone is
    /// trusted and no embedding is needed. 0.3 lets a face that moves a
    /// third of its width between samples (someone walking past a camera
    /// at 5 fps) keep its track on boxes alone; crossing people are
    /// competitors, and are told apart by embedding whatever the overlap.
    pub stable_iou: f32,
    /// Embedding similarity to the track's own faces (its best faces and
    /// its latest one) below which a detection is someone else, whatever
    /// the boxes say. It must separate people, not just tell a face from a
    /// non-face: SFace gives strangers up to ≈ 0.37 and the same person in
    /// other photos ≥ 0.45 (the fixture and bald_guys.jpg pairs), so the default is
    /// SFace's calibrated threshold, and the watcher passes the threshold
    /// it decides with (the right scale for any embedder).
    pub same_person: f32,
    /// Re-check a track's identity by embedding at least this often
    /// (seconds). It bounds how long someone who takes another's place
    /// without a gap, a jump or a cut is counted in the other's track, and
    /// so how far an appearance can run past its person's last frame.
    pub reverify_after: f64,
    /// Best faces kept (and embedded) per track.
    pub keep_best: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            min_hits: 2,
            max_age: 1.0,
            iou_gate: 0.05,
            stable_iou: 0.3,
            same_person: 0.363,
            reverify_after: 0.5,
            keep_best: 3,
        }
    }
}

/// One of a track's best faces.
#[derive(Debug, Clone)]
pub struct BestFace {
    pub time: f64,
    pub face: Face,
    pub quality: f32,
    pub embedding: Embedding,
    /// The face cut from its frame, when the caller attached it.
    pub crop: Option<RgbImage>,
}

#[derive(Debug, Clone)]
pub struct Track {
    pub id: u64,
    pub first_seen: f64,
    pub last_seen: f64,
    /// Frames with a detection.
    pub hits: u32,
    pub last_face: Face,
    /// Best faces, best first.
    pub best: Vec<BestFace>,
    /// The most recent embedding: what the person looks like now.
    appearance: Option<Embedding>,
    last_embedded: f64,
}

impl Track {
    pub fn is_confirmed(&self, config: &TrackerConfig) -> bool {
        self.hits >= config.min_hits
    }

    /// Whether a face of this quality would enter the best faces. Once
    /// they are full, only a clearly better face displaces the worst: one a
    /// little better adds nothing to the vote and costs an embedding.
    fn wants(&self, quality: f32, keep: usize) -> bool {
        self.best.len() < keep
            || self.best.last().is_some_and(|worst| quality > worst.quality * BETTER_FACE_FACTOR)
    }

    /// How much `embedding` looks like this track's person: the best match
    /// among its best faces and its latest face (a face turning away may
    /// differ from the best ones but not from the last).
    fn similarity(&self, embedding: &Embedding) -> Option<f32> {
        self.best
            .iter()
            .map(|b| &b.embedding)
            .chain(&self.appearance)
            // One embedder made both; a mismatch would be no appearance evidence.
            .filter_map(|known| known.cosine(embedding).ok())
            .max_by(f32::total_cmp)
    }

    /// Whether `face` at `time` may show someone else than the track's
    /// last face did: after a gap, or a jump in size or position. Boxes
    /// that overlap prove nothing then: the identity is checked.
    fn may_have_changed(&self, time: f64, face: &Face) -> bool {
        let last = &self.last_face;
        let (larger, smaller) = (face.size().max(last.size()), face.size().min(last.size()));
        time - self.last_seen > GAP_S
            || larger > smaller.max(1.0) * SIZE_JUMP
            || centre_distance(last, face) > POSITION_JUMP * larger
    }

    fn keep(&mut self, best: BestFace, keep: usize) {
        let at = self.best.iter().position(|b| b.quality < best.quality).unwrap_or(self.best.len());
        self.best.insert(at, best);
        self.best.truncate(keep);
    }
}

/// A detection joined to a track in this frame.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub detection: usize,
    pub track: u64,
    /// Its embedding, when it was computed this frame.
    pub embedding: Option<Embedding>,
    /// It entered the track's best faces (attach its crop with [`Tracker::attach_crop`]).
    pub new_best: bool,
}

#[derive(Debug, Default)]
pub struct FrameUpdate {
    pub assignments: Vec<Assignment>,
    /// Tracks that ended (not seen for `max_age`), confirmed or not.
    pub ended: Vec<Track>,
}

#[derive(Debug, Default)]
pub struct Tracker {
    config: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
}

impl Tracker {
    pub fn new(config: TrackerConfig) -> Tracker {
        Tracker { config, tracks: Vec::new(), next_id: 1 }
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    pub fn track(&self, id: u64) -> Option<&Track> {
        self.tracks.iter().find(|t| t.id == id)
    }

    /// Matches this frame's detections to the tracks. `embed` embeds the
    /// listed detections (it is called at most twice per frame); `must_embed`
    /// asks for a track's detection to be embedded whatever the tracker
    /// needs (e.g. a track still waiting for an access decision).
    pub fn update<E>(
        &mut self,
        time: f64,
        detections: &[Detection],
        mut embed: impl FnMut(&[usize]) -> Result<Vec<Embedding>, E>,
        must_embed: impl Fn(u64) -> bool,
    ) -> Result<FrameUpdate, E> {
        let ended = self.end_stale(time);
        let mut embeddings: Vec<Option<Embedding>> = vec![None; detections.len()];

        // Which pairs are possible, and which need an embedding to decide.
        let candidates = self.candidate_pairs(detections);
        let mut wanted: Vec<usize> = Vec::new();
        for (d, detection) in detections.iter().enumerate() {
            let pairs: Vec<&(usize, usize, f32)> = candidates.iter().filter(|p| p.1 == d).collect();
            let contested = pairs.len() > 1
                || pairs.iter().any(|&&(t, _, _)| candidates.iter().filter(|p| p.0 == t).count() > 1);
            let unsure = pairs.iter().any(|&&(t, _, iou)| {
                let track = &self.tracks[t];
                iou < self.config.stable_iou
                    || track.appearance.is_none()
                    || track.may_have_changed(time, &detection.face)
                    || time - track.last_embedded >= self.config.reverify_after
                    || track.wants(detection.quality(), self.config.keep_best)
                    || must_embed(track.id)
            });
            if contested || unsure {
                wanted.push(d);
            }
        }
        fill(&mut embeddings, &wanted, &mut embed)?;

        // Greedy assignment, most convincing pair first.
        let mut scored: Vec<(usize, usize, f32)> = candidates
            .iter()
            .filter_map(|&(t, d, iou)| {
                let similarity = embeddings[d].as_ref().and_then(|e| self.tracks[t].similarity(e));
                match similarity {
                    Some(s) if s < self.config.same_person => None,
                    Some(s) => Some((t, d, iou + s)),
                    // Without an embedding only a clear overlap may join.
                    None if iou >= self.config.iou_gate.max(0.3) => Some((t, d, iou)),
                    None => None,
                }
            })
            .collect();
        scored.sort_by(|a, b| b.2.total_cmp(&a.2));
        let mut track_taken = vec![false; self.tracks.len()];
        let mut detection_track: Vec<Option<usize>> = vec![None; detections.len()];
        for (t, d, _) in scored {
            if !track_taken[t] && detection_track[d].is_none() {
                track_taken[t] = true;
                detection_track[d] = Some(t);
            }
        }

        // New tracks for the rest; embed what they and the best faces need.
        let mut later: Vec<usize> = Vec::new();
        for (d, detection) in detections.iter().enumerate() {
            if embeddings[d].is_some() {
                continue;
            }
            let needed = match detection_track[d] {
                None => true,
                Some(t) => {
                    let track = &self.tracks[t];
                    track.wants(detection.quality(), self.config.keep_best) || must_embed(track.id)
                }
            };
            if needed {
                later.push(d);
            }
        }
        fill(&mut embeddings, &later, &mut embed)?;

        let mut assignments = Vec::with_capacity(detections.len());
        for (d, detection) in detections.iter().enumerate() {
            let t = match detection_track[d] {
                Some(t) => t,
                None => self.start_track(time, detection.face),
            };
            let embedding = embeddings[d].clone();
            let new_best = self.observe(t, time, detection, embedding.clone());
            assignments.push(Assignment { detection: d, track: self.tracks[t].id, embedding, new_best });
        }
        Ok(FrameUpdate { assignments, ended })
    }

    /// Ends every track: the source is finished, or the shot changed (a
    /// cut: whoever is in view now is a new appearance).
    pub fn finish(&mut self) -> Vec<Track> {
        std::mem::take(&mut self.tracks)
    }

    /// Attaches the face crop to the best face recorded at `time`.
    pub fn attach_crop(&mut self, track: u64, time: f64, crop: RgbImage) {
        if let Some(best) = self
            .tracks
            .iter_mut()
            .find(|t| t.id == track)
            .and_then(|t| t.best.iter_mut().find(|b| b.time == time))
        {
            best.crop = Some(crop);
        }
    }

    fn end_stale(&mut self, time: f64) -> Vec<Track> {
        let max_age = self.config.max_age;
        let (ended, kept) =
            std::mem::take(&mut self.tracks).into_iter().partition(|t| time - t.last_seen > max_age);
        self.tracks = kept;
        ended
    }

    /// (track, detection, IoU) for every pair close enough to be the same face.
    fn candidate_pairs(&self, detections: &[Detection]) -> Vec<(usize, usize, f32)> {
        let mut pairs = Vec::new();
        for (t, track) in self.tracks.iter().enumerate() {
            for (d, detection) in detections.iter().enumerate() {
                let iou = track.last_face.bbox.iou(&detection.face.bbox);
                if iou >= self.config.iou_gate || near(&track.last_face, &detection.face) {
                    pairs.push((t, d, iou));
                }
            }
        }
        pairs
    }

    fn start_track(&mut self, time: f64, face: Face) -> usize {
        self.tracks.push(Track {
            id: self.next_id,
            first_seen: time,
            last_seen: time,
            hits: 0,
            last_face: face,
            best: Vec::new(),
            appearance: None,
            last_embedded: f64::NEG_INFINITY,
        });
        self.next_id += 1;
        self.tracks.len() - 1
    }

    /// Records a detection on a track; true if it became one of the best faces.
    fn observe(&mut self, t: usize, time: f64, detection: &Detection, embedding: Option<Embedding>) -> bool {
        let keep = self.config.keep_best;
        let track = &mut self.tracks[t];
        track.hits += 1;
        track.last_seen = time;
        track.last_face = detection.face;
        let Some(embedding) = embedding else { return false };
        track.appearance = Some(embedding.clone());
        track.last_embedded = time;
        let quality = detection.quality();
        if !track.wants(quality, keep) {
            return false;
        }
        track.keep(BestFace { time, face: detection.face, quality, embedding, crop: None }, keep);
        true
    }
}

fn fill<E>(
    embeddings: &mut [Option<Embedding>],
    wanted: &[usize],
    embed: &mut impl FnMut(&[usize]) -> Result<Vec<Embedding>, E>,
) -> Result<(), E> {
    if wanted.is_empty() {
        return Ok(());
    }
    for (&d, embedding) in wanted.iter().zip(embed(wanted)?) {
        embeddings[d] = Some(embedding);
    }
    Ok(())
}

/// Centres closer than the face's size: a fast move between two samples.
fn near(a: &Face, b: &Face) -> bool {
    centre_distance(a, b) < a.size().max(b.size())
}

fn centre_distance(a: &Face, b: &Face) -> f32 {
    let centre = |f: &Face| (f.bbox.x + f.bbox.width / 2.0, f.bbox.y + f.bbox.height / 2.0);
    let ((ax, ay), (bx, by)) = (centre(a), centre(b));
    ((ax - bx).powi(2) + (ay - by).powi(2)).sqrt()
}

/// The label with the most weight, or `None` when "nobody" wins or two
/// labels tie: a vote that cannot tell gives no name.
pub fn vote<L: PartialEq + Clone>(ballots: &[(Option<L>, f32)]) -> Option<L> {
    let mut totals: Vec<(Option<L>, f32)> = Vec::new();
    for (label, weight) in ballots {
        match totals.iter_mut().find(|(l, _)| l == label) {
            Some((_, total)) => *total += weight.max(0.0),
            None => totals.push((label.clone(), weight.max(0.0))),
        }
    }
    totals.sort_by(|a, b| b.1.total_cmp(&a.1));
    match totals.as_slice() {
        [] => None,
        [(_, w), ..] if *w <= 0.0 => None,
        [(_, first), (_, second), ..] if (first - second).abs() <= f32::EPSILON * first.abs().max(1.0) => {
            None
        }
        [(winner, _), ..] => winner.clone(),
    }
}

/// Variance of the 4-neighbour Laplacian of the face box in grey levels.
pub fn sharpness(image: &RgbImage, face: &Face) -> f32 {
    let (width, height) = image.dimensions();
    let clamp = |v: f32, max: u32| (v.max(0.0) as u32).min(max);
    let (x0, y0) = (clamp(face.bbox.x, width), clamp(face.bbox.y, height));
    let (x1, y1) =
        (clamp(face.bbox.x + face.bbox.width, width), clamp(face.bbox.y + face.bbox.height, height));
    if x1 < x0 + 3 || y1 < y0 + 3 {
        return 0.0;
    }
    let grey = |x: u32, y: u32| {
        let p = image.get_pixel(x, y).0;
        0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
    };
    // Every second pixel: sharpness ranks faces, it needs no precision.
    let (mut sum, mut sum_sq, mut n) = (0.0f64, 0.0f64, 0.0f64);
    for y in (y0 + 1..y1 - 1).step_by(2) {
        for x in (x0 + 1..x1 - 1).step_by(2) {
            let laplacian =
                grey(x - 1, y) + grey(x + 1, y) + grey(x, y - 1) + grey(x, y + 1) - 4.0 * grey(x, y);
            sum += laplacian as f64;
            sum_sq += (laplacian as f64).powi(2);
            n += 1.0;
        }
    }
    let mean = sum / n;
    (sum_sq / n - mean * mean) as f32
}

#[cfg(test)]
mod tests {
    use facecmp::{BoundingBox, Point};

    use super::*;

    fn face(x: f32, y: f32, size: f32) -> Face {
        Face {
            bbox: BoundingBox { x, y, width: size, height: size },
            score: 0.9,
            landmarks: [Point { x, y }; 5],
        }
    }

    fn detection(x: f32, y: f32, size: f32) -> Detection {
        Detection { face: face(x, y, size), sharpness: 100.0 }
    }

    /// Unit vectors along axis `i` (8 dimensions): different people.
    fn person(i: usize) -> Embedding {
        let mut v = vec![0.0; 8];
        v[i] = 1.0;
        Embedding::from_raw(v).unwrap()
    }

    /// Runs a frame where detection `d` shows `people[d]`; returns the track of each detection.
    fn step(tracker: &mut Tracker, time: f64, detections: &[Detection], people: &[usize]) -> Vec<u64> {
        let update = tracker
            .update::<()>(
                time,
                detections,
                |wanted| Ok(wanted.iter().map(|&d| person(people[d])).collect()),
                |_| false,
            )
            .unwrap();
        update.assignments.iter().map(|a| a.track).collect()
    }

    /// Runs one face of one person through `frames` (time, detection);
    /// returns its track in each frame and how many faces were embedded.
    fn follow_alone(
        tracker: &mut Tracker,
        frames: impl Iterator<Item = (f64, Detection)>,
    ) -> (Vec<u64>, usize) {
        let mut embedded = 0;
        let mut ids = Vec::new();
        for (time, detection) in frames {
            let update = tracker
                .update::<()>(
                    time,
                    &[detection],
                    |wanted| {
                        embedded += wanted.len();
                        Ok(wanted.iter().map(|_| person(0)).collect())
                    },
                    |_| false,
                )
                .unwrap();
            ids.push(update.assignments[0].track);
        }
        (ids, embedded)
    }

    #[test]
    fn a_steady_face_keeps_one_track_and_is_not_embedded_every_frame() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let frames = (0..20).map(|i| (i as f64 * 0.1, detection(100.0 + i as f32, 100.0, 80.0)));
        let (ids, embedded) = follow_alone(&mut tracker, frames);
        assert!(ids.iter().all(|&id| id == ids[0]), "{ids:?}");
        // First frame, the best faces (equal quality: the first 3) and a
        // re-check every second: far fewer than 20.
        assert!(embedded <= 6, "embedded {embedded} of 20 frames");
        assert_eq!(tracker.track(ids[0]).unwrap().best.len(), 3);
    }

    #[test]
    fn a_face_walking_across_alone_is_not_embedded_every_frame() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        // A third of its width per sample (5 fps): boxes overlap by ≈ 0.5.
        let frames = (0..20).map(|i| (i as f64 * 0.2, detection(100.0 + 27.0 * i as f32, 100.0, 80.0)));
        let (ids, embedded) = follow_alone(&mut tracker, frames);
        assert!(ids.iter().all(|&id| id == ids[0]), "{ids:?}");
        // The best faces and a re-check every second over 4 s.
        assert!(embedded <= 8, "embedded {embedded} of 20 frames");
    }

    #[test]
    fn people_who_cross_keep_their_tracks() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let mut first = None;
        // A walks right, B walks left; they pass each other at x ≈ 200.
        for i in 0..=10 {
            let t = i as f64 * 0.2;
            let a = detection(100.0 + 20.0 * i as f32, 100.0, 60.0);
            let b = detection(300.0 - 20.0 * i as f32, 104.0, 60.0);
            let ids = step(&mut tracker, t, &[a, b], &[0, 1]);
            let first = first.get_or_insert(ids.clone()).clone();
            assert_eq!(ids, first, "frame {i}: identities swapped");
        }
    }

    #[test]
    fn a_cut_to_another_person_at_the_same_place_starts_a_new_track() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let d = [detection(100.0, 100.0, 80.0)];
        let a = step(&mut tracker, 0.0, &d, &[0]);
        step(&mut tracker, 0.2, &d, &[0]);
        let b = step(&mut tracker, 0.4, &d, &[1]);
        assert_ne!(a, b);
    }

    #[test]
    fn tracks_end_after_max_age_and_count_after_min_hits() {
        let config = TrackerConfig { min_hits: 3, max_age: 0.5, ..TrackerConfig::default() };
        let mut tracker = Tracker::new(config);
        let d = [detection(100.0, 100.0, 80.0)];
        step(&mut tracker, 0.0, &d, &[0]);
        step(&mut tracker, 0.1, &d, &[0]);
        assert!(!tracker.tracks()[0].is_confirmed(&config));
        step(&mut tracker, 0.2, &d, &[0]);
        assert!(tracker.tracks()[0].is_confirmed(&config));
        // Gone for 0.4 s: still the same track; then 0.6 s: ended.
        let kept = step(&mut tracker, 0.6, &d, &[0]);
        assert_eq!(kept, vec![tracker.tracks()[0].id]);
        let update = tracker.update::<()>(1.2, &[], |_| Ok(vec![]), |_| false).unwrap();
        assert_eq!(update.ended.len(), 1);
        assert_eq!(
            (update.ended[0].first_seen, update.ended[0].last_seen, update.ended[0].hits),
            (0.0, 0.6, 4)
        );
        assert!(tracker.tracks().is_empty());
    }

    #[test]
    fn best_faces_are_the_largest_and_sharpest() {
        let mut tracker = Tracker::new(TrackerConfig { keep_best: 2, ..TrackerConfig::default() });
        for (i, (size, sharp)) in
            [(60.0, 100.0), (90.0, 100.0), (90.0, 1.0), (70.0, 100.0), (100.0, 100.0)].iter().enumerate()
        {
            let d = [Detection { face: face(100.0, 100.0, *size), sharpness: *sharp }];
            step(&mut tracker, i as f64 * 0.1, &d, &[0]);
        }
        let best: Vec<f32> = tracker.tracks()[0].best.iter().map(|b| b.face.size()).collect();
        assert_eq!(best, vec![100.0, 90.0]);
        assert_eq!(tracker.tracks()[0].best[1].time, 0.1, "the sharp 90 px face, not the blurred one");
    }

    #[test]
    fn the_caller_can_ask_for_every_frame_to_be_embedded() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let d = [detection(100.0, 100.0, 80.0)];
        for i in 0..10 {
            let update = tracker
                .update::<()>(i as f64 * 0.1, &d, |w| Ok(w.iter().map(|_| person(0)).collect()), |_| true)
                .unwrap();
            assert!(update.assignments[0].embedding.is_some(), "frame {i}");
        }
    }

    #[test]
    fn votes_weigh_ballots_and_ties_give_no_name() {
        assert_eq!(vote(&[(Some("a"), 2.0), (Some("b"), 1.0), (Some("b"), 0.5)]), Some("a"));
        assert_eq!(vote(&[(Some("a"), 1.0), (Some("b"), 0.5), (Some("b"), 0.5)]), None);
        assert_eq!(vote(&[(Some("a"), 1.0), (None, 3.0)]), None);
        assert_eq!(vote::<&str>(&[]), None);
    }

    #[test]
    fn blur_lowers_sharpness() {
        let sharp =
            RgbImage::from_fn(
                64,
                64,
                |x, y| if (x / 2 + y / 2) % 2 == 0 { [255; 3].into() } else { [0; 3].into() },
            );
        let flat = RgbImage::from_pixel(64, 64, [128; 3].into());
        let f = face(0.0, 0.0, 64.0);
        assert!(sharpness(&sharp, &f) > 1000.0);
        assert_eq!(sharpness(&flat, &f), 0.0);
    }
}
