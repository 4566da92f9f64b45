//! Indexed footage in SQLite: sources (found again by digest or by name,
//! with how far they are indexed), appearances written a batch per
//! transaction with their vectors, listed by filter, purged past their
//! source's retention, clusters, and the feed of the in-memory appearance
//! index.
//!
//! Every write that adds or deletes appearances logs each one in
//! `appearance_changes` under its revision, which the appearance index of
//! every process replays (`appearances/index.rs` says why it has a log of
//! its own rather than entries in the samples' `changes`).

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::changes::bump;
use super::connection::AtPath;
use crate::error::{GalleryError, Result};
use crate::model::{Appearance, AppearanceBatch, AppearanceQuery, Cluster, FaceBox, NewSource, Source};
use crate::store::api::AppearanceChange;
use crate::store::common::{
    APPEARANCE_COLUMNS, APPEARANCE_FROM, AppearanceFeed, AppearanceRow, appearance_conditions,
    appearance_expiry, source_kind, vector_bytes,
};

const SOURCE_COLUMNS: &str =
    "id, kind, name, sha256, retention_s, created, indexed_until_ms, indexed_until_bytes, complete";

/// A source row and its kind's stored code.
fn source_row(row: &Row<'_>) -> rusqlite::Result<(String, Source)> {
    Ok((
        row.get(1)?,
        Source {
            id: row.get(0)?,
            kind: crate::model::SourceKind::File,
            name: row.get(2)?,
            sha256: row.get(3)?,
            retention_s: row.get(4)?,
            created: row.get(5)?,
            indexed_until_ms: row.get(6)?,
            indexed_until_bytes: row.get(7)?,
            complete: row.get(8)?,
        },
    ))
}

fn typed_source(path: &str, (kind, mut source): (String, Source)) -> Result<Source> {
    source.kind = source_kind(path, source.id, &kind)?;
    Ok(source)
}

fn source(db: &Connection, path: &str, id: i64) -> Result<Source> {
    let row = db
        .query_row(&format!("SELECT {SOURCE_COLUMNS} FROM sources WHERE id = ?1"), [id], source_row)
        .optional()
        .at(path)?
        .ok_or(GalleryError::NoSuchSource(id))?;
    typed_source(path, row)
}

pub(super) fn sources(db: &Connection, path: &str) -> Result<Vec<Source>> {
    let mut statement =
        db.prepare_cached(&format!("SELECT {SOURCE_COLUMNS} FROM sources ORDER BY id")).at(path)?;
    let rows = statement.query_map([], source_row).at(path)?;
    rows.map(|row| typed_source(path, row.at(path)?)).collect()
}

/// Deletes the appearances `condition` selects (its parameters from `?2`),
/// logging each removal under `revision`; their vectors go with them.
/// Returns how many.
pub(super) fn delete_appearances(
    db: &Connection,
    path: &str,
    revision: i64,
    condition: &str,
    values: &[i64],
) -> Result<usize> {
    let parameters: Vec<i64> = std::iter::once(revision).chain(values.iter().copied()).collect();
    db.execute(
        &format!(
            "INSERT INTO appearance_changes (rev, op, appearance_id)
             SELECT ?1, 'remove', id FROM appearances WHERE {condition}"
        ),
        params_from_iter(&parameters),
    )
    .at(path)?;
    // `?1` is bound and unused: SQLite allows it.
    db.execute(&format!("DELETE FROM appearances WHERE {condition}"), params_from_iter(&parameters)).at(path)
}

