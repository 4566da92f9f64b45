//! Face selection: which faces of a photo are usable, and which one is
//! "the" face. One policy for every caller — compare, embed, identify,
//! access, enrolment and training data — so that they cannot drift apart;
//! each only says how strict it is.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::photo::Photo;

/// What a second face in view means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Several {
    /// The largest usable face is the one (`compare`, `embed`, `identify`, a
    /// zone that allows several people in view).
    TakeLargest,
    /// More than one usable face is refused (access control, labelled
    /// training photos): faces too small to use are background, not a
    /// second person.
    RefuseUsable,
    /// More than one face of any size is refused (a reference photo for
    /// enrolment must show its subject alone).
    RefuseAny,
}

/// How strict a caller is about the faces of a photo.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FacePolicy {
    /// Faces whose box is smaller than this many pixels on its shorter side
    /// carry too little detail to embed reliably.
    pub min_face_size: f32,
    /// The detector confidence the chosen face must reach; 0 accepts every
    /// face the detector reported.
    pub min_score: f32,
    pub several: Several,
}

/// Which faces of a photo are usable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsableFaces {
    /// Indices into [`Photo::faces`], in the detector's order (strongest first).
    pub usable: Vec<usize>,
    /// Faces found but too small to use.
    pub too_small: Vec<usize>,
}

/// Which face to use, when the caller names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceChoice {
    /// The policy's choice: in a portrait, the subject.
    Largest,
    /// The face with this index in [`Photo::faces`].
    Index(usize),
}

/// Why a photo has no face to use. The caller names the photo.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum NoUsableFace {
    #[error("no face found")]
    NoFace,
    #[error("face {index} is too small ({size:.0} px; at least {min:.0} px needed)")]
    TooSmall { index: usize, size: f32, min: f32 },
    #[error("{count} faces found; exactly one must be in view")]
    Several { count: usize },
    #[error("face {index}: the detector is not confident enough ({score:.2} < {min:.2})")]
    LowScore { index: usize, score: f32, min: f32 },
    #[error("there is no face {index} (faces are numbered 0 to {last})", last = .count.saturating_sub(1))]
    NoSuchFace { index: usize, count: usize },
}

impl NoUsableFace {
    /// The pipeline error for `input`, naming it.
    pub fn for_input(self, input: &str) -> Error {
        let input = input.to_string();
        match self {
            NoUsableFace::NoFace => Error::NoFace { input },
            NoUsableFace::TooSmall { index, size, min } => Error::FaceTooSmall { input, index, size, min },
            NoUsableFace::Several { count } => Error::SeveralFaces { input, count },
            NoUsableFace::LowScore { index, score, min } => Error::LowScore { input, index, score, min },
            NoUsableFace::NoSuchFace { index, count } => Error::NoSuchFace { input, index, count },
        }
    }
}

impl FacePolicy {
    /// The largest face of at least `min_face_size` pixels, whatever else is
    /// in view: what comparing two portraits needs.
    pub fn largest(min_face_size: f32) -> FacePolicy {
        FacePolicy { min_face_size, min_score: 0.0, several: Several::TakeLargest }
    }

    /// Exactly one face of at least `min_face_size` pixels; smaller faces
    /// are background (labelled training photos).
    pub fn exactly_one(min_face_size: f32) -> FacePolicy {
        FacePolicy { min_face_size, min_score: 0.0, several: Several::RefuseUsable }
    }

    /// The faces large enough to use, and those too small.
    pub fn usable(&self, photo: &Photo) -> UsableFaces {
        let (usable, too_small): (Vec<usize>, Vec<usize>) =
            (0..photo.faces.len()).partition(|&i| photo.faces[i].size() >= self.min_face_size);
        UsableFaces { usable, too_small }
    }

    /// Like [`FacePolicy::usable`], but a photo where no face is usable is
    /// an error naming it, so that it never yields an empty answer silently.
    pub fn usable_or_why(&self, photo: &Photo) -> Result<UsableFaces, Error> {
        let faces = self.usable(photo);
        if faces.usable.is_empty() {
            return Err(self.no_usable_face(photo).for_input(&photo.input));
        }
        Ok(faces)
    }

    /// "The" face of a photo: the largest usable one, if the policy's rules
    /// on several faces and on the detector's confidence allow it. Checks
    /// run in a fixed order: no face, several faces of any size (under
    /// [`Several::RefuseAny`]), none large enough, several usable (under
    /// [`Several::RefuseUsable`]), confidence.
    pub fn the_face(&self, photo: &Photo) -> Result<usize, NoUsableFace> {
        let found = photo.faces.len();
        if found == 0 {
            return Err(NoUsableFace::NoFace);
        }
        if self.several == Several::RefuseAny && found > 1 {
            return Err(NoUsableFace::Several { count: found });
        }
        let usable = self.usable(photo).usable;
        let Some(&chosen) = usable.iter().max_by(|&&a, &&b| area(photo, a).total_cmp(&area(photo, b))) else {
            return Err(self.no_usable_face(photo));
        };
        if self.several == Several::RefuseUsable && usable.len() > 1 {
            return Err(NoUsableFace::Several { count: usable.len() });
        }
        self.confident(photo, chosen)
    }

