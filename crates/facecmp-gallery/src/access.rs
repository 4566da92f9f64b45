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

/// Why a decision went the way it did; a stable, machine-readable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Allowed: one person above the threshold, with a valid grant.
    Granted,
    /// The image could not be read or decoded.
    BadImage,
    /// No face in the image.
    NoFace,
    /// More than one usable face, in a zone that does not allow it.
    MultipleFaces,
    /// The face is too small or the detector is not confident enough.
    LowQuality,
    /// Nobody enrolled reaches the threshold.
    Unknown,
    /// The best match is a person without a valid grant for this zone.
    NotGranted,
    /// Several enrolled people reach the threshold: the face cannot be told apart.
    Ambiguous,
    /// The zone does not exist.
    UnknownZone,
    /// facecmp itself failed (model, database); never a reason to open.
    InternalError,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Granted => "granted",
            Reason::BadImage => "bad_image",
            Reason::NoFace => "no_face",
            Reason::MultipleFaces => "multiple_faces",
            Reason::LowQuality => "low_quality",
            Reason::Unknown => "unknown",
            Reason::NotGranted => "not_granted",
            Reason::Ambiguous => "ambiguous",
            Reason::UnknownZone => "unknown_zone",
            Reason::InternalError => "internal_error",
        }
    }

    pub fn parse(text: &str) -> Option<Reason> {
        serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a door opens: the two outcomes an access decision has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Deny,
}

impl Decision {
    pub fn of(allowed: bool) -> Decision {
        if allowed { Decision::Allow } else { Decision::Deny }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }
    }

    pub fn parse(text: &str) -> Option<Decision> {
        match text {
            "allow" => Some(Decision::Allow),
            "deny" => Some(Decision::Deny),
            _ => None,
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Decision {
    type Err = String;

    fn from_str(text: &str) -> Result<Decision, String> {
        Decision::parse(text).ok_or_else(|| format!("a decision is `allow` or `deny`, not `{text}`"))
    }
}

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

    #[test]
    fn reasons_round_trip_through_their_codes() {
        for reason in [Reason::Granted, Reason::BadImage, Reason::MultipleFaces, Reason::UnknownZone] {
            assert_eq!(Reason::parse(reason.as_str()), Some(reason));
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
        assert_eq!(Reason::parse("open_sesame"), None);
    }
}
