//! The access rules: what a camera photo must show for a door to open.
//!
//! Everything here fails closed. The photo is first reduced to a [`Probe`]
//! (exactly one usable face and its embedding, or the reason there is none);
//! the gallery then matches the probe and applies the grants in
//! [`decide`]. Only one outcome opens the door: exactly one enrolled person
//! reaches the threshold and holds a grant for the zone that is valid now.

use facecmp::{Embedding, Error as FaceError, FacePolicy, NoUsableFace, Photo, Several};
use serde::{Deserialize, Serialize};

use crate::crops::ProbeCrop;
pub use crate::model::{Decision, Reason};

/// What a camera photo must be like before anyone is matched against it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QualityPolicy {
    /// Faces whose box is smaller than this many pixels are too small to
    /// match; they do not count as a second face either.
    pub min_face_size: f32,
    /// The detector's confidence below which a face is too unsure to match.
    pub min_score: f32,
}

impl Default for QualityPolicy {
    fn default() -> Self {
        Self { min_face_size: 32.0, min_score: 0.7 }
    }
}

/// A camera photo reduced to what the rules need.
#[derive(Debug, Clone)]
pub enum Probe {
    /// One usable face (the largest when the zone allows several), and its
    /// crop when the zone keeps probe crops.
    Face { embedding: Embedding, score: f32, size: f32, faces: usize, crop: Option<ProbeCrop> },
    /// No face can be matched, and why; with the crop of the face that was
    /// judged when there was one (a camera track nobody was confirmed in)
    /// and the zone keeps probe crops.
    Refused { reason: Reason, detail: String, crop: Option<ProbeCrop> },
}

impl Probe {
    /// Chooses the face a photo is judged by, or the reason it cannot be.
    /// `embed` is only called once the photo has passed every check.
    pub fn from_photo(
        photo: Result<Photo, FaceError>,
        quality: &QualityPolicy,
        allow_multiple_faces: bool,
        embed: impl FnOnce(&Photo, usize) -> Result<Embedding, FaceError>,
    ) -> Probe {
        let photo = match photo {
            Ok(photo) => photo,
            Err(error) => return Probe::refused_by(&error),
        };
        let policy =
            quality.faces(if allow_multiple_faces { Several::TakeLargest } else { Several::RefuseUsable });
        let chosen = match policy.the_face(&photo) {
            Ok(chosen) => chosen,
            Err(why) => {
                return Probe::refuse(refusal_reason(&why), refusal_detail(&photo.input, &why, &policy));
            }
        };
        let (face, faces) = (&photo.faces[chosen], policy.usable(&photo).usable.len());
        match embed(&photo, chosen) {
            Ok(embedding) => {
                Probe::Face { embedding, score: face.score, size: face.size(), faces, crop: None }
            }
            Err(error) => Probe::refused_by(&error),
        }
    }

    /// The probe with the crop of the face it judged, for a zone that keeps
    /// them (`None` for a probe refused before any face was judged).
    pub fn with_crop(self, crop: Option<ProbeCrop>) -> Probe {
        match self {
            Probe::Face { embedding, score, size, faces, .. } => {
                Probe::Face { embedding, score, size, faces, crop }
            }
            Probe::Refused { reason, detail, .. } => Probe::Refused { reason, detail, crop },
        }
    }

    /// The crop to store with the decision, if any.
    pub fn crop(&self) -> Option<&ProbeCrop> {
        match self {
            Probe::Face { crop, .. } | Probe::Refused { crop, .. } => crop.as_ref(),
        }
    }

    pub fn refuse(reason: Reason, detail: String) -> Probe {
        Probe::Refused { reason, detail, crop: None }
    }

    fn refused_by(error: &FaceError) -> Probe {
        let reason = match error {
            FaceError::Image { .. } => Reason::BadImage,
            FaceError::NoFace { .. } => Reason::NoFace,
            FaceError::SeveralFaces { .. } => Reason::MultipleFaces,
            FaceError::FaceTooSmall { .. } | FaceError::LowScore { .. } | FaceError::NoSuchFace { .. } => {
                Reason::LowQuality
            }
            _ => Reason::InternalError,
        };
        Probe::refuse(reason, error.to_string())
    }
}

