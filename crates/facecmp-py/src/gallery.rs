//! `facecmp.Gallery`: enrolled people, identification and access decisions
//! over the same SQLite file or PostgreSQL database as the CLI and the
//! service, with the CLI's rules (`facecmp enroll`, `identify`, `access`, …).

use std::path::PathBuf;

use facecmp::compare::DEFAULT_FAR;
use facecmp::{FaceChoice, Pipeline, ThresholdChoice};
use facecmp_gallery::{
    EnrolPolicy, EventQuery, GalleryError, GalleryLocation, Probe, QualityPolicy, Reason, prepare_sample,
};
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyString};

use crate::errors::Failure;
use crate::input::Image;
use crate::types::{Candidate, Decision, Enrolled, Event, Face, FaceCandidates, Person};

/// A gallery of enrolled people: an SQLite file, or a PostgreSQL database
/// given as a `postgres://` URL. The same gallery the `facecmp` command and
/// service use; it is pinned to the embedder it was created with.
#[pyclass(frozen, module = "facecmp")]
pub struct Gallery {
    gallery: facecmp_gallery::Gallery,
    pipeline: &'static Pipeline,
}

/// `threshold=` or `far=`, else the access commands' default rate (the
/// CLI's `identify` and `access` take `--far 1e-3` unless told otherwise).
fn access_threshold(pipeline: &Pipeline, threshold: Option<f64>, far: Option<f64>) -> PyResult<f32> {
    let choice = crate::threshold_choice(threshold, far)?;
    let choice = ThresholdChoice { far: Some(choice.far.unwrap_or(DEFAULT_FAR)), ..choice };
    Ok(pipeline.threshold(choice).map_err(Failure::from)?.value)
}

/// Unix seconds from an `int`, or from a `datetime` (its `timestamp()`).
fn unix_seconds(value: Option<&Bound<'_, PyAny>>, arg: &str) -> PyResult<Option<i64>> {
    let Some(value) = value.filter(|value| !value.is_none()) else { return Ok(None) };
    if value.is_instance_of::<PyInt>() {
        return Ok(Some(value.extract()?));
    }
    if value.hasattr("timestamp")? {
        let seconds: f64 = value.call_method0("timestamp")?.extract()?;
        return Ok(Some(seconds.floor() as i64));
    }
    Err(Failure::Type(format!(
        "{arg}: a time is a datetime or seconds since the Unix epoch (int), not {}",
        value.get_type().name()?
    ))
    .into())
}

fn open_or_create(
    location: GalleryLocation,
    embedder: &facecmp::EmbedderIdentity,
    create: bool,
) -> Result<facecmp_gallery::Gallery, GalleryError> {
    match facecmp_gallery::Gallery::open(&location, embedder) {
        Err(GalleryError::Missing { .. }) if create => {
            match facecmp_gallery::Gallery::create(&location, embedder) {
                // Someone else created it in the meantime.
                Err(GalleryError::AlreadyExists { .. }) => {
                    facecmp_gallery::Gallery::open(&location, embedder)
                }
                created => created,
            }
        }
        opened => opened,
    }
}

#[pymethods]
impl Gallery {
    /// Opens the gallery at `location` (a path or a `postgres://` URL); with
    /// `create=True` an empty one is created there if there is none.
    #[new]
    #[pyo3(signature = (location, *, create=false, runtime=None))]
    fn new(
        py: Python<'_>,
        location: &Bound<'_, PyAny>,
        create: bool,
        runtime: Option<&str>,
    ) -> PyResult<Gallery> {
        let location = if location.is_instance_of::<PyString>() {
            GalleryLocation::parse(&location.extract::<String>()?)
        } else if location.hasattr("__fspath__")? {
            GalleryLocation::Sqlite(location.extract::<PathBuf>()?)
        } else {
            return Err(Failure::Type(format!(
                "a gallery is a path (str or os.PathLike) or a postgres:// URL, not {}",
                location.get_type().name()?
            ))
            .into());
        };
        let pipeline = crate::pipeline(py, runtime)?;
        let gallery =
            py.detach(|| open_or_create(location, pipeline.embedder(), create)).map_err(Failure::from)?;
        Ok(Gallery { gallery, pipeline })
    }

    /// Where the gallery is: its path, or its URL without the password.
    #[getter]
    fn location(&self) -> &str {
        self.gallery.path()
    }

