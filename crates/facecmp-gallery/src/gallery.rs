//! The gallery: people, zones, grants, face samples and the audit trail in
//! one SQLite file, with every sample's embedding also held in memory for
//! search.
//!
//! SQLite runs in WAL mode with `synchronous = FULL`: a write that returned
//! survives a crash of the process or the machine. Deleted rows are
//! overwritten (`secure_delete`), so erasing a person leaves no trace of
//! their face in the file.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use facecmp::{EmbedderIdentity, Embedding};
use facecmp_search::{PersonMatch, SearchIndex};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use crate::access::{Candidate, Probe, Reason, Verdict, decide};
use crate::enrol::{NewSample, Rejection};
use crate::error::{AtPath, GalleryError, Result};
use crate::schema;

/// An open gallery. Methods take `&self`: it is shared between threads
/// (the database behind a mutex, the search matrix behind a read-write lock).
pub struct Gallery {
    path: String,
    connection: Mutex<Connection>,
    index: RwLock<SearchIndex>,
    embedder: EmbedderIdentity,
}

/// An enrolled person and a summary of what is held about them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Person {
    pub id: i64,
    pub name: String,
    pub external_id: Option<String>,
    pub created: i64,
    pub samples: usize,
    pub zones: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Zone {
    pub id: i64,
    pub name: String,
    pub allow_multiple_faces: bool,
    pub created: i64,
    /// People with a grant for the zone (valid now or not).
    pub people: usize,
}

/// Permission for a person to enter a zone, optionally within a window
/// (unix seconds; either end may be open).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grant {
    pub person: String,
    pub zone: String,
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
    pub created: i64,
}

impl Grant {
    pub fn valid_at(&self, time: i64) -> bool {
        self.valid_from.is_none_or(|from| from <= time) && self.valid_until.is_none_or(|until| time < until)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub id: i64,
    pub person: String,
    pub embedder: String,
    pub detector_score: f32,
    pub face_size: f32,
    pub image_sha256: String,
    pub created: i64,
}

/// One access decision as the audit trail keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub id: i64,
    pub time: i64,
    pub zone: String,
    pub decision: String,
    pub reason: String,
    pub person: Option<String>,
    pub similarity: Option<f32>,
    pub image_sha256: Option<String>,
    /// Set when the person involved has been erased.
    pub tombstone: Option<String>,
}

/// Which events to list: newest first, `limit` at a time; `before` is the
/// id of the last event of the previous page.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub zone: Option<String>,
    pub decision: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub before: Option<i64>,
    pub limit: usize,
}

/// A decided and recorded access request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessDecision {
    pub allowed: bool,
    pub reason: Reason,
    pub detail: String,
    pub zone: String,
    /// The matched person, when the decision is about a person (allow,
    /// not granted, ambiguous); never an unmatched near miss.
    pub person: Option<String>,
    pub similarity: Option<f32>,
    pub threshold: f32,
    pub event_id: i64,
}

/// One answer to "who is this?".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identification {
    pub person: String,
    pub external_id: Option<String>,
    pub similarity: f32,
    pub sample: i64,
    /// `similarity >= threshold`.
    pub matched: bool,
}

