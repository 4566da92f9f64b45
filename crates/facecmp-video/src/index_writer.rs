//! What an indexed appearance becomes in the gallery: a row with its times,
//! best face, vectors and thumbnail, matched against the enrolled people
//! (so that erasing a person erases where they were seen). Shared by
//! `facecmp index` and the cameras of `facecmp serve --index`.

use facecmp::Pipeline;
use facecmp_gallery::appearances::MAX_VECTORS;
use facecmp_gallery::crops::encode_jpeg;
use facecmp_gallery::{AppearanceBatch, FaceBox, FaceVector, Gallery, NewAppearance, Result, Source};

use crate::index::{IndexBatch, IndexedAppearance};

/// Writes the batches of one source.
pub struct AppearanceWriter<'a> {
    pub pipeline: &'a Pipeline,
    pub gallery: &'a Gallery,
    /// The similarity at which an appearance is matched to an enrolled person.
    pub threshold: f32,
    pub source: Source,
    /// A camera: its appearances keep their wall-clock times (a file's
    /// wall clock is only when it was read, which says nothing).
    pub live: bool,
}

/// One appearance as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct WrittenAppearance {
    pub id: i64,
    /// The enrolled person it was matched to.
    pub person: Option<String>,
}

impl AppearanceWriter<'_> {
    /// Writes one batch and the source's progress in one transaction;
    /// returns the stored appearances in the batch's order.
    pub fn write(&self, batch: &IndexBatch) -> Result<Vec<WrittenAppearance>> {
        let mut rows = Vec::with_capacity(batch.appearances.len());
        let mut people = Vec::with_capacity(batch.appearances.len());
        for appearance in &batch.appearances {
            let person = self.match_person(appearance)?;
            rows.push(self.row(appearance, person.as_ref().map(|(_, id)| *id)));
            people.push(person.map(|(name, _)| name));
        }
        let ids = self.gallery.write_appearances(&AppearanceBatch {
            source: self.source.id,
            appearances: rows,
            indexed_until_ms: millis(batch.resume_at),
            indexed_until_bytes: 0,
            complete: batch.finished,
        })?;
        Ok(ids.into_iter().zip(people).map(|(id, person)| WrittenAppearance { id, person }).collect())
    }

    /// The enrolled person the appearance's best face is, if any.
    fn match_person(&self, appearance: &IndexedAppearance) -> Result<Option<(String, i64)>> {
        let Some(best) = appearance.faces.first() else { return Ok(None) };
        let found = self.gallery.identify(&best.embedding, 1, None, self.threshold)?;
        let Some(matched) = found.into_iter().find(|f| f.matched) else { return Ok(None) };
        let id = self.gallery.person(&matched.person)?.id;
        Ok(Some((matched.person, id)))
    }

    fn row(&self, appearance: &IndexedAppearance, person: Option<i64>) -> NewAppearance {
        let best = &appearance.faces[0];
        let embedder = &self.pipeline.embedder().sha256;
        NewAppearance {
            track: appearance.track as i64,
            media_start_ms: millis(appearance.start),
            media_end_ms: millis(appearance.end),
            wall_start_ms: self.live.then(|| millis(appearance.wall_start)),
            wall_end_ms: self.live.then(|| millis(appearance.wall_end)),
            face: FaceBox {
                x: best.face.bbox.x,
                y: best.face.bbox.y,
                w: best.face.bbox.width,
                h: best.face.bbox.height,
            },
            detector_score: best.face.score,
            vectors: appearance
                .faces
                .iter()
                .take(MAX_VECTORS)
                .map(|f| FaceVector {
                    vector: f.embedding.as_slice().to_vec(),
                    embedder_sha256: embedder.clone(),
                })
                .collect(),
            thumbnail_jpeg: best.crop.as_ref().map(encode_jpeg),
            person,
            cluster: None,
        }
    }
}

fn millis(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}
