//! How a console request fails: without a session it goes to the login
//! page; otherwise the operator sees a page saying what went wrong. Raw
//! database or model errors stay in the server log, never in a page.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use facecmp_gallery::GalleryError;

use super::Layout;

#[derive(Debug)]
pub(crate) enum PageError {
    /// No valid session: log in first.
    LoginRequired,
    NotFound(String),
    BadRequest(String),
    Internal(String),
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            PageError::LoginRequired => return Redirect::to("/login").into_response(),
            PageError::NotFound(message) => (StatusCode::NOT_FOUND, message),
            PageError::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
            PageError::Internal(detail) => {
                tracing::error!(%detail, "console request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "facecmp failed; the server log has the details".into())
            }
        };
        let page = ErrorPage { layout: Layout::new("Error", None, ""), status: status.as_u16(), message };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => status.into_response(),
        }
    }
}

impl From<GalleryError> for PageError {
    fn from(error: GalleryError) -> PageError {
        match error {
            GalleryError::NoSuchPerson(_)
            | GalleryError::NoSuchZone(_)
            | GalleryError::NoSuchKey(_)
            | GalleryError::NoSuchCluster(_)
            | GalleryError::NoSuchSource(_) => PageError::NotFound(error.to_string()),
            GalleryError::Invalid(message) => PageError::BadRequest(message),
            GalleryError::EmptyWindow { .. } => PageError::BadRequest(error.to_string()),
            other => PageError::Internal(other.to_string()),
        }
    }
}

impl From<facecmp::Error> for PageError {
    fn from(error: facecmp::Error) -> PageError {
        if error.is_input_error() {
            PageError::BadRequest(error.to_string())
        } else {
            PageError::Internal(error.to_string())
        }
    }
}

impl From<askama::Error> for PageError {
    fn from(error: askama::Error) -> PageError {
        PageError::Internal(format!("rendering a page: {error}"))
    }
}

/// Renders a page with a status.
pub(crate) fn render(status: StatusCode, template: &impl Template) -> Result<Response, PageError> {
    Ok((status, Html(template.render()?)).into_response())
}

/// Quick blocking work (SQLite) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, PageError> + Send + 'static,
) -> Result<T, PageError> {
    tokio::task::spawn_blocking(job).await.map_err(|error| PageError::Internal(error.to_string()))?
}
