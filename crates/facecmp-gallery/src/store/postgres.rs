//! [`GalleryStore`] in PostgreSQL: one database shared by every node.
//!
//! Each store holds one connection for its work (behind a mutex, like
//! SQLite's) and a second one that LISTENs on [`CHANNEL`]: every write bumps
//! the revision row and notifies the new revision in its transaction, and
//! the gallery's watcher thread, woken by the notification, replays the
//! change into its index at once, off the request path. Every request also
//! reads the revision row itself before it searches, so a missed
//! notification (a dropped listener) never leaves a node behind, and a
//! change is used from the very next request. Erased people are never
//! matched meanwhile either: every decision re-checks, inside its
//! transaction, that the matched person still exists (and holds their row
//! against a concurrent erasure until it commits).
//!
//! A lost connection fails closed: the call answers
//! [`GalleryError::Unavailable`], the connection is dropped, and the next
//! call connects again.
//!
//! Calls block: the service makes them from its blocking worker threads,
//! never from async code.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use facecmp::EmbedderIdentity;
use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, GenericClient, IsolationLevel, NoTls, Row};

use super::postgres_schema::{MIGRATIONS, SCHEMA_VERSION};
use super::sqlite::{typed_event, typed_key};
use super::{
    CHANGE_LOG_KEPT, Change, Changes, DecisionRecord, EnrolCheck, GalleryStore, KeyRecord, RecordedDecision,
    SampleRecord, Snapshot, StoreReader, StoredSample, decide_verdict, names_person, redact_password,
    vector_bytes, vector_from_bytes,
};
use crate::access::{Decision, Reason};
use crate::crops::{ProbeCrop, StoredCrop};
use crate::enrol::Rejection;
use crate::error::{GalleryError, Result};
use crate::gallery::{Enrolled, Event, EventQuery, Grant, Person, Sample, Zone, ZonePolicy};
use crate::keys::{ApiKey, Role};
use crate::sessions::ConsoleSession;

/// The channel revision bumps are notified on.
pub const CHANNEL: &str = "facecmp_revision";

/// How long connecting may take before the request is answered unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

pub struct PostgresStore {
    config: Config,
    location: String,
    /// The working connection; `None` after a failure, until the next call reconnects.
    connection: Mutex<Option<Client>>,
    /// The connection that waits for notifications (see [`GalleryStore::wait_for_change`]).
    listener: Mutex<Option<Client>>,
}

impl PostgresStore {
    /// Creates the gallery's tables in an empty database, pinned to `embedder`.
    pub fn create(url: &str, embedder: &EmbedderIdentity) -> Result<PostgresStore> {
        let store = PostgresStore::connect(url)?;
        let identity = serde_json::to_string(embedder).expect("identity serialises");
        store.with_client(|client, location| {
            let mut transaction = client.transaction().map_err(|e| pg_error(location, e))?;
            lock_schema(&mut transaction, location)?;
            if schema_version(&mut transaction, location)?.is_some() {
                return Err(GalleryError::AlreadyExists { path: location.to_string() });
            }
            for migration in MIGRATIONS {
                transaction.batch_execute(migration).map_err(|e| pg_error(location, e))?;
            }
            transaction
                .execute(
                    "INSERT INTO meta (key, value) VALUES ('embedder', $1), ('schema_version', $2)",
                    &[&identity, &SCHEMA_VERSION.to_string()],
                )
                .map_err(|e| pg_error(location, e))?;
            transaction.commit().map_err(|e| pg_error(location, e))
        })?;
        Ok(store)
    }

