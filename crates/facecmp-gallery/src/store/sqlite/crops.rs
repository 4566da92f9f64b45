//! Probe crops in SQLite: kept with a decision when its zone says so,
//! re-dated or deleted when the zone's retention changes, purged once
//! expired, and never read back past their expiry.

use rusqlite::{Connection, OptionalExtension, params};

use super::connection::AtPath;
use crate::crops::{ProbeCrop, StoredCrop};
use crate::error::Result;
use crate::ids::image_sha256;
use crate::store::api::DecisionRecord;

/// Stores a decision's crop when its zone keeps crops (the zone's policy as
/// of this transaction); an unknown zone, or one that keeps none, stores nothing.
pub(super) fn keep_crop(
    db: &Connection,
    path: &str,
    event_id: i64,
    record: &DecisionRecord<'_>,
    crop: &ProbeCrop,
) -> Result<()> {
    let retention: Option<i64> = db
        .query_row("SELECT probe_crops_retention_s FROM zones WHERE name = ?1", [record.zone], |row| {
            row.get(0)
        })
        .optional()
        .at(path)?
        .flatten();
    let Some(retention) = retention else { return Ok(()) };
    db.execute(
        "INSERT INTO probe_crops (event_id, zone, time, expires, jpeg, jpeg_sha256, face_size, detector_score)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            event_id,
            record.zone,
            record.time,
            record.time.saturating_add(retention),
            crop.jpeg,
            image_sha256(&crop.jpeg),
            crop.face_size,
            crop.detector_score
        ],
    )
    .at(path)?;
    Ok(())
}

/// A zone's crops after its retention changed: re-dated, or deleted when it is off.
pub(super) fn redate_crops(db: &Connection, path: &str, zone: &str, retention: Option<i64>) -> Result<()> {
    match retention {
        Some(retention) => {
            db.execute("UPDATE probe_crops SET expires = time + ?2 WHERE zone = ?1", params![zone, retention])
        }
        None => db.execute("DELETE FROM probe_crops WHERE zone = ?1", [zone]),
    }
    .at(path)
    .map(drop)
}

/// Deletes every crop expired at `now` (an index range scan: cheap when
/// there is nothing to delete).
pub(super) fn purge_crops(db: &Connection, path: &str, now: i64) -> Result<usize> {
    db.execute("DELETE FROM probe_crops WHERE expires <= ?1", [now]).at(path)
}

pub(super) fn probe_crop(db: &Connection, path: &str, event_id: i64, now: i64) -> Result<Option<StoredCrop>> {
    db.prepare_cached(
        "SELECT zone, time, expires, jpeg, face_size, detector_score FROM probe_crops
         WHERE event_id = ?1 AND expires > ?2",
    )
    .and_then(|mut statement| {
        statement
            .query_row(params![event_id, now], |row| {
                Ok(StoredCrop {
                    event_id,
                    zone: row.get(0)?,
                    time: row.get(1)?,
                    expires: row.get(2)?,
                    crop: ProbeCrop {
                        jpeg: row.get(3)?,
                        face_size: row.get(4)?,
                        detector_score: row.get(5)?,
                    },
                })
            })
            .optional()
    })
    .at(path)
}
