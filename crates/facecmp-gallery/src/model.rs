//! The gallery's rows as the rest of the program sees them: people, samples,
//! zones, grants, audit events, keys and sessions, the codes a decision is
//! recorded with, and indexed footage (sources, appearances, clusters).
//!
//! Plain data, importing nothing else of the crate: the store reads and
//! writes these, the gallery hands them out, and neither has to know the
//! other to agree on them.

use serde::{Deserialize, Serialize};

// ---- people and samples ---------------------------------------------------

/// An enrolled person and a summary of what is held about them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Person {
    pub id: i64,
    pub name: String,
    pub external_id: Option<String>,
    pub created: i64,
    pub samples: usize,
    pub zones: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub id: i64,
    pub person: String,
    pub embedder: String,
    pub detector_score: f32,
    pub face_size: f32,
    pub image_sha256: String,
    pub created: i64,
    /// Whether the sample keeps a face thumbnail
    /// ([`Gallery::sample_thumbnail`](crate::Gallery::sample_thumbnail)); the
    /// console's business, not the API's.
    #[serde(skip)]
    pub has_thumbnail: bool,
}

/// The outcome of enrolling one photo.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Enrolled {
    pub person: String,
    pub person_id: i64,
    pub sample: i64,
    /// The person was created by this enrolment.
    pub new_person: bool,
}

/// One answer to "who is this?".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identification {
    pub person: String,
    pub external_id: Option<String>,
    pub similarity: f32,
    pub sample: i64,
    /// `similarity >= threshold`.
    pub matched: bool,
}

// ---- zones and grants -----------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Zone {
    pub id: i64,
    pub name: String,
    pub allow_multiple_faces: bool,
    /// How long the face crops of this zone's probes are kept, in seconds;
    /// `None` (the default): not kept at all.
    pub probe_crops_retention_s: Option<i64>,
    pub created: i64,
    /// People with a grant for the zone (valid now or not).
    pub people: usize,
}

impl Zone {
    pub fn policy(&self) -> ZonePolicy {
        ZonePolicy {
            allow_multiple_faces: self.allow_multiple_faces,
            probe_crops_retention_s: self.probe_crops_retention_s,
        }
    }
}

/// What a zone decides for itself. Setting it replaces the whole policy:
/// a field left out takes its default (one face only, no crops kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZonePolicy {
    /// A photo with several usable faces is judged by its largest one,
    /// instead of being denied as `multiple_faces`.
    #[serde(default)]
    pub allow_multiple_faces: bool,
    /// Keep each probe's face crop with its decision for this many seconds
    /// ([`crops::MIN_RETENTION_S`](crate::crops::MIN_RETENTION_S) to
    /// [`crops::MAX_RETENTION_S`](crate::crops::MAX_RETENTION_S)); `None`
    /// keeps none. Crops are biometric data: off unless a zone asks.
    #[serde(default)]
    pub probe_crops_retention_s: Option<i64>,
}

impl ZonePolicy {
    pub fn keeps_probe_crops(&self) -> bool {
        self.probe_crops_retention_s.is_some()
    }
}

/// Permission for a person to enter a zone, optionally within a window
/// (unix seconds; either end may be open).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grant {
    pub person: String,
    pub zone: String,
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
    pub created: i64,
}

impl Grant {
    pub fn valid_at(&self, time: i64) -> bool {
        self.valid_from.is_none_or(|from| from <= time) && self.valid_until.is_none_or(|until| time < until)
    }
}

// ---- decisions and the audit trail ----------------------------------------

/// Why a decision went the way it did; a stable, machine-readable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Allowed: one person above the threshold, with a valid grant.
    Granted,
    /// The image could not be read or decoded.
    BadImage,
    /// No face in the image.
    NoFace,
    /// More than one usable face, in a zone that does not allow it.
    MultipleFaces,
    /// The face is too small or the detector is not confident enough.
    LowQuality,
    /// Nobody enrolled reaches the threshold.
    Unknown,
    /// The best match is a person without a valid grant for this zone.
    NotGranted,
    /// Several enrolled people reach the threshold: the face cannot be told apart.
    Ambiguous,
    /// The zone does not exist.
    UnknownZone,
    /// facecmp itself failed (model, database); never a reason to open.
    InternalError,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Granted => "granted",
            Reason::BadImage => "bad_image",
            Reason::NoFace => "no_face",
            Reason::MultipleFaces => "multiple_faces",
            Reason::LowQuality => "low_quality",
            Reason::Unknown => "unknown",
            Reason::NotGranted => "not_granted",
            Reason::Ambiguous => "ambiguous",
            Reason::UnknownZone => "unknown_zone",
            Reason::InternalError => "internal_error",
        }
    }

    pub fn parse(text: &str) -> Option<Reason> {
        serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a door opens: the two outcomes an access decision has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Deny,
}

