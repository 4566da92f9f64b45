//! Zones and grants: who may use zone X, where person Y may go, and when.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use facecmp_gallery::crops::describe_retention;
use facecmp_gallery::{Zone, ZonePolicy};
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

/// One choice of the "keep probe crops" menu.
struct RetentionChoice {
    /// Seconds, or empty for "not kept".
    value: String,
    label: String,
    selected: bool,
}

/// The retention periods the menu offers (seconds). A period set through
/// the API or the CLI that is not among them is offered too, selected.
const RETENTION_CHOICES: &[i64] = &[3_600, 86_400, 7 * 86_400, 30 * 86_400, 90 * 86_400, 365 * 86_400];

fn retention_choices(current: Option<i64>) -> Vec<RetentionChoice> {
    let off =
        RetentionChoice { value: String::new(), label: "not kept".to_string(), selected: current.is_none() };
    let mut seconds: Vec<i64> = RETENTION_CHOICES.to_vec();
    if let Some(current) = current
        && !seconds.contains(&current)
    {
        seconds.push(current);
        seconds.sort_unstable();
    }
    std::iter::once(off)
        .chain(seconds.into_iter().map(|s| RetentionChoice {
            value: s.to_string(),
            label: format!("kept {}", describe_retention(s)),
            selected: current == Some(s),
        }))
        .collect()
}

impl ZonesPage {
    fn retention_choices(&self, current: &Option<i64>) -> Vec<RetentionChoice> {
        retention_choices(*current)
    }

    /// A new zone's menu: crops off.
    fn new_zone_retention_choices(&self) -> Vec<RetentionChoice> {
        retention_choices(None)
    }

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
        let people = super::people::names(&gallery)?;
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
    /// Seconds, or empty (or absent) for "not kept".
    probe_crops_retention_s: Option<String>,
}

impl ZoneForm {
    fn policy(&self) -> Result<ZonePolicy, String> {
        let retention = match self.probe_crops_retention_s.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(
                text.parse::<i64>()
                    .map_err(|_| format!("probe crops: `{text}` is not a number of seconds"))?,
            ),
        };
        Ok(ZonePolicy {
            allow_multiple_faces: self.allow_multiple_faces.is_some(),
            probe_crops_retention_s: retention,
        })
    }
}

/// Creates a zone or replaces its policy (the form carries all of it).
/// Turning probe crops off deletes the zone's crops at once.
pub(crate) async fn save_zone(
    State(console): State<Console>,
    operator: Operator,
    Form(form): Form<ZoneForm>,
) -> Result<Response, PageError> {
    let policy = match form.policy() {
        Ok(policy) => policy,
        Err(message) => return page_with(&console, &operator, StatusCode::BAD_REQUEST, Some(message)).await,
    };
    let gallery = console.app.gallery.clone();
    let name = form.name.trim().to_string();
    match blocking(move || Ok(gallery.set_zone(&name, &policy)?)).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_menu_offers_off_the_usual_periods_and_the_current_one() {
        let choices = retention_choices(None);
        assert!(choices[0].selected && choices[0].value.is_empty());
        let custom = retention_choices(Some(7_200));
        let selected: Vec<_> = custom.iter().filter(|c| c.selected).map(|c| c.label.as_str()).collect();
        assert_eq!(selected, ["kept 2 hours"]);
    }

    #[test]
    fn the_form_reads_seconds_or_nothing() {
        let form = |value: Option<&str>| ZoneForm {
            name: "5".into(),
            allow_multiple_faces: None,
            probe_crops_retention_s: value.map(str::to_string),
        };
        assert_eq!(form(None).policy().unwrap().probe_crops_retention_s, None);
        assert_eq!(form(Some("")).policy().unwrap().probe_crops_retention_s, None);
        assert_eq!(form(Some("86400")).policy().unwrap().probe_crops_retention_s, Some(86_400));
        assert!(form(Some("a week")).policy().is_err());
    }
}
