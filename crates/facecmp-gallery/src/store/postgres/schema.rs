//! The PostgreSQL gallery's tables and their versioned migrations.
//!
//! `meta.schema_version` holds the number of migrations applied. Opening
//! applies the missing ones in one transaction under an advisory lock (so
//! two nodes starting at once do not both migrate), and refuses a database
//! written by a newer facecmp. Never edit a released entry: append a new one.
//! Opening begins with [`lock`] and [`version`].

use postgres::GenericClient;

use super::connection::pg_error;
use crate::error::{GalleryError, Result};

pub const MIGRATIONS: &[&str] = &[
    // 1: the schema of SQLite's versions 1 and 2, with ids that are never reused.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );

    CREATE TABLE people (
        id          BIGSERIAL PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        external_id TEXT UNIQUE,
        created     BIGINT NOT NULL
    );

    CREATE TABLE zones (
        id                   BIGSERIAL PRIMARY KEY,
        name                 TEXT NOT NULL UNIQUE,
        allow_multiple_faces BOOLEAN NOT NULL DEFAULT FALSE,
        created              BIGINT NOT NULL
    );

    CREATE TABLE grants (
        person_id   BIGINT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        zone_id     BIGINT NOT NULL REFERENCES zones(id) ON DELETE CASCADE,
        valid_from  BIGINT,
        valid_until BIGINT,
        created     BIGINT NOT NULL,
        PRIMARY KEY (person_id, zone_id),
        CHECK (valid_from IS NULL OR valid_until IS NULL OR valid_from < valid_until)
    );
    CREATE INDEX grants_by_zone ON grants(zone_id);

    CREATE TABLE samples (
        id             BIGSERIAL PRIMARY KEY,
        person_id      BIGINT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        embedding      BYTEA NOT NULL,
        embedder       TEXT NOT NULL,
        detector_score REAL NOT NULL,
        face_size      REAL NOT NULL,
        image_sha256   TEXT NOT NULL,
        created        BIGINT NOT NULL,
        UNIQUE (person_id, image_sha256)
    );

    CREATE TABLE events (
        id           BIGSERIAL PRIMARY KEY,
        time         BIGINT NOT NULL,
        zone         TEXT NOT NULL,
        decision     TEXT NOT NULL CHECK (decision IN ('allow', 'deny')),
        reason       TEXT NOT NULL,
        person_id    BIGINT REFERENCES people(id) ON DELETE SET NULL,
        similarity   REAL,
        image_sha256 TEXT,
        tombstone    TEXT,
        source       TEXT,
        track        BIGINT
    );
    CREATE INDEX events_by_time ON events(time);
    CREATE INDEX events_by_person ON events(person_id);

    CREATE TABLE api_keys (
        id            BIGSERIAL PRIMARY KEY,
        name          TEXT NOT NULL,
        role          TEXT NOT NULL CHECK (role IN ('admin', 'camera')),
        secret_sha256 BYTEA NOT NULL,
        created       BIGINT NOT NULL,
        revoked       BIGINT
    );

    CREATE TABLE api_key_zones (
        key_id BIGINT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
        zone   TEXT NOT NULL,
        PRIMARY KEY (key_id, zone)
    );

    CREATE TABLE console_sessions (
        token_sha256     TEXT PRIMARY KEY,
        key_id           BIGINT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
        created          BIGINT NOT NULL,
        idle_timeout     BIGINT NOT NULL,
        expires          BIGINT NOT NULL,
        absolute_expires BIGINT NOT NULL
    );
    CREATE INDEX console_sessions_by_key ON console_sessions(key_id);

    CREATE TABLE revision (
        id        INTEGER PRIMARY KEY CHECK (id = 1),
        value     BIGINT NOT NULL,
        log_floor BIGINT NOT NULL
    );
    INSERT INTO revision (id, value, log_floor) VALUES (1, 0, 0);

    CREATE TABLE changes (
        seq       BIGSERIAL PRIMARY KEY,
        rev       BIGINT NOT NULL,
        op        TEXT NOT NULL CHECK (op IN ('add', 'remove_sample', 'remove_person')),
        sample_id BIGINT,
        person_id BIGINT
    );
    CREATE INDEX changes_by_rev ON changes(rev);
    "#,
    // 2: probe crops, kept per zone for a retention period (off by default);
    // SQLite's version 3.
    r#"
    ALTER TABLE zones ADD COLUMN probe_crops_retention_s BIGINT
        CHECK (probe_crops_retention_s IS NULL OR probe_crops_retention_s > 0);

    CREATE TABLE probe_crops (
        event_id       BIGINT PRIMARY KEY REFERENCES events(id) ON DELETE CASCADE,
        zone           TEXT NOT NULL,
        time           BIGINT NOT NULL,
        expires        BIGINT NOT NULL,
        jpeg           BYTEA NOT NULL,
        jpeg_sha256    TEXT NOT NULL,
        face_size      REAL NOT NULL,
        detector_score REAL NOT NULL
    );
    CREATE INDEX probe_crops_by_expiry ON probe_crops(expires);
    CREATE INDEX probe_crops_by_zone ON probe_crops(zone);
    CREATE INDEX probe_crops_by_sha256 ON probe_crops(jpeg_sha256);
    "#,
    // 3: a face thumbnail per sample, for the console; SQLite's version 4.
    r#"
    ALTER TABLE samples ADD COLUMN thumbnail BYTEA;
    "#,
    // 4: indexed footage (issue #22): sources, appearances with their
    // vectors, clusters and the appearance log; SQLite's version 5, with
    // the same columns, constraints and indexes.
    r#"
    CREATE TABLE sources (
        id                  BIGSERIAL PRIMARY KEY,
        kind                TEXT NOT NULL CHECK (kind IN ('file', 'camera', 'photos')),
        name                TEXT NOT NULL,
        sha256              TEXT UNIQUE,
        retention_s         BIGINT CHECK (retention_s IS NULL OR retention_s > 0),
        created             BIGINT NOT NULL,
        indexed_until_ms    BIGINT NOT NULL DEFAULT 0,
        indexed_until_bytes BIGINT NOT NULL DEFAULT 0,
        complete            BOOLEAN NOT NULL DEFAULT FALSE,
        CHECK ((kind = 'file') = (sha256 IS NOT NULL))
    );
    CREATE UNIQUE INDEX sources_by_name ON sources(kind, name) WHERE sha256 IS NULL;

    CREATE TABLE clusters (
        id         BIGSERIAL PRIMARY KEY,
        name       TEXT,
        not_a_face BOOLEAN NOT NULL DEFAULT FALSE,
        created    BIGINT NOT NULL
    );

    CREATE TABLE appearances (
        id             BIGSERIAL PRIMARY KEY,
        source_id      BIGINT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
        track          BIGINT NOT NULL,
        media_start_ms BIGINT NOT NULL,
        media_end_ms   BIGINT NOT NULL,
        wall_start_ms  BIGINT,
        wall_end_ms    BIGINT,
        box_x          REAL NOT NULL,
        box_y          REAL NOT NULL,
        box_w          REAL NOT NULL,
        box_h          REAL NOT NULL,
        detector_score REAL NOT NULL,
        thumbnail      BYTEA,
        person_id      BIGINT REFERENCES people(id) ON DELETE CASCADE,
        cluster_id     BIGINT REFERENCES clusters(id) ON DELETE SET NULL,
        created        BIGINT NOT NULL,
        expires        BIGINT,
        CHECK (media_start_ms <= media_end_ms),
        CHECK ((wall_start_ms IS NULL) = (wall_end_ms IS NULL)),
        CHECK (wall_start_ms IS NULL OR wall_start_ms <= wall_end_ms)
    );
    CREATE INDEX appearances_by_source_time ON appearances(source_id, media_start_ms);
    CREATE INDEX appearances_by_wall_time ON appearances(wall_start_ms);
    CREATE INDEX appearances_by_person ON appearances(person_id);
    CREATE INDEX appearances_by_cluster ON appearances(cluster_id);
    CREATE INDEX appearances_by_expiry ON appearances(expires);

    CREATE TABLE appearance_vectors (
        id            BIGSERIAL PRIMARY KEY,
        appearance_id BIGINT NOT NULL REFERENCES appearances(id) ON DELETE CASCADE,
        embedding     BYTEA NOT NULL,
        embedder      TEXT NOT NULL
    );
    CREATE INDEX appearance_vectors_by_appearance ON appearance_vectors(appearance_id);

    CREATE TABLE appearance_changes (
        seq           BIGSERIAL PRIMARY KEY,
        rev           BIGINT NOT NULL,
        op            TEXT NOT NULL CHECK (op IN ('add', 'remove')),
        appearance_id BIGINT NOT NULL
    );
    CREATE INDEX appearance_changes_by_rev ON appearance_changes(rev);
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Serialises schema changes between nodes starting at once.
pub(super) fn lock(client: &mut impl GenericClient, location: &str) -> Result<()> {
    client.execute("SELECT pg_advisory_xact_lock(7214000011)", &[]).map_err(|e| pg_error(location, e))?;
    Ok(())
}

/// The schema version `meta` records; `None` in a database without a gallery.
pub(super) fn version(client: &mut impl GenericClient, location: &str) -> Result<Option<u32>> {
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
