//! What both backends share, so that each holds only its SQL: the access
//! rules run inside their decision transactions, the turning of stored
//! codes, blobs and joined names back into typed values (a value no code
//! knows is a damaged row, never a guess), and the appearance queries that
//! are the same text on both but for their placeholders.

use std::fmt;

use crate::access::{Candidate, Verdict, decide};
use crate::error::{GalleryError, Result};
use crate::model::{ApiKey, AppearanceFilter, Decision, Event, Reason, Role, SourceKind};
use crate::store::api::{
    AppearanceChange, Change, DecisionRecord, Evidence, IndexedAppearance, SampleRecord, StoreReader,
    StoredSample,
};

/// The access rules against the store's current rows: the zone must exist,
/// a matched person must still exist (an erased one is no match), and
/// [`decide`] gives the verdict. Shared by every backend.
pub fn decide_verdict(reader: &mut dyn StoreReader, record: &DecisionRecord<'_>) -> Result<Verdict> {
    if !reader.zone_exists(record.zone)? {
        return Ok(Verdict {
            reason: Reason::UnknownZone,
            detail: format!("no zone named `{}`", record.zone),
            best: None,
        });
    }
    let matches = match &record.evidence {
        Evidence::Refused { reason, detail } => {
            return Ok(Verdict { reason: *reason, detail: detail.to_string(), best: None });
        }
        Evidence::Matches(matches) => matches,
    };
    let mut candidates = Vec::with_capacity(matches.len());
    for found in matches.iter() {
        if reader.person_name(found.person)?.is_none() {
            continue;
        }
        let granted = reader.granted(found.person, record.zone, record.time)?;
        candidates.push(Candidate { person_id: found.person, similarity: found.similarity, granted });
    }
    Ok(decide(&candidates, record.threshold))
}

/// Whether a verdict names its best candidate to the caller.
pub fn names_person(reason: Reason) -> bool {
    matches!(reason, Reason::Granted | Reason::NotGranted | Reason::Ambiguous)
}

/// The store failed: its location and the backend's message (kept for logs;
/// the service never shows it to a client).
pub(crate) fn storage_error(location: &str, detail: impl fmt::Display) -> GalleryError {
    GalleryError::Database { path: location.to_string(), detail: detail.to_string() }
}

/// A new person whose external id another person holds.
pub(crate) fn external_id_taken(sample: &SampleRecord<'_>) -> GalleryError {
    GalleryError::Invalid(format!(
        "cannot add `{}`: external id `{}` belongs to someone else",
        sample.name,
        sample.external_id.unwrap_or_default()
    ))
}

