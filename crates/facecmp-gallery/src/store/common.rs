//! What both backends share, so that each holds only its SQL: the access
//! rules run inside their decision transactions, and the turning of stored
//! codes, blobs and joined names back into typed values (a value no code
//! knows is a damaged row, never a guess).

use std::fmt;

use crate::access::{Candidate, Verdict, decide};
use crate::error::{GalleryError, Result};
use crate::model::{ApiKey, Decision, Event, Reason, Role};
use crate::store::api::{Change, DecisionRecord, Evidence, SampleRecord, StoreReader, StoredSample};

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
