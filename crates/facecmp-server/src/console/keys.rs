//! API keys: create (the token is shown once), list, revoke.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use facecmp_gallery::{ApiKey, Role};
use serde::Deserialize;

use super::error::{PageError, blocking, render};
use super::session::Operator;
use super::{Console, Layout, times};

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    layout: Layout,
    keys: Vec<KeyRow>,
    /// A key just created, with its token: shown this once.
    created: Option<CreatedKey>,
    message: Option<String>,
    operator_key: i64,
}

struct CreatedKey {
    name: String,
    token: String,
}

struct KeyRow {
    id: i64,
    name: String,
    role: &'static str,
    created: String,
    revoked: Option<String>,
}

impl KeyRow {
    fn new(key: &ApiKey) -> KeyRow {
        KeyRow {
            id: key.id,
            name: key.name.clone(),
            role: key.role.as_str(),
            created: times::show(key.created),
            revoked: key.revoked.map(times::show),
        }
    }
}

async fn keys_page(
    console: &Console,
    operator: &Operator,
    status: StatusCode,
    created: Option<CreatedKey>,
    message: Option<String>,
) -> Result<Response, PageError> {
    let gallery = console.app.gallery.clone();
    let keys = blocking(move || Ok(gallery.keys()?)).await?;
    let keys_page = KeysPage {
        layout: Layout::new("API keys", Some(operator), "keys"),
        keys: keys.iter().map(KeyRow::new).collect(),
        created,
        message,
        operator_key: operator.key_id,
    };
    render(status, &keys_page)
}

pub(crate) async fn page(State(console): State<Console>, operator: Operator) -> Result<Response, PageError> {
    keys_page(&console, &operator, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
pub(crate) struct NewKey {
    name: String,
    role: String,
}

pub(crate) async fn create(
    State(console): State<Console>,
    operator: Operator,
    Form(form): Form<NewKey>,
) -> Result<Response, PageError> {
    let role = match form.role.as_str() {
        "admin" => Role::Admin,
        "camera" => Role::Camera,
        other => {
            let message = format!("role: `{other}` is neither admin nor camera");
            return keys_page(&console, &operator, StatusCode::BAD_REQUEST, None, Some(message)).await;
        }
    };
    let name = form.name.trim().to_string();
    if name.is_empty() {
        let message = "Name the key after who or what will use it (e.g. lift-5).".to_string();
        return keys_page(&console, &operator, StatusCode::BAD_REQUEST, None, Some(message)).await;
    }
    let gallery = console.app.gallery.clone();
    let (key, token) = blocking(move || Ok(gallery.create_key(&name, role)?)).await?;
    keys_page(&console, &operator, StatusCode::OK, Some(CreatedKey { name: key.name, token }), None).await
}

/// Revokes a key; sessions opened with it end at once (the operator's own
/// included, which then lands on the login page).
pub(crate) async fn revoke(
    State(console): State<Console>,
    _: Operator,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let gallery = console.app.gallery.clone();
    blocking(move || Ok(gallery.revoke_key(id)?)).await?;
    Ok(Redirect::to("/keys").into_response())
}
