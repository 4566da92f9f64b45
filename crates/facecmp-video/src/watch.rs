//! Live access control from a camera: one decision per person in view.
//!
//! Every sampled frame gives each undecided track a verdict (a person, an
//! unknown face, several faces, a poor face). A track is allowed when one
//! person holds at least `confirm` of its last `window` verdicts, all
//! younger than `max_evidence_age`: the decision is taken on the frame that
//! completes the evidence, so it never arrives after the person has left.
//! A track that fills its window without that is denied once, with the
//! most frequent reason, and so is one that leaves (or is cut away) before
//! its window filled: every appearance gets a decision, none stays silent.
//! A person who turns away and back within one continuous presence gets no
//! second decision ([`Presences`]); after someone else was in view, or a
//! cut, their next appearance is decided again.
//! The gallery applies the grants and writes every decision to the audit
//! trail; nothing here opens a door on its own. A watcher told to
//! ([`Watcher::index_into`]) also indexes what it sees, as `facecmp index`
//! would: each confirmed track becomes an appearance when it ends.

use std::collections::{HashMap, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

use facecmp::{Embedding, Pipeline};
use facecmp_gallery::{AccessContext, AccessDecision, Gallery, Probe, ProbeCrop, QualityPolicy, Reason};
use serde::Serialize;

use crate::index::{Clock, IndexBatch, appearance};
use crate::index_writer::AppearanceWriter;
use crate::presence::Presences;
use crate::sampler::Sampler;
use crate::scan::{Analysed, Analyser, Timings};
use crate::search::SearchError;
use crate::stream::FrameStream;
use crate::tracker::{Track, TrackerConfig};

#[derive(Debug, Clone)]
pub struct WatchConfig {
    pub zone: String,
    /// Frames analysed per second.
    pub fps: f64,
    pub threshold: f32,
    /// Verdicts naming one person needed to allow (K of N).
    pub confirm: usize,
    /// Verdicts considered (N): the track's most recent sampled frames.
    pub window: usize,
    /// Verdicts older than this (seconds) no longer count.
    pub max_evidence_age: f64,
    /// Seconds within which a decided person who comes back, with nobody
    /// else in view and no cut in between, is the same presence and is not
    /// announced again.
    pub cooldown: f64,
    pub quality: QualityPolicy,
    pub tracker: TrackerConfig,
    /// The name recorded as each decision's source (a camera's name);
    /// `None`: the source as given, without a URL's user and password.
    pub source_label: Option<String>,
}

impl WatchConfig {
    pub fn new(zone: &str, threshold: f32) -> WatchConfig {
        WatchConfig {
            zone: zone.to_string(),
            fps: 10.0,
            threshold,
            confirm: 3,
            window: 5,
            max_evidence_age: 1.5,
            cooldown: 10.0,
            quality: QualityPolicy::default(),
            tracker: TrackerConfig { min_hits: 1, ..TrackerConfig::default() },
            source_label: None,
        }
    }
}

/// A recorded decision about one track.
#[derive(Debug, Clone, Serialize)]
pub struct WatchDecision {
    /// The source as the audit trail records it (see [`WatchConfig::source_label`]).
    pub source: String,
    /// Seconds from the start of the source (the frame that decided).
    pub time: f64,
    /// Unix seconds when that frame arrived.
    pub wall_time: f64,
    pub zone: String,
    pub allowed: bool,
    pub reason: Reason,
    pub detail: String,
    pub person: Option<String>,
    pub similarity: Option<f32>,
    pub threshold: f32,
    pub track: u64,
    pub event_id: i64,
}

/// A track seen in fewer sampled frames than this (0.1 s at 10 fps) is a
/// glimpse — a detector's false alarm, a face crossing the edge — not
/// someone waiting: when it ends undecided it is not denied.
const MIN_VERDICTS_TO_DENY: usize = 2;

/// What one frame says about one track.
#[derive(Debug, Clone)]
enum Verdict {
    Person { name: String, similarity: f32, embedding: Embedding, score: f32, size: f32 },
    Refused(Reason),
}

#[derive(Debug, Default)]
struct TrackState {
    verdicts: VecDeque<(f64, Verdict)>,
    denied: bool,
    /// Allowed, or denied for a confirmed person (not granted): nothing more to say.
    done: bool,
}

/// Runs the access rules over the frames of one camera.
pub struct Watcher<'a> {
    pipeline: &'a Pipeline,
    gallery: &'a Gallery,
    config: WatchConfig,
    allow_multiple_faces: bool,
    tracks: HashMap<u64, TrackState>,
    presences: Presences,
    index: Option<AppearanceWriter<'a>>,
}