/// Decodes a little-endian f32 embedding blob.
pub(crate) fn vector_from_bytes(bytes: &[u8], dimension: Option<usize>) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) || dimension.is_some_and(|d| d * 4 != bytes.len()) {
        return None;
    }
    Some(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

pub(crate) fn vector_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// One sample row of a snapshot; a blob that is no embedding is a damaged sample.
pub(crate) fn stored_sample(location: &str, sample: i64, person: i64, bytes: &[u8]) -> Result<StoredSample> {
    let vector = vector_from_bytes(bytes, None).ok_or_else(|| GalleryError::DamagedSample {
        path: location.to_string(),
        sample,
        bytes: bytes.len(),
    })?;
    Ok(StoredSample { sample, person, vector })
}

/// One row of the change log, with the embedding of an added sample that
/// still exists.
pub(crate) fn change_from_row(
    location: &str,
    op: &str,
    sample: Option<i64>,
    person: Option<i64>,
    embedding: Option<Vec<u8>>,
) -> Result<Change> {
    let damaged =
        || GalleryError::Damaged { path: location.to_string(), detail: format!("change log entry `{op}`") };
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

/// Names joined with U+001F by the query (a person's zones, a key's), sorted.
pub(crate) fn split_names(joined: Option<String>) -> Vec<String> {
    let mut names: Vec<String> =
        joined.map(|text| text.split('\u{1f}').map(str::to_string).collect()).unwrap_or_default();
    names.sort();
    names
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

/// Fills in a key's typed role from its stored code.
pub(crate) fn typed_key(path: &str, role: &str, mut key: ApiKey) -> Result<ApiKey> {
    key.role = Role::parse(role).ok_or_else(|| GalleryError::Damaged {
        path: path.to_string(),
        detail: format!("API key {} has role `{role}`", key.id),
    })?;
    Ok(key)
}

// ---- appearances ----------------------------------------------------------

/// The columns of an [`Appearance`](crate::model::Appearance), in the order
/// both backends read them, over [`APPEARANCE_FROM`].
pub(crate) const APPEARANCE_COLUMNS: &str =
    "a.id, a.source_id, s.name, a.track, a.media_start_ms, a.media_end_ms,
        a.wall_start_ms, a.wall_end_ms, a.box_x, a.box_y, a.box_w, a.box_h, a.detector_score,
        (SELECT COUNT(*) FROM appearance_vectors v WHERE v.appearance_id = a.id), a.thumbnail IS NOT NULL,
        a.person_id, a.cluster_id, COALESCE(c.not_a_face, FALSE), a.created, a.expires";

pub(crate) const APPEARANCE_FROM: &str =
    "FROM appearances a JOIN sources s ON s.id = a.source_id LEFT JOIN clusters c ON c.id = a.cluster_id";

/// The `WHERE` conditions of an appearance listing and their parameters
/// (all integers), numbered from 1 by `placeholder` (`?1` or `$1`). Only the
/// conditions asked for are written, so that the planner can use the
/// indexes (an `?1 IS NULL OR …` condition would hide them).
pub(crate) fn appearance_conditions(
    filter: &AppearanceFilter,
    after: Option<i64>,
    now: i64,
    placeholder: fn(usize) -> String,
) -> (String, Vec<i64>) {
    let mut conditions = Vec::new();
    let mut values = Vec::new();
    let mut add = |template: &str, value: i64| {
        values.push(value);
        conditions.push(template.replace('#', &placeholder(values.len())));
    };
    add("(a.expires IS NULL OR a.expires > #)", now);
    let optional = [
        ("a.source_id = #", filter.source),
        ("a.media_end_ms >= #", filter.media_from_ms),
        ("a.media_start_ms < #", filter.media_until_ms),
        ("a.wall_end_ms >= #", filter.wall_from_ms),
        ("a.wall_start_ms < #", filter.wall_until_ms),
        ("a.person_id = #", filter.person),
        ("a.cluster_id = #", filter.cluster),
        ("a.id > #", after),
    ];
    for (template, value) in optional {
        if let Some(value) = value {
            add(template, value);
        }
    }
    if !filter.include_not_a_face {
        conditions.push("c.not_a_face IS NOT TRUE".to_string());
    }
    (conditions.join(" AND "), values)
}

/// When an appearance goes: `retention_s` after it was seen (its
/// wall-clock end, in whole seconds) or, without a wall clock, after it was
/// indexed. The SQL that re-dates a source's appearances when its
/// retention changes computes the same.
pub(crate) fn appearance_expiry(
    wall_end_ms: Option<i64>,
    created: i64,
    retention_s: Option<i64>,
) -> Option<i64> {
    let seen = wall_end_ms.map_or(created, |ms| ms / 1000);
    retention_s.map(|retention| seen.saturating_add(retention))
}

/// A source's kind from its stored code.
pub(crate) fn source_kind(location: &str, id: i64, kind: &str) -> Result<SourceKind> {
    SourceKind::parse(kind).ok_or_else(|| GalleryError::Damaged {
        path: location.to_string(),
        detail: format!("source {id} has kind `{kind}`"),
    })
}

/// One row of the appearance index's feed: an entry of the appearance log
/// (`key` its sequence number) or of the whole table (`key` the appearance
/// id), joined with one of the appearance's vectors; the appearance's
/// columns are `None` when it no longer exists.
pub(crate) struct AppearanceRow {
    pub key: i64,
    pub op: String,
    pub appearance: i64,
    pub source: Option<i64>,
    pub media: Option<(i64, i64)>,
    pub wall: Option<(i64, i64)>,
    pub vector: Option<(i64, Vec<u8>)>,
}

/// Gathers [`AppearanceRow`]s (ordered by key, then vector) into one
/// [`AppearanceChange`] per key for the index's sink.
pub(crate) struct AppearanceFeed<'a> {
    location: &'a str,
    sink: &'a mut dyn FnMut(AppearanceChange) -> Result<()>,
    pending: Option<(i64, AppearanceChange)>,
}

impl<'a> AppearanceFeed<'a> {
    pub(crate) fn new(location: &'a str, sink: &'a mut dyn FnMut(AppearanceChange) -> Result<()>) -> Self {
        AppearanceFeed { location, sink, pending: None }
    }

    pub(crate) fn start_over(&mut self, appearances: i64) -> Result<()> {
        (self.sink)(AppearanceChange::Everything { appearances: appearances.max(0) as usize })
    }

    pub(crate) fn push(&mut self, row: AppearanceRow) -> Result<()> {
        let vector = match row.vector {
            Some((id, bytes)) => Some((
                id,
                vector_from_bytes(&bytes, None).ok_or_else(|| GalleryError::Damaged {
                    path: self.location.to_string(),
                    detail: format!("vector {id} of appearance {} ({} bytes)", row.appearance, bytes.len()),
                })?,
            )),
            None => None,
        };
        if let Some((key, AppearanceChange::Added { indexed: Some(indexed), .. })) = &mut self.pending
            && *key == row.key
        {
            indexed.vectors.extend(vector);
            return Ok(());
        }
        let change = match (row.op.as_str(), row.source.zip(row.media)) {
            ("add", Some((source, media))) => AppearanceChange::Added {
                appearance: row.appearance,
                indexed: Some(IndexedAppearance {
                    appearance: row.appearance,
                    source,
                    media,
                    wall: row.wall,
                    vectors: vector.into_iter().collect(),
                }),
            },
            ("add", None) => AppearanceChange::Added { appearance: row.appearance, indexed: None },
            ("remove", _) => AppearanceChange::Removed { appearance: row.appearance },
            (op, _) => {
                return Err(GalleryError::Damaged {
                    path: self.location.to_string(),
                    detail: format!("appearance log entry `{op}`"),
                });
            }
        };
        if let Some((_, done)) = self.pending.replace((row.key, change)) {
            (self.sink)(done)?;
        }
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<()> {
        match self.pending.take() {
            Some((_, done)) => (self.sink)(done),
            None => Ok(()),
        }
    }
}