/// The outcome of enrolling one photo.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Enrolled {
    pub person: String,
    pub person_id: i64,
    pub sample: i64,
    /// The person was created by this enrolment.
    pub new_person: bool,
}

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl Gallery {
    /// Creates a new gallery file, pinned to `embedder`.
    pub fn create(path: &Path, embedder: &EmbedderIdentity) -> Result<Gallery> {
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
        Self::with_connection(display, connection, embedder)
    }

    /// Opens an existing gallery, refusing one made with another embedder.
    pub fn open(path: &Path, embedder: &EmbedderIdentity) -> Result<Gallery> {
        let display = path.display().to_string();
        if !path.is_file() {
            return Err(GalleryError::Missing { path: display });
        }
        let mut connection = connect(path).at(&display)?;
        upgrade(&mut connection, &display)?;
        let stored: Option<String> = connection
            .query_row("SELECT value FROM meta WHERE key = 'embedder'", [], |row| row.get(0))
            .optional()
            .at(&display)?;
        let stored = stored.ok_or_else(|| GalleryError::NotAGallery { path: display.clone() })?;
        let stored: EmbedderIdentity =
            serde_json::from_str(&stored).map_err(|_| GalleryError::NotAGallery { path: display.clone() })?;
        if &stored != embedder {
            return Err(GalleryError::EmbedderMismatch {
                path: display,
                gallery: describe(&stored),
                current: describe(embedder),
            });
        }
        Self::with_connection(display, connection, embedder)
    }

    /// The embedder a gallery file is pinned to, without loading it.
    pub fn embedder_of(path: &Path) -> Result<EmbedderIdentity> {
        let display = path.display().to_string();
        if !path.is_file() {
            return Err(GalleryError::Missing { path: display });
        }
        let connection = connect(path).at(&display)?;
        let stored: Option<String> = connection
            .query_row("SELECT value FROM meta WHERE key = 'embedder'", [], |row| row.get(0))
            .optional()
            .unwrap_or(None);
        stored
            .and_then(|text| serde_json::from_str(&text).ok())
            .ok_or(GalleryError::NotAGallery { path: display })
    }

    fn with_connection(path: String, connection: Connection, embedder: &EmbedderIdentity) -> Result<Gallery> {
        let index = load_index(&connection, &path, embedder.dimension)?;
        Ok(Gallery {
            path,
            connection: Mutex::new(connection),
            index: RwLock::new(index),
            embedder: embedder.clone(),
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn embedder(&self) -> &EmbedderIdentity {
        &self.embedder
    }

    /// Samples held in the search matrix.
    pub fn sample_count(&self) -> usize {
        self.index.read().expect("index lock").len()
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written
        // (transactions roll back on drop), so a poisoned lock is still usable.
        self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    // ---- people -------------------------------------------------------

    pub fn people(&self) -> Result<Vec<Person>> {
        self.people_named(None)
    }

    pub fn person(&self, name: &str) -> Result<Person> {
        self.people_named(Some(name))?.pop().ok_or_else(|| GalleryError::NoSuchPerson(name.to_string()))
    }

    /// Everyone, or the one person called `name`.
    fn people_named(&self, name: Option<&str>) -> Result<Vec<Person>> {
        let db = self.db();
        let mut statement = db
            .prepare(
                "SELECT p.id, p.name, p.external_id, p.created,
                        (SELECT COUNT(*) FROM samples s WHERE s.person_id = p.id),
                        (SELECT group_concat(z.name, char(31)) FROM grants g JOIN zones z ON z.id = g.zone_id
                          WHERE g.person_id = p.id)
                 FROM people p WHERE ?1 IS NULL OR p.name = ?1 ORDER BY p.name",
            )
            .at(&self.path)?;
        let rows = statement
            .query_map([name], |row| {
                let zones: Option<String> = row.get(5)?;
                Ok(Person {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    external_id: row.get(2)?,
                    created: row.get(3)?,
                    samples: row.get::<_, i64>(4)? as usize,
                    zones: split_names(zones),
                })
            })
            .at(&self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(&self.path)
    }

    /// Enrols one reviewed face as a sample of `name`, creating the person
    /// on their first sample. Returns `Ok(Err(rejection))` when the sample is
    /// refused. The sample is durable once this returns.
    pub fn enrol(
        &self,
        name: &str,
        external_id: Option<&str>,
        sample: &NewSample,
        strict: Option<f32>,
    ) -> Result<std::result::Result<Enrolled, Rejection>> {
        validate_name("person", name)?;
        self.check_dimension(&sample.embedding)?;
        let mut db = self.db();
        let transaction = db.transaction_with_behavior(TransactionBehavior::Immediate).at(&self.path)?;
        let existing: Option<i64> = transaction
            .query_row("SELECT id FROM people WHERE name = ?1", [name], |row| row.get(0))
            .optional()
            .at(&self.path)?;
        if let Some(person_id) = existing {
            let duplicate: bool = transaction
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM samples WHERE person_id = ?1 AND image_sha256 = ?2)",
                    params![person_id, sample.image_sha256],
                    |row| row.get(0),
                )
                .at(&self.path)?;
            if duplicate {
                return Ok(Err(Rejection::AlreadyEnrolled));
            }
        }
        if let Some(threshold) = strict
            && let Some(rejection) =
                self.closer_to_other(&transaction, existing, &sample.embedding, threshold)?
        {
            return Ok(Err(rejection));
        }
        let time = now();
        let person_id = match existing {
            Some(id) => id,
            None => {
                transaction
                    .execute(
                        "INSERT INTO people (name, external_id, created) VALUES (?1, ?2, ?3)",
                        params![name, external_id, time],
                    )
                    .map_err(|error| self.explain_conflict(error, name, external_id))?;
                transaction.last_insert_rowid()
            }
        };
        transaction
            .execute(
                "INSERT INTO samples (person_id, embedding, embedder, detector_score, face_size, image_sha256,
                                      created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    person_id,
                    embedding_bytes(&sample.embedding),
                    self.embedder.sha256,
                    sample.detector_score,
                    sample.face_size,
                    sample.image_sha256,
                    time
                ],
            )
            .at(&self.path)?;
        let sample_id = transaction.last_insert_rowid();
        transaction.commit().at(&self.path)?;
        // Readers see the sample only once it is durable.
        self.index.write().expect("index lock").insert(sample_id, person_id, sample.embedding.as_slice())?;
        Ok(Ok(Enrolled {
            person: name.to_string(),
            person_id,
            sample: sample_id,
            new_person: existing.is_none(),
        }))
    }

    /// `--strict`: the nearest other person, if they are nearer than the
    /// person's own samples (or, for a new person, above the threshold).
    fn closer_to_other(
        &self,
        db: &Connection,
        own: Option<i64>,
        embedding: &Embedding,
        threshold: f32,
    ) -> Result<Option<Rejection>> {
        let index = self.index.read().expect("index lock");
        let own_best = match own {
            Some(person) => index.search_among(embedding.as_slice(), 1, &|id| id == person)?.first().copied(),
            None => None,
        };
        let other = index.search_among(embedding.as_slice(), 1, &|id| Some(id) != own)?.first().copied();
        drop(index);
        let Some(other) = other else { return Ok(None) };
        let closer = match own_best {
            Some(own_best) => other.similarity > own_best.similarity,
            None => other.similarity >= threshold,
        };
        if !closer {
            return Ok(None);
        }
        let name = person_name(db, other.person).at(&self.path)?;
        Ok(Some(Rejection::CloserToOther {
            other: name,
            similarity: other.similarity,
            own: own_best.map(|m| m.similarity),
        }))
    }

    fn explain_conflict(
        &self,
        error: rusqlite::Error,
        name: &str,
        external_id: Option<&str>,
    ) -> GalleryError {
        if let rusqlite::Error::SqliteFailure(failure, _) = &error
            && failure.code == rusqlite::ErrorCode::ConstraintViolation
        {
            return GalleryError::Invalid(format!(
                "cannot add `{name}`: external id `{}` belongs to someone else",
                external_id.unwrap_or_default()
            ));
        }
        GalleryError::Database { path: self.path.clone(), source: error }
    }

    /// Erases a person: their samples, grants and record go, and the
    /// audit events about them keep only the decision, under a tombstone.
    /// Returns the tombstone.
    pub fn remove_person(&self, name: &str) -> Result<String> {
        let mut db = self.db();
        let transaction = db.transaction_with_behavior(TransactionBehavior::Immediate).at(&self.path)?;
        let person_id: i64 = transaction
            .query_row("SELECT id FROM people WHERE name = ?1", [name], |row| row.get(0))
            .optional()
            .at(&self.path)?
            .ok_or_else(|| GalleryError::NoSuchPerson(name.to_string()))?;
        let tombstone = format!("erased-{}", random_hex(8));
        transaction
            .execute(
                "UPDATE events SET person_id = NULL, similarity = NULL, image_sha256 = NULL, tombstone = ?2
                 WHERE person_id = ?1",
                params![person_id, tombstone],
            )
            .at(&self.path)?;
        // Samples and grants go with the person (ON DELETE CASCADE).
        transaction.execute("DELETE FROM people WHERE id = ?1", [person_id]).at(&self.path)?;
        transaction.commit().at(&self.path)?;
        self.index.write().expect("index lock").remove_person(person_id);
        // Move the overwritten pages out of the write-ahead log too.
        db.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).at(&self.path)?;
        Ok(tombstone)
    }

    pub fn samples(&self, person: Option<&str>) -> Result<Vec<Sample>> {
        let db = self.db();
        let mut statement = db
            .prepare(
                "SELECT s.id, p.name, s.embedder, s.detector_score, s.face_size, s.image_sha256, s.created
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
                })
            })
            .at(&self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(&self.path)
    }

    /// Deletes one sample. Returns whether it existed.
    pub fn remove_sample(&self, sample: i64) -> Result<bool> {
        let removed = self.db().execute("DELETE FROM samples WHERE id = ?1", [sample]).at(&self.path)?;
        self.index.write().expect("index lock").remove_sample(sample);
        Ok(removed > 0)
    }

    // ---- zones and grants ---------------------------------------------

    pub fn zones(&self) -> Result<Vec<Zone>> {
        self.zones_named(None)
    }

    /// Looked up on every access request: by name, not by listing every zone.
    pub fn zone(&self, name: &str) -> Result<Option<Zone>> {
        Ok(self.zones_named(Some(name))?.pop())
    }

    /// Every zone, or the one called `name`.
    fn zones_named(&self, name: Option<&str>) -> Result<Vec<Zone>> {
        let db = self.db();
        let mut statement = db
            .prepare(
                "SELECT z.id, z.name, z.allow_multiple_faces, z.created,
                        (SELECT COUNT(*) FROM grants g WHERE g.zone_id = z.id)
                 FROM zones z WHERE ?1 IS NULL OR z.name = ?1 ORDER BY z.name",
            )
            .at(&self.path)?;
        let rows = statement
            .query_map([name], |row| {
                Ok(Zone {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    allow_multiple_faces: row.get(2)?,
                    created: row.get(3)?,
                    people: row.get::<_, i64>(4)? as usize,
                })
            })
            .at(&self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(&self.path)
    }

    /// Creates a zone, or changes whether it admits photos with several faces.
    pub fn set_zone(&self, name: &str, allow_multiple_faces: bool) -> Result<Zone> {
        validate_name("zone", name)?;
        self.db()
            .execute(
                "INSERT INTO zones (name, allow_multiple_faces, created) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET allow_multiple_faces = excluded.allow_multiple_faces",
                params![name, allow_multiple_faces, now()],
            )
            .at(&self.path)?;
        Ok(self.zone(name)?.expect("zone was just written"))
    }

    /// Grants `person` entry to `zone` (created if new), replacing any earlier window.
    pub fn grant(
        &self,
        person: &str,
        zone: &str,
        valid_from: Option<i64>,
        valid_until: Option<i64>,
    ) -> Result<Grant> {
        validate_name("zone", zone)?;
        if let (Some(from), Some(until)) = (valid_from, valid_until)
            && from >= until
        {
            return Err(GalleryError::Invalid(format!(
                "the grant's window is empty: it must start before it ends ({from} ≥ {until})"
            )));
        }
        let mut db = self.db();
        let transaction = db.transaction_with_behavior(TransactionBehavior::Immediate).at(&self.path)?;
        let person_id = person_id(&transaction, person, &self.path)?;
        let time = now();
        transaction
            .execute(
                "INSERT INTO zones (name, created) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                params![zone, time],
            )
            .at(&self.path)?;
        transaction
            .execute(
                "INSERT INTO grants (person_id, zone_id, valid_from, valid_until, created)
                 VALUES (?1, (SELECT id FROM zones WHERE name = ?2), ?3, ?4, ?5)
                 ON CONFLICT (person_id, zone_id) DO UPDATE
                   SET valid_from = excluded.valid_from, valid_until = excluded.valid_until",
                params![person_id, zone, valid_from, valid_until, time],
            )
            .at(&self.path)?;
        transaction.commit().at(&self.path)?;
        Ok(Grant {
            person: person.to_string(),
            zone: zone.to_string(),
            valid_from,
            valid_until,
            created: time,
        })
    }

    /// Withdraws a grant. Returns whether there was one.
    pub fn revoke(&self, person: &str, zone: &str) -> Result<bool> {
        let db = self.db();
        let person_id = person_id(&db, person, &self.path)?;
        let removed = db
            .execute(
                "DELETE FROM grants WHERE person_id = ?1 AND zone_id = (SELECT id FROM zones WHERE name = ?2)",
                params![person_id, zone],
            )
            .at(&self.path)?;
        Ok(removed > 0)
    }

    pub fn grants(&self, zone: Option<&str>, person: Option<&str>) -> Result<Vec<Grant>> {
        let db = self.db();
        let mut statement = db
            .prepare(
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

    // ---- matching -----------------------------------------------------

    /// The `top` people most like `embedding`, best first; with `zone`, only
    /// people holding a grant for it that is valid now.
    pub fn identify(
        &self,
        embedding: &Embedding,
        top: usize,
        zone: Option<&str>,
        threshold: f32,
    ) -> Result<Vec<Identification>> {
        self.check_dimension(embedding)?;
        let allowed = match zone {
            Some(zone) => Some(self.granted_people(zone, now())?),
            None => None,
        };
        let matches = {
            let index = self.index.read().expect("index lock");
            match &allowed {
                Some(allowed) => {
                    index.search_among(embedding.as_slice(), top, &|id| allowed.contains(&id))?
                }
                None => index.search(embedding.as_slice(), top)?,
            }
        };
        let db = self.db();
        matches
            .into_iter()
            .map(|found| {
                let (person, external_id) = db
                    .query_row("SELECT name, external_id FROM people WHERE id = ?1", [found.person], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })
                    .at(&self.path)?;
                Ok(Identification {
                    person,
                    external_id,
                    similarity: found.similarity,
                    sample: found.sample,
                    matched: found.similarity >= threshold,
                })
            })
            .collect()
    }

    fn granted_people(&self, zone: &str, time: i64) -> Result<std::collections::HashSet<i64>> {
        let db = self.db();
        let mut statement = db
            .prepare(
                "SELECT g.person_id FROM grants g JOIN zones z ON z.id = g.zone_id
                 WHERE z.name = ?1 AND (g.valid_from IS NULL OR g.valid_from <= ?2)
                   AND (g.valid_until IS NULL OR ?2 < g.valid_until)",
            )
            .at(&self.path)?;
        let rows = statement.query_map(params![zone, time], |row| row.get(0)).at(&self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(&self.path)
    }

    /// Decides an access request and writes it to the audit trail in the
    /// same transaction: a decision that could not be recorded is an error,
    /// and the caller must treat it as a denial.
    pub fn decide_access(
        &self,
        zone: &str,
        probe: &Probe,
        image_sha256: Option<&str>,
        threshold: f32,
    ) -> Result<AccessDecision> {
        let mut db = self.db();
        let transaction = db.transaction_with_behavior(TransactionBehavior::Immediate).at(&self.path)?;
        let time = now();
        let zone_exists: bool = transaction
            .query_row("SELECT EXISTS (SELECT 1 FROM zones WHERE name = ?1)", [zone], |row| row.get(0))
            .at(&self.path)?;
        let verdict = if !zone_exists {
            Verdict { reason: Reason::UnknownZone, detail: format!("no zone named `{zone}`"), best: None }
        } else {
            match probe {
                Probe::Refused { reason, detail } => {
                    Verdict { reason: *reason, detail: detail.clone(), best: None }
                }
                Probe::Face { embedding, .. } => {
                    self.check_dimension(embedding)?;
                    let matches = self.index.read().expect("index lock").search(embedding.as_slice(), 2)?;
                    let candidates = self.candidates(&transaction, zone, time, &matches)?;
                    decide(&candidates, threshold)
                }
            }
        };
        let best = verdict.best.as_ref();
        transaction
            .execute(
                "INSERT INTO events (time, zone, decision, reason, person_id, similarity, image_sha256)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    time,
                    zone,
                    if verdict.allowed() { "allow" } else { "deny" },
                    verdict.reason.as_str(),
                    best.map(|b| b.person_id),
                    best.map(|b| b.similarity),
                    image_sha256
                ],
            )
            .at(&self.path)?;
        let event_id = transaction.last_insert_rowid();
        let named = matches!(verdict.reason, Reason::Granted | Reason::NotGranted | Reason::Ambiguous);
        let person = match (named, best) {
            (true, Some(best)) => Some(person_name(&transaction, best.person_id).at(&self.path)?),
            _ => None,
        };
        transaction.commit().at(&self.path)?;
        Ok(AccessDecision {
            allowed: verdict.allowed(),
            reason: verdict.reason,
            detail: verdict.detail,
            zone: zone.to_string(),
            person,
            similarity: if named { best.map(|b| b.similarity) } else { None },
            threshold,
            event_id,
        })
    }

    fn candidates(
        &self,
        db: &Connection,
        zone: &str,
        time: i64,
        matches: &[PersonMatch],
    ) -> Result<Vec<Candidate>> {
        matches
            .iter()
            .map(|found| {
                let granted: bool = db
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM grants g JOIN zones z ON z.id = g.zone_id
                          WHERE g.person_id = ?1 AND z.name = ?2
                            AND (g.valid_from IS NULL OR g.valid_from <= ?3)
                            AND (g.valid_until IS NULL OR ?3 < g.valid_until))",
                        params![found.person, zone, time],
                        |row| row.get(0),
                    )
                    .at(&self.path)?;
                Ok(Candidate { person_id: found.person, similarity: found.similarity, granted })
            })
            .collect()
    }

    pub fn events(&self, query: &EventQuery) -> Result<Vec<Event>> {
        let db = self.db();
        let mut statement = db
            .prepare(
                "SELECT e.id, e.time, e.zone, e.decision, e.reason, p.name, e.similarity, e.image_sha256,
                        e.tombstone
                 FROM events e LEFT JOIN people p ON p.id = e.person_id
                 WHERE (?1 IS NULL OR e.zone = ?1) AND (?2 IS NULL OR e.decision = ?2)
                   AND (?3 IS NULL OR e.time >= ?3) AND (?4 IS NULL OR e.time < ?4)
                   AND (?5 IS NULL OR e.id < ?5)
                 ORDER BY e.id DESC LIMIT ?6",
            )
            .at(&self.path)?;
        let limit = if query.limit == 0 { 100 } else { query.limit } as i64;
        let rows = statement
            .query_map(
                params![query.zone, query.decision, query.since, query.until, query.before, limit],
                |row| {
                    Ok(Event {
                        id: row.get(0)?,
                        time: row.get(1)?,
                        zone: row.get(2)?,
                        decision: row.get(3)?,
                        reason: row.get(4)?,
                        person: row.get(5)?,
                        similarity: row.get(6)?,
                        image_sha256: row.get(7)?,
                        tombstone: row.get(8)?,
                    })
                },
            )
            .at(&self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(&self.path)
    }

    fn check_dimension(&self, embedding: &Embedding) -> Result<()> {
        if embedding.dimension() == self.embedder.dimension {
            return Ok(());
        }
        Err(GalleryError::Invalid(format!(
            "an embedding of {} values cannot be matched against a gallery of {}-d embeddings",
            embedding.dimension(),
            self.embedder.dimension
        )))
    }

    /// Runs `f` with the database connection (API keys, tests).
    pub(crate) fn with_db<T>(&self, f: impl FnOnce(&mut Connection, &str) -> Result<T>) -> Result<T> {
        f(&mut self.db(), &self.path)
    }
}

