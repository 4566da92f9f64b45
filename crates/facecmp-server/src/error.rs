//! The one error type of the API, and how it becomes a response:
//! `{"error": {"code": "...", "message": "...", "request_id": "..."}}` with a
//! fitting status.
//!
//! A message is safe to show: it names what the client sent wrong, never a
//! path, an SQL statement or a library's internal text. What went wrong
//! inside goes to the log, on a line that carries the same request id (see
//! [`request_id`]).

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use facecmp_gallery::GalleryError;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("an API key is required (Authorization: Bearer <key>)")]
    Unauthenticated,
    #[error("this key's role ({0}) may not call this endpoint")]
    Forbidden(&'static str),
    #[error("{0}")]
    BadRequest(String),
    /// The image is unusable: unreadable, no face, too small...
    #[error("{message}")]
    BadImage { code: &'static str, message: String },
    /// Well formed, but not something that can be done (an empty grant
    /// window): the same status as an unusable image, with its own code.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The request body did not arrive in time.
    #[error("{0}")]
    Timeout(String),
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The gallery's database cannot be reached now; retry later.
    #[error("the gallery's database is unreachable; try again")]
    Unavailable,
    /// The detail is for the log only.
    #[error("the request failed inside the server; the log has the detail under this request id")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::BadImage { .. } | ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::ShuttingDown | ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::BadImage { code, .. } | ApiError::Unprocessable { code, .. } => code,
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooLarge(_) => "too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Timeout(_) => "timeout",
            ApiError::ShuttingDown => "shutting_down",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// Writes the log line for this error: the internal detail for a
    /// server fault, the safe message for a refusal. Every value is
    /// `Debug`-formatted, so a client's newline is `\n` on the same line.
    pub fn log(&self) {
        let request_id = current_request_id();
        match self {
            ApiError::Internal(detail) => {
                tracing::error!(request_id = %request_id, detail = ?clip(detail), "request failed");
            }
            other => {
                let message = other.to_string();
                tracing::info!(
                    request_id = %request_id,
                    status = other.status().as_u16(),
                    code = other.code(),
                    message = ?clip(&message),
                    "request refused"
                );
            }
        }
    }
}

/// At most this many characters of any client-influenced text reach a log
/// line: a 10 MB zone name must not become a 10 MB log line.
const LOGGED_TEXT: usize = 300;

pub fn clip(text: &str) -> &str {
    match text.char_indices().nth(LOGGED_TEXT) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let status = self.status();
        let body = json!({ "error": {
            "code": self.code(),
            "message": self.to_string(),
            "request_id": current_request_id().as_str(),
        }});
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl ApiError {
    /// An extractor's refusal (axum's own, or a body that could not be
    /// read) in the API's terms.
    pub fn from_rejection(status: StatusCode, message: String) -> ApiError {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(message),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(message),
            StatusCode::REQUEST_TIMEOUT => ApiError::Timeout(message),
            status if status.is_server_error() => ApiError::Internal(message),
            _ => ApiError::BadRequest(message),
        }
    }

    /// A body that could not be read: too large, too slow, or malformed.
    pub fn from_body(
        status: StatusCode,
        message: String,
        error: &(dyn std::error::Error + 'static),
    ) -> ApiError {
        if crate::transport::is_body_timeout(error) {
            return ApiError::Timeout("the request body did not arrive in time".into());
        }
        ApiError::from_rejection(status, message)
    }
}

impl From<GalleryError> for ApiError {
    fn from(error: GalleryError) -> ApiError {
        match error {
            GalleryError::NoSuchPerson(_) | GalleryError::NoSuchZone(_) | GalleryError::NoSuchKey(_) => {
                ApiError::NotFound(error.to_string())
            }
            GalleryError::Invalid(message) => ApiError::BadRequest(message),
            GalleryError::EmptyWindow { .. } => {
                ApiError::Unprocessable { code: "empty_window", message: error.to_string() }
            }
            GalleryError::Unavailable { .. } => {
                tracing::error!(%error, "gallery database unreachable");
                ApiError::Unavailable
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<facecmp_gallery::IdentifyError> for ApiError {
    fn from(error: facecmp_gallery::IdentifyError) -> ApiError {
        match error {
            facecmp_gallery::IdentifyError::Photo(error) => error.into(),
            facecmp_gallery::IdentifyError::Gallery(error) => error.into(),
        }
    }
}

impl From<facecmp::Error> for ApiError {
    fn from(error: facecmp::Error) -> ApiError {
        let code = match &error {
            facecmp::Error::Image {
                source:
                    facecmp::image::ImageError::TooLarge { .. } | facecmp::image::ImageError::TooManyBytes { .. },
                ..
            } => return ApiError::TooLarge(error.to_string()),
            facecmp::Error::Image { .. } => "bad_image",
            facecmp::Error::NoFace { .. } => "no_face",
            facecmp::Error::FaceTooSmall { .. } | facecmp::Error::NoSuchFace { .. } => "low_quality",
            _ => return ApiError::Internal(error.to_string()),
        };
        ApiError::BadImage { code, message: error.to_string() }
    }
}

// ---- request ids ---------------------------------------------------------

/// The id of one request: in the `x-request-id` response header, in every
/// error body, and on every log line written while serving it.
#[derive(Debug, Clone)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// 64 bits from std's per-process random hash keys over a counter:
    /// unique within the process, unpredictable across restarts.
    fn generate() -> RequestId {
        use std::hash::{BuildHasher, RandomState};
        use std::sync::OnceLock;
        use std::sync::atomic::{AtomicU64, Ordering};
        static KEYS: OnceLock<RandomState> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let serial = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mixed = KEYS.get_or_init(RandomState::new).hash_one(serial);
        RequestId(format!("{mixed:016x}").into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

tokio::task_local! {
    static REQUEST_ID: RequestId;
}

/// The id of the request being served (`-` outside one).
pub fn current_request_id() -> RequestId {
    REQUEST_ID.try_with(RequestId::clone).unwrap_or_else(|_| RequestId("-".into()))
}

/// Middleware: gives each request a fresh id (a client's own
/// `x-request-id` is not trusted into the logs), serves it with the id in
/// scope, and returns the id in the `x-request-id` header.
pub async fn request_id(mut request: Request, next: Next) -> Response {
    let id = RequestId::generate();
    request.extensions_mut().insert(id.clone());
    let mut response = REQUEST_ID.scope(id.clone(), next.run(request)).await;
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}