impl Decision {
    pub fn of(allowed: bool) -> Decision {
        if allowed { Decision::Allow } else { Decision::Deny }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }
    }

    pub fn parse(text: &str) -> Option<Decision> {
        match text {
            "allow" => Some(Decision::Allow),
            "deny" => Some(Decision::Deny),
            _ => None,
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Decision {
    type Err = String;

    fn from_str(text: &str) -> Result<Decision, String> {
        Decision::parse(text).ok_or_else(|| format!("a decision is `allow` or `deny`, not `{text}`"))
    }
}

/// One access decision as the audit trail keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub id: i64,
    pub time: i64,
    pub zone: String,
    pub decision: Decision,
    pub reason: Reason,
    pub person: Option<String>,
    pub similarity: Option<f32>,
    pub image_sha256: Option<String>,
    /// Set when the person involved has been erased.
    pub tombstone: Option<String>,
    /// Who asked: a camera or stream name, when the caller gave one.
    pub source: Option<String>,
    /// The video track the decision was made for, if any.
    pub track: Option<i64>,
    /// Whether the probe's face crop is held (its zone keeps crops, and it
    /// has neither expired nor been erased).
    pub has_probe_crop: bool,
}

/// Which events to list: newest first, `limit` at a time; `before` is the
/// id of the last event of the previous page.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub zone: Option<String>,
    pub decision: Option<Decision>,
    pub reason: Option<Reason>,
    /// Events about this person (by name; an erased person has none).
    pub person: Option<String>,
    pub source: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub before: Option<i64>,
    /// 0 means 100.
    pub limit: usize,
}

impl EventQuery {
    pub fn page_size(&self) -> usize {
        if self.limit == 0 { 100 } else { self.limit }
    }
}

/// Where an access request comes from, beyond its zone: recorded with the
/// event. `decide_access` is this with only a zone and an image digest.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessContext<'a> {
    pub zone: &'a str,
    pub image_sha256: Option<&'a str>,
    /// The camera or stream that asked.
    pub source: Option<&'a str>,
    /// The video track the probe belongs to.
    pub track: Option<i64>,
}

/// A decided and recorded access request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessDecision {
    pub allowed: bool,
    pub reason: Reason,
    pub detail: String,
    pub zone: String,
    /// The matched person, when the decision is about a person (allow,
    /// not granted, ambiguous); never an unmatched near miss.
    pub person: Option<String>,
    pub similarity: Option<f32>,
    pub threshold: f32,
    pub event_id: i64,
}

// ---- API keys and console sessions ----------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages people, samples, zones and grants; reads the audit trail.
    Admin,
    /// A camera: may only ask for access decisions and identification.
    Camera,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Camera => "camera",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "camera" => Some(Role::Camera),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created: i64,
    pub revoked: Option<i64>,
    /// The zones a camera key may ask about; empty means every zone (the
    /// only possibility for an admin key).
    pub zones: Vec<String>,
}

impl ApiKey {
    /// Whether this key may ask about `zone`.
    pub fn may_use_zone(&self, zone: &str) -> bool {
        self.role == Role::Admin || self.zones.is_empty() || self.zones.iter().any(|own| own == zone)
    }

    /// A camera key limited to some zones.
    pub fn is_scoped(&self) -> bool {
        self.role == Role::Camera && !self.zones.is_empty()
    }
}

/// A live console session of an admin key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsoleSession {
    pub key_id: i64,
    pub key_name: String,
    pub created: i64,
    /// When it ends unless used again (never after its absolute expiry).
    pub expires: i64,
}

