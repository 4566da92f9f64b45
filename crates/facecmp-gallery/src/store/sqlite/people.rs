//! People and their samples in SQLite: listing, enrolment (with the
//! caller's `--strict` check inside the write), bulk import, erasure (with
//! the appearances matched to the person) and the samples' thumbnails.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::appearances::delete_appearances;
use super::changes::{Reader, bump, log_change};
use super::connection::AtPath;
use crate::enrol::Rejection;
use crate::error::{GalleryError, Result};
use crate::model::{Enrolled, Person, Sample};
use crate::store::api::{EnrolCheck, SampleRecord};
use crate::store::common::{external_id_taken, split_names, storage_error, vector_bytes};

/// Inserts one sample of `person_id` (the statement is cached, so a bulk
/// import prepares it once); returns its id.
fn insert_sample(db: &Connection, path: &str, person_id: i64, sample: &SampleRecord<'_>) -> Result<i64> {
    db.prepare_cached(
        "INSERT INTO samples (person_id, embedding, embedder, detector_score, face_size, image_sha256, thumbnail,
                              created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
    )
    .at(path)?
    .query_row(
        params![
            person_id,
            vector_bytes(sample.vector),
            sample.embedder_sha256,
            sample.detector_score,
            sample.face_size,
            sample.image_sha256,
            sample.thumbnail_jpeg,
            sample.time
        ],
        |row| row.get(0),
    )
    .at(path)
}

pub(super) fn person_id(db: &Connection, path: &str, name: &str) -> Result<i64> {
    db.query_row("SELECT id FROM people WHERE name = ?1", [name], |row| row.get(0))
        .optional()
        .at(path)?
        .ok_or_else(|| GalleryError::NoSuchPerson(name.to_string()))
}

pub(super) fn people(db: &Connection, path: &str, name: Option<&str>) -> Result<Vec<Person>> {
    let mut statement = db
        .prepare_cached(
            "SELECT p.id, p.name, p.external_id, p.created,
                    (SELECT COUNT(*) FROM samples s WHERE s.person_id = p.id),
                    (SELECT group_concat(z.name, char(31)) FROM grants g JOIN zones z ON z.id = g.zone_id
                      WHERE g.person_id = p.id)
             FROM people p WHERE ?1 IS NULL OR p.name = ?1 ORDER BY p.name",
        )
        .at(path)?;
    let rows = statement
        .query_map([name], |row| {
            Ok(Person {
                id: row.get(0)?,
                name: row.get(1)?,
                external_id: row.get(2)?,
                created: row.get(3)?,
                samples: row.get::<_, i64>(4)? as usize,
                zones: split_names(row.get(5)?),
            })
        })
        .at(path)?;
    rows.collect::<rusqlite::Result<_>>().at(path)
}

pub(super) fn person_names(
    db: &Connection,
    path: &str,
    ids: &[i64],
) -> Result<HashMap<i64, (String, Option<String>)>> {
    let mut statement = db.prepare_cached("SELECT name, external_id FROM people WHERE id = ?1").at(path)?;
    let mut names = HashMap::new();
    for &id in ids {
        let found = statement.query_row([id], |row| Ok((row.get(0)?, row.get(1)?))).optional().at(path)?;
        if let Some(found) = found {
            names.insert(id, found);
        }
    }
    Ok(names)
}

/// In a write transaction.
pub(super) fn enrol(
    transaction: &Connection,
    path: &str,
    sample: &SampleRecord<'_>,
    check: &mut EnrolCheck<'_>,
) -> Result<std::result::Result<Enrolled, Rejection>> {
    let existing: Option<i64> = transaction
        .query_row("SELECT id FROM people WHERE name = ?1", [sample.name], |row| row.get(0))
        .optional()
        .at(path)?;
    if let Some(person_id) = existing {
        let duplicate: bool = transaction
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM samples WHERE person_id = ?1 AND image_sha256 = ?2)",
                params![person_id, sample.image_sha256],
                |row| row.get(0),
            )
            .at(path)?;
        if duplicate {
            return Ok(Err(Rejection::AlreadyEnrolled));
        }
    }
    if let Some(rejection) = check(&mut Reader { db: transaction, path }, existing)? {
        return Ok(Err(rejection));
    }
    let person_id = match existing {
        Some(id) => id,
        None => {
            let inserted = transaction.execute(
                "INSERT INTO people (name, external_id, created) VALUES (?1, ?2, ?3)",
                params![sample.name, sample.external_id, sample.time],
            );
            match inserted {
                Ok(_) => transaction.last_insert_rowid(),
                Err(rusqlite::Error::SqliteFailure(failure, _))
                    if failure.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    return Err(external_id_taken(sample));
                }
                Err(error) => return Err(storage_error(path, error)),
            }
        }
    };
    let sample_id = insert_sample(transaction, path, person_id, sample)?;
    let revision = bump(transaction, path)?;
    log_change(transaction, path, revision, "add", Some(sample_id), Some(person_id))?;
    Ok(Ok(Enrolled {
        person: sample.name.to_string(),
        person_id,
        sample: sample_id,
        new_person: existing.is_none(),
    }))
}

