//! API-key authentication and roles, as extractors: a handler that takes
//! [`Admin`] only runs for an admin key, one that takes [`Camera`] for a
//! camera or admin key. No key or an unknown one is 401; a known key with
//! the wrong role is 403.
//!
//! A camera key may be limited to zones ([`ApiKey::zones`]): it may then ask
//! about those zones only (403 otherwise), identify only within one of
//! them, and never for more than [`CAMERA_MAX_TOP`] candidates.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use facecmp_gallery::{ApiKey, Role};

use crate::error::ApiError;
use crate::state::AppState;

/// The caller holds an admin key.
pub struct Admin(pub ApiKey);

/// The caller holds a camera key (or an admin key: admins may do what cameras do).
pub struct Camera(pub ApiKey);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let key = authenticate(&parts.headers, state).await?;
        match key.role {
            Role::Admin => Ok(Admin(key)),
            Role::Camera => Err(ApiError::Forbidden("camera")),
        }
    }
}

impl FromRequestParts<AppState> for Camera {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(&parts.headers, state).await.map(Camera)
    }
}

async fn authenticate(headers: &HeaderMap, state: &AppState) -> Result<ApiKey, ApiError> {
    let token = bearer_token(headers).ok_or(ApiError::Unauthenticated)?.to_string();
    let gallery = state.gallery.clone();
    // The lookup touches SQLite: keep it off the async threads.
    let key = tokio::task::spawn_blocking(move || gallery.authenticate(&token))
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))??;
    key.ok_or(ApiError::Unauthenticated)
}

/// The most candidates a camera key may ask `/v1/identify` for.
pub const CAMERA_MAX_TOP: usize = 10;

/// The most candidates `/v1/identify` ranks for anyone.
pub const MAX_TOP: usize = 1000;

/// A zone named by a client: a usable name (else 400) that the key may ask
/// about (else 403).
pub fn require_zone(key: &ApiKey, zone: &str) -> Result<(), ApiError> {
    facecmp_gallery::validate_name("zone", zone)?;
    if key.may_use_zone(zone) { Ok(()) } else { Err(ApiError::Forbidden("camera, limited to other zones")) }
}

/// Identification for a camera: a zone-limited key must name one of its
/// zones, and no camera sees more than [`CAMERA_MAX_TOP`] candidates.
/// Returns the number of candidates to list.
pub fn identify_scope(key: &ApiKey, zone: Option<&str>, top: Option<usize>) -> Result<usize, ApiError> {
    match zone {
        Some(zone) => require_zone(key, zone)?,
        None if key.is_scoped() => {
            return Err(ApiError::Forbidden("camera, limited to zones: say which with ?zone="));
        }
        None => {}
    }
    let top = top.unwrap_or(5);
    if !(1..=MAX_TOP).contains(&top) {
        return Err(ApiError::BadRequest(format!("top must be 1 to {MAX_TOP}, not {top}")));
    }
    // A camera's answers are capped rather than refused: it may ask for
    // more than it is shown, never learn more.
    let most = if key.role == Role::Camera { CAMERA_MAX_TOP } else { MAX_TOP };
    Ok(top.min(most))
}

/// `Authorization: Bearer <key>`, or `X-API-Key: <key>`.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return value.strip_prefix("Bearer ").map(str::trim);
    }
    headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim)
}