impl QualityPolicy {
    /// The core's face policy with these limits.
    pub fn faces(&self, several: Several) -> FacePolicy {
        FacePolicy { min_face_size: self.min_face_size, min_score: self.min_score, several }
    }
}

fn refusal_reason(why: &NoUsableFace) -> Reason {
    match why {
        NoUsableFace::NoFace => Reason::NoFace,
        NoUsableFace::Several { .. } => Reason::MultipleFaces,
        NoUsableFace::TooSmall { .. } | NoUsableFace::LowScore { .. } | NoUsableFace::NoSuchFace { .. } => {
            Reason::LowQuality
        }
    }
}

fn refusal_detail(input: &str, why: &NoUsableFace, policy: &FacePolicy) -> String {
    match why {
        NoUsableFace::TooSmall { size, .. } => format!(
            "{input}: the face is too small ({size:.0} px; at least {:.0} px needed)",
            policy.min_face_size
        ),
        NoUsableFace::Several { count } => {
            format!("{input}: {count} faces; exactly one person may be in view")
        }
        NoUsableFace::LowScore { score, min, .. } => {
            format!("{input}: the detector is not confident enough ({score:.2} < {min:.2})")
        }
        other => format!("{input}: {other}"),
    }
}

/// An enrolled person who matched the probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub person_id: i64,
    pub similarity: f32,
    /// Whether they hold a grant for the zone that is valid now.
    pub granted: bool,
}

/// The verdict before it is written down: allow or deny, why, and who.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub reason: Reason,
    pub detail: String,
    /// The best match, whether or not it reached the threshold (for the audit).
    pub best: Option<Candidate>,
}

impl Verdict {
    pub fn allowed(&self) -> bool {
        self.reason == Reason::Granted
    }
}

/// Applies the matching rules to the best two candidates of a probe that
/// has a face (best first). Kept free of I/O so every branch is tested.
pub fn decide(candidates: &[Candidate], threshold: f32) -> Verdict {
    let best = candidates.first().cloned();
    let above: Vec<&Candidate> = candidates.iter().filter(|c| c.similarity >= threshold).collect();
    let (reason, detail) = match above.as_slice() {
        [] => (
            Reason::Unknown,
            match &best {
                Some(best) => {
                    format!(
                        "no enrolled person reaches {threshold:.3}; the best scores {:.3}",
                        best.similarity
                    )
                }
                None => "nobody is enrolled".to_string(),
            },
        ),
        [only] if only.granted => {
            (Reason::Granted, format!("similarity {:.3} ≥ {threshold:.3}", only.similarity))
        }
        [only] => (
            Reason::NotGranted,
            format!("similarity {:.3} ≥ {threshold:.3}, but no valid grant for this zone", only.similarity),
        ),
        [_, _, ..] => (
            Reason::Ambiguous,
            format!("{} enrolled people reach {threshold:.3}; the face is not told apart", above.len()),
        ),
    };
    Verdict { reason, detail, best }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(person_id: i64, similarity: f32, granted: bool) -> Candidate {
        Candidate { person_id, similarity, granted }
    }

    #[test]
    fn only_one_granted_person_above_threshold_opens() {
        let verdict = decide(&[candidate(1, 0.8, true), candidate(2, 0.2, false)], 0.5);
        assert_eq!(verdict.reason, Reason::Granted);
        assert!(verdict.allowed());
        assert_eq!(verdict.best.unwrap().person_id, 1);
    }

    #[test]
    fn every_other_case_denies() {
        let cases = [
            (vec![], Reason::Unknown),
            (vec![candidate(1, 0.49, true)], Reason::Unknown),
            (vec![candidate(1, 0.8, false), candidate(2, 0.3, true)], Reason::NotGranted),
            (vec![candidate(1, 0.8, true), candidate(2, 0.7, true)], Reason::Ambiguous),
            (vec![candidate(1, 0.8, true), candidate(2, 0.7, false)], Reason::Ambiguous),
        ];
        for (candidates, expected) in cases {
            let verdict = decide(&candidates, 0.5);
            assert_eq!(verdict.reason, expected, "{candidates:?}");
            assert!(!verdict.allowed());
        }
    }

    #[test]
    fn the_threshold_itself_is_a_match() {
        assert_eq!(decide(&[candidate(1, 0.5, true)], 0.5).reason, Reason::Granted);
    }
}