/// In a write transaction.
pub(super) fn import(transaction: &Connection, path: &str, samples: &[SampleRecord<'_>]) -> Result<usize> {
    let revision = bump(transaction, path)?;
    let mut person = transaction
        .prepare_cached(
            "INSERT INTO people (name, external_id, created) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id",
        )
        .at(path)?;
    for sample in samples {
        let person_id: i64 = person
            .query_row(params![sample.name, sample.external_id, sample.time], |row| row.get(0))
            .at(path)?;
        let sample_id = insert_sample(transaction, path, person_id, sample)?;
        log_change(transaction, path, revision, "add", Some(sample_id), Some(person_id))?;
    }
    Ok(samples.len())
}

/// In a write transaction; the caller checkpoints the write-ahead log after it.
pub(super) fn remove_person(transaction: &Connection, path: &str, name: &str, tombstone: &str) -> Result<()> {
    let person_id = person_id(transaction, path, name)?;
    let revision = bump(transaction, path)?;
    // The appearances matched to them go, logged, before the cascade could
    // take them unlogged (their vectors and thumbnails with them).
    delete_appearances(transaction, path, revision, "person_id = ?2", &[person_id])?;
    // Before the samples go: a crop enrolled as one of their samples is found by its digest.
    transaction
        .execute(
            "DELETE FROM probe_crops
             WHERE event_id IN (SELECT id FROM events WHERE person_id = ?1)
                OR jpeg_sha256 IN (SELECT image_sha256 FROM samples WHERE person_id = ?1)",
            [person_id],
        )
        .at(path)?;
    transaction
        .execute(
            "UPDATE events SET person_id = NULL, similarity = NULL, image_sha256 = NULL, tombstone = ?2
             WHERE person_id = ?1",
            params![person_id, tombstone],
        )
        .at(path)?;
    // Samples and grants go with the person (ON DELETE CASCADE).
    transaction.execute("DELETE FROM people WHERE id = ?1", [person_id]).at(path)?;
    log_change(transaction, path, revision, "remove_person", None, Some(person_id))
}

pub(super) fn samples(db: &Connection, path: &str, person: Option<&str>) -> Result<Vec<Sample>> {
    let mut statement = db
        .prepare_cached(
            "SELECT s.id, p.name, s.embedder, s.detector_score, s.face_size, s.image_sha256, s.created,
                    s.thumbnail IS NOT NULL
             FROM samples s JOIN people p ON p.id = s.person_id
             WHERE ?1 IS NULL OR p.name = ?1 ORDER BY s.id",
        )
        .at(path)?;
    let rows = statement
        .query_map([person], |row| {
            Ok(Sample {
                id: row.get(0)?,
                person: row.get(1)?,
                embedder: row.get(2)?,
                detector_score: row.get(3)?,
                face_size: row.get(4)?,
                image_sha256: row.get(5)?,
                created: row.get(6)?,
                has_thumbnail: row.get(7)?,
            })
        })
        .at(path)?;
    rows.collect::<rusqlite::Result<_>>().at(path)
}

pub(super) fn sample_thumbnail(
    db: &Connection,
    path: &str,
    sample: i64,
) -> Result<Option<(String, Vec<u8>)>> {
    db.query_row(
        "SELECT p.name, s.thumbnail FROM samples s JOIN people p ON p.id = s.person_id
         WHERE s.id = ?1 AND s.thumbnail IS NOT NULL",
        [sample],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .optional()
    .at(path)
}

/// In a write transaction.
pub(super) fn remove_sample(transaction: &Connection, path: &str, sample: i64) -> Result<bool> {
    let person: Option<i64> = transaction
        .query_row("DELETE FROM samples WHERE id = ?1 RETURNING person_id", [sample], |row| row.get(0))
        .optional()
        .at(path)?;
    let Some(person) = person else { return Ok(false) };
    let revision = bump(transaction, path)?;
    log_change(transaction, path, revision, "remove_sample", Some(sample), Some(person))?;
    Ok(true)
}
