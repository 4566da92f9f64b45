//! Indexed footage in PostgreSQL: sources (found again by digest or by
//! name, with how far they are indexed), appearances written a batch per
//! transaction with their vectors, listed by filter, purged past their
//! source's retention, clusters, and the feed of the in-memory appearance
//! index.
//!
//! Every write that adds or deletes appearances logs each one in
//! `appearance_changes` under its revision, which the appearance index of
//! every node replays (`appearances/index.rs` says why it has a log of its
//! own rather than entries in the samples' `changes`).

use std::collections::HashSet;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{GenericClient, Row};

use super::connection::pg_error;
use crate::error::{GalleryError, Result};
use crate::model::{Appearance, AppearanceBatch, AppearanceQuery, Cluster, FaceBox, NewSource, Source};
use crate::store::api::AppearanceChange;
use crate::store::common::{
    APPEARANCE_COLUMNS, APPEARANCE_FROM, AppearanceFeed, AppearanceRow, appearance_conditions,
    appearance_expiry, source_kind, vector_bytes,
};

type Parameter<'a> = &'a (dyn ToSql + Sync);

const SOURCE_COLUMNS: &str =
    "id, kind, name, sha256, retention_s, created, indexed_until_ms, indexed_until_bytes, complete";

fn typed_source(location: &str, row: &Row) -> Result<Source> {
    let id: i64 = row.get(0);
    Ok(Source {
        id,
        kind: source_kind(location, id, row.get(1))?,
        name: row.get(2),
        sha256: row.get(3),
        retention_s: row.get(4),
        created: row.get(5),
        indexed_until_ms: row.get(6),
        indexed_until_bytes: row.get(7),
        complete: row.get(8),
    })
}

fn source(client: &mut impl GenericClient, location: &str, id: i64) -> Result<Source> {
    let row = client
        .query_opt(&format!("SELECT {SOURCE_COLUMNS} FROM sources WHERE id = $1"), &[&id])
        .map_err(|e| pg_error(location, e))?
        .ok_or(GalleryError::NoSuchSource(id))?;
    typed_source(location, &row)
}

pub(super) fn sources(client: &mut impl GenericClient, location: &str) -> Result<Vec<Source>> {
    let rows = client
        .query(&format!("SELECT {SOURCE_COLUMNS} FROM sources ORDER BY id"), &[])
        .map_err(|e| pg_error(location, e))?;
    rows.iter().map(|row| typed_source(location, row)).collect()
}

