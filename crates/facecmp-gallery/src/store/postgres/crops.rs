//! Probe crops in PostgreSQL: kept with a decision when its zone says so,
//! re-dated or deleted when the zone's retention changes, purged once
//! expired, and never read back past their expiry.

use postgres::GenericClient;

use super::connection::pg_error;
use crate::crops::{ProbeCrop, StoredCrop};
use crate::error::Result;
use crate::ids::image_sha256;
use crate::store::api::DecisionRecord;

/// Stores a decision's crop when its zone keeps crops (the zone's policy as
/// of this transaction); an unknown zone, or one that keeps none, stores nothing.
pub(super) fn keep_crop(
    client: &mut impl GenericClient,
    location: &str,
    event_id: i64,
    record: &DecisionRecord<'_>,
    crop: &ProbeCrop,
) -> Result<()> {
    let retention: Option<i64> = client
        .query_opt("SELECT probe_crops_retention_s FROM zones WHERE name = $1", &[&record.zone])
        .map_err(|e| pg_error(location, e))?
        .and_then(|row| row.get(0));
    let Some(retention) = retention else { return Ok(()) };
    client
        .execute(
            "INSERT INTO probe_crops (event_id, zone, time, expires, jpeg, jpeg_sha256, face_size, detector_score)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &event_id,
                &record.zone,
                &record.time,
                &record.time.saturating_add(retention),
                &crop.jpeg,
                &image_sha256(&crop.jpeg),
                &crop.face_size,
                &crop.detector_score,
            ],
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(())
}

/// A zone's crops after its retention changed: re-dated, or deleted when it is off.
pub(super) fn redate_crops(
    client: &mut impl GenericClient,
    location: &str,
    zone: &str,
    retention: Option<i64>,
) -> Result<()> {
    match retention {
        Some(retention) => {
            client.execute("UPDATE probe_crops SET expires = time + $2 WHERE zone = $1", &[&zone, &retention])
        }
        None => client.execute("DELETE FROM probe_crops WHERE zone = $1", &[&zone]),
    }
    .map_err(|e| pg_error(location, e))
    .map(drop)
}

/// Deletes every crop expired at `now` (an index range scan: cheap when
/// there is nothing to delete).
pub(super) fn purge_crops(client: &mut impl GenericClient, location: &str, now: i64) -> Result<usize> {
    let deleted = client
        .execute("DELETE FROM probe_crops WHERE expires <= $1", &[&now])
        .map_err(|e| pg_error(location, e))?;
    Ok(deleted as usize)
}

pub(super) fn probe_crop(
    client: &mut impl GenericClient,
    location: &str,
    event_id: i64,
    now: i64,
) -> Result<Option<StoredCrop>> {
    let row = client
        .query_opt(
            "SELECT zone, time, expires, jpeg, face_size, detector_score FROM probe_crops
             WHERE event_id = $1 AND expires > $2",
            &[&event_id, &now],
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(row.map(|row| StoredCrop {
        event_id,
        zone: row.get(0),
        time: row.get(1),
        expires: row.get(2),
        crop: ProbeCrop { jpeg: row.get(3), face_size: row.get(4), detector_score: row.get(5) },
    }))
}
