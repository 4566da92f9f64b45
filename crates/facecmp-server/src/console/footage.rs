//! Find: where an enrolled person, or the face in a photo, appears in the
//! indexed footage — best first, with each appearance's face, its times,
//! and a link that plays the recording from that moment when the server can
//! read the file. Nothing is decoded to answer: the index is searched.
//!
//! The index is surveillance data: like every console page these need an
//! admin's session, and faces and recordings are never cached.

use std::path::PathBuf;

use askama::Template;
use axum::body::Body;
use axum::extract::{Multipart, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use facecmp::{Embedding, FaceChoice};
use facecmp_gallery::appearances::media_clock;
use facecmp_gallery::{Appearance, AppearanceFilter, FoundAppearance, Source, SourceKind};
use serde::Deserialize;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::crops::face_image;
use super::error::{PageError, blocking, render};
use super::session::Operator;
use super::{Console, Layout, people, times};

/// Appearances a search shows at most.
const SHOWN: usize = 50;

#[derive(Template)]
#[template(path = "find.html")]
struct FindPage {
    layout: Layout,
    people: Vec<String>,
    sources: Vec<SourceChoice>,
    person: String,
    results: Option<Results>,
    message: Option<String>,
}

struct SourceChoice {
    id: i64,
    name: String,
    selected: bool,
}

struct Results {
    /// Whom was looked for: a name, or "the face in the photo".
    query: String,
    threshold: String,
    rows: Vec<FoundRow>,
}

struct FoundRow {
    id: i64,
    source: String,
    short_source: String,
    media: String,
    seen: Option<String>,
    similarity: String,
    has_thumbnail: bool,
    /// Only a file can be played.
    playable: bool,
}

impl FoundRow {
    fn new(found: &FoundAppearance, sources: &[Source]) -> FoundRow {
        let appearance = &found.appearance;
        let kind = sources.iter().find(|s| s.id == appearance.source).map(|s| s.kind);
        FoundRow {
            id: appearance.id,
            source: appearance.source_name.clone(),
            short_source: short_name(&appearance.source_name).to_string(),
            media: format!(
                "{} – {}",
                media_clock(appearance.media_start_ms),
                media_clock(appearance.media_end_ms)
            ),
            seen: appearance.wall_start_ms.map(|ms| times::show(ms.div_euclid(1000))),
            similarity: format!("{:.3}", found.similarity),
            has_thumbnail: appearance.has_thumbnail,
            playable: kind == Some(SourceKind::File),
        }
    }
}

/// A source as a column shows it: a file's name without its folders (the
/// whole path is in the cell's title), a camera's name as it is.
pub(crate) fn short_name(name: &str) -> &str {
    std::path::Path::new(name).file_name().and_then(|n| n.to_str()).unwrap_or(name)
}

#[derive(Deserialize, Default)]
pub(crate) struct FindQuery {
    #[serde(default)]
    person: String,
    source: Option<String>,
}

/// `GET /find[?person=NAME&source=ID]`: the form, and the person's
/// appearances when one is named.
pub(crate) async fn page(
    State(console): State<Console>,
    operator: Operator,
    Query(query): Query<FindQuery>,
) -> Result<Response, PageError> {
    let source = parse_source(query.source.as_deref())?;
    let person = query.person.trim().to_string();
    if person.is_empty() {
        return find_page(&console, &operator, StatusCode::OK, String::new(), source, None, None).await;
    }
    let gallery = console.app.gallery.clone();
    let name = person.clone();
    let vectors = blocking(move || Ok(gallery.person_vectors(&name)?)).await?;
    let results = search(&console, person.clone(), vectors, source).await?;
    find_page(&console, &operator, StatusCode::OK, person, source, Some(results), None).await
}

/// `POST /find` (multipart: `photo`, `source`): the appearances of the
/// largest face in the photo.
pub(crate) async fn by_photo(
    State(console): State<Console>,
    operator: Operator,
    mut form: Multipart,
) -> Result<Response, PageError> {
    let (mut photo, mut source) = (Vec::new(), None);
    while let Some(field) =
        form.next_field().await.map_err(|error| PageError::BadRequest(error.body_text()))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let bytes = field.bytes().await.map_err(|error| PageError::BadRequest(error.body_text()))?;
        match name.as_str() {
            "photo" => photo = bytes.to_vec(),
            "source" => source = parse_source(Some(&String::from_utf8_lossy(&bytes)))?,
            _ => {}
        }
    }
    let refuse = |message: String| {
        find_page(
            &console,
            &operator,
            StatusCode::UNPROCESSABLE_ENTITY,
            String::new(),
            source,
            None,
            Some(message),
        )
    };
    if photo.is_empty() {
        return refuse("Choose a photo, or pick an enrolled person.".into()).await;
    }
    let pipeline = console.app.pipeline.clone();
    let embedded = console
        .app
        .workers
        .run(move || {
            let photo = match pipeline.open_bytes("photo", &photo) {
                Ok(photo) => photo,
                Err(error) if error.is_input_error() => return Ok(Err(error.to_string())),
                Err(error) => return Err(error.into()),
            };
            match pipeline.embed_one(&photo, FaceChoice::Largest) {
                Ok((_, embedding)) => Ok(Ok(embedding)),
                Err(error) if error.is_input_error() => Ok(Err(error.to_string())),
                Err(error) => Err(error.into()),
            }
        })
        .await
        .map_err(|error| PageError::Internal(error.to_string()))?;
    let embedding = match embedded {
        Ok(embedding) => embedding,
        Err(problem) => return refuse(format!("Not searched: {problem}.")).await,
    };
    let results = search(&console, "the face in the photo".into(), vec![embedding], source).await?;
    find_page(&console, &operator, StatusCode::OK, String::new(), source, Some(results), None).await
}