/// In a write transaction.
pub(super) fn upsert_source(tx: &Connection, path: &str, new: &NewSource, time: i64) -> Result<Source> {
    let revision = bump(tx, path)?;
    let existing: Option<(i64, Option<i64>)> = match &new.sha256 {
        Some(sha256) => {
            tx.query_row("SELECT id, retention_s FROM sources WHERE sha256 = ?1", [sha256], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
        }
        None => tx.query_row(
            "SELECT id, retention_s FROM sources WHERE kind = ?1 AND name = ?2 AND sha256 IS NULL",
            params![new.kind.as_str(), new.name],
            |row| Ok((row.get(0)?, row.get(1)?)),
        ),
    }
    .optional()
    .at(path)?;
    let id = match existing {
        None => tx
            .query_row(
                "INSERT INTO sources (kind, name, sha256, retention_s, created) VALUES (?1, ?2, ?3, ?4, ?5)
                 RETURNING id",
                params![new.kind.as_str(), new.name, new.sha256, new.retention_s, time],
                |row| row.get(0),
            )
            .at(path)?,
        Some((id, retention)) if retention == new.retention_s => id,
        Some((id, _)) => {
            tx.execute("UPDATE sources SET retention_s = ?2 WHERE id = ?1", params![id, new.retention_s])
                .at(path)?;
            match new.retention_s {
                Some(retention) => tx.execute(
                    "UPDATE appearances SET expires = COALESCE(wall_end_ms / 1000, created) + ?2
                     WHERE source_id = ?1",
                    params![id, retention],
                ),
                None => tx.execute("UPDATE appearances SET expires = NULL WHERE source_id = ?1", [id]),
            }
            .at(path)?;
            delete_appearances(tx, path, revision, "source_id = ?2 AND expires <= ?3", &[id, time])?;
            id
        }
    };
    source(tx, path, id)
}

/// In a write transaction.
pub(super) fn write_appearances(
    tx: &Connection,
    path: &str,
    batch: &AppearanceBatch,
    time: i64,
) -> Result<Vec<i64>> {
    let revision = bump(tx, path)?;
    let retention: Option<i64> = tx
        .query_row("SELECT retention_s FROM sources WHERE id = ?1", [batch.source], |row| row.get(0))
        .optional()
        .at(path)?
        .ok_or(GalleryError::NoSuchSource(batch.source))?;
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO appearances (source_id, track, media_start_ms, media_end_ms, wall_start_ms, wall_end_ms,
                                      box_x, box_y, box_w, box_h, detector_score, thumbnail, person_id,
                                      cluster_id, created, expires)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) RETURNING id",
        )
        .at(path)?;
    let mut insert_vector = tx
        .prepare_cached(
            "INSERT INTO appearance_vectors (appearance_id, embedding, embedder) VALUES (?1, ?2, ?3)",
        )
        .at(path)?;
    let mut log = tx
        .prepare_cached("INSERT INTO appearance_changes (rev, op, appearance_id) VALUES (?1, 'add', ?2)")
        .at(path)?;
    let mut ids = Vec::with_capacity(batch.appearances.len());
    for appearance in &batch.appearances {
        let face = appearance.face;
        let id: i64 = insert
            .query_row(
                params![
                    batch.source,
                    appearance.track,
                    appearance.media_start_ms,
                    appearance.media_end_ms,
                    appearance.wall_start_ms,
                    appearance.wall_end_ms,
                    face.x,
                    face.y,
                    face.w,
                    face.h,
                    appearance.detector_score,
                    appearance.thumbnail_jpeg,
                    appearance.person,
                    appearance.cluster,
                    time,
                    appearance_expiry(appearance.wall_end_ms, time, retention),
                ],
                |row| row.get(0),
            )
            .at(path)?;
        for vector in &appearance.vectors {
            insert_vector
                .execute(params![id, vector_bytes(&vector.vector), vector.embedder_sha256])
                .at(path)?;
        }
        log.execute(params![revision, id]).at(path)?;
        ids.push(id);
    }
    tx.execute(
        "UPDATE sources SET indexed_until_ms = max(indexed_until_ms, ?2),
                indexed_until_bytes = max(indexed_until_bytes, ?3), complete = (complete OR ?4)
         WHERE id = ?1",
        params![batch.source, batch.indexed_until_ms, batch.indexed_until_bytes, batch.complete],
    )
    .at(path)?;
    Ok(ids)
}

fn appearance_row(row: &Row<'_>) -> rusqlite::Result<Appearance> {
    Ok(Appearance {
        id: row.get(0)?,
        source: row.get(1)?,
        source_name: row.get(2)?,
        track: row.get(3)?,
        media_start_ms: row.get(4)?,
        media_end_ms: row.get(5)?,
        wall_start_ms: row.get(6)?,
        wall_end_ms: row.get(7)?,
        face: FaceBox { x: row.get(8)?, y: row.get(9)?, w: row.get(10)?, h: row.get(11)? },
        detector_score: row.get(12)?,
        vectors: row.get::<_, i64>(13)? as usize,
        has_thumbnail: row.get(14)?,
        person: row.get(15)?,
        cluster: row.get(16)?,
        not_a_face: row.get(17)?,
        created: row.get(18)?,
        expires: row.get(19)?,
    })
}

pub(super) fn appearances(
    db: &Connection,
    path: &str,
    query: &AppearanceQuery,
    now: i64,
) -> Result<Vec<Appearance>> {
    let (conditions, values) = appearance_conditions(&query.filter, query.after, now, |n| format!("?{n}"));
    let limit = i64::try_from(query.page_size()).unwrap_or(i64::MAX);
    let mut statement = db
        .prepare_cached(&format!(
            "SELECT {APPEARANCE_COLUMNS} {APPEARANCE_FROM} WHERE {conditions} ORDER BY a.id LIMIT {limit}"
        ))
        .at(path)?;
    let rows = statement.query_map(params_from_iter(&values), appearance_row).at(path)?;
    rows.collect::<rusqlite::Result<_>>().at(path)
}

