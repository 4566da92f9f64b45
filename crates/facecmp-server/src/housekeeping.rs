//! Work on a timer beside the requests: deleting probe crops past their
//! zone's retention.
//!
//! Every recorded decision already deletes the crops that have expired, but
//! a quiet gallery may see no decision for days, and a face must not stay
//! on disk past its time just because nobody used the door.

use std::sync::{Arc, Weak};
use std::time::Duration;

use facecmp_gallery::Gallery;

/// How often expired crops are looked for. Retention is counted in minutes
/// at the least ([`MIN_RETENTION_S`]), and the purge is an index range
/// scan that finds nothing most of the time.
///
/// [`MIN_RETENTION_S`]: facecmp_gallery::crops::MIN_RETENTION_S
pub const PURGE_EVERY: Duration = Duration::from_secs(60);

/// Purges expired crops every `every` on a thread of its own, for as long
/// as the gallery is in use (the thread holds it only while purging).
pub fn start(gallery: &Arc<Gallery>, every: Duration) {
    let gallery = Arc::downgrade(gallery);
    let spawned = std::thread::Builder::new()
        .name("facecmp-purge".into())
        .spawn(move || purge_until_dropped(&gallery, every));
    if let Err(error) = spawned {
        tracing::warn!(%error, "no purge thread: expired probe crops go only as decisions are recorded");
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
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test: a panic is its failure report

    use std::time::Instant;

    use facecmp::{Config, Pipeline};
    use facecmp_gallery::store::{DecisionRecord, Evidence};
    use facecmp_gallery::{ProbeCrop, ZonePolicy};

    use super::*;

    #[test]
    fn expired_crops_go_without_any_decision_and_the_thread_ends_with_the_gallery() {
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
        let rows = rusqlite::Connection::open(&path).unwrap();
        let count =
            || rows.query_row("SELECT COUNT(*) FROM probe_crops", [], |row| row.get::<_, i64>(0)).unwrap();
        assert_eq!(count(), 1);

        let weak = Arc::downgrade(&gallery);
        let purger = std::thread::spawn(move || purge_until_dropped(&weak, Duration::from_millis(10)));
        let start = Instant::now();
        while count() > 0 {
            assert!(start.elapsed() < Duration::from_secs(10), "the expired crop is still stored");
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(gallery);
        purger.join().unwrap();
    }
}
