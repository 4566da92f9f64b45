//! Zones, grants and the audit trail in PostgreSQL: the access decision is
//! decided and recorded in one transaction, with its probe crop and the
//! purge of expired ones.

use std::collections::HashSet;

use postgres::GenericClient;

use super::changes::Reader;
use super::connection::pg_error;
use super::crops::{keep_crop, purge_crops, redate_crops};
use super::people::person_id;
use crate::error::Result;
use crate::model::{Decision, Event, EventQuery, Grant, Reason, Zone, ZonePolicy};
use crate::store::api::{DecisionRecord, RecordedDecision, StoreReader};
use crate::store::common::{decide_verdict, names_person, typed_event};

pub(super) fn zones(
    client: &mut impl GenericClient,
    location: &str,
    name: Option<&str>,
) -> Result<Vec<Zone>> {
    let rows = client
        .query(
            "SELECT z.id, z.name, z.allow_multiple_faces, z.created,
                    (SELECT COUNT(*) FROM grants g WHERE g.zone_id = z.id), z.probe_crops_retention_s
             FROM zones z WHERE $1::TEXT IS NULL OR z.name = $1 ORDER BY z.name",
            &[&name],
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(rows
        .iter()
        .map(|row| Zone {
            id: row.get(0),
            name: row.get(1),
            allow_multiple_faces: row.get(2),
            probe_crops_retention_s: row.get(5),
            created: row.get(3),
            people: row.get::<_, i64>(4) as usize,
        })
        .collect())
}

/// In a write transaction.
pub(super) fn set_zone(
    transaction: &mut impl GenericClient,
    location: &str,
    name: &str,
    policy: &ZonePolicy,
    time: i64,
) -> Result<()> {
    transaction
        .execute(
            "INSERT INTO zones (name, allow_multiple_faces, probe_crops_retention_s, created)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET allow_multiple_faces = excluded.allow_multiple_faces,
               probe_crops_retention_s = excluded.probe_crops_retention_s",
            &[&name, &policy.allow_multiple_faces, &policy.probe_crops_retention_s, &time],
        )
        .map_err(|e| pg_error(location, e))?;
    redate_crops(transaction, location, name, policy.probe_crops_retention_s)?;
    purge_crops(transaction, location, time).map(drop)
}

/// In a write transaction.
pub(super) fn grant(transaction: &mut impl GenericClient, location: &str, grant: &Grant) -> Result<()> {
    let person_id = person_id(transaction, location, &grant.person)?;
    transaction
        .execute(
            "INSERT INTO zones (name, created) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&grant.zone, &grant.created],
        )
        .map_err(|e| pg_error(location, e))?;
    transaction
        .execute(
            "INSERT INTO grants (person_id, zone_id, valid_from, valid_until, created)
             VALUES ($1, (SELECT id FROM zones WHERE name = $2), $3, $4, $5)
             ON CONFLICT (person_id, zone_id) DO UPDATE
               SET valid_from = excluded.valid_from, valid_until = excluded.valid_until",
            &[&person_id, &grant.zone, &grant.valid_from, &grant.valid_until, &grant.created],
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(())
}

/// In a write transaction.
pub(super) fn revoke(
    transaction: &mut impl GenericClient,
    location: &str,
    person: &str,
    zone: &str,
) -> Result<bool> {
    let person_id = person_id(transaction, location, person)?;
    let removed = transaction
        .execute(
            "DELETE FROM grants WHERE person_id = $1 AND zone_id = (SELECT id FROM zones WHERE name = $2)",
            &[&person_id, &zone],
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(removed > 0)
}

pub(super) fn grants(
    client: &mut impl GenericClient,
    location: &str,
    zone: Option<&str>,
    person: Option<&str>,
) -> Result<Vec<Grant>> {
    let rows = client
        .query(
            "SELECT p.name, z.name, g.valid_from, g.valid_until, g.created
             FROM grants g JOIN people p ON p.id = g.person_id JOIN zones z ON z.id = g.zone_id
             WHERE ($1::TEXT IS NULL OR z.name = $1) AND ($2::TEXT IS NULL OR p.name = $2)
             ORDER BY z.name, p.name",
            &[&zone, &person],
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(rows
        .iter()
        .map(|row| Grant {
            person: row.get(0),
            zone: row.get(1),
            valid_from: row.get(2),
            valid_until: row.get(3),
            created: row.get(4),
        })
        .collect())
}

pub(super) fn granted_people(
    client: &mut impl GenericClient,
    location: &str,
    zone: &str,
    time: i64,
) -> Result<HashSet<i64>> {
    let rows = client
        .query(
            "SELECT g.person_id FROM grants g JOIN zones z ON z.id = g.zone_id
             WHERE z.name = $1 AND (g.valid_from IS NULL OR g.valid_from <= $2)
               AND (g.valid_until IS NULL OR $2 < g.valid_until)",
            &[&zone, &time],
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// In a transaction (a decision moves no revision).
pub(super) fn decide_and_record(
    transaction: &mut impl GenericClient,
    location: &str,
    record: &DecisionRecord<'_>,
) -> Result<RecordedDecision> {
    let verdict = decide_verdict(&mut Reader { client: &mut *transaction, location }, record)?;
    let best = verdict.best.as_ref();
    let event_id: i64 = transaction
        .query_one(
            "INSERT INTO events (time, zone, decision, reason, person_id, similarity, image_sha256,
                                 source, track)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            &[
                &record.time,
                &record.zone,
                &Decision::of(verdict.allowed()).as_str(),
                &verdict.reason.as_str(),
                &best.map(|b| b.person_id),
                &best.map(|b| b.similarity),
                &record.image_sha256,
                &record.source,
                &record.track,
            ],
        )
        .map_err(|e| pg_error(location, e))?
        .get(0);
    if let Some(crop) = record.probe_crop {
        keep_crop(transaction, location, event_id, record, crop)?;
    }
    purge_crops(transaction, location, record.time)?;
    let person = match best {
        Some(best) if names_person(verdict.reason) => {
            Reader { client: &mut *transaction, location }.person_name(best.person_id)?
        }
        _ => None,
    };
    Ok(RecordedDecision { verdict, event_id, person })
}

/// The events `query` selects; a crop counts as held while it is unexpired at `now`.
pub(super) fn events(
    client: &mut impl GenericClient,
    location: &str,
    query: &EventQuery,
    now: i64,
) -> Result<Vec<Event>> {
    let rows = client
        .query(
            "SELECT e.id, e.time, e.zone, e.decision, e.reason, p.name, e.similarity, e.image_sha256,
                    e.tombstone, e.source, e.track, c.expires
             FROM events e LEFT JOIN people p ON p.id = e.person_id
                  LEFT JOIN probe_crops c ON c.event_id = e.id
             WHERE ($1::TEXT IS NULL OR e.zone = $1) AND ($2::TEXT IS NULL OR e.decision = $2)
               AND ($3::BIGINT IS NULL OR e.time >= $3) AND ($4::BIGINT IS NULL OR e.time < $4)
               AND ($5::BIGINT IS NULL OR e.id < $5) AND ($6::TEXT IS NULL OR e.reason = $6)
               AND ($7::TEXT IS NULL OR p.name = $7) AND ($8::TEXT IS NULL OR e.source = $8)
             ORDER BY e.id DESC LIMIT $9",
            &[
                &query.zone,
                &query.decision.map(Decision::as_str),
                &query.since,
                &query.until,
                &query.before,
                &query.reason.map(Reason::as_str),
                &query.person,
                &query.source,
                &(query.page_size() as i64),
            ],
        )
        .map_err(|e| pg_error(location, e))?;
    rows.iter()
        .map(|row| {
            let event = Event {
                id: row.get(0),
                time: row.get(1),
                zone: row.get(2),
                decision: Decision::Deny,
                reason: Reason::InternalError,
                person: row.get(5),
                similarity: row.get(6),
                image_sha256: row.get(7),
                tombstone: row.get(8),
                source: row.get(9),
                track: row.get(10),
                has_probe_crop: row.get::<_, Option<i64>>(11).is_some_and(|expires| expires > now),
            };
            typed_event(location, row.get(3), row.get(4), event)
        })
        .collect()
}
