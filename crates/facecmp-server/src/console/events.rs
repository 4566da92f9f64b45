//! The audit trail: every decision, filtered, paged, and exported as CSV.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use facecmp_gallery::{Decision, Event, EventQuery, Gallery, Reason};
use serde::Deserialize;

use super::error::{PageError, blocking, render};
use super::session::Operator;
use super::{Console, Layout, times};
use crate::decisions::DecisionJson;

/// Rows on one page.
const PAGE: usize = 50;
/// Rows in one CSV export, at most.
const MAX_EXPORT: usize = 100_000;

/// Every reason a decision can have, for the filter's choices.
const REASONS: &[Reason] = &[
    Reason::Granted,
    Reason::BadImage,
    Reason::NoFace,
    Reason::MultipleFaces,
    Reason::LowQuality,
    Reason::Unknown,
    Reason::NotGranted,
    Reason::Ambiguous,
    Reason::UnknownZone,
    Reason::InternalError,
];

/// The filter form, as submitted: empty fields mean "any".
#[derive(Debug, Default, Deserialize)]
pub(crate) struct EventFilter {
    zone: Option<String>,
    person: Option<String>,
    decision: Option<String>,
    reason: Option<String>,
    /// `datetime-local`, UTC.
    since: Option<String>,
    until: Option<String>,
    /// The id of the last row of the previous page.
    before: Option<i64>,
}

fn given(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|value| !value.is_empty()).map(str::to_string)
}

/// The filter checked and resolved to what the gallery can answer.
#[derive(Clone)]
struct Resolved {
    query: EventQuery,
}

impl EventFilter {
    fn resolve(&self) -> Result<Resolved, String> {
        let decision = match given(&self.decision) {
            Some(text) => Some(
                Decision::parse(&text)
                    .ok_or_else(|| format!("decision: `{text}` is neither allow nor deny"))?,
            ),
            None => None,
        };
        let reason = match given(&self.reason) {
            Some(text) => Some(
                Reason::parse(&text).ok_or_else(|| format!("reason: `{text}` is not a decision reason"))?,
            ),
            None => None,
        };
        let query = EventQuery {
            zone: given(&self.zone),
            decision,
            reason,
            person: given(&self.person),
            since: times::parse_input("since", self.since.as_deref())?,
            until: times::parse_input("until", self.until.as_deref())?,
            before: self.before,
            ..EventQuery::default()
        };
        Ok(Resolved { query })
    }

    /// This filter as a query string, without `before` (for the next page
    /// and the CSV link).
    fn query_string(&self) -> String {
        let fields = [
            ("zone", &self.zone),
            ("person", &self.person),
            ("decision", &self.decision),
            ("reason", &self.reason),
            ("since", &self.since),
            ("until", &self.until),
        ];
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (name, value) in fields {
            if let Some(value) = given(value) {
                serializer.append_pair(name, &value);
            }
        }
        serializer.finish()
    }
}

/// Up to `limit` matching events, newest first, and whether more may follow
/// (the gallery applies every filter; pages of 500 keep each query small).
fn matching(
    gallery: &Gallery,
    filter: &Resolved,
    limit: usize,
) -> facecmp_gallery::Result<(Vec<Event>, bool)> {
    let mut query = filter.query.clone();
    let mut found = Vec::new();
    loop {
        query.limit = (limit + 1 - found.len()).min(500);
        let batch = gallery.events(&query)?;
        let exhausted = batch.len() < query.limit;
        for event in batch {
            query.before = Some(event.id);
            if found.len() == limit {
                return Ok((found, true));
            }
            found.push(event);
        }
        if exhausted {
            return Ok((found, false));
        }
    }
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    layout: Layout,
    /// The filter's fields as typed, to fill the form again.
    shown: ShownFilter,
    message: Option<String>,
    zones: Vec<String>,
    reasons: Vec<String>,
    rows: Vec<DecisionJson>,
    /// Names offered by the "add as a sample of" fields.
    people: Vec<String>,
    next_page: Option<String>,
    csv_link: String,
}

#[derive(Default)]
struct ShownFilter {
    zone: String,
    person: String,
    decision: String,
    reason: String,
    since: String,
    until: String,
}

