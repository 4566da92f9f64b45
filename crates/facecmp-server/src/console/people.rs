//! People: search, enrol (upload or webcam), samples, erasure.

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use facecmp_gallery::{EnrolPolicy, Grant, Person, Sample, prepare_sample};
use serde::Deserialize;

use super::crops::face_image;
use super::error::{PageError, blocking, render};
use super::session::Operator;
use super::{Console, Layout, path_segment, times};

#[derive(Template)]
#[template(path = "people.html")]
struct PeoplePage {
    layout: Layout,
    search: String,
    people: Vec<Person>,
    /// What happened last (enrolled, erased, refused).
    notice: Option<String>,
    /// Why the photo was not enrolled.
    refusal: Option<String>,
    /// The name typed into the enrol form, kept after a refusal.
    name: String,
}

#[derive(Deserialize, Default)]
pub(crate) struct PeopleQuery {
    #[serde(default)]
    q: String,
    erased: Option<String>,
}

pub(crate) async fn list(
    State(console): State<Console>,
    operator: Operator,
    Query(query): Query<PeopleQuery>,
) -> Result<Response, PageError> {
    let notice =
        query.erased.as_ref().map(|name| format!("Erased {name}: their samples and grants are gone."));
    people_page(&console, &operator, StatusCode::OK, query.q, notice, None, String::new()).await
}

async fn people_page(
    console: &Console,
    operator: &Operator,
    status: StatusCode,
    search: String,
    notice: Option<String>,
    refusal: Option<String>,
    name: String,
) -> Result<Response, PageError> {
    let gallery = console.app.gallery.clone();
    let needle = search.trim().to_lowercase();
    let people = blocking(move || {
        let mut people = gallery.people()?;
        people.retain(|person| {
            needle.is_empty()
                || person.name.to_lowercase().contains(&needle)
                || person.external_id.as_ref().is_some_and(|id| id.to_lowercase().contains(&needle))
        });
        Ok(people)
    })
    .await?;
    let layout = Layout::new("People", Some(operator), "people");
    render(status, &PeoplePage { layout, search, people, notice, refusal, name })
}

/// `POST /people` (multipart: `name`, `photo`): the photo is reviewed
/// (exactly one clear face, large enough) before anything is stored; a
/// refused photo comes back with the reason.
pub(crate) async fn enrol(
    State(console): State<Console>,
    operator: Operator,
    mut form: Multipart,
) -> Result<Response, PageError> {
    let (mut name, mut photo) = (String::new(), Vec::new());
    while let Some(field) =
        form.next_field().await.map_err(|error| PageError::BadRequest(error.body_text()))?
    {
        let field_name = field.name().unwrap_or_default().to_string();
        let bytes = field.bytes().await.map_err(|error| PageError::BadRequest(error.body_text()))?;
        match field_name.as_str() {
            "name" => name = String::from_utf8_lossy(&bytes).trim().to_string(),
            "photo" => photo = bytes.to_vec(),
            _ => {}
        }
    }
    let refuse = |reason: String, name: String| {
        people_page(
            &console,
            &operator,
            StatusCode::UNPROCESSABLE_ENTITY,
            String::new(),
            None,
            Some(reason),
            name,
        )
    };
    if name.is_empty() {
        return refuse("Give the person a name.".into(), name).await;
    }
    if photo.is_empty() {
        return refuse("Choose a photo (or take one with the camera).".into(), name).await;
    }
    let (pipeline, gallery) = (console.app.pipeline.clone(), console.app.gallery.clone());
    let person = name.clone();
    let outcome = console
        .app
        .workers
        .run(move || {
            let policy = EnrolPolicy::default();
            let sample = match prepare_sample(&pipeline, "photo", &photo, &policy)? {
                Ok(sample) => sample,
                Err(rejection) => return Ok(Err(rejection.to_string())),
            };
            Ok(gallery.enrol(&person, None, &sample, None)?.map_err(|rejection| rejection.to_string()))
        })
        .await
        .map_err(|error| PageError::Internal(error.to_string()))?;
    match outcome {
        Ok(_) => Ok(Redirect::to(&format!("/people/{}?enrolled=1", path_segment(&name))).into_response()),
        Err(reason) => refuse(format!("Not enrolled: {reason}."), name).await,
    }
}

/// Every enrolled person's name, for the forms that name one.
pub(crate) fn names(gallery: &facecmp_gallery::Gallery) -> facecmp_gallery::Result<Vec<String>> {
    Ok(gallery.people()?.into_iter().map(|person| person.name).collect())
}

#[derive(Template)]
#[template(path = "person.html")]
struct PersonPage {
    layout: Layout,
    person: Person,
    samples: Vec<SampleRow>,
    grants: Vec<GrantRow>,
    zones: Vec<String>,
    notice: Option<String>,
}

