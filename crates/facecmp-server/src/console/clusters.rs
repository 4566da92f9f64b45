//! Who else was here: the unknown people of the indexed footage, grouped
//! into clusters, each with its best faces, how often and when it was seen.
//! An operator names a cluster (its best faces are enrolled through the
//! normal review), merges two, or marks one "not a face"; the same
//! operations as `facecmp clusters`.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use facecmp::ThresholdChoice;
use facecmp_gallery::appearances::{ClusterSummary, media_clock};
use facecmp_gallery::{Appearance, IdentifyError};
use serde::Deserialize;

use super::error::{PageError, blocking, render};
use super::footage::short_name;
use super::session::Operator;
use super::{Console, Layout, path_segment, times};

/// The false-accept rate of the threshold at which faces join a cluster:
/// stricter than matching, since a wrong join merges two strangers for good
/// (as `facecmp clusters --far`'s default).
const CLUSTERING_FAR: f64 = 1e-4;

/// Unknown appearances one click groups at most: each costs a search on a
/// worker that access decisions share (a larger backlog: click again, or
/// `facecmp clusters`).
const GROUPED_PER_CLICK: usize = 500;

#[derive(Template)]
#[template(path = "clusters.html")]
struct ClustersPage {
    layout: Layout,
    clusters: Vec<ClusterRow>,
    notice: Option<String>,
}

struct ClusterRow {
    id: i64,
    name: Option<String>,
    not_a_face: bool,
    appearances: usize,
    first_seen: String,
    last_seen: String,
    /// The sources' short names, and (for the cell's title) their full ones.
    sources: String,
    source_names: String,
    best: Vec<i64>,
    /// The other clusters, for "merge into".
    others: Vec<i64>,
}

impl ClusterRow {
    fn new(summary: &ClusterSummary, all: &[ClusterSummary]) -> ClusterRow {
        let cluster = &summary.cluster;
        ClusterRow {
            id: cluster.id,
            name: cluster.name.clone(),
            not_a_face: cluster.not_a_face,
            appearances: cluster.appearances,
            first_seen: summary.first_seen.as_ref().map(seen).unwrap_or_default(),
            last_seen: summary.last_seen.as_ref().map(seen).unwrap_or_default(),
            sources: summary.sources.iter().map(|s| short_name(s)).collect::<Vec<_>>().join(", "),
            source_names: summary.sources.join(", "),
            best: summary.best.clone(),
            others: all.iter().map(|s| s.cluster.id).filter(|&id| id != cluster.id).collect(),
        }
    }
}

