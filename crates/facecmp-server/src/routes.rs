//! Every route of the API, declared in one place, and their handlers.

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use facecmp::{FaceChoice, Photo};
use facecmp_gallery::{
    AccessDecision, EnrolPolicy, EventQuery, Grant, Identification, Probe, Reason, Zone, ZonePolicy,
    prepare_sample,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower_http::trace::TraceLayer;

use crate::auth::{Admin, Camera};
use crate::error::{ApiError, RequestId};
use crate::extract::{ApiPath, ApiQuery, JsonObject};
use crate::health::Readiness;
use crate::image::ImageParts;
use crate::state::AppState;

pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi))
        .route("/v1/compare", post(compare))
        .route("/v1/identify", post(identify))
        .route("/v1/access", post(access))
        .route("/v1/people", get(list_people))
        .route("/v1/people/{name}", get(get_person).delete(remove_person))
        .route("/v1/people/{name}/samples", post(enrol))
        .route("/v1/samples", get(list_samples))
        .route("/v1/samples/{id}", delete(remove_sample))
        .route("/v1/zones", get(list_zones))
        .route("/v1/zones/{zone}", put(set_zone))
        .route("/v1/grants", get(list_grants))
        .route("/v1/grants/{zone}/{person}", put(grant).delete(revoke))
        .route("/v1/events", get(list_events))
        .route("/v1/appearances", get(crate::footage::find_appearances))
        .route("/v1/clusters", get(crate::footage::list_clusters))
        .fallback(no_such_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        // The span carries the request id onto every log line of the
        // request; the path is Debug-escaped, the query (zones, names) left out.
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id = request.extensions().get::<RequestId>().map(RequestId::to_string).unwrap_or_default();
            tracing::info_span!("request", id = %id, method = %request.method(), path = ?request.uri().path())
        }))
        .layer(axum::middleware::from_fn(crate::error::request_id))
        .with_state(state)
}

async fn no_such_route() -> ApiError {
    ApiError::NotFound("no such route; see /openapi.json".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("this route does not take this method; see /openapi.json".into())
}

/// Runs quick blocking work (SQLite) off the async threads, without
/// queueing behind image analysis.
pub(crate) async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(job).await.map_err(|error| ApiError::Internal(error.to_string()))?
}

async fn healthz(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "embedder": state.gallery.embedder().name,
        "samples": state.gallery.sample_count(),
        "engine": state.pipeline.engine().name(),
    }))
}

/// Readiness (see [`crate::health`]): 200 when the service can decide,
/// 503 naming what is missing. Runs beside the image workers, not behind
/// them: a busy node is still a ready one.
async fn readyz(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (pipeline, gallery, cameras) = (state.pipeline.clone(), state.gallery.clone(), state.cameras.clone());
    let readiness = blocking(move || Ok(Readiness::check(&pipeline, &gallery, &cameras))).await?;
    let status = if readiness.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    Ok((status, Json(readiness)).into_response())
}

async fn openapi() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], crate::openapi::DOCUMENT).into_response()
}

// ---- faces -------------------------------------------------------------

#[derive(Serialize)]
struct FaceJson {
    face: usize,
    #[serde(rename = "box")]
    bbox: facecmp::BoundingBox,
    score: f32,
}

impl FaceJson {
    fn new(photo: &Photo, index: usize) -> FaceJson {
        let face = &photo.faces[index];
        FaceJson { face: index, bbox: face.bbox, score: face.score }
    }
}

async fn compare(State(state): State<AppState>, _: Admin, body: ImageParts) -> Result<Json<Value>, ApiError> {
    if !body.is_multipart() {
        return Err(ApiError::BadRequest("send two images as multipart parts `a` and `b`".into()));
    }
    body.expect(&["a", "b"], &[])?;
    let (a, b) = (body.image("a")?, body.image("b")?);
    let (pipeline, threshold) = (state.pipeline.clone(), state.threshold);
    let memory = state.decode_budget.reserve(&[&a, &b], pipeline.config().decode).await?;
    state
        .workers
        .run(move || {
            let _memory = memory;
            let embed = |name: &str, bytes: &[u8]| -> Result<_, ApiError> {
                let photo = pipeline.open_bytes(name, bytes)?;
                let (face, embedding) = pipeline.embed_one(&photo, FaceChoice::Largest)?;
                Ok((FaceJson::new(&photo, face), photo.faces.len(), embedding))
            };
            let (face_a, faces_a, embedding_a) = embed("a", &a)?;
            let (face_b, faces_b, embedding_b) = embed("b", &b)?;
            // The service's one threshold, the same that access and identify use.
            let comparison =
                facecmp::compare(&embedding_a, &embedding_b, threshold).map_err(facecmp::Error::from)?;
            Ok(Json(json!({
                "similarity": comparison.similarity,
                "threshold": comparison.threshold,
                "same": comparison.same,
                "a": { "faces": faces_a, "chosen": face_a },
                "b": { "faces": faces_b, "chosen": face_b },
            })))
        })
        .await
}