struct SampleRow {
    id: i64,
    detector_score: String,
    face_size: String,
    image: String,
    created: String,
    has_thumbnail: bool,
}

impl SampleRow {
    fn new(sample: &Sample) -> SampleRow {
        SampleRow {
            id: sample.id,
            detector_score: format!("{:.2}", sample.detector_score),
            face_size: format!("{:.0} px", sample.face_size),
            image: sample.image_sha256.chars().take(12).collect(),
            created: times::show(sample.created),
            has_thumbnail: sample.has_thumbnail,
        }
    }
}

pub(crate) struct GrantRow {
    pub person: String,
    pub zone: String,
    pub window: String,
    pub valid_now: bool,
}

impl GrantRow {
    pub fn new(grant: &Grant) -> GrantRow {
        let window = match (grant.valid_from, grant.valid_until) {
            (None, None) => "always".to_string(),
            (Some(from), None) => format!("from {}", times::show(from)),
            (None, Some(until)) => format!("until {}", times::show(until)),
            (Some(from), Some(until)) => format!("{} – {}", times::show(from), times::show(until)),
        };
        GrantRow {
            person: grant.person.clone(),
            zone: grant.zone.clone(),
            window,
            valid_now: grant.valid_at(facecmp_gallery::gallery::now()),
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct PersonQuery {
    enrolled: Option<String>,
}

pub(crate) async fn show(
    State(console): State<Console>,
    operator: Operator,
    Path(name): Path<String>,
    Query(query): Query<PersonQuery>,
) -> Result<Response, PageError> {
    let gallery = console.app.gallery.clone();
    let (person, samples, grants, zones) = blocking(move || {
        let person = gallery.person(&name)?;
        let samples = gallery.samples(Some(&name))?;
        let grants = gallery.grants(None, Some(&name))?;
        let zones = gallery.zones()?.into_iter().map(|zone| zone.name).collect::<Vec<_>>();
        Ok((person, samples, grants, zones))
    })
    .await?;
    let notice =
        query.enrolled.map(|_| "Enrolled: the photo is now one of this person's samples.".to_string());
    let person_page = PersonPage {
        layout: Layout::new(person.name.clone(), Some(&operator), "people"),
        samples: samples.iter().map(SampleRow::new).collect(),
        grants: grants.iter().map(GrantRow::new).collect(),
        person,
        zones,
        notice,
    };
    render(StatusCode::OK, &person_page)
}

/// `GET /people/{name}/samples/{id}/thumbnail`: the face the sample was
/// enrolled from, for the person's page.
pub(crate) async fn thumbnail(
    State(console): State<Console>,
    _: Operator,
    Path((name, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let gallery = console.app.gallery.clone();
    let jpeg = blocking(move || {
        gallery
            .sample_thumbnail(&name, id)?
            .ok_or_else(|| PageError::NotFound(format!("{name} has no sample {id} with a face thumbnail")))
    })
    .await?;
    Ok(face_image(jpeg))
}

pub(crate) async fn remove_sample(
    State(console): State<Console>,
    _: Operator,
    Path((name, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let gallery = console.app.gallery.clone();
    let person = name.clone();
    blocking(move || {
        // Only a sample of this person: the URL names both.
        if !gallery.samples(Some(&person))?.iter().any(|sample| sample.id == id) {
            return Err(PageError::NotFound(format!("{person} has no sample {id}")));
        }
        gallery.remove_sample(id)?;
        Ok(())
    })
    .await?;
    Ok(Redirect::to(&format!("/people/{}", path_segment(&name))).into_response())
}

#[derive(Template)]
#[template(path = "erase.html")]
struct ErasePage {
    layout: Layout,
    person: Person,
    grants: Vec<GrantRow>,
}

/// Says exactly what erasing will delete, and asks.
pub(crate) async fn confirm_erase(
    State(console): State<Console>,
    operator: Operator,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let gallery = console.app.gallery.clone();
    let (person, grants) =
        blocking(move || Ok((gallery.person(&name)?, gallery.grants(None, Some(&name))?))).await?;
    let layout = Layout::new(format!("Erase {}", person.name), Some(&operator), "people");
    render(StatusCode::OK, &ErasePage { layout, grants: grants.iter().map(GrantRow::new).collect(), person })
}

pub(crate) async fn erase(
    State(console): State<Console>,
    _: Operator,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let gallery = console.app.gallery.clone();
    let erased = name.clone();
    blocking(move || Ok(gallery.remove_person(&erased)?)).await?;
    let query = form_urlencoded::Serializer::new(String::new()).append_pair("erased", &name).finish();
    Ok(Redirect::to(&format!("/people?{query}")).into_response())
}