pub(super) fn appearances_by_id(
    db: &Connection,
    path: &str,
    ids: &[i64],
    now: i64,
) -> Result<Vec<Appearance>> {
    let mut statement = db
        .prepare_cached(&format!(
            "SELECT {APPEARANCE_COLUMNS} {APPEARANCE_FROM}
             WHERE a.id = ?1 AND (a.expires IS NULL OR a.expires > ?2)"
        ))
        .at(path)?;
    let mut found = Vec::with_capacity(ids.len());
    for &id in ids {
        found.extend(statement.query_row(params![id, now], appearance_row).optional().at(path)?);
    }
    Ok(found)
}

pub(super) fn appearance_ids(
    db: &Connection,
    path: &str,
    person: Option<i64>,
    cluster: Option<i64>,
) -> Result<HashSet<i64>> {
    if person.is_none() && cluster.is_none() {
        return Err(GalleryError::Invalid("appearance ids of what: a person or a cluster".into()));
    }
    let mut statement = db
        .prepare_cached(
            "SELECT id FROM appearances
             WHERE (?1 IS NULL OR person_id = ?1) AND (?2 IS NULL OR cluster_id = ?2)",
        )
        .at(path)?;
    let rows = statement.query_map(params![person, cluster], |row| row.get(0)).at(path)?;
    rows.collect::<rusqlite::Result<_>>().at(path)
}

pub(super) fn not_a_face_appearances(db: &Connection, path: &str) -> Result<HashSet<i64>> {
    let mut statement = db
        .prepare_cached(
            "SELECT a.id FROM clusters c JOIN appearances a ON a.cluster_id = c.id WHERE c.not_a_face",
        )
        .at(path)?;
    let rows = statement.query_map([], |row| row.get(0)).at(path)?;
    rows.collect::<rusqlite::Result<_>>().at(path)
}

pub(super) fn appearance_thumbnail(
    db: &Connection,
    path: &str,
    id: i64,
    now: i64,
) -> Result<Option<Vec<u8>>> {
    db.query_row(
        "SELECT thumbnail FROM appearances
         WHERE id = ?1 AND thumbnail IS NOT NULL AND (expires IS NULL OR expires > ?2)",
        params![id, now],
        |row| row.get(0),
    )
    .optional()
    .at(path)
}

/// The log's entries and the whole table share these columns (the key
/// first), so that one reader serves both.
const LOG_FEED: &str = "SELECT c.seq, c.op, c.appearance_id, a.source_id, a.media_start_ms, a.media_end_ms,
            a.wall_start_ms, a.wall_end_ms, v.id, v.embedding
     FROM appearance_changes c LEFT JOIN appearances a ON a.id = c.appearance_id
          LEFT JOIN appearance_vectors v ON v.appearance_id = a.id
     WHERE c.rev > ?1 AND c.rev <= ?2 ORDER BY c.seq, v.id";
const WHOLE_FEED: &str = "SELECT a.id, 'add', a.id, a.source_id, a.media_start_ms, a.media_end_ms,
            a.wall_start_ms, a.wall_end_ms, v.id, v.embedding
     FROM appearances a LEFT JOIN appearance_vectors v ON v.appearance_id = a.id ORDER BY a.id, v.id";

fn feed_row(row: &Row<'_>) -> rusqlite::Result<AppearanceRow> {
    let media: (Option<i64>, Option<i64>) = (row.get(4)?, row.get(5)?);
    let wall: (Option<i64>, Option<i64>) = (row.get(6)?, row.get(7)?);
    let vector: (Option<i64>, Option<Vec<u8>>) = (row.get(8)?, row.get(9)?);
    Ok(AppearanceRow {
        key: row.get(0)?,
        op: row.get(1)?,
        appearance: row.get(2)?,
        source: row.get(3)?,
        media: media.0.zip(media.1),
        wall: wall.0.zip(wall.1),
        vector: vector.0.zip(vector.1),
    })
}

