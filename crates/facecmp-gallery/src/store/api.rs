//! The [`GalleryStore`] trait and what crosses it: the records a write
//! takes, the samples and changes the search index is fed, and the
//! [`StoreReader`] that runs the caller's checks inside a transaction.
//!
//! Depends on the rows of [`model`](crate::model), never on the gallery:
//! a backend can be written and tested without it.

use std::collections::{HashMap, HashSet};

use facecmp::EmbedderIdentity;
use facecmp_search::PersonMatch;

use crate::access::Verdict;
use crate::crops::{ProbeCrop, StoredCrop};
use crate::enrol::Rejection;
use crate::error::Result;
use crate::model::{
    ApiKey, Appearance, AppearanceBatch, AppearanceQuery, Cluster, ConsoleSession, Enrolled, Event,
    EventQuery, Grant, NewSource, Person, Reason, Role, Sample, Source, Zone, ZonePolicy,
};

/// One stored sample, as the search index needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSample {
    pub sample: i64,
    pub person: i64,
    pub vector: Vec<f32>,
}

/// Every sample at one revision.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub revision: i64,
    pub samples: Vec<StoredSample>,
}

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A sample was added; `vector` is `None` when it has been removed again since.
    Added {
        sample: i64,
        person: i64,
        vector: Option<Vec<f32>>,
    },
    RemovedSample {
        sample: i64,
    },
    RemovedPerson {
        person: i64,
    },
}

/// What changed after a revision.
#[derive(Debug, Clone)]
pub enum Changes {
    /// The sample changes up to `revision`, oldest first.
    Log { revision: i64, changes: Vec<Change> },
    /// The log no longer reaches back that far: reload everything.
    Truncated,
}

/// One stored appearance, as the in-memory appearance index needs it: the
/// facts a search filters on that never change, and its vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedAppearance {
    pub appearance: i64,
    pub source: i64,
    pub media: (i64, i64),
    pub wall: Option<(i64, i64)>,
    /// `(vector id, vector)`, 1 to 3 of them.
    pub vectors: Vec<(i64, Vec<f32>)>,
}

/// What the appearance index is fed, oldest first (see
/// [`GalleryStore::appearance_vectors`]).
#[derive(Debug, Clone, PartialEq)]
pub enum AppearanceChange {
    /// Start over: every stored appearance follows, as `Added`; how many
    /// there are, to size the index once.
    Everything {
        appearances: usize,
    },
    /// Written; `indexed` is `None` when it has been deleted again since
    /// (its removal follows).
    Added {
        appearance: i64,
        indexed: Option<IndexedAppearance>,
    },
    Removed {
        appearance: i64,
    },
}

/// A sample ready to be written.
#[derive(Debug, Clone)]
pub struct SampleRecord<'a> {
    pub name: &'a str,
    pub external_id: Option<&'a str>,
    pub vector: &'a [f32],
    pub embedder_sha256: &'a str,
    pub detector_score: f32,
    pub face_size: f32,
    pub image_sha256: &'a str,
    pub thumbnail_jpeg: Option<&'a [u8]>,
    pub time: i64,
}

/// What an access decision is about, before the rules run.
#[derive(Debug, Clone)]
pub enum Evidence<'a> {
    /// The photo was refused before matching.
    Refused { reason: Reason, detail: &'a str },
    /// The probe's best matches in the search index (best first).
    Matches(&'a [PersonMatch]),
}

/// Everything the store needs to decide and record one access request.
#[derive(Debug, Clone)]
pub struct DecisionRecord<'a> {
    pub zone: &'a str,
    pub time: i64,
    pub evidence: Evidence<'a>,
    pub threshold: f32,
    pub image_sha256: Option<&'a str>,
    pub source: Option<&'a str>,
    pub track: Option<i64>,
    /// The probe's face crop; stored only when the zone keeps crops (read
    /// in the decision's transaction, so a policy change cannot race it).
    pub probe_crop: Option<&'a ProbeCrop>,
}

/// A decision as written to the audit trail.
#[derive(Debug, Clone)]
pub struct RecordedDecision {
    pub verdict: Verdict,
    pub event_id: i64,
    /// The name of the verdict's best candidate, when it is about a person.
    pub person: Option<String>,
}

/// A key row with the digest of its secret.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub key: ApiKey,
    pub secret_sha256: Vec<u8>,
}

