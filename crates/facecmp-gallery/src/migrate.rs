//! Moving a gallery to another embedder.
//!
//! A gallery is pinned to the embedder that made its vectors: vectors of two
//! networks cannot be compared. What can be moved is everything else, and
//! every sample that kept its face thumbnail: the thumbnail is run through
//! the new pipeline (detected, reviewed, embedded) and enrolled again under
//! the same person. Zones and grants are copied as they are. The audit
//! trail, probe crops and indexed footage stay with the old gallery, which
//! is left untouched: they record what the old embedder decided and saw.

use facecmp::Pipeline;
use serde::Serialize;

use crate::enrol::{EnrolPolicy, THUMBNAIL_QUALITY};
use crate::gallery::Gallery;
use crate::model::Sample;
use crate::{GalleryError, Rejection, prepare_sample};

/// Moving fails on the new pipeline (its models) or on either gallery; a
/// sample it cannot move is not a failure but a [`SampleLeft`].
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Pipeline(#[from] facecmp::Error),
    #[error(transparent)]
    Gallery(#[from] GalleryError),
}

type Result<T> = std::result::Result<T, MigrateError>;

/// What [`migrate`] did, sample by sample where it could not.
#[derive(Debug, Default, Serialize)]
pub struct MigrationReport {
    pub people: usize,
    pub samples_moved: usize,
    /// Samples that could not be moved: no thumbnail, or the new pipeline
    /// refused it. Their people must enrol those photos again.
    pub samples_left: Vec<SampleLeft>,
    pub zones: usize,
    pub grants: usize,
}

#[derive(Debug, Serialize)]
pub struct SampleLeft {
    pub person: String,
    pub sample: i64,
    pub reason: String,
}

/// How many of a gallery's samples could be re-embedded by [`migrate`]:
/// those that kept a thumbnail.
pub fn movable_samples(samples: &[Sample]) -> usize {
    samples.iter().filter(|sample| sample.has_thumbnail).count()
}

/// Copies `source` into the empty gallery `target` (made for `pipeline`'s
/// embedder): people with every sample that can be re-embedded, then zones
/// and grants. `on_sample` is called after each sample, for progress.
pub fn migrate(
    source: &Gallery,
    target: &Gallery,
    pipeline: &Pipeline,
    mut on_sample: impl FnMut(&Sample),
) -> Result<MigrationReport> {
    let mut report = MigrationReport::default();
    let policy = EnrolPolicy { quality: THUMBNAIL_QUALITY, strict: None };
    for person in source.people()? {
        report.people += 1;
        for sample in source.samples(Some(&person.name))? {
            match move_sample(source, target, pipeline, &policy, person.external_id.as_deref(), &sample)? {
                Ok(()) => report.samples_moved += 1,
                Err(reason) => report.samples_left.push(SampleLeft {
                    person: person.name.clone(),
                    sample: sample.id,
                    reason,
                }),
            }
            on_sample(&sample);
        }
    }
    for zone in source.zones()? {
        target.set_zone(&zone.name, &zone.policy())?;
        report.zones += 1;
    }
    for grant in source.grants(None, None)? {
        // A grant names a person who must exist in the target: one whose
        // every sample was left behind has no record there to grant.
        if target.person(&grant.person).is_ok() {
            target.grant(&grant.person, &grant.zone, grant.valid_from, grant.valid_until)?;
            report.grants += 1;
        }
    }
    Ok(report)
}

/// One sample: `Ok(Err(reason))` when it stays behind.
fn move_sample(
    source: &Gallery,
    target: &Gallery,
    pipeline: &Pipeline,
    policy: &EnrolPolicy,
    external_id: Option<&str>,
    sample: &Sample,
) -> Result<std::result::Result<(), String>> {
    let Some(jpeg) = source.sample_thumbnail(&sample.person, sample.id)? else {
        return Ok(Err("no thumbnail was kept".to_string()));
    };
    let input = format!("sample {} of {}", sample.id, sample.person);
    let prepared = match prepare_sample(pipeline, &input, &jpeg, policy)? {
        Ok(prepared) => prepared,
        Err(rejection) => return Ok(Err(describe(&rejection))),
    };
    Ok(match target.enrol(&sample.person, external_id, &prepared, None)? {
        Ok(_) => Ok(()),
        Err(rejection) => Err(describe(&rejection)),
    })
}

fn describe(rejection: &Rejection) -> String {
    format!("{}: {rejection}", rejection.code())
}
