//! The values handed back to Python: read-only objects with plain
//! attributes (floats, strings, tuples), each with a readable `repr`.

use facecmp::Photo;
use pyo3::prelude::*;

/// A face found in an image: its box, the detector's confidence and five landmarks.
#[pyclass(frozen, module = "facecmp")]
#[derive(Clone)]
pub struct Face {
    /// The face's number in the image, as `detect` lists them (strongest first).
    #[pyo3(get)]
    pub index: usize,
    /// `(x, y, width, height)` in pixels of the image, from its top-left corner.
    #[pyo3(get, name = "box")]
    pub bbox: (f64, f64, f64, f64),
    /// The detector's confidence, 0 to 1.
    #[pyo3(get)]
    pub score: f64,
    /// Five `(x, y)` points, in the order of `facecmp.LANDMARK_NAMES`.
    #[pyo3(get)]
    pub landmarks: Vec<(f64, f64)>,
    size: f64,
}

impl Face {
    pub fn of(photo: &Photo, index: usize) -> Face {
        let face = &photo.faces[index];
        let bbox = &face.bbox;
        Face {
            index,
            bbox: (bbox.x.into(), bbox.y.into(), bbox.width.into(), bbox.height.into()),
            score: face.score.into(),
            landmarks: face.landmarks.iter().map(|point| (point.x.into(), point.y.into())).collect(),
            size: face.size().into(),
        }
    }
}

#[pymethods]
impl Face {
    /// The shorter side of the box, in pixels: what the minimum face size is measured on.
    #[getter]
    fn size(&self) -> f64 {
        self.size
    }

    fn __repr__(&self) -> String {
        let (x, y, width, height) = self.bbox;
        format!(
            "Face(index={}, box=({x:.0}, {y:.0}, {width:.0}, {height:.0}), score={:.3})",
            self.index, self.score
        )
    }
}

/// The outcome of `facecmp.compare`: the cosine similarity of the two faces'
/// embeddings, the threshold it was held to, and the faces compared.
#[pyclass(frozen, module = "facecmp")]
pub struct Match {
    /// Cosine similarity, −1 to 1; higher is more alike.
    #[pyo3(get)]
    pub similarity: f64,
    /// The threshold: `same` is `similarity >= threshold`.
    #[pyo3(get)]
    pub threshold: f64,
    /// Whether the two faces are of the same person.
    #[pyo3(get)]
    pub same: bool,
    /// The face of the first image that was compared.
    #[pyo3(get)]
    pub a: Py<Face>,
    /// The face of the second image that was compared.
    #[pyo3(get)]
    pub b: Py<Face>,
}

#[pymethods]
impl Match {
    fn __repr__(&self) -> String {
        format!(
            "Match(similarity={:.4}, threshold={:.3}, same={})",
            self.similarity,
            self.threshold,
            if self.same { "True" } else { "False" }
        )
    }
}

/// A photo enrolled as a reference sample of a person.
#[pyclass(frozen, module = "facecmp")]
pub struct Enrolled {
    #[pyo3(get)]
    pub person: String,
    #[pyo3(get)]
    pub person_id: i64,
    /// The new sample's id.
    #[pyo3(get)]
    pub sample: i64,
    /// Whether the person was created by this enrolment.
    #[pyo3(get)]
    pub new_person: bool,
}

#[pymethods]
impl Enrolled {
    fn __repr__(&self) -> String {
        format!(
            "Enrolled(person={:?}, sample={}, new_person={})",
            self.person,
            self.sample,
            py_bool(self.new_person)
        )
    }
}

/// One enrolled person ranked by `Gallery.identify`.
#[pyclass(frozen, module = "facecmp")]
pub struct Candidate {
    #[pyo3(get)]
    pub person: String,
    #[pyo3(get)]
    pub external_id: Option<String>,
    /// Cosine similarity to the person's closest sample.
    #[pyo3(get)]
    pub similarity: f64,
    /// That sample's id.
    #[pyo3(get)]
    pub sample: i64,
    /// Whether the similarity reaches the threshold.
    #[pyo3(get)]
    pub matched: bool,
}

impl From<facecmp_gallery::Identification> for Candidate {
    fn from(found: facecmp_gallery::Identification) -> Candidate {
        Candidate {
            person: found.person,
            external_id: found.external_id,
            similarity: found.similarity.into(),
            sample: found.sample,
            matched: found.matched,
        }
    }
}

#[pymethods]
impl Candidate {
    fn __repr__(&self) -> String {
        format!(
            "Candidate(person={:?}, similarity={:.4}, matched={})",
            self.person,
            self.similarity,
            py_bool(self.matched)
        )
    }
}

/// The candidates for one face (`Gallery.identify(..., all_faces=True)`).
#[pyclass(frozen, module = "facecmp")]
pub struct FaceCandidates {
    #[pyo3(get)]
    pub face: Py<Face>,
    #[pyo3(get)]
    pub candidates: Vec<Py<Candidate>>,
}