    /// Enrols the one face of `image` as a reference sample of `name` (the
    /// person is created with their first sample) and grants them `zones`.
    /// A photo that cannot be a reference raises, with the CLI's reason.
    #[pyo3(signature = (name, image, *, external_id=None, zones=Vec::new(), strict=false))]
    fn enrol(
        &self,
        py: Python<'_>,
        name: &str,
        image: &Bound<'_, PyAny>,
        external_id: Option<&str>,
        zones: Vec<String>,
        strict: bool,
    ) -> PyResult<Enrolled> {
        let image = Image::extract(image, "image")?;
        let pipeline = self.pipeline;
        let enrolled = py.detach(|| -> Result<_, Failure> {
            // `facecmp enroll`'s policy: the enrolment review, at least the
            // pipeline's minimum face size, and `--strict`'s threshold.
            let mut policy = EnrolPolicy::default();
            policy.quality.min_face_size = policy.quality.min_face_size.max(pipeline.config().min_face_size);
            if strict {
                policy.strict = Some(pipeline.threshold(ThresholdChoice::far(DEFAULT_FAR))?.value);
            }
            let input = image.name();
            let bytes = image.encoded(pipeline.config().decode)?;
            let sample = match prepare_sample(pipeline, &input, &bytes, &policy)? {
                Ok(sample) => sample,
                Err(rejection) => return Err(Failure::Rejected { input, rejection }),
            };
            let enrolled = match self.gallery.enrol(name, external_id, &sample, policy.strict)? {
                Ok(enrolled) => enrolled,
                Err(rejection) => return Err(Failure::Rejected { input, rejection }),
            };
            for zone in &zones {
                self.gallery.grant(name, zone, None, None)?;
            }
            Ok(enrolled)
        })?;
        Ok(Enrolled {
            person: enrolled.person,
            person_id: enrolled.person_id,
            sample: enrolled.sample,
            new_person: enrolled.new_person,
        })
    }

    /// `enrol`, spelt as the CLI's `facecmp enroll`.
    #[pyo3(signature = (name, image, *, external_id=None, zones=Vec::new(), strict=false))]
    fn enroll(
        &self,
        py: Python<'_>,
        name: &str,
        image: &Bound<'_, PyAny>,
        external_id: Option<&str>,
        zones: Vec<String>,
        strict: bool,
    ) -> PyResult<Enrolled> {
        self.enrol(py, name, image, external_id, zones, strict)
    }

    /// Erases a person: samples, grants, and their identity in the audit
    /// trail (their events are kept under the returned tombstone).
    fn remove(&self, py: Python<'_>, name: &str) -> PyResult<String> {
        Ok(py.detach(|| self.gallery.remove_person(name)).map_err(Failure::from)?)
    }

    /// Allows `name` into `zone` (created if new), optionally only within a window.
    #[pyo3(signature = (name, zone, *, valid_from=None, valid_until=None))]
    fn grant(
        &self,
        py: Python<'_>,
        name: &str,
        zone: &str,
        valid_from: Option<&Bound<'_, PyAny>>,
        valid_until: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let from = unix_seconds(valid_from, "valid_from")?;
        let until = unix_seconds(valid_until, "valid_until")?;
        py.detach(|| self.gallery.grant(name, zone, from, until)).map_err(Failure::from)?;
        Ok(())
    }

    /// Withdraws `name`'s grant for `zone`; whether there was one.
    fn revoke(&self, py: Python<'_>, name: &str, zone: &str) -> PyResult<bool> {
        Ok(py.detach(|| self.gallery.revoke(name, zone)).map_err(Failure::from)?)
    }

    /// The enrolled people, with their sample counts and zones.
    fn people(&self, py: Python<'_>) -> PyResult<Vec<Person>> {
        let people = py.detach(|| self.gallery.people()).map_err(Failure::from)?;
        Ok(people.into_iter().map(Person::from).collect())
    }

