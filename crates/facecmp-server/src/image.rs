//! Images in request bodies: either the raw bytes (any `Content-Type`
//! except multipart), or `multipart/form-data` parts. Size is capped by the
//! router's body limit; pixel dimensions are checked from the image header
//! before decoding (see `facecmp::image::DecodeLimits`).

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;

use crate::error::ApiError;
use crate::state::AppState;

/// The named parts of a request: one unnamed image for a raw body, or every
/// file part of a multipart form by field name.
pub struct ImageParts {
    pub parts: Vec<(String, Bytes)>,
    /// Text fields of a multipart form (e.g. `zone`).
    pub fields: Vec<(String, String)>,
}

impl ImageParts {
    /// The part called `name`, or for a raw body the body itself.
    pub fn image(&self, name: &str) -> Result<Bytes, ApiError> {
        self.parts
            .iter()
            .find(|(field, _)| field == name || field.is_empty())
            .map(|(_, bytes)| bytes.clone())
            .filter(|bytes| !bytes.is_empty())
            .ok_or_else(|| ApiError::BadRequest(format!("the request has no `{name}` image")))
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(field, _)| field == name).map(|(_, value)| value.as_str())
    }
}

impl FromRequest<AppState> for ImageParts {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        refuse_announced_oversize(&request, state.max_body_bytes)?;
        let content_type =
            request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !content_type.starts_with("multipart/form-data") {
            let body = Bytes::from_request(request, state)
                .await
                .map_err(|e| ApiError::from_body(e.status(), e.body_text()))?;
            return Ok(ImageParts { parts: vec![(String::new(), body)], fields: Vec::new() });
        }
        let mut form = Multipart::from_request(request, state)
            .await
            .map_err(|e| ApiError::from_body(e.status(), e.body_text()))?;
        let mut image_parts = ImageParts { parts: Vec::new(), fields: Vec::new() };
        let malformed =
            |e: axum::extract::multipart::MultipartError| ApiError::from_body(e.status(), e.body_text());
        while let Some(field) = form.next_field().await.map_err(malformed)? {
            let name = field.name().unwrap_or_default().to_string();
            let is_file =
                field.file_name().is_some() || field.content_type().is_some_and(|t| !t.starts_with("text/"));
            let bytes = field.bytes().await.map_err(malformed)?;
            if is_file {
                image_parts.parts.push((name, bytes));
            } else {
                image_parts.fields.push((name, String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
        Ok(image_parts)
    }
}

/// Refuses a body whose announced length is over the limit before reading
/// any of it; a client that asked `Expect: 100-continue` then never sends it.
fn refuse_announced_oversize(request: &Request, limit: usize) -> Result<(), ApiError> {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match announced {
        Some(length) if length > limit as u64 => {
            Err(ApiError::TooLarge(format!("the body is {length} bytes; at most {limit} are accepted")))
        }
        _ => Ok(()),
    }
}
