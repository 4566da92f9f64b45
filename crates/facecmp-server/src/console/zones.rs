//! Zones and grants: who may use zone X, where person Y may go, and when.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use facecmp_gallery::Zone;
use serde::Deserialize;

use super::error::{PageError, blocking, render};
use super::people::GrantRow;
use super::session::Operator;
use super::{Console, Layout, path_segment, times};

#[derive(Template)]
#[template(path = "zones.html")]
struct ZonesPage {
    layout: Layout,
    zones: Vec<Zone>,
    grants: Vec<GrantRow>,
    people: Vec<String>,
    message: Option<String>,
}

impl ZonesPage {
    fn grants_of<'a>(&'a self, zone: &'a str) -> impl Iterator<Item = &'a GrantRow> + 'a {
        self.grants.iter().filter(move |grant| grant.zone == zone)
    }
}

pub(crate) async fn page_with(
    console: &Console,
    operator: &Operator,
    status: StatusCode,
    message: Option<String>,
) -> Result<Response, PageError> {
    let gallery = console.app.gallery.clone();
    let (zones, grants, people) = blocking(move || {
        let people = gallery.people()?.into_iter().map(|person| person.name).collect::<Vec<_>>();
        Ok((gallery.zones()?, gallery.grants(None, None)?, people))
    })
    .await?;
    let layout = Layout::new("Zones and grants", Some(operator), "zones");
    let grants = grants.iter().map(GrantRow::new).collect();
    render(status, &ZonesPage { layout, zones, grants, people, message })
}

pub(crate) async fn page(State(console): State<Console>, operator: Operator) -> Result<Response, PageError> {
    page_with(&console, &operator, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub(crate) struct ZoneForm {
    name: String,
    /// A checkbox: present ("on") when ticked.
    allow_multiple_faces: Option<String>,
}

/// Creates a zone or changes its policy.
pub(crate) async fn save_zone(
    State(console): State<Console>,
    operator: Operator,
    Form(form): Form<ZoneForm>,
) -> Result<Response, PageError> {
    let gallery = console.app.gallery.clone();
    let name = form.name.trim().to_string();
    let allow = form.allow_multiple_faces.is_some();
    match blocking(move || Ok(gallery.set_zone(&name, allow)?)).await {
        Ok(_) => Ok(Redirect::to("/zones").into_response()),
        Err(PageError::BadRequest(message)) => {
            page_with(&console, &operator, StatusCode::BAD_REQUEST, Some(message)).await
        }
        Err(error) => Err(error),
    }
}

#[derive(Deserialize)]
pub(crate) struct GrantForm {
    person: String,
    zone: String,
    /// `datetime-local`, UTC; empty for an open end.
    valid_from: Option<String>,
    valid_until: Option<String>,
    /// Which page the form was on: `person` returns to the person's page.
    back: Option<String>,
}

/// Where a grant form returns to: one of two fixed places, never a URL
/// taken from the form.
fn back_to(back: Option<&str>, person: &str) -> String {
    match back {
        Some("person") => format!("/people/{}", path_segment(person.trim())),
        _ => "/zones".to_string(),
    }
}

/// Grants a person a zone (created if new), replacing any earlier window.
pub(crate) async fn grant(
    State(console): State<Console>,
    operator: Operator,
    Form(form): Form<GrantForm>,
) -> Result<Response, PageError> {
    let back = back_to(form.back.as_deref(), &form.person);
    let window = times::parse_input("valid from", form.valid_from.as_deref())
        .and_then(|from| Ok((from, times::parse_input("valid until", form.valid_until.as_deref())?)));
    let (valid_from, valid_until) = match window {
        Ok(window) => window,
        Err(message) => return page_with(&console, &operator, StatusCode::BAD_REQUEST, Some(message)).await,
    };
    let gallery = console.app.gallery.clone();
    let (person, zone) = (form.person.trim().to_string(), form.zone.trim().to_string());
    match blocking(move || Ok(gallery.grant(&person, &zone, valid_from, valid_until)?)).await {
        Ok(_) => Ok(Redirect::to(&back).into_response()),
        Err(PageError::BadRequest(message) | PageError::NotFound(message)) => {
            page_with(&console, &operator, StatusCode::BAD_REQUEST, Some(message)).await
        }
        Err(error) => Err(error),
    }
}

#[derive(Deserialize)]
pub(crate) struct RevokeForm {
    person: String,
    zone: String,
    back: Option<String>,
}

pub(crate) async fn revoke(
    State(console): State<Console>,
    _: Operator,
    Form(form): Form<RevokeForm>,
) -> Result<Response, PageError> {
    let back = back_to(form.back.as_deref(), &form.person);
    let gallery = console.app.gallery.clone();
    blocking(move || Ok(gallery.revoke(&form.person, &form.zone)?)).await?;
    Ok(Redirect::to(&back).into_response())
}
