//! Which tracks are one continuous presence of one person.
//!
//! The tracker may split one person's stay in front of a camera into
//! several tracks (they turned away, the detector lost them for a second).
//! A decision per track would then announce the same person again and
//! again, so the watcher asks here whether a newly confirmed track
//! continues a presence that was already decided. It does only while
//! nothing else happened in between: the new track starts where the person
//! was last seen, no one else was in view, the shot did not change and the
//! gap stayed under the cooldown. Anyone else in front of the camera, a
//! cut, or the person showing up somewhere else makes the next appearance a
//! new one, which gets its own decision: a repeated allow costs little,
//! while an elevator that stays silent for someone waiting is a fault.

use std::collections::HashMap;

use facecmp::Face;

/// When and where a track was seen, and whom it was decided to be.
#[derive(Debug, Clone)]
struct Seen {
    first: f64,
    first_face: Face,
    last: f64,
    hits: u32,
    person: Option<String>,
}

/// Where and when a decided person was last seen.
#[derive(Debug, Clone, Copy)]
struct LastSeen {
    time: f64,
    face: Face,
}

/// The recent tracks of one camera and the presences decided among them.
#[derive(Debug, Default)]
pub struct Presences {
    tracks: HashMap<u64, Seen>,
    /// Person → the last sighting of one of their decided tracks; a person
    /// is here only while their presence may still continue.
    decided: HashMap<String, LastSeen>,
}

/// Tracks seen in a single sampled frame are detector noise, not someone in
/// between: they do not interrupt a presence.
const MIN_HITS_TO_INTERRUPT: u32 = 2;

impl Presences {
    /// Records that `track` was in view at `time`, its face at `face`.
    pub fn saw(&mut self, track: u64, time: f64, face: Face) {
        let seen = self.tracks.entry(track).or_insert(Seen {
            first: time,
            first_face: face,
            last: time,
            hits: 0,
            person: None,
        });
        seen.last = time;
        seen.hits += 1;
        if let Some(person) = &seen.person {
            self.decided.insert(person.clone(), LastSeen { time, face });
        }
    }

    /// Records a shot change: every presence ends with it.
    pub fn cut(&mut self) {
        self.decided.clear();
    }

    /// Whether `track`, just confirmed as `person`, continues a presence of
    /// theirs: decided less than `cooldown` seconds before the track was
    /// first seen, where they were last seen, with nobody else in view and
    /// no cut since.
    pub fn continues(&self, track: u64, person: &str, cooldown: f64) -> bool {
        let (Some(last), Some(this)) = (self.decided.get(person), self.tracks.get(&track)) else {
            return false;
        };
        let someone_else = self.tracks.iter().any(|(&id, seen)| {
            id != track
                && seen.person.as_deref() != Some(person)
                && seen.hits >= MIN_HITS_TO_INTERRUPT
                && seen.last > last.time
        });
        this.first - last.time < cooldown && same_place(&last.face, &this.first_face) && !someone_else
    }

    /// Records that `track` was decided to be `person`, whose face it shows at `face`.
    pub fn decided(&mut self, track: u64, person: &str, face: Face) {
        if let Some(seen) = self.tracks.get_mut(&track) {
            seen.person = Some(person.to_string());
            self.decided.insert(person.to_string(), LastSeen { time: seen.last, face });
        }
    }

    /// Forgets what is older than `horizon` seconds before `now`: it can no
    /// longer be part of a presence a cooldown would continue.
    pub fn forget_before(&mut self, now: f64, horizon: f64) {
        self.tracks.retain(|_, seen| now - seen.last <= horizon);
        self.decided.retain(|_, last| now - last.time <= horizon);
    }
}

/// Centres closer than the larger face's size: someone who turned away
/// and back, not someone who walked out and in elsewhere.
fn same_place(a: &Face, b: &Face) -> bool {
    let centre = |f: &Face| (f.bbox.x + f.bbox.width / 2.0, f.bbox.y + f.bbox.height / 2.0);
    let ((ax, ay), (bx, by)) = (centre(a), centre(b));
    ((ax - bx).powi(2) + (ay - by).powi(2)).sqrt() < a.size().max(b.size())
}

#[cfg(test)]
mod tests {
    use facecmp::{BoundingBox, Point};

    use super::*;

    fn face_at(x: f32) -> Face {
        Face {
            bbox: BoundingBox { x, y: 100.0, width: 80.0, height: 80.0 },
            score: 0.9,
            landmarks: [Point { x, y: 100.0 }; 5],
        }
    }

    /// Track `track` seen at 10 fps from `from` to `to` seconds, in one place.
    fn seen(presences: &mut Presences, track: u64, from: f64, to: f64) {
        seen_at(presences, track, from, to, 100.0);
    }

    fn seen_at(presences: &mut Presences, track: u64, from: f64, to: f64, x: f32) {
        let mut time = from;
        while time <= to + 1e-9 {
            presences.saw(track, time, face_at(x));
            time += 0.1;
        }
    }

    #[test]
    fn a_person_who_turns_away_and_back_is_one_presence() {
        let mut presences = Presences::default();
        seen(&mut presences, 1, 0.0, 2.0);
        presences.decided(1, "ann", face_at(100.0));
        seen(&mut presences, 2, 3.0, 3.5);
        assert!(presences.continues(2, "ann", 10.0));
        assert!(!presences.continues(2, "ann", 0.5), "a gap longer than the cooldown is a new appearance");
        assert!(!presences.continues(2, "bob", 10.0), "another person's presence is not theirs");
    }

    #[test]
    fn showing_up_somewhere_else_is_a_new_appearance() {
        let mut presences = Presences::default();
        seen(&mut presences, 1, 0.0, 2.0);
        presences.decided(1, "ann", face_at(100.0));
        seen_at(&mut presences, 2, 2.1, 3.0, 300.0);
        assert!(!presences.continues(2, "ann", 10.0));
    }

    #[test]
    fn someone_else_in_between_makes_a_new_appearance() {
        let mut presences = Presences::default();
        seen(&mut presences, 1, 0.0, 2.0);
        presences.decided(1, "ann", face_at(100.0));
        seen(&mut presences, 2, 2.5, 4.0);
        seen(&mut presences, 3, 5.0, 6.0);
        assert!(!presences.continues(3, "ann", 10.0));
    }

    #[test]
    fn a_single_frame_glimpse_does_not_interrupt() {
        let mut presences = Presences::default();
        seen(&mut presences, 1, 0.0, 2.0);
        presences.decided(1, "ann", face_at(100.0));
        presences.saw(2, 2.5, face_at(300.0));
        seen(&mut presences, 3, 3.0, 3.5);
        assert!(presences.continues(3, "ann", 10.0));
    }

    #[test]
    fn a_cut_ends_every_presence() {
        let mut presences = Presences::default();
        seen(&mut presences, 1, 0.0, 2.0);
        presences.decided(1, "ann", face_at(100.0));
        presences.cut();
        seen(&mut presences, 2, 2.1, 3.0);
        assert!(!presences.continues(2, "ann", 10.0));
    }

    #[test]
    fn old_tracks_are_forgotten() {
        let mut presences = Presences::default();
        seen(&mut presences, 1, 0.0, 2.0);
        presences.decided(1, "ann", face_at(100.0));
        presences.forget_before(20.0, 10.0);
        seen(&mut presences, 2, 20.0, 21.0);
        assert!(!presences.continues(2, "ann", 30.0));
    }
}
