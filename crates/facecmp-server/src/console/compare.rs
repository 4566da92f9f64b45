//! Compare two photos: every face boxed, the similarity of the largest
//! faces against the service's threshold.

use askama::Template;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::Response;
use facecmp::{FaceChoice, Pipeline};

use super::error::{PageError, render};
use super::session::Operator;
use super::{Console, Layout};

#[derive(Template)]
#[template(path = "compare.html")]
struct ComparePage {
    layout: Layout,
    result: Option<Comparison>,
    message: Option<String>,
}

struct Comparison {
    photos: Vec<PhotoFaces>,
    /// `None` when a photo had no usable face.
    similarity: Option<String>,
    threshold: String,
    same: bool,
}

/// One photo's faces, drawn over the photo in an SVG of its size.
struct PhotoFaces {
    /// `a` or `b`: the form field the photo came from.
    field: &'static str,
    width: u32,
    height: u32,
    faces: Vec<FaceBox>,
    problem: Option<String>,
}

struct FaceBox {
    x: i64,
    y: i64,
    width: i64,
    height: i64,
    score: String,
    chosen: bool,
}

pub(crate) async fn page(operator: Operator) -> Result<Response, PageError> {
    let layout = Layout::new("Compare", Some(&operator), "compare");
    render(StatusCode::OK, &ComparePage { layout, result: None, message: None })
}

/// `POST /compare` (multipart: `a`, `b`).
pub(crate) async fn compare(
    State(console): State<Console>,
    operator: Operator,
    mut form: Multipart,
) -> Result<Response, PageError> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    while let Some(field) =
        form.next_field().await.map_err(|error| PageError::BadRequest(error.body_text()))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let bytes = field.bytes().await.map_err(|error| PageError::BadRequest(error.body_text()))?;
        match name.as_str() {
            "a" => a = bytes.to_vec(),
            "b" => b = bytes.to_vec(),
            _ => {}
        }
    }
    let layout = Layout::new("Compare", Some(&operator), "compare");
    if a.is_empty() || b.is_empty() {
        let message = Some("Choose or drop two photos.".to_string());
        return render(StatusCode::BAD_REQUEST, &ComparePage { layout, result: None, message });
    }
    let (pipeline, threshold) = (console.app.pipeline.clone(), console.app.threshold);
    let result = console
        .app
        .workers
        .run(move || {
            let (photo_a, embedding_a) = analyse(&pipeline, "a", &a)?;
            let (photo_b, embedding_b) = analyse(&pipeline, "b", &b)?;
            let comparison = match (embedding_a, embedding_b) {
                // One pipeline embedded both, so the dimensions agree; were
                // they not to, no verdict is shown rather than a wrong one.
                (Some(a), Some(b)) => facecmp::compare(&a, &b, threshold).ok(),
                _ => None,
            };
            Ok(Comparison {
                photos: vec![photo_a, photo_b],
                similarity: comparison.as_ref().map(|c| format!("{:.3}", c.similarity)),
                threshold: format!("{threshold:.3}"),
                same: comparison.is_some_and(|c| c.same),
            })
        })
        .await
        .map_err(|error| PageError::Internal(error.to_string()))?;
    render(StatusCode::OK, &ComparePage { layout, result: Some(result), message: None })
}

/// Detects every face and embeds the largest; a photo that cannot be read
/// or has no usable face says so instead.
fn analyse(
    pipeline: &Pipeline,
    field: &'static str,
    bytes: &[u8],
) -> Result<(PhotoFaces, Option<facecmp::Embedding>), crate::error::ApiError> {
    let photo = match pipeline.open_bytes(field, bytes) {
        Ok(photo) => photo,
        Err(error) if error.is_input_error() => {
            let problem = Some(format!("photo {}: {error}", field.to_uppercase()));
            return Ok((PhotoFaces { field, width: 1, height: 1, faces: Vec::new(), problem }, None));
        }
        Err(error) => return Err(error.into()),
    };
    let (chosen, embedding, problem) = match pipeline.embed_one(&photo, FaceChoice::Largest) {
        Ok((face, embedding)) => (Some(face), Some(embedding), None),
        Err(error) if error.is_input_error() => {
            (None, None, Some(format!("photo {}: {error}", field.to_uppercase())))
        }
        Err(error) => return Err(error.into()),
    };
    let faces = photo
        .faces
        .iter()
        .enumerate()
        .map(|(index, face)| FaceBox {
            x: face.bbox.x.round() as i64,
            y: face.bbox.y.round() as i64,
            width: face.bbox.width.round() as i64,
            height: face.bbox.height.round() as i64,
            score: format!("{:.2}", face.score),
            chosen: chosen == Some(index),
        })
        .collect();
    let (width, height) = photo.image.dimensions();
    Ok((PhotoFaces { field, width, height, faces, problem }, embedding))
}