/// Reads inside one transaction of a store.
pub trait StoreReader {
    fn revision(&mut self) -> Result<i64>;
    fn changes_since(&mut self, revision: i64) -> Result<Changes>;
    fn snapshot(&mut self) -> Result<Snapshot>;
    fn person_name(&mut self, person: i64) -> Result<Option<String>>;
    fn zone_exists(&mut self, zone: &str) -> Result<bool>;
    /// Whether `person` holds a grant for `zone` valid at `time`.
    fn granted(&mut self, person: i64, zone: &str, time: i64) -> Result<bool>;
}

/// The `--strict` check, run inside enrolment's write transaction with the
/// id of the person being enrolled (if they exist already).
pub type EnrolCheck<'a> = dyn FnMut(&mut dyn StoreReader, Option<i64>) -> Result<Option<Rejection>> + 'a;

/// A gallery's rows. Every method is one transaction; every write bumps
/// [`revision`](GalleryStore::revision).
pub trait GalleryStore: Send + Sync {
    /// Where the rows are, for messages (no password).
    fn location(&self) -> &str;
    /// The embedder the gallery is pinned to.
    fn embedder(&self) -> Result<EmbedderIdentity>;
    /// Runs `f` inside one read transaction.
    fn read(&self, f: &mut dyn FnMut(&mut dyn StoreReader) -> Result<()>) -> Result<()>;
    /// The revision the store is at; cheap enough to call before every search.
    fn revision(&self) -> Result<i64>;
    /// Blocks until another writer may have changed the store (`Some(true)`)
    /// or `timeout` passed (`Some(false)`); `None` when the backend cannot
    /// tell (then the gallery relies on the check before every request alone).
    fn wait_for_change(&self, timeout: std::time::Duration) -> Result<Option<bool>> {
        let _ = timeout;
        Ok(None)
    }