// ---- footage: sources, appearances and clusters ---------------------------

/// What a source of footage is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A recorded file, named by the SHA-256 of its content.
    File,
    /// A live camera or stream, named by its name.
    Camera,
    /// A set of photos, named by its name.
    Photos,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::File => "file",
            SourceKind::Camera => "camera",
            SourceKind::Photos => "photos",
        }
    }

    pub fn parse(text: &str) -> Option<SourceKind> {
        match text {
            "file" => Some(SourceKind::File),
            "camera" => Some(SourceKind::Camera),
            "photos" => Some(SourceKind::Photos),
            _ => None,
        }
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A source of footage as it is stored: what it is, how long its
/// appearances are kept, and how far it has been indexed (to resume).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub id: i64,
    pub kind: SourceKind,
    /// The name as first given (a file's path, a camera's name).
    pub name: String,
    /// A file's content digest (hex): what identifies a file, so that
    /// indexing it again, under any name, finds this row. `None` for
    /// cameras and photos, which are identified by kind and name.
    pub sha256: Option<String>,
    /// How long each appearance is kept, in seconds, from when it was seen
    /// (its wall-clock end) or, without a wall clock, from when it was
    /// indexed; `None` keeps them until the source is deleted.
    pub retention_s: Option<i64>,
    pub created: i64,
    /// Media time (ms) up to which the source is indexed.
    pub indexed_until_ms: i64,
    /// Bytes of the file up to which it is indexed.
    pub indexed_until_bytes: i64,
    /// The whole source has been indexed (a re-index can skip it).
    pub complete: bool,
}

/// A source to find or create ([`Source`] without what the store assigns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSource {
    pub kind: SourceKind,
    pub name: String,
    /// Required for a file, refused for the other kinds.
    pub sha256: Option<String>,
    pub retention_s: Option<i64>,
}

/// A face's box in its frame, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct FaceBox {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

/// One embedding of an appearance's face, with the embedder it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceVector {
    /// L2-normalised, the gallery's dimension.
    pub vector: Vec<f32>,
    /// The SHA-256 of the embedder (it must be the gallery's).
    pub embedder_sha256: String,
}

/// One video track (or photo) as written: a person seen once, from its
/// first to its last frame.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAppearance {
    /// The tracker's id for it, within its source.
    pub track: i64,
    pub media_start_ms: i64,
    pub media_end_ms: i64,
    /// Unix milliseconds, for live cameras; both or neither.
    pub wall_start_ms: Option<i64>,
    pub wall_end_ms: Option<i64>,
    /// The best face's box and detector score.
    pub face: FaceBox,
    pub detector_score: f32,
    /// The embeddings of its best faces: 1 to 3.
    pub vectors: Vec<FaceVector>,
    /// A small JPEG of the best face.
    pub thumbnail_jpeg: Option<Vec<u8>>,
    /// The enrolled person it was matched to, if any.
    pub person: Option<i64>,
    pub cluster: Option<i64>,
}

/// Appearances of one source written in one transaction, with how far the
/// source is indexed once they are: a crash leaves a consistent prefix.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AppearanceBatch {
    pub source: i64,
    pub appearances: Vec<NewAppearance>,
    /// The source's progress after this batch (never moves back).
    pub indexed_until_ms: i64,
    pub indexed_until_bytes: i64,
    /// This batch ends the source.
    pub complete: bool,
}

/// A stored appearance, without its vectors and thumbnail bytes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Appearance {
    pub id: i64,
    pub source: i64,
    pub source_name: String,
    pub track: i64,
    pub media_start_ms: i64,
    pub media_end_ms: i64,
    pub wall_start_ms: Option<i64>,
    pub wall_end_ms: Option<i64>,
    pub face: FaceBox,
    pub detector_score: f32,
    /// How many vectors it keeps.
    pub vectors: usize,
    pub has_thumbnail: bool,
    pub person: Option<i64>,
    pub cluster: Option<i64>,
    /// Its cluster is marked "not a face".
    pub not_a_face: bool,
    pub created: i64,
    /// When it goes (unix seconds), per its source's retention.
    pub expires: Option<i64>,
}