/// Opens the file with the settings every connection needs.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(std::time::Duration::from_secs(10))?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", true)?;
    connection.pragma_update(None, "secure_delete", true)?;
    Ok(connection)
}

fn upgrade(connection: &mut Connection, path: &str) -> Result<()> {
    let found = schema::version(connection).at(path)?;
    if found > schema::SCHEMA_VERSION {
        return Err(GalleryError::SchemaTooNew {
            path: path.to_string(),
            found,
            supported: schema::SCHEMA_VERSION,
        });
    }
    if found == 0 {
        // Version 0 is also what an empty or foreign SQLite file reports.
        return Err(GalleryError::NotAGallery { path: path.to_string() });
    }
    if found < schema::SCHEMA_VERSION {
        let transaction = connection.transaction().at(path)?;
        schema::migrate(&transaction, found).at(path)?;
        transaction.commit().at(path)?;
    }
    Ok(())
}

/// Reads every sample into the search matrix.
fn load_index(connection: &Connection, path: &str, dimension: usize) -> Result<SearchIndex> {
    let mut index = SearchIndex::new(dimension);
    let mut statement = connection.prepare("SELECT id, person_id, embedding FROM samples").at(path)?;
    let mut rows = statement.query([]).at(path)?;
    while let Some(row) = rows.next().at(path)? {
        let (sample, person): (i64, i64) = (row.get(0).at(path)?, row.get(1).at(path)?);
        let bytes: Vec<u8> = row.get(2).at(path)?;
        let damaged = || GalleryError::DamagedSample { path: path.to_string(), sample, bytes: bytes.len() };
        if bytes.len() != dimension * 4 {
            return Err(damaged());
        }
        let vector: Vec<f32> =
            bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect();
        index.insert(sample, person, &vector).map_err(|_| damaged())?;
    }
    Ok(index)
}

