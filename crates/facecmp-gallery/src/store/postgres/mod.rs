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
//!
//! This file connects and says which transaction each operation runs in;
//! the SQL is in one file a concern, named as in the SQLite backend.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use facecmp::EmbedderIdentity;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, IsolationLevel};

use self::changes::{Reader, bump, lock_revision};
use self::connection::{lock, on_connection, pg_error};
use self::schema::{MIGRATIONS, SCHEMA_VERSION};
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
use crate::store::location::redact_password;

mod access;
mod appearances;
mod changes;
mod connection;
mod crops;
mod keys;
mod people;
mod schema;

pub use changes::CHANNEL;

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
            schema::lock(&mut transaction, location)?;
            if schema::version(&mut transaction, location)?.is_some() {
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
            schema::lock(&mut transaction, location)?;
            let found = schema::version(&mut transaction, location)?
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

    // ---- people and samples

    fn people(&self, name: Option<&str>) -> Result<Vec<Person>> {
        self.with_client(|client, location| people::people(client, location, name))
    }

    fn person_names(&self, ids: &[i64]) -> Result<HashMap<i64, (String, Option<String>)>> {
        self.with_client(|client, location| people::person_names(client, location, ids))
    }

    fn enrol(
        &self,
        sample: &SampleRecord<'_>,
        check: &mut EnrolCheck<'_>,
    ) -> Result<std::result::Result<Enrolled, Rejection>> {
        self.write(|transaction, location, revision| {
            people::enrol(transaction, location, revision, sample, check)
        })
    }

    fn import(&self, samples: &[SampleRecord<'_>]) -> Result<usize> {
        self.write(|transaction, location, revision| people::import(transaction, location, revision, samples))
    }

    fn remove_person(&self, name: &str, tombstone: &str) -> Result<()> {
        self.write(|transaction, location, revision| {
            people::remove_person(transaction, location, revision, name, tombstone)
        })
    }

    fn samples(&self, person: Option<&str>) -> Result<Vec<Sample>> {
        self.with_client(|client, location| people::samples(client, location, person))
    }

    fn sample_thumbnail(&self, sample: i64) -> Result<Option<(String, Vec<u8>)>> {
        self.with_client(|client, location| people::sample_thumbnail(client, location, sample))
    }

    fn remove_sample(&self, sample: i64) -> Result<bool> {
        self.write(|transaction, location, revision| {
            people::remove_sample(transaction, location, revision, sample)
        })
    }

    // ---- zones and grants

    fn zones(&self, name: Option<&str>) -> Result<Vec<Zone>> {
        self.with_client(|client, location| access::zones(client, location, name))
    }

    fn set_zone(&self, name: &str, policy: &ZonePolicy, time: i64) -> Result<()> {
        self.write(|transaction, location, _| access::set_zone(transaction, location, name, policy, time))
    }

    fn grant(&self, grant: &Grant) -> Result<()> {
        self.write(|transaction, location, _| access::grant(transaction, location, grant))
    }

    fn revoke(&self, person: &str, zone: &str) -> Result<bool> {
        self.write(|transaction, location, _| access::revoke(transaction, location, person, zone))
    }

    fn grants(&self, zone: Option<&str>, person: Option<&str>) -> Result<Vec<Grant>> {
        self.with_client(|client, location| access::grants(client, location, zone, person))
    }

    fn granted_people(&self, zone: &str, time: i64) -> Result<HashSet<i64>> {
        self.with_client(|client, location| access::granted_people(client, location, zone, time))
    }

    // ---- the audit trail

    fn decide_and_record(&self, record: &DecisionRecord<'_>) -> Result<RecordedDecision> {
        self.transaction(|transaction, location| access::decide_and_record(transaction, location, record))
    }

    fn probe_crop(&self, event_id: i64, now: i64) -> Result<Option<StoredCrop>> {
        self.with_client(|client, location| crops::probe_crop(client, location, event_id, now))
    }

    fn purge_probe_crops(&self, now: i64) -> Result<usize> {
        self.transaction(|transaction, location| crops::purge_crops(transaction, location, now))
    }

    fn events(&self, query: &EventQuery) -> Result<Vec<Event>> {
        let now = now();
        self.with_client(|client, location| access::events(client, location, query, now))
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
        self.transaction(|transaction, location| {
            keys::create_key(transaction, location, name, role, zones, secret_sha256, time)
        })
    }

    fn keys(&self) -> Result<Vec<ApiKey>> {
        self.with_client(keys::keys)
    }

    fn live_key(&self, id: i64) -> Result<Option<KeyRecord>> {
        self.with_client(|client, location| keys::live_key(client, location, id))
    }

    fn revoke_key(&self, id: i64, time: i64) -> Result<()> {
        self.transaction(|transaction, location| keys::revoke_key(transaction, location, id, time))
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
            keys::create_session(transaction, location, key_id, token_sha256, created, idle_s, absolute_s)
        })
    }

    fn touch_session(&self, token_sha256: &str, now: i64) -> Result<Option<ConsoleSession>> {
        self.transaction(|transaction, location| {
            keys::touch_session(transaction, location, token_sha256, now)
        })
    }

    fn end_session(&self, token_sha256: &str) -> Result<()> {
        self.with_client(|client, location| keys::end_session(client, location, token_sha256))
    }

    // ---- footage: sources, appearances and clusters

    fn upsert_source(&self, source: &NewSource, time: i64) -> Result<Source> {
        self.write(|transaction, location, revision| {
            appearances::upsert_source(transaction, location, revision, source, time)
        })
    }

    fn sources(&self) -> Result<Vec<Source>> {
        self.with_client(appearances::sources)
    }

    fn write_appearances(&self, batch: &AppearanceBatch, time: i64) -> Result<Vec<i64>> {
        self.write(|transaction, location, revision| {
            appearances::write_appearances(transaction, location, revision, batch, time)
        })
    }

    fn appearances(&self, query: &AppearanceQuery, now: i64) -> Result<Vec<Appearance>> {
        self.with_client(|client, location| appearances::appearances(client, location, query, now))
    }

    fn appearances_by_id(&self, ids: &[i64], now: i64) -> Result<Vec<Appearance>> {
        self.with_client(|client, location| appearances::appearances_by_id(client, location, ids, now))
    }

    fn appearance_ids(&self, person: Option<i64>, cluster: Option<i64>) -> Result<HashSet<i64>> {
        self.with_client(|client, location| appearances::appearance_ids(client, location, person, cluster))
    }

    fn not_a_face_appearances(&self) -> Result<HashSet<i64>> {
        self.with_client(appearances::not_a_face_appearances)
    }

    fn appearance_thumbnail(&self, appearance: i64, now: i64) -> Result<Option<Vec<u8>>> {
        self.with_client(|client, location| {
            appearances::appearance_thumbnail(client, location, appearance, now)
        })
    }

    fn appearance_vectors(
        &self,
        since: Option<i64>,
        sink: &mut dyn FnMut(AppearanceChange) -> Result<()>,
    ) -> Result<i64> {
        self.with_client(|client, location| {
            let mut transaction = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(|e| pg_error(location, e))?;
            let revision = appearances::appearance_vectors(&mut transaction, location, since, sink)?;
            transaction.commit().map_err(|e| pg_error(location, e))?;
            Ok(revision)
        })
    }

    fn purge_appearances(&self, now: i64) -> Result<usize> {
        self.write(|transaction, location, revision| {
            appearances::purge_appearances(transaction, location, revision, now)
        })
    }

    fn remove_source(&self, source: i64) -> Result<usize> {
        self.write(|transaction, location, revision| {
            appearances::remove_source(transaction, location, revision, source)
        })
    }

    fn remove_appearances(&self, ids: &[i64]) -> Result<usize> {
        self.write(|transaction, location, revision| {
            appearances::remove_appearances(transaction, location, revision, ids)
        })
    }

    fn create_cluster(&self, name: Option<&str>, time: i64) -> Result<i64> {
        self.write(|transaction, location, _| appearances::create_cluster(transaction, location, name, time))
    }

    fn clusters(&self) -> Result<Vec<Cluster>> {
        self.with_client(appearances::clusters)
    }

    fn set_cluster(&self, appearances: &[i64], cluster: Option<i64>) -> Result<usize> {
        self.write(|transaction, location, _| {
            appearances::set_cluster(transaction, location, appearances, cluster)
        })
    }

    fn merge_clusters(&self, into: i64, from: &[i64]) -> Result<usize> {
        self.write(|transaction, location, _| appearances::merge_clusters(transaction, location, into, from))
    }

    fn name_cluster(&self, cluster: i64, name: Option<&str>) -> Result<()> {
        self.write(|transaction, location, _| appearances::name_cluster(transaction, location, cluster, name))
    }

    fn mark_not_a_face(&self, cluster: i64, not_a_face: bool) -> Result<()> {
        self.write(|transaction, location, _| {
            appearances::mark_not_a_face(transaction, location, cluster, not_a_face)
        })
    }
}