    /// Opens a database holding a gallery, upgrading its schema if it is older.
    pub fn open(url: &str) -> Result<PostgresStore> {
        let store = PostgresStore::connect(url)?;
        store.with_client(|client, location| {
            let mut transaction = client.transaction().map_err(|e| pg_error(location, e))?;
            lock_schema(&mut transaction, location)?;
            let found = schema_version(&mut transaction, location)?
                .ok_or_else(|| GalleryError::Missing { path: location.to_string() })?;
            if found > SCHEMA_VERSION {
                return Err(GalleryError::SchemaTooNew {
                    path: location.to_string(),
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            for migration in &MIGRATIONS[found as usize..] {
                transaction.batch_execute(migration).map_err(|e| pg_error(location, e))?;
            }
            transaction
                .execute(
                    "UPDATE meta SET value = $1 WHERE key = 'schema_version'",
                    &[&SCHEMA_VERSION.to_string()],
                )
                .map_err(|e| pg_error(location, e))?;
            transaction.commit().map_err(|e| pg_error(location, e))
        })?;
        Ok(store)
    }

    fn connect(url: &str) -> Result<PostgresStore> {
        let location = redact_password(url);
        let mut config: Config = url
            .parse()
            .map_err(|_| GalleryError::Invalid(format!("{location}: not a usable PostgreSQL URL")))?;
        // Like libpq: a password left out of the URL (and so out of process
        // listings and logs) may come from PGPASSWORD.
        if config.get_password().is_none()
            && let Some(password) = std::env::var_os("PGPASSWORD")
        {
            config.password(password.as_encoded_bytes());
        }
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("facecmp");
        let store =
            PostgresStore { config, location, connection: Mutex::new(None), listener: Mutex::new(None) };
        store.with_client(|_, _| Ok(()))?;
        Ok(store)
    }

    /// Runs `f` on the working connection, connecting first if there is
    /// none; a connection that failed is dropped so the next call reconnects.
    fn with_client<T>(&self, f: impl FnOnce(&mut Client, &str) -> Result<T>) -> Result<T> {
        let mut connection = lock(&self.connection);
        on_connection(&mut connection, &self.config, &self.location, None, f)
    }

    /// One transaction that locks the revision row first and bumps it
    /// last. The lock makes writers take turns, so a check inside sees
    /// every earlier write; the late bump means that check reads only
    /// committed revisions, so the index it syncs never claims a revision
    /// whose change (this one) it has not applied. `f` logs its changes
    /// under the revision the bump will reach. (A write that ends up
    /// changing nothing still moves the revision on; other nodes then find
    /// an empty change log, which is harmless.)
    fn write<T>(&self, f: impl FnOnce(&mut postgres::Transaction<'_>, &str, i64) -> Result<T>) -> Result<T> {
        self.with_client(|client, location| {
            let mut transaction = client.transaction().map_err(|e| pg_error(location, e))?;
            let next = lock_revision(&mut transaction, location)? + 1;
            let value = f(&mut transaction, location, next)?;
            let bumped = bump(&mut transaction, location)?;
            debug_assert_eq!(bumped, next, "the revision row was locked");
            transaction.commit().map_err(|e| pg_error(location, e))?;
            Ok(value)
        })
    }

    /// A transaction without a revision bump (decisions, keys, sessions).
    fn transaction<T>(&self, f: impl FnOnce(&mut postgres::Transaction<'_>, &str) -> Result<T>) -> Result<T> {
        self.with_client(|client, location| {
            let mut transaction = client.transaction().map_err(|e| pg_error(location, e))?;
            let value = f(&mut transaction, location)?;
            transaction.commit().map_err(|e| pg_error(location, e))?;
            Ok(value)
        })
    }
}

fn lock(connection: &Mutex<Option<Client>>) -> MutexGuard<'_, Option<Client>> {
    // A panic cannot leave a transaction open: it rolls back on drop.
    connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `f` on `connection`, connecting (and LISTENing on `listen`) first
/// if there is none or it was closed; drops it after an `Unavailable`.
fn on_connection<T>(
    connection: &mut Option<Client>,
    config: &Config,
    location: &str,
    listen: Option<&str>,
    f: impl FnOnce(&mut Client, &str) -> Result<T>,
) -> Result<T> {
    if connection.as_ref().is_none_or(Client::is_closed) {
        *connection = None;
        let mut client = config.connect(NoTls).map_err(|e| pg_error(location, e))?;
        if let Some(channel) = listen {
            client.batch_execute(&format!("LISTEN {channel}")).map_err(|e| pg_error(location, e))?;
        }
        *connection = Some(client);
    }
    let client = connection.as_mut().expect("connected above");
    let result = f(client, location);
    if matches!(result, Err(GalleryError::Unavailable { .. })) {
        *connection = None;
    }
    result
}

/// A failed call: a server-side error is a storage error; anything else
/// (closed connection, refused, timed out) means the database is unreachable.
fn pg_error(location: &str, error: postgres::Error) -> GalleryError {
    match error.as_db_error() {
        Some(db) if !is_connection_state(db.code()) => {
            GalleryError::Database { path: location.to_string(), detail: db.message().to_string() }
        }
        _ => GalleryError::Unavailable { path: location.to_string(), detail: error.to_string() },
    }
}

/// Server errors that mean "not now" rather than "not so": shutting down,
/// starting up, too many connections.
fn is_connection_state(code: &SqlState) -> bool {
    [
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::TOO_MANY_CONNECTIONS,
    ]
    .contains(code)
}

/// Serialises schema changes between nodes starting at once.
fn lock_schema(client: &mut impl GenericClient, location: &str) -> Result<()> {
    client.execute("SELECT pg_advisory_xact_lock(7214000011)", &[]).map_err(|e| pg_error(location, e))?;
    Ok(())
}

fn schema_version(client: &mut impl GenericClient, location: &str) -> Result<Option<u32>> {
    let exists: bool = client
        .query_one("SELECT to_regclass('meta') IS NOT NULL", &[])
        .map_err(|e| pg_error(location, e))?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_opt("SELECT value FROM meta WHERE key = 'schema_version'", &[])
        .map_err(|e| pg_error(location, e))?;
    let version = row.and_then(|row| row.get::<_, String>(0).parse().ok());
    version.map(Some).ok_or_else(|| GalleryError::NotAGallery { path: location.to_string() })
}

/// The current revision, its row locked until the transaction ends.
fn lock_revision(client: &mut impl GenericClient, location: &str) -> Result<i64> {
    Ok(client
        .query_one("SELECT value FROM revision WHERE id = 1 FOR UPDATE", &[])
        .map_err(|e| pg_error(location, e))?
        .get(0))
}

fn bump(client: &mut impl GenericClient, location: &str) -> Result<i64> {
    let revision: i64 = client
        .query_one("UPDATE revision SET value = value + 1 WHERE id = 1 RETURNING value", &[])
        .map_err(|e| pg_error(location, e))?
        .get(0);
    client
        .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &revision.to_string()])
        .map_err(|e| pg_error(location, e))?;
    if revision % 1000 == 0 && revision > CHANGE_LOG_KEPT {
        let floor = revision - CHANGE_LOG_KEPT;
        client
            .execute("UPDATE revision SET log_floor = GREATEST(log_floor, $1) WHERE id = 1", &[&floor])
            .map_err(|e| pg_error(location, e))?;
        client
            .execute("DELETE FROM changes WHERE rev <= $1", &[&floor])
            .map_err(|e| pg_error(location, e))?;
    }
    Ok(revision)
}

fn log_change(
    client: &mut impl GenericClient,
    location: &str,
    revision: i64,
    op: &str,
    sample: Option<i64>,
    person: Option<i64>,
) -> Result<()> {
    client
        .execute(
            "INSERT INTO changes (rev, op, sample_id, person_id) VALUES ($1, $2, $3, $4)",
            &[&revision, &op, &sample, &person],
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(())
}

fn person_id(client: &mut impl GenericClient, location: &str, name: &str) -> Result<i64> {
    client
        .query_opt("SELECT id FROM people WHERE name = $1", &[&name])
        .map_err(|e| pg_error(location, e))?
        .map(|row| row.get(0))
        .ok_or_else(|| GalleryError::NoSuchPerson(name.to_string()))
}

/// Stores a decision's crop when its zone keeps crops (the zone's policy as
/// of this transaction); an unknown zone, or one that keeps none, stores nothing.
fn keep_crop(
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
                &crate::image_sha256(&crop.jpeg),
                &crop.face_size,
                &crop.detector_score,
            ],
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(())
}

/// A zone's crops after its retention changed: re-dated, or deleted when it is off.
fn redate_crops(
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

/// Deletes every crop expired at `now` (an index range scan: cheap when
/// there is nothing to delete).
fn purge_crops(client: &mut impl GenericClient, location: &str, now: i64) -> Result<usize> {
    let deleted = client
        .execute("DELETE FROM probe_crops WHERE expires <= $1", &[&now])
        .map_err(|e| pg_error(location, e))?;
    Ok(deleted as usize)
}

struct Reader<'c, C: GenericClient> {
    client: &'c mut C,
    location: &'c str,
}

impl<C: GenericClient> Reader<'_, C> {
    fn query(&mut self, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> Result<Vec<Row>> {
        self.client.query(sql, params).map_err(|e| pg_error(self.location, e))
    }
}

impl<C: GenericClient> StoreReader for Reader<'_, C> {
    fn revision(&mut self) -> Result<i64> {
        Ok(self.query("SELECT value FROM revision WHERE id = 1", &[])?[0].get(0))
    }

    fn changes_since(&mut self, since: i64) -> Result<Changes> {
        let row = &self.query("SELECT value, log_floor FROM revision WHERE id = 1", &[])?[0];
        let (revision, floor): (i64, i64) = (row.get(0), row.get(1));
        if since < floor || since > revision {
            return Ok(Changes::Truncated);
        }
        let rows = self.query(
            "SELECT c.op, c.sample_id, c.person_id, s.embedding
             FROM changes c LEFT JOIN samples s ON s.id = c.sample_id
             WHERE c.rev > $1 AND c.rev <= $2 ORDER BY c.seq",
            &[&since, &revision],
        )?;
        let mut changes = Vec::with_capacity(rows.len());
        for row in rows {
            let op: String = row.get(0);
            let (sample, person): (Option<i64>, Option<i64>) = (row.get(1), row.get(2));
            let vector = row.get::<_, Option<Vec<u8>>>(3).and_then(|bytes| vector_from_bytes(&bytes, None));
            changes.push(match (op.as_str(), sample, person) {
                ("add", Some(sample), Some(person)) => Change::Added { sample, person, vector },
                ("remove_sample", Some(sample), _) => Change::RemovedSample { sample },
                ("remove_person", _, Some(person)) => Change::RemovedPerson { person },
                _ => {
                    return Err(GalleryError::Damaged {
                        path: self.location.to_string(),
                        detail: format!("change log entry `{op}`"),
                    });
                }
            });
        }
        Ok(Changes::Log { revision, changes })
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        let revision = self.revision()?;
        let rows = self.query("SELECT id, person_id, embedding FROM samples", &[])?;
        let mut samples = Vec::with_capacity(rows.len());
        for row in rows {
            let (sample, person, bytes): (i64, i64, Vec<u8>) = (row.get(0), row.get(1), row.get(2));
            let vector = vector_from_bytes(&bytes, None).ok_or_else(|| GalleryError::DamagedSample {
                path: self.location.to_string(),
                sample,
                bytes: bytes.len(),
            })?;
            samples.push(StoredSample { sample, person, vector });
        }
        Ok(Snapshot { revision, samples })
    }

    fn person_name(&mut self, person: i64) -> Result<Option<String>> {
        // Holds the row until the transaction ends: an erasure waits for a
        // decision about this person to be recorded, then tombstones it too.
        Ok(self
            .query("SELECT name FROM people WHERE id = $1 FOR KEY SHARE", &[&person])?
            .first()
            .map(|r| r.get(0)))
    }

    fn zone_exists(&mut self, zone: &str) -> Result<bool> {
        Ok(!self.query("SELECT 1 FROM zones WHERE name = $1", &[&zone])?.is_empty())
    }

    fn granted(&mut self, person: i64, zone: &str, time: i64) -> Result<bool> {
        Ok(!self
            .query(
                "SELECT 1 FROM grants g JOIN zones z ON z.id = g.zone_id
                 WHERE g.person_id = $1 AND z.name = $2
                   AND (g.valid_from IS NULL OR g.valid_from <= $3)
                   AND (g.valid_until IS NULL OR $3 < g.valid_until)",
                &[&person, &zone, &time],
            )?
            .is_empty())
    }
}

fn split_names(joined: Option<String>) -> Vec<String> {
    let mut names: Vec<String> =
        joined.map(|text| text.split('\u{1f}').map(str::to_string).collect()).unwrap_or_default();
    names.sort();
    names
}

impl GalleryStore for PostgresStore {
    fn location(&self) -> &str {
        &self.location
    }

    fn embedder(&self) -> Result<EmbedderIdentity> {
        let stored: String = self.with_client(|client, location| {
            let row = client
                .query_opt("SELECT value FROM meta WHERE key = 'embedder'", &[])
                .map_err(|e| pg_error(location, e))?;
            row.map(|row| row.get(0)).ok_or_else(|| GalleryError::NotAGallery { path: location.to_string() })
        })?;
        serde_json::from_str(&stored).map_err(|_| GalleryError::NotAGallery { path: self.location.clone() })
    }

    fn read(&self, f: &mut dyn FnMut(&mut dyn StoreReader) -> Result<()>) -> Result<()> {
        self.with_client(|client, location| {
            let mut transaction = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(|e| pg_error(location, e))?;
            f(&mut Reader { client: &mut transaction, location })?;
            transaction.commit().map_err(|e| pg_error(location, e))
        })
    }

    fn revision(&self) -> Result<i64> {
        self.with_client(|client, location| {
            Ok(client
                .query_one("SELECT value FROM revision WHERE id = 1", &[])
                .map_err(|e| pg_error(location, e))?
                .get(0))
        })
    }

    fn wait_for_change(&self, timeout: Duration) -> Result<Option<bool>> {
        let mut listener = lock(&self.listener);
        on_connection(&mut listener, &self.config, &self.location, Some(CHANNEL), |client, location| {
            let mut notifications = client.notifications();
            let first = notifications.timeout_iter(timeout).next().map_err(|e| pg_error(location, e))?;
            if first.is_none() {
                return Ok(Some(false));
            }
            // Several writes may have been notified: one wake-up covers them all.
            let mut rest = notifications.iter();
            while rest.next().map_err(|e| pg_error(location, e))?.is_some() {}
            Ok(Some(true))
        })
    }

    fn people(&self, name: Option<&str>) -> Result<Vec<Person>> {
        self.with_client(|client, location| {
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
        })
    }

    fn person_names(&self, ids: &[i64]) -> Result<HashMap<i64, (String, Option<String>)>> {
        self.with_client(|client, location| {
            let rows = client
                .query("SELECT id, name, external_id FROM people WHERE id = ANY($1)", &[&ids])
                .map_err(|e| pg_error(location, e))?;
            Ok(rows.iter().map(|row| (row.get(0), (row.get(1), row.get(2)))).collect())
        })
    }

    fn enrol(
        &self,
        sample: &SampleRecord<'_>,
        check: &mut EnrolCheck<'_>,
    ) -> Result<std::result::Result<Enrolled, Rejection>> {
        self.write(|transaction, location, revision| {
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
            if let Some(rejection) = check(&mut Reader { client: transaction, location }, existing)? {
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
                            return Err(GalleryError::Invalid(format!(
                                "cannot add `{}`: external id `{}` belongs to someone else",
                                sample.name,
                                sample.external_id.unwrap_or_default()
                            )));
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
        })
    }

    fn import(&self, samples: &[SampleRecord<'_>]) -> Result<usize> {
        self.write(|transaction, location, revision| {
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
        })
    }

    fn remove_person(&self, name: &str, tombstone: &str) -> Result<()> {
        self.write(|transaction, location, revision| {
            let person_id = person_id(transaction, location, name)?;
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
            transaction.execute("DELETE FROM people WHERE id = $1", &[&person_id]).map_err(|e| pg_error(location, e))?;
            log_change(transaction, location, revision, "remove_person", None, Some(person_id))
        })
    }

    fn samples(&self, person: Option<&str>) -> Result<Vec<Sample>> {
        self.with_client(|client, location| {
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
        })
    }

    fn sample_thumbnail(&self, sample: i64) -> Result<Option<(String, Vec<u8>)>> {
        self.with_client(|client, location| {
            let row = client
                .query_opt(
                    "SELECT p.name, s.thumbnail FROM samples s JOIN people p ON p.id = s.person_id
                     WHERE s.id = $1 AND s.thumbnail IS NOT NULL",
                    &[&sample],
                )
                .map_err(|e| pg_error(location, e))?;
            Ok(row.map(|row| (row.get(0), row.get(1))))
        })
    }

    fn remove_sample(&self, sample: i64) -> Result<bool> {
        self.write(|transaction, location, revision| {
            let person: Option<i64> = transaction
                .query_opt("DELETE FROM samples WHERE id = $1 RETURNING person_id", &[&sample])
                .map_err(|e| pg_error(location, e))?
                .map(|row| row.get(0));
            let Some(person) = person else { return Ok(false) };
            log_change(transaction, location, revision, "remove_sample", Some(sample), Some(person))?;
            Ok(true)
        })
    }

    fn zones(&self, name: Option<&str>) -> Result<Vec<Zone>> {
        self.with_client(|client, location| {
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
        })
    }

    fn set_zone(&self, name: &str, policy: &ZonePolicy, time: i64) -> Result<()> {
        self.write(|transaction, location, _| {
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
        })
    }

    fn grant(&self, grant: &Grant) -> Result<()> {
        self.write(|transaction, location, _| {
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
        })
    }

    fn revoke(&self, person: &str, zone: &str) -> Result<bool> {
        self.write(|transaction, location, _| {
            let person_id = person_id(transaction, location, person)?;
            let removed = transaction
                .execute(
                    "DELETE FROM grants WHERE person_id = $1 AND zone_id = (SELECT id FROM zones WHERE name = $2)",
                    &[&person_id, &zone],
                )
                .map_err(|e| pg_error(location, e))?;
            Ok(removed > 0)
        })
    }

    fn grants(&self, zone: Option<&str>, person: Option<&str>) -> Result<Vec<Grant>> {
        self.with_client(|client, location| {
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
        })
    }

    fn granted_people(&self, zone: &str, time: i64) -> Result<HashSet<i64>> {
        self.with_client(|client, location| {
            let rows = client
                .query(
                    "SELECT g.person_id FROM grants g JOIN zones z ON z.id = g.zone_id
                     WHERE z.name = $1 AND (g.valid_from IS NULL OR g.valid_from <= $2)
                       AND (g.valid_until IS NULL OR $2 < g.valid_until)",
                    &[&zone, &time],
                )
                .map_err(|e| pg_error(location, e))?;
            Ok(rows.iter().map(|row| row.get(0)).collect())
        })
    }

    fn decide_and_record(&self, record: &DecisionRecord<'_>) -> Result<RecordedDecision> {
        self.transaction(|transaction, location| {
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
        })
    }

    fn events(&self, query: &EventQuery) -> Result<Vec<Event>> {
        let now = crate::gallery::now();
        self.with_client(|client, location| {
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
        })
    }

    fn probe_crop(&self, event_id: i64, now: i64) -> Result<Option<StoredCrop>> {
        self.with_client(|client, location| {
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
        })
    }

    fn purge_probe_crops(&self, now: i64) -> Result<usize> {
        self.transaction(|transaction, location| purge_crops(transaction, location, now))
    }

    fn create_key(
        &self,
        name: &str,
        role: Role,
        zones: &[String],
        secret_sha256: &[u8],
        time: i64,
    ) -> Result<i64> {
        self.transaction(|transaction, location| {
            let id: i64 = transaction
                .query_one(
                    "INSERT INTO api_keys (name, role, secret_sha256, created) VALUES ($1, $2, $3, $4) RETURNING id",
                    &[&name, &role.as_str(), &secret_sha256, &time],
                )
                .map_err(|e| pg_error(location, e))?
                .get(0);
            for zone in zones {
                transaction
                    .execute(
                        "INSERT INTO api_key_zones (key_id, zone) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        &[&id, zone],
                    )
                    .map_err(|e| pg_error(location, e))?;
            }
            Ok(id)
        })
    }

    fn keys(&self) -> Result<Vec<ApiKey>> {
        self.with_client(|client, location| {
            let rows = client
                .query(
                    "SELECT k.id, k.name, k.role, k.created, k.revoked,
                            (SELECT string_agg(z.zone, chr(31)) FROM api_key_zones z WHERE z.key_id = k.id)
                     FROM api_keys k ORDER BY k.id",
                    &[],
                )
                .map_err(|e| pg_error(location, e))?;
            rows.iter()
                .map(|row| {
                    let key = ApiKey {
                        id: row.get(0),
                        name: row.get(1),
                        role: Role::Camera,
                        created: row.get(3),
                        revoked: row.get(4),
                        zones: split_names(row.get(5)),
                    };
                    typed_key(location, row.get(2), key)
                })
                .collect()
        })
    }

    fn live_key(&self, id: i64) -> Result<Option<KeyRecord>> {
        self.with_client(|client, location| {
            let row = client
                .query_opt(
                    "SELECT k.name, k.role, k.secret_sha256, k.created,
                            (SELECT string_agg(z.zone, chr(31)) FROM api_key_zones z WHERE z.key_id = k.id)
                     FROM api_keys k WHERE k.id = $1 AND k.revoked IS NULL",
                    &[&id],
                )
                .map_err(|e| pg_error(location, e))?;
            let Some(row) = row else { return Ok(None) };
            let key = ApiKey {
                id,
                name: row.get(0),
                role: Role::Camera,
                created: row.get(3),
                revoked: None,
                zones: split_names(row.get(4)),
            };
            Ok(Some(KeyRecord { key: typed_key(location, row.get(1), key)?, secret_sha256: row.get(2) }))
        })
    }

    fn revoke_key(&self, id: i64, time: i64) -> Result<()> {
        self.transaction(|transaction, location| {
            let exists = transaction
                .query_opt("SELECT 1 FROM api_keys WHERE id = $1 FOR UPDATE", &[&id])
                .map_err(|e| pg_error(location, e))?;
            if exists.is_none() {
                return Err(GalleryError::NoSuchKey(id));
            }
            transaction
                .execute("UPDATE api_keys SET revoked = $2 WHERE id = $1 AND revoked IS NULL", &[&id, &time])
                .map_err(|e| pg_error(location, e))?;
            transaction
                .execute("DELETE FROM console_sessions WHERE key_id = $1", &[&id])
                .map_err(|e| pg_error(location, e))?;
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
        self.transaction(|transaction, location| {
            let key_name: String = transaction
                .query_opt(
                    "SELECT name FROM api_keys WHERE id = $1 AND revoked IS NULL AND role = 'admin' FOR KEY SHARE",
                    &[&key_id],
                )
                .map_err(|e| pg_error(location, e))?
                .map(|row| row.get(0))
                .ok_or(GalleryError::NoSuchKey(key_id))?;
            let absolute = created.saturating_add(absolute_s);
            let expires = created.saturating_add(idle_s).min(absolute);
            transaction
                .execute(
                    "INSERT INTO console_sessions (token_sha256, key_id, created, idle_timeout, expires,
                                                   absolute_expires)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[&token_sha256, &key_id, &created, &idle_s, &expires, &absolute],
                )
                .map_err(|e| pg_error(location, e))?;
            Ok(ConsoleSession { key_id, key_name, created, expires })
        })
    }

    fn touch_session(&self, token_sha256: &str, now: i64) -> Result<Option<ConsoleSession>> {
        self.transaction(|transaction, location| {
            let row = transaction
                .query_opt(
                    "UPDATE console_sessions s SET expires = LEAST($2 + s.idle_timeout, s.absolute_expires)
                     FROM api_keys k
                     WHERE s.token_sha256 = $1 AND k.id = s.key_id AND k.revoked IS NULL
                       AND s.expires > $2 AND s.absolute_expires > $2
                     RETURNING s.key_id, k.name, s.created, s.expires",
                    &[&token_sha256, &now],
                )
                .map_err(|e| pg_error(location, e))?;
            if row.is_none() {
                transaction
                    .execute(
                        "DELETE FROM console_sessions WHERE expires <= $1 OR absolute_expires <= $1",
                        &[&now],
                    )
                    .map_err(|e| pg_error(location, e))?;
            }
            Ok(row.map(|row| ConsoleSession {
                key_id: row.get(0),
                key_name: row.get(1),
                created: row.get(2),
                expires: row.get(3),
            }))
        })
    }

    fn end_session(&self, token_sha256: &str) -> Result<()> {
        self.with_client(|client, location| {
            client
                .execute("DELETE FROM console_sessions WHERE token_sha256 = $1", &[&token_sha256])
                .map_err(|e| pg_error(location, e))?;
            Ok(())
        })
    }
}
