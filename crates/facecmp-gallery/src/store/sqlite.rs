//! [`GalleryStore`] in one SQLite file: the embedded default.
//!
//! WAL mode with `synchronous = FULL` (a write that returned survives a
//! crash of the process or the machine), foreign keys enforced, deleted
//! rows overwritten (`secure_delete`) so erasing a person leaves no trace
//! of their face in the file. One connection per store behind a mutex:
//! writers in this process never race each other, and writers in other
//! processes are waited for (`busy_timeout`, `BEGIN IMMEDIATE`).
//!
//! Opening never changes a file that is not a facecmp gallery: the schema
//! is checked on a read-only connection before anything is written.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use facecmp::EmbedderIdentity;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::sqlite_schema as schema;
use super::{
    CHANGE_LOG_KEPT, Change, Changes, DecisionRecord, EnrolCheck, GalleryStore, KeyRecord, RecordedDecision,
    SampleRecord, Snapshot, StoreReader, StoredSample, decide_verdict, names_person, storage_error,
    vector_bytes, vector_from_bytes,
};
use crate::access::{Decision, Reason};
use crate::crops::{ProbeCrop, StoredCrop};
use crate::enrol::Rejection;
use crate::error::{GalleryError, Result};
use crate::gallery::{Enrolled, Event, EventQuery, Grant, Person, Sample, Zone, ZonePolicy};
use crate::keys::{ApiKey, Role};
use crate::sessions::ConsoleSession;

pub use schema::SCHEMA_VERSION;

/// name, role, secret digest, created, zones (joined).
type KeyRow = (String, String, Vec<u8>, i64, Option<String>);

pub struct SqliteStore {
    path: String,
    connection: Mutex<Connection>,
}

/// Attaches the gallery's path to SQLite errors.
trait AtPath<T> {
    fn at(self, path: &str) -> Result<T>;
}

impl<T> AtPath<T> for rusqlite::Result<T> {
    fn at(self, path: &str) -> Result<T> {
        self.map_err(|error| storage_error(path, error))
    }
}

impl SqliteStore {
    /// Creates a new gallery file, pinned to `embedder`.
    pub fn create(path: &Path, embedder: &EmbedderIdentity) -> Result<SqliteStore> {
        let display = path.display().to_string();
        if path.exists() {
            return Err(GalleryError::AlreadyExists { path: display });
        }
        let mut connection = connect(path).at(&display)?;
        let transaction = connection.transaction().at(&display)?;
        schema::migrate(&transaction, 0).at(&display)?;
        let identity = serde_json::to_string(embedder).expect("identity serialises");
        transaction
            .execute("INSERT INTO meta (key, value) VALUES ('embedder', ?1)", [identity])
            .at(&display)?;
        transaction.commit().at(&display)?;
        Ok(SqliteStore { path: display, connection: Mutex::new(connection) })
    }

    /// Opens an existing gallery file, upgrading its schema if it is older.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        let display = path.display().to_string();
        let found = inspect(path)?.0;
        let mut connection = connect(path).at(&display)?;
        if found < SCHEMA_VERSION {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate).at(&display)?;
            // Another process may have upgraded it meanwhile.
            let now_at = schema::version(&transaction).at(&display)?;
            if now_at < SCHEMA_VERSION {
                schema::migrate(&transaction, now_at).at(&display)?;
            }
            transaction.commit().at(&display)?;
        }
        Ok(SqliteStore { path: display, connection: Mutex::new(connection) })
    }

    /// The embedder a gallery file is pinned to, read without changing the file.
    pub fn embedder_of(path: &Path) -> Result<EmbedderIdentity> {
        Ok(inspect(path)?.1)
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written
        // (transactions roll back on drop), so a poisoned lock is still usable.
        self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write<T>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut db = self.db();
        let transaction = db.transaction_with_behavior(TransactionBehavior::Immediate).at(&self.path)?;
        let value = f(&transaction)?;
        transaction.commit().at(&self.path)?;
        Ok(value)
    }
}

