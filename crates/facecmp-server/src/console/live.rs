//! The Live page: the latest decisions, then each new one as it is recorded.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use facecmp_gallery::EventQuery;

use super::error::{PageError, blocking, render};
use super::session::Operator;
use super::stream::{StillAllowed, decisions};
use super::{Console, Layout};
use crate::decisions::DecisionJson;

#[derive(Template)]
#[template(path = "live.html")]
struct LivePage {
    layout: Layout,
    recent: Vec<DecisionJson>,
    /// Names offered by the "add as a sample of" fields.
    people: Vec<String>,
}

pub(crate) async fn page(State(console): State<Console>, operator: Operator) -> Result<Response, PageError> {
    let (gallery, threshold) = (console.app.gallery.clone(), console.app.threshold);
    let (events, people) = blocking(move || {
        let events = gallery.events(&EventQuery { limit: 20, ..EventQuery::default() })?;
        Ok((events, super::people::names(&gallery)?))
    })
    .await?;
    let recent = events.iter().map(|event| DecisionJson::new(event, threshold)).collect();
    let layout = Layout::new("Live", Some(&operator), "live");
    render(StatusCode::OK, &LivePage { layout, recent, people })
}

/// The same stream as `/v1/events/stream`, for the logged-in browser; it
/// ends when the session does.
pub(crate) async fn stream(
    State(console): State<Console>,
    operator: Operator,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let Some(token_sha256) = super::session::session_hash(&headers) else {
        return Err(PageError::LoginRequired);
    };
    // The session was checked by `Operator`; the stream checks it again while it runs.
    let _ = operator;
    let sessions = console.sessions.clone();
    let still_allowed: StillAllowed =
        Arc::new(move || sessions.session(&token_sha256).is_ok_and(|session| session.is_some()));
    let mut response = decisions(&console, &headers, still_allowed).await.into_response();
    // Proxies must not buffer or cache the stream.
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}