impl<'a> Watcher<'a> {
    pub fn new(
        pipeline: &'a Pipeline,
        gallery: &'a Gallery,
        config: WatchConfig,
    ) -> Result<Watcher<'a>, SearchError> {
        let allow_multiple_faces = gallery
            .zone(&config.zone)
            .map_err(|e| SearchError::Targets(e.to_string()))?
            .is_some_and(|zone| zone.allow_multiple_faces);
        Ok(Watcher {
            pipeline,
            gallery,
            config,
            allow_multiple_faces,
            tracks: HashMap::new(),
            presences: Presences::default(),
            index: None,
        })
    }

    /// Also indexes the camera: every track confirmed as `facecmp index`
    /// confirms one is written by `writer` when it ends (leaves, is cut
    /// away, or the watch stops).
    pub fn index_into(mut self, writer: AppearanceWriter<'a>) -> Watcher<'a> {
        self.index = Some(writer);
        self
    }

    /// Watches until the source ends (files) or `keep_going` (given the
    /// time of the latest frame) says stop, handing every recorded decision
    /// to `on_decision`.
    pub fn run(
        &mut self,
        stream: &mut FrameStream,
        mut on_decision: impl FnMut(&WatchDecision),
        mut keep_going: impl FnMut(f64) -> bool,
    ) -> Result<Timings, SearchError> {
        let mut analyser = Analyser::new(self.pipeline, self.config.tracker, &stream.source.name);
        let source = match &self.config.source_label {
            Some(label) => label.clone(),
            None => audit_label(&stream.source.name),
        };
        let mut sampler = Sampler::new(self.config.fps);
        let mut latest = 0.0;
        let mut latest_wall = SystemTime::now();
        while keep_going(latest) {
            let Some(frame) = stream.next_frame() else { break };
            let frame = frame?;
            latest = frame.time;
            latest_wall = frame.wall_time;
            analyser.timings.frames += 1;
            if !sampler.take(frame.time) {
                continue;
            }
            let tracks = &self.tracks;
            let analysed = analyser.analyse(frame, |track| tracks.get(&track).is_none_or(|s| !s.done))?;
            for decision in self.judge(&source, &analysed)? {
                on_decision(&decision);
            }
            self.index_ended(
                &analysed.update.ended,
                Clock { media: analysed.time, wall: analysed.wall_time },
            );
        }
        // The source ended (or the watch was stopped) with people in view:
        // whoever was not decided yet is denied now, not forgotten.
        let open = analyser.tracker.finish();
        for track in &open {
            if let Some(decision) = self.deny_unfinished(&source, track.id, latest, latest_wall)? {
                on_decision(&decision);
            }
        }
        self.index_ended(&open, Clock { media: latest, wall: latest_wall });
        Ok(analyser.timings)
    }

    /// Writes the confirmed tracks of `ended` to the index, when this
    /// watcher keeps one. A failed write is logged, not fatal: the door's
    /// decisions matter more than the footage index.
    fn index_ended(&self, ended: &[Track], clock: Clock) {
        let Some(writer) = &self.index else { return };
        // The index's own rule (two sightings), not the watch's (one), so a
        // camera indexes what `facecmp index` would find in its recording.
        let confirmation = TrackerConfig::default();
        let appearances: Vec<_> =
            ended.iter().filter_map(|t| appearance(t, &confirmation, f64::NEG_INFINITY, clock)).collect();
        if appearances.is_empty() {
            return;
        }
        let batch = IndexBatch { appearances, resume_at: clock.media, read_to: clock.media, finished: false };
        match writer.write(&batch) {
            Ok(written) => tracing::debug!(source = %writer.source.name, count = written.len(), "indexed"),
            Err(error) => {
                tracing::warn!(source = %writer.source.name, %error, "appearances could not be indexed")
            }
        }
    }

    /// The decisions one analysed frame brings.
    fn judge(&mut self, source: &str, frame: &Analysed) -> Result<Vec<WatchDecision>, SearchError> {
        let mut decisions = Vec::new();
        for ended in &frame.update.ended {
            decisions.extend(self.deny_unfinished(source, ended.id, frame.time, frame.wall_time)?);
        }
        if frame.cut {
            self.presences.cut();
        }
        self.presences.forget_before(frame.time, self.config.cooldown);
        let several = frame.tracked.len() > 1 && !self.allow_multiple_faces;
        for assignment in &frame.update.assignments {
            let face = frame.photo.faces[frame.tracked[assignment.detection]];
            self.presences.saw(assignment.track, frame.time, face);
            let state = self.tracks.entry(assignment.track).or_default();
            if state.done {
                continue;
            }
            let verdict = if several {
                Verdict::Refused(Reason::MultipleFaces)
            } else if face.score < self.config.quality.min_score {
                Verdict::Refused(Reason::LowQuality)
            } else if let Some(embedding) = &assignment.embedding {
                let found = self
                    .gallery
                    .identify(embedding, 2, None, self.config.threshold)
                    .map_err(|e| SearchError::Targets(e.to_string()))?;
                match found.iter().filter(|f| f.matched).collect::<Vec<_>>().as_slice() {
                    [] => Verdict::Refused(Reason::Unknown),
                    [one] => Verdict::Person {
                        name: one.person.clone(),
                        similarity: one.similarity,
                        embedding: embedding.clone(),
                        score: face.score,
                        size: face.size(),
                    },
                    _ => Verdict::Refused(Reason::Ambiguous),
                }
            } else {
                continue;
            };
            let state = self.tracks.get_mut(&assignment.track).expect("inserted above");
            state.verdicts.push_back((frame.time, verdict));
            while state.verdicts.len() > self.config.window
                || state.verdicts.front().is_some_and(|(t, _)| frame.time - t > self.config.max_evidence_age)
            {
                state.verdicts.pop_front();
            }
            let face_index = frame.tracked[assignment.detection];
            if let Some(decision) = self.decide(source, frame, assignment.track, face_index)? {
                decisions.push(decision);
            }
        }
        Ok(decisions)
    }

    /// Allows, denies once, or waits for more evidence. `face` is the
    /// track's face in this frame.
    fn decide(
        &mut self,
        source: &str,
        frame: &Analysed,
        track: u64,
        face: usize,
    ) -> Result<Option<WatchDecision>, SearchError> {
        let (confirm, window) = (self.config.confirm, self.config.window);
        let state = self.tracks.get_mut(&track).expect("a judged track");
        let confirmed = confirmed_person(&state.verdicts, confirm);
        if let Some((name, probe)) = confirmed {
            state.done = true;
            let same_presence = self.presences.continues(track, &name, self.config.cooldown);
            self.presences.decided(track, &name, frame.photo.faces[face]);
            if same_presence {
                return Ok(None);
            }
            let probe = probe.with_crop(self.probe_crop(frame, face)?);
            let decision = self.record(source, track, &probe)?;
            return Ok(Some(self.report(source, track, frame.time, frame.wall_time, decision)));
        }
        if state.denied || state.verdicts.len() < window {
            return Ok(None);
        }
        state.denied = true;
        let reason = most_frequent_reason(&state.verdicts);
        let detail = self.denial_detail(reason, None);
        // A face that was embedded and matched nobody (or several people)
        // is worth an operator's look, like a photo's: kept where the zone
        // keeps crops. Several faces or a poor one leave no face to show.
        let judged_face = matches!(reason, Reason::Unknown | Reason::Ambiguous);
        let crop = if judged_face { self.probe_crop(frame, face)? } else { None };
        let probe = Probe::refuse(reason, detail).with_crop(crop);
        let decision = self.record(source, track, &probe)?;
        Ok(Some(self.report(source, track, frame.time, frame.wall_time, decision)))
    }

    /// A track that ended (left, or cut away) before it was decided is
    /// denied with the most frequent reason of what it showed, unless it
    /// was a glimpse ([`MIN_VERDICTS_TO_DENY`]). Its face is gone with its
    /// frame, so such a deny keeps no probe crop.
    fn deny_unfinished(
        &mut self,
        source: &str,
        track: u64,
        time: f64,
        wall_time: SystemTime,
    ) -> Result<Option<WatchDecision>, SearchError> {
        let Some(state) = self.tracks.remove(&track) else { return Ok(None) };
        if state.done || state.denied || state.verdicts.len() < MIN_VERDICTS_TO_DENY {
            return Ok(None);
        }
        let reason = most_frequent_reason(&state.verdicts);
        let detail = self.denial_detail(reason, Some(state.verdicts.len()));
        let decision = self.record(source, track, &Probe::refuse(reason, detail))?;
        Ok(Some(self.report(source, track, time, wall_time, decision)))
    }

    /// Why a track is denied; `left_after` is the number of verdicts of a
    /// track that ended before its window filled.
    fn denial_detail(&self, reason: Reason, left_after: Option<usize>) -> String {
        let (confirm, window) = (self.config.confirm, self.config.window);
        let detail = match reason {
            Reason::MultipleFaces => "several faces in view; exactly one person may be".to_string(),
            Reason::LowQuality => {
                format!("the detector is not confident enough (< {:.2})", self.config.quality.min_score)
            }
            Reason::Ambiguous => "several enrolled people match; the face is not told apart".to_string(),
            _ => format!(
                "no enrolled person reaches {:.3} in {confirm} of {window} frames",
                self.config.threshold
            ),
        };
        match left_after {
            Some(frames) => format!("{detail} (the face left after {frames} frames)"),
            None => detail,
        }
    }

    /// The track's face in the deciding frame, cropped as the access route
    /// crops a photo's, when the zone keeps probe crops. The policy is read at each
    /// decision, so a change made in the console applies from the next one
    /// (and the store checks it again in the decision's transaction).
    fn probe_crop(&self, frame: &Analysed, face: usize) -> Result<Option<ProbeCrop>, SearchError> {
        let zone = self.gallery.zone(&self.config.zone).map_err(|e| SearchError::Targets(e.to_string()))?;
        let keeps_crops = zone.is_some_and(|zone| zone.policy().keeps_probe_crops());
        Ok(keeps_crops.then(|| ProbeCrop::of(&frame.photo, face)))
    }

    /// Decides and writes the audit record, naming the source and track.
    fn record(&self, source: &str, track: u64, probe: &Probe) -> Result<AccessDecision, SearchError> {
        let context = AccessContext {
            zone: &self.config.zone,
            image_sha256: None,
            source: Some(source),
            track: i64::try_from(track).ok(),
        };
        self.gallery
            .decide_access_with(&context, probe, self.config.threshold)
            .map_err(|e| SearchError::Targets(e.to_string()))
    }

    fn report(
        &self,
        source: &str,
        track: u64,
        time: f64,
        wall_time: SystemTime,
        decision: AccessDecision,
    ) -> WatchDecision {
        WatchDecision {
            source: source.to_string(),
            time,
            wall_time: wall_time.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
            zone: decision.zone,
            allowed: decision.allowed,
            reason: decision.reason,
            detail: decision.detail,
            person: decision.person,
            similarity: decision.similarity,
            threshold: decision.threshold,
            track,
            event_id: decision.event_id,
        }
    }
}

