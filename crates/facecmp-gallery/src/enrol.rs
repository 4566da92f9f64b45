//! Enrolment review: which photos may become a person's reference samples.
//!
//! A bad reference sample is worse than none: every later decision about
//! that person is measured against it. So a photo is refused, with the
//! reason, unless it shows exactly one clear, large-enough face.

use facecmp::{Embedding, NoUsableFace, Photo, Several};
use serde::Serialize;

use crate::access::QualityPolicy;

/// The rules a photo must pass to be enrolled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnrolPolicy {
    pub quality: QualityPolicy,
    /// Refuse a sample that is closer to another enrolled person than to
    /// its own (or, for a person's first sample, that matches someone else
    /// at this threshold): it is probably the wrong photo or a duplicate
    /// identity.
    pub strict: Option<f32>,
}

/// The review a stored face thumbnail passes when it is enrolled (moving a
/// gallery, naming a cluster). In a 160-pixel crop a face is smaller than in
/// the photo it was cut from, so only the detector's own floor applies; the
/// thumbnail's face was already found in that photo.
pub const THUMBNAIL_QUALITY: QualityPolicy = QualityPolicy { min_face_size: 32.0, min_score: 0.6 };

impl Default for EnrolPolicy {
    fn default() -> Self {
        // Stricter than the access check: a reference photo should be the best one available.
        Self { quality: QualityPolicy { min_face_size: 64.0, min_score: 0.8 }, strict: None }
    }
}

/// Why a photo was not enrolled.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Rejection {
    BadImage {
        detail: String,
    },
    NoFace,
    MultipleFaces {
        count: usize,
    },
    TooSmall {
        size: f32,
        min: f32,
    },
    LowScore {
        score: f32,
        min: f32,
    },
    /// This exact image (by sha256) is already one of the person's samples.
    AlreadyEnrolled,
    /// `--strict`: the face looks more like someone else.
    CloserToOther {
        other: String,
        similarity: f32,
        own: Option<f32>,
    },
}

impl Rejection {
    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::BadImage { .. } => "bad_image",
            Rejection::NoFace => "no_face",
            Rejection::MultipleFaces { .. } => "multiple_faces",
            Rejection::TooSmall { .. } => "too_small",
            Rejection::LowScore { .. } => "low_score",
            Rejection::AlreadyEnrolled => "already_enrolled",
            Rejection::CloserToOther { .. } => "closer_to_other",
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::BadImage { detail } => write!(f, "{detail}"),
            Rejection::NoFace => write!(f, "no face found"),
            Rejection::MultipleFaces { count } => {
                write!(f, "{count} faces; a reference photo must show exactly one")
            }
            Rejection::TooSmall { size, min } => {
                write!(f, "the face is too small ({size:.0} px; at least {min:.0} px needed)")
            }
            Rejection::LowScore { score, min } => {
                write!(f, "the detector is not confident enough ({score:.2} < {min:.2})")
            }
            Rejection::AlreadyEnrolled => write!(f, "this image is already enrolled for this person"),
            Rejection::CloserToOther { other, similarity, own: Some(own) } => {
                write!(f, "closer to {other} ({similarity:.3}) than to this person's own samples ({own:.3})")
            }
            Rejection::CloserToOther { other, similarity, own: None } => {
                write!(f, "already matches {other} ({similarity:.3})")
            }
        }
    }
}

/// Picks the one face of a reference photo, or says why there is none.
pub fn review(photo: &Photo, quality: &QualityPolicy) -> Result<usize, Rejection> {
    quality.faces(Several::RefuseAny).the_face(photo).map_err(|why| match why {
        NoUsableFace::NoFace => Rejection::NoFace,
        NoUsableFace::Several { count } => Rejection::MultipleFaces { count },
        NoUsableFace::TooSmall { size, min, .. } => Rejection::TooSmall { size, min },
        NoUsableFace::LowScore { score, min, .. } => Rejection::LowScore { score, min },
        // The policy picks a face itself; it never names one that is not there.
        NoUsableFace::NoSuchFace { .. } => Rejection::NoFace,
    })
}

/// A reviewed face, ready to be stored as a sample.
#[derive(Debug, Clone)]
pub struct NewSample {
    pub embedding: Embedding,
    pub detector_score: f32,
    pub face_size: f32,
    pub image_sha256: String,
    /// The face as the console shows it ([`face_jpeg`](crate::crops::face_jpeg)):
    /// the only image of a person the gallery keeps. None for samples
    /// imported as bare embeddings.
    pub thumbnail_jpeg: Option<Vec<u8>>,
}