/// In a read transaction.
pub(super) fn appearance_vectors(
    db: &Connection,
    path: &str,
    since: Option<i64>,
    sink: &mut dyn FnMut(AppearanceChange) -> Result<()>,
) -> Result<i64> {
    let (revision, floor): (i64, i64) = db
        .query_row("SELECT value, log_floor FROM revision WHERE id = 1", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .at(path)?;
    let mut feed = AppearanceFeed::new(path, sink);
    let mut statement;
    let mut rows = match since.filter(|&since| floor <= since && since <= revision) {
        Some(since) => {
            statement = db.prepare(LOG_FEED).at(path)?;
            statement.query(params![since, revision]).at(path)?
        }
        None => {
            let appearances: i64 =
                db.query_row("SELECT COUNT(*) FROM appearances", [], |row| row.get(0)).at(path)?;
            feed.start_over(appearances)?;
            statement = db.prepare(WHOLE_FEED).at(path)?;
            statement.query([]).at(path)?
        }
    };
    while let Some(row) = rows.next().at(path)? {
        feed.push(feed_row(row).at(path)?)?;
    }
    feed.finish()?;
    Ok(revision)
}

/// In a write transaction.
pub(super) fn purge_appearances(tx: &Connection, path: &str, now: i64) -> Result<usize> {
    let revision = bump(tx, path)?;
    delete_appearances(tx, path, revision, "expires <= ?2", &[now])
}

/// In a write transaction.
pub(super) fn remove_source(tx: &Connection, path: &str, id: i64) -> Result<usize> {
    let revision = bump(tx, path)?;
    source(tx, path, id)?;
    let removed = delete_appearances(tx, path, revision, "source_id = ?2", &[id])?;
    tx.execute("DELETE FROM sources WHERE id = ?1", [id]).at(path)?;
    Ok(removed)
}

/// In a write transaction.
pub(super) fn remove_appearances(tx: &Connection, path: &str, appearances: &[i64]) -> Result<usize> {
    let revision = bump(tx, path)?;
    let mut removed = 0;
    for &appearance in appearances {
        removed += delete_appearances(tx, path, revision, "id = ?2", &[appearance])?;
    }
    Ok(removed)
}

// ---- clusters

fn cluster_exists(db: &Connection, path: &str, id: i64) -> Result<()> {
    let exists: bool = db
        .query_row("SELECT EXISTS (SELECT 1 FROM clusters WHERE id = ?1)", [id], |row| row.get(0))
        .at(path)?;
    if exists { Ok(()) } else { Err(GalleryError::NoSuchCluster(id)) }
}

/// In a write transaction.
pub(super) fn create_cluster(tx: &Connection, path: &str, name: Option<&str>, time: i64) -> Result<i64> {
    bump(tx, path)?;
    tx.query_row(
        "INSERT INTO clusters (name, created) VALUES (?1, ?2) RETURNING id",
        params![name, time],
        |row| row.get(0),
    )
    .at(path)
}

pub(super) fn clusters(db: &Connection, path: &str) -> Result<Vec<Cluster>> {
    let mut statement = db
        .prepare_cached(
            "SELECT c.id, c.name, c.not_a_face, c.created,
                    (SELECT COUNT(*) FROM appearances a WHERE a.cluster_id = c.id)
             FROM clusters c ORDER BY c.id",
        )
        .at(path)?;
    let rows = statement
        .query_map([], |row| {
            Ok(Cluster {
                id: row.get(0)?,
                name: row.get(1)?,
                not_a_face: row.get(2)?,
                created: row.get(3)?,
                appearances: row.get::<_, i64>(4)? as usize,
            })
        })
        .at(path)?;
    rows.collect::<rusqlite::Result<_>>().at(path)
}

/// In a write transaction.
pub(super) fn set_cluster(
    tx: &Connection,
    path: &str,
    appearances: &[i64],
    cluster: Option<i64>,
) -> Result<usize> {
    bump(tx, path)?;
    if let Some(cluster) = cluster {
        cluster_exists(tx, path, cluster)?;
    }
    let mut update = tx.prepare_cached("UPDATE appearances SET cluster_id = ?2 WHERE id = ?1").at(path)?;
    let mut changed = 0;
    for &appearance in appearances {
        changed += update.execute(params![appearance, cluster]).at(path)?;
    }
    Ok(changed)
}

/// In a write transaction.
pub(super) fn merge_clusters(tx: &Connection, path: &str, into: i64, from: &[i64]) -> Result<usize> {
    bump(tx, path)?;
    cluster_exists(tx, path, into)?;
    let mut moved = 0;
    for &other in from.iter().filter(|&&other| other != into) {
        cluster_exists(tx, path, other)?;
        moved += tx
            .execute("UPDATE appearances SET cluster_id = ?1 WHERE cluster_id = ?2", params![into, other])
            .at(path)?;
        tx.execute("DELETE FROM clusters WHERE id = ?1", [other]).at(path)?;
    }
    Ok(moved)
}

/// In a write transaction.
pub(super) fn name_cluster(tx: &Connection, path: &str, id: i64, name: Option<&str>) -> Result<()> {
    bump(tx, path)?;
    let changed = tx.execute("UPDATE clusters SET name = ?2 WHERE id = ?1", params![id, name]).at(path)?;
    if changed == 0 { Err(GalleryError::NoSuchCluster(id)) } else { Ok(()) }
}

/// In a write transaction.
pub(super) fn mark_not_a_face(tx: &Connection, path: &str, id: i64, not_a_face: bool) -> Result<()> {
    bump(tx, path)?;
    let changed =
        tx.execute("UPDATE clusters SET not_a_face = ?2 WHERE id = ?1", params![id, not_a_face]).at(path)?;
    if changed == 0 { Err(GalleryError::NoSuchCluster(id)) } else { Ok(()) }
}
