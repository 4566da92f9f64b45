//! The one error type of the API, and how it becomes a response:
//! `{"error": {"code": "...", "message": "..."}}` with a fitting status.

use axum::http::{HeaderValue, StatusCode, header};
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
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The gallery's database cannot be reached now; retry later.
    #[error("the gallery's database is unreachable; try again")]
    Unavailable,
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::BadImage { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::ShuttingDown | ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::BadImage { code, .. } => code,
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooLarge(_) => "too_large",
            ApiError::ShuttingDown => "shutting_down",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(message) = &self {
            tracing::error!(%message, "request failed");
        }
        let status = self.status();
        let body = json!({ "error": { "code": self.code(), "message": self.to_string() } });
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl ApiError {
    /// A body that could not be read: too large, or malformed.
    pub fn from_body(status: StatusCode, message: String) -> ApiError {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(message)
        } else {
            ApiError::BadRequest(message)
        }
    }
}

impl From<GalleryError> for ApiError {
    fn from(error: GalleryError) -> ApiError {
        match error {
            GalleryError::NoSuchPerson(_) | GalleryError::NoSuchZone(_) | GalleryError::NoSuchKey(_) => {
                ApiError::NotFound(error.to_string())
            }
            GalleryError::Invalid(message) => ApiError::BadRequest(message),
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
            facecmp::Error::Image { .. } => "bad_image",
            facecmp::Error::NoFace { .. } => "no_face",
            facecmp::Error::FaceTooSmall { .. } | facecmp::Error::NoSuchFace { .. } => "low_quality",
            _ => return ApiError::Internal(error.to_string()),
        };
        ApiError::BadImage { code, message: error.to_string() }
    }
}
