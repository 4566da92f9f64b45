//! People and their samples in PostgreSQL: listing, enrolment (with the
//! caller's `--strict` check inside the write), bulk import, erasure (with
//! the appearances matched to the person) and the samples' thumbnails.

use std::collections::HashMap;

use postgres::GenericClient;
use postgres::error::SqlState;

use super::appearances::delete_appearances;
use super::changes::{Reader, log_change};
use super::connection::pg_error;
use crate::enrol::Rejection;
use crate::error::{GalleryError, Result};
use crate::model::{Enrolled, Person, Sample};
use crate::store::api::{EnrolCheck, SampleRecord};
use crate::store::common::{external_id_taken, split_names, vector_bytes};

const INSERT_SAMPLE: &str = "INSERT INTO samples (person_id, embedding, embedder, detector_score, face_size,
                                           image_sha256, thumbnail, created)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";

/// Inserts one sample of `person_id` with [`INSERT_SAMPLE`] (as text, or
/// prepared once for a bulk import); returns its id.
fn insert_sample(
    client: &mut impl GenericClient,
    location: &str,
    statement: &(impl postgres::ToStatement + ?Sized),
    person_id: i64,
    sample: &SampleRecord<'_>,
) -> Result<i64> {
    let row = client
        .query_one(
            statement,
            &[
                &person_id,
                &vector_bytes(sample.vector),
                &sample.embedder_sha256,
                &sample.detector_score,
                &sample.face_size,
                &sample.image_sha256,
                &sample.thumbnail_jpeg,
                &sample.time,
            ],
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(row.get(0))
}

pub(super) fn person_id(client: &mut impl GenericClient, location: &str, name: &str) -> Result<i64> {
    client
        .query_opt("SELECT id FROM people WHERE name = $1", &[&name])
        .map_err(|e| pg_error(location, e))?
        .map(|row| row.get(0))
        .ok_or_else(|| GalleryError::NoSuchPerson(name.to_string()))
}

pub(super) fn people(
    client: &mut impl GenericClient,
    location: &str,
    name: Option<&str>,
) -> Result<Vec<Person>> {
    let rows = client
        .query(
            "SELECT p.id, p.name, p.external_id, p.created,
                    (SELECT COUNT(*) FROM samples s WHERE s.person_id = p.id),
                    (SELECT string_agg(z.name, chr(31)) FROM grants g JOIN zones z ON z.id = g.zone_id
                      WHERE g.person_id = p.id)
             FROM people p WHERE $1::TEXT IS NULL OR p.name = $1 ORDER BY p.name",
            &[&name],
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(rows
        .iter()
        .map(|row| Person {
            id: row.get(0),
            name: row.get(1),
            external_id: row.get(2),
            created: row.get(3),
            samples: row.get::<_, i64>(4) as usize,
            zones: split_names(row.get(5)),
        })
        .collect())
}

pub(super) fn person_names(
    client: &mut impl GenericClient,
    location: &str,
    ids: &[i64],
) -> Result<HashMap<i64, (String, Option<String>)>> {
    let rows = client
        .query("SELECT id, name, external_id FROM people WHERE id = ANY($1)", &[&ids])
        .map_err(|e| pg_error(location, e))?;
    Ok(rows.iter().map(|row| (row.get(0), (row.get(1), row.get(2)))).collect())
}

/// In a write transaction, logging under `revision`.
pub(super) fn enrol(
    transaction: &mut impl GenericClient,
    location: &str,
    revision: i64,
    sample: &SampleRecord<'_>,
    check: &mut EnrolCheck<'_>,
) -> Result<std::result::Result<Enrolled, Rejection>> {
    let existing: Option<i64> = transaction
        .query_opt("SELECT id FROM people WHERE name = $1", &[&sample.name])
        .map_err(|e| pg_error(location, e))?
        .map(|row| row.get(0));
    if let Some(person_id) = existing {
        let duplicate = transaction
            .query_opt(
                "SELECT 1 FROM samples WHERE person_id = $1 AND image_sha256 = $2",
                &[&person_id, &sample.image_sha256],
            )
            .map_err(|e| pg_error(location, e))?;
        if duplicate.is_some() {
            return Ok(Err(Rejection::AlreadyEnrolled));
        }
    }
    if let Some(rejection) = check(&mut Reader { client: &mut *transaction, location }, existing)? {
        return Ok(Err(rejection));
    }
    let person_id = match existing {
        Some(id) => id,
        None => {
            let inserted = transaction.query_one(
                "INSERT INTO people (name, external_id, created) VALUES ($1, $2, $3) RETURNING id",
                &[&sample.name, &sample.external_id, &sample.time],
            );
            match inserted {
                Ok(row) => row.get(0),
                Err(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    return Err(external_id_taken(sample));
                }
                Err(error) => return Err(pg_error(location, error)),
            }
        }
    };
    let sample_id = insert_sample(transaction, location, INSERT_SAMPLE, person_id, sample)?;
    log_change(transaction, location, revision, "add", Some(sample_id), Some(person_id))?;
    Ok(Ok(Enrolled {
        person: sample.name.to_string(),
        person_id,
        sample: sample_id,
        new_person: existing.is_none(),
    }))
}

/// In a write transaction, logging under `revision`.
pub(super) fn import(
    transaction: &mut impl GenericClient,
    location: &str,
    revision: i64,
    samples: &[SampleRecord<'_>],
) -> Result<usize> {
    let person = transaction
        .prepare(
            "INSERT INTO people (name, external_id, created) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id",
        )
        .map_err(|e| pg_error(location, e))?;
    let insert = transaction.prepare(INSERT_SAMPLE).map_err(|e| pg_error(location, e))?;
    for sample in samples {
        let person_id: i64 = transaction
            .query_one(&person, &[&sample.name, &sample.external_id, &sample.time])
            .map_err(|e| pg_error(location, e))?
            .get(0);
        let sample_id = insert_sample(transaction, location, &insert, person_id, sample)?;
        log_change(transaction, location, revision, "add", Some(sample_id), Some(person_id))?;
    }
    Ok(samples.len())
}

/// In a write transaction, logging under `revision`.
pub(super) fn remove_person(
    transaction: &mut impl GenericClient,
    location: &str,
    revision: i64,
    name: &str,
    tombstone: &str,
) -> Result<()> {
    let person_id = person_id(transaction, location, name)?;
    // The appearances matched to them go, logged, before the cascade could
    // take them unlogged (their vectors and thumbnails with them).
    delete_appearances(transaction, location, revision, "person_id = $2", &[person_id])?;
    // Before the samples go: a crop enrolled as one of their samples is found by its digest.
    transaction
        .execute(
            "DELETE FROM probe_crops
             WHERE event_id IN (SELECT id FROM events WHERE person_id = $1)
                OR jpeg_sha256 IN (SELECT image_sha256 FROM samples WHERE person_id = $1)",
            &[&person_id],
        )
        .map_err(|e| pg_error(location, e))?;
    transaction
        .execute(
            "UPDATE events SET person_id = NULL, similarity = NULL, image_sha256 = NULL, tombstone = $2
             WHERE person_id = $1",
            &[&person_id, &tombstone],
        )
        .map_err(|e| pg_error(location, e))?;
    transaction
        .execute("DELETE FROM people WHERE id = $1", &[&person_id])
        .map_err(|e| pg_error(location, e))?;
    log_change(transaction, location, revision, "remove_person", None, Some(person_id))
}

pub(super) fn samples(
    client: &mut impl GenericClient,
    location: &str,
    person: Option<&str>,
) -> Result<Vec<Sample>> {
    let rows = client
        .query(
            "SELECT s.id, p.name, s.embedder, s.detector_score, s.face_size, s.image_sha256, s.created,
                    s.thumbnail IS NOT NULL
             FROM samples s JOIN people p ON p.id = s.person_id
             WHERE $1::TEXT IS NULL OR p.name = $1 ORDER BY s.id",
            &[&person],
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(rows
        .iter()
        .map(|row| Sample {
            id: row.get(0),
            person: row.get(1),
            embedder: row.get(2),
            detector_score: row.get(3),
            face_size: row.get(4),
            image_sha256: row.get(5),
            created: row.get(6),
            has_thumbnail: row.get(7),
        })
        .collect())
}

pub(super) fn sample_thumbnail(
    client: &mut impl GenericClient,
    location: &str,
    sample: i64,
) -> Result<Option<(String, Vec<u8>)>> {
    let row = client
        .query_opt(
            "SELECT p.name, s.thumbnail FROM samples s JOIN people p ON p.id = s.person_id
             WHERE s.id = $1 AND s.thumbnail IS NOT NULL",
            &[&sample],
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(row.map(|row| (row.get(0), row.get(1))))
}

/// In a write transaction, logging under `revision`.
pub(super) fn remove_sample(
    transaction: &mut impl GenericClient,
    location: &str,
    revision: i64,
    sample: i64,
) -> Result<bool> {
    let person: Option<i64> = transaction
        .query_opt("DELETE FROM samples WHERE id = $1 RETURNING person_id", &[&sample])
        .map_err(|e| pg_error(location, e))?
        .map(|row| row.get(0));
    let Some(person) = person else { return Ok(false) };
    log_change(transaction, location, revision, "remove_sample", Some(sample), Some(person))?;
    Ok(true)
}
