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

use super::Console;
use crate::auth::Admin;
use crate::decisions::{DecisionJson, events_after};

/// How often the audit trail is read for new decisions.
const POLL: Duration = Duration::from_millis(250);
/// How often the stream checks that its reader may still read it (the key
/// or the session may have been revoked meanwhile).
const RECHECK_EVERY_POLLS: u32 = 40;

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
