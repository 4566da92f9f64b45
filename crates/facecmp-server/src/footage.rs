//! The indexed footage over HTTP, for admins only (it is surveillance
//! data): where an enrolled person appears, and the clusters of unknown
//! people. The index is written by `facecmp index`; these routes only
//! read it.

use axum::Json;
use axum::extract::State;
use facecmp_gallery::appearances::ClusterSummary;
use facecmp_gallery::{AppearanceFilter, FoundAppearance, MAX_TOP, validate_name};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Admin;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::routes::blocking;
use crate::state::AppState;

/// Appearances answered when the query names no limit.
const DEFAULT_LIMIT: usize = 20;

#[derive(Deserialize)]
pub(crate) struct AppearancesQuery {
    person: String,
    source: Option<i64>,
    /// Media time, milliseconds into the source.
    from_ms: Option<i64>,
    until_ms: Option<i64>,
    /// Wall-clock time (cameras), unix milliseconds.
    wall_from_ms: Option<i64>,
    wall_until_ms: Option<i64>,
    limit: Option<usize>,
    /// Also the closest appearances below the threshold.
    all: Option<bool>,
}

impl AppearancesQuery {
    fn filter(&self) -> AppearanceFilter {
        AppearanceFilter {
            source: self.source,
            media_from_ms: self.from_ms,
            media_until_ms: self.until_ms,
            wall_from_ms: self.wall_from_ms,
            wall_until_ms: self.wall_until_ms,
            ..AppearanceFilter::default()
        }
    }
}

/// `GET /v1/appearances?person=NAME…`: the person's appearances in all the
/// indexed footage, best first, searched with their samples at the
/// server's threshold.
pub(crate) async fn find_appearances(
    State(state): State<AppState>,
    _: Admin,
    ApiQuery(query): ApiQuery<AppearancesQuery>,
) -> Result<Json<Value>, ApiError> {
    validate_name("person", &query.person)?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_TOP).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit must be 1 to {MAX_TOP}, not {limit}")));
    }
    let (gallery, threshold) = (state.gallery.clone(), state.threshold);
    let filter = query.filter();
    let person = query.person.clone();
    let found: Vec<FoundAppearance> = blocking(move || {
        let vectors = gallery.person_vectors(&person)?;
        Ok(gallery.find_appearances(&vectors, &filter, limit, threshold)?)
    })
    .await?;
    let all = query.all.unwrap_or(false);
    let found: Vec<FoundAppearance> = found.into_iter().filter(|f| all || f.matched).collect();
    Ok(Json(json!({ "person": query.person, "threshold": threshold, "appearances": found })))
}

/// `GET /v1/clusters`: the candidate people among the unknown appearances,
/// largest first (clustering itself runs in `facecmp clusters`).
pub(crate) async fn list_clusters(
    State(state): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<ClusterSummary>>, ApiError> {
    let gallery = state.gallery.clone();
    Ok(Json(blocking(move || Ok(gallery.cluster_summaries()?)).await?))
}