#[derive(Deserialize)]
struct IdentifyQuery {
    zone: Option<String>,
    top: Option<usize>,
}

#[derive(Serialize)]
struct IdentifiedFace {
    #[serde(flatten)]
    face: FaceJson,
    candidates: Vec<Identification>,
}

async fn identify(
    State(state): State<AppState>,
    Camera(key): Camera,
    ApiQuery(query): ApiQuery<IdentifyQuery>,
    body: ImageParts,
) -> Result<Json<Value>, ApiError> {
    body.expect(&["image"], &[])?;
    let top = crate::auth::identify_scope(&key, query.zone.as_deref(), query.top)?;
    let image = body.image("image")?;
    let (pipeline, gallery, threshold) = (state.pipeline.clone(), state.gallery.clone(), state.threshold);
    let memory = state.decode_budget.reserve(&[&image], pipeline.config().decode).await?;
    state
        .workers
        .run(move || {
            let _memory = memory;
            let photo = pipeline.open_bytes("image", &image)?;
            let faces: Vec<IdentifiedFace> = gallery
                .identify_photo(&pipeline, &photo, top, query.zone.as_deref(), threshold)?
                .into_iter()
                .map(|found| IdentifiedFace {
                    face: FaceJson::new(&photo, found.face),
                    candidates: found.candidates,
                })
                .collect();
            Ok(Json(json!({ "threshold": threshold, "faces": faces })))
        })
        .await
}

#[derive(Deserialize)]
struct AccessQuery {
    zone: Option<String>,
}

/// Always answers with a decision. When the decision cannot be made or
/// recorded, the answer is still `"allowed": false`, with status 500.
async fn access(
    State(state): State<AppState>,
    Camera(key): Camera,
    ApiQuery(query): ApiQuery<AccessQuery>,
    body: ImageParts,
) -> Response {
    // The zone comes from the query only: one place, so that a proxy's log
    // and the decision can never name two different zones.
    if let Err(error) = body.expect(&["image"], &[]) {
        return error.into_response();
    }
    let Some(zone) = query.zone else {
        return ApiError::BadRequest("say which zone: ?zone=NAME".into()).into_response();
    };
    if let Err(refused) = crate::auth::require_zone(&key, &zone) {
        return refused.into_response();
    }
    let image = body.image("image").ok();
    let (gallery, pipeline) = (state.gallery.clone(), state.pipeline.clone());
    let (threshold, quality) = (state.threshold, state.quality);
    let zone_for_job = zone.clone();
    let images: Vec<&[u8]> = image.iter().map(|bytes| &bytes[..]).collect();
    let memory = match state.decode_budget.reserve(&images, pipeline.config().decode).await {
        Ok(memory) => memory,
        Err(error) => return fail_closed(&zone, error),
    };
    let decided = state
        .workers
        .run(move || {
            let _memory = memory;
            let zone = zone_for_job;
            let decision = match image {
                Some(bytes) => gallery.access(&pipeline, &zone, "image", &bytes, &quality, threshold),
                None => {
                    let probe = Probe::refuse(Reason::BadImage, "the request carries no image".into());
                    gallery.decide_access(&zone, &probe, None, threshold)
                }
            };
            Ok(decision?)
        })
        .await;
    match decided {
        Ok(decision) => {
            log_decision(&decision, &key.name);
            Json(decision).into_response()
        }
        // A request the gallery refuses (an invalid zone name) is the
        // client's error: the door stays shut and nothing is recorded.
        Err(error) if error.status().is_client_error() => error.into_response(),
        Err(error) => fail_closed(&zone, error),
    }
}