/// Reads a file's schema version and embedder on a read-only connection:
/// a file that is not a facecmp gallery is refused before anything could
/// change it (no WAL switch, no schema, not even an empty file's bytes).
fn inspect(path: &Path) -> Result<(u32, EmbedderIdentity)> {
    let display = path.display().to_string();
    if !path.is_file() {
        return Err(GalleryError::Missing { path: display });
    }
    let not_a_gallery = || GalleryError::NotAGallery { path: display.clone() };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).at(&display)?;
    connection.busy_timeout(Duration::from_secs(10)).at(&display)?;
    let found = match schema::version(&connection) {
        Ok(found) => found,
        Err(rusqlite::Error::SqliteFailure(failure, _))
            if failure.code == rusqlite::ErrorCode::NotADatabase =>
        {
            return Err(not_a_gallery());
        }
        Err(error) => return Err(storage_error(&display, error)),
    };
    if found > SCHEMA_VERSION {
        return Err(GalleryError::SchemaTooNew { path: display, found, supported: SCHEMA_VERSION });
    }
    if found == 0 {
        // Version 0 is also what an empty or foreign SQLite file reports.
        return Err(not_a_gallery());
    }
    let stored: Option<String> = connection
        .query_row("SELECT value FROM meta WHERE key = 'embedder'", [], |row| row.get(0))
        .optional()
        .unwrap_or(None);
    let identity = stored.and_then(|text| serde_json::from_str(&text).ok()).ok_or_else(not_a_gallery)?;
    Ok((found, identity))
}

/// Opens the file with the settings every read-write connection needs.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(Duration::from_secs(10))?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", true)?;
    connection.pragma_update(None, "secure_delete", true)?;
    Ok(connection)
}

/// Moves the revision on by one and returns it; every write calls it in its
/// transaction. Now and then the oldest part of the change log goes.
fn bump(db: &Connection, path: &str) -> Result<i64> {
    let revision: i64 = db
        .query_row("UPDATE revision SET value = value + 1 WHERE id = 1 RETURNING value", [], |row| row.get(0))
        .at(path)?;
    if revision % 1000 == 0 && revision > CHANGE_LOG_KEPT {
        let floor = revision - CHANGE_LOG_KEPT;
        db.execute("UPDATE revision SET log_floor = max(log_floor, ?1) WHERE id = 1", [floor]).at(path)?;
        db.execute("DELETE FROM changes WHERE rev <= ?1", [floor]).at(path)?;
    }
    Ok(revision)
}

fn log_change(
    db: &Connection,
    path: &str,
    revision: i64,
    op: &str,
    sample: Option<i64>,
    person: Option<i64>,
) -> Result<()> {
    db.execute(
        "INSERT INTO changes (rev, op, sample_id, person_id) VALUES (?1, ?2, ?3, ?4)",
        params![revision, op, sample, person],
    )
    .at(path)?;
    Ok(())
}

/// [`StoreReader`] over a connection or an open transaction.
struct Reader<'c> {
    db: &'c Connection,
    path: &'c str,
}