/// The person named by at least `confirm` verdicts, with a probe of their
/// most similar face; `None` if nobody is (or, impossibly, two are).
fn confirmed_person(verdicts: &VecDeque<(f64, Verdict)>, confirm: usize) -> Option<(String, Probe)> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for (_, verdict) in verdicts {
        if let Verdict::Person { name, .. } = verdict {
            match counts.iter_mut().find(|(n, _)| n == name) {
                Some((_, count)) => *count += 1,
                None => counts.push((name, 1)),
            }
        }
    }
    let winners: Vec<&str> = counts.iter().filter(|(_, c)| *c >= confirm).map(|(n, _)| *n).collect();
    let [winner] = winners.as_slice() else { return None };
    let best = verdicts
        .iter()
        .filter_map(|(_, v)| match v {
            Verdict::Person { name, similarity, embedding, score, size } if name == winner => {
                Some((*similarity, embedding, *score, *size))
            }
            _ => None,
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))?;
    // The crop, if the zone keeps one, is added by the caller from the
    // confirming frame: a verdict holds only its embedding.
    let probe = Probe::Face { embedding: best.1.clone(), score: best.2, size: best.3, faces: 1, crop: None };
    Some((winner.to_string(), probe))
}

/// The reason given most often (ties: the first seen); a confirmed-looking
/// person who never reached `confirm` counts as unknown.
fn most_frequent_reason(verdicts: &VecDeque<(f64, Verdict)>) -> Reason {
    let mut counts: Vec<(Reason, usize)> = Vec::new();
    for (_, verdict) in verdicts {
        let reason = match verdict {
            Verdict::Person { .. } => Reason::Unknown,
            Verdict::Refused(reason) => *reason,
        };
        match counts.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, count)) => *count += 1,
            None => counts.push((reason, 1)),
        }
    }
    counts.iter().max_by_key(|(_, c)| *c).map_or(Reason::Unknown, |(r, _)| *r)
}

