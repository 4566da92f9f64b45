//! Probe crops: the face a camera photo was judged by, kept for a while
//! when — and only when — its zone says so.
//!
//! A crop is biometric data, so keeping it is an explicit per-zone choice
//! with a retention period ([`ZonePolicy::probe_crops_retention_s`]), off by
//! default. Each crop carries its expiry (decision time plus the zone's
//! retention): reads never return an expired crop, every access decision
//! deletes the expired ones of every zone in its transaction, changing a
//! zone's retention re-dates its crops, turning it off deletes them, and
//! erasing a person deletes the crops of the decisions about them.
//!
//! The crop is the aligned face (the template the embedder sees, at the
//! same scale) with a margin around it, so that it can be enrolled later
//! through the ordinary review: the detector needs some context around a
//! face to find it again. At 160×160 pixels and JPEG quality 85 it is a few
//! kilobytes.
//!
//! [`ZonePolicy::probe_crops_retention_s`]: crate::model::ZonePolicy::probe_crops_retention_s

use facecmp::align::{ALIGNED_SIZE, Similarity, TEMPLATE, warp};
use facecmp::{Photo, Point};
use image::codecs::jpeg::JpegEncoder;

/// The side of a stored crop, in pixels.
pub const CROP_SIZE: u32 = 160;
/// JPEG quality: enough for an operator to recognise a face and for the
/// detector to find it again, at a few kilobytes.
const JPEG_QUALITY: u8 = 85;
/// The shortest retention a zone may set: a crop that is gone before an
/// operator could look at it is not worth storing.
pub const MIN_RETENTION_S: i64 = 60;
/// The longest: a year. Crops are for reviewing recent decisions, not an
/// archive of faces.
pub const MAX_RETENTION_S: i64 = 365 * 86_400;

/// The face of one probe, as stored with its decision.
#[derive(Clone, PartialEq)]
pub struct ProbeCrop {
    /// The crop, JPEG-encoded.
    pub jpeg: Vec<u8>,
    /// The face's size in the camera photo (pixels): the enrolment review
    /// of the crop is also held to it, since the crop is resampled.
    pub face_size: f32,
    /// The detector's confidence in the camera photo.
    pub detector_score: f32,
}

/// The bytes stay out of debug output (logs, test failures).
impl std::fmt::Debug for ProbeCrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeCrop")
            .field("jpeg_bytes", &self.jpeg.len())
            .field("face_size", &self.face_size)
            .field("detector_score", &self.detector_score)
            .finish()
    }
}

/// A stored crop and the decision it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCrop {
    pub event_id: i64,
    pub zone: String,
    /// When the decision was made (unix seconds).
    pub time: i64,
    /// When the crop is deleted (unix seconds).
    pub expires: i64,
    pub crop: ProbeCrop,
}

impl ProbeCrop {
    /// The crop of face `face` of `photo` ([`face_jpeg`]).
    pub fn of(photo: &Photo, face: usize) -> ProbeCrop {
        let found = &photo.faces[face];
        ProbeCrop { jpeg: face_jpeg(photo, face), face_size: found.size(), detector_score: found.score }
    }
}

/// Face `face` of `photo` aligned like the embedder's input, with a margin
/// of `(CROP_SIZE - 112) / 2` pixels on every side, as a JPEG: a probe's
/// crop, and the thumbnail an enrolled sample keeps for the console.
pub fn face_jpeg(photo: &Photo, face: usize) -> Vec<u8> {
    let margin = (CROP_SIZE - ALIGNED_SIZE) as f32 / 2.0;
    let target = TEMPLATE.map(|p| Point { x: p.x + margin, y: p.y + margin });
    let transform = Similarity::estimate(&photo.faces[face].landmarks, &target);
    encode_jpeg(&warp(&photo.image, &transform, CROP_SIZE))
}

/// `image` as a JPEG of the quality every stored face uses.
pub fn encode_jpeg(image: &facecmp::RgbImage) -> Vec<u8> {
    let mut jpeg = Vec::with_capacity(8 << 10);
    JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY)
        .encode_image(image)
        .expect("encoding an in-memory RGB image to a Vec cannot fail");
    jpeg
}

/// Checks a retention period a client asked for.
pub fn validate_retention(retention_s: Option<i64>) -> Result<(), String> {
    match retention_s {
        Some(seconds) if !(MIN_RETENTION_S..=MAX_RETENTION_S).contains(&seconds) => Err(format!(
            "probe crops are kept for at least {MIN_RETENTION_S} seconds and at most 365 days \
             ({MAX_RETENTION_S} seconds), not {seconds} seconds"
        )),
        _ => Ok(()),
    }
}

/// A retention period as people say it: "7 days", "12 hours", "90 minutes".
pub fn describe_retention(seconds: i64) -> String {
    let (amount, unit) = if seconds % 86_400 == 0 {
        (seconds / 86_400, "day")
    } else if seconds % 3_600 == 0 {
        (seconds / 3_600, "hour")
    } else if seconds % 60 == 0 {
        (seconds / 60, "minute")
    } else {
        (seconds, "second")
    };
    if amount == 1 { format!("1 {unit}") } else { format!("{amount} {unit}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_is_bounded() {
        assert!(validate_retention(None).is_ok());
        assert!(validate_retention(Some(86_400)).is_ok());
        assert!(validate_retention(Some(0)).is_err());
        assert!(validate_retention(Some(-5)).is_err());
        assert!(validate_retention(Some(MAX_RETENTION_S + 1)).is_err());
    }

    #[test]
    fn retention_reads_as_people_say_it() {
        assert_eq!(describe_retention(86_400), "1 day");
        assert_eq!(describe_retention(7 * 86_400), "7 days");
        assert_eq!(describe_retention(7_200), "2 hours");
        assert_eq!(describe_retention(90 * 60), "90 minutes");
        assert_eq!(describe_retention(61), "61 seconds");
    }
}
