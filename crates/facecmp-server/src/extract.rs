//! axum's `Path` and `Query` extractors, and JSON bodies, refusing in the
//! API's error format (axum's own rejections are `text/plain`).

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// `Path<T>` with JSON errors.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    Path<T>: FromRequestParts<S, Rejection = PathRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(ApiError::from_rejection(rejection.status(), rejection.body_text())),
        }
    }
}

/// `Query<T>` with JSON errors.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    Query<T>: FromRequestParts<S, Rejection = QueryRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(ApiError::from_rejection(rejection.status(), rejection.body_text())),
        }
    }
}

/// An optional JSON object body: empty (or blank) means `T::default()`.
/// Anything but an object is refused, even where serde would read a
/// struct from an array (`[true]` for `{"allow_multiple_faces": true}`).
pub struct JsonObject<T>(pub T);

impl<T, S> FromRequest<S> for JsonObject<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::from_body(e.status(), e.body_text(), &e))?;
        parse_object(&body).map(JsonObject)
    }
}

fn parse_object<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let invalid = |error: serde_json::Error| ApiError::BadRequest(format!("invalid JSON body: {error}"));
    let value: serde_json::Value = serde_json::from_slice(body).map_err(invalid)?;
    if !value.is_object() {
        return Err(ApiError::BadRequest("the JSON body must be an object".into()));
    }
    serde_json::from_value(value).map_err(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Default, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Policy {
        #[serde(default)]
        flag: bool,
    }

    #[test]
    fn only_objects_are_read_as_objects() {
        assert_eq!(parse_object::<Policy>(b" ").unwrap(), Policy::default());
        assert_eq!(parse_object::<Policy>(br#"{"flag": true}"#).unwrap(), Policy { flag: true });
        for refused in [&b"[true]"[..], b"true", b"\"x\"", br#"{"flag": true, "other": 1}"#, b"{"] {
            assert!(parse_object::<Policy>(refused).is_err(), "{}", String::from_utf8_lossy(refused));
        }
    }
}