    /// A face the caller picked, or the policy's choice; the photo is named
    /// in the error.
    pub fn choose(&self, photo: &Photo, choice: FaceChoice) -> Result<usize, Error> {
        let chosen = match choice {
            FaceChoice::Largest => self.the_face(photo),
            FaceChoice::Index(_) if photo.faces.is_empty() => Err(NoUsableFace::NoFace),
            FaceChoice::Index(index) if index >= photo.faces.len() => {
                Err(NoUsableFace::NoSuchFace { index, count: photo.faces.len() })
            }
            FaceChoice::Index(index) => {
                self.large_enough(photo, index).and_then(|i| self.confident(photo, i))
            }
        };
        chosen.map_err(|why| why.for_input(&photo.input))
    }

    /// Why no face is usable: none found, or the largest is too small.
    fn no_usable_face(&self, photo: &Photo) -> NoUsableFace {
        let largest = (0..photo.faces.len()).max_by(|&a, &b| area(photo, a).total_cmp(&area(photo, b)));
        match largest {
            None => NoUsableFace::NoFace,
            Some(index) => {
                NoUsableFace::TooSmall { index, size: photo.faces[index].size(), min: self.min_face_size }
            }
        }
    }

    fn large_enough(&self, photo: &Photo, index: usize) -> Result<usize, NoUsableFace> {
        let size = photo.faces[index].size();
        if size < self.min_face_size {
            return Err(NoUsableFace::TooSmall { index, size, min: self.min_face_size });
        }
        Ok(index)
    }

    fn confident(&self, photo: &Photo, index: usize) -> Result<usize, NoUsableFace> {
        let score = photo.faces[index].score;
        if score < self.min_score {
            return Err(NoUsableFace::LowScore { index, score, min: self.min_score });
        }
        Ok(index)
    }
}

fn area(photo: &Photo, index: usize) -> f32 {
    photo.faces[index].bbox.area()
}

// Here rather than in `photo.rs`: "largest" is a selection rule.
impl Photo {
    /// The face with the largest box, whatever its size (see [`FacePolicy`]
    /// for the faces that are usable).
    pub fn largest_face(&self) -> Option<usize> {
        FacePolicy::largest(0.0).the_face(self).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{BoundingBox, Face, Point};

    /// A photo with square faces of these sides and detector scores.
    fn photo(faces: &[(f32, f32)]) -> Photo {
        let faces = faces
            .iter()
            .enumerate()
            .map(|(i, &(side, score))| Face {
                bbox: BoundingBox { x: 200.0 * i as f32, y: 0.0, width: side, height: side },
                score,
                landmarks: [Point { x: 0.0, y: 0.0 }; 5],
            })
            .collect();
        Photo { input: "p.jpg".into(), image: crate::RgbImage::new(1, 1), faces }
    }

    fn policy(several: Several) -> FacePolicy {
        FacePolicy { min_face_size: 32.0, min_score: 0.7, several }
    }

    #[test]
    fn the_face_is_the_largest_usable_one() {
        let photo = photo(&[(40.0, 0.9), (100.0, 0.8), (20.0, 0.99)]);
        assert_eq!(policy(Several::TakeLargest).the_face(&photo), Ok(1));
        assert_eq!(policy(Several::TakeLargest).usable(&photo).usable, vec![0, 1]);
        assert_eq!(policy(Several::TakeLargest).usable(&photo).too_small, vec![2]);
    }

    #[test]
    fn several_faces_are_refused_as_each_policy_says() {
        let one_and_background = photo(&[(100.0, 0.9), (20.0, 0.9)]);
        assert_eq!(policy(Several::RefuseUsable).the_face(&one_and_background), Ok(0));
        assert_eq!(
            policy(Several::RefuseAny).the_face(&one_and_background),
            Err(NoUsableFace::Several { count: 2 })
        );
        let two = photo(&[(100.0, 0.9), (50.0, 0.9)]);
        assert_eq!(policy(Several::RefuseUsable).the_face(&two), Err(NoUsableFace::Several { count: 2 }));
        assert_eq!(policy(Several::TakeLargest).the_face(&two), Ok(0));
    }

    #[test]
    fn no_face_too_small_and_unsure_faces_say_why() {
        let take = policy(Several::TakeLargest);
        assert_eq!(take.the_face(&photo(&[])), Err(NoUsableFace::NoFace));
        assert_eq!(
            take.the_face(&photo(&[(10.0, 0.9), (20.0, 0.9)])),
            Err(NoUsableFace::TooSmall { index: 1, size: 20.0, min: 32.0 })
        );
        assert_eq!(
            take.the_face(&photo(&[(50.0, 0.65)])),
            Err(NoUsableFace::LowScore { index: 0, score: 0.65, min: 0.7 })
        );
        let error = take.usable_or_why(&photo(&[(10.0, 0.9)])).unwrap_err();
        assert_eq!(error.to_string(), "p.jpg: face 0 is too small (10 px; at least 32 px needed)");
    }

    #[test]
    fn a_picked_face_must_exist_and_be_usable() {
        let take = FacePolicy::largest(32.0);
        let photo = photo(&[(100.0, 0.9), (20.0, 0.9)]);
        assert_eq!(take.choose(&photo, FaceChoice::Index(0)).unwrap(), 0);
        assert!(matches!(
            take.choose(&photo, FaceChoice::Index(1)),
            Err(Error::FaceTooSmall { index: 1, .. })
        ));
        assert!(matches!(take.choose(&photo, FaceChoice::Index(2)), Err(Error::NoSuchFace { count: 2, .. })));
    }
}
