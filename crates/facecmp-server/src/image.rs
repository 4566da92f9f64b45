//! Images in request bodies: either the raw bytes (any `Content-Type`
//! except multipart), or `multipart/form-data` parts. Size is capped by the
//! router's body limit; pixel dimensions are checked from the image header
//! before decoding (see `facecmp::image::DecodeLimits`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use facecmp::image::DecodeLimits;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::state::AppState;

/// The images of a request: the raw body, or the named parts of a
/// multipart form. Every multipart part must have a name, and no name may
/// appear twice: a part without a name must not stand in for whichever
/// image a handler asks for.
pub struct ImageParts {
    /// The whole body, when it is not a multipart form.
    raw: Option<Bytes>,
    /// File parts of a multipart form, by field name.
    parts: Vec<(String, Bytes)>,
    /// Text fields of a multipart form: no route takes one today, so each
    /// is refused by name (see [`ImageParts::expect`]).
    fields: Vec<(String, String)>,
}

impl ImageParts {
    /// The part called `name`, or for a raw body the body itself.
    pub fn image(&self, name: &str) -> Result<Bytes, ApiError> {
        let bytes = self
            .raw
            .as_ref()
            .or_else(|| self.parts.iter().find(|(field, _)| field == name).map(|(_, bytes)| bytes))
            .ok_or_else(|| ApiError::BadRequest(format!("the request has no `{name}` image")))?;
        // Present but empty: the request is well formed, the image unusable.
        if bytes.is_empty() {
            return Err(ApiError::BadImage {
                code: "bad_image",
                message: format!("the `{name}` image is empty"),
            });
        }
        Ok(bytes.clone())
    }

    /// Whether the body was a multipart form.
    pub fn is_multipart(&self) -> bool {
        self.raw.is_none()
    }

    /// Refuses a form with a part the route does not take: a misspelt
    /// name would otherwise be ignored silently.
    pub fn expect(&self, images: &[&str], fields: &[&str]) -> Result<(), ApiError> {
        let unexpected =
            self.parts.iter().map(|(name, _)| name).find(|name| !images.contains(&name.as_str())).or_else(
                || self.fields.iter().map(|(name, _)| name).find(|name| !fields.contains(&name.as_str())),
            );
        match unexpected {
            Some(name) => Err(ApiError::BadRequest(format!(
                "unexpected multipart part `{}`; this route takes {}",
                crate::error::clip(name),
                images.iter().chain(fields).map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
            ))),
            None => Ok(()),
        }
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
                .map_err(|e| ApiError::from_body(e.status(), e.body_text(), &e))?;
            return Ok(ImageParts { raw: Some(body), parts: Vec::new(), fields: Vec::new() });
        }
        let mut form = Multipart::from_request(request, state)
            .await
            .map_err(|e| ApiError::from_body(e.status(), e.body_text(), &e))?;
        let mut image_parts = ImageParts { raw: None, parts: Vec::new(), fields: Vec::new() };
        let malformed =
            |e: axum::extract::multipart::MultipartError| ApiError::from_body(e.status(), e.body_text(), &e);
        while let Some(field) = form.next_field().await.map_err(malformed)? {
            let name = field.name().unwrap_or_default().to_string();
            if name.is_empty() {
                return Err(ApiError::BadRequest("every multipart part needs a name".into()));
            }
            if image_parts
                .parts
                .iter()
                .map(|(n, _)| n)
                .chain(image_parts.fields.iter().map(|(n, _)| n))
                .any(|n| *n == name)
            {
                return Err(ApiError::BadRequest(format!(
                    "the multipart part `{}` appears more than once",
                    crate::error::clip(&name)
                )));
            }
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

/// Memory for decoding, shared by every request: an image's decode waits
/// until the bytes its header says it needs fit in the budget, so a few
/// large images in flight cannot add up past it. (Each image alone is
/// already capped by [`DecodeLimits`].)
#[derive(Clone)]
pub struct DecodeBudget {
    mebibytes: Arc<Semaphore>,
    total: u32,
}

const MIB: u64 = 1 << 20;

impl DecodeBudget {
    pub fn new(bytes: u64) -> DecodeBudget {
        let total = u32::try_from((bytes / MIB).max(1)).unwrap_or(u32::MAX >> 3);
        DecodeBudget { mebibytes: Arc::new(Semaphore::new(total as usize)), total }
    }

    /// Waits for room to decode `images`, and holds it until the permit is
    /// dropped. An image whose header is unreadable or over the limits
    /// costs little: its decode fails before allocating, with the error
    /// the handler reports as usual.
    pub async fn reserve(
        &self,
        images: &[&[u8]],
        limits: DecodeLimits,
    ) -> Result<OwnedSemaphorePermit, ApiError> {
        let bytes: u64 = images
            .iter()
            .map(|image| facecmp::image::inspect(image, limits).map_or(0, |header| header.decoded_bytes()))
            .sum();
        let mebibytes = u32::try_from(bytes.div_ceil(MIB)).unwrap_or(u32::MAX).clamp(1, self.total);
        self.mebibytes.clone().acquire_many_owned(mebibytes).await.map_err(|_| ApiError::ShuttingDown)
    }
}