    /// The `top` enrolled people most like the largest face of `image`, best
    /// first (`all_faces=True`: for every usable face, largest first).
    #[pyo3(signature = (image, top=5, *, zone=None, threshold=None, far=None, all_faces=false))]
    #[allow(clippy::too_many_arguments)] // Python keyword arguments.
    fn identify(
        &self,
        py: Python<'_>,
        image: &Bound<'_, PyAny>,
        top: usize,
        zone: Option<&str>,
        threshold: Option<f64>,
        far: Option<f64>,
        all_faces: bool,
    ) -> PyResult<Py<PyAny>> {
        if top == 0 {
            return Err(Failure::Value("top must be at least 1".into()).into());
        }
        let image = Image::extract(image, "image")?;
        let pipeline = self.pipeline;
        let threshold = access_threshold(pipeline, threshold, far)?;
        let (photo, found) = py.detach(|| -> Result<_, Failure> {
            let photo = image.open(pipeline)?;
            let found = if all_faces {
                self.gallery.identify_photo(pipeline, &photo, top, zone, threshold)?
            } else {
                let face = pipeline.face_policy().choose(&photo, FaceChoice::Largest)?;
                let embedding = pipeline.embed(&photo, &[face])?.swap_remove(0);
                let candidates = self.gallery.identify(&embedding, top, zone, threshold)?;
                vec![facecmp_gallery::FaceCandidates { face, candidates }]
            };
            Ok((photo, found))
        })?;
        let mut faces = Vec::with_capacity(found.len());
        for face in found {
            let candidates = face
                .candidates
                .into_iter()
                .map(|candidate| Py::new(py, Candidate::from(candidate)))
                .collect::<PyResult<Vec<_>>>()?;
            faces.push(FaceCandidates { face: Py::new(py, Face::of(&photo, face.face))?, candidates });
        }
        if all_faces {
            return Ok(faces.into_pyobject(py)?.into_any().unbind());
        }
        let candidates = faces.into_iter().next().map(|face| face.candidates).unwrap_or_default();
        Ok(candidates.into_pyobject(py)?.into_any().unbind())
    }

    /// Decides whether the person in `image` may enter `zone`, and records
    /// the decision in the audit trail. A bad image is a recorded denial,
    /// never an exception; only a decision that cannot be recorded raises.
    #[pyo3(signature = (zone, image, *, threshold=None, far=None))]
    fn access(
        &self,
        py: Python<'_>,
        zone: &str,
        image: &Bound<'_, PyAny>,
        threshold: Option<f64>,
        far: Option<f64>,
    ) -> PyResult<Decision> {
        let image = Image::extract_any(image, "image")?;
        let pipeline = self.pipeline;
        let threshold = access_threshold(pipeline, threshold, far)?;
        let decision = py.detach(|| {
            let config = pipeline.config();
            let quality = QualityPolicy { min_face_size: config.min_face_size, ..QualityPolicy::default() };
            let input = image.name();
            if let Image::Refused { name, why } = &image {
                // An array that is not an RGB image is a bad image too: denied and recorded.
                let probe = Probe::refuse(Reason::BadImage, format!("{name}: {why}"));
                return self.gallery.decide_access(zone, &probe, None, threshold);
            }
            match image.encoded(config.decode) {
                Ok(bytes) => self.gallery.access(pipeline, zone, &input, &bytes, &quality, threshold),
                // As `facecmp access`: an unreadable file is denied and recorded.
                Err(error) => {
                    let probe = Probe::refuse(Reason::BadImage, error.to_string());
                    self.gallery.decide_access(zone, &probe, None, threshold)
                }
            }
        });
        Ok(Decision::from(decision.map_err(Failure::from)?))
    }

    /// The access audit trail, newest first, filtered like `facecmp events`.
    #[pyo3(signature = (*, zone=None, decision=None, reason=None, person=None, since=None, until=None, limit=50))]
    #[allow(clippy::too_many_arguments)] // Python keyword arguments.
    fn events(
        &self,
        py: Python<'_>,
        zone: Option<String>,
        decision: Option<&str>,
        reason: Option<&str>,
        person: Option<String>,
        since: Option<&Bound<'_, PyAny>>,
        until: Option<&Bound<'_, PyAny>>,
        limit: usize,
    ) -> PyResult<Vec<Event>> {
        let decision = decision
            .map(|text| {
                facecmp_gallery::Decision::parse(text).ok_or_else(|| {
                    Failure::Value(format!("decision: `{text}` is neither \"allow\" nor \"deny\""))
                })
            })
            .transpose()?;
        let reason = reason
            .map(|text| {
                Reason::parse(text).ok_or_else(|| {
                    Failure::Value(format!("reason: `{text}` is not a decision reason (see Decision.reason)"))
                })
            })
            .transpose()?;
        let query = EventQuery {
            zone,
            decision,
            reason,
            person,
            since: unix_seconds(since, "since")?,
            until: unix_seconds(until, "until")?,
            limit: limit.max(1),
            ..EventQuery::default()
        };
        let events = py.detach(|| self.gallery.events(&query)).map_err(Failure::from)?;
        Ok(events.into_iter().map(Event::from).collect())
    }

    fn __repr__(&self) -> String {
        format!("Gallery({:?})", self.gallery.path())
    }
}