/// Which appearances to list or search. Time ranges select the appearances
/// that overlap them: `from <= end` and `start < until`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppearanceFilter {
    pub source: Option<i64>,
    pub media_from_ms: Option<i64>,
    pub media_until_ms: Option<i64>,
    /// Wall-clock ranges select only appearances that have a wall clock.
    pub wall_from_ms: Option<i64>,
    pub wall_until_ms: Option<i64>,
    pub person: Option<i64>,
    pub cluster: Option<i64>,
    /// Appearances in a cluster marked "not a face" are left out unless this is set.
    pub include_not_a_face: bool,
}

impl AppearanceFilter {
    /// Whether the unchanging facts of an appearance (source and times) pass.
    pub fn admits_span(&self, source: i64, media: (i64, i64), wall: Option<(i64, i64)>) -> bool {
        let overlaps = |(start, end): (i64, i64), from: Option<i64>, until: Option<i64>| {
            from.is_none_or(|from| from <= end) && until.is_none_or(|until| start < until)
        };
        let wall_ok = match wall {
            Some(wall) => overlaps(wall, self.wall_from_ms, self.wall_until_ms),
            None => self.wall_from_ms.is_none() && self.wall_until_ms.is_none(),
        };
        self.source.is_none_or(|s| s == source)
            && overlaps(media, self.media_from_ms, self.media_until_ms)
            && wall_ok
    }

    /// Whether a stored appearance passes every condition.
    pub fn admits(&self, appearance: &Appearance) -> bool {
        let wall = appearance.wall_start_ms.zip(appearance.wall_end_ms);
        self.admits_span(appearance.source, (appearance.media_start_ms, appearance.media_end_ms), wall)
            && self.person.is_none_or(|p| appearance.person == Some(p))
            && self.cluster.is_none_or(|c| appearance.cluster == Some(c))
            && (self.include_not_a_face || !appearance.not_a_face)
    }

    /// Whether only the unchanging facts are asked about (no person, no cluster).
    pub fn is_span_only(&self) -> bool {
        self.person.is_none() && self.cluster.is_none()
    }
}

/// A page of appearances: in the order they were written (`id`), after
/// `after`, `limit` at a time (0 means 100).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppearanceQuery {
    pub filter: AppearanceFilter,
    pub after: Option<i64>,
    pub limit: usize,
}

impl AppearanceQuery {
    pub fn page_size(&self) -> usize {
        if self.limit == 0 { 100 } else { self.limit }
    }
}

/// A group of appearances that an operator (or a clustering job) says are
/// one face, optionally named, or marked as no face at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cluster {
    pub id: i64,
    pub name: Option<String>,
    pub not_a_face: bool,
    pub created: i64,
    pub appearances: usize,
}

/// One answer to "where is this face in the footage?".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoundAppearance {
    pub appearance: Appearance,
    /// The best cosine between a query and the appearance's vectors.
    pub similarity: f32,
    /// `similarity >= threshold`.
    pub matched: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_through_their_codes() {
        for reason in [Reason::Granted, Reason::BadImage, Reason::MultipleFaces, Reason::UnknownZone] {
            assert_eq!(Reason::parse(reason.as_str()), Some(reason));
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
        assert_eq!(Reason::parse("open_sesame"), None);
    }

    #[test]
    fn filters_select_overlapping_spans() {
        let filter = AppearanceFilter {
            media_from_ms: Some(1_000),
            media_until_ms: Some(2_000),
            ..Default::default()
        };
        assert!(filter.admits_span(1, (500, 1_000), None));
        assert!(filter.admits_span(1, (1_999, 5_000), None));
        assert!(!filter.admits_span(1, (2_000, 5_000), None));
        assert!(!filter.admits_span(1, (0, 999), None));
        let wall = AppearanceFilter { wall_from_ms: Some(10), source: Some(2), ..Default::default() };
        assert!(wall.admits_span(2, (0, 1), Some((5, 10))));
        assert!(!wall.admits_span(2, (0, 1), None), "no wall clock: not in a wall-clock range");
        assert!(!wall.admits_span(3, (0, 1), Some((5, 10))));
        for kind in [SourceKind::File, SourceKind::Camera, SourceKind::Photos] {
            assert_eq!(SourceKind::parse(kind.as_str()), Some(kind));
        }
    }
}