impl ShownFilter {
    fn new(filter: &EventFilter) -> ShownFilter {
        let shown = |field: &Option<String>| field.clone().unwrap_or_default();
        ShownFilter {
            zone: shown(&filter.zone),
            person: shown(&filter.person),
            decision: shown(&filter.decision),
            reason: shown(&filter.reason),
            since: shown(&filter.since),
            until: shown(&filter.until),
        }
    }
}

pub(crate) async fn page(
    State(console): State<Console>,
    operator: Operator,
    Query(filter): Query<EventFilter>,
) -> Result<Response, PageError> {
    let (gallery, threshold) = (console.app.gallery.clone(), console.app.threshold);
    let resolved = filter.resolve();
    let checked = resolved.clone().ok();
    let (zones, people, found) = blocking(move || {
        let zones = gallery.zones()?.into_iter().map(|zone| zone.name).collect::<Vec<_>>();
        let found = match checked {
            Some(filter) => Some(matching(&gallery, &filter, PAGE)?),
            None => None,
        };
        Ok((zones, super::people::names(&gallery)?, found))
    })
    .await?;
    let (events, more) = found.unwrap_or_default();
    let query = filter.query_string();
    let next_page = more.then(|| events.last()).flatten().map(|last| {
        if query.is_empty() {
            format!("/events?before={}", last.id)
        } else {
            format!("/events?{query}&before={}", last.id)
        }
    });
    let csv_link = if query.is_empty() { "/events.csv".to_string() } else { format!("/events.csv?{query}") };
    let status = if resolved.is_ok() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    let events_page = EventsPage {
        layout: Layout::new("Events", Some(&operator), "events"),
        message: resolved.err(),
        shown: ShownFilter::new(&filter),
        zones,
        reasons: REASONS.iter().map(|reason| reason.as_str().to_string()).collect(),
        rows: events.iter().map(|event| DecisionJson::new(event, threshold)).collect(),
        people,
        next_page,
        csv_link,
    };
    render(status, &events_page)
}

/// The filtered rows (every page of them) as CSV.
pub(crate) async fn csv(
    State(console): State<Console>,
    _: Operator,
    Query(filter): Query<EventFilter>,
) -> Result<Response, PageError> {
    let mut resolved = filter.resolve().map_err(PageError::BadRequest)?;
    resolved.query.before = None;
    let gallery = console.app.gallery.clone();
    let body = blocking(move || {
        let (events, _) = matching(&gallery, &resolved, MAX_EXPORT)?;
        to_csv(&events).map_err(|error| PageError::Internal(format!("writing CSV: {error}")))
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"facecmp-events.csv\""),
            ),
        ],
        body,
    )
        .into_response())
}

fn to_csv(events: &[Event]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record([
        "id",
        "time_utc",
        "unix_time",
        "zone",
        "decision",
        "reason",
        "person",
        "similarity",
        "image_sha256",
        "tombstone",
    ])?;
    for event in events {
        writer.write_record([
            event.id.to_string(),
            times::show(event.time),
            event.time.to_string(),
            spreadsheet_safe(&event.zone),
            event.decision.as_str().to_string(),
            event.reason.as_str().to_string(),
            event.person.as_deref().map(spreadsheet_safe).unwrap_or_default(),
            event.similarity.map(|s| format!("{s:.4}")).unwrap_or_default(),
            event.image_sha256.clone().unwrap_or_default(),
            event.tombstone.clone().unwrap_or_default(),
        ])?;
    }
    writer.into_inner().map_err(|error| csv::Error::from(error.into_error()))
}

/// A name that a spreadsheet would read as a formula (`=`, `+`, `-`, `@`)
/// gets a leading apostrophe, so opening the export runs nothing.
fn spreadsheet_safe(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_in_names_are_defused() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("Obama"), "Obama");
    }

    #[test]
    fn a_bad_filter_names_its_field() {
        let filter = EventFilter { decision: Some("maybe".into()), ..EventFilter::default() };
        assert!(filter.resolve().err().unwrap().starts_with("decision:"));
        let filter =
            EventFilter { reason: Some("granted".into()), zone: Some(" ".into()), ..EventFilter::default() };
        let resolved = filter.resolve().unwrap();
        assert_eq!(resolved.query.zone, None);
        assert_eq!(resolved.query.reason, Some(Reason::Granted));
    }
}