/// An empty choice is every source.
fn parse_source(text: Option<&str>) -> Result<Option<i64>, PageError> {
    match text.map(str::trim).filter(|text| !text.is_empty()) {
        None => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| PageError::BadRequest("source: expected a source's number".into())),
    }
}

async fn search(
    console: &Console,
    query: String,
    vectors: Vec<Embedding>,
    source: Option<i64>,
) -> Result<Results, PageError> {
    let (gallery, threshold) = (console.app.gallery.clone(), console.app.threshold);
    let rows = blocking(move || {
        let filter = AppearanceFilter { source, ..AppearanceFilter::default() };
        let found = gallery.find_appearances(&vectors, &filter, SHOWN, threshold)?;
        let sources = gallery.sources()?;
        Ok(found.iter().filter(|f| f.matched).map(|f| FoundRow::new(f, &sources)).collect())
    })
    .await?;
    Ok(Results { query, threshold: format!("{threshold:.3}"), rows })
}

async fn find_page(
    console: &Console,
    operator: &Operator,
    status: StatusCode,
    person: String,
    source: Option<i64>,
    results: Option<Results>,
    message: Option<String>,
) -> Result<Response, PageError> {
    let gallery = console.app.gallery.clone();
    let (people, sources) = blocking(move || Ok((people::names(&gallery)?, gallery.sources()?))).await?;
    let sources = sources
        .into_iter()
        .map(|s| SourceChoice { id: s.id, selected: source == Some(s.id), name: s.name })
        .collect();
    let layout = Layout::new("Find", Some(operator), "find");
    render(status, &FindPage { layout, people, sources, person, results, message })
}

/// `GET /appearances/{id}/thumbnail`: the appearance's best face.
pub(crate) async fn thumbnail(
    State(console): State<Console>,
    _: Operator,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let gallery = console.app.gallery.clone();
    let jpeg = blocking(move || {
        gallery.appearance_thumbnail(id)?.ok_or_else(|| {
            PageError::NotFound(format!("appearance {id} has no face thumbnail (or it expired)"))
        })
    })
    .await?;
    Ok(face_image(jpeg))
}

#[derive(Template)]
#[template(path = "play.html")]
struct PlayPage {
    layout: Layout,
    appearance: Appearance,
    media: String,
    /// `#t=START,END` in seconds: where the browser starts and stops.
    fragment: String,
    photo: bool,
}

/// `GET /appearances/{id}/play`: the recording, from the appearance's start.
pub(crate) async fn play(
    State(console): State<Console>,
    operator: Operator,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let gallery = console.app.gallery.clone();
    let (appearance, path) = blocking(move || {
        let appearance = gallery
            .appearance(id)?
            .ok_or_else(|| PageError::NotFound(format!("no appearance {id} (or it expired)")))?;
        let path = readable_file(&gallery, appearance.source)?;
        Ok((appearance, path))
    })
    .await?;
    let seconds = |ms: i64| ms as f64 / 1000.0;
    let page = PlayPage {
        layout: Layout::new(format!("Appearance {id}"), Some(&operator), "find"),
        media: format!(
            "{} – {}",
            media_clock(appearance.media_start_ms),
            media_clock(appearance.media_end_ms)
        ),
        fragment: format!(
            "#t={:.1},{:.1}",
            seconds(appearance.media_start_ms),
            seconds(appearance.media_end_ms)
        ),
        photo: facecmp::image::has_photo_extension(&path),
        appearance,
    };
    render(StatusCode::OK, &page)
}

/// `GET /sources/{id}/file`: the indexed file itself, with byte ranges (so
/// a browser can seek in a video without fetching all of it).
pub(crate) async fn file(
    State(console): State<Console>,
    _: Operator,
    Path(source): Path<i64>,
    request: Request,
) -> Result<Response, PageError> {
    let gallery = console.app.gallery.clone();
    let path = blocking(move || readable_file(&gallery, source)).await?;
    let Ok(response) = ServeFile::new(path).oneshot(request).await;
    if response.status() == StatusCode::NOT_FOUND {
        return Err(PageError::NotFound(format!("source {source}'s file is gone")));
    }
    Ok(response.map(Body::new).into_response())
}

/// Where an indexed file is, if the server can read it there. Only file
/// sources are served, and only at the path they were indexed from: a
/// request names a source's number, never a path.
fn readable_file(gallery: &facecmp_gallery::Gallery, source: i64) -> Result<PathBuf, PageError> {
    let found = gallery.sources()?.into_iter().find(|s| s.id == source);
    let source = found.ok_or_else(|| PageError::NotFound(format!("no source {source}")))?;
    if source.kind != SourceKind::File {
        return Err(PageError::NotFound(format!("source {} is a camera: nothing was recorded", source.id)));
    }
    let path = PathBuf::from(&source.name);
    if !path.is_file() {
        // The error names the source, not its path: pages never show server paths.
        return Err(PageError::NotFound(format!(
            "source {} is not readable by the server where it was indexed",
            source.id
        )));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_shown_by_their_name_and_cameras_as_they_are() {
        assert_eq!(short_name("/srv/recordings/lobby.mp4"), "lobby.mp4");
        assert_eq!(short_name("lift"), "lift");
    }
}