    // ---- people and samples
    fn people(&self, name: Option<&str>) -> Result<Vec<Person>>;
    /// Names and external ids of the people that still exist among `ids`.
    fn person_names(&self, ids: &[i64]) -> Result<HashMap<i64, (String, Option<String>)>>;
    /// Adds a sample (and the person, on their first one); `check` runs
    /// inside the transaction, after the duplicate check.
    fn enrol(
        &self,
        sample: &SampleRecord<'_>,
        check: &mut EnrolCheck<'_>,
    ) -> Result<std::result::Result<Enrolled, Rejection>>;
    /// Adds many samples in one transaction, without review or `--strict`
    /// checks (bulk imports, benchmarks); people are created as needed.
    fn import(&self, samples: &[SampleRecord<'_>]) -> Result<usize>;
    /// Deletes a person with their samples and grants, and strips
    /// them from the audit trail, leaving `tombstone`; the probe crops of the
    /// decisions about them, and crops enrolled as their samples, go too.
    fn remove_person(&self, name: &str, tombstone: &str) -> Result<()>;
    fn samples(&self, person: Option<&str>) -> Result<Vec<Sample>>;
    /// A sample's thumbnail with the name of its person; None when the
    /// sample does not exist or keeps no thumbnail.
    fn sample_thumbnail(&self, sample: i64) -> Result<Option<(String, Vec<u8>)>>;
    fn remove_sample(&self, sample: i64) -> Result<bool>;

    // ---- zones and grants
    fn zones(&self, name: Option<&str>) -> Result<Vec<Zone>>;
    /// Creates a zone or replaces its policy; the zone's kept crops are
    /// re-dated to the new retention, or deleted when it is off.
    fn set_zone(&self, name: &str, policy: &ZonePolicy, time: i64) -> Result<()>;
    fn grant(&self, grant: &Grant) -> Result<()>;
    fn revoke(&self, person: &str, zone: &str) -> Result<bool>;
    fn grants(&self, zone: Option<&str>, person: Option<&str>) -> Result<Vec<Grant>>;
    fn granted_people(&self, zone: &str, time: i64) -> Result<HashSet<i64>>;

    // ---- the audit trail
    /// Decides with [`decide_verdict`](crate::store::decide_verdict) and writes the event, in one
    /// transaction; with it the probe's crop when the zone keeps them, and
    /// the deletion of every crop that expired by `record.time`.
    fn decide_and_record(&self, record: &DecisionRecord<'_>) -> Result<RecordedDecision>;
    /// The unexpired crop of an event at `now`.
    fn probe_crop(&self, event_id: i64, now: i64) -> Result<Option<StoredCrop>>;
    /// Deletes every crop expired at `now`; returns how many.
    fn purge_probe_crops(&self, now: i64) -> Result<usize>;
    fn events(&self, query: &EventQuery) -> Result<Vec<Event>>;

    // ---- API keys and console sessions
    fn create_key(
        &self,
        name: &str,
        role: Role,
        zones: &[String],
        secret_sha256: &[u8],
        time: i64,
    ) -> Result<i64>;
    fn keys(&self) -> Result<Vec<ApiKey>>;
    /// A live (unrevoked) key with its digest.
    fn live_key(&self, id: i64) -> Result<Option<KeyRecord>>;
    /// Revokes a key and ends its sessions; `NoSuchKey` if there is none.
    fn revoke_key(&self, id: i64, time: i64) -> Result<()>;
    fn create_session(
        &self,
        key_id: i64,
        token_sha256: &str,
        created: i64,
        idle_s: i64,
        absolute_s: i64,
    ) -> Result<ConsoleSession>;
    /// The live session for a token, its idle expiry slid to `now` plus its idle timeout.
    fn touch_session(&self, token_sha256: &str, now: i64) -> Result<Option<ConsoleSession>>;
    fn end_session(&self, token_sha256: &str) -> Result<()>;

    // ---- footage: sources, appearances and clusters
    //
    // Writes bump the revision like every other write, and log the
    // appearances they add or remove in the appearance log, which the
    // in-memory appearance index replays (`appearances/index.rs`); they add
    // nothing to the samples' change log.

    /// Finds a source (a file by its sha256, else by kind and name) or
    /// creates it, with how far it is already indexed. Its retention becomes
    /// `source.retention_s`: its appearances are re-dated, and those expired
    /// at `time` by a shorter one are deleted.
    fn upsert_source(&self, source: &NewSource, time: i64) -> Result<Source>;
    fn sources(&self) -> Result<Vec<Source>>;
    /// Writes a batch of appearances and advances its source's progress, in
    /// one transaction; returns their ids in the batch's order.
    fn write_appearances(&self, batch: &AppearanceBatch, time: i64) -> Result<Vec<i64>>;
    /// A page of appearances unexpired at `now`.
    fn appearances(&self, query: &AppearanceQuery, now: i64) -> Result<Vec<Appearance>>;
    /// The appearances among `ids` that exist and are unexpired at `now`, in no particular order.
    fn appearances_by_id(&self, ids: &[i64], now: i64) -> Result<Vec<Appearance>>;
    /// The ids of the appearances matched to `person` (if given) and in
    /// `cluster` (if given); at least one must be.
    fn appearance_ids(&self, person: Option<i64>, cluster: Option<i64>) -> Result<HashSet<i64>>;
    /// The ids of the appearances in clusters marked "not a face".
    fn not_a_face_appearances(&self) -> Result<HashSet<i64>>;
    /// An appearance's thumbnail, while it is unexpired at `now`.
    fn appearance_thumbnail(&self, appearance: i64, now: i64) -> Result<Option<Vec<u8>>>;
    /// Feeds the in-memory appearance index, in one read transaction, row
    /// by row (a rebuild never holds the whole table twice): with `since`,
    /// the appearance log after that revision; without, or when the log no
    /// longer reaches back that far, [`AppearanceChange::Everything`] and
    /// then every appearance with its vectors. Returns the revision read.
    fn appearance_vectors(
        &self,
        since: Option<i64>,
        sink: &mut dyn FnMut(AppearanceChange) -> Result<()>,
    ) -> Result<i64>;
    /// Deletes every appearance expired at `now` (with its vectors and
    /// thumbnail); returns how many.
    fn purge_appearances(&self, now: i64) -> Result<usize>;
    /// Deletes a source with its appearances; returns how many appearances went.
    fn remove_source(&self, source: i64) -> Result<usize>;
    /// Deletes these appearances (with their vectors and thumbnails);
    /// returns how many existed.
    fn remove_appearances(&self, appearances: &[i64]) -> Result<usize>;

    fn create_cluster(&self, name: Option<&str>, time: i64) -> Result<i64>;
    fn clusters(&self) -> Result<Vec<Cluster>>;
    /// Puts appearances in `cluster` (or in none); returns how many exist.
    fn set_cluster(&self, appearances: &[i64], cluster: Option<i64>) -> Result<usize>;
    /// Moves the appearances of `from` into `into` and deletes `from`'s
    /// clusters (`into` keeps its own name and flag); returns how many moved.
    fn merge_clusters(&self, into: i64, from: &[i64]) -> Result<usize>;
    fn name_cluster(&self, cluster: i64, name: Option<&str>) -> Result<()>;
    fn mark_not_a_face(&self, cluster: i64, not_a_face: bool) -> Result<()>;
}

/// How many revisions of the change log are kept before a process that
/// fell further behind reloads everything.
pub const CHANGE_LOG_KEPT: i64 = 10_000;