/// Deletes the appearances `condition` selects (its parameters from `$2`),
/// logging each removal under `revision`, in one statement; their vectors
/// go with them. Returns how many.
pub(super) fn delete_appearances(
    client: &mut impl GenericClient,
    location: &str,
    revision: i64,
    condition: &str,
    values: &[i64],
) -> Result<usize> {
    let parameters: Vec<Parameter<'_>> = std::iter::once(&revision as Parameter<'_>)
        .chain(values.iter().map(|v| v as Parameter<'_>))
        .collect();
    let removed = client
        .execute(
            &format!(
                "WITH gone AS (DELETE FROM appearances WHERE {condition} RETURNING id)
                 INSERT INTO appearance_changes (rev, op, appearance_id) SELECT $1, 'remove', id FROM gone"
            ),
            &parameters,
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(removed as usize)
}

/// In a write transaction, logging under `revision`.
pub(super) fn upsert_source(
    transaction: &mut impl GenericClient,
    location: &str,
    revision: i64,
    new: &NewSource,
    time: i64,
) -> Result<Source> {
    let existing = match &new.sha256 {
        Some(sha256) => {
            transaction.query_opt("SELECT id, retention_s FROM sources WHERE sha256 = $1", &[sha256])
        }
        None => transaction.query_opt(
            "SELECT id, retention_s FROM sources WHERE kind = $1 AND name = $2 AND sha256 IS NULL",
            &[&new.kind.as_str(), &new.name],
        ),
    }
    .map_err(|e| pg_error(location, e))?
    .map(|row| (row.get::<_, i64>(0), row.get::<_, Option<i64>>(1)));
    let id = match existing {
        None => transaction
            .query_one(
                "INSERT INTO sources (kind, name, sha256, retention_s, created) VALUES ($1, $2, $3, $4, $5)
                 RETURNING id",
                &[&new.kind.as_str(), &new.name, &new.sha256, &new.retention_s, &time],
            )
            .map_err(|e| pg_error(location, e))?
            .get(0),
        Some((id, retention)) if retention == new.retention_s => id,
        Some((id, _)) => {
            transaction
                .execute("UPDATE sources SET retention_s = $2 WHERE id = $1", &[&id, &new.retention_s])
                .map_err(|e| pg_error(location, e))?;
            match new.retention_s {
                Some(retention) => transaction.execute(
                    "UPDATE appearances SET expires = COALESCE(wall_end_ms / 1000, created) + $2
                     WHERE source_id = $1",
                    &[&id, &retention],
                ),
                None => {
                    transaction.execute("UPDATE appearances SET expires = NULL WHERE source_id = $1", &[&id])
                }
            }
            .map_err(|e| pg_error(location, e))?;
            delete_appearances(
                transaction,
                location,
                revision,
                "source_id = $2 AND expires <= $3",
                &[id, time],
            )?;
            id
        }
    };
    source(transaction, location, id)
}

/// In a write transaction, logging under `revision`.
pub(super) fn write_appearances(
    transaction: &mut impl GenericClient,
    location: &str,
    revision: i64,
    batch: &AppearanceBatch,
    time: i64,
) -> Result<Vec<i64>> {
    let retention: Option<i64> = transaction
        .query_opt("SELECT retention_s FROM sources WHERE id = $1", &[&batch.source])
        .map_err(|e| pg_error(location, e))?
        .ok_or(GalleryError::NoSuchSource(batch.source))?
        .get(0);
    let insert = transaction
        .prepare(
            "INSERT INTO appearances (source_id, track, media_start_ms, media_end_ms, wall_start_ms, wall_end_ms,
                                      box_x, box_y, box_w, box_h, detector_score, thumbnail, person_id,
                                      cluster_id, created, expires)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id",
        )
        .map_err(|e| pg_error(location, e))?;
    let insert_vector = transaction
        .prepare("INSERT INTO appearance_vectors (appearance_id, embedding, embedder) VALUES ($1, $2, $3)")
        .map_err(|e| pg_error(location, e))?;
    let mut ids = Vec::with_capacity(batch.appearances.len());
    for appearance in &batch.appearances {
        let face = appearance.face;
        let expires = appearance_expiry(appearance.wall_end_ms, time, retention);
        let id: i64 = transaction
            .query_one(
                &insert,
                &[
                    &batch.source,
                    &appearance.track,
                    &appearance.media_start_ms,
                    &appearance.media_end_ms,
                    &appearance.wall_start_ms,
                    &appearance.wall_end_ms,
                    &face.x,
                    &face.y,
                    &face.w,
                    &face.h,
                    &appearance.detector_score,
                    &appearance.thumbnail_jpeg,
                    &appearance.person,
                    &appearance.cluster,
                    &time,
                    &expires,
                ],
            )
            .map_err(|e| pg_error(location, e))?
            .get(0);
        for vector in &appearance.vectors {
            transaction
                .execute(&insert_vector, &[&id, &vector_bytes(&vector.vector), &vector.embedder_sha256])
                .map_err(|e| pg_error(location, e))?;
        }
        ids.push(id);
    }
    transaction
        .execute(
            "INSERT INTO appearance_changes (rev, op, appearance_id) SELECT $1, 'add', unnest($2::BIGINT[])",
            &[&revision, &ids],
        )
        .map_err(|e| pg_error(location, e))?;
    transaction
        .execute(
            "UPDATE sources SET indexed_until_ms = GREATEST(indexed_until_ms, $2),
                    indexed_until_bytes = GREATEST(indexed_until_bytes, $3), complete = (complete OR $4)
             WHERE id = $1",
            &[&batch.source, &batch.indexed_until_ms, &batch.indexed_until_bytes, &batch.complete],
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(ids)
}

fn appearance_row(row: &Row) -> Appearance {
    Appearance {
        id: row.get(0),
        source: row.get(1),
        source_name: row.get(2),
        track: row.get(3),
        media_start_ms: row.get(4),
        media_end_ms: row.get(5),
        wall_start_ms: row.get(6),
        wall_end_ms: row.get(7),
        face: FaceBox { x: row.get(8), y: row.get(9), w: row.get(10), h: row.get(11) },
        detector_score: row.get(12),
        vectors: row.get::<_, i64>(13) as usize,
        has_thumbnail: row.get(14),
        person: row.get(15),
        cluster: row.get(16),
        not_a_face: row.get(17),
        created: row.get(18),
        expires: row.get(19),
    }
}

pub(super) fn appearances(
    client: &mut impl GenericClient,
    location: &str,
    query: &AppearanceQuery,
    now: i64,
) -> Result<Vec<Appearance>> {
    let (conditions, values) = appearance_conditions(&query.filter, query.after, now, |n| format!("${n}"));
    let parameters: Vec<Parameter<'_>> = values.iter().map(|v| v as Parameter<'_>).collect();
    let limit = i64::try_from(query.page_size()).unwrap_or(i64::MAX);
    let rows = client
        .query(
            &format!(
                "SELECT {APPEARANCE_COLUMNS} {APPEARANCE_FROM} WHERE {conditions} ORDER BY a.id LIMIT {limit}"
            ),
            &parameters,
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(rows.iter().map(appearance_row).collect())
}

pub(super) fn appearances_by_id(
    client: &mut impl GenericClient,
    location: &str,
    ids: &[i64],
    now: i64,
) -> Result<Vec<Appearance>> {
    let rows = client
        .query(
            &format!(
                "SELECT {APPEARANCE_COLUMNS} {APPEARANCE_FROM}
                 WHERE a.id = ANY($1) AND (a.expires IS NULL OR a.expires > $2)"
            ),
            &[&ids, &now],
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(rows.iter().map(appearance_row).collect())
}

pub(super) fn appearance_ids(
    client: &mut impl GenericClient,
    location: &str,
    person: Option<i64>,
    cluster: Option<i64>,
) -> Result<HashSet<i64>> {
    if person.is_none() && cluster.is_none() {
        return Err(GalleryError::Invalid("appearance ids of what: a person or a cluster".into()));
    }
    let rows = client
        .query(
            "SELECT id FROM appearances
             WHERE ($1::BIGINT IS NULL OR person_id = $1) AND ($2::BIGINT IS NULL OR cluster_id = $2)",
            &[&person, &cluster],
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

pub(super) fn not_a_face_appearances(
    client: &mut impl GenericClient,
    location: &str,
) -> Result<HashSet<i64>> {
    let rows = client
        .query(
            "SELECT a.id FROM clusters c JOIN appearances a ON a.cluster_id = c.id WHERE c.not_a_face",
            &[],
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

pub(super) fn appearance_thumbnail(
    client: &mut impl GenericClient,
    location: &str,
    id: i64,
    now: i64,
) -> Result<Option<Vec<u8>>> {
    let row = client
        .query_opt(
            "SELECT thumbnail FROM appearances
             WHERE id = $1 AND thumbnail IS NOT NULL AND (expires IS NULL OR expires > $2)",
            &[&id, &now],
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(row.map(|row| row.get(0)))
}

/// The log's entries and the whole table share these columns (the key
/// first), so that one reader serves both.
const LOG_FEED: &str = "SELECT c.seq, c.op, c.appearance_id, a.source_id, a.media_start_ms, a.media_end_ms,
            a.wall_start_ms, a.wall_end_ms, v.id, v.embedding
     FROM appearance_changes c LEFT JOIN appearances a ON a.id = c.appearance_id
          LEFT JOIN appearance_vectors v ON v.appearance_id = a.id
     WHERE c.rev > $1 AND c.rev <= $2 ORDER BY c.seq, v.id";
const WHOLE_FEED: &str = "SELECT a.id, 'add'::TEXT, a.id, a.source_id, a.media_start_ms, a.media_end_ms,
            a.wall_start_ms, a.wall_end_ms, v.id, v.embedding
     FROM appearances a LEFT JOIN appearance_vectors v ON v.appearance_id = a.id ORDER BY a.id, v.id";

fn feed_row(row: &Row) -> AppearanceRow {
    let media: (Option<i64>, Option<i64>) = (row.get(4), row.get(5));
    let wall: (Option<i64>, Option<i64>) = (row.get(6), row.get(7));
    let vector: (Option<i64>, Option<Vec<u8>>) = (row.get(8), row.get(9));
    AppearanceRow {
        key: row.get(0),
        op: row.get(1),
        appearance: row.get(2),
        source: row.get(3),
        media: media.0.zip(media.1),
        wall: wall.0.zip(wall.1),
        vector: vector.0.zip(vector.1),
    }
}

/// In a read-only, repeatable-read transaction; rows are streamed from
/// the server, never all held at once.
pub(super) fn appearance_vectors(
    client: &mut impl GenericClient,
    location: &str,
    since: Option<i64>,
    sink: &mut dyn FnMut(AppearanceChange) -> Result<()>,
) -> Result<i64> {
    let row = client
        .query_one("SELECT value, log_floor FROM revision WHERE id = 1", &[])
        .map_err(|e| pg_error(location, e))?;
    let (revision, floor): (i64, i64) = (row.get(0), row.get(1));
    let mut feed = AppearanceFeed::new(location, sink);
    let mut rows = match since.filter(|&since| floor <= since && since <= revision) {
        Some(since) => client.query_raw(LOG_FEED, [&since as Parameter<'_>, &revision]),
        None => {
            let appearances = client
                .query_one("SELECT COUNT(*) FROM appearances", &[])
                .map_err(|e| pg_error(location, e))?
                .get(0);
            feed.start_over(appearances)?;
            client.query_raw(WHOLE_FEED, std::iter::empty::<Parameter<'_>>())
        }
    }
    .map_err(|e| pg_error(location, e))?;
    while let Some(row) = rows.next().map_err(|e| pg_error(location, e))? {
        feed.push(feed_row(&row))?;
    }
    feed.finish()?;
    Ok(revision)
}

/// In a write transaction, logging under `revision`.
pub(super) fn purge_appearances(
    transaction: &mut impl GenericClient,
    location: &str,
    revision: i64,
    now: i64,
) -> Result<usize> {
    delete_appearances(transaction, location, revision, "expires <= $2", &[now])
}

/// In a write transaction, logging under `revision`.
pub(super) fn remove_source(
    transaction: &mut impl GenericClient,
    location: &str,
    revision: i64,
    id: i64,
) -> Result<usize> {
    source(transaction, location, id)?;
    let removed = delete_appearances(transaction, location, revision, "source_id = $2", &[id])?;
    transaction.execute("DELETE FROM sources WHERE id = $1", &[&id]).map_err(|e| pg_error(location, e))?;
    Ok(removed)
}

/// In a write transaction, logging under `revision`.
pub(super) fn remove_appearances(
    transaction: &mut impl GenericClient,
    location: &str,
    revision: i64,
    appearances: &[i64],
) -> Result<usize> {
    let mut removed = 0;
    for &appearance in appearances {
        removed += delete_appearances(transaction, location, revision, "id = $2", &[appearance])?;
    }
    Ok(removed)
}

// ---- clusters

fn cluster_exists(client: &mut impl GenericClient, location: &str, id: i64) -> Result<()> {
    let found = client
        .query_opt("SELECT 1 FROM clusters WHERE id = $1", &[&id])
        .map_err(|e| pg_error(location, e))?;
    found.map(drop).ok_or(GalleryError::NoSuchCluster(id))
}

/// In a write transaction.
pub(super) fn create_cluster(
    transaction: &mut impl GenericClient,
    location: &str,
    name: Option<&str>,
    time: i64,
) -> Result<i64> {
    Ok(transaction
        .query_one("INSERT INTO clusters (name, created) VALUES ($1, $2) RETURNING id", &[&name, &time])
        .map_err(|e| pg_error(location, e))?
        .get(0))
}

pub(super) fn clusters(client: &mut impl GenericClient, location: &str) -> Result<Vec<Cluster>> {
    let rows = client
        .query(
            "SELECT c.id, c.name, c.not_a_face, c.created,
                    (SELECT COUNT(*) FROM appearances a WHERE a.cluster_id = c.id)
             FROM clusters c ORDER BY c.id",
            &[],
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(rows
        .iter()
        .map(|row| Cluster {
            id: row.get(0),
            name: row.get(1),
            not_a_face: row.get(2),
            created: row.get(3),
            appearances: row.get::<_, i64>(4) as usize,
        })
        .collect())
}

/// In a write transaction.
pub(super) fn set_cluster(
    transaction: &mut impl GenericClient,
    location: &str,
    appearances: &[i64],
    cluster: Option<i64>,
) -> Result<usize> {
    if let Some(cluster) = cluster {
        cluster_exists(transaction, location, cluster)?;
    }
    let changed = transaction
        .execute("UPDATE appearances SET cluster_id = $2 WHERE id = ANY($1)", &[&appearances, &cluster])
        .map_err(|e| pg_error(location, e))?;
    Ok(changed as usize)
}

/// In a write transaction.
pub(super) fn merge_clusters(
    transaction: &mut impl GenericClient,
    location: &str,
    into: i64,
    from: &[i64],
) -> Result<usize> {
    cluster_exists(transaction, location, into)?;
    let mut moved = 0;
    for &other in from.iter().filter(|&&other| other != into) {
        cluster_exists(transaction, location, other)?;
        moved += transaction
            .execute("UPDATE appearances SET cluster_id = $1 WHERE cluster_id = $2", &[&into, &other])
            .map_err(|e| pg_error(location, e))?;
        transaction
            .execute("DELETE FROM clusters WHERE id = $1", &[&other])
            .map_err(|e| pg_error(location, e))?;
    }
    Ok(moved as usize)
}

/// In a write transaction.
pub(super) fn name_cluster(
    transaction: &mut impl GenericClient,
    location: &str,
    id: i64,
    name: Option<&str>,
) -> Result<()> {
    let changed = transaction
        .execute("UPDATE clusters SET name = $2 WHERE id = $1", &[&id, &name])
        .map_err(|e| pg_error(location, e))?;
    if changed == 0 { Err(GalleryError::NoSuchCluster(id)) } else { Ok(()) }
}

/// In a write transaction.
pub(super) fn mark_not_a_face(
    transaction: &mut impl GenericClient,
    location: &str,
    id: i64,
    not_a_face: bool,
) -> Result<()> {
    let changed = transaction
        .execute("UPDATE clusters SET not_a_face = $2 WHERE id = $1", &[&id, &not_a_face])
        .map_err(|e| pg_error(location, e))?;
    if changed == 0 { Err(GalleryError::NoSuchCluster(id)) } else { Ok(()) }
}