impl StoreReader for Reader<'_> {
    fn revision(&mut self) -> Result<i64> {
        self.db.query_row("SELECT value FROM revision WHERE id = 1", [], |row| row.get(0)).at(self.path)
    }

    fn changes_since(&mut self, since: i64) -> Result<Changes> {
        let (revision, floor): (i64, i64) = self
            .db
            .query_row("SELECT value, log_floor FROM revision WHERE id = 1", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .at(self.path)?;
        if since < floor || since > revision {
            return Ok(Changes::Truncated);
        }
        let mut statement = self
            .db
            .prepare_cached(
                "SELECT c.op, c.sample_id, c.person_id, s.embedding
                 FROM changes c LEFT JOIN samples s ON s.id = c.sample_id AND s.person_id = c.person_id
                 WHERE c.rev > ?1 AND c.rev <= ?2 ORDER BY c.seq",
            )
            .at(self.path)?;
        let mut rows = statement.query(params![since, revision]).at(self.path)?;
        let mut changes = Vec::new();
        while let Some(row) = rows.next().at(self.path)? {
            let op: String = row.get(0).at(self.path)?;
            let sample: Option<i64> = row.get(1).at(self.path)?;
            let person: Option<i64> = row.get(2).at(self.path)?;
            let embedding: Option<Vec<u8>> = row.get(3).at(self.path)?;
            changes.push(change_from_row(self.path, &op, sample, person, embedding)?);
        }
        Ok(Changes::Log { revision, changes })
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        let revision = self.revision()?;
        let mut statement = self.db.prepare("SELECT id, person_id, embedding FROM samples").at(self.path)?;
        let mut rows = statement.query([]).at(self.path)?;
        let mut samples = Vec::new();
        while let Some(row) = rows.next().at(self.path)? {
            let (sample, person): (i64, i64) = (row.get(0).at(self.path)?, row.get(1).at(self.path)?);
            let bytes: Vec<u8> = row.get(2).at(self.path)?;
            let vector = vector_from_bytes(&bytes, None).ok_or_else(|| GalleryError::DamagedSample {
                path: self.path.to_string(),
                sample,
                bytes: bytes.len(),
            })?;
            samples.push(StoredSample { sample, person, vector });
        }
        Ok(Snapshot { revision, samples })
    }

    fn person_name(&mut self, person: i64) -> Result<Option<String>> {
        self.db
            .prepare_cached("SELECT name FROM people WHERE id = ?1")
            .and_then(|mut statement| statement.query_row([person], |row| row.get(0)).optional())
            .at(self.path)
    }

    fn zone_exists(&mut self, zone: &str) -> Result<bool> {
        self.db
            .query_row("SELECT EXISTS (SELECT 1 FROM zones WHERE name = ?1)", [zone], |row| row.get(0))
            .at(self.path)
    }

    fn granted(&mut self, person: i64, zone: &str, time: i64) -> Result<bool> {
        self.db
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM grants g JOIN zones z ON z.id = g.zone_id
                  WHERE g.person_id = ?1 AND z.name = ?2
                    AND (g.valid_from IS NULL OR g.valid_from <= ?3)
                    AND (g.valid_until IS NULL OR ?3 < g.valid_until))",
            )
            .and_then(|mut statement| statement.query_row(params![person, zone, time], |row| row.get(0)))
            .at(self.path)
    }
}

fn change_from_row(
    path: &str,
    op: &str,
    sample: Option<i64>,
    person: Option<i64>,
    embedding: Option<Vec<u8>>,
) -> Result<Change> {
    let damaged =
        || GalleryError::Damaged { path: path.to_string(), detail: format!("change log entry `{op}`") };
    Ok(match (op, sample, person) {
        ("add", Some(sample), Some(person)) => Change::Added {
            sample,
            person,
            vector: embedding.and_then(|bytes| vector_from_bytes(&bytes, None)),
        },
        ("remove_sample", Some(sample), _) => Change::RemovedSample { sample },
        ("remove_person", _, Some(person)) => Change::RemovedPerson { person },
        _ => return Err(damaged()),
    })
}

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

fn person_id(db: &Connection, name: &str, path: &str) -> Result<i64> {
    db.query_row("SELECT id FROM people WHERE name = ?1", [name], |row| row.get(0))
        .optional()
        .at(path)?
        .ok_or_else(|| GalleryError::NoSuchPerson(name.to_string()))
}

fn split_names(joined: Option<String>) -> Vec<String> {
    let mut names: Vec<String> =
        joined.map(|text| text.split('\u{1f}').map(str::to_string).collect()).unwrap_or_default();
    names.sort();
    names
}

impl GalleryStore for SqliteStore {
    fn location(&self) -> &str {
        &self.path
    }

    fn embedder(&self) -> Result<EmbedderIdentity> {
        let stored: String = self
            .db()
            .query_row("SELECT value FROM meta WHERE key = 'embedder'", [], |row| row.get(0))
            .at(&self.path)?;
        serde_json::from_str(&stored).map_err(|_| GalleryError::NotAGallery { path: self.path.clone() })
    }