fn log_decision(decision: &AccessDecision, camera: &str) {
    // Names stay out of the logs: the event id leads to them for those allowed to look.
    tracing::info!(
        zone = ?crate::error::clip(&decision.zone),
        allowed = decision.allowed,
        reason = %decision.reason,
        event = decision.event_id,
        camera,
        "access decision"
    );
}

fn fail_closed(zone: &str, error: ApiError) -> Response {
    error.log();
    tracing::error!(zone = ?crate::error::clip(zone), "access decision failed; denying");
    let body = json!({
        "allowed": false,
        "reason": Reason::InternalError,
        "detail": error.to_string(),
        "zone": zone,
        "request_id": crate::error::current_request_id().as_str(),
    });
    let status = match error {
        ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, Json(body)).into_response()
}

// ---- people and samples ------------------------------------------------

async fn list_people(State(state): State<AppState>, _: Admin) -> Result<Response, ApiError> {
    let gallery = state.gallery.clone();
    Ok(Json(blocking(move || Ok(gallery.people()?)).await?).into_response())
}

async fn get_person(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, ApiError> {
    let gallery = state.gallery.clone();
    Ok(Json(blocking(move || Ok(gallery.person(&name)?)).await?).into_response())
}

async fn remove_person(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let gallery = state.gallery.clone();
    let erased = name.clone();
    let tombstone = blocking(move || Ok(gallery.remove_person(&name)?)).await?;
    Ok(Json(json!({ "erased": erased, "tombstone": tombstone })))
}

#[derive(Deserialize)]
struct EnrolQuery {
    external_id: Option<String>,
    #[serde(default)]
    strict: bool,
}

/// Enrols one photo. 201 with the sample when accepted; 422 with the
/// reason when refused.
async fn enrol(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<EnrolQuery>,
    body: ImageParts,
) -> Result<Response, ApiError> {
    body.expect(&["image"], &[])?;
    let image = body.image("image")?;
    let (pipeline, gallery) = (state.pipeline.clone(), state.gallery.clone());
    let strict = query.strict.then_some(state.threshold);
    let memory = state.decode_budget.reserve(&[&image], pipeline.config().decode).await?;
    state
        .workers
        .run(move || {
            let _memory = memory;
            let policy = EnrolPolicy { strict, ..EnrolPolicy::default() };
            // Returned as errors, not responses: the response is made on the
            // request's task, where its request id is known.
            let refused = |rejection: facecmp_gallery::Rejection| {
                Err(ApiError::BadImage { code: rejection.code(), message: rejection.to_string() })
            };
            let sample = match prepare_sample(&pipeline, &name, &image, &policy)? {
                Ok(sample) => sample,
                Err(rejection) => return refused(rejection),
            };
            Ok(match gallery.enrol(&name, query.external_id.as_deref(), &sample, strict)? {
                Ok(enrolled) => (StatusCode::CREATED, Json(enrolled)).into_response(),
                Err(rejection) => return refused(rejection),
            })
        })
        .await
}

#[derive(Deserialize)]
struct SampleQuery {
    person: Option<String>,
}

async fn list_samples(
    State(state): State<AppState>,
    _: Admin,
    ApiQuery(query): ApiQuery<SampleQuery>,
) -> Result<Response, ApiError> {
    let gallery = state.gallery.clone();
    Ok(Json(blocking(move || Ok(gallery.samples(query.person.as_deref())?)).await?).into_response())
}

async fn remove_sample(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    let gallery = state.gallery.clone();
    match blocking(move || Ok(gallery.remove_sample(id)?)).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::NotFound(format!("no sample {id}"))),
    }
}

// ---- zones and grants --------------------------------------------------

async fn list_zones(State(state): State<AppState>, _: Admin) -> Result<Json<Vec<Zone>>, ApiError> {
    let gallery = state.gallery.clone();
    Ok(Json(blocking(move || Ok(gallery.zones()?)).await?))
}

/// `PUT /v1/zones/{zone}`'s body: [`ZonePolicy`] with its seconds read as
/// JSON Schema integers (`604800.0` too).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ZoneBody {
    #[serde(default)]
    allow_multiple_faces: bool,
    #[serde(default, deserialize_with = "whole_seconds")]
    probe_crops_retention_s: Option<i64>,
}