#[pymethods]
impl FaceCandidates {
    fn __repr__(&self) -> String {
        let best = self.candidates.first().map_or("None".to_string(), |c| c.get().__repr__());
        format!("FaceCandidates(face={}, best={best})", self.face.get().__repr__())
    }
}

/// A recorded access decision (`Gallery.access`).
#[pyclass(frozen, module = "facecmp")]
pub struct Decision {
    /// Whether the door opens: one enrolled person matched, with a valid grant for the zone.
    #[pyo3(get)]
    pub allowed: bool,
    /// Why, as a stable code: `granted`, `bad_image`, `no_face`, `multiple_faces`,
    /// `low_quality`, `unknown`, `not_granted`, `ambiguous`, `unknown_zone`, `internal_error`.
    #[pyo3(get)]
    pub reason: String,
    /// The same in words.
    #[pyo3(get)]
    pub detail: String,
    #[pyo3(get)]
    pub zone: String,
    /// The matched person, when the decision is about one.
    #[pyo3(get)]
    pub person: Option<String>,
    #[pyo3(get)]
    pub similarity: Option<f64>,
    #[pyo3(get)]
    pub threshold: f64,
    /// The id of the event recorded in the audit trail (`Gallery.events`).
    #[pyo3(get)]
    pub event_id: i64,
}

impl From<facecmp_gallery::AccessDecision> for Decision {
    fn from(decision: facecmp_gallery::AccessDecision) -> Decision {
        Decision {
            allowed: decision.allowed,
            reason: decision.reason.as_str().to_string(),
            detail: decision.detail,
            zone: decision.zone,
            person: decision.person,
            similarity: decision.similarity.map(f64::from),
            threshold: decision.threshold.into(),
            event_id: decision.event_id,
        }
    }
}

#[pymethods]
impl Decision {
    fn __repr__(&self) -> String {
        format!(
            "Decision(allowed={}, reason={:?}, zone={:?}, person={})",
            py_bool(self.allowed),
            self.reason,
            self.zone,
            self.person.as_ref().map_or("None".to_string(), |p| format!("{p:?}"))
        )
    }
}

/// One entry of the access audit trail (`Gallery.events`).
#[pyclass(frozen, module = "facecmp")]
pub struct Event {
    #[pyo3(get)]
    pub id: i64,
    /// When, in seconds since the Unix epoch (UTC).
    #[pyo3(get)]
    pub time: i64,
    #[pyo3(get)]
    pub zone: String,
    /// `"allow"` or `"deny"`.
    #[pyo3(get)]
    pub decision: String,
    /// The decision's reason code (see `Decision.reason`).
    #[pyo3(get)]
    pub reason: String,
    /// The person the decision was about; for a denial, the nearest enrolled face.
    #[pyo3(get)]
    pub person: Option<String>,
    #[pyo3(get)]
    pub similarity: Option<f64>,
    /// Set when the person has since been erased.
    #[pyo3(get)]
    pub tombstone: Option<String>,
    /// The camera or stream that asked, if it said.
    #[pyo3(get)]
    pub source: Option<String>,
    #[pyo3(get)]
    pub image_sha256: Option<String>,
}

impl From<facecmp_gallery::Event> for Event {
    fn from(event: facecmp_gallery::Event) -> Event {
        Event {
            id: event.id,
            time: event.time,
            zone: event.zone,
            decision: event.decision.as_str().to_string(),
            reason: event.reason.as_str().to_string(),
            person: event.person,
            similarity: event.similarity.map(f64::from),
            tombstone: event.tombstone,
            source: event.source,
            image_sha256: event.image_sha256,
        }
    }
}

#[pymethods]
impl Event {
    /// Whether the door opened.
    #[getter]
    fn allowed(&self) -> bool {
        self.decision == facecmp_gallery::Decision::Allow.as_str()
    }

    fn __repr__(&self) -> String {
        format!(
            "Event(id={}, time={}, zone={:?}, decision={:?}, reason={:?})",
            self.id, self.time, self.zone, self.decision, self.reason
        )
    }
}

/// An enrolled person (`Gallery.people`).
#[pyclass(frozen, module = "facecmp")]
pub struct Person {
    #[pyo3(get)]
    pub name: String,
    #[pyo3(get)]
    pub external_id: Option<String>,
    /// How many reference samples are enrolled.
    #[pyo3(get)]
    pub samples: usize,
    /// The zones the person holds a grant for.
    #[pyo3(get)]
    pub zones: Vec<String>,
    /// When the person was created, in seconds since the Unix epoch.
    #[pyo3(get)]
    pub created: i64,
}

impl From<facecmp_gallery::Person> for Person {
    fn from(person: facecmp_gallery::Person) -> Person {
        Person {
            name: person.name,
            external_id: person.external_id,
            samples: person.samples,
            zones: person.zones,
            created: person.created,
        }
    }
}

#[pymethods]
impl Person {
    fn __repr__(&self) -> String {
        format!("Person(name={:?}, samples={}, zones={:?})", self.name, self.samples, self.zones)
    }
}

fn py_bool(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}