/// Unix seconds now (for callers that report without a frame).
pub fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(name: &str, similarity: f32) -> Verdict {
        Verdict::Person {
            name: name.into(),
            similarity,
            embedding: Embedding::from_raw(vec![1.0, similarity]).unwrap(),
            score: 0.9,
            size: 80.0,
        }
    }

    #[test]
    fn a_person_is_confirmed_by_k_verdicts_and_judged_by_their_best_face() {
        let mut verdicts: VecDeque<(f64, Verdict)> = VecDeque::new();
        verdicts.push_back((0.0, person("a", 0.5)));
        verdicts.push_back((0.1, Verdict::Refused(Reason::Unknown)));
        verdicts.push_back((0.2, person("a", 0.7)));
        assert!(confirmed_person(&verdicts, 3).is_none());
        verdicts.push_back((0.3, person("a", 0.6)));
        let (name, probe) = confirmed_person(&verdicts, 3).unwrap();
        assert_eq!(name, "a");
        let Probe::Face { embedding, .. } = probe else { panic!("a face probe") };
        assert_eq!(embedding, Embedding::from_raw(vec![1.0, 0.7]).unwrap());
    }

    #[test]
    fn denials_give_the_most_frequent_reason() {
        let verdicts: VecDeque<(f64, Verdict)> = [
            Verdict::Refused(Reason::LowQuality),
            Verdict::Refused(Reason::MultipleFaces),
            person("a", 0.5),
            Verdict::Refused(Reason::MultipleFaces),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, v)| (i as f64, v))
        .collect();
        assert_eq!(most_frequent_reason(&verdicts), Reason::MultipleFaces);
    }
}

/// How a source without a given name is named in the audit trail: a URL
/// without its user and password (a camera's credentials must not reach
/// every reader of the trail), with no control or bidirectional-override
/// characters and at most 200 characters (the gallery refuses such names).
pub fn audit_label(source: &str) -> String {
    let without_credentials = match source.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => source.to_string(),
            }
        }
        None => source.to_string(),
    };
    without_credentials
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
        .take(200)
        .collect()
}

#[cfg(test)]
mod audit_label_tests {
    use super::audit_label;

    #[test]
    fn credentials_never_reach_the_audit_trail() {
        assert_eq!(audit_label("rtsp://admin:secret@10.0.0.5:554/stream"), "rtsp://10.0.0.5:554/stream");
        assert_eq!(audit_label("rtsp://10.0.0.5/a@b"), "rtsp://10.0.0.5/a@b");
        assert_eq!(audit_label("lift.mp4"), "lift.mp4");
        assert_eq!(audit_label(&"x".repeat(500)).len(), 200);
        assert_eq!(audit_label("lift\u{202E}4pm.mp4\n"), "lift4pm.mp4");
    }
}