async fn set_zone(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(zone): ApiPath<String>,
    JsonObject(body): JsonObject<ZoneBody>,
) -> Result<Json<Zone>, ApiError> {
    // The whole policy is replaced: a field left out takes its default, so
    // probe crops stay off unless a request asks for them.
    let policy = ZonePolicy {
        allow_multiple_faces: body.allow_multiple_faces,
        probe_crops_retention_s: body.probe_crops_retention_s,
    };
    let gallery = state.gallery.clone();
    Ok(Json(blocking(move || Ok(gallery.set_zone(&zone, &policy)?)).await?))
}

#[derive(Deserialize)]
struct GrantQuery {
    zone: Option<String>,
    person: Option<String>,
}

async fn list_grants(
    State(state): State<AppState>,
    _: Admin,
    ApiQuery(query): ApiQuery<GrantQuery>,
) -> Result<Json<Vec<Grant>>, ApiError> {
    let gallery = state.gallery.clone();
    Ok(Json(blocking(move || Ok(gallery.grants(query.zone.as_deref(), query.person.as_deref())?)).await?))
}

/// Optional validity window, in unix seconds.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GrantWindow {
    #[serde(default, deserialize_with = "whole_seconds")]
    valid_from: Option<i64>,
    #[serde(default, deserialize_with = "whole_seconds")]
    valid_until: Option<i64>,
}

/// Unix seconds as JSON Schema's `integer`: `5` and `5.0` alike (both are
/// integers to a JSON client), never `5.5` or a value past `i64`.
fn whole_seconds<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else { return Ok(None) };
    if let Some(seconds) = number.as_i64() {
        return Ok(Some(seconds));
    }
    // i64::MAX as f64 rounds up to 2^63, which is out of range: hence `<`.
    match number.as_f64() {
        Some(seconds)
            if seconds.fract() == 0.0 && seconds >= i64::MIN as f64 && seconds < i64::MAX as f64 =>
        {
            Ok(Some(seconds as i64))
        }
        _ => Err(serde::de::Error::custom(format!("expected whole unix seconds, not {number}"))),
    }
}

async fn grant(
    State(state): State<AppState>,
    _: Admin,
    ApiPath((zone, person)): ApiPath<(String, String)>,
    JsonObject(window): JsonObject<GrantWindow>,
) -> Result<Json<Grant>, ApiError> {
    let gallery = state.gallery.clone();
    Ok(Json(
        blocking(move || Ok(gallery.grant(&person, &zone, window.valid_from, window.valid_until)?)).await?,
    ))
}

async fn revoke(
    State(state): State<AppState>,
    _: Admin,
    ApiPath((zone, person)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let gallery = state.gallery.clone();
    let message = format!("{person} has no grant for {zone}");
    match blocking(move || Ok(gallery.revoke(&person, &zone)?)).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::NotFound(message)),
    }
}

// ---- the audit trail ---------------------------------------------------

/// The most events one page holds.
const MAX_PAGE: usize = 1000;

#[derive(Deserialize)]
struct EventsQuery {
    zone: Option<String>,
    decision: Option<String>,
    source: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    before: Option<i64>,
    limit: Option<usize>,
}

async fn list_events(
    State(state): State<AppState>,
    _: Admin,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Json<Value>, ApiError> {
    if let Some(decision) = query.decision.as_deref()
        && decision != "allow"
        && decision != "deny"
    {
        return Err(ApiError::BadRequest(format!("decision must be `allow` or `deny`, not `{decision}`")));
    }
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit must be 1 to {MAX_PAGE}, not {limit}")));
    }
    let query = EventQuery {
        zone: query.zone,
        decision: query.decision.as_deref().and_then(facecmp_gallery::Decision::parse),
        source: query.source,
        since: query.since,
        until: query.until,
        before: query.before,
        limit,
        ..EventQuery::default()
    };
    let gallery = state.gallery.clone();
    let events = blocking(move || Ok(gallery.events(&query)?)).await?;
    // A full page may have a next one: continue with ?before=<last id>.
    let next = if events.len() == limit { events.last().map(|e| e.id) } else { None };
    Ok(Json(json!({ "events": events, "next_before": next })))
}
