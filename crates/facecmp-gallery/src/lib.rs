//! The enrolled gallery: people, zones, grants and face samples in a store
//! (SQLite or PostgreSQL), 1:N identification over an in-memory matrix that
//! follows the store, the fail-closed access rules with their audit trail,
//! and indexed footage (appearances) searched by face ([`appearances`]).
//!
//! ```text
//! photo ─Pipeline─▶ Probe (one usable face, or why not) ─┐
//!                                                        ├─ decide_access ─▶ AccessDecision + event
//! Gallery (store) ──grants─▶ candidates ◀─SearchIndex────┘
//! ```
//!
//! The core `facecmp` crate knows nothing of this one; the CLI and the
//! HTTP service both call into it.

pub mod access;
pub mod appearances;
mod clock;
pub mod crops;
pub mod enrol;
pub mod error;
pub mod gallery;
mod ids;
pub mod keys;
pub mod migrate;
pub mod model;
pub mod names;
pub mod sessions;
pub mod store;
mod sync;

use facecmp::{Photo, Pipeline};

pub use access::{Probe, QualityPolicy};
pub use appearances::{ClusteringRun, MAX_RETENTION_S, MAX_TOP, MIN_RETENTION_S};
pub use crops::{ProbeCrop, StoredCrop};
pub use enrol::{EnrolPolicy, NewSample, Rejection};
pub use error::{GalleryError, IdentifyError, Result};
pub use gallery::Gallery;
pub use ids::image_sha256;
pub use model::{
    AccessContext, AccessDecision, ApiKey, Appearance, AppearanceBatch, AppearanceFilter, AppearanceQuery,
    Cluster, ConsoleSession, Decision, Enrolled, Event, EventQuery, FaceBox, FaceVector, FoundAppearance,
    Grant, Identification, NewAppearance, NewSource, Person, Reason, Role, Sample, Source, SourceKind, Zone,
    ZonePolicy,
};
pub use names::{validate_name, validate_source_name};
pub use store::sqlite::SCHEMA_VERSION;
pub use store::{GalleryLocation, GalleryStore, SqliteStore};

/// Decodes, reviews and embeds one reference photo. `Ok(Err(_))` is a
/// refused photo; `Err(_)` a failure of facecmp itself.
pub fn prepare_sample(
    pipeline: &Pipeline,
    input: &str,
    bytes: &[u8],
    policy: &EnrolPolicy,
) -> Result<std::result::Result<NewSample, Rejection>, facecmp::Error> {
    let photo = match pipeline.open_bytes(input, bytes) {
        Ok(photo) => photo,
        Err(error) if error.is_input_error() => {
            return Ok(Err(Rejection::BadImage { detail: error.to_string() }));
        }
        Err(error) => return Err(error),
    };
    let face = match enrol::review(&photo, &policy.quality) {
        Ok(face) => face,
        Err(rejection) => return Ok(Err(rejection)),
    };
    let embedding = pipeline.embed(&photo, &[face])?.swap_remove(0);
    Ok(Ok(NewSample {
        embedding,
        detector_score: photo.faces[face].score,
        face_size: photo.faces[face].size(),
        image_sha256: image_sha256(bytes),
        thumbnail_jpeg: Some(crops::face_jpeg(&photo, face)),
    }))
}

/// Reduces a camera photo to the face it is judged by (see [`Probe`]).
pub fn probe(
    pipeline: &Pipeline,
    input: &str,
    bytes: &[u8],
    quality: &QualityPolicy,
    allow_multiple_faces: bool,
) -> Probe {
    probe_for_zone(
        pipeline,
        input,
        bytes,
        quality,
        &ZonePolicy { allow_multiple_faces, ..ZonePolicy::default() },
    )
}

/// [`probe`] under a zone's whole policy: the chosen face's crop is kept
/// when the zone keeps probe crops (made from the photo the face was
/// embedded from, only once the photo passed every check).
pub fn probe_for_zone(
    pipeline: &Pipeline,
    input: &str,
    bytes: &[u8],
    quality: &QualityPolicy,
    zone: &ZonePolicy,
) -> Probe {
    let mut crop = None;
    let probe = Probe::from_photo(
        pipeline.open_bytes(input, bytes),
        quality,
        zone.allow_multiple_faces,
        |photo: &Photo, face| {
            if zone.keeps_probe_crops() {
                crop = Some(ProbeCrop::of(photo, face));
            }
            Ok(pipeline.embed(photo, &[face])?.swap_remove(0))
        },
    );
    probe.with_crop(crop)
}

/// Reviews and embeds a stored probe crop as a reference sample: the same
/// review as an uploaded photo (one clear face, large enough) on the crop,
/// and, since the crop is resampled to a fixed size, the face's size and
/// score in the original camera photo are held to the same limits.
pub fn prepare_sample_from_crop(
    pipeline: &Pipeline,
    crop: &ProbeCrop,
    policy: &EnrolPolicy,
) -> Result<std::result::Result<NewSample, Rejection>, facecmp::Error> {
    let quality = &policy.quality;
    if crop.face_size < quality.min_face_size {
        return Ok(Err(Rejection::TooSmall { size: crop.face_size, min: quality.min_face_size }));
    }
    if crop.detector_score < quality.min_score {
        return Ok(Err(Rejection::LowScore { score: crop.detector_score, min: quality.min_score }));
    }
    prepare_sample(pipeline, "probe crop", &crop.jpeg, policy)
}

/// The candidates for one face of a photo.
#[derive(Debug, Clone)]
pub struct FaceCandidates {
    /// The face's index in [`Photo::faces`].
    pub face: usize,
    pub candidates: Vec<Identification>,
}

impl Gallery {
    /// Ranks the enrolled people for every usable face of a photo, largest
    /// face first (the CLI's `identify` and the service's `/v1/identify`).
    pub fn identify_photo(
        &self,
        pipeline: &Pipeline,
        photo: &Photo,
        top: usize,
        zone: Option<&str>,
        threshold: f32,
    ) -> std::result::Result<Vec<FaceCandidates>, IdentifyError> {
        let mut usable = pipeline.face_policy().usable_or_why(photo)?.usable;
        usable.sort_by(|&a, &b| photo.faces[b].bbox.area().total_cmp(&photo.faces[a].bbox.area()));
        let embeddings = pipeline.embed(photo, &usable)?;
        usable
            .iter()
            .zip(&embeddings)
            .map(|(&face, embedding)| {
                Ok(FaceCandidates { face, candidates: self.identify(embedding, top, zone, threshold)? })
            })
            .collect()
    }

    /// The whole access check for one camera photo: zone policy, probe,
    /// match, grants, and the audit record (with the probe's crop when the
    /// zone keeps them). An `Err` means the decision
    /// could not be recorded: the door stays shut.
    pub fn access(
        &self,
        pipeline: &Pipeline,
        zone: &str,
        input: &str,
        bytes: &[u8],
        quality: &QualityPolicy,
        threshold: f32,
    ) -> Result<AccessDecision> {
        validate_name("zone", zone)?;
        let policy = self.zone(zone)?.map(|zone| zone.policy()).unwrap_or_default();
        let probe = probe_for_zone(pipeline, input, bytes, quality, &policy);
        self.decide_access(zone, &probe, Some(&image_sha256(bytes)), threshold)
    }
}
