//! The SQLite gallery's tables and their versioned migrations.
//!
//! `PRAGMA user_version` holds the number of migrations applied; opening a
//! gallery applies the missing ones in one transaction, and refuses a file
//! written by a newer facecmp rather than guess at its meaning.

use rusqlite::{Connection, Transaction};

/// Each entry moves the schema one version up. Never edit a released entry:
/// append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;

    CREATE TABLE people (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        external_id TEXT UNIQUE,
        created     INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE zones (
        id                   INTEGER PRIMARY KEY,
        name                 TEXT NOT NULL UNIQUE,
        allow_multiple_faces INTEGER NOT NULL DEFAULT 0,
        created              INTEGER NOT NULL
    ) STRICT;

    -- A person may enter a zone, optionally only between two instants
    -- (unix seconds, either end open).
    CREATE TABLE grants (
        person_id   INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        zone_id     INTEGER NOT NULL REFERENCES zones(id) ON DELETE CASCADE,
        valid_from  INTEGER,
        valid_until INTEGER,
        created     INTEGER NOT NULL,
        PRIMARY KEY (person_id, zone_id),
        CHECK (valid_from IS NULL OR valid_until IS NULL OR valid_from < valid_until)
    ) STRICT;

    -- One enrolled face: the embedding (little-endian f32) and where it came from.
    CREATE TABLE samples (
        id             INTEGER PRIMARY KEY,
        person_id      INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        embedding      BLOB NOT NULL,
        embedder       TEXT NOT NULL,
        detector_score REAL NOT NULL,
        face_size      REAL NOT NULL,
        image_sha256   TEXT NOT NULL,
        created        INTEGER NOT NULL,
        UNIQUE (person_id, image_sha256)
    ) STRICT;
    CREATE INDEX samples_by_person ON samples(person_id);

    -- The audit trail of access decisions. When a person is erased, their
    -- events keep the decision and a tombstone, nothing that identifies them.
    CREATE TABLE events (
        id           INTEGER PRIMARY KEY,
        time         INTEGER NOT NULL,
        zone         TEXT NOT NULL,
        decision     TEXT NOT NULL CHECK (decision IN ('allow', 'deny')),
        reason       TEXT NOT NULL,
        person_id    INTEGER REFERENCES people(id) ON DELETE SET NULL,
        similarity   REAL,
        image_sha256 TEXT,
        tombstone    TEXT
    ) STRICT;
    CREATE INDEX events_by_time ON events(time);
    CREATE INDEX events_by_person ON events(person_id);

    -- API keys for `facecmp serve`: only a digest of the secret is kept.
    CREATE TABLE api_keys (
        id            INTEGER PRIMARY KEY,
        name          TEXT NOT NULL,
        role          TEXT NOT NULL CHECK (role IN ('admin', 'camera')),
        secret_sha256 BLOB NOT NULL,
        created       INTEGER NOT NULL,
        revoked       INTEGER
    ) STRICT;
    "#,
    // 2: the revision and change log that other processes follow; event
    // sources and tracks; camera keys scoped to zones; console sessions.
    r#"
    -- One row: the revision every change bumps, and how far back the change
    -- log reaches (a process behind `log_floor` reloads everything).
    CREATE TABLE revision (
        id        INTEGER PRIMARY KEY CHECK (id = 1),
        value     INTEGER NOT NULL,
        log_floor INTEGER NOT NULL
    ) STRICT;
    INSERT INTO revision (id, value, log_floor) VALUES (1, 0, 0);

    -- Samples added and removed, by revision: what a search index replays.
    CREATE TABLE changes (
        seq       INTEGER PRIMARY KEY,
        rev       INTEGER NOT NULL,
        op        TEXT NOT NULL CHECK (op IN ('add', 'remove_sample', 'remove_person')),
        sample_id INTEGER,
        person_id INTEGER
    ) STRICT;
    CREATE INDEX changes_by_rev ON changes(rev);

    ALTER TABLE events ADD COLUMN source TEXT;
    ALTER TABLE events ADD COLUMN track INTEGER;

    CREATE TABLE api_key_zones (
        key_id INTEGER NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
        zone   TEXT NOT NULL,
        PRIMARY KEY (key_id, zone)
    ) STRICT;

    -- Web console sessions: only the SHA-256 of the cookie's secret.
    CREATE TABLE console_sessions (
        token_sha256     TEXT PRIMARY KEY,
        key_id           INTEGER NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
        created          INTEGER NOT NULL,
        idle_timeout     INTEGER NOT NULL,
        expires          INTEGER NOT NULL,
        absolute_expires INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX console_sessions_by_key ON console_sessions(key_id);
    "#,
    // 3: probe crops, kept per zone for a retention period (off by default).
    r#"
    ALTER TABLE zones ADD COLUMN probe_crops_retention_s INTEGER
        CHECK (probe_crops_retention_s IS NULL OR probe_crops_retention_s > 0);

    -- The face an access decision judged, when its zone keeps crops: a small
    -- JPEG, the face's size and score in the camera photo, and when it goes.
    -- `zone` and `time` repeat the event's, so purges and re-dating need no join.
    CREATE TABLE probe_crops (
        event_id       INTEGER PRIMARY KEY REFERENCES events(id) ON DELETE CASCADE,
        zone           TEXT NOT NULL,
        time           INTEGER NOT NULL,
        expires        INTEGER NOT NULL,
        jpeg           BLOB NOT NULL,
        jpeg_sha256    TEXT NOT NULL,
        face_size      REAL NOT NULL,
        detector_score REAL NOT NULL
    ) STRICT;
    CREATE INDEX probe_crops_by_expiry ON probe_crops(expires);
    CREATE INDEX probe_crops_by_zone ON probe_crops(zone);
    CREATE INDEX probe_crops_by_sha256 ON probe_crops(jpeg_sha256);
    "#,
    // 4: a face thumbnail per sample, for the console (NULL for samples
    // enrolled before, and for imported bare embeddings). It goes with its
    // row: removing the sample or erasing the person deletes it.
    r#"
    ALTER TABLE samples ADD COLUMN thumbnail BLOB;
    "#,
    // 5: indexed footage (issue #22): sources, one appearance per video
    // track with the vectors of its best faces, clusters, and the log of
    // appearances written and deleted that the appearance index replays.
    // AUTOINCREMENT: ids are never reused, as on PostgreSQL, so an id a
    // client holds never comes to mean another appearance.
    r#"
    -- A file (identified by its content's SHA-256), a camera or a set of
    -- photos (by kind and name), with its retention and how far it is indexed.
    CREATE TABLE sources (
        id                  INTEGER PRIMARY KEY AUTOINCREMENT,
        kind                TEXT NOT NULL CHECK (kind IN ('file', 'camera', 'photos')),
        name                TEXT NOT NULL,
        sha256              TEXT UNIQUE,
        retention_s         INTEGER CHECK (retention_s IS NULL OR retention_s > 0),
        created             INTEGER NOT NULL,
        indexed_until_ms    INTEGER NOT NULL DEFAULT 0,
        indexed_until_bytes INTEGER NOT NULL DEFAULT 0,
        complete            INTEGER NOT NULL DEFAULT 0,
        CHECK ((kind = 'file') = (sha256 IS NOT NULL))
    ) STRICT;
    CREATE UNIQUE INDEX sources_by_name ON sources(kind, name) WHERE sha256 IS NULL;

    CREATE TABLE clusters (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        name       TEXT,
        not_a_face INTEGER NOT NULL DEFAULT 0,
        created    INTEGER NOT NULL
    ) STRICT;

    -- One video track: when (media time; wall time for cameras), the best
    -- face's box, score and thumbnail, and whom it was matched to. Erasing the
    -- person deletes it (explicitly, so that the deletion is logged; the
    -- cascade is the backstop); `expires` follows the source's retention.
    CREATE TABLE appearances (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        source_id      INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
        track          INTEGER NOT NULL,
        media_start_ms INTEGER NOT NULL,
        media_end_ms   INTEGER NOT NULL,
        wall_start_ms  INTEGER,
        wall_end_ms    INTEGER,
        box_x          REAL NOT NULL,
        box_y          REAL NOT NULL,
        box_w          REAL NOT NULL,
        box_h          REAL NOT NULL,
        detector_score REAL NOT NULL,
        thumbnail      BLOB,
        person_id      INTEGER REFERENCES people(id) ON DELETE CASCADE,
        cluster_id     INTEGER REFERENCES clusters(id) ON DELETE SET NULL,
        created        INTEGER NOT NULL,
        expires        INTEGER,
        CHECK (media_start_ms <= media_end_ms),
        CHECK ((wall_start_ms IS NULL) = (wall_end_ms IS NULL)),
        CHECK (wall_start_ms IS NULL OR wall_start_ms <= wall_end_ms)
    ) STRICT;
    CREATE INDEX appearances_by_source_time ON appearances(source_id, media_start_ms);
    CREATE INDEX appearances_by_wall_time ON appearances(wall_start_ms);
    CREATE INDEX appearances_by_person ON appearances(person_id);
    CREATE INDEX appearances_by_cluster ON appearances(cluster_id);
    CREATE INDEX appearances_by_expiry ON appearances(expires);

    -- The embeddings of an appearance's best faces (little-endian f32, like
    -- samples), one row each: its id is the vector's id in the search index.
    CREATE TABLE appearance_vectors (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        appearance_id INTEGER NOT NULL REFERENCES appearances(id) ON DELETE CASCADE,
        embedding     BLOB NOT NULL,
        embedder      TEXT NOT NULL
    ) STRICT;
    CREATE INDEX appearance_vectors_by_appearance ON appearance_vectors(appearance_id);

    -- Appearances written and deleted, by revision: what an appearance index
    -- replays. Pruned with the samples' log, below the same floor.
    CREATE TABLE appearance_changes (
        seq           INTEGER PRIMARY KEY,
        rev           INTEGER NOT NULL,
        op            TEXT NOT NULL CHECK (op IN ('add', 'remove')),
        appearance_id INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX appearance_changes_by_rev ON appearance_changes(rev);
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

pub fn version(connection: &Connection) -> rusqlite::Result<u32> {
    connection.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Applies the migrations after `from`, all or none.
pub fn migrate(transaction: &Transaction, from: u32) -> rusqlite::Result<()> {
    for migration in &MIGRATIONS[from as usize..] {
        transaction.execute_batch(migration)?;
    }
    transaction.pragma_update(None, "user_version", SCHEMA_VERSION)
}