    fn read(&self, f: &mut dyn FnMut(&mut dyn StoreReader) -> Result<()>) -> Result<()> {
        let mut db = self.db();
        // DEFERRED: one consistent snapshot for every read inside.
        let transaction = db.transaction().at(&self.path)?;
        f(&mut Reader { db: &transaction, path: &self.path })?;
        transaction.commit().at(&self.path)
    }

    fn revision(&self) -> Result<i64> {
        Reader { db: &self.db(), path: &self.path }.revision()
    }

    fn people(&self, name: Option<&str>) -> Result<Vec<Person>> {
        let db = self.db();
        let mut statement = db
            .prepare_cached(
                "SELECT p.id, p.name, p.external_id, p.created,
                        (SELECT COUNT(*) FROM samples s WHERE s.person_id = p.id),
                        (SELECT group_concat(z.name, char(31)) FROM grants g JOIN zones z ON z.id = g.zone_id
                          WHERE g.person_id = p.id)
                 FROM people p WHERE ?1 IS NULL OR p.name = ?1 ORDER BY p.name",
            )
            .at(&self.path)?;
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
            .at(&self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(&self.path)
    }

    fn person_names(&self, ids: &[i64]) -> Result<HashMap<i64, (String, Option<String>)>> {
        let db = self.db();
        let mut statement =
            db.prepare_cached("SELECT name, external_id FROM people WHERE id = ?1").at(&self.path)?;
        let mut names = HashMap::new();
        for &id in ids {
            let found =
                statement.query_row([id], |row| Ok((row.get(0)?, row.get(1)?))).optional().at(&self.path)?;
            if let Some(found) = found {
                names.insert(id, found);
            }
        }
        Ok(names)
    }

    fn enrol(
        &self,
        sample: &SampleRecord<'_>,
        check: &mut EnrolCheck<'_>,
    ) -> Result<std::result::Result<Enrolled, Rejection>> {
        self.write(|transaction| {
            let path = self.path.as_str();
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
        })
    }

    fn import(&self, samples: &[SampleRecord<'_>]) -> Result<usize> {
        self.write(|transaction| {
            let path = self.path.as_str();
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
        })
    }

    fn remove_person(&self, name: &str, tombstone: &str) -> Result<()> {
        self.write(|transaction| {
            let path = self.path.as_str();
            let person_id = person_id(transaction, name, path)?;
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
            let revision = bump(transaction, path)?;
            log_change(transaction, path, revision, "remove_person", None, Some(person_id))
        })?;
        // Move the overwritten pages out of the write-ahead log too.
        self.db().query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).at(&self.path)
    }

    fn samples(&self, person: Option<&str>) -> Result<Vec<Sample>> {
        let db = self.db();
        let mut statement = db
            .prepare_cached(
                "SELECT s.id, p.name, s.embedder, s.detector_score, s.face_size, s.image_sha256, s.created,
                        s.thumbnail IS NOT NULL
                 FROM samples s JOIN people p ON p.id = s.person_id
                 WHERE ?1 IS NULL OR p.name = ?1 ORDER BY s.id",
            )
            .at(&self.path)?;
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
            .at(&self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(&self.path)
    }

    fn sample_thumbnail(&self, sample: i64) -> Result<Option<(String, Vec<u8>)>> {
        self.db()
            .query_row(
                "SELECT p.name, s.thumbnail FROM samples s JOIN people p ON p.id = s.person_id
                 WHERE s.id = ?1 AND s.thumbnail IS NOT NULL",
                [sample],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .at(&self.path)
    }

    fn remove_sample(&self, sample: i64) -> Result<bool> {
        self.write(|transaction| {
            let path = self.path.as_str();
            let person: Option<i64> = transaction
                .query_row("DELETE FROM samples WHERE id = ?1 RETURNING person_id", [sample], |row| {
                    row.get(0)
                })
                .optional()
                .at(path)?;
            let Some(person) = person else { return Ok(false) };
            let revision = bump(transaction, path)?;
            log_change(transaction, path, revision, "remove_sample", Some(sample), Some(person))?;
            Ok(true)
        })
    }

    fn zones(&self, name: Option<&str>) -> Result<Vec<Zone>> {
        let db = self.db();
        let mut statement = db
            .prepare_cached(
                "SELECT z.id, z.name, z.allow_multiple_faces, z.created,
                        (SELECT COUNT(*) FROM grants g WHERE g.zone_id = z.id), z.probe_crops_retention_s
                 FROM zones z WHERE ?1 IS NULL OR z.name = ?1 ORDER BY z.name",
            )
            .at(&self.path)?;
        let rows = statement
            .query_map([name], |row| {
                Ok(Zone {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    allow_multiple_faces: row.get(2)?,
                    probe_crops_retention_s: row.get(5)?,
                    created: row.get(3)?,
                    people: row.get::<_, i64>(4)? as usize,
                })
            })
            .at(&self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(&self.path)
    }

    fn set_zone(&self, name: &str, policy: &ZonePolicy, time: i64) -> Result<()> {
        self.write(|transaction| {
            let path = self.path.as_str();
            transaction
                .execute(
                    "INSERT INTO zones (name, allow_multiple_faces, probe_crops_retention_s, created)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (name) DO UPDATE SET allow_multiple_faces = excluded.allow_multiple_faces,
                       probe_crops_retention_s = excluded.probe_crops_retention_s",
                    params![name, policy.allow_multiple_faces, policy.probe_crops_retention_s, time],
                )
                .at(path)?;
            redate_crops(transaction, path, name, policy.probe_crops_retention_s)?;
            purge_crops(transaction, path, time)?;
            bump(transaction, path).map(drop)
        })
    }

    fn grant(&self, grant: &Grant) -> Result<()> {
        self.write(|transaction| {
            let path = self.path.as_str();
            let person_id = person_id(transaction, &grant.person, path)?;
            transaction
                .execute(
                    "INSERT INTO zones (name, created) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                    params![grant.zone, grant.created],
                )
                .at(path)?;
            transaction
                .execute(
                    "INSERT INTO grants (person_id, zone_id, valid_from, valid_until, created)
                     VALUES (?1, (SELECT id FROM zones WHERE name = ?2), ?3, ?4, ?5)
                     ON CONFLICT (person_id, zone_id) DO UPDATE
                       SET valid_from = excluded.valid_from, valid_until = excluded.valid_until",
                    params![person_id, grant.zone, grant.valid_from, grant.valid_until, grant.created],
                )
                .at(path)?;
            bump(transaction, path).map(drop)
        })
    }

    fn revoke(&self, person: &str, zone: &str) -> Result<bool> {
        self.write(|transaction| {
            let path = self.path.as_str();
            let person_id = person_id(transaction, person, path)?;
            let removed = transaction
                .execute(
                    "DELETE FROM grants WHERE person_id = ?1 AND zone_id = (SELECT id FROM zones WHERE name = ?2)",
                    params![person_id, zone],
                )
                .at(path)?;
            if removed > 0 {
                bump(transaction, path)?;
            }
            Ok(removed > 0)
        })
    }

    fn grants(&self, zone: Option<&str>, person: Option<&str>) -> Result<Vec<Grant>> {
        let db = self.db();
        let mut statement = db
            .prepare_cached(
                "SELECT p.name, z.name, g.valid_from, g.valid_until, g.created
                 FROM grants g JOIN people p ON p.id = g.person_id JOIN zones z ON z.id = g.zone_id
                 WHERE (?1 IS NULL OR z.name = ?1) AND (?2 IS NULL OR p.name = ?2)
                 ORDER BY z.name, p.name",
            )
            .at(&self.path)?;
        let rows = statement
            .query_map(params![zone, person], |row| {
                Ok(Grant {
                    person: row.get(0)?,
                    zone: row.get(1)?,
                    valid_from: row.get(2)?,
                    valid_until: row.get(3)?,
                    created: row.get(4)?,
                })
            })
            .at(&self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(&self.path)
    }

    fn granted_people(&self, zone: &str, time: i64) -> Result<HashSet<i64>> {
        let db = self.db();
        let mut statement = db
            .prepare_cached(
                "SELECT g.person_id FROM grants g JOIN zones z ON z.id = g.zone_id
                 WHERE z.name = ?1 AND (g.valid_from IS NULL OR g.valid_from <= ?2)
                   AND (g.valid_until IS NULL OR ?2 < g.valid_until)",
            )
            .at(&self.path)?;
        let rows = statement.query_map(params![zone, time], |row| row.get(0)).at(&self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(&self.path)
    }

    fn decide_and_record(&self, record: &DecisionRecord<'_>) -> Result<RecordedDecision> {
        self.write(|transaction| {
            let path = self.path.as_str();
            let mut reader = Reader { db: transaction, path };
            let verdict = decide_verdict(&mut reader, record)?;
            let best = verdict.best.as_ref();
            transaction
                .execute(
                    "INSERT INTO events (time, zone, decision, reason, person_id, similarity, image_sha256,
                                         source, track)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        record.time,
                        record.zone,
                        Decision::of(verdict.allowed()).as_str(),
                        verdict.reason.as_str(),
                        best.map(|b| b.person_id),
                        best.map(|b| b.similarity),
                        record.image_sha256,
                        record.source,
                        record.track
                    ],
                )
                .at(path)?;
            let event_id = transaction.last_insert_rowid();
            if let Some(crop) = record.probe_crop {
                keep_crop(transaction, path, event_id, record, crop)?;
            }
            purge_crops(transaction, path, record.time)?;
            let person = match best {
                Some(best) if names_person(verdict.reason) => reader.person_name(best.person_id)?,
                _ => None,
            };
            Ok(RecordedDecision { verdict, event_id, person })
        })
    }

    fn events(&self, query: &EventQuery) -> Result<Vec<Event>> {
        let now = crate::gallery::now();
        let db = self.db();
        let mut statement = db
            .prepare_cached(
                "SELECT e.id, e.time, e.zone, e.decision, e.reason, p.name, e.similarity, e.image_sha256,
                        e.tombstone, e.source, e.track, c.expires
                 FROM events e LEFT JOIN people p ON p.id = e.person_id
                      LEFT JOIN probe_crops c ON c.event_id = e.id
                 WHERE (?1 IS NULL OR e.zone = ?1) AND (?2 IS NULL OR e.decision = ?2)
                   AND (?3 IS NULL OR e.time >= ?3) AND (?4 IS NULL OR e.time < ?4)
                   AND (?5 IS NULL OR e.id < ?5) AND (?6 IS NULL OR e.reason = ?6)
                   AND (?7 IS NULL OR p.name = ?7) AND (?8 IS NULL OR e.source = ?8)
                 ORDER BY e.id DESC LIMIT ?9",
            )
            .at(&self.path)?;
        let rows = statement
            .query_map(
                params![
                    query.zone,
                    query.decision.map(Decision::as_str),
                    query.since,
                    query.until,
                    query.before,
                    query.reason.map(Reason::as_str),
                    query.person,
                    query.source,
                    query.page_size() as i64
                ],
                |row| {
                    let crop_expires: Option<i64> = row.get(11)?;
                    let decision: String = row.get(3)?;
                    let reason: String = row.get(4)?;
                    Ok((
                        decision,
                        reason,
                        Event {
                            id: row.get(0)?,
                            time: row.get(1)?,
                            zone: row.get(2)?,
                            decision: Decision::Deny,
                            reason: Reason::InternalError,
                            person: row.get(5)?,
                            similarity: row.get(6)?,
                            image_sha256: row.get(7)?,
                            tombstone: row.get(8)?,
                            source: row.get(9)?,
                            track: row.get(10)?,
                            has_probe_crop: crop_expires.is_some_and(|expires| expires > now),
                        },
                    ))
                },
            )
            .at(&self.path)?;
        rows.map(|row| {
            let (decision, reason, event) = row.at(&self.path)?;
            typed_event(&self.path, &decision, &reason, event)
        })
        .collect()
    }

    fn probe_crop(&self, event_id: i64, now: i64) -> Result<Option<StoredCrop>> {
        self.db()
            .prepare_cached(
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
            .at(&self.path)
    }

    fn purge_probe_crops(&self, now: i64) -> Result<usize> {
        self.write(|transaction| purge_crops(transaction, &self.path, now))
    }

    fn create_key(
        &self,
        name: &str,
        role: Role,
        zones: &[String],
        secret_sha256: &[u8],
        time: i64,
    ) -> Result<i64> {
        self.write(|transaction| {
            let path = self.path.as_str();
            transaction
                .execute(
                    "INSERT INTO api_keys (name, role, secret_sha256, created) VALUES (?1, ?2, ?3, ?4)",
                    params![name, role.as_str(), secret_sha256, time],
                )
                .at(path)?;
            let id = transaction.last_insert_rowid();
            for zone in zones {
                transaction
                    .execute(
                        "INSERT INTO api_key_zones (key_id, zone) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                        params![id, zone],
                    )
                    .at(path)?;
            }
            Ok(id)
        })
    }

    fn keys(&self) -> Result<Vec<ApiKey>> {
        let db = self.db();
        let mut statement = db
            .prepare_cached(
                "SELECT k.id, k.name, k.role, k.created, k.revoked,
                        (SELECT group_concat(z.zone, char(31)) FROM api_key_zones z WHERE z.key_id = k.id)
                 FROM api_keys k ORDER BY k.id",
            )
            .at(&self.path)?;
        let rows = statement
            .query_map([], |row| {
                let role: String = row.get(2)?;
                Ok((
                    role,
                    ApiKey {
                        id: row.get(0)?,
                        name: row.get(1)?,
                        role: Role::Camera,
                        created: row.get(3)?,
                        revoked: row.get(4)?,
                        zones: split_names(row.get(5)?),
                    },
                ))
            })
            .at(&self.path)?;
        rows.map(|row| {
            let (role, key) = row.at(&self.path)?;
            typed_key(&self.path, &role, key)
        })
        .collect()
    }

    fn live_key(&self, id: i64) -> Result<Option<KeyRecord>> {
        let db = self.db();
        let row: Option<KeyRow> = db
            .prepare_cached(
                "SELECT k.name, k.role, k.secret_sha256, k.created,
                        (SELECT group_concat(z.zone, char(31)) FROM api_key_zones z WHERE z.key_id = k.id)
                 FROM api_keys k WHERE k.id = ?1 AND k.revoked IS NULL",
            )
            .and_then(|mut statement| {
                statement
                    .query_row([id], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
                    })
                    .optional()
            })
            .at(&self.path)?;
        let Some((name, role, secret_sha256, created, zones)) = row else { return Ok(None) };
        let key = ApiKey { id, name, role: Role::Camera, created, revoked: None, zones: split_names(zones) };
        Ok(Some(KeyRecord { key: typed_key(&self.path, &role, key)?, secret_sha256 }))
    }

    fn revoke_key(&self, id: i64, time: i64) -> Result<()> {
        self.write(|transaction| {
            let path = self.path.as_str();
            let exists: bool = transaction
                .query_row("SELECT EXISTS (SELECT 1 FROM api_keys WHERE id = ?1)", [id], |row| row.get(0))
                .at(path)?;
            if !exists {
                return Err(GalleryError::NoSuchKey(id));
            }
            transaction
                .execute(
                    "UPDATE api_keys SET revoked = ?2 WHERE id = ?1 AND revoked IS NULL",
                    params![id, time],
                )
                .at(path)?;
            transaction.execute("DELETE FROM console_sessions WHERE key_id = ?1", [id]).at(path)?;
            Ok(())
        })
    }

    fn create_session(
        &self,
        key_id: i64,
        token_sha256: &str,
        created: i64,
        idle_s: i64,
        absolute_s: i64,
    ) -> Result<ConsoleSession> {
        self.write(|transaction| {
            let path = self.path.as_str();
            let key_name: Option<String> = transaction
                .query_row(
                    "SELECT name FROM api_keys WHERE id = ?1 AND revoked IS NULL AND role = 'admin'",
                    [key_id],
                    |row| row.get(0),
                )
                .optional()
                .at(path)?;
            let key_name = key_name.ok_or(GalleryError::NoSuchKey(key_id))?;
            let absolute = created.saturating_add(absolute_s);
            let expires = created.saturating_add(idle_s).min(absolute);
            transaction
                .execute(
                    "INSERT INTO console_sessions (token_sha256, key_id, created, idle_timeout, expires,
                                                   absolute_expires)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![token_sha256, key_id, created, idle_s, expires, absolute],
                )
                .at(path)?;
            Ok(ConsoleSession { key_id, key_name, created, expires })
        })
    }

    fn touch_session(&self, token_sha256: &str, now: i64) -> Result<Option<ConsoleSession>> {
        self.write(|transaction| {
            let path = self.path.as_str();
            let found: Option<(i64, String, i64, i64, i64)> = transaction
                .query_row(
                    "SELECT s.key_id, k.name, s.created, s.absolute_expires, s.idle_timeout
                     FROM console_sessions s JOIN api_keys k ON k.id = s.key_id
                     WHERE s.token_sha256 = ?1 AND k.revoked IS NULL AND s.expires > ?2 AND s.absolute_expires > ?2",
                    params![token_sha256, now],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)),
                )
                .optional()
                .at(path)?;
            let Some((key_id, key_name, created, absolute, idle_s)) = found else {
                transaction
                    .execute("DELETE FROM console_sessions WHERE expires <= ?1 OR absolute_expires <= ?1", [now])
                    .at(path)?;
                return Ok(None);
            };
            let expires = now.saturating_add(idle_s).min(absolute);
            transaction
                .execute(
                    "UPDATE console_sessions SET expires = ?2 WHERE token_sha256 = ?1",
                    params![token_sha256, expires],
                )
                .at(path)?;
            Ok(Some(ConsoleSession { key_id, key_name, created, expires }))
        })
    }

    fn end_session(&self, token_sha256: &str) -> Result<()> {
        self.db()
            .execute("DELETE FROM console_sessions WHERE token_sha256 = ?1", [token_sha256])
            .at(&self.path)
            .map(drop)
    }
}

/// Stores a decision's crop when its zone keeps crops (the zone's policy as
/// of this transaction); an unknown zone, or one that keeps none, stores nothing.
fn keep_crop(
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
            crate::image_sha256(&crop.jpeg),
            crop.face_size,
            crop.detector_score
        ],
    )
    .at(path)?;
    Ok(())
}

