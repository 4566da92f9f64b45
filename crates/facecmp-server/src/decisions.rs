//! Recorded access decisions as clients receive them: the JSON of one
//! decision (the live feed, the console's tables, MQTT) and reading the
//! audit trail forward from an event id.

use facecmp_gallery::{Event, EventQuery, Gallery};
use serde::Serialize;

use crate::console::times;

/// Events read from the gallery per query while catching up.
const BATCH: usize = 200;

/// One decision as the stream sends it (`event: decision`, JSON data).
#[derive(Debug, Serialize)]
pub struct DecisionJson {
    pub id: i64,
    pub time: i64,
    /// `time` as the console shows it (UTC).
    pub time_text: String,
    pub zone: String,
    pub decision: String,
    pub reason: String,
    pub person: Option<String>,
    /// Set instead of `person` when the person has been erased.
    pub tombstone: Option<String>,
    pub similarity: Option<f32>,
    /// The service's threshold the similarity is measured against.
    pub threshold: f32,
    /// Where the probe's face crop is, when its zone keeps crops (a
    /// console URL: it needs the operator's session).
    pub crop_url: Option<String>,
    /// The camera (`serve --camera NAME=…`) or stream that asked, if named.
    pub source: Option<String>,
}

impl DecisionJson {
    pub fn new(event: &Event, threshold: f32) -> DecisionJson {
        DecisionJson {
            id: event.id,
            time: event.time,
            time_text: times::show(event.time),
            zone: event.zone.clone(),
            decision: event.decision.as_str().to_string(),
            reason: event.reason.as_str().to_string(),
            person: event.person.clone(),
            tombstone: event.tombstone.clone(),
            similarity: event.similarity,
            threshold,
            crop_url: event.has_probe_crop.then(|| format!("/events/{}/crop", event.id)),
            source: event.source.clone(),
        }
    }
}

/// Every event with an id above `after`, oldest first.
pub fn events_after(gallery: &Gallery, after: i64) -> facecmp_gallery::Result<Vec<Event>> {
    let mut newer = Vec::new();
    let mut before = None;
    loop {
        let page = gallery.events(&EventQuery { before, limit: BATCH, ..EventQuery::default() })?;
        let full = page.len() == BATCH;
        let mut reached = false;
        for event in page {
            if event.id <= after {
                reached = true;
                break;
            }
            before = Some(event.id);
            newer.push(event);
        }
        if reached || !full {
            break;
        }
    }
    newer.reverse();
    Ok(newer)
}
