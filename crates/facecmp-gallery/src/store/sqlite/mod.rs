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
//!
//! This file opens the store and says which transaction each operation
//! runs in; the SQL is in one file a concern, named as in the PostgreSQL
//! backend.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use facecmp::EmbedderIdentity;
use rusqlite::{Connection, TransactionBehavior};

use self::changes::Reader;
use self::connection::{AtPath, connect, inspect};
use crate::clock::now;
use crate::crops::StoredCrop;
use crate::enrol::Rejection;
use crate::error::{GalleryError, Result};
use crate::model::{
    ApiKey, Appearance, AppearanceBatch, AppearanceQuery, Cluster, ConsoleSession, Enrolled, Event,
    EventQuery, Grant, NewSource, Person, Role, Sample, Source, Zone, ZonePolicy,
};
use crate::store::api::{
    AppearanceChange, DecisionRecord, EnrolCheck, GalleryStore, KeyRecord, RecordedDecision, SampleRecord,
    StoreReader,
};

mod access;
mod appearances;
mod changes;
mod connection;
mod crops;
mod keys;
mod people;
mod schema;

pub use schema::SCHEMA_VERSION;

pub struct SqliteStore {
    path: String,
    connection: Mutex<Connection>,
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

    /// Moves the pages `secure_delete` overwrote out of the write-ahead log
    /// too, after a write that deleted faces.
    fn checkpoint(&self) -> Result<()> {
        self.db().query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).at(&self.path)
    }
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

    // ---- people and samples

    fn people(&self, name: Option<&str>) -> Result<Vec<Person>> {
        people::people(&self.db(), &self.path, name)
    }

    fn person_names(&self, ids: &[i64]) -> Result<HashMap<i64, (String, Option<String>)>> {
        people::person_names(&self.db(), &self.path, ids)
    }

    fn enrol(
        &self,
        sample: &SampleRecord<'_>,
        check: &mut EnrolCheck<'_>,
    ) -> Result<std::result::Result<Enrolled, Rejection>> {
        self.write(|transaction| people::enrol(transaction, &self.path, sample, check))
    }

    fn import(&self, samples: &[SampleRecord<'_>]) -> Result<usize> {
        self.write(|transaction| people::import(transaction, &self.path, samples))
    }

    fn remove_person(&self, name: &str, tombstone: &str) -> Result<()> {
        self.write(|transaction| people::remove_person(transaction, &self.path, name, tombstone))?;
        self.checkpoint()
    }

    fn samples(&self, person: Option<&str>) -> Result<Vec<Sample>> {
        people::samples(&self.db(), &self.path, person)
    }

    fn sample_thumbnail(&self, sample: i64) -> Result<Option<(String, Vec<u8>)>> {
        people::sample_thumbnail(&self.db(), &self.path, sample)
    }

    fn remove_sample(&self, sample: i64) -> Result<bool> {
        self.write(|transaction| people::remove_sample(transaction, &self.path, sample))
    }

    // ---- zones and grants

    fn zones(&self, name: Option<&str>) -> Result<Vec<Zone>> {
        access::zones(&self.db(), &self.path, name)
    }

    fn set_zone(&self, name: &str, policy: &ZonePolicy, time: i64) -> Result<()> {
        self.write(|transaction| access::set_zone(transaction, &self.path, name, policy, time))
    }

    fn grant(&self, grant: &Grant) -> Result<()> {
        self.write(|transaction| access::grant(transaction, &self.path, grant))
    }

    fn revoke(&self, person: &str, zone: &str) -> Result<bool> {
        self.write(|transaction| access::revoke(transaction, &self.path, person, zone))
    }

    fn grants(&self, zone: Option<&str>, person: Option<&str>) -> Result<Vec<Grant>> {
        access::grants(&self.db(), &self.path, zone, person)
    }

    fn granted_people(&self, zone: &str, time: i64) -> Result<HashSet<i64>> {
        access::granted_people(&self.db(), &self.path, zone, time)
    }

    // ---- the audit trail

    fn decide_and_record(&self, record: &DecisionRecord<'_>) -> Result<RecordedDecision> {
        self.write(|transaction| access::decide_and_record(transaction, &self.path, record))
    }

    fn probe_crop(&self, event_id: i64, now: i64) -> Result<Option<StoredCrop>> {
        crops::probe_crop(&self.db(), &self.path, event_id, now)
    }

    fn purge_probe_crops(&self, now: i64) -> Result<usize> {
        self.write(|transaction| crops::purge_crops(transaction, &self.path, now))
    }

    fn events(&self, query: &EventQuery) -> Result<Vec<Event>> {
        let now = now();
        access::events(&self.db(), &self.path, query, now)
    }

    // ---- API keys and console sessions

    fn create_key(
        &self,
        name: &str,
        role: Role,
        zones: &[String],
        secret_sha256: &[u8],
        time: i64,
    ) -> Result<i64> {
        self.write(|transaction| {
            keys::create_key(transaction, &self.path, name, role, zones, secret_sha256, time)
        })
    }

    fn keys(&self) -> Result<Vec<ApiKey>> {
        keys::keys(&self.db(), &self.path)
    }

    fn live_key(&self, id: i64) -> Result<Option<KeyRecord>> {
        keys::live_key(&self.db(), &self.path, id)
    }

    fn revoke_key(&self, id: i64, time: i64) -> Result<()> {
        self.write(|transaction| keys::revoke_key(transaction, &self.path, id, time))
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
            keys::create_session(transaction, &self.path, key_id, token_sha256, created, idle_s, absolute_s)
        })
    }

    fn touch_session(&self, token_sha256: &str, now: i64) -> Result<Option<ConsoleSession>> {
        self.write(|transaction| keys::touch_session(transaction, &self.path, token_sha256, now))
    }

    fn end_session(&self, token_sha256: &str) -> Result<()> {
        keys::end_session(&self.db(), &self.path, token_sha256)
    }

    // ---- footage: sources, appearances and clusters

    fn upsert_source(&self, source: &NewSource, time: i64) -> Result<Source> {
        self.write(|transaction| appearances::upsert_source(transaction, &self.path, source, time))
    }

    fn sources(&self) -> Result<Vec<Source>> {
        appearances::sources(&self.db(), &self.path)
    }

    fn write_appearances(&self, batch: &AppearanceBatch, time: i64) -> Result<Vec<i64>> {
        self.write(|transaction| appearances::write_appearances(transaction, &self.path, batch, time))
    }

    fn appearances(&self, query: &AppearanceQuery, now: i64) -> Result<Vec<Appearance>> {
        appearances::appearances(&self.db(), &self.path, query, now)
    }

    fn appearances_by_id(&self, ids: &[i64], now: i64) -> Result<Vec<Appearance>> {
        appearances::appearances_by_id(&self.db(), &self.path, ids, now)
    }

    fn appearance_ids(&self, person: Option<i64>, cluster: Option<i64>) -> Result<HashSet<i64>> {
        appearances::appearance_ids(&self.db(), &self.path, person, cluster)
    }

    fn not_a_face_appearances(&self) -> Result<HashSet<i64>> {
        appearances::not_a_face_appearances(&self.db(), &self.path)
    }

    fn appearance_thumbnail(&self, appearance: i64, now: i64) -> Result<Option<Vec<u8>>> {
        appearances::appearance_thumbnail(&self.db(), &self.path, appearance, now)
    }

    fn appearance_vectors(
        &self,
        since: Option<i64>,
        sink: &mut dyn FnMut(AppearanceChange) -> Result<()>,
    ) -> Result<i64> {
        let mut db = self.db();
        // DEFERRED: one consistent snapshot for the revision and the rows.
        let transaction = db.transaction().at(&self.path)?;
        let revision = appearances::appearance_vectors(&transaction, &self.path, since, sink)?;
        transaction.commit().at(&self.path)?;
        Ok(revision)
    }

    fn purge_appearances(&self, now: i64) -> Result<usize> {
        let purged =
            self.write(|transaction| appearances::purge_appearances(transaction, &self.path, now))?;
        if purged > 0 {
            self.checkpoint()?;
        }
        Ok(purged)
    }

    fn remove_source(&self, source: i64) -> Result<usize> {
        let removed =
            self.write(|transaction| appearances::remove_source(transaction, &self.path, source))?;
        self.checkpoint()?;
        Ok(removed)
    }

    fn remove_appearances(&self, ids: &[i64]) -> Result<usize> {
        let removed =
            self.write(|transaction| appearances::remove_appearances(transaction, &self.path, ids))?;
        self.checkpoint()?;
        Ok(removed)
    }

    fn create_cluster(&self, name: Option<&str>, time: i64) -> Result<i64> {
        self.write(|transaction| appearances::create_cluster(transaction, &self.path, name, time))
    }

    fn clusters(&self) -> Result<Vec<Cluster>> {
        appearances::clusters(&self.db(), &self.path)
    }

    fn set_cluster(&self, appearances: &[i64], cluster: Option<i64>) -> Result<usize> {
        self.write(|transaction| appearances::set_cluster(transaction, &self.path, appearances, cluster))
    }

    fn merge_clusters(&self, into: i64, from: &[i64]) -> Result<usize> {
        self.write(|transaction| appearances::merge_clusters(transaction, &self.path, into, from))
    }

    fn name_cluster(&self, cluster: i64, name: Option<&str>) -> Result<()> {
        self.write(|transaction| appearances::name_cluster(transaction, &self.path, cluster, name))
    }

    fn mark_not_a_face(&self, cluster: i64, not_a_face: bool) -> Result<()> {
        self.write(|transaction| appearances::mark_not_a_face(transaction, &self.path, cluster, not_a_face))
    }
}