/// A zone's crops after its retention changed: re-dated, or deleted when it is off.
fn redate_crops(db: &Connection, path: &str, zone: &str, retention: Option<i64>) -> Result<()> {
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
fn purge_crops(db: &Connection, path: &str, now: i64) -> Result<usize> {
    db.execute("DELETE FROM probe_crops WHERE expires <= ?1", [now]).at(path)
}

fn external_id_taken(sample: &SampleRecord<'_>) -> GalleryError {
    GalleryError::Invalid(format!(
        "cannot add `{}`: external id `{}` belongs to someone else",
        sample.name,
        sample.external_id.unwrap_or_default()
    ))
}

/// Fills in an event's typed decision and reason from their stored codes.
pub(crate) fn typed_event(path: &str, decision: &str, reason: &str, mut event: Event) -> Result<Event> {
    let damaged = || GalleryError::Damaged {
        path: path.to_string(),
        detail: format!("event {} has decision `{decision}` and reason `{reason}`", event.id),
    };
    event.decision = Decision::parse(decision).ok_or_else(damaged)?;
    event.reason = Reason::parse(reason).ok_or_else(damaged)?;
    Ok(event)
}

pub(crate) fn typed_key(path: &str, role: &str, mut key: ApiKey) -> Result<ApiKey> {
    key.role = Role::parse(role).ok_or_else(|| GalleryError::Damaged {
        path: path.to_string(),
        detail: format!("API key {} has role `{role}`", key.id),
    })?;
    Ok(key)
}
