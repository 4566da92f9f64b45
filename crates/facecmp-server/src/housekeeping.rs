//! Work on a timer beside the requests: deleting probe crops past their
//! zone's retention, and indexed appearances (with their vectors and
//! thumbnails) past their source's.
//!
//! Every recorded decision already deletes the crops that have expired, and
//! reads never show an expired appearance, but a quiet gallery may see no
//! decision for days, and a face must not stay on disk past its time just
//! because nobody used the door or searched the footage.

use std::sync::{Arc, Weak};
use std::time::Duration;

use facecmp_gallery::Gallery;

/// How often expired crops and appearances are looked for. Retention is
/// counted in minutes at the least ([`MIN_RETENTION_S`]), and each purge is
/// an index range scan that finds nothing most of the time.
///
/// [`MIN_RETENTION_S`]: facecmp_gallery::crops::MIN_RETENTION_S
pub const PURGE_EVERY: Duration = Duration::from_secs(60);

/// Purges expired crops and appearances every `every` on a thread of its
/// own, for as long as the gallery is in use (the thread holds it only
/// while purging).
pub fn start(gallery: &Arc<Gallery>, every: Duration) {
    let gallery = Arc::downgrade(gallery);
    let spawned = std::thread::Builder::new()
        .name("facecmp-purge".into())
        .spawn(move || purge_until_dropped(&gallery, every));
    if let Err(error) = spawned {
        tracing::warn!(
            %error,
            "no purge thread: expired probe crops go only as decisions are recorded, \
             expired appearances only when `facecmp index` runs"
        );
    }
}

fn purge_until_dropped(gallery: &Weak<Gallery>, every: Duration) {
    loop {
        std::thread::sleep(every);
        let Some(gallery) = gallery.upgrade() else { return };
        match gallery.purge_expired_probe_crops() {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "deleted probe crops past their zone's retention"),
            Err(error) => tracing::warn!(%error, "purging expired probe crops failed; trying again later"),
        }
        match gallery.purge_expired_appearances() {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "deleted indexed appearances past their source's retention"),
            Err(error) => tracing::warn!(%error, "purging expired appearances failed; trying again later"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test: a panic is its failure report

    use std::time::Instant;

    use facecmp::{Config, Pipeline};
    use facecmp_gallery::store::{DecisionRecord, Evidence};
    use facecmp_gallery::{
        AppearanceBatch, FaceBox, FaceVector, NewAppearance, NewSource, ProbeCrop, SourceKind, ZonePolicy,
    };

    use super::*;

    /// An appearance a camera saw two hours ago, kept for one hour.
    fn expired_appearance(gallery: &Gallery) {
        let camera = NewSource {
            kind: SourceKind::Camera,
            name: "lobby".into(),
            sha256: None,
            retention_s: Some(3_600),
        };
        let source = gallery.upsert_source(&camera).unwrap();
        let embedder = gallery.embedder();
        let mut vector = vec![0.0; embedder.dimension];
        vector[0] = 1.0;
        let seen_ms = (facecmp_gallery::gallery::now() - 7_200) * 1_000;
        let appearance = NewAppearance {
            track: 1,
            media_start_ms: 0,
            media_end_ms: 1_000,
            wall_start_ms: Some(seen_ms - 1_000),
            wall_end_ms: Some(seen_ms),
            face: FaceBox { x: 10.0, y: 10.0, w: 80.0, h: 80.0 },
            detector_score: 0.9,
            vectors: vec![FaceVector { vector, embedder_sha256: embedder.sha256.clone() }],
            thumbnail_jpeg: Some(vec![0xff, 0xd8, 0xff, 0xd9]),
            person: None,
            cluster: None,
        };
        let batch = AppearanceBatch {
            source: source.id,
            appearances: vec![appearance],
            indexed_until_ms: 1_000,
            ..AppearanceBatch::default()
        };
        gallery.write_appearances(&batch).unwrap();
    }

    #[test]
    fn expired_crops_and_appearances_go_without_any_decision_and_the_thread_ends_with_the_gallery() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gallery.db");
        let pipeline = Pipeline::load(Config::default()).unwrap();
        let gallery = Arc::new(Gallery::create(&path, pipeline.embedder()).unwrap());
        let hour = ZonePolicy { probe_crops_retention_s: Some(3_600), ..ZonePolicy::default() };
        gallery.set_zone("lobby", &hour).unwrap();
        let crop = ProbeCrop { jpeg: vec![0xff, 0xd8, 0xff, 0xd9], face_size: 120.0, detector_score: 0.9 };
        // A decision two hours old, as the store lets a test date it.
        let record = DecisionRecord {
            zone: "lobby",
            time: facecmp_gallery::gallery::now() - 7_200,
            evidence: Evidence::Matches(&[]),
            threshold: 0.36,
            image_sha256: None,
            source: None,
            track: None,
            probe_crop: Some(&crop),
        };
        gallery.store().decide_and_record(&record).unwrap();
        expired_appearance(&gallery);
        let rows = rusqlite::Connection::open(&path).unwrap();
        let count = || {
            rows.query_row(
                "SELECT (SELECT COUNT(*) FROM probe_crops) + (SELECT COUNT(*) FROM appearances) \
                 + (SELECT COUNT(*) FROM appearance_vectors)",
                [],
                |row| row.get::<_, i64>(0),
            )
            .unwrap()
        };
        assert_eq!(count(), 3, "a crop, an appearance and its vector");

        let weak = Arc::downgrade(&gallery);
        let purger = std::thread::spawn(move || purge_until_dropped(&weak, Duration::from_millis(10)));
        let start = Instant::now();
        while count() > 0 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "an expired crop or appearance is still stored"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(gallery);
        purger.join().unwrap();
    }
}