fn embedding_bytes(embedding: &Embedding) -> Vec<u8> {
    embedding.as_slice().iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn person_id(db: &Connection, name: &str, path: &str) -> Result<i64> {
    db.query_row("SELECT id FROM people WHERE name = ?1", [name], |row| row.get(0))
        .optional()
        .at(path)?
        .ok_or_else(|| GalleryError::NoSuchPerson(name.to_string()))
}

fn person_name(db: &Connection, id: i64) -> rusqlite::Result<String> {
    db.query_row("SELECT name FROM people WHERE id = ?1", [id], |row| row.get(0))
}

fn split_names(joined: Option<String>) -> Vec<String> {
    let mut names: Vec<String> =
        joined.map(|text| text.split('\u{1f}').map(str::to_string).collect()).unwrap_or_default();
    names.sort();
    names
}

fn validate_name(what: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(GalleryError::Invalid(format!(
            "`{name}` is not a usable {what} name (1 to 200 printable characters)"
        )));
    }
    Ok(())
}

fn describe(identity: &EmbedderIdentity) -> String {
    format!(
        "{} (sha256 {}…, {})",
        identity.name,
        &identity.sha256[..12.min(identity.sha256.len())],
        identity.preprocessing
    )
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).expect("the operating system provides randomness");
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}
