//! Every access decision as it is recorded, as server-sent events.
//!
//! The stream tails the gallery's audit trail (polling for events newer
//! than the last one sent, every [`POLL`]), so it shows decisions from
//! `/v1/access`, from cameras run by `facecmp serve --camera`, and from
//! other server nodes sharing the gallery alike. A reconnecting browser
//! sends `Last-Event-ID` and misses nothing in between.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use facecmp_gallery::{Event, EventQuery, Gallery};
use futures_util::Stream;
use serde::Serialize;

use super::Console;
use super::times;
use crate::auth::Admin;

/// How often the audit trail is read for new decisions.
const POLL: Duration = Duration::from_millis(250);
/// How often the stream checks that its reader may still read it (the key
/// or the session may have been revoked meanwhile).
const RECHECK_EVERY_POLLS: u32 = 40;
/// Events read from the gallery per query while catching up.
const BATCH: usize = 200;

/// One decision as the stream sends it (`event: decision`, JSON data).
#[derive(Debug, Serialize)]
pub(crate) struct DecisionJson {
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

/// Answers whether the reader may go on reading (blocking: it may query
/// the gallery).
pub(crate) type StillAllowed = Arc<dyn Fn() -> bool + Send + Sync>;

/// `GET /v1/events/stream`: for admin API keys (`Authorization: Bearer`).
pub(crate) async fn bearer_stream(State(console): State<Console>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let key = match Admin::from_request_parts(&mut parts, &console.app).await {
        Ok(Admin(key)) => key,
        Err(error) => return error.into_response(),
    };
    let gallery = console.app.gallery.clone();
    let still_allowed: StillAllowed = Arc::new(move || {
        gallery.keys().is_ok_and(|keys| keys.iter().any(|k| k.id == key.id && k.revoked.is_none()))
    });
    decisions(&console, &parts.headers, still_allowed).await.into_response()
}

/// The SSE response: decisions after `Last-Event-ID`, or after the newest
/// one recorded when the stream opens.
pub(crate) async fn decisions(
    console: &Console,
    headers: &HeaderMap,
    still_allowed: StillAllowed,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>> + use<>> {
    let gallery = console.app.gallery.clone();
    let resume =
        headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
    let after = match resume {
        Some(id) => id,
        None => newest_event(gallery.clone()).await,
    };
    let tail = Tail { gallery, threshold: console.app.threshold, after, pending: VecDeque::new(), polls: 0 };
    let stream =
        futures_util::stream::unfold((tail, still_allowed), |(mut tail, still_allowed)| async move {
            let event = tail.next(&still_allowed).await?;
            let json = DecisionJson::new(&event, tail.threshold);
            let sse = SseEvent::default().id(event.id.to_string()).event("decision").json_data(json).ok()?;
            Some((Ok(sse), (tail, still_allowed)))
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn newest_event(gallery: Arc<Gallery>) -> i64 {
    let query = EventQuery { limit: 1, ..EventQuery::default() };
    tokio::task::spawn_blocking(move || gallery.events(&query))
        .await
        .ok()
        .and_then(Result::ok)
        .and_then(|events| events.first().map(|event| event.id))
        .unwrap_or(0)
}

/// Reads the audit trail forward from `after`.
struct Tail {
    gallery: Arc<Gallery>,
    threshold: f32,
    after: i64,
    pending: VecDeque<Event>,
    polls: u32,
}

impl Tail {
    /// The next recorded decision, waiting for one; `None` ends the stream
    /// (the reader lost its right to read it).
    async fn next(&mut self, still_allowed: &StillAllowed) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            tokio::time::sleep(POLL).await;
            self.polls += 1;
            if self.polls.is_multiple_of(RECHECK_EVERY_POLLS) {
                let check = still_allowed.clone();
                if !tokio::task::spawn_blocking(move || check()).await.unwrap_or(false) {
                    return None;
                }
            }
            let (gallery, after) = (self.gallery.clone(), self.after);
            match tokio::task::spawn_blocking(move || events_after(&gallery, after)).await {
                Ok(Ok(events)) => {
                    if let Some(last) = events.last() {
                        self.after = last.id;
                    }
                    self.pending.extend(events);
                }
                Ok(Err(error)) => tracing::warn!(%error, "the live feed could not read the audit trail"),
                Err(error) => tracing::warn!(%error, "the live feed's reader failed"),
            }
        }
    }
}

/// Every event with an id above `after`, oldest first.
fn events_after(gallery: &Gallery, after: i64) -> facecmp_gallery::Result<Vec<Event>> {
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