/// When an appearance was seen: the wall clock for cameras, else its place
/// in its file.
fn seen(appearance: &Appearance) -> String {
    match appearance.wall_start_ms {
        Some(ms) => times::show(ms.div_euclid(1000)),
        None => {
            format!("{} at {}", short_name(&appearance.source_name), media_clock(appearance.media_start_ms))
        }
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct ClustersQuery {
    notice: Option<String>,
    /// After grouping: how many were grouped, and how many are left.
    grouped: Option<usize>,
    left: Option<usize>,
}

/// What the redirect after an action says: fixed sentences and numbers,
/// nothing a client typed is echoed from the query string.
fn notice_text(query: &ClustersQuery) -> Option<String> {
    let text = match query.notice.as_deref()? {
        "grouped" => {
            let (grouped, left) = (query.grouped.unwrap_or(0), query.left.unwrap_or(0));
            let rest = match left {
                0 => String::new(),
                left => format!(" {left} are left: group again, or run `facecmp clusters`."),
            };
            format!("{grouped} new unknown appearance(s) grouped into clusters.{rest}")
        }
        "merged" => "Merged.".into(),
        "not-a-face" => "Marked: its appearances leave searches and listings.".into(),
        "a-face" => "Unmarked: its appearances are shown again.".into(),
        _ => return None,
    };
    Some(text)
}

/// `GET /clusters`: every cluster, largest first.
pub(crate) async fn page(
    State(console): State<Console>,
    operator: Operator,
    Query(query): Query<ClustersQuery>,
) -> Result<Response, PageError> {
    clusters_page(&console, &operator, StatusCode::OK, notice_text(&query)).await
}

async fn clusters_page(
    console: &Console,
    operator: &Operator,
    status: StatusCode,
    notice: Option<String>,
) -> Result<Response, PageError> {
    let gallery = console.app.gallery.clone();
    let summaries = blocking(move || Ok(gallery.cluster_summaries()?)).await?;
    let clusters = summaries.iter().map(|summary| ClusterRow::new(summary, &summaries)).collect();
    let layout = Layout::new("Clusters", Some(operator), "clusters");
    render(status, &ClustersPage { layout, clusters, notice })
}

/// `POST /clusters/group`: puts the oldest unknown appearances indexed
/// since the last grouping into clusters, [`GROUPED_PER_CLICK`] at most.
pub(crate) async fn group(State(console): State<Console>, _: Operator) -> Result<Response, PageError> {
    // An embedder without calibrated thresholds (a trained one) cannot say
    // which faces are one person strictly enough to group them.
    let threshold = console
        .app
        .pipeline
        .threshold(ThresholdChoice::far(CLUSTERING_FAR))
        .map_err(|error| PageError::BadRequest(format!("faces cannot be grouped: {error}")))?
        .value;
    let gallery = console.app.gallery.clone();
    let run = console
        .app
        .workers
        .run(move || Ok(gallery.cluster_some_unknown_appearances(threshold, GROUPED_PER_CLICK)?))
        .await
        .map_err(|error| PageError::Internal(error.to_string()))?;
    let to = format!("/clusters?notice=grouped&grouped={}&left={}", run.considered, run.left);
    Ok(Redirect::to(&to).into_response())
}

#[derive(Deserialize)]
pub(crate) struct NameForm {
    person: String,
}

/// `POST /clusters/{id}/name` (`person`): enrols the cluster's best faces
/// as the person's samples, through the ordinary review.
pub(crate) async fn name(
    State(console): State<Console>,
    operator: Operator,
    Path(cluster): Path<i64>,
    Form(form): Form<NameForm>,
) -> Result<Response, PageError> {
    let person = form.person.trim().to_string();
    facecmp_gallery::validate_name("person", &person).map_err(PageError::from)?;
    let (pipeline, gallery) = (console.app.pipeline.clone(), console.app.gallery.clone());
    let named = person.clone();
    let outcomes = console
        .app
        .workers
        .run(move || match gallery.enrol_cluster(&pipeline, cluster, &named) {
            Ok(outcomes) => Ok(Ok(outcomes)),
            Err(IdentifyError::Gallery(error)) => Ok(Err(PageError::from(error))),
            Err(error) => Err(error.into()),
        })
        .await
        .map_err(|error| PageError::Internal(error.to_string()))??;
    if outcomes.iter().any(Result::is_ok) {
        return Ok(Redirect::to(&format!("/people/{}?enrolled=1", path_segment(&person))).into_response());
    }
    let reasons: Vec<String> = outcomes
        .iter()
        .filter_map(|outcome| outcome.as_ref().err().map(|rejection| rejection.to_string()))
        .collect();
    let notice = if reasons.is_empty() {
        format!("Cluster {cluster} has no face thumbnail to enrol.")
    } else {
        format!("Cluster {cluster} was not enrolled: {}.", reasons.join("; "))
    };
    clusters_page(&console, &operator, StatusCode::UNPROCESSABLE_ENTITY, Some(notice)).await
}

#[derive(Deserialize)]
pub(crate) struct MergeForm {
    into: i64,
}

/// `POST /clusters/{id}/merge` (`into`): moves the cluster's appearances
/// into another.
pub(crate) async fn merge(
    State(console): State<Console>,
    _: Operator,
    Path(cluster): Path<i64>,
    Form(form): Form<MergeForm>,
) -> Result<Response, PageError> {
    if form.into == cluster {
        return Err(PageError::BadRequest("a cluster cannot be merged into itself".into()));
    }
    let gallery = console.app.gallery.clone();
    blocking(move || Ok(gallery.merge_clusters(form.into, &[cluster])?)).await?;
    Ok(Redirect::to("/clusters?notice=merged").into_response())
}

#[derive(Deserialize)]
pub(crate) struct NotAFaceForm {
    not_a_face: bool,
}

/// `POST /clusters/{id}/not-a-face` (`not_a_face=true|false`).
pub(crate) async fn not_a_face(
    State(console): State<Console>,
    _: Operator,
    Path(cluster): Path<i64>,
    Form(form): Form<NotAFaceForm>,
) -> Result<Response, PageError> {
    let gallery = console.app.gallery.clone();
    blocking(move || Ok(gallery.mark_not_a_face(cluster, form.not_a_face)?)).await?;
    let notice = if form.not_a_face { "not-a-face" } else { "a-face" };
    Ok(Redirect::to(&format!("/clusters?notice={notice}")).into_response())
}
