//! Probe crops in the console: the face each decision judged (for zones
//! that keep crops), and "add this probe as a sample of X".
//!
//! A crop is biometric data. It is served only to a logged-in operator,
//! never cached (`Cache-Control: no-store`), and only while its zone's
//! retention lasts; the gallery forgets it after that, when the zone stops
//! keeping crops, or when the person it shows is erased.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use facecmp_gallery::{EnrolPolicy, prepare_sample_from_crop};
use serde::Deserialize;

use super::error::{PageError, blocking, render};
use super::session::Operator;
use super::{Console, Layout, path_segment};

fn no_crop(event: i64) -> PageError {
    PageError::NotFound(format!(
        "event {event} has no face crop (its zone keeps none, or it expired, or its person was erased)"
    ))
}

/// `GET /events/{id}/crop`: the JPEG, for `<img>` in Live and Events.
pub(crate) async fn image(
    State(console): State<Console>,
    _: Operator,
    Path(event): Path<i64>,
) -> Result<Response, PageError> {
    let gallery = console.app.gallery.clone();
    let stored = blocking(move || Ok(gallery.probe_crop(event)?)).await?.ok_or_else(|| no_crop(event))?;
    Ok(face_image(stored.crop.jpeg))
}

/// A face (JPEG) as the console serves it: a probe's crop or a sample's thumbnail.
pub(super) fn face_image(jpeg: Vec<u8>) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg")),
        // Explicit, though every console answer gets it: a face must not
        // linger in a browser's or a proxy's cache past its retention or
        // its person's erasure.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    (headers, jpeg).into_response()
}

#[derive(Deserialize)]
pub(crate) struct EnrolCropForm {
    /// The person the probe becomes a sample of (created if new).
    name: String,
}

/// Shown when a crop was not enrolled: why, with the form to try again.
#[derive(Template)]
#[template(path = "enrol_crop.html")]
struct EnrolCropPage {
    layout: Layout,
    event: i64,
    name: String,
    refusal: String,
}

/// `POST /events/{id}/enrol` (`name`): the crop goes through the same
/// review as an uploaded photo, then becomes one sample of the person.
pub(crate) async fn enrol(
    State(console): State<Console>,
    operator: Operator,
    Path(event): Path<i64>,
    Form(form): Form<EnrolCropForm>,
) -> Result<Response, PageError> {
    let name = form.name.trim().to_string();
    let refuse = |refusal: String, name: String| {
        let layout = Layout::new("Add a probe as a sample", Some(&operator), "events");
        render(StatusCode::UNPROCESSABLE_ENTITY, &EnrolCropPage { layout, event, name, refusal })
    };
    if name.is_empty() {
        return refuse("Give the person's name.".into(), name);
    }
    let (pipeline, gallery) = (console.app.pipeline.clone(), console.app.gallery.clone());
    let person = name.clone();
    let outcome = console
        .app
        .workers
        .run(move || {
            let Some(stored) = gallery.probe_crop(event)? else { return Ok(None) };
            let sample = match prepare_sample_from_crop(&pipeline, &stored.crop, &EnrolPolicy::default())? {
                Ok(sample) => sample,
                Err(rejection) => return Ok(Some(Err(rejection.to_string()))),
            };
            Ok(Some(gallery.enrol(&person, None, &sample, None)?.map_err(|rejection| rejection.to_string())))
        })
        .await
        .map_err(|error| {
            if error.status().is_client_error() {
                PageError::BadRequest(error.to_string())
            } else {
                PageError::Internal(error.to_string())
            }
        });
    match outcome {
        Ok(Some(Ok(_))) => {
            Ok(Redirect::to(&format!("/people/{}?enrolled=1", path_segment(&name))).into_response())
        }
        Ok(Some(Err(reason))) => refuse(format!("Not enrolled: {reason}."), name),
        Ok(None) => Err(no_crop(event)),
        // An unusable name: say so beside the form, like a refused photo.
        Err(PageError::BadRequest(message)) => refuse(message, name),
        Err(error) => Err(error),
    }
}
